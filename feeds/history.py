"""Read models of history, from the SQL ``rollups`` the rollup worker writes.

What pages and reports ask of the past: the series of one sensor, one district or the whole city
for a quantity over a window, and hourly means ("the usual speed at this hour", CAI averaging).
Rollups hold validated values only: ok, flagged and released; never quarantined ones. Each point
says how many of its values were flagged, so a chart can mark a bucket to be checked.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from feeds.hourly import HourlyMeans
from feeds.hourly import hourly_means as _hourly_means
from store.clock import utc
from store.errors import ValidationError
from store.models.core import Rollup
from store.runtime import Runtime

ENTITY_TYPES = ("sensor", "district", "city")
MAX_WINDOW = timedelta(days=400)


@dataclass(frozen=True)
class Point:
    """One bucket of history."""

    start: datetime  # aware UTC
    mean: float
    minimum: float
    maximum: float
    n: int
    flagged: int


def _check(start: datetime, end: datetime) -> None:
    if start.tzinfo is None or end.tzinfo is None:
        raise ValidationError("history windows need aware datetimes (UTC inside)")
    if end <= start:
        raise ValidationError("a history window must end after it starts")
    if end - start > MAX_WINDOW:
        raise ValidationError(f"a history window is at most {MAX_WINDOW.days} days")


def series(rt: Runtime, entity_type: str, entity_id: str, quantity: str, start: datetime, end: datetime) -> list[Point]:
    """Buckets of one entity and quantity starting in [start, end), oldest first."""
    if entity_type not in ENTITY_TYPES:
        raise ValidationError(f"entity type must be one of {', '.join(ENTITY_TYPES)}")
    _check(start, end)
    with rt.session() as s:
        rows = s.execute(select(Rollup.bucket_start, Rollup.n, Rollup.total, Rollup.minimum, Rollup.maximum, Rollup.flagged)
                         .where(Rollup.entity_type == entity_type, Rollup.entity_id == entity_id, Rollup.quantity == quantity,
                                Rollup.bucket_start >= start, Rollup.bucket_start < end, Rollup.n > 0)
                         .order_by(Rollup.bucket_start)).all()
    return [Point(utc(b), total / n, lo, hi, n, fl) for b, n, total, lo, hi, fl in rows]


def sensor_series(rt: Runtime, sensor_id: str, quantity: str, start: datetime, end: datetime) -> list[Point]:
    return series(rt, "sensor", sensor_id, quantity, start, end)


def district_series(rt: Runtime, district: str, quantity: str, start: datetime, end: datetime) -> list[Point]:
    return series(rt, "district", district, quantity, start, end)


def city_series(rt: Runtime, quantity: str, start: datetime, end: datetime) -> list[Point]:
    """City-wide buckets (entity id: the settings' city)."""
    return series(rt, "city", rt.settings.city, quantity, start, end)


def hourly_means(rt: Runtime, entity_type: str, entity_ids: list[str] | None, quantities: list[str],
                 start: datetime, end: datetime) -> HourlyMeans:
    """entity id -> quantity -> hour start (UTC) -> mean, weighted by values (feeds.hourly)."""
    _check(start, end)
    with rt.session() as s:
        return _hourly_means(s, entity_type, entity_ids, quantities, start, end)


def usual_by_hour(rt: Runtime, entity_type: str, entity_ids: list[str] | None, quantity: str, *, now: datetime | None = None,
                  days: int = 28) -> dict[str, dict[int, float]]:
    """entity id -> local hour of day (0-23) -> mean of that hour over the last `days` days.

    "Usual" is the plain mean of the hourly means (each day counts once, however many values it
    had). Hours are local (`settings.timezone`), since rush hour is a local thing.
    """
    now = now or rt.clock.now()
    tz = ZoneInfo(rt.settings.timezone)
    means = hourly_means(rt, entity_type, entity_ids, [quantity], now - timedelta(days=days), now)
    out: dict[str, dict[int, float]] = {}
    for entity_id, per_q in means.items():
        sums: dict[int, list[float]] = defaultdict(list)
        for hour, mean in per_q.get(quantity, {}).items():
            sums[hour.astimezone(tz).hour].append(mean)
        out[entity_id] = {h: sum(v) / len(v) for h, v in sorted(sums.items())}
    return out
