"""Read what a report needs from the store, as plain DataFrames (the only SQL of the package).

Heavy data is aggregated in SQL: at Seoul scale an 8-hour shift holds about half a million
five-minute speed buckets, so the network speed and congestion come back as one row per bucket
start, and air quality as one row per district and pollutant. Alerts (~1,000 a shift) and
commands (~5,000) are read row by row.

The alerts and actuation domains are optional: when their tables are not installed, their
frames are None and the report says "not available" instead of showing zeros.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import pandas as pd
from sqlalchemy import case, func, or_, select
from sqlalchemy.orm import Session

from feeds.hourly import usable_buckets
from reports import handover
from reports.shifts import Period
from store.models.core import QaCount, Rollup, Sensor

SPEED = "speed_kmh"
AIR_POLLUTANTS = ("pm25", "pm10", "o3", "no2", "co", "so2")


def _optional(name: str) -> ModuleType | None:
    try:
        return importlib.import_module(f"store.models.{name}")
    except ModuleNotFoundError as exc:
        if exc.name != f"store.models.{name}":
            raise
        return None


def _frame(rows: Any, columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame([tuple(r) for r in rows], columns=columns)


@dataclass
class Sources:
    """Everything one report reads, fetched in one transaction."""

    period: Period
    speed: pd.DataFrame  # entity_type, bucket_start, total, n, buckets, slow_buckets
    air: pd.DataFrame  # district, quantity, total, n
    qa: pd.DataFrame  # outcome, n
    alerts: pd.DataFrame | None = None
    alert_events: pd.DataFrame | None = None
    comments: pd.DataFrame | None = None
    incidents: pd.DataFrame | None = None
    commands: pd.DataFrame | None = None
    approvals: pd.DataFrame | None = None
    dispatches: pd.DataFrame | None = None
    notes: pd.DataFrame = field(default_factory=pd.DataFrame)
    signoffs: pd.DataFrame = field(default_factory=pd.DataFrame)


def _valid_bucket() -> Any:
    """Validated buckets only, by the one rule every reader of rollups applies (feeds.hourly)."""
    return usable_buckets()


def load_speed(session: Session, period: Period, slow_kmh: float) -> pd.DataFrame:
    """Per entity level and bucket: the speed sum and count, and how many entities were slow."""
    slow = func.sum(case((Rollup.total < slow_kmh * Rollup.n, 1), else_=0))
    rows = session.execute(
        select(Rollup.entity_type, Rollup.bucket_start, func.sum(Rollup.total), func.sum(Rollup.n), func.count(), slow)
        .where(Rollup.quantity == SPEED, Rollup.bucket_start >= period.start, Rollup.bucket_start < period.end,
               _valid_bucket())
        .group_by(Rollup.entity_type, Rollup.bucket_start))
    df = _frame(rows, ["entity_type", "bucket_start", "total", "n", "buckets", "slow_buckets"])
    df["bucket_start"] = pd.to_datetime(df["bucket_start"], utc=True)
    return df.astype({"total": "float64", "n": "int64", "buckets": "int64", "slow_buckets": "int64"})


def load_air(session: Session, period: Period) -> pd.DataFrame:
    """Per district and pollutant: sum and count over the period (district rollups, else sensors)."""
    where = (Rollup.quantity.in_(AIR_POLLUTANTS), Rollup.bucket_start >= period.start,
             Rollup.bucket_start < period.end, _valid_bucket())
    rows = session.execute(select(Rollup.entity_id, Rollup.quantity, func.sum(Rollup.total), func.sum(Rollup.n))
                           .where(Rollup.entity_type == "district", *where)
                           .group_by(Rollup.entity_id, Rollup.quantity)).all()
    if not rows:
        rows = session.execute(select(Sensor.district, Rollup.quantity, func.sum(Rollup.total), func.sum(Rollup.n))
                               .join(Sensor, Sensor.id == Rollup.entity_id)
                               .where(Rollup.entity_type == "sensor", Sensor.district.is_not(None), *where)
                               .group_by(Sensor.district, Rollup.quantity)).all()
    return _frame(rows, ["district", "quantity", "total", "n"]).astype({"total": "float64", "n": "int64"})


def load_qa(session: Session, period: Period) -> pd.DataFrame:
    rows = session.execute(select(QaCount.outcome, func.sum(QaCount.n))
                           .where(QaCount.bucket_start >= period.start, QaCount.bucket_start < period.end)
                           .group_by(QaCount.outcome))
    return _frame(rows, ["outcome", "n"]).astype({"n": "int64"})


ALERT_COLUMNS = ["id", "category", "severity", "state", "district", "place", "count", "opened_at",
                 "acknowledged_at", "acknowledged_by", "resolved_at", "resolved_by", "verdict", "incident_id"]


def load_alerts(session: Session, period: Period, *, incident_id: int | None = None) -> dict[str, pd.DataFrame] | None:
    """Alerts that touch the period (opened, acknowledged or resolved in it, or still open at its
    end), their history, comments and incidents; None when the alerts domain is not installed."""
    m = _optional("alerts")
    if m is None:
        return None
    A, E, C, I = m.Alert, m.AlertEvent, m.AlertComment, m.Incident
    s, e = period.start, period.end
    cols = [getattr(A, c) for c in ALERT_COLUMNS]
    if incident_id is not None:
        cond = A.incident_id == incident_id
    else:
        cond = or_((A.opened_at >= s) & (A.opened_at < e),
                   (A.acknowledged_at >= s) & (A.acknowledged_at < e),
                   (A.resolved_at >= s) & (A.resolved_at < e),
                   (A.opened_at < e) & (A.resolved_at.is_(None) | (A.resolved_at >= e)))
    alerts = _frame(session.execute(select(*cols).where(cond).order_by(A.opened_at, A.id)), ALERT_COLUMNS)
    inc_cols = ["id", "name", "state", "family", "district", "opened_at", "opened_by", "resolved_at", "resolved_by", "verdict"]
    inc_cond = (I.id == incident_id) if incident_id is not None else or_(
        (I.opened_at >= s) & (I.opened_at < e), (I.resolved_at >= s) & (I.resolved_at < e),
        (I.opened_at < e) & (I.resolved_at.is_(None) | (I.resolved_at >= e)),
        I.id.in_(select(A.incident_id).where(cond, A.incident_id.is_not(None))))
    incidents = _frame(session.execute(select(*[getattr(I, c) for c in inc_cols]).where(inc_cond).order_by(I.opened_at, I.id)),
                       inc_cols)
    # History and comments of every alert of the incidents shown (their timelines), plus the period's.
    inc_ids = [int(x) for x in incidents["id"]]
    alert_ids = select(A.id).where(or_(cond, A.incident_id.in_(inc_ids)) if inc_ids else cond)
    events = _frame(session.execute(select(E.alert_id, E.at, E.actor, E.kind, E.payload).where(E.alert_id.in_(alert_ids))
                                    .order_by(E.at, E.id)), ["alert_id", "at", "actor", "kind", "payload"])
    comments = _frame(session.execute(select(C.alert_id, C.at, C.author, C.text).where(C.alert_id.in_(alert_ids))
                                      .order_by(C.at, C.id)), ["alert_id", "at", "author", "text"])
    if inc_ids:
        extra = _frame(session.execute(select(*cols).where(A.incident_id.in_(inc_ids), ~cond).order_by(A.opened_at)), ALERT_COLUMNS)
        extra["in_period"] = False
    else:
        extra = pd.DataFrame(columns=ALERT_COLUMNS + ["in_period"])
    alerts["in_period"] = True
    both = pd.concat([alerts, extra], ignore_index=True) if len(extra) else alerts
    return {"alerts": _times(both, ["opened_at", "acknowledged_at", "resolved_at"]),
            "alert_events": _times(events, ["at"]), "comments": _times(comments, ["at"]),
            "incidents": _times(incidents, ["opened_at", "resolved_at"])}


FINAL_COMMAND_STATES = ("executed", "failed", "rejected", "expired", "cancelled")  # actuation.model.FINAL
COMMAND_COLUMNS = ["id", "type", "state", "proposer", "proposer_role", "approvals_needed", "created_at",
                   "updated_at", "reason", "params", "result", "alert_id", "incident_id"]


def load_commands(session: Session, period: Period, *, ids: list[int] | None = None,
                  linked_alerts: list[int] | None = None, linked_incidents: list[int] | None = None) -> dict[str, pd.DataFrame] | None:
    """Commands proposed in the period or still open at its end, with approvals and dispatch
    attempts; None when the actuation domain is not installed.

    With `linked_alerts` / `linked_incidents`, only the commands caused by one of them, and those
    whose cause columns name them whenever they were proposed (an alert's first command can
    precede the period). Each command's ``alert_id`` / ``incident_id`` is its cause: the columns
    (migration 0006), else the ids in its params (commands written before the columns existed)."""
    m = _optional("actuation")
    if m is None:
        return None
    R, P, D = m.CommandRow, m.ApprovalRow, m.DispatchResultRow
    s, e = period.start, period.end
    linked = linked_alerts is not None or linked_incidents is not None
    if ids is not None:
        cond = R.id.in_(ids)
    else:
        cond = or_((R.created_at >= s) & (R.created_at < e),
                   (R.created_at < e) & ((R.updated_at >= s) | R.state.not_in(FINAL_COMMAND_STATES)))
        if linked:
            cond = or_(cond, R.alert_id.in_(linked_alerts or []), R.incident_id.in_(linked_incidents or []))
    commands = _frame(session.execute(select(*[getattr(R, c) for c in COMMAND_COLUMNS]).where(cond).order_by(R.created_at, R.id)),
                      COMMAND_COLUMNS)
    causes = [cause_of(a, i, p) for a, i, p in zip(commands["alert_id"], commands["incident_id"], commands["params"])]
    commands["alert_id"] = pd.Series([c[0] for c in causes], index=commands.index, dtype=object)
    commands["incident_id"] = pd.Series([c[1] for c in causes], index=commands.index, dtype=object)
    if linked:
        keep = [linked_to(a, i, linked_alerts or [], linked_incidents or []) for a, i in causes]
        commands = commands[pd.Series(keep, index=commands.index, dtype=bool)]
    cids = [int(x) for x in commands["id"]]
    approvals = _frame(session.execute(select(P.command_id, P.user_id, P.role, P.at).where(P.command_id.in_(cids))
                                       .order_by(P.at, P.id)), ["command_id", "user_id", "role", "at"])
    dispatches = _frame(session.execute(select(D.command_id, D.attempt, D.worker, D.started_at, D.finished_at, D.ok,
                                               D.latency_ms, D.error, D.detail).where(D.command_id.in_(cids))
                                        .order_by(D.started_at, D.id)),
                        ["command_id", "attempt", "worker", "started_at", "finished_at", "ok", "latency_ms", "error", "detail"])
    return {"commands": _times(commands.reset_index(drop=True), ["created_at", "updated_at"]),
            "approvals": _times(approvals, ["at"]), "dispatches": _times(dispatches, ["started_at", "finished_at"])}


def cause_of(alert_id: Any, incident_id: Any, params: Any) -> tuple[int | None, int | None]:
    """A command's cause: its own columns, else (rows older than the columns) its params' ids."""
    p = params if isinstance(params, dict) else {}
    a, i = _int(alert_id), _int(incident_id)
    return (a if a is not None else _int(p.get("alert_id")), i if i is not None else _int(p.get("incident_id")))


def linked_to(alert_id: int | None, incident_id: int | None, alert_ids: list[int], incident_ids: list[int]) -> bool:
    """Whether a command's cause (`cause_of`) is one of the alerts or incidents."""
    return (alert_id is not None and alert_id in alert_ids) or (incident_id is not None and incident_id in incident_ids)


def _int(v: Any) -> int | None:
    if v is None or (isinstance(v, float) and v != v):  # None, or NaN from a nullable column
        return None
    try:
        return int(v)
    except (TypeError, ValueError):
        return None


def _times(df: pd.DataFrame, cols: list[str]) -> pd.DataFrame:
    for c in cols:
        df[c] = pd.to_datetime(df[c], utc=True)
    return df


def load_handover(session: Session, period: Period) -> tuple[pd.DataFrame, pd.DataFrame]:
    notes = [(n.shift_id, n.created_at, n.author, n.text) for n in handover.notes(session, period)]
    signs = [(x.shift_id, x.role, x.username, x.signed_at, x.comment) for x in handover.signoffs(session, period)]
    return (_times(_frame(notes, ["shift_id", "at", "author", "text"]), ["at"]),
            _times(_frame(signs, ["shift_id", "role", "username", "signed_at", "comment"]), ["signed_at"]))


def load(session: Session, period: Period, *, slow_kmh: float) -> Sources:
    """Everything a shift or range report needs."""
    src = Sources(period, load_speed(session, period, slow_kmh), load_air(session, period), load_qa(session, period))
    alerts = load_alerts(session, period)
    if alerts is not None:
        src.alerts, src.alert_events, src.comments, src.incidents = (alerts["alerts"], alerts["alert_events"],
                                                                     alerts["comments"], alerts["incidents"])
    commands = load_commands(session, period)
    if commands is not None:
        src.commands, src.approvals, src.dispatches = commands["commands"], commands["approvals"], commands["dispatches"]
    src.notes, src.signoffs = load_handover(session, period)
    return src
