"""Street-lighting schedules (and signal-plan reverts) on APScheduler with a persistent
SQLAlchemy job store, in the same database as everything else, so they survive a restart.

A dimming profile becomes one daily cron job per (district, step), in the city's time zone; an
override sets the level at once and leaves a one-off job that ends it at its end time, putting
the district back to its profile's level (100 % when it has none). Job ids are derived from the
command, so applying a command twice (a retried dispatch) replaces its jobs instead of adding
more. Jobs call module-level functions with plain arguments (the store needs them picklable) and
reach the database through an engine built from the URL they carry.
"""
from __future__ import annotations

import logging
import threading
from datetime import datetime, time
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from sqlalchemy import Engine, create_engine, select
from sqlalchemy.orm import Session

from store import audit
from store.clock import SystemClock
from store.models.actuation import CommandRow, LightingLevelRow
from store.runtime import Runtime

log = logging.getLogger(__name__)
JOB_TABLE = "scheduler_jobs"
DEFAULT_LEVEL = 100


class _StoreWriter(BaseScheduler):
    """A scheduler that never runs jobs: it only writes them to the store, for dispatchers."""

    def wakeup(self) -> None:
        pass

    def shutdown(self, wait: bool = True) -> None:
        super().shutdown(wait=False)


class _SharedEngineJobStore(SQLAlchemyJobStore):
    """The job store on the runtime's engine; stopping a scheduler must not dispose that engine
    (the stock store calls ``engine.dispose()`` on shutdown, stranding the pool's connections)."""

    def shutdown(self) -> None:
        pass


def make_scheduler(rt: Runtime, *, paused: bool = False) -> BaseScheduler:
    """The running scheduler, or (paused=True) one that only writes jobs to the shared store.
    The job table itself is made by migration 0003."""
    cls = _StoreWriter if paused else BackgroundScheduler
    sched = cls(jobstores={"default": _SharedEngineJobStore(engine=rt.engine, tablename=JOB_TABLE)},
                                timezone=ZoneInfo(rt.settings.timezone),
                                job_defaults={"misfire_grace_time": 3600, "coalesce": True})
    sched.start(paused=paused)
    return sched


@cache
def _engine(url: str, schema: str | None) -> Engine:
    args = {"options": f"-csearch_path={schema}"} if schema else {}
    return create_engine(url, connect_args=args)


def _db(rt: Runtime) -> tuple[str, str | None]:
    return rt.settings.sqlalchemy_url, rt.settings.database_schema


def set_level(url: str, schema: str | None, district: str, level: int, command_id: int | None, source: str) -> None:
    """Job target: the lights of `district` go to `level` percent (recorded, audited)."""
    now = SystemClock().now()
    with Session(_engine(url, schema)) as s, s.begin():
        _write_level(s, district, level, command_id, source, now)


def _write_level(s: Session, district: str, level: int, command_id: int | None, source: str, now: datetime) -> None:
    row = s.get(LightingLevelRow, district)
    if row is None:
        s.add(LightingLevelRow(district=district, level_pct=level, command_id=command_id, source=source, since=now))
    else:
        row.level_pct, row.command_id, row.source, row.since = level, command_id, source, now
    audit.append(s, at=now, actor="scheduler", action="lighting.level_set", subject_type="district", subject_id=district,
                 payload={"level_pct": level, "command_id": command_id, "source": source})


def profile_level(profile: list[dict[str, Any]], local: time) -> int:
    """The level a profile gives at a local time of day (the last step at or before it, wrapping)."""
    steps = sorted(profile, key=lambda s: s["at"])
    level = steps[-1]["level_pct"]
    for step in steps:
        if time.fromisoformat(step["at"]) <= local:
            level = step["level_pct"]
    return level


def end_override(url: str, schema: str | None, district: str, command_id: int, tz: str) -> None:
    """Job target: an override is over; back to the district's newest executed profile."""
    now = SystemClock().now()
    with Session(_engine(url, schema)) as s, s.begin():
        row = s.get(LightingLevelRow, district)
        if row is not None and row.command_id != command_id:
            return  # a newer command took over since
        level = DEFAULT_LEVEL
        for cmd in s.scalars(select(CommandRow).where(CommandRow.type == "lighting_schedule", CommandRow.state == "executed")
                             .order_by(CommandRow.id.desc())):
            if district in cmd.params["districts"] and cmd.params.get("profile"):
                level = profile_level(cmd.params["profile"], now.astimezone(ZoneInfo(tz)).time())
                break
        _write_level(s, district, level, None, "profile", now)


def signal_revert(url: str, schema: str | None, command_id: int, target: str) -> None:
    """Job target: a temporary signal plan's time is up; the controller goes back to its old plan."""
    now = SystemClock().now()
    with Session(_engine(url, schema)) as s, s.begin():
        audit.append(s, at=now, actor="scheduler", action="signal.reverted", subject_type="command", subject_id=command_id,
                     payload={"target": target})


def apply(rt: Runtime, command_id: int, params: dict[str, Any], scheduler: BaseScheduler | None = None) -> dict[str, Any]:
    """Carry out a lighting_schedule command: jobs in the persistent store (idempotent by id)."""
    own = scheduler is None
    sched = scheduler or make_scheduler(rt, paused=True)
    url, schema = _db(rt)
    jobs = []
    try:
        for d in params["districts"]:
            if params.get("override"):
                ov = params["override"]
                with rt.session() as s:
                    _write_level(s, d, ov["level_pct"], command_id, "override", rt.clock.now())
                job = sched.add_job(end_override, DateTrigger(datetime.fromisoformat(ov["end"])), id=f"light-{command_id}-{d}-end",
                                    args=[url, schema, d, command_id, rt.settings.timezone], replace_existing=True)
                jobs.append(job.id)
            else:
                for i, step in enumerate(params["profile"]):
                    at = time.fromisoformat(step["at"])
                    job = sched.add_job(set_level, CronTrigger(hour=at.hour, minute=at.minute, timezone=ZoneInfo(rt.settings.timezone)),
                                        id=f"light-{command_id}-{d}-{i}", replace_existing=True,
                                        args=[url, schema, d, step["level_pct"], command_id, "profile"])
                    jobs.append(job.id)
    finally:
        if own:
            sched.shutdown(wait=False)
    return {"jobs": jobs, "districts": params["districts"], "mode": "override" if params.get("override") else "profile"}


def schedule_signal_revert(rt: Runtime, command_id: int, params: dict[str, Any]) -> dict[str, Any]:
    target = params.get("intersection") or params.get("corridor") or "?"
    out: dict[str, Any] = {"plan_applied": True, "target": target}
    if params.get("revert", True):
        from datetime import timedelta

        at = rt.clock.now() + timedelta(minutes=params["duration_minutes"])
        sched = make_scheduler(rt, paused=True)
        try:
            sched.add_job(signal_revert, DateTrigger(at), id=f"signal-{command_id}-revert", replace_existing=True,
                          args=[*_db(rt), command_id, target])
        finally:
            sched.shutdown(wait=False)
        out["revert_at"] = at.isoformat()
    return out


def run_scheduler(rt: Runtime, stop: threading.Event) -> None:
    """Service ``lighting-scheduler``: runs the stored jobs; re-reads the store every few seconds,
    since dispatchers in other processes add jobs to it."""
    sched = make_scheduler(rt)
    log.info("lighting scheduler started with %d stored job(s)", len(sched.get_jobs()))
    try:
        while not stop.is_set():
            stop.wait(5)
            sched.wakeup()
    finally:
        sched.shutdown(wait=False)
