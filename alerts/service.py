"""Alert use cases: load → call the model → commit, with history and audit in the same transaction.

The REST API, the pages and the worker call these, never the tables directly.

Opening and folding (`raise_candidates`) is safe under concurrency: the unique ``fold_key`` lets
only one alert per dedup key absorb repeats; a worker that loses the race to insert gets a unique
violation inside a savepoint and folds into the winner instead. Folds update count and last seen
on the row; they write history and audit only when they raise the severity, so a sensor stuck in
alarm does not flood the audit log with copies.
"""
from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from alerts import model
from alerts.const import CHANNEL, OPEN, RESOLVED, SYSTEM_ACTOR, VERDICTS
from alerts.queries import alert_json, incident_json
from alerts.rules import AlertPoint, Candidate, RuleSet, default_rules, find_partner
from store import audit
from store.clock import utc
from store.errors import Conflict, NotFound, Unavailable, ValidationError
from store.models.alerts import Alert, AlertComment, AlertEvent, Incident
from store.runtime import Runtime

log = logging.getLogger(__name__)


def new_context() -> str:
    return uuid.uuid4().hex


def record_events(s: Session, events: Iterable[model.Event], context_id: str | None, subject_type: str = "alert") -> None:
    """History rows and audit entries for events, in the caller's transaction."""
    for ev in events:
        if subject_type == "alert":
            s.add(AlertEvent(alert_id=ev.subject_id, at=ev.at, actor=ev.actor, kind=ev.kind, payload=ev.payload()))
        audit.append(s, at=ev.at, actor=ev.actor, action=f"{subject_type}.{ev.kind}", subject_type=subject_type,
                     subject_id=ev.subject_id, payload=ev.payload(), context_id=context_id)


def publish(rt: Runtime, changes: dict[str, dict[str, Any]], **extra: Any) -> None:
    """Tell the pages at once (lifecycle actions). A Redis outage is logged, never undoes the commit."""
    if not changes and not extra:
        return
    try:
        rt.redis.publish(CHANNEL, {"domain": CHANNEL, "sent_at": time.time(), "changes": changes, **extra})
    except Unavailable:
        log.warning("alerts delta not published (Redis down); pages catch up on their next refresh")


# -- opening and folding -----------------------------------------------------------------------
@dataclass(frozen=True)
class Raised:
    alert: Alert
    opened: bool
    severity_raised: bool


def _new_alert(cand: Candidate, now: datetime) -> Alert:
    return Alert(fold_key=cand.dedup_key, dedup_key=cand.dedup_key, category=cand.category, severity=cand.severity,
                 state=OPEN, rule=cand.rule, source=cand.source, place=cand.place, district=cand.where.district,
                 lat=cand.where.lat, lon=cand.where.lon, detail=dict(cand.detail), count=1, first_seen=cand.time,
                 last_seen=cand.time, opened_at=now, critical_since=now if cand.severity == "critical" else None,
                 reminders=0)


def open_or_fold(s: Session, cand: Candidate, now: datetime) -> Raised:
    """Fold `cand` into the alert holding its dedup key, or open a new one (guarded against races)."""
    window = timedelta(minutes=cand.dedup_minutes)
    for _attempt in range(5):
        existing = s.execute(select(Alert.id, Alert.last_seen, Alert.severity)
                             .where(Alert.fold_key == cand.dedup_key)).first()
        if existing is not None:
            if cand.time - utc(existing.last_seen) <= window:
                severity = model.raise_severity(existing.severity, cand.severity)
                became_critical = severity == "critical" and existing.severity != "critical"
                values: dict[str, Any] = {
                    "count": Alert.count + 1,
                    "last_seen": case((Alert.last_seen < cand.time, cand.time), else_=Alert.last_seen),
                    "severity": severity, "detail": dict(cand.detail), "version": Alert.version + 1,
                }
                if became_critical:
                    values["critical_since"] = now
                res = s.execute(update(Alert).where(Alert.id == existing.id, Alert.fold_key == cand.dedup_key)
                                .values(**values).execution_options(synchronize_session=False))
                if res.rowcount == 1:  # type: ignore[attr-defined]
                    alert = s.get(Alert, existing.id)
                    assert alert is not None
                    s.refresh(alert)
                    return Raised(alert, False, severity != existing.severity)
                continue  # resolved or retired meanwhile: look again
            # Quiet for longer than the window: that alert keeps its history; a new one opens.
            s.execute(update(Alert).where(Alert.id == existing.id, Alert.fold_key == cand.dedup_key)
                      .values(fold_key=None).execution_options(synchronize_session=False))
        try:
            with s.begin_nested():
                alert = _new_alert(cand, now)
                s.add(alert)
                s.flush()
            return Raised(alert, True, False)
        except IntegrityError:
            continue  # another worker opened it first: fold into theirs
    raise Conflict(f"could not open or fold alert {cand.dedup_key} after 5 attempts")


def _family_members(s: Session, rules: RuleSet, alert: Alert) -> list[AlertPoint]:
    family = rules.incidents.family_of(alert.category)
    if family is None or alert.lat is None:
        return []
    since = utc(alert.last_seen) - timedelta(minutes=rules.incidents.window_minutes)
    rows = s.execute(select(Alert.id, Alert.category, Alert.lat, Alert.lon, Alert.last_seen, Alert.incident_id)
                     .where(Alert.state != RESOLVED, Alert.category.in_(rules.incidents.families[family]),
                            Alert.last_seen >= since, Alert.id != alert.id)).all()
    return [AlertPoint(r.id, r.category, r.lat, r.lon, utc(r.last_seen), r.incident_id) for r in rows]


def _incident_for(s: Session, alert: Alert, family: str | None, now: datetime, hint: str | None) -> Incident:
    """The open incident holding `hint`, or a new one. A resolved incident gives its hint up, so a
    new jam behind the same link groups anew instead of failing on the unique hint."""
    if hint:
        found = s.scalars(select(Incident).where(Incident.group_hint == hint)).first()
        if found is not None and found.state == "open":
            return found
        if found is not None:
            found.group_hint = None
            s.flush()
    inc = Incident(state="open", family=family, group_hint=hint, district=alert.district, lat=alert.lat, lon=alert.lon,
                   opened_at=now, opened_by=SYSTEM_ACTOR, last_seen=alert.last_seen)
    try:
        with s.begin_nested():
            s.add(inc)
            s.flush()
    except IntegrityError:  # another worker opened it at the same moment: join theirs
        found = s.scalars(select(Incident).where(Incident.group_hint == hint)).first()
        if found is None:
            raise
        return found
    return inc


def group_into_incident(s: Session, rules: RuleSet, alert: Alert, cand: Candidate, now: datetime) -> list[model.Event]:
    """Put a new alert into an incident with its related alerts (same hint, or close in space and time)."""
    if alert.incident_id is not None:
        return []
    family = rules.incidents.family_of(alert.category)
    events: list[model.Event] = []
    partner_ids: list[int] = []
    incident: Incident | None = None
    if cand.group_hint and cand.detail.get("head_link") not in (None, cand.source):
        head = cand.detail["head_link"]
        head_alert = s.scalars(select(Alert).where(Alert.fold_key == f"{cand.category}|{head}|{head}")).first()
        incident = _incident_for(s, alert, family, now, cand.group_hint)
        if head_alert is not None and head_alert.incident_id is None:
            partner_ids.append(head_alert.id)
    else:
        partner = find_partner(rules.incidents, AlertPoint(alert.id, alert.category, alert.lat, alert.lon,
                                                           utc(alert.last_seen)), _family_members(s, rules, alert))
        if partner is None:
            return []
        if partner.incident_id is not None:
            incident = s.get(Incident, partner.incident_id)
        if incident is None or incident.state != "open":
            incident = _incident_for(s, alert, family, now, None)
            partner_ids.append(partner.id)
    assert incident is not None
    incident.last_seen = max(utc(incident.last_seen), utc(alert.last_seen))
    for aid in [alert.id, *partner_ids]:
        s.execute(update(Alert).where(Alert.id == aid, Alert.incident_id.is_(None))
                  .values(incident_id=incident.id, version=Alert.version + 1).execution_options(synchronize_session=False))
        events.append(model.AlertGrouped(aid, now, SYSTEM_ACTOR, incident.id))
    s.refresh(alert)
    return events


def raise_candidates(rt: Runtime, candidates: Sequence[Candidate], rules: RuleSet | None = None,
                     context_id: str | None = None) -> list[dict[str, Any]]:
    """Open or fold every candidate in one transaction; the changed alerts as JSON.

    Candidates are handled in dedup-key order and audit entries are written last, so two workers
    never wait on each other's locks in opposite orders.
    """
    if not candidates:
        return []
    rules = rules or default_rules()
    now = rt.clock.now()
    ctx = context_id or new_context()
    changed: dict[int, Alert] = {}
    with rt.session() as s:
        events: list[model.Event] = []
        for cand in sorted(candidates, key=lambda c: (c.dedup_key, c.time)):
            r = open_or_fold(s, cand, now)
            changed[r.alert.id] = r.alert
            if r.opened:
                events.append(model.AlertOpened(r.alert.id, now, SYSTEM_ACTOR, r.alert.severity, r.alert.count))
                grouped = group_into_incident(s, rules, r.alert, cand, now)
                events += grouped
                for ev in grouped:
                    if isinstance(ev, model.AlertGrouped) and ev.subject_id not in changed:
                        other = s.get(Alert, ev.subject_id)
                        if other is not None:
                            s.refresh(other)
                            changed[other.id] = other
            elif r.severity_raised:
                events.append(model.AlertFolded(r.alert.id, now, SYSTEM_ACTOR, r.alert.count, r.alert.severity))
        record_events(s, events, ctx)
        out = [alert_json(a) for a in changed.values()]
    return out


# -- lifecycle (people) ------------------------------------------------------------------------
def _load(s: Session, alert_id: int) -> Alert:
    alert = s.scalars(select(Alert).where(Alert.id == alert_id).with_for_update()).first()
    if alert is None:
        raise NotFound(f"no alert {alert_id}")
    return alert


def _act(rt: Runtime, alert_id: int, actor: model.Actor, context_id: str | None,
         change: Any, comment_text: str | None = None) -> dict[str, Any]:
    now = rt.clock.now()
    ctx = context_id or new_context()
    try:
        with rt.session() as s:
            alert = _load(s, alert_id)
            events = change(alert, now)
            if comment_text:
                s.add(AlertComment(alert_id=alert.id, at=now, author=actor.name, text=comment_text.strip()))
            s.flush()
            record_events(s, events, ctx)
            out = alert_json(alert)
    except StaleDataError:
        raise Conflict(f"alert {alert_id} was changed by someone else at the same moment; reload and retry") from None
    log.info("alert %s %s by %s (ctx %s)", alert_id, events[0].kind if events else "?", actor.name, ctx)
    publish(rt, {str(out["id"]): out})
    return out


def acknowledge(rt: Runtime, alert_id: int, actor: model.Actor, comment: str | None = None,
                context_id: str | None = None) -> dict[str, Any]:
    return _act(rt, alert_id, actor, context_id, lambda a, now: model.acknowledge(a, actor, now, comment), comment)


def assign(rt: Runtime, alert_id: int, actor: model.Actor, assignee: str, context_id: str | None = None) -> dict[str, Any]:
    return _act(rt, alert_id, actor, context_id, lambda a, now: model.assign(a, actor, now, assignee))


def add_comment(rt: Runtime, alert_id: int, actor: model.Actor, text: str, context_id: str | None = None) -> dict[str, Any]:
    def change(a: Alert, now: datetime) -> list[model.Event]:
        return model.comment(a, actor, now, text)

    return _act(rt, alert_id, actor, context_id, change, text)


def resolve(rt: Runtime, alert_id: int, actor: model.Actor, verdict: str, comment: str | None = None,
            context_id: str | None = None) -> dict[str, Any]:
    return _act(rt, alert_id, actor, context_id, lambda a, now: model.resolve(a, actor, now, verdict, comment), comment)


# -- incidents (people) ------------------------------------------------------------------------
def open_incident(rt: Runtime, alert_ids: Sequence[int], actor: model.Actor, name: str | None = None,
                  context_id: str | None = None) -> dict[str, Any]:
    """An operator groups alerts by hand into a new incident."""
    ids = sorted(set(alert_ids))
    if not ids:
        raise ValidationError("an incident needs at least one alert")
    now, ctx = rt.clock.now(), context_id or new_context()
    with rt.session() as s:
        alerts = s.scalars(select(Alert).where(Alert.id.in_(ids)).with_for_update()).all()
        missing = set(ids) - {a.id for a in alerts}
        if missing:
            raise NotFound(f"no alert {', '.join(map(str, sorted(missing)))}")
        if any(a.state == RESOLVED for a in alerts):
            raise Conflict("resolved alerts cannot join a new incident")
        first = alerts[0]
        inc = Incident(name=_name(name) if name else None, state="open", district=first.district, lat=first.lat,
                       lon=first.lon, opened_at=now, opened_by=actor.name, last_seen=max(utc(a.last_seen) for a in alerts))
        s.add(inc)
        s.flush()
        events: list[model.Event] = []
        for a in alerts:
            a.incident_id = inc.id
            events.append(model.AlertGrouped(a.id, now, actor.name, inc.id))
        s.flush()
        record_events(s, events, ctx)
        record_events(s, [model.IncidentOpened(inc.id, now, actor.name, tuple(ids), inc.name)], ctx, "incident")
        out = incident_json(inc, ids)
        changes = {str(a.id): alert_json(a) for a in alerts}
    publish(rt, changes, incidents={str(out["id"]): out})
    return out


def _name(name: str) -> str:
    name = (name or "").strip()
    if not name or len(name) > 200:
        raise ValidationError("an incident name has 1 to 200 characters")
    return name


def name_incident(rt: Runtime, incident_id: int, actor: model.Actor, name: str, context_id: str | None = None) -> dict[str, Any]:
    now, ctx, clean = rt.clock.now(), context_id or new_context(), _name(name)
    with rt.session() as s:
        inc = s.scalars(select(Incident).where(Incident.id == incident_id).with_for_update()).first()
        if inc is None:
            raise NotFound(f"no incident {incident_id}")
        inc.state = model.incident_move(inc.state, "name", incident_id)
        previous, inc.name = inc.name, clean
        record_events(s, [model.IncidentNamed(inc.id, now, actor.name, clean, previous)], ctx, "incident")
        ids = list(s.scalars(select(Alert.id).where(Alert.incident_id == inc.id)))
        out = incident_json(inc, sorted(ids))
    publish(rt, {}, incidents={str(out["id"]): out})
    return out


def resolve_incident(rt: Runtime, incident_id: int, actor: model.Actor, verdict: str, comment: str | None = None,
                     context_id: str | None = None) -> dict[str, Any]:
    """Resolve an incident and every unresolved alert in it with one verdict, in one transaction."""
    if verdict not in VERDICTS:
        raise ValidationError(f"verdict must be one of {', '.join(VERDICTS)}")
    now, ctx = rt.clock.now(), context_id or new_context()
    with rt.session() as s:
        inc = s.scalars(select(Incident).where(Incident.id == incident_id).with_for_update()).first()
        if inc is None:
            raise NotFound(f"no incident {incident_id}")
        inc.state = model.incident_move(inc.state, "resolve", incident_id)
        inc.resolved_at, inc.resolved_by, inc.verdict = now, actor.name, verdict
        members = s.scalars(select(Alert).where(Alert.incident_id == inc.id).order_by(Alert.id).with_for_update()).all()
        events: list[model.Event] = []
        for a in members:
            if a.state != RESOLVED:
                events += model.resolve(a, actor, now, verdict, comment)
        s.flush()
        record_events(s, events, ctx)
        record_events(s, [model.IncidentResolved(inc.id, now, actor.name, verdict, len(events))], ctx, "incident")
        out = incident_json(inc, [a.id for a in members])
        changes = {str(a.id): alert_json(a) for a in members}
    publish(rt, changes, incidents={str(out["id"]): out})
    return out
