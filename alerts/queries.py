"""Read models of alerts for pages, the wall, the REST API and reports.

Names the wall and other pages call:
    `wall_banner(rt)`                  unacknowledged count, oldest unacknowledged age, escalated ones
    `open_counts_by_severity(rt)`      unacknowledged (state open) alerts per severity
    `oldest_unacknowledged_age_s(rt)`  seconds since the oldest unacknowledged alert opened, or None
    `precision_by_category(rt, days)`  true / (true + false) positives per category from verdicts
    `list_alerts(rt, ...)`, `alert_detail(rt, id)`, `list_incidents(rt, ...)`, `map_points(rt)`
"""
from __future__ import annotations

import importlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from alerts.const import FALSE_POSITIVE, OPEN, RESOLVED, SEVERITIES, SEVERITY_RANK, TRUE_POSITIVE
from store.clock import utc
from store.errors import CityOpsError, NotFound, ValidationError
from store.models.alerts import Alert, AlertComment, AlertEvent, Incident
from store.runtime import Runtime

MAX_LIST = 2000


def _iso(dt: datetime | None) -> str | None:
    return dt.isoformat().replace("+00:00", "Z") if dt else None


def alert_json(a: Alert) -> dict[str, Any]:
    """The alert as the API and the live channel carry it."""
    return {
        "id": a.id, "state": a.state, "category": a.category, "severity": a.severity, "district": a.district,
        "count": a.count, "first_seen": _iso(a.first_seen), "last_seen": _iso(a.last_seen),
        "opened_at": _iso(a.opened_at), "rule": a.rule, "source": a.source, "place": a.place,
        "lat": a.lat, "lon": a.lon, "assignee": a.assignee,
        "acknowledged_at": _iso(a.acknowledged_at), "acknowledged_by": a.acknowledged_by,
        "resolved_at": _iso(a.resolved_at), "resolved_by": a.resolved_by, "verdict": a.verdict,
        "incident_id": a.incident_id, "escalated_at": _iso(a.escalated_at), "reminders": a.reminders,
        "detail": a.detail or {},
    }


def incident_json(i: Incident, alert_ids: Sequence[int] = ()) -> dict[str, Any]:
    return {"id": i.id, "name": i.name, "state": i.state, "family": i.family, "district": i.district,
            "lat": i.lat, "lon": i.lon, "opened_at": _iso(i.opened_at), "opened_by": i.opened_by,
            "last_seen": _iso(i.last_seen), "resolved_at": _iso(i.resolved_at), "resolved_by": i.resolved_by,
            "verdict": i.verdict, "alert_ids": list(alert_ids)}


# -- lists -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AlertFilter:
    state: str | None = None      # open | acknowledged | resolved | unresolved
    district: str | None = None
    severity: str | None = None
    category: str | None = None
    since: datetime | None = None  # last seen at or after
    limit: int = 500


def _filtered(f: AlertFilter) -> Any:
    q = select(Alert)
    if f.state == "unresolved":
        q = q.where(Alert.state != RESOLVED)
    elif f.state:
        q = q.where(Alert.state == f.state)
    if f.district:
        q = q.where(Alert.district == f.district)
    if f.severity:
        q = q.where(Alert.severity == f.severity)
    if f.category:
        q = q.where(Alert.category == f.category)
    if f.since:
        q = q.where(Alert.last_seen >= f.since)
    return q


def list_alerts(rt: Runtime, f: AlertFilter = AlertFilter()) -> list[dict[str, Any]]:
    """Alerts matching the filter, newest activity first."""
    if not 1 <= f.limit <= MAX_LIST:
        raise ValidationError(f"limit must be within 1..{MAX_LIST}")
    with rt.session() as s:
        rows = s.scalars(_filtered(f).order_by(Alert.last_seen.desc(), Alert.id.desc()).limit(f.limit)).all()
        return [alert_json(a) for a in rows]


def alert_detail(rt: Runtime, alert_id: int) -> dict[str, Any]:
    """One alert with its history and comments."""
    with rt.session() as s:
        a = s.get(Alert, alert_id)
        if a is None:
            raise NotFound(f"no alert {alert_id}")
        out = alert_json(a)
        out["history"] = [{"at": _iso(e.at), "actor": e.actor, "kind": e.kind, "payload": e.payload}
                          for e in s.scalars(select(AlertEvent).where(AlertEvent.alert_id == alert_id).order_by(AlertEvent.id))]
        out["latest"] = _latest_reading(rt, a)
        out["comments"] = [{"at": _iso(c.at), "author": c.author, "text": c.text}
                           for c in s.scalars(select(AlertComment).where(AlertComment.alert_id == alert_id).order_by(AlertComment.id))]
        out["commands"] = _commands_from(s, alert_id)
        return out


def _commands_from(s: Session, alert_id: int) -> list[dict[str, Any]]:
    """The commands proposed from this alert, oldest first, with their states (empty when the
    actuation domain is not installed). Read from the store's table, since alerts never imports
    `actuation`; a command's ``alert_id`` column is its cause."""
    try:
        m = importlib.import_module("store.models.actuation")
    except ModuleNotFoundError:
        return []
    R = m.CommandRow
    rows = s.scalars(select(R).where(R.alert_id == alert_id).order_by(R.created_at, R.id))
    return [{"id": r.id, "type": r.type, "state": r.state, "proposer": r.proposer, "created_at": _iso(r.created_at)}
            for r in rows]


_DOMAIN_OF_KIND = {"detector": "traffic", "air": "air", "water": "infra", "gas": "infra", "sewer": "infra", "bridge": "infra"}


def _latest_reading(rt: Runtime, a: Alert) -> dict[str, Any] | None:
    """The sensor's newest state (values, QA, time) for alerts raised by one sensor; None otherwise."""
    kind = (a.detail or {}).get("kind") or ("infra" if a.rule.startswith("infra.") else None)
    domain = "infra" if kind == "infra" else _DOMAIN_OF_KIND.get(kind or "")
    if domain is None:
        return None
    try:
        return rt.redis.get_latest(domain, a.source)
    except CityOpsError:
        return None  # Redis down: the alert's own readings still show


def list_incidents(rt: Runtime, state: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
    with rt.session() as s:
        q = select(Incident)
        if state:
            q = q.where(Incident.state == state)
        incidents = s.scalars(q.order_by(Incident.last_seen.desc()).limit(limit)).all()
        members: dict[int, list[int]] = {}
        if incidents:
            for aid, iid in s.execute(select(Alert.id, Alert.incident_id).where(Alert.incident_id.in_([i.id for i in incidents]))):
                members.setdefault(iid, []).append(aid)
        return [incident_json(i, sorted(members.get(i.id, []))) for i in incidents]


# -- the wall ----------------------------------------------------------------------------------
def open_counts_by_severity(rt: Runtime) -> dict[str, int]:
    """Unacknowledged alerts per severity (every severity present, zero included)."""
    with rt.session() as s:
        rows = s.execute(select(Alert.severity, func.count()).where(Alert.state == OPEN).group_by(Alert.severity)).all()
    counts = {sev: 0 for sev in SEVERITIES}
    counts.update({sev: int(n) for sev, n in rows})
    return counts


def _oldest_open(s: Session) -> datetime | None:
    return s.scalars(select(func.min(Alert.opened_at)).where(Alert.state == OPEN)).first()


def oldest_unacknowledged_age_s(rt: Runtime) -> float | None:
    """Seconds since the oldest still-unacknowledged alert opened (None when there is none)."""
    with rt.session() as s:
        oldest = _oldest_open(s)
    if oldest is None:
        return None
    return max(0.0, (rt.clock.now() - utc(oldest)).total_seconds())


@dataclass(frozen=True)
class EscalatedAlert:
    id: int
    category: str
    district: str | None
    age_s: float
    reminders: int


@dataclass(frozen=True)
class Banner:
    """What the wall's banner shows: how many wait, for how long, and which critical ones escalated."""

    unacknowledged: int
    oldest_age_s: float | None
    by_severity: dict[str, int]
    escalated: tuple[EscalatedAlert, ...]

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "escalated": [asdict(e) for e in self.escalated]}


def wall_banner(rt: Runtime) -> Banner:
    now = rt.clock.now()
    counts = open_counts_by_severity(rt)
    with rt.session() as s:
        oldest = _oldest_open(s)
        esc = s.scalars(select(Alert).where(Alert.state == OPEN, Alert.escalated_at.is_not(None))
                        .order_by(Alert.critical_since)).all()
        escalated = tuple(EscalatedAlert(a.id, a.category, a.district,
                                         (now - utc(a.critical_since or a.opened_at)).total_seconds(), a.reminders) for a in esc)
    age = None if oldest is None else max(0.0, (now - utc(oldest)).total_seconds())
    return Banner(sum(counts.values()), age, counts, escalated)


def map_points(rt: Runtime, limit: int = 1000) -> list[dict[str, Any]]:
    """Unresolved alerts with a place, for the map's alert layer (most severe first)."""
    with rt.session() as s:
        rows = s.execute(select(Alert.id, Alert.category, Alert.severity, Alert.state, Alert.lat, Alert.lon, Alert.district)
                         .where(Alert.state != RESOLVED, Alert.lat.is_not(None), Alert.lon.is_not(None))
                         .order_by(Alert.last_seen.desc()).limit(limit)).all()
    pts = [{"id": r.id, "category": r.category, "severity": r.severity, "state": r.state, "lat": r.lat, "lon": r.lon,
            "district": r.district} for r in rows]
    pts.sort(key=lambda p: -SEVERITY_RANK[p["severity"]])
    return pts


# -- precision ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Precision:
    category: str
    true_positives: int
    false_positives: int

    @property
    def judged(self) -> int:
        return self.true_positives + self.false_positives

    @property
    def precision(self) -> float | None:
        return self.true_positives / self.judged if self.judged else None

    def to_json(self) -> dict[str, Any]:
        return {"category": self.category, "true_positives": self.true_positives,
                "false_positives": self.false_positives, "judged": self.judged,
                "precision": None if self.precision is None else round(self.precision, 4)}


def precision_by_category(rt: Runtime, days: float = 7.0, *, until: datetime | None = None) -> list[Precision]:
    """Each category's precision from the verdicts given in the last `days` (resolved in the window)."""
    if not 0 < days <= 366:
        raise ValidationError("days must be within 0..366")
    end = until or rt.clock.now()
    start = end - timedelta(days=days)
    with rt.session() as s:
        rows = s.execute(select(Alert.category, Alert.verdict, func.count())
                         .where(Alert.state == RESOLVED, Alert.resolved_at >= start, Alert.resolved_at <= end)
                         .group_by(Alert.category, Alert.verdict)).all()
    tally: dict[str, list[int]] = {}
    for cat, verdict, n in rows:
        t = tally.setdefault(cat, [0, 0])
        if verdict == TRUE_POSITIVE:
            t[0] += int(n)
        elif verdict == FALSE_POSITIVE:
            t[1] += int(n)
    return [Precision(cat, tp, fp) for cat, (tp, fp) in sorted(tally.items())]
