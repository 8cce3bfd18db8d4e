"""A shift made by the other domains' own services (alerts opened, acknowledged, commented and
resolved; commands proposed, approved and dispatched), so the report is checked against what
those services really write, not only against rows shaped by hand."""
from __future__ import annotations

from datetime import timedelta

from actuation.adapters import default_adapters
from actuation.dispatcher import dispatch_once
from actuation.model import ApproveCommand, Context, ProposeCommand
from actuation.samples import example_params
from actuation import service as actuation
from alerts import service as alerts
from alerts.model import Actor
from alerts.rules import Candidate, Place
from reports import export, service
from store.runtime import Runtime


def test_report_reads_what_the_alert_and_command_services_write(rt: Runtime) -> None:
    period = service.period_for(rt, shift="2026-11-26T07")
    rt.clock.current = period.start + timedelta(minutes=10)  # type: ignore[attr-defined]
    op, lead = Actor("op.kim", "operator"), Actor("lead.park", "shift_lead")
    raised = alerts.raise_candidates(rt, [Candidate("traffic_accident", "critical", "cctv_traffic_accident", "cam-1", "Jong-ro 3",
                                                    rt.clock.now(), Place("Jongno-gu", 37.57, 126.99))])
    alert_id = int(raised[0]["id"])
    rt.clock.advance(90)  # type: ignore[attr-defined]
    alerts.acknowledge(rt, alert_id, op, comment="on it")
    rt.clock.advance(60)  # type: ignore[attr-defined]
    incident = alerts.open_incident(rt, [alert_id], lead, name="Jong-ro crash")
    cmd = actuation.propose(rt, ProposeCommand("gas_shutoff", example_params("gas_shutoff", rt.clock.now()), "operator",
                                               Context("op.kim")))
    rt.clock.advance(30)  # type: ignore[attr-defined]
    actuation.approve(rt, ApproveCommand(cmd["id"], "supervisor", Context("sup.choi")))
    actuation.approve(rt, ApproveCommand(cmd["id"], "shift_lead", Context("lead.park")))
    dispatch_once(rt, default_adapters(rt, latency=(0, 0)), worker="w1")
    rt.clock.advance(20 * 60)  # type: ignore[attr-defined]
    alerts.resolve(rt, alert_id, op, "true_positive")

    report = service.shift_report(rt, period)

    h = report.headline()
    assert h["alerts_opened"] == 1 and h["alerts_critical"] == 1
    assert h["ack_median_min"] == 1.5
    assert h["resolve_median_min"] == 1.5 + 1 + 0.5 + 20
    assert h["precision_pct"] == 100.0 and h["incidents"] == 1
    commands = report.tables["commands"]
    row = commands[commands["command_id"] == cmd["id"]].iloc[0]
    assert row["type"] == "gas_shutoff" and row["proposer"] == "op.kim"
    assert row["approvers"] == "sup.choi (supervisor), lead.park (shift_lead)"
    assert row["state"] == "executed" and row["attempts"] == 1
    timeline = report.tables["incident_timeline"]
    assert list(timeline[timeline["incident_id"] == incident["id"]]["kind"])[:3] == ["alert_opened", "alert_acknowledged", "comment"]
    assert export.render(report, "pdf", lang="en")[:5] == b"%PDF-"
