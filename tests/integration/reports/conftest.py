"""A known shift: rollups, QA counts, alerts with verdicts, an incident with history and comments,
commands with approvals and dispatch results, handover notes and sign-offs.

Rows go straight into the other domains' tables (their models, not their services), so every
timestamp is exactly what the figures in the tests are computed from. Some rows sit just outside
the shift on purpose: a report that reads past its edges shows it in the figures.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from reports.shifts import Period, parse_shift_id
from store.models.alerts import Alert, AlertComment, AlertEvent, Incident
from store.models.core import QaCount, Rollup
from store.models.reports import HandoverNote, HandoverSignoff
from store.runtime import Runtime

SHIFT_ID = "2026-11-26T07"  # Seoul: 2026-11-25 22:00Z .. 2026-11-26 06:00Z
S = datetime(2026, 11, 25, 22, 0, tzinfo=UTC)
DISTRICTS = ("Gangnam-gu", "Jongno-gu", "Mapo-gu")


@dataclass
class KnownShift:
    period: Period
    incident_id: int
    alert_ids: dict[str, int]
    command_ids: dict[str, int]


def at(minutes: float) -> datetime:
    """A time `minutes` after the shift starts (negative: before it)."""
    return S + timedelta(minutes=minutes)


def _rollups(s) -> None:  # type: ignore[no-untyped-def]
    # Speed: 3 detectors, 5-minute buckets for the whole shift and one hour either side.
    for k in range(-12, 8 * 12 + 12):
        t = at(5 * k)
        for j, det in enumerate(("det-1", "det-2", "det-3")):
            mean = 8.0 + 7 * j + (k % 12)  # det-1 is often below 15 km/h
            # One mostly flagged bucket and one with a single flagged value: both left out (any flag).
            flagged = 3 if (j == 2 and k == 30) else 1 if (j == 1 and k == 40) else 0
            s.add(Rollup(entity_type="sensor", entity_id=det, quantity="speed_kmh", bucket_start=t, bucket_minutes=5,
                         n=4, total=4 * mean, minimum=mean - 1, maximum=mean + 1, flagged=flagged))
        city = 30.0 + (k % 7)
        s.add(Rollup(entity_type="city", entity_id="city", quantity="speed_kmh", bucket_start=t, bucket_minutes=5,
                     n=100, total=100 * city, minimum=5, maximum=80, flagged=0))
    # Air: hourly district buckets of every CAI pollutant.
    base = {"pm25": 20.0, "pm10": 40.0, "o3": 0.03, "no2": 0.02, "co": 0.5, "so2": 0.003}
    for h in range(-1, 9):
        for d, district in enumerate(DISTRICTS):
            for q, v in base.items():
                mean = v * (1 + 0.5 * d) + (h * (2.0 if q == "pm25" else 0.0))
                s.add(Rollup(entity_type="district", entity_id=district, quantity=q, bucket_start=at(60 * h),
                             bucket_minutes=60, n=10 + d, total=(10 + d) * mean, minimum=mean, maximum=mean, flagged=0))
    # QA counts: every 5 minutes in the shift, and one bucket on each side.
    for k in range(-1, 8 * 12 + 1):
        for outcome, n in (("accepted", 1000 + k), ("flagged", k % 5), ("quarantined", k % 3), ("rejected", 1 if k % 10 == 0 else 0)):
            s.add(QaCount(bucket_start=at(5 * k), outcome=outcome, n=n))


ALERTS = {
    # name: category, severity, district, opened, acked, resolved, verdict (minutes from shift start)
    "before_acked_in": ("traffic_accident", "critical", "Gangnam-gu", -10, 3, 40, "true_positive"),
    "crash": ("traffic_accident", "critical", "Gangnam-gu", 15, 16.5, 70, "true_positive"),
    "crash2": ("traffic_accident", "major", "Gangnam-gu", 18, 21, 95, "false_positive"),
    "crowd": ("crowd_density", "major", "Jongno-gu", 60, 64, 130, "true_positive"),
    "crowd2": ("crowd_density", "minor", "Jongno-gu", 90, 120, 200, "false_positive"),
    "fight": ("aggressive_behaviour", "major", "Mapo-gu", 100, 103, 150, "false_positive"),
    "fight2": ("aggressive_behaviour", "minor", "Mapo-gu", 200, 230, 300, "true_positive"),
    "pm": ("air_quality", "minor", "Mapo-gu", 240, 250, None, None),  # open at the end, acknowledged
    "leak": ("water_leak", "critical", None, 400, None, None, None),  # open at the end, never acknowledged
    "late_resolve": ("illegal_parking", "info", "Jongno-gu", 460, 470, 500, "true_positive"),  # resolved after the end
    "after": ("fire_smoke", "critical", "Gangnam-gu", 485, None, None, None),  # opens after the shift
}


def _alerts(s) -> tuple[int, dict[str, int]]:  # type: ignore[no-untyped-def]
    inc = Incident(name="Gangnam crash", state="resolved", family="traffic", district="Gangnam-gu", opened_at=at(16),
                   opened_by="op.kim", last_seen=at(60), resolved_at=at(100), resolved_by="lead.park", verdict="true_positive")
    s.add(inc)
    s.flush()
    ids: dict[str, int] = {}
    for name, (cat, sev, district, o, a, r, verdict) in ALERTS.items():
        state = "resolved" if r is not None else ("acknowledged" if a is not None else "open")
        alert = Alert(dedup_key=f"{cat}|{name}", category=cat, severity=sev, state=state, rule="test", source=f"cam-{name}",
                      place=f"place-{name}", district=district, detail={}, count=2 if name == "crash" else 1,
                      first_seen=at(o), last_seen=at(o + 1), opened_at=at(o),
                      acknowledged_at=at(a) if a is not None else None, acknowledged_by="op.kim" if a is not None else None,
                      resolved_at=at(r) if r is not None else None, resolved_by="op.lee" if r is not None else None,
                      verdict=verdict, incident_id=inc.id if name in ("crash", "crash2") else None)
        s.add(alert)
        s.flush()
        ids[name] = alert.id
        s.add(AlertEvent(alert_id=alert.id, at=at(o), actor="system:alerts", kind="opened", payload={"severity": sev}))
        if name == "crash":
            s.add(AlertEvent(alert_id=alert.id, at=at(o + 0.5), actor="system:alerts", kind="folded", payload={"count": 2}))
        if a is not None:
            s.add(AlertEvent(alert_id=alert.id, at=at(a), actor="op.kim", kind="acknowledged", payload={}))
        if r is not None:
            s.add(AlertEvent(alert_id=alert.id, at=at(r), actor="op.lee", kind="resolved", payload={"verdict": verdict}))
    s.add(AlertComment(alert_id=ids["crash"], at=at(17), author="op.kim", text="Two cars, one lane blocked; 교통경찰 출동"))
    return inc.id, ids


def _commands(s, alert_ids: dict[str, int], incident_id: int) -> dict[str, int]:  # type: ignore[no-untyped-def]
    try:
        from store.models.actuation import ApprovalRow, CommandRow, DispatchResultRow
    except ModuleNotFoundError:  # pragma: no cover - actuation not installed
        return {}
    spec = {
        # name: type, state, proposer, created, updated, params, approvals [(user, role, at)], dispatches [(start, end, ok, err)]
        "reroute": ("bus_reroute", "executed", "op.kim", 20, 23, {"route": "143"},
                    [], [(21, 23, True, None)]),
        # Stored before migration 0006: its cause only in the params (reports still read it there).
        "emergency": ("emergency_alert", "executed", "op.kim", 25, 34, {"incident_id": incident_id, "headline": "Crash"},
                      [("sup.choi", "supervisor", 28), ("lead.park", "shift_lead", 30)], [(30, 31, False, "timeout"), (32, 34, True, None)]),
        "gas": ("gas_shutoff", "rejected", "op.lee", 120, 125, {"zone": "Mapo-gu", "reason": "smell"}, [], []),
        "failed": ("signal_timing", "failed", "op.lee", 300, 310, {"intersection": "i-9"}, [],
                   [(301, 303, False, "no answer"), (305, 310, False, "no answer")]),
        "pending": ("bridge_closure", "pending", "op.kim", 470, 470, {"bridge": "b-1"}, [("sup.choi", "supervisor", 475)], []),
        "before": ("lighting_schedule", "executed", "op.kim", -30, -29, {"districts": ["Mapo-gu"]}, [], [(-30, -29, True, None)]),
    }
    causes = {"reroute": {"alert_id": alert_ids["crash"]}}  # proposed from the crash alert (its own column)
    ids: dict[str, int] = {}
    for name, (typ, state, proposer, c, u, params, approvals, dispatches) in spec.items():
        row = CommandRow(type=typ, params=params, state=state, proposer=proposer, proposer_role="operator",
                         approvals_needed=len(approvals), approver_roles=["supervisor", "shift_lead"], created_at=at(c),
                         updated_at=at(u), expires_at=None, reason="not needed" if state == "rejected" else None,
                         context_id=f"ctx-{name}", result=None, version=1, **causes.get(name, {}))
        s.add(row)
        s.flush()
        ids[name] = row.id
        for user, role, t in approvals:
            s.add(ApprovalRow(command_id=row.id, user_id=user, role=role, at=at(t), context_id=f"ctx-{name}"))
        for i, (st, en, ok, err) in enumerate(dispatches, start=1):
            s.add(DispatchResultRow(command_id=row.id, outbox_id=row.id, attempt=i, worker="disp-1", started_at=at(st),
                                    finished_at=at(en), ok=ok, latency_ms=(en - st) * 60000.0, detail={}, error=err))
    return ids


def build_known_shift(rt: Runtime) -> KnownShift:
    period = parse_shift_id(SHIFT_ID, rt.settings.shifts, rt.settings.timezone)
    assert period.start == S
    with rt.session() as s:
        _rollups(s)
        incident_id, alert_ids = _alerts(s)
        command_ids = _commands(s, alert_ids, incident_id)
        for minute, author, text in ((30, "lead.park", "Crash on Teheran-ro cleared at 08:40."),
                                     (400, "lead.park", "강남 누수 경보 미해결: 다음 근무조 확인 바람")):
            s.add(HandoverNote(shift_id=SHIFT_ID, shift_start=period.start, shift_end=period.end, author=author, text=text,
                               created_at=at(minute)))
        s.add(HandoverSignoff(shift_id=SHIFT_ID, shift_start=period.start, shift_end=period.end, role="outgoing",
                              username="lead.park", signed_at=at(478), comment=None))
        s.add(HandoverSignoff(shift_id=SHIFT_ID, shift_start=period.start, shift_end=period.end, role="incoming",
                              username="lead.han", signed_at=at(481), comment="received"))
    return KnownShift(period, incident_id, alert_ids, command_ids)


@pytest.fixture
def known_shift(any_db_rt: Runtime) -> tuple[Runtime, KnownShift]:
    any_db_rt.clock.current = at(8 * 60 + 30)  # type: ignore[attr-defined]
    return any_db_rt, build_known_shift(any_db_rt)
