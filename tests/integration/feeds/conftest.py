"""Fixtures of the feeds integration tests: runtimes on each storage pairing, sensors to post for."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from store.clock import FakeClock
from store.runtime import Runtime
from store.settings import Settings

AIR_Q = {"pm25": "ug/m3", "pm10": "ug/m3", "o3": "ppm", "no2": "ppm"}
DET_Q = {"speed_kmh": "km/h", "volume_vph": "veh/h", "occupancy_pct": "%"}


@pytest.fixture(params=[
    "sqlite+fakeredis",
    pytest.param("postgres+redis", marks=[pytest.mark.postgres, pytest.mark.redis]),
])
def stack_rt(request: pytest.FixtureRequest, tmp_path: Path, clock: FakeClock) -> Iterator[Runtime]:
    """A runtime on the embedded defaults and, where reachable, on real PostgreSQL + real Redis."""
    if request.param == "sqlite+fakeredis":
        s = Settings(data_dir=tmp_path / "var", redis_prefix="t" + tmp_path.name[-12:].replace("-", ""), simulator="off")
    else:
        pg: Settings = request.getfixturevalue("pg_settings")
        rs: Settings = request.getfixturevalue("redis_settings")
        s = rs.model_copy(update={"database_url": pg.database_url, "database_schema": pg.database_schema})
    runtime = Runtime.start(s, clock=clock)
    yield runtime
    runtime.close()


@pytest.fixture
def redis_rt(redis_settings: Settings, clock: FakeClock) -> Iterator[Runtime]:
    """SQLite with the real Redis server."""
    runtime = Runtime.start(redis_settings, clock=clock)
    yield runtime
    runtime.close()


@pytest.fixture
def demo_sensors(stack_rt: Runtime) -> Runtime:
    """`stack_rt` with two air stations and one loop detector registered."""
    from feeds.ingest import register_sensor

    rt = stack_rt
    register_sensor(rt, "air-1", kind="air", lat=37.5735, lon=126.9788, district="Jongno-gu", quantities=AIR_Q)
    register_sensor(rt, "air-2", kind="air", lat=37.5172, lon=127.0473, district="Gangnam-gu", quantities=AIR_Q)
    register_sensor(rt, "det-1", kind="detector", lat=37.5665, lon=126.9780, district="Jung-gu", quantities=DET_Q)
    return rt
