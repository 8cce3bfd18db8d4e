"""Simulated history on a fresh demo: an empty rollups table gets 24 h from the simulator's model,
so the Air page's CAI and the wall's trend are there at once; never with the simulator off, and
never on a database that already has history."""
from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta

import pytest

from feeds import backfill, live_queries
from feeds.air_queries import read_districts, read_sensors
from feeds.citypack import load_pack
from store.clock import FakeClock
from store.models import Rollup
from store.runtime import Runtime


@pytest.fixture
def demo_rt(stack_rt: Runtime, clock: FakeClock) -> Iterator[Runtime]:
    """`stack_rt`'s stores, with the simulator on (what `cityops run` has by default)."""
    s = stack_rt.settings.model_copy(update={"simulator": "on"})
    runtime = Runtime.start(s, clock=clock)
    yield runtime
    runtime.close()


def _rows(rt: Runtime, entity_type: str) -> int:
    from sqlalchemy import func, select

    with rt.session() as s:
        return int(s.scalar(select(func.count()).select_from(Rollup).where(Rollup.entity_type == entity_type)) or 0)


def test_after_the_backfill_the_air_page_has_a_pm_cai_and_the_wall_six_hours_of_trend(demo_rt: Runtime) -> None:
    pack = load_pack("seoul", "demo", demo_rt.settings.sim_seed)
    assert backfill.wanted(demo_rt)

    result = backfill.run(demo_rt, pack)

    assert result.steps == 24 * 60 // demo_rt.settings.rollup_minutes
    assert _rows(demo_rt, "sensor") and _rows(demo_rt, "district") and _rows(demo_rt, "city")
    districts = read_districts(demo_rt, pack)
    assert districts and all(d.cai.figures["pm25"].concentration is not None for d in districts)
    assert all(d.cai.figures["pm25"].reason is None and d.cai.value is not None for d in districts)
    sensor = read_sensors(demo_rt, pack)[0]
    assert sensor.cai.figures["pm10"].index is not None
    trend = live_queries.trend_6h(demo_rt)
    assert trend["history"] is True
    assert len(trend["speed"]) == len(trend["pm25"]) == 6 * 60 // demo_rt.settings.rollup_minutes
    assert not backfill.wanted(demo_rt)  # now there is history: a restart writes none


def test_the_backfill_stops_where_live_data_begins(demo_rt: Runtime, clock: FakeClock) -> None:
    clock.advance(timedelta(minutes=7).total_seconds())
    start, end = backfill.window(demo_rt.clock.now(), demo_rt.settings.rollup_minutes)

    backfill.run(demo_rt, load_pack("seoul", "demo", demo_rt.settings.sim_seed), hours=1)

    from sqlalchemy import func, select

    with demo_rt.session() as s:
        newest = s.scalar(select(func.max(Rollup.bucket_start)))
    assert end <= demo_rt.clock.now() and end - start == timedelta(hours=24)
    assert newest is not None and newest.replace(tzinfo=None) < end.replace(tzinfo=None)


def test_no_backfill_with_the_simulator_off(stack_rt: Runtime) -> None:
    assert stack_rt.settings.simulator == "off"

    assert not backfill.wanted(stack_rt)


def test_no_backfill_on_a_database_that_already_has_history(demo_rt: Runtime) -> None:
    from feeds.worker import aggregate, upsert_rollups

    item = {"sensor_id": "AQ-X", "district": "Jung-gu", "time": demo_rt.clock.now().isoformat(), "values": {"pm25": 20.0}}
    with demo_rt.session() as s:
        upsert_rollups(s, aggregate([item], demo_rt.settings.rollup_minutes, demo_rt.settings.city), demo_rt.settings.rollup_minutes)

    assert not backfill.wanted(demo_rt)
    assert backfill.start_if_wanted(demo_rt, load_pack("seoul", "demo", demo_rt.settings.sim_seed), threading.Event()) is None
