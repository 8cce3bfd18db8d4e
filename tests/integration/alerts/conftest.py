"""Fixtures of the alerts integration tests: sensors registered, a worker, helpers to post readings."""
from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from alert_helpers import air_obs

from alerts.rules import default_rules
from alerts.worker import AlertWorker
from store.runtime import Runtime

AIR_Q = {"pm25": "ug/m3", "pm10": "ug/m3", "o3": "ppm", "no2": "ppm"}
DISTRICT = "Jongno-gu"


@pytest.fixture
def air_rt(rt: Runtime) -> Runtime:
    """`rt` with three air stations in Jongno-gu and one in Gangnam-gu."""
    from feeds.ingest import register_sensor

    for i, (lat, lon) in enumerate([(37.5735, 126.9788), (37.5800, 126.9850), (37.5700, 126.9900)]):
        register_sensor(rt, f"air-j{i}", kind="air", lat=lat, lon=lon, district=DISTRICT, quantities=AIR_Q)
    register_sensor(rt, "air-g0", kind="air", lat=37.5172, lon=127.0473, district="Gangnam-gu", quantities=AIR_Q)
    return rt


@pytest.fixture
def worker(rt: Runtime) -> AlertWorker:
    return AlertWorker(rt, default_rules(), "test-consumer")


@pytest.fixture
def drain(rt: Runtime, worker: AlertWorker) -> Callable[[], int]:
    """Run the worker until the streams are empty; the number of entries handled."""

    def run() -> int:
        total = 0
        while (n := worker.step()):
            total += n
        return total

    return run


@pytest.fixture
def post_air(air_rt: Runtime, drain: Callable[[], int]) -> Iterator[Callable[..., None]]:
    """Ingest `minutes` of readings (one per station every `every` minutes) at a PM2.5 level,
    moving the clock; after each tick the rollup worker writes its buckets and then the alert
    worker drains the streams, as both do when running (the air rule reads the rollups)."""
    from feeds import worker as rollups
    from feeds.ingest import ingest

    rollups.ensure_groups(air_rt)

    def post(pm25: float, minutes: int = 10, sensors: tuple[str, ...] = ("air-j0", "air-j1", "air-j2"),
             every: int = 2) -> None:
        for _ in range(0, minutes, every):
            now = air_rt.clock.now()
            result = ingest(air_rt, [air_obs(s, now, pm25) for s in sensors], source="test")
            assert result.quarantined == 0 and result.rejected == 0
            while rollups.process_once(air_rt, "test-rollups"):
                pass
            drain()
            air_rt.clock.advance(minutes=every)  # type: ignore[attr-defined]

    yield post

