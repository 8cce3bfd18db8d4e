from __future__ import annotations

import random
import threading
import time
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import select

from feeds import worker
from feeds.ingest import ingest
from feeds.quarantine import release
from store.models.core import QuarantinedObservation, Rollup
from store.runtime import Runtime

DISTRICT = {"air-1": "Jongno-gu", "air-2": "Gangnam-gu", "det-1": "Jung-gu"}
PLAUSIBLE = {"pm25": (0, 1000), "pm10": (0, 2000), "speed_kmh": (0, 200)}


def make_observations(start: datetime, n: int = 120, seed: int = 5) -> list[dict[str, Any]]:
    """Two air stations and a detector every minute, with a few implausible values among them."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        t = (start + timedelta(minutes=i, seconds=rng.randint(0, 59))).isoformat()
        for sid in ("air-1", "air-2"):
            pm25 = rng.choice([-5.0, 2000.0]) if rng.random() < 0.05 else round(rng.uniform(5, 60), 2)
            out.append({"sensor_id": sid, "time": t, "values": {"pm25": pm25, "pm10": round(rng.uniform(10, 90), 2)}})
        out.append({"sensor_id": "det-1", "time": t, "values": {"speed_kmh": round(rng.uniform(5, 80), 1)}})
    return out


def expected_rollups(observations: list[dict[str, Any]], minutes: int, city: str) -> dict[tuple, tuple]:
    """The same buckets computed independently from what was sent, leaving implausible values out."""
    groups: dict[tuple, list[float]] = defaultdict(list)
    for o in observations:
        t = datetime.fromisoformat(o["time"])
        start = t.replace(minute=t.minute - t.minute % minutes, second=0, microsecond=0)
        for q, v in o["values"].items():
            low, high = PLAUSIBLE[q]
            if not low <= v <= high:
                continue
            for key in (("sensor", o["sensor_id"]), ("district", DISTRICT[o["sensor_id"]]), ("city", city)):
                groups[(*key, q, start)].append(v)
    return {k: (len(v), round(sum(v), 6), min(v), max(v)) for k, v in groups.items()}


def stored_rollups(rt: Runtime) -> dict[tuple, tuple]:
    with rt.session() as s:
        rows = s.scalars(select(Rollup)).all()
    return {(r.entity_type, r.entity_id, r.quantity, r.bucket_start): (r.n, round(r.total, 6), r.minimum, r.maximum) for r in rows}


def drain(rt: Runtime, consumer: str = "w") -> int:
    total = 0
    while n := worker.process_once(rt, consumer):
        total += n
    return total


def ingest_in_batches(rt: Runtime, observations: list[dict[str, Any]], size: int = 50) -> None:
    for i in range(0, len(observations), size):
        ingest(rt, observations[i:i + size], source="test")


def test_rollups_equal_an_independent_computation(demo_sensors: Runtime) -> None:
    rt = demo_sensors
    worker.ensure_groups(rt)
    observations = make_observations(rt.clock.now() - timedelta(hours=2))
    ingest_in_batches(rt, observations)

    drain(rt)

    assert stored_rollups(rt) == expected_rollups(observations, rt.settings.rollup_minutes, rt.settings.city)
    assert all(rt.redis.pending_count(d, worker.GROUP) == 0 for d in worker.DOMAINS)


def test_entries_of_a_worker_killed_mid_batch_end_in_rollups_exactly_once(demo_sensors: Runtime) -> None:
    rt = demo_sensors
    worker.ensure_groups(rt)
    observations = make_observations(rt.clock.now() - timedelta(hours=2), seed=9)
    ingest_in_batches(rt, observations, size=30)
    taken = worker._read(rt, "doomed", None)  # worker 1 reads a batch, then dies before committing
    assert sum(len(e) for e in taken.values()) > 0

    nothing_new = drain(rt, "survivor")
    reclaimed = worker.claim(rt, "survivor", min_idle_ms=0)

    assert nothing_new == 0  # everything had been delivered to the dead worker
    assert reclaimed == sum(len(e) for e in taken.values())
    assert stored_rollups(rt) == expected_rollups(observations, rt.settings.rollup_minutes, rt.settings.city)
    assert all(rt.redis.pending_count(d, worker.GROUP) == 0 for d in worker.DOMAINS)


def test_a_worker_that_committed_but_died_before_acking_is_not_counted_twice(demo_sensors: Runtime) -> None:
    rt = demo_sensors
    worker.ensure_groups(rt)
    observations = make_observations(rt.clock.now() - timedelta(hours=2), seed=11)
    ingest_in_batches(rt, observations)
    for domain, entries in worker._read(rt, "doomed", None).items():
        worker.apply_entries(rt, domain, entries)  # committed; the process dies before XACK

    worker.claim(rt, "survivor", min_idle_ms=0)
    drain(rt, "survivor")

    assert stored_rollups(rt) == expected_rollups(observations, rt.settings.rollup_minutes, rt.settings.city)
    assert all(rt.redis.pending_count(d, worker.GROUP) == 0 for d in worker.DOMAINS)


def test_only_fresh_dead_consumers_entries_wait_for_the_idle_time(demo_sensors: Runtime) -> None:
    rt = demo_sensors
    worker.ensure_groups(rt)
    ingest(rt, make_observations(rt.clock.now(), n=3), source="test")
    worker._read(rt, "busy", None)

    assert worker.claim(rt, "other", min_idle_ms=60_000) == 0  # still within its idle time: not taken
    assert sum(rt.redis.pending_count(d, worker.GROUP) for d in worker.DOMAINS) > 0


def test_flagged_values_count_in_rollups_and_released_ones_roll_up(demo_sensors: Runtime) -> None:
    rt = demo_sensors
    worker.ensure_groups(rt)
    start = rt.clock.now() - timedelta(hours=3)
    rng = random.Random(2)
    ingest(rt, [{"sensor_id": "det-1", "time": (start + timedelta(minutes=i)).isoformat(),
                 "values": {"speed_kmh": rng.gauss(50, 2)}} for i in range(100)], source="test")
    jump = ingest(rt, [{"sensor_id": "det-1", "time": rt.clock.now().isoformat(), "values": {"speed_kmh": 90.0}},
                       {"sensor_id": "det-1", "time": rt.clock.now().isoformat(), "values": {"speed_kmh": 250.0}}], source="test")
    with rt.session() as s:
        held = s.scalars(select(QuarantinedObservation)).one()
    release(rt, held.id, actor="operator", note="radar calibrated, it was a motorbike")

    drain(rt)

    bucket = worker.bucket_start(rt.clock.now(), rt.settings.rollup_minutes)
    with rt.session() as s:
        row = s.scalars(select(Rollup).where(Rollup.entity_type == "sensor", Rollup.bucket_start == bucket)).one()
    assert jump.flagged == 1
    assert (row.n, row.flagged, row.maximum) == (2, 1, 250.0)


def test_malformed_entries_are_acknowledged_and_skipped(demo_sensors: Runtime) -> None:
    rt = demo_sensors
    worker.ensure_groups(rt)
    rt.redis.append("air", {"batch": "{not json"})
    rt.redis.append("air", {"batch": orjson.dumps([{"sensor_id": "air-1", "time": "never", "values": {}}]).decode()})
    rt.redis.append("air", {"other": "field"})
    rt.redis.append("air", {"batch": orjson.dumps([{"sensor_id": "air-1", "time": "2026-11-26T03:00:00", "values": {"pm25": 1}}]).decode()})
    rt.redis.append("air", {"batch": orjson.dumps([{"sensor_id": "air-1", "time": "2026-11-26T03:00:00+00:00",
                                                   "values": {"pm25": 1}, "qa": ["ok"]}]).decode()})
    ingest(rt, [{"sensor_id": "air-1", "time": rt.clock.now().isoformat(), "values": {"pm25": 10.0}}], source="test")

    handled = drain(rt)

    assert handled == 6
    assert rt.redis.pending_count("air", worker.GROUP) == 0
    assert len(stored_rollups(rt)) == 3  # sensor, district, city


def test_retention_deletes_old_rollups_only(demo_sensors: Runtime) -> None:
    rt = demo_sensors
    worker.ensure_groups(rt)
    now = rt.clock.now()
    ingest(rt, [{"sensor_id": "air-1", "time": (now - timedelta(days=rt.settings.retention_days, hours=1)).isoformat(),
                 "values": {"pm25": 10.0}},
                {"sensor_id": "air-1", "time": now.isoformat(), "values": {"pm25": 12.0}}], source="test")
    drain(rt)

    deleted, _entries = worker.prune(rt)

    assert deleted == 3
    assert {k[3] for k in stored_rollups(rt)} == {worker.bucket_start(now, rt.settings.rollup_minutes)}


def test_run_worker_service_rolls_up_until_stopped(demo_sensors: Runtime) -> None:
    rt = demo_sensors
    observations = make_observations(rt.clock.now() - timedelta(hours=1), n=20)
    stop = threading.Event()
    thread = threading.Thread(target=worker.run_worker, args=(rt, stop), kwargs={"block_ms": 50}, daemon=True)
    thread.start()

    ingest_in_batches(rt, observations)
    expected = expected_rollups(observations, rt.settings.rollup_minutes, rt.settings.city)
    deadline = time.monotonic() + 20
    while stored_rollups(rt) != expected and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    thread.join(timeout=5)

    assert stored_rollups(rt) == expected
    assert not thread.is_alive()


def test_delta_publisher_sends_what_ingest_changed(demo_sensors: Runtime) -> None:
    rt = demo_sensors
    sub = rt.redis.subscribe(["traffic"])
    sub.get_message(timeout=0.2)
    stop = threading.Event()
    thread = threading.Thread(target=worker.run_delta_publisher, args=(rt, stop), daemon=True)
    thread.start()

    ingest(rt, [{"sensor_id": "det-1", "time": rt.clock.now().isoformat(), "values": {"speed_kmh": 31.0}}], source="test")
    msg = sub.get_message(timeout=5)
    stop.set()
    thread.join(timeout=5)
    sub.close()

    assert msg is not None
    assert orjson.loads(msg["data"])["changes"]["det-1"]["v"] == {"speed_kmh": 31.0}
