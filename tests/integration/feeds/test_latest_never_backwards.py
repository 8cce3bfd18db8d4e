"""The latest state never goes backwards: late, replayed and racing data, on fakeredis and real Redis."""
from __future__ import annotations

import json
import random
import threading
from datetime import timedelta
from typing import Any

import fakeredis
import orjson

from feeds.ingest import ingest, register_sensor
from feeds.latest import merge_state, queue_merge
from store.redis_store import RedisStore
from store.runtime import Runtime


def obs(sensor_id: str, at: Any, **values: Any) -> dict[str, Any]:
    return {"sensor_id": sensor_id, "time": at.isoformat(), "values": values}


def stream_values(rt: Runtime, domain: str) -> list[dict[str, Any]]:
    return [i["values"] for _id, f in rt.redis.client.xrange(rt.redis.keys.stream(domain)) for i in json.loads(f["batch"])]


def test_older_observation_after_a_newer_one_is_stored_but_does_not_replace_it(demo_sensors: Runtime) -> None:
    rt = demo_sensors
    t = rt.clock.now()
    ingest(rt, [obs("det-1", t, speed_kmh=40.0, volume_vph=900.0, occupancy_pct=12.0)], source="test")

    result = ingest(rt, [obs("det-1", t - timedelta(minutes=5), speed_kmh=10.0, volume_vph=100.0, occupancy_pct=50.0)], source="test")

    assert result.accepted == 3
    assert rt.redis.get_latest("traffic", "det-1") == {"t": t.isoformat(), "v": {"speed_kmh": 40.0, "volume_vph": 900.0, "occupancy_pct": 12.0},
                                                       "qa": dict.fromkeys(("speed_kmh", "volume_vph", "occupancy_pct"), "ok"), "d": "Jung-gu"}
    assert [v["speed_kmh"] for v in stream_values(rt, "traffic")] == [40.0, 10.0]  # still on the stream, for the rollups


def test_older_observation_in_the_same_batch_does_not_win_either(demo_sensors: Runtime) -> None:
    rt = demo_sensors
    t = rt.clock.now()

    ingest(rt, [obs("det-1", t, speed_kmh=40.0, volume_vph=900.0, occupancy_pct=12.0),
                obs("det-1", t - timedelta(minutes=1), speed_kmh=10.0, volume_vph=100.0, occupancy_pct=50.0)], source="test")

    assert rt.redis.get_latest("traffic", "det-1")["v"]["speed_kmh"] == 40.0


def test_quantities_reported_separately_keep_the_newest_of_each(demo_sensors: Runtime) -> None:
    rt = demo_sensors
    t = rt.clock.now()
    ingest(rt, [obs("air-1", t, pm25=10.0, no2=0.010)], source="test")
    ingest(rt, [obs("air-1", t + timedelta(minutes=4), pm25=12.0)], source="test")

    ingest(rt, [obs("air-1", t + timedelta(minutes=2), pm25=99.0, no2=0.020)], source="test")  # late: newer no2 only

    latest = rt.redis.get_latest("air", "air-1")
    assert latest["v"] == {"pm25": 12.0, "no2": 0.020}
    assert latest["t"] == (t + timedelta(minutes=4)).isoformat()
    assert latest["tq"] == {"no2": (t + timedelta(minutes=2)).isoformat()}


def test_replayed_batch_leaves_the_latest_state_as_it_was(demo_sensors: Runtime) -> None:
    rt = demo_sensors
    t = rt.clock.now()
    first = [obs("air-1", t, pm25=10.0, pm10=20.0, o3=0.01, no2=0.01)]
    ingest(rt, first, source="test")
    ingest(rt, [obs("air-1", t + timedelta(minutes=2), pm25=11.0, pm10=21.0, o3=0.02, no2=0.02)], source="test")

    ingest(rt, first, source="replay")

    assert rt.redis.get_latest("air", "air-1")["v"] == {"pm25": 11.0, "pm10": 21.0, "o3": 0.02, "no2": 0.02}


def test_two_processes_racing_on_one_sensor_leave_the_newest(demo_sensors: Runtime) -> None:
    rt = demo_sensors
    register_sensor(rt, "det-9", kind="detector", lat=37.56, lon=126.97, district="Jung-gu", quantities={"speed_kmh": "km/h"})
    if isinstance(rt.redis.client, fakeredis.FakeRedis):  # a second client on the same in-process server
        server = rt.redis.client.connection_pool.connection_kwargs["server"]
        other = RedisStore(fakeredis.FakeRedis(server=server, decode_responses=True), rt.redis.keys)
    else:
        other = RedisStore.from_settings(rt.settings)
    rt2 = Runtime.start(rt.settings, clock=rt.clock, redis=other)  # its own caches and connection: another process
    t0 = rt.clock.now()
    times = [t0 + timedelta(seconds=s) for s in range(60)]
    newest = times[-1]
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def post(runtime: Runtime, order: list[Any]) -> None:
        try:
            start.wait(timeout=10)
            for at in order:
                ingest(runtime, [obs("det-9", at, speed_kmh=float((at - t0).total_seconds()))], source="test")
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    orders = []
    for seed in (4, 5):  # each process sends every time, the newest early: most writes after it are older
        order = [at for at in times if at != newest]
        random.Random(seed).shuffle(order)
        order.insert(5, newest)
        orders.append(order)
    threads = [threading.Thread(target=post, args=(rt, orders[0])), threading.Thread(target=post, args=(rt2, orders[1]))]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=120)

    assert errors == []
    assert rt.redis.get_latest("traffic", "det-9") == {"t": newest.isoformat(), "v": {"speed_kmh": 59.0}, "qa": {"speed_kmh": "ok"}, "d": "Jung-gu"}
    assert len(stream_values(rt, "traffic")) == 120
    rt2.engine.dispose()


def test_script_and_python_rule_agree(any_redis: RedisStore) -> None:
    t = ["2026-11-26T10:0%d:00+00:00" % i for i in range(6)]
    arrivals = [
        {"t": t[2], "v": {"a": 1.5, "b": 2}, "qa": {"a": "ok", "b": "ok"}, "d": "X"},
        {"t": t[1], "v": {"a": 9.0, "c": 0.1}, "qa": {"a": "ok", "c": "flagged"}, "d": "X"},
        {"t": t[4], "v": {}, "qa": {"b": "quarantined"}, "d": "X"},
        {"t": t[3], "v": {"c": 1e-7, "b": 7}, "qa": {"c": "ok", "b": "ok"}, "d": None},
        {"t": t[0], "v": {"a": 0.0}, "qa": {"a": "ok"}, "d": "X"},
        {"t": t[5], "v": {"a": 0.30000000000000004}, "qa": {"a": "released"}, "d": "X"},
    ]
    key = any_redis.keys.latest("air")
    expected: dict[str, Any] | None = None

    for cand in arrivals:
        expected = merge_state(expected, cand) or expected
        pipe = any_redis.client.pipeline(transaction=True)
        queue_merge(pipe, key, {}, {"s": cand})
        pipe.execute()

        assert orjson.loads(any_redis.client.hget(key, "s")) == expected


def test_unreadable_stored_state_is_replaced_not_an_error(any_redis: RedisStore) -> None:
    key = any_redis.keys.latest("air")
    any_redis.client.hset(key, "s", "{not json")
    cand = {"t": "2026-11-26T10:00:00+00:00", "v": {"a": 1.0}, "qa": {"a": "ok"}, "d": "X"}

    pipe = any_redis.client.pipeline(transaction=True)
    queue_merge(pipe, key, {}, {"s": cand})
    pipe.execute()

    assert orjson.loads(any_redis.client.hget(key, "s")) == cand
