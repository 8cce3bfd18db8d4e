"""Commands and Approvals in headless Chromium: an operator proposes an emergency alert, a
supervisor approves it (with the confirmation step) on the Approvals page and its delivery
appears; an operator's approval attempt is refused by the server."""
from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from actuation.samples import example_params
from harness import LiveApp, fill_command_form, screenshot, sign_in, start_live_app

pytestmark = pytest.mark.browser


@pytest.fixture
def app_with_dispatcher(tmp_path: Path) -> Iterator[LiveApp]:
    from actuation.adapters import default_adapters
    from actuation.dispatcher import DispatcherConfig, run_dispatcher

    app = start_live_app(tmp_path)
    stop = threading.Event()
    worker = threading.Thread(target=run_dispatcher, args=(app.rt, stop), daemon=True,
                              kwargs={"adapters": default_adapters(app.rt, latency=(0.01, 0.05)), "cfg": DispatcherConfig(poll_s=0.05)})
    worker.start()
    yield app
    stop.set()
    worker.join(5)
    app.stop()


def test_operator_proposes_alert_supervisor_approves_and_delivery_appears(browser: Any, app_with_dispatcher: LiveApp) -> None:
    app = app_with_dispatcher
    op = sign_in(browser, app, "operator")
    op.goto(app.url + "/commands")
    op.wait_for_selector("#cmd-submit", timeout=20_000)
    op.wait_for_selector("text=Headline (English)")
    assert op.locator("#cmd-form textarea").first.input_value() == ""  # nothing pre-written in an alert
    fill_command_form(op, "emergency_alert", example_params("emergency_alert", app.rt.clock.now()))
    op.click("#cmd-submit")
    op.wait_for_selector("#cmd-msg >> text=pending approval", timeout=10_000)
    op.wait_for_selector("td.cmd-state[data-state=pending]", timeout=10_000)

    sup = sign_in(browser, app, "supervisor")
    sup.goto(app.url + "/approvals")
    sup.wait_for_selector(".appr-card", timeout=20_000)
    sup.click(".appr-card")
    sup.wait_for_selector("#appr-population", timeout=10_000)
    assert "KR.SEOUL.CITYOPS." in sup.locator("#appr-cap").inner_text()
    sup.click("#appr-approve")
    sup.wait_for_selector("#appr-confirm-box:not([hidden])", timeout=10_000)
    assert sup.locator("#appr-state").get_attribute("data-state") == "pending"  # nothing happens before the confirmation
    sup.click("#appr-confirm")
    sup.wait_for_selector("#appr-delivery", timeout=15_000)
    screenshot(sup, "approvals-delivered")

    assert "people reached" in sup.locator("#appr-delivery").inner_text()
    assert "Cell broadcast delivered" in sup.locator("#appr-delivery").inner_text()
    assert sup.locator("#appr-state").get_attribute("data-state") == "executed"
    assert sup.locator("#appr-actions").is_hidden()  # nothing left to decide
    op.wait_for_selector("td.cmd-state[data-state=executed]", timeout=10_000)
    assert "people reached" in op.locator(".cmd-table").inner_text()


def test_operators_approval_attempt_is_refused(browser: Any, app_with_dispatcher: LiveApp) -> None:
    from actuation import queries, service
    from actuation.model import Context, ProposeCommand

    app = app_with_dispatcher
    rt = app.rt
    cid = service.propose(rt, ProposeCommand("emergency_alert", example_params("emergency_alert", rt.clock.now()),
                                             "shift_lead", Context("shift_lead1")))["id"]
    op = sign_in(browser, app, "operator")

    response = op.goto(app.url + "/approvals")
    output = next(k for k in app.web.dash.callback_map if "appr-confirm-box.hidden" in k)
    status = op.evaluate("""async ([output, cid]) => {
        const r = await fetch('/_dash-update-component', {method: 'POST', headers: {'Content-Type': 'application/json'},
          body: JSON.stringify({output, outputs: [], inputs: [{id: 'appr-confirm', property: 'n_clicks', value: 1}],
                                state: [], changedPropIds: ['appr-confirm.n_clicks']})});
        return r.status; }""", [output, cid])

    assert response is not None and response.status == 403
    assert status == 403
    assert queries.command_view(rt, cid)["state"] == "pending" and queries.command_view(rt, cid)["approvals"] == []
    assert json.dumps(op.locator("body").inner_text()).count("Approve") == 0


def test_a_cap_file_prefills_the_alert_form(browser: Any, app_with_dispatcher: LiveApp) -> None:
    cap_file = Path(__file__).resolve().parents[2] / "data" / "cap" / "oasis_spec_example_nws_thunderstorm_cap12.xml"
    op = sign_in(browser, app_with_dispatcher, "operator")
    op.goto(app_with_dispatcher.url + "/commands")
    op.wait_for_selector("#cmd-submit", timeout=20_000)

    op.set_input_files("#cmd-cap-upload input[type=file]", str(cap_file))
    op.wait_for_selector("#cmd-msg >> text=Form filled from", timeout=10_000)

    event = op.locator("#cmd-form input").first
    assert event.input_value() == "SEVERE THUNDERSTORM"
    assert "38.47" in op.locator("#cmd-form textarea.is-json").first.input_value()
    op.click("#cmd-submit")
    op.wait_for_selector("#cmd-msg >> text=pending approval", timeout=10_000)


def test_a_cap_11_file_is_refused_on_the_form(browser: Any, app_with_dispatcher: LiveApp) -> None:
    cap_file = Path(__file__).resolve().parents[2] / "data" / "cap" / "nws_flash_flood_watch_20100830_cap11.xml"
    op = sign_in(browser, app_with_dispatcher, "operator")
    op.goto(app_with_dispatcher.url + "/commands")
    op.wait_for_selector("#cmd-submit", timeout=20_000)

    op.set_input_files("#cmd-cap-upload input[type=file]", str(cap_file))

    op.wait_for_selector("#cmd-msg >> text=only CAP 1.2", timeout=10_000)
