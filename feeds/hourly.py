"""Hourly means of validated history, read from the SQL ``rollups`` table.

The traffic and air read models need the same thing from history: one mean per entity, quantity
and clock hour, over a window (12 h for AirKorea's PM average, 8 h for US ozone, four weeks for
"the usual speed at this hour"). Grouping by hour happens in SQL, so a four-week window is a few
thousand rows, not a few hundred thousand five-minute buckets.

Rollup buckets hold accepted values: ok, released and flagged (quarantined ones never arrive);
a bucket counts its flagged values in ``flagged`` but keeps only one sum, so a flagged value
cannot be subtracted again. A bucket holding any flagged value is therefore left out whole: the
hour's mean comes from its other buckets, and a flagged spike never becomes "history" or moves
an index (issue 3: CAI from validated data only).
"""
from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from sqlalchemy import ColumnElement, and_, func, select
from sqlalchemy.orm import Session

from store.models import Rollup

HourlyMeans = dict[str, dict[str, dict[datetime, float]]]  # entity id -> quantity -> hour start (UTC) -> mean


def _hour_expr(dialect: str):  # type: ignore[no-untyped-def]
    if dialect == "postgresql":
        return func.date_trunc("hour", Rollup.bucket_start)
    return func.strftime("%Y-%m-%d %H:00:00", Rollup.bucket_start)


def _as_hour(value: object) -> datetime:
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return datetime.fromisoformat(str(value)).replace(tzinfo=UTC)


def usable_buckets() -> ColumnElement[bool]:
    """The one rule for which rollup buckets count as history: non-empty and without a flagged
    value (see the module doc). Every reader of rollups (hourly means, the wall's trend) applies
    this, so a bucket can never count in one figure and not in another."""
    return and_(Rollup.n > 0, Rollup.flagged == 0)


def hourly_means(session: Session, entity_type: str, entity_ids: Iterable[str] | None, quantities: Iterable[str],
                 since: datetime, until: datetime) -> HourlyMeans:
    """Means per clock hour of the buckets starting in [since, until), by entity and quantity.

    `entity_ids` None reads every entity of the type (the whole network). Buckets with a flagged
    value are skipped: they mean "a sensor to check", not "the air/traffic was so".
    """
    dialect = session.get_bind().dialect.name
    hour = _hour_expr(dialect).label("hour")
    stmt = (select(Rollup.entity_id, Rollup.quantity, hour, func.sum(Rollup.total), func.sum(Rollup.n))
            .where(Rollup.entity_type == entity_type, Rollup.quantity.in_(list(quantities)),
                   Rollup.bucket_start >= since, Rollup.bucket_start < until, usable_buckets())
            .group_by(Rollup.entity_id, Rollup.quantity, hour))
    if entity_ids is not None:
        ids = list(entity_ids)
        if not ids:
            return {}
        stmt = stmt.where(Rollup.entity_id.in_(ids))
    out: HourlyMeans = {}
    for entity_id, quantity, hour_value, total, n in session.execute(stmt):
        if n:
            out.setdefault(entity_id, {}).setdefault(quantity, {})[_as_hour(hour_value)] = float(total) / float(n)
    return out
