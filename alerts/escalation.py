"""Escalation of unacknowledged critical alerts, run by APScheduler.

    run_escalation(rt, stop)   the scheduler service: `check_escalations` every `check_seconds`
    check_escalations(rt)      one check; what it escalated or reminded

A critical alert still unacknowledged `settings.escalation_minutes` after it became critical
escalates: the wall's banner raises it with its age and flashes it (`queries.wall_banner`), and
the supervisors' consoles are notified (a message on the ``alerts`` channel with
``"notify": {"roles": ["supervisor", "shift_lead"]}``, plus a list in Redis a console reads on
load). Reminders repeat every `reminder_minutes` until someone acknowledges.

What already happened (escalated_at, reminders, last_reminder_at) is stored on the alert row in
SQL, and the decision is the pure `alerts.model.due_escalations(alerts, now)`, so a restarted
scheduler neither forgets an escalation nor repeats one, and tests drive it with a FakeClock.
Each escalation is a guarded UPDATE (on the reminder count it read), so two schedulers running by
mistake still notify once.
"""
from __future__ import annotations

import json
import logging
import threading
import time
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update

from alerts import model
from alerts.const import CHANNEL, OPEN, SYSTEM_ACTOR
from alerts.queries import alert_json
from alerts.rules import RuleSet, default_rules
from alerts.service import new_context, record_events
from store.errors import CityOpsError
from store.models.alerts import Alert
from store.runtime import Runtime

log = logging.getLogger(__name__)

SUPERVISOR_ROLES = ("supervisor", "shift_lead")
NOTIFY_KEEP = 200  # notifications kept in Redis for consoles that open later


def notifications_key(rt: Runtime) -> str:
    return rt.redis.keys.key("alerts", "notify", "supervisor")


def check_escalations(rt: Runtime, rules: RuleSet | None = None) -> list[model.EscalationDue]:
    """Escalate or remind what is due now; returns what was done (after commit)."""
    rules = rules or default_rules()
    now = rt.clock.now()
    ctx = new_context()
    done: list[model.EscalationDue] = []
    changed: dict[str, dict[str, Any]] = {}
    with rt.session() as s:
        rows = s.scalars(select(Alert).where(Alert.state == OPEN, Alert.severity == "critical")).all()
        views = [model.EscalationView(a.id, a.state, a.severity, a.critical_since, a.escalated_at, a.reminders,
                                      a.last_reminder_at) for a in rows]
        due = model.due_escalations(views, now, rt.settings.escalation_minutes * 60,
                                    rules.escalation.reminder_minutes * 60)
        events: list[model.Event] = []
        for d in due:
            values: dict[str, Any] = {"version": Alert.version + 1}
            if d.reminder == 0:
                guard = Alert.escalated_at.is_(None)
                values["escalated_at"] = now
            else:
                guard = Alert.reminders == d.reminder - 1
                values.update(reminders=d.reminder, last_reminder_at=now)
            res = s.execute(update(Alert).where(Alert.id == d.alert_id, Alert.state == OPEN, guard).values(**values)
                            .execution_options(synchronize_session=False))
            if res.rowcount != 1:  # type: ignore[attr-defined]
                continue  # acknowledged or escalated by someone else meanwhile
            events.append(model.AlertEscalated(d.alert_id, now, SYSTEM_ACTOR, d.age_s, d.reminder))
            done.append(d)
        record_events(s, events, ctx)
        for d in done:
            a = s.get(Alert, d.alert_id)
            if a is not None:
                s.refresh(a)
                changed[str(a.id)] = alert_json(a)
    if done:
        _notify(rt, done, changed)
    return done


def _notify(rt: Runtime, done: list[model.EscalationDue], changed: dict[str, dict[str, Any]]) -> None:
    notes = [{"alert_id": d.alert_id, "age_s": round(d.age_s), "reminder": d.reminder,
              "category": changed.get(str(d.alert_id), {}).get("category"),
              "district": changed.get(str(d.alert_id), {}).get("district"),
              "at": rt.clock.now().isoformat()} for d in done]
    for n in notes:
        log.warning("alert %s escalated (%s, reminder %d): critical and unacknowledged for %d s",
                    n["alert_id"], n["category"], n["reminder"], n["age_s"])
    try:
        pipe = rt.redis.client.pipeline(transaction=False)
        for n in notes:
            pipe.lpush(notifications_key(rt), json.dumps(n))
        pipe.ltrim(notifications_key(rt), 0, NOTIFY_KEEP - 1)
        pipe.execute()
        rt.redis.publish(CHANNEL, {"domain": CHANNEL, "sent_at": time.time(), "changes": changed,
                                   "notify": {"roles": list(SUPERVISOR_ROLES), "escalations": notes}})
    except Exception as exc:  # noqa: BLE001 - the escalation is committed; the wall reads SQL
        log.error("escalation notice not pushed (Redis): %s", exc)


def recent_notifications(rt: Runtime, limit: int = 20) -> list[dict[str, Any]]:
    """The latest escalation notices, newest first, for a supervisor's console."""
    return [json.loads(x) for x in rt.redis.client.lrange(notifications_key(rt), 0, limit - 1)]


def run_escalation(rt: Runtime, stop: threading.Event, *, rules: RuleSet | None = None) -> None:
    """The scheduler service: check every `check_seconds` until `stop` is set."""
    from apscheduler.schedulers.background import BackgroundScheduler

    rules = rules or default_rules()

    def job() -> None:
        try:
            check_escalations(rt, rules)
        except CityOpsError as exc:
            log.error("escalation check failed: %s; next check in %s s", exc.message, rules.escalation.check_seconds)

    scheduler = BackgroundScheduler(timezone="UTC", job_defaults={"coalesce": True, "max_instances": 1})
    scheduler.add_job(job, "interval", seconds=rules.escalation.check_seconds, id="alerts-escalation",
                      next_run_time=datetime.now(UTC))  # first check at once: a restart catches up
    scheduler.start()
    log.info("escalation scheduler started (every %s s, after %s min)", rules.escalation.check_seconds,
             rt.settings.escalation_minutes)
    try:
        stop.wait()
    finally:
        scheduler.shutdown(wait=True)
