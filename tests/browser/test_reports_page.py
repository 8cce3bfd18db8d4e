"""The Reports page in headless Chromium: the current shift's figures on screen, an export that
downloads and is audited, handover notes and sign-off, and roles kept to their rights."""
from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from harness import LiveApp, screenshot, sign_in, start_live_app
from reports.shifts import shift_at
from store.models.core import AuditEntry, QaCount, Rollup
from store.runtime import Runtime

pytestmark = pytest.mark.browser
ACCEPTED_PER_BUCKET = 1234


def seed_current_shift(rt: Runtime) -> None:
    """Speed and QA counts for every 5 minutes of the current shift so far."""
    shift = shift_at(rt.clock.now(), rt.settings.shifts, rt.settings.timezone)
    with rt.session() as s:
        t = shift.start
        while t < rt.clock.now() - timedelta(minutes=5):
            s.add(Rollup(entity_type="city", entity_id="seoul", quantity="speed_kmh", bucket_start=t, bucket_minutes=5,
                         n=10, total=10 * 27.5, minimum=10, maximum=50, flagged=0))
            s.add(QaCount(bucket_start=t, outcome="accepted", n=ACCEPTED_PER_BUCKET))
            t += timedelta(minutes=5)


@pytest.fixture
def report_app(tmp_path: Path) -> Iterator[LiveApp]:
    app = start_live_app(tmp_path, prepare=seed_current_shift)
    yield app
    app.stop()


def expected_observations(rt: Runtime) -> int:
    shift = shift_at(rt.clock.now(), rt.settings.shifts, rt.settings.timezone)
    with rt.session() as s:
        return sum(s.scalars(select(QaCount.n).where(QaCount.bucket_start >= shift.start, QaCount.bucket_start < shift.end)))


def test_shift_lead_previews_exports_and_hands_over(browser: Any, report_app: LiveApp, tmp_path: Path) -> None:
    page = sign_in(browser, report_app, "shift_lead", path="/reports")
    page.goto(report_app.url + "/reports")

    page.wait_for_selector("#reports-kpi-observations .report-kpi-value", timeout=20_000)
    shown = page.locator("#reports-kpi-observations .report-kpi-value").inner_text()
    assert shown.replace(",", "") == str(expected_observations(report_app.rt))
    assert page.locator("#reports-kpi-network_speed_kmh .report-kpi-value").inner_text() == "27.5"
    assert page.locator(".report-chart").count() >= 3
    screenshot(page, "reports-page")

    with page.expect_download(timeout=30_000) as dl:
        page.click("#reports-export-pdf")
    path = tmp_path / "out.pdf"
    dl.value.save_as(path)
    assert path.read_bytes()[:5] == b"%PDF-"
    with report_app.rt.session() as s:
        audited = s.scalars(select(AuditEntry).where(AuditEntry.action == "report.export")).all()
    assert [(e.actor, e.payload["format"], e.payload["via"]) for e in audited] == [("shift_lead1", "pdf", "page")]

    page.fill("#reports-note-text", "Signal 7 on manual control")
    page.click("#reports-note-add")
    page.wait_for_selector("#reports-notes li", timeout=10_000)
    assert "Signal 7 on manual control" in page.locator("#reports-notes").inner_text()
    page.click("#reports-sign-outgoing")
    page.wait_for_selector(".signoff-outgoing", timeout=10_000)
    page.click("#reports-sign-incoming")  # the same person: refused with the reason
    page.wait_for_function("document.querySelector('#reports-error')?.innerText.includes('different person')", timeout=10_000)
    assert page.locator(".signoff-incoming").count() == 0


def test_supervisor_sees_figures_but_no_export_and_operator_is_refused(browser: Any, report_app: LiveApp) -> None:
    sup = sign_in(browser, report_app, "supervisor")
    sup.goto(report_app.url + "/reports")
    sup.wait_for_selector("#reports-kpi-observations", timeout=20_000)

    assert not sup.locator("#reports-export-pdf").is_visible()
    status = sup.evaluate("""async () => (await fetch('/api/v1/reports/shift?format=pdf')).status""")
    assert status == 403

    op = sign_in(browser, report_app, "operator")
    op.goto(report_app.url + "/reports")
    op.wait_for_timeout(1500)
    assert op.locator("#reports-kpi-observations").count() == 0
    sup.context.close()
    op.context.close()
