"""A shift made by the other domains' own services (alerts opened, acknowledged, commented and
resolved; commands proposed, approved and dispatched), so the report is checked against what
those services really write, not only against rows shaped by hand."""
from __future__ import annotations

import io
from datetime import timedelta

import pypdf

from actuation.adapters import default_adapters
from actuation.dispatcher import dispatch_once
from actuation.model import ApproveCommand, Cause, Context, ProposeCommand
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
                                               Context("op.kim"), Cause(alert_id=alert_id)))
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
    assert list(timeline[timeline["incident_id"] == incident["id"]]["kind"]) == [
        "alert_opened", "alert_acknowledged", "comment", "incident_opened", "alert_grouped", "command_proposed", "command_approved",
        "command_approved", "dispatch_ok", "alert_resolved"]
    assert export.render(report, "pdf", lang="en")[:5] == b"%PDF-"


def test_a_command_proposed_from_an_alert_is_in_its_incidents_timeline_tables_and_pdf(rt: Runtime) -> None:
    rt.clock.current = service.period_for(rt, shift="2026-11-26T07").start + timedelta(minutes=10)  # type: ignore[attr-defined]
    op, lead = Actor("op.kim", "operator"), Actor("lead.park", "shift_lead")
    raised = alerts.raise_candidates(rt, [Candidate("traffic_accident", "critical", "cctv_traffic_accident", "cam-7", "Mapo 1",
                                                    rt.clock.now(), Place("Mapo-gu", 37.55, 126.91))])
    alert_id = int(raised[0]["id"])
    rt.clock.advance(60)  # type: ignore[attr-defined]
    from_alert = actuation.propose(rt, ProposeCommand("bus_reroute", example_params("bus_reroute", rt.clock.now()), "operator",
                                                      Context("op.kim"), Cause(alert_id=alert_id)))
    unrelated = actuation.propose(rt, ProposeCommand("signal_timing", example_params("signal_timing", rt.clock.now()), "operator",
                                                     Context("op.kim")))
    dispatch_once(rt, default_adapters(rt, latency=(0, 0)), worker="w1")
    rt.clock.advance(120)  # type: ignore[attr-defined]
    incident = alerts.open_incident(rt, [alert_id], lead, name="Mapo crash")  # grouped after the command was proposed
    rt.clock.advance(600)  # type: ignore[attr-defined]
    alerts.resolve(rt, alert_id, op, "true_positive")

    report = service.incident_report(rt, incident["id"])

    assert list(report.tables["commands"]["command_id"]) == [from_alert["id"]]
    tl = report.tables["incident_timeline"]
    mine = tl[tl["ref"] == f"command {from_alert['id']}"]
    assert list(mine["kind"]) == ["command_proposed", "dispatch_ok"] and list(mine["detail"])[0] == "bus_reroute"
    assert f"command {unrelated['id']}" not in set(tl["ref"])
    blob = "\n".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(export.render(report, "pdf", lang="en"))).pages)
    assert f"command {from_alert['id']}" in blob and "bus_reroute" in blob
