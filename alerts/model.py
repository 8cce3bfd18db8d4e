"""The alert lifecycle and the incident lifecycle as pure state machines.

open → acknowledged → resolved (verdict true or false positive); open → resolved is allowed too
(resolving implies having seen it). Each method checks the allowed-transitions table, changes the
state, stamps who and when, and returns past-tense events that the service turns into history
rows and audit entries in the same transaction. An illegal move raises `InvalidTransition` (409).

These functions work on anything shaped like an alert (the SQL row, or a plain object in unit
tests): they import no session.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from alerts.const import ACKNOWLEDGED, MAX_COMMENT, OPEN, RESOLVED, SEVERITY_RANK, VERDICTS
from store.errors import InvalidTransition, NotAuthorized, ValidationError

# (state, action) -> new state. Assign and comment keep the state but need an unresolved alert.
TRANSITIONS: dict[tuple[str, str], str] = {
    (OPEN, "acknowledge"): ACKNOWLEDGED,
    (OPEN, "resolve"): RESOLVED,
    (ACKNOWLEDGED, "resolve"): RESOLVED,
    (OPEN, "assign"): OPEN,
    (ACKNOWLEDGED, "assign"): ACKNOWLEDGED,
    (OPEN, "comment"): OPEN,
    (ACKNOWLEDGED, "comment"): ACKNOWLEDGED,
    (RESOLVED, "comment"): RESOLVED,  # notes after the fact are welcome
}

INCIDENT_TRANSITIONS: dict[tuple[str, str], str] = {
    ("open", "name"): "open",
    ("open", "resolve"): "resolved",
    ("resolved", "name"): "resolved",
}

# Dismissing a critical alert as a false positive is a supervisor's call: a wrongly dismissed fire
# or crash is the costliest mistake the room can make.
SUPERVISOR_ROLES = frozenset({"supervisor", "shift_lead"})
FALSE_POSITIVE_NEEDS_SUPERVISOR = frozenset({"critical"})


class AlertLike(Protocol):
    id: int
    state: str
    severity: str
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    assignee: str | None
    resolved_at: datetime | None
    resolved_by: str | None
    verdict: str | None
    fold_key: str | None


@dataclass(frozen=True)
class Actor:
    """Who acts: a signed-in user with a role, or the system itself."""

    name: str
    role: str


# -- events ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Event:
    subject_id: int  # the alert's id (the incident's for Incident* events)
    at: datetime
    actor: str

    @property
    def kind(self) -> str:
        name = type(self).__name__.removeprefix("Alert").removeprefix("Incident")
        return "".join("_" + c.lower() if c.isupper() else c for c in name).lstrip("_")

    def payload(self) -> dict[str, Any]:
        return {}


@dataclass(frozen=True)
class AlertOpened(Event):
    severity: str = ""
    count: int = 1

    def payload(self) -> dict[str, Any]:
        return {"severity": self.severity, "count": self.count}


@dataclass(frozen=True)
class AlertFolded(Event):
    count: int = 0
    severity: str = ""

    def payload(self) -> dict[str, Any]:
        return {"count": self.count, "severity": self.severity}


@dataclass(frozen=True)
class AlertAcknowledged(Event):
    comment: str | None = None

    def payload(self) -> dict[str, Any]:
        return {"comment": self.comment} if self.comment else {}


@dataclass(frozen=True)
class AlertAssigned(Event):
    assignee: str = ""
    previous: str | None = None

    def payload(self) -> dict[str, Any]:
        return {"assignee": self.assignee, "previous": self.previous}


@dataclass(frozen=True)
class AlertCommented(Event):
    text: str = ""

    def payload(self) -> dict[str, Any]:
        return {"text": self.text}


@dataclass(frozen=True)
class AlertResolved(Event):
    verdict: str = ""
    comment: str | None = None

    def payload(self) -> dict[str, Any]:
        return {"verdict": self.verdict, **({"comment": self.comment} if self.comment else {})}


@dataclass(frozen=True)
class AlertEscalated(Event):
    age_s: float = 0.0
    reminder: int = 0  # 0 = the first escalation, n = the n-th reminder

    def payload(self) -> dict[str, Any]:
        return {"age_s": round(self.age_s), "reminder": self.reminder}


@dataclass(frozen=True)
class AlertGrouped(Event):
    incident_id: int = 0

    def payload(self) -> dict[str, Any]:
        return {"incident_id": self.incident_id}


@dataclass(frozen=True)
class IncidentOpened(Event):
    alert_ids: tuple[int, ...] = ()
    name: str | None = None

    def payload(self) -> dict[str, Any]:
        return {"alert_ids": list(self.alert_ids), "name": self.name}


@dataclass(frozen=True)
class IncidentNamed(Event):
    name: str = ""
    previous: str | None = None

    def payload(self) -> dict[str, Any]:
        return {"name": self.name, "previous": self.previous}


@dataclass(frozen=True)
class IncidentResolved(Event):
    verdict: str = ""
    alerts_resolved: int = 0

    def payload(self) -> dict[str, Any]:
        return {"verdict": self.verdict, "alerts_resolved": self.alerts_resolved}


# -- transitions -------------------------------------------------------------------------------
def _move(alert: AlertLike, action: str) -> str:
    new = TRANSITIONS.get((alert.state, action))
    if new is None:
        if alert.state == RESOLVED:
            raise InvalidTransition(f"alert {alert.id} is already resolved; it cannot be {_past(action)} again",
                                    key="alert_resolved")
        if alert.state == ACKNOWLEDGED and action == "acknowledge":
            raise InvalidTransition(f"alert {alert.id} is already acknowledged (by {alert.acknowledged_by})",
                                    key="alert_acknowledged")
        raise InvalidTransition(f"alert {alert.id}: cannot {action} when {alert.state}")
    return new


def _past(action: str) -> str:
    return {"acknowledge": "acknowledged", "resolve": "resolved", "assign": "assigned"}.get(action, action + "ed")


def _comment(text: str | None, *, required: bool = False) -> str | None:
    text = (text or "").strip()
    if required and not text:
        raise ValidationError("a comment needs some text")
    if len(text) > MAX_COMMENT:
        raise ValidationError(f"a comment is at most {MAX_COMMENT} characters")
    return text or None


def acknowledge(alert: AlertLike, actor: Actor, now: datetime, comment: str | None = None) -> list[Event]:
    text = _comment(comment)
    alert.state = _move(alert, "acknowledge")
    alert.acknowledged_at, alert.acknowledged_by = now, actor.name
    return [AlertAcknowledged(alert.id, now, actor.name, text)]


def assign(alert: AlertLike, actor: Actor, now: datetime, assignee: str) -> list[Event]:
    assignee = (assignee or "").strip()
    if not assignee or len(assignee) > 80:
        raise ValidationError("assign to a username of 1 to 80 characters")
    alert.state = _move(alert, "assign")
    previous, alert.assignee = alert.assignee, assignee
    return [AlertAssigned(alert.id, now, actor.name, assignee, previous)]


def comment(alert: AlertLike, actor: Actor, now: datetime, text: str) -> list[Event]:
    body = _comment(text, required=True)
    _move(alert, "comment")
    return [AlertCommented(alert.id, now, actor.name, body or "")]


def resolve(alert: AlertLike, actor: Actor, now: datetime, verdict: str, comment: str | None = None) -> list[Event]:
    if verdict not in VERDICTS:
        raise ValidationError(f"verdict must be one of {', '.join(VERDICTS)}")
    text = _comment(comment)
    if (verdict == "false_positive" and alert.severity in FALSE_POSITIVE_NEEDS_SUPERVISOR
            and actor.role not in SUPERVISOR_ROLES):
        raise NotAuthorized(f"only a supervisor may dismiss a {alert.severity} alert as a false positive",
                            key="supervisor_only")
    alert.state = _move(alert, "resolve")
    if alert.acknowledged_at is None:
        alert.acknowledged_at, alert.acknowledged_by = now, actor.name
    alert.resolved_at, alert.resolved_by, alert.verdict = now, actor.name, verdict
    alert.fold_key = None  # a repeat after resolution is a new alert
    return [AlertResolved(alert.id, now, actor.name, verdict, text)]


def raise_severity(current: str, new: str) -> str:
    """Folding never lowers an alert's severity (a worse reading makes it worse, a milder one doesn't)."""
    return new if SEVERITY_RANK[new] > SEVERITY_RANK[current] else current


# -- escalation (pure: a function of the alerts and now) ---------------------------------------
@dataclass(frozen=True)
class EscalationView:
    id: int
    state: str
    severity: str
    critical_since: datetime | None
    escalated_at: datetime | None
    reminders: int
    last_reminder_at: datetime | None


@dataclass(frozen=True)
class EscalationDue:
    alert_id: int
    age_s: float
    reminder: int  # 0 first escalation, n ≥ 1 the n-th reminder


def due_escalations(alerts: list[EscalationView], now: datetime, escalate_after_s: float,
                    remind_every_s: float) -> list[EscalationDue]:
    """Which unacknowledged critical alerts escalate now, and which get their next reminder.

    Only open (unacknowledged) critical alerts count; acknowledging stops it. The state that
    says what already happened (escalated_at, reminders) is stored with the alert, so the answer
    is the same after a restart.
    """
    due = []
    for a in alerts:
        if a.state != OPEN or a.severity != "critical" or a.critical_since is None:
            continue
        age = (now - a.critical_since).total_seconds()
        if age < escalate_after_s:
            continue
        if a.escalated_at is None:
            due.append(EscalationDue(a.id, age, 0))
            continue
        last = a.last_reminder_at or a.escalated_at
        if (now - last).total_seconds() >= remind_every_s:
            due.append(EscalationDue(a.id, age, a.reminders + 1))
    return due


# -- incidents ---------------------------------------------------------------------------------
def incident_move(state: str, action: str, incident_id: int) -> str:
    new = INCIDENT_TRANSITIONS.get((state, action))
    if new is None:
        raise InvalidTransition(f"incident {incident_id} is already {state}; it cannot be {_past(action)} again"
                                if state == "resolved" else f"incident {incident_id}: cannot {action} when {state}")
    return new
