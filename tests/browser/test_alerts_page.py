"""The Alerts page in headless Chromium: acknowledging an alert on the page makes the wall's
banner count drop; a new critical alert chimes on any console page (the shell's chime), never on the wall;
a role without ``alerts.act`` is refused by the server."""
from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from actuation.samples import example_params
from harness import LiveApp, fill_command_form, screenshot, sign_in, start_live_app, wait_connected

pytestmark = pytest.mark.browser


def _raise(rt: Any, camera: str, category: str, severity: str, lat: float) -> int:
    from alerts import service
    from alerts.rules import Candidate, Place

    cand = Candidate(category, severity, "cctv", camera, camera, rt.clock.now(), Place("Jung-gu", lat, 126.98), {"confidence": 0.9})
    changed = service.raise_candidates(rt, [cand])
    service.publish(rt, {str(a["id"]): a for a in changed})  # what the worker's coalescer does
    return next(int(a["id"]) for a in changed if a["source"] == camera)


@pytest.fixture
def alerts_app(tmp_path: Path) -> Iterator[LiveApp]:
    ids: list[int] = []

    def prepare(rt: Any) -> None:
        ids.append(_raise(rt, "cam-1", "fire_smoke", "critical", 37.56))
        ids.append(_raise(rt, "cam-2", "loitering", "minor", 37.62))

    app = start_live_app(tmp_path, prepare=prepare)
    app.alert_ids = ids  # type: ignore[attr-defined]
    yield app
    app.stop()


def banner_count(page: Any) -> str:
    return page.locator("#alert-banner-count").inner_text()


def open_alerts_page(browser: Any, app: LiveApp, role: str = "operator") -> Any:
    page = sign_in(browser, app, role)
    page.goto(app.url + "/alerts")
    page.wait_for_selector("#alerts-grid .ag-row", timeout=20_000)
    wait_connected(page)
    return page


def test_acknowledging_on_the_alerts_page_drops_the_wall_banner_count(browser: Any, alerts_app: LiveApp) -> None:
    critical = alerts_app.alert_ids[0]  # type: ignore[attr-defined]
    wall = sign_in(browser, alerts_app, "wall")
    wall.wait_for_selector("#alert-banner-count", timeout=20_000)
    wait_connected(wall)
    assert banner_count(wall) == "2"
    assert "ESCALATED" not in wall.locator("#alert-banner").inner_text()

    op = open_alerts_page(browser, alerts_app)
    op.locator(f"#alerts-grid .ag-row[row-id='{critical}']").click()
    op.wait_for_function("document.querySelector('#alerts-detail-title')?.innerText.includes('%d')" % critical)
    op.fill("#alerts-comment", "fire brigade called")
    op.click("#alerts-ack")
    op.wait_for_selector(".alerts-msg-ok", timeout=10_000)

    wall.wait_for_function("document.querySelector('#alert-banner-count')?.innerText === '1'", timeout=15_000)
    # The detail and the grid row refresh by their own callbacks after the acknowledgement.
    op.wait_for_function("document.querySelector('#alerts-detail')?.innerText.includes('fire brigade called')",
                         timeout=10_000)
    op.wait_for_function("document.querySelector(\"#alerts-grid .ag-row[row-id='%d']\")?.innerText"
                         ".includes('Acknowledged')" % critical, timeout=10_000)
    assert op.locator(f"#alerts-grid .ag-row[row-id='{critical}']").inner_text().count("Acknowledged") == 1
    screenshot(op, "alerts-page-acknowledged")
    screenshot(wall, "wall-banner-after-ack")

    op.click("#alerts-ack")  # a second acknowledgement is refused with the reason
    op.wait_for_selector(".alerts-msg-error", timeout=10_000)
    assert "already acknowledged" in op.locator(".alerts-msg-error").inner_text()


@pytest.mark.parametrize("path", ["/traffic", "/alerts"])
def test_a_new_critical_alert_chimes_on_any_console_page_and_not_on_the_wall(browser: Any, alerts_app: LiveApp,
                                                                            path: str) -> None:
    op = sign_in(browser, alerts_app, "operator")
    op.goto(alerts_app.url + path)
    op.wait_for_selector("#shell-sound", timeout=20_000)
    wait_connected(op, alerts_app, "alerts")
    wall = sign_in(browser, alerts_app, "wall")
    wall.wait_for_selector("#alert-banner-count", timeout=20_000)
    wait_connected(wall)
    assert wall.locator("#shell-sound").count() == 0

    update = _raise(alerts_app.rt, "cam-1", "fire_smoke", "critical", 37.56)  # the open critical folds: no chime
    time.sleep(1.5)
    assert op.evaluate("window.cityopsAlertChimes || 0") == 0
    new_id = _raise(alerts_app.rt, "cam-9", "traffic_accident", "critical", 37.50)

    op.wait_for_function("(window.cityopsAlertChimes || 0) >= 1", timeout=10_000)
    op.wait_for_selector("#shell-alarm.is-ringing", timeout=5_000)
    assert f"#{new_id}" in op.locator("#shell-alarm").inner_text()
    assert update == alerts_app.alert_ids[0]  # type: ignore[attr-defined]
    wall.wait_for_function("document.querySelector('#alert-banner-count')?.innerText === '3'", timeout=15_000)
    assert wall.evaluate("window.cityopsAlertChimes || 0") == 0
    screenshot(op, f"chime-on-{path.strip('/')}")
    op.click("#shell-alarm")
    op.wait_for_selector("#shell-alarm.is-quiet", state="attached", timeout=5_000)


def test_a_muted_console_shows_the_notice_without_playing(browser: Any, alerts_app: LiveApp) -> None:
    op = sign_in(browser, alerts_app, "supervisor")
    op.goto(alerts_app.url + "/air")
    op.wait_for_selector("#shell-sound", timeout=20_000)
    wait_connected(op, alerts_app, "alerts")
    op.click("#shell-sound")
    op.wait_for_selector("#shell-sound.is-off", timeout=5_000)

    _raise(alerts_app.rt, "cam-7", "flooding", "critical", 37.52)

    op.wait_for_selector("#shell-alarm.is-ringing", timeout=10_000)
    assert op.evaluate("window.cityopsAlertChimes || 0") == 0


def test_the_server_refuses_an_admin_acknowledging_through_the_page(browser: Any, alerts_app: LiveApp) -> None:
    critical = alerts_app.alert_ids[0]  # type: ignore[attr-defined]
    admin = open_alerts_page(browser, alerts_app, "admin")  # admins may look at consoles but not act
    admin.locator(f"#alerts-grid .ag-row[row-id='{critical}']").click()
    admin.wait_for_function("document.querySelector('#alerts-detail-title')?.innerText.includes('%d')" % critical)

    with admin.expect_response(lambda r: "_dash-update-component" in r.url and r.status == 403, timeout=10_000):
        admin.click("#alerts-ack")
    time.sleep(0.5)

    from alerts import queries

    assert queries.alert_detail(alerts_app.rt, critical)["state"] == "open"


def test_operators_name_and_resolve_an_incident_as_one_on_the_page(browser: Any, tmp_path: Path) -> None:
    ids: list[int] = []

    def prepare(rt: Any) -> None:  # a crash and a stopped car 110 m apart: one incident
        ids.append(_raise(rt, "cam-a", "traffic_accident", "major", 37.5600))
        ids.append(_raise(rt, "cam-b", "stopped_vehicle", "major", 37.5610))

    app = start_live_app(tmp_path, prepare=prepare)
    try:
        from alerts import queries

        [incident] = queries.list_incidents(app.rt, "open")
        op = open_alerts_page(browser, app)
        op.click("#alerts-incident")
        op.locator(".dash-dropdown-option[role='option']").first.click()
        op.keyboard.press("Escape")
        op.fill("#alerts-incident-name", "Sejong-daero crash")
        op.click("#alerts-incident-name-btn")
        op.wait_for_selector("#alerts-incident-msg .alerts-msg-ok", timeout=10_000)
        op.click("#alerts-incident-resolve")
        op.wait_for_function("document.querySelector('#alerts-incident-msg')?.innerText.includes('Resolved')", timeout=10_000)

        done = queries.list_incidents(app.rt, "resolved")
        assert [(i["id"], i["name"]) for i in done] == [(incident["id"], "Sejong-daero crash")]
        assert {queries.alert_detail(app.rt, i)["state"] for i in ids} == {"resolved"}
    finally:
        app.stop()


def test_an_escalation_notifies_the_supervisors_console_not_the_operators(browser: Any, tmp_path: Path) -> None:
    from alerts.escalation import check_escalations

    app = start_live_app(tmp_path, escalation_minutes=0.01)  # escalate after 0.6 s
    try:
        sup = open_alerts_page_empty(browser, app, "supervisor")
        op = open_alerts_page_empty(browser, app, "operator")
        alert_id = _raise(app.rt, "cam-x", "fire_smoke", "critical", 37.56)
        time.sleep(1.0)

        [due] = check_escalations(app.rt)

        assert due.alert_id == alert_id
        sup.wait_for_function("document.querySelector('#alerts-notify')?.innerText.includes('#%d')" % alert_id, timeout=10_000)
        sup.wait_for_selector("#alert-banner.is-escalated .alert-banner-escalated", timeout=10_000)
        time.sleep(1.0)
        assert op.locator("#alerts-notify").inner_text() == ""
        screenshot(sup, "alerts-supervisor-escalation")
    finally:
        app.stop()


def open_alerts_page_empty(browser: Any, app: LiveApp, role: str) -> Any:
    page = sign_in(browser, app, role)
    page.goto(app.url + "/alerts")
    page.wait_for_selector("#alerts-grid", timeout=20_000)
    wait_connected(page)
    return page


def test_a_command_proposed_from_an_alert_is_listed_on_the_alert(browser: Any, alerts_app: LiveApp) -> None:
    critical = alerts_app.alert_ids[0]  # type: ignore[attr-defined]
    op = open_alerts_page(browser, alerts_app)
    op.locator(f"#alerts-grid .ag-row[row-id='{critical}']").click()
    op.wait_for_function("document.querySelector('#alerts-detail-title')?.innerText.includes('%d')" % critical)

    op.click("#alerts-propose")
    op.wait_for_selector("#cmd-submit", timeout=20_000)
    url = op.url
    note = op.locator("#cmd-cause-note").inner_text()
    route = {k: v for k, v in example_params("bus_reroute", alerts_app.rt.clock.now()).items() if k in ("route", "avoid_links", "detour")}
    fill_command_form(op, "bus_reroute", route)
    op.click("#cmd-submit")
    op.wait_for_selector("#cmd-msg >> text=proposed", timeout=10_000)
    proposed = op.locator("#cmd-msg").inner_text()
    op.wait_for_selector(f"td.cmd-cause-cell >> text=alert {critical}", timeout=10_000)  # "My commands" says where it came from
    op.goto(alerts_app.url + "/alerts")
    op.wait_for_selector("#alerts-grid .ag-row", timeout=20_000)
    op.locator(f"#alerts-grid .ag-row[row-id='{critical}']").click()
    op.wait_for_selector(".alert-commands [data-command]", timeout=10_000)
    listed = op.locator(".alert-commands [data-command]").first

    assert url.endswith(f"/commands?alert={critical}&type=bus_reroute")
    assert f"Proposed from alert {critical}" in note
    assert listed.get_attribute("data-command") in proposed and "Bus reroute" in listed.inner_text()
    screenshot(op, "alerts-command-from-alert")
