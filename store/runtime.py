"""One object holding a process's connections: settings, SQL engine and sessions, Redis, clock.

Built once at the entry point and passed in (`create_app(rt)`, `run_worker(rt)`), so that one
process (`cityops run`) can hand the same in-process Redis to its web, workers and simulator,
and tests can build as many independent ones as they like.
"""
from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from store.clock import Clock, SystemClock
from store.db import make_engine, make_sessionmaker, migrate, session_scope
from store.redis_store import DeltaCoalescer, RedisStore
from store.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    redis: RedisStore
    clock: Clock = field(default_factory=SystemClock)
    # Per-process shared state: one coalescer every producer of live deltas adds to (the delta
    # publisher service flushes it), and caches that belong to one process (ingest's sensor
    # registry and trailing statistics), keyed by their owner's module name.
    coalescer: DeltaCoalescer = field(init=False)
    caches: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.coalescer = DeltaCoalescer(self.redis, interval_s=self.settings.delta_interval_s)

    @classmethod
    def start(cls, settings: Settings, *, clock: Clock | None = None, run_migrations: bool = True,
              redis: RedisStore | None = None) -> Runtime:
        engine = make_engine(settings)
        if run_migrations:
            migrate(engine)
        return cls(settings=settings, engine=engine, sessions=make_sessionmaker(engine),
                   redis=redis or RedisStore.from_settings(settings), clock=clock or SystemClock())

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A transaction: commits on success, rolls back on error, 503 if the database is gone."""
        with session_scope(self.sessions) as s:
            yield s

    def ready(self) -> dict[str, str]:
        """What `/readyz` reports: each dependency "ok" or the reason it is not."""
        status: dict[str, str] = {}
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            status["database"] = "ok"
        except Exception as exc:  # noqa: BLE001 - any failure means not ready
            status["database"] = f"down: {type(exc).__name__}"
        try:
            self.redis.client.ping()
            status["redis"] = "ok"
        except Exception as exc:  # noqa: BLE001
            status["redis"] = f"down: {type(exc).__name__}"
        return status

    def close(self) -> None:
        self.engine.dispose()
        try:
            self.redis.client.close()
        except Exception:  # noqa: BLE001 - closing a dead connection
            pass
