"""Dedup under concurrency: two workers folding the same event at once open one alert, on the
real PostgreSQL (and SQLite) — the unique fold key decides, not timing."""
from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from alerts import queries, service
from alerts.rules import Candidate, Place
from alerts.worker import AlertWorker
from alerts.rules import default_rules
from store.clock import FakeClock
from store.runtime import Runtime
from store.settings import Settings


def event(rt: Runtime, camera: str = "cam-7") -> Candidate:
    return Candidate("crowd_density", "major", "cctv", camera, camera, rt.clock.now(), Place("Jung-gu", 37.56, 126.98),
                     {"confidence": 0.9})


def race(rt: Runtime, n_threads: int, per_thread: int, make: object) -> list[BaseException]:
    barrier = threading.Barrier(n_threads)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            barrier.wait()
            for _ in range(per_thread):
                service.raise_candidates(rt, [make(rt)])  # type: ignore[operator]
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return errors


def test_two_writers_racing_on_one_event_open_one_alert_with_every_repeat_counted(any_db_rt):
    errors = race(any_db_rt, 2, 15, event)

    assert errors == []
    [a] = queries.list_alerts(any_db_rt)
    assert a["count"] == 30


@pytest.fixture
def pg_redis_rt(pg_settings: Settings, redis_settings: Settings, clock: FakeClock) -> Iterator[Runtime]:
    s = redis_settings.model_copy(update={"database_url": pg_settings.database_url,
                                          "database_schema": pg_settings.database_schema})
    runtime = Runtime.start(s, clock=clock)
    yield runtime
    runtime.close()


@pytest.mark.postgres
@pytest.mark.redis
def test_two_alert_workers_on_real_postgres_and_redis_open_one_alert(pg_redis_rt):
    import json

    rt = pg_redis_rt
    workers = [AlertWorker(rt, default_rules(), f"w{i}") for i in range(2)]
    for i in range(40):
        rt.redis.append("cctv", {"event": json.dumps({
            "camera_id": "cam-9", "category": "fire_smoke", "confidence": 0.95, "time": rt.clock.now().isoformat(),
            "district": "Mapo-gu", "lat": 37.55, "lon": 126.91})})
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def run(w: AlertWorker) -> None:
        try:
            barrier.wait()
            for _ in range(40):
                w.handle("cctv", rt.redis.read_group("cctv", "alerts", w.consumer, count=1, block_ms=None))
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(w,)) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)

    assert errors == []
    [a] = queries.list_alerts(rt)
    assert a["count"] == 40 and a["severity"] == "critical"
    assert rt.redis.pending_count("cctv", "alerts") == 0
