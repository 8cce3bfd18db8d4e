"""A real worker process killed with SIGKILL in the middle of its work loses and doubles nothing."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from feeds import worker
from feeds.ingest import ingest, register_sensor
from store.clock import FakeClock
from store.models.feeds import RollupEntry
from store.runtime import Runtime
from store.settings import Settings
from test_rollup_worker import DISTRICT, expected_rollups, make_observations, stored_rollups

ROOT = Path(__file__).resolve().parents[3]
CHILD = """
import sys, threading
from store.runtime import Runtime
from store.settings import Settings
from feeds import worker
rt = Runtime.start(Settings.model_validate_json(sys.argv[1]), run_migrations=False)
worker.READ_COUNT = 1  # one entry per transaction: many commits and acks to be killed between
worker.run_worker(rt, threading.Event(), consumer="doomed", block_ms=100)
"""


@pytest.fixture(params=[pytest.param("sqlite", marks=pytest.mark.redis),
                        pytest.param("postgres", marks=[pytest.mark.redis, pytest.mark.postgres])])
def shared_rt(request: pytest.FixtureRequest, tmp_path: Path, clock: FakeClock) -> Iterator[Runtime]:
    """Real Redis (a second process must see it) with a SQLite file or PostgreSQL."""
    s: Settings = request.getfixturevalue("redis_settings")
    if request.param == "postgres":
        pg: Settings = request.getfixturevalue("pg_settings")
        s = s.model_copy(update={"database_url": pg.database_url, "database_schema": pg.database_schema})
    rt = Runtime.start(s, clock=clock)
    for sid, district in DISTRICT.items():
        quantities = {"speed_kmh": "km/h"} if sid.startswith("det") else {"pm25": "ug/m3", "pm10": "ug/m3"}
        register_sensor(rt, sid, kind="detector" if sid.startswith("det") else "air", lat=37.55, lon=126.98,
                        district=district, quantities=quantities)
    yield rt
    rt.close()


def applied(rt: Runtime) -> int:
    with rt.session() as s:
        return int(s.scalar(select(func.count()).select_from(RollupEntry)) or 0)


def test_worker_process_killed_mid_batch_loses_and_doubles_nothing(shared_rt: Runtime) -> None:
    rt = shared_rt
    worker.ensure_groups(rt)
    observations = make_observations(rt.clock.now() - timedelta(hours=3), n=300, seed=21)
    for i in range(0, len(observations), 10):  # ~90 entries per air stream
        ingest(rt, observations[i:i + 10], source="test")
    entries = sum(rt.redis.client.xlen(rt.redis.keys.stream(d)) for d in worker.DOMAINS)
    child = subprocess.Popen([sys.executable, "-c", CHILD, rt.settings.model_dump_json()], cwd=ROOT,
                             env={**os.environ, "PYTHONPATH": str(ROOT)}, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while applied(rt) < entries // 3 and time.monotonic() < deadline and child.poll() is None:
        time.sleep(0.01)

    child.send_signal(signal.SIGKILL)  # mid-work: some entries applied and acked, one maybe applied but not acked
    child.wait(timeout=10)
    killed_at = applied(rt)
    worker.claim(rt, "survivor", min_idle_ms=0)
    while worker.process_once(rt, "survivor"):
        pass

    assert 0 < killed_at < entries, f"the worker was not killed mid-work ({killed_at} of {entries}); {child.stderr.read()[-500:]}"
    assert stored_rollups(rt) == expected_rollups(observations, rt.settings.rollup_minutes, rt.settings.city)
    assert applied(rt) == entries
    assert all(rt.redis.pending_count(d, worker.GROUP) == 0 for d in worker.DOMAINS)
