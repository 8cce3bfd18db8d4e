from __future__ import annotations

import json
import random
from datetime import datetime, timedelta
from typing import Any

import pytest
import redis
from sqlalchemy import select

from feeds import ingest as ingest_mod
from feeds.citypack import SensorSite
from feeds.ingest import DOMAIN_OF_KIND, ingest, register_sites
from store.errors import Unavailable, ValidationError
from store.models.core import QaCount, QuarantinedObservation, Sensor
from store.runtime import Runtime


def obs(sensor_id: str, at: datetime, **values: Any) -> dict[str, Any]:
    return {"sensor_id": sensor_id, "time": at.isoformat(), "values": values}


def stream_items(rt: Runtime, domain: str) -> list[dict[str, Any]]:
    entries = rt.redis.client.xrange(rt.redis.keys.stream(domain))
    return [item for _id, fields in entries for item in json.loads(fields["batch"])]


def quarantined(rt: Runtime) -> list[QuarantinedObservation]:
    with rt.session() as s:
        return list(s.scalars(select(QuarantinedObservation).order_by(QuarantinedObservation.id)))


def stable_history(rt: Runtime, start: datetime, n: int = 120) -> None:
    rng = random.Random(3)
    batch = [obs("air-1", start + timedelta(minutes=2 * i), pm25=rng.gauss(20, 2)) for i in range(n)]
    ingest(rt, batch, source="test")


def test_accepted_values_reach_stream_and_latest_state_as_the_contract_says(demo_sensors: Runtime) -> None:
    rt = demo_sensors
    t = rt.clock.now()

    result = ingest(rt, [obs("air-1", t, pm25=12.5, pm10=30, o3=0.03, no2=0.02), obs("det-1", t, speed_kmh=41.0)], source="test")

    assert (result.observations, result.accepted, result.rejected) == (2, 5, 0)
    assert stream_items(rt, "air") == [{"sensor_id": "air-1", "kind": "air", "district": "Jongno-gu", "time": t.isoformat(),
                                         "values": {"pm25": 12.5, "pm10": 30, "o3": 0.03, "no2": 0.02},
                                         "qa": {"pm25": "ok", "pm10": "ok", "o3": "ok", "no2": "ok"}}]
    assert stream_items(rt, "traffic")[0]["values"] == {"speed_kmh": 41.0}
    assert rt.redis.get_latest("air", "air-1") == {"t": t.isoformat(), "v": {"pm25": 12.5, "pm10": 30, "o3": 0.03, "no2": 0.02},
                                                   "qa": {"pm25": "ok", "pm10": "ok", "o3": "ok", "no2": "ok"}, "d": "Jongno-gu"}
    assert set(rt.redis.feed_times()) == {"air", "traffic"}


@pytest.mark.parametrize("value", [-5, 2000])
def test_implausible_pm25_is_quarantined_in_sql_and_kept_off_the_stream(demo_sensors: Runtime, value: float) -> None:
    rt = demo_sensors
    t = rt.clock.now()
    ingest(rt, [obs("air-1", t, pm25=14.0, pm10=30)], source="test")

    result = ingest(rt, [obs("air-1", t + timedelta(minutes=2), pm25=value, pm10=31)], source="test")

    assert (result.accepted, result.quarantined) == (1, 1)
    (q,) = quarantined(rt)
    assert (q.sensor_id, q.quantity, q.value, q.state) == ("air-1", "pm25", value, "held")
    assert q.time == t + timedelta(minutes=2)
    assert [i["values"] for i in stream_items(rt, "air")] == [{"pm25": 14.0, "pm10": 30}, {"pm10": 31}]
    latest = rt.redis.get_latest("air", "air-1")
    assert latest["v"] == {"pm25": 14.0, "pm10": 31}  # the last good PM2.5 stays
    assert latest["qa"] == {"pm25": "quarantined", "pm10": "ok"}


def test_five_sigma_jump_is_flagged_on_stream_and_latest(demo_sensors: Runtime) -> None:
    rt = demo_sensors
    start = rt.clock.now() - timedelta(hours=5)
    stable_history(rt, start)

    result = ingest(rt, [obs("air-1", rt.clock.now(), pm25=20 + 5 * 2.5)], source="test")

    assert (result.accepted, result.flagged) == (1, 1)
    assert stream_items(rt, "air")[-1]["qa"] == {"pm25": "flagged"}
    assert rt.redis.get_latest("air", "air-1")["qa"]["pm25"] == "flagged"


def test_rejections_name_the_observation_and_the_reason(demo_sensors: Runtime) -> None:
    rt = demo_sensors
    t = rt.clock.now()

    result = ingest(rt, [obs("air-1", t, pm25="high"), obs("ghost-9", t, pm25=3), obs("air-1", t, pm1=3, pm10=20)], source="test")

    assert (result.accepted, result.rejected) == (1, 3)
    assert [(r.index, r.sensor_id, r.quantity) for r in result.rejections] == [(0, "air-1", "pm25"), (1, "ghost-9", None), (2, "air-1", "pm1")]
    assert "must be a number" in result.rejections[0].reason
    assert "unknown sensor" in result.rejections[1].reason


def test_outcome_counts_go_to_metrics_hash_and_sql_buckets(demo_sensors: Runtime) -> None:
    rt = demo_sensors
    t = rt.clock.now()

    ingest(rt, [obs("air-1", t, pm25=10, pm10=2500, o3="x")], source="sim")
    ingest(rt, [obs("air-2", t, pm25=11)], source="http")

    assert ingest_mod.ingest_counts(rt) == {("sim", "accepted"): 1, ("sim", "quarantined"): 1, ("sim", "rejected"): 1, ("http", "accepted"): 1}
    with rt.session() as s:
        rows = {(c.outcome, c.n) for c in s.scalars(select(QaCount))}
        buckets = set(s.scalars(select(QaCount.bucket_start)))
    assert rows == {("accepted", 2), ("quarantined", 1), ("rejected", 1)}
    assert buckets == {t.replace(minute=t.minute - t.minute % rt.settings.rollup_minutes, second=0, microsecond=0)}


def test_partial_observations_merge_into_the_latest_state(demo_sensors: Runtime) -> None:
    rt = demo_sensors
    t = rt.clock.now()
    ingest(rt, [obs("air-1", t, pm25=10, pm10=20, o3=0.01)], source="test")

    ingest(rt, [obs("air-1", t + timedelta(minutes=2), pm25=11), obs("air-1", t + timedelta(minutes=1), pm25=99, no2=0.05)], source="test")

    latest = rt.redis.get_latest("air", "air-1")
    assert latest["t"] == (t + timedelta(minutes=2)).isoformat()
    assert latest["v"] == {"pm25": 11, "pm10": 20, "o3": 0.01, "no2": 0.05}  # the older 99 did not win


def test_changes_are_handed_to_the_shared_coalescer(demo_sensors: Runtime) -> None:
    rt = demo_sensors
    sub = rt.redis.subscribe(["air"])
    sub.get_message(timeout=0.2)

    ingest(rt, [obs("air-2", rt.clock.now(), pm25=9)], source="test")
    sent = rt.coalescer.flush(force=True)

    assert sent == {"air": 1}
    msg = sub.get_message(timeout=2)
    payload = json.loads(msg["data"])
    assert payload["domain"] == "air"
    assert payload["changes"]["air-2"]["v"] == {"pm25": 9}
    sub.close()


def test_trailing_statistics_survive_a_restart(demo_sensors: Runtime) -> None:
    rt = demo_sensors
    stable_history(rt, rt.clock.now() - timedelta(hours=5))
    ingest_mod.persist_stats(rt)
    restarted = Runtime.start(rt.settings, clock=rt.clock, redis=rt.redis)  # same Redis, fresh process state

    result = ingest(restarted, [obs("air-1", rt.clock.now(), pm25=35.0)], source="test")

    assert result.flagged == 1
    restarted.engine.dispose()


def test_redis_down_answers_unavailable_and_stores_nothing(demo_sensors: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    rt = demo_sensors
    real_pipeline = rt.redis.client.pipeline

    def dying_pipeline(transaction: bool = True, **kw: Any) -> Any:
        pipe = real_pipeline(transaction=transaction, **kw)
        if transaction:
            def execute(*_a: Any, **_k: Any) -> Any:
                raise redis.ConnectionError("Connection refused")
            pipe.execute = execute
        return pipe

    monkeypatch.setattr(rt.redis.client, "pipeline", dying_pipeline)

    with pytest.raises(Unavailable, match="retry the whole batch"):
        ingest(rt, [obs("air-1", rt.clock.now(), pm25=12, pm10=5000)], source="test")

    monkeypatch.undo()
    assert quarantined(rt) == []
    assert stream_items(rt, "air") == []
    assert ingest_mod._state(rt).stats.series("air-1", "pm25").n == 0


def test_redis_unreachable_before_anything_is_unavailable(tmp_path: Any, clock: Any) -> None:
    from store.settings import Settings

    s = Settings(data_dir=tmp_path / "var", redis_url="redis://127.0.0.1:1/0", redis_prefix="down", simulator="off")
    rt = Runtime.start(s, clock=clock)

    with pytest.raises(Unavailable, match="Redis is unavailable"):
        ingest(rt, [obs("air-1", clock.now(), pm25=12)], source="test")
    rt.close()


def test_city_pack_sites_register_in_bulk(stack_rt: Runtime) -> None:
    sites = [SensorSite(f"D{i:04d}", "detector", 37.55, 126.98, "Jung-gu", {"speed_kmh": "km/h"}, 30, link_id=f"L{i}") for i in range(1500)]
    sites.append(SensorSite("CAM1", "camera", 37.55, 126.98, "Jung-gu", {}))

    assert register_sites(stack_rt, sites) == 1501
    assert register_sites(stack_rt, sites[:10]) == 10  # again: an update, not a duplicate

    with stack_rt.session() as s:
        assert len(s.scalars(select(Sensor.id)).all()) == 1501
        assert s.get(Sensor, "D0007").attributes == {"link_id": "L7"}
    result = ingest(stack_rt, [obs("D0007", stack_rt.clock.now(), speed_kmh=33.0)], source="sim")
    assert result.accepted == 1


@pytest.mark.parametrize(("site", "problem"), [
    (SensorSite("A1", "air", 37.5, 127.0, "Gotham-gu", {"pm25": "ug/m3"}), "unknown district"),
    (SensorSite("A1", "air", 37.5, 127.0, "Jung-gu", {"pm25": "ppm"}), "pm25 is measured in ug/m3"),
    (SensorSite("A1", "blimp", 37.5, 127.0, "Jung-gu", {"pm25": "ug/m3"}), "unknown kind"),
    (SensorSite("A 1", "air", 37.5, 127.0, "Jung-gu", {"pm25": "ug/m3"}), "without spaces"),
    (SensorSite("A1", "air", 137.5, 127.0, "Jung-gu", {"pm25": "ug/m3"}), "latitude"),
    (SensorSite("A1", "air", 37.5, 127.0, "Jung-gu", {}), "at least one quantity"),
])
def test_bad_sites_are_refused_with_the_reason(stack_rt: Runtime, site: SensorSite, problem: str) -> None:
    with pytest.raises(ValidationError) as err:
        register_sites(stack_rt, [site])

    assert problem in err.value.message


def test_every_sensor_kind_has_a_live_domain() -> None:
    assert set(DOMAIN_OF_KIND.values()) <= {"traffic", "air", "infra", "cctv"}


def test_database_down_answers_unavailable_and_keeps_redis_untouched(demo_sensors: Runtime) -> None:
    from sqlalchemy import create_engine

    from store.db import make_sessionmaker

    rt = demo_sensors
    ingest(rt, [obs("air-1", rt.clock.now(), pm25=10.0)], source="test")  # sensors cached, statistics loaded
    dead = create_engine("postgresql+psycopg://nobody@127.0.0.1:1/none", connect_args={"connect_timeout": 1})
    live_sessions, rt.sessions = rt.sessions, make_sessionmaker(dead)

    with pytest.raises(Unavailable, match="database is unavailable"):
        ingest(rt, [obs("air-1", rt.clock.now() + timedelta(minutes=2), pm25=11.0, pm10=9000)], source="test")

    rt.sessions = live_sessions
    dead.dispose()
    assert [i["values"] for i in stream_items(rt, "air")] == [{"pm25": 10.0}]
    assert rt.redis.get_latest("air", "air-1")["v"] == {"pm25": 10.0}
    assert ingest_mod._state(rt).stats.series("air-1", "pm25").buckets[
        int(rt.clock.now().timestamp()) // 3600][0] == 1  # the failed batch was taken back out


def test_concurrent_ingest_and_registration_lose_nothing(demo_sensors: Runtime) -> None:
    import threading

    from feeds.ingest import register_sensor

    rt = demo_sensors
    errors: list[BaseException] = []
    results: list[Any] = []

    def post(sensor_id: str, offset: int) -> None:
        try:
            for i in range(40):
                at = rt.clock.now() + timedelta(seconds=offset + i)
                results.append(ingest(rt, [obs(sensor_id, at, pm25=10.0 + i % 7)], source="test"))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    def register() -> None:
        try:
            for i in range(20):
                register_sensor(rt, f"new-{i}", kind="air", lat=37.5, lon=127.0, district="Jung-gu", quantities={"pm25": "ug/m3"})
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=post, args=("air-1", 0)), threading.Thread(target=post, args=("air-2", 100)),
               threading.Thread(target=register)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)

    assert errors == []
    assert sum(r.accepted for r in results) == 80
    assert len(stream_items(rt, "air")) == 80
    assert ingest(rt, [obs("new-19", rt.clock.now(), pm25=3.0)], source="test").accepted == 1
