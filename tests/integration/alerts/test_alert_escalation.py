"""Escalation of an unacknowledged critical alert, with a FakeClock, across a restart."""
from __future__ import annotations

import threading
from datetime import datetime

import pytest

from alerts import queries, service
from alerts.escalation import check_escalations, recent_notifications, run_escalation
from alerts.model import Actor
from alerts.rules import Candidate, Place
from store.runtime import Runtime

OPERATOR = Actor("kim", "operator")


def fire(rt: Runtime, camera: str = "cam-1", severity: str = "critical") -> int:
    cand = Candidate("fire_smoke", severity, "cctv", camera, camera, rt.clock.now(), Place("Jung-gu", 37.56, 126.98),
                     {"confidence": 0.9})
    changed = service.raise_candidates(rt, [cand])
    return next(int(a["id"]) for a in changed if a["source"] == camera)


def test_critical_alert_escalates_after_the_set_time_and_not_before(any_db_rt):
    rt = any_db_rt
    alert_id = fire(rt)
    rt.clock.advance(minutes=1.9)

    assert check_escalations(rt) == []

    rt.clock.advance(minutes=0.2)
    [due] = check_escalations(rt)

    assert due.alert_id == alert_id and due.reminder == 0 and due.age_s == pytest.approx(126)
    banner = queries.wall_banner(rt)
    assert [e.id for e in banner.escalated] == [alert_id]
    assert banner.escalated[0].age_s == pytest.approx(126)
    assert recent_notifications(rt)[0]["alert_id"] == alert_id


def test_reminders_repeat_until_acknowledged_then_stop(any_db_rt):
    rt = any_db_rt
    alert_id = fire(rt)
    rt.clock.advance(minutes=2)
    assert [d.reminder for d in check_escalations(rt)] == [0]
    assert check_escalations(rt) == []  # nothing new at the same moment
    rt.clock.advance(minutes=2)
    assert [d.reminder for d in check_escalations(rt)] == [1]
    rt.clock.advance(minutes=2)
    assert [d.reminder for d in check_escalations(rt)] == [2]

    service.acknowledge(rt, alert_id, OPERATOR)
    rt.clock.advance(minutes=10)

    assert check_escalations(rt) == []
    assert queries.wall_banner(rt).escalated == ()
    detail = queries.alert_detail(rt, alert_id)
    assert [h["kind"] for h in detail["history"]].count("escalated") == 3


def test_escalation_survives_a_restart(rt, settings, clock):
    fire(rt)
    clock.advance(minutes=3)
    assert [d.reminder for d in check_escalations(rt)] == [0]
    rt.close()

    again = Runtime.start(settings, clock=clock, redis=rt.redis)  # a new process on the same database
    try:
        assert check_escalations(again) == []  # not escalated twice
        clock.advance(minutes=2)
        assert [d.reminder for d in check_escalations(again)] == [1]
    finally:
        again.close()


def test_major_alerts_and_acknowledged_criticals_never_escalate(rt):
    fire(rt, "cam-1", "major")
    acked = fire(rt, "cam-2")
    service.acknowledge(rt, acked, OPERATOR)
    rt.clock.advance(minutes=30)

    assert check_escalations(rt) == []


def test_the_scheduler_service_escalates_and_stops_when_told(rt):
    from alerts.rules import default_rules, EscalationRule
    import dataclasses

    fire(rt)
    rt.clock.advance(minutes=5)
    rules = dataclasses.replace(default_rules(), escalation=EscalationRule(reminder_minutes=2, check_seconds=0.2))
    stop = threading.Event()
    t = threading.Thread(target=run_escalation, args=(rt, stop), kwargs={"rules": rules})
    t.start()
    try:
        deadline = datetime.now().timestamp() + 10
        while not queries.wall_banner(rt).escalated and datetime.now().timestamp() < deadline:
            stop.wait(0.05)
    finally:
        stop.set()
        t.join(10)

    assert not t.is_alive()
    assert len(queries.wall_banner(rt).escalated) == 1
