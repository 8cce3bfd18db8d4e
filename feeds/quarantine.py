"""Quarantined values: listed for review, released by an operator with a note.

A release is one SQL transaction (guarded ``UPDATE ... WHERE state = 'held'``, so two operators
releasing the same value cannot both win: the second gets `Conflict`, 409) with its audit entry,
and inside it one Redis MULTI that appends the value to its domain stream with qa ``released``
and, when nothing newer arrived since, puts it into the sensor's latest state. If Redis is down,
the transaction rolls back and the value stays held (503, nothing changed; retry).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
import redis
from sqlalchemy import func, select, update

from feeds import latest, sensors
from feeds.qa import RELEASED
from store import audit
from store.errors import Conflict, NotFound, Unavailable, ValidationError
from store.models.core import QuarantinedObservation as Q
from store.runtime import Runtime

log = logging.getLogger(__name__)
STATES = ("held", "released", "all")
MAX_PAGE = 1000


@dataclass(frozen=True)
class QuarantineFilter:
    state: str = "held"
    sensor_id: str | None = None
    quantity: str | None = None
    since: datetime | None = None  # observation time, inclusive
    until: datetime | None = None  # observation time, exclusive
    limit: int = 100
    offset: int = 0

    def check(self) -> None:
        if self.state not in STATES:
            raise ValidationError(f"state must be one of {', '.join(STATES)}")
        if not 1 <= self.limit <= MAX_PAGE:
            raise ValidationError(f"limit must be between 1 and {MAX_PAGE}")
        if self.offset < 0:
            raise ValidationError("offset must not be negative")


def as_dict(row: Q) -> dict[str, Any]:
    return {"id": row.id, "sensor_id": row.sensor_id, "time": row.time.isoformat(), "quantity": row.quantity,
            "value": row.value, "reason": row.reason, "received_at": row.received_at.isoformat(), "state": row.state,
            "released_by": row.released_by, "released_at": row.released_at.isoformat() if row.released_at else None,
            "release_note": row.release_note}


def list_quarantine(rt: Runtime, f: QuarantineFilter) -> tuple[list[dict[str, Any]], int]:
    """One page of quarantined values, newest observation first, and how many match in all."""
    f.check()
    conds = []
    if f.state != "all":
        conds.append(Q.state == f.state)
    if f.sensor_id:
        conds.append(Q.sensor_id == f.sensor_id)
    if f.quantity:
        conds.append(Q.quantity == f.quantity)
    if f.since:
        conds.append(Q.time >= f.since)
    if f.until:
        conds.append(Q.time < f.until)
    with rt.session() as s:
        total = s.scalar(select(func.count()).select_from(Q).where(*conds)) or 0
        rows = s.scalars(select(Q).where(*conds).order_by(Q.time.desc(), Q.id.desc()).limit(f.limit).offset(f.offset)).all()
        return [as_dict(r) for r in rows], int(total)


def release(rt: Runtime, quarantine_id: int, *, actor: str, note: str, context_id: str | None = None) -> dict[str, Any]:
    """Let a held value through: audited, appended to its stream with qa "released"."""
    note = (note or "").strip()
    if not note:
        raise ValidationError("a release needs a note saying why the value is good")
    now = rt.clock.now()
    with rt.session() as s:
        row = s.get(Q, quarantine_id)
        if row is None:
            raise NotFound(f"no quarantined value {quarantine_id}")
        done = s.execute(update(Q).where(Q.id == quarantine_id, Q.state == "held")
                         .values(state="released", released_by=actor, released_at=now, release_note=note))
        if done.rowcount != 1:  # type: ignore[attr-defined]
            s.refresh(row)
            raise Conflict(f"quarantined value {quarantine_id} was already released by {row.released_by} "
                           f"at {row.released_at.isoformat() if row.released_at else '?'}")
        s.refresh(row)
        spec = sensors.get(rt, row.sensor_id)
        audit.append(s, at=now, actor=actor, action="quarantine.release", subject_type="quarantine",
                     subject_id=quarantine_id, context_id=context_id,
                     payload={"sensor_id": row.sensor_id, "quantity": row.quantity, "value": row.value,
                              "time": row.time.isoformat(), "reason": row.reason, "note": note})
        state = _publish(rt, spec, row)
        out = as_dict(row)
    if state is not None:
        rt.coalescer.add(spec.domain, {spec.id: state})
    log.info("quarantined value %d (%s %s=%s) released by %s", quarantine_id, row.sensor_id, row.quantity, row.value, actor)
    return out


def _publish(rt: Runtime, spec: sensors.SensorSpec, row: Q) -> dict[str, Any] | None:
    """Stream append and latest-state update of a released value; the new latest state if changed."""
    t_iso = row.time.isoformat()
    item = {"sensor_id": spec.id, "kind": spec.kind, "district": spec.district, "time": t_iso,
            "values": {row.quantity: row.value}, "qa": {row.quantity: RELEASED}}
    # The latest state takes the value only if nothing newer of that quantity arrived since
    # (`feeds.latest`: per quantity, atomic against ingest writing the same sensor).
    cand = {"t": t_iso, "v": {row.quantity: row.value}, "qa": {row.quantity: RELEASED}, "d": spec.district}
    try:
        pipe = rt.redis.client.pipeline(transaction=True)
        pipe.xadd(rt.redis.keys.stream(spec.domain), {"batch": orjson.dumps([item])}, maxlen=1_000_000, approximate=True)
        latest.queue_merge(pipe, rt.redis.keys.latest(spec.domain), {}, {spec.id: cand})
        states: dict[str, dict[str, Any]] = {spec.id: cand}
        latest.apply_reply(pipe.execute()[1], states)
        state = states.get(spec.id)
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        log.error("release of quarantined value %d: Redis unavailable: %s", row.id, exc)
        raise Unavailable("Redis is unavailable; the value stays held — retry the release") from exc
    return state
