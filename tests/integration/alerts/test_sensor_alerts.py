"""Traffic incidents from detector speeds, data-health maintenance alerts, infrastructure gauges:
readings go in through feeds.ingest, the worker drains the streams."""
from __future__ import annotations

import pytest

from alerts import queries
from alerts.queries import AlertFilter
from feeds.citypack import load_pack
from store.runtime import Runtime


@pytest.fixture
def city_rt(rt: Runtime) -> Runtime:
    """`rt` with the demo city pack's sensors registered."""
    from feeds.ingest import register_sites

    register_sites(rt, load_pack("seoul", "demo", rt.settings.sim_seed).sensors)
    return rt


def speeds(rt: Runtime, values: dict[str, float]) -> None:
    from feeds.ingest import ingest

    now = rt.clock.now()
    ingest(rt, [{"sensor_id": d, "time": now.isoformat(), "values": {"speed_kmh": v, "volume_vph": 900, "occupancy_pct": 20}}
                for d, v in values.items()], source="test")


def pack_link_with_upstream(rt: Runtime):  # type: ignore[no-untyped-def]
    pack = load_pack("seoul", "demo", rt.settings.sim_seed)
    links = {ln.id: ln for ln in pack.links}
    head = next(ln for ln in pack.links if ln.upstream)
    return head, links[head.upstream[0]]


def test_speed_collapse_on_consecutive_readings_opens_an_incident_alert(city_rt, worker, drain):
    head, _up = pack_link_with_upstream(city_rt)
    low = head.free_speed_kmh * 0.2

    for v in (head.free_speed_kmh * 0.9, low, low):
        speeds(city_rt, {head.detector_id: v})
        drain()
        city_rt.clock.advance(seconds=120)
    assert queries.list_alerts(city_rt, AlertFilter(category="traffic_incident")) == []  # two low readings: not yet

    speeds(city_rt, {head.detector_id: low})
    drain()

    [a] = queries.list_alerts(city_rt, AlertFilter(category="traffic_incident"))
    assert a["source"] == head.id and a["district"] == head.district and a["severity"] == "major"
    assert a["detail"]["readings_low"] == 3 and a["detail"]["usual_kmh"] == head.free_speed_kmh


def test_one_fast_reading_between_slow_ones_resets_the_count(city_rt, drain):
    head, _up = pack_link_with_upstream(city_rt)
    low = head.free_speed_kmh * 0.2
    for v in (low, low, head.free_speed_kmh, low, low):
        speeds(city_rt, {head.detector_id: v})
        drain()
        city_rt.clock.advance(seconds=120)

    assert queries.list_alerts(city_rt, AlertFilter(category="traffic_incident")) == []


def test_a_jam_spreading_upstream_groups_into_one_incident(city_rt, drain):
    head, up = pack_link_with_upstream(city_rt)
    for _ in range(3):
        speeds(city_rt, {head.detector_id: head.free_speed_kmh * 0.2})
        drain()
        city_rt.clock.advance(seconds=120)
    for _ in range(3):
        speeds(city_rt, {head.detector_id: head.free_speed_kmh * 0.2, up.detector_id: up.free_speed_kmh * 0.2})
        drain()
        city_rt.clock.advance(seconds=120)

    alerts = queries.list_alerts(city_rt, AlertFilter(category="traffic_incident"))
    assert {a["source"] for a in alerts} == {head.id, up.id}
    [incident] = queries.list_incidents(city_rt)
    assert sorted(incident["alert_ids"]) == sorted(a["id"] for a in alerts)
    assert {a["detail"]["head_link"] for a in alerts} == {head.id}


def test_usual_speed_from_history_replaces_free_flow(city_rt, drain):
    from datetime import timedelta

    from store.models.core import Rollup

    head, _up = pack_link_with_upstream(city_rt)
    usual = head.free_speed_kmh * 0.5  # this link is usually slow at this hour
    now = city_rt.clock.now()
    with city_rt.session() as s:
        for week in (1, 2):
            s.add(Rollup(entity_type="sensor", entity_id=head.detector_id, quantity="speed_kmh",
                         bucket_start=now.replace(minute=0, second=0, microsecond=0) - timedelta(weeks=week),
                         bucket_minutes=5, n=10, total=usual * 10, minimum=usual, maximum=usual, flagged=0))
    # 0.3 x free flow is below 0.4 x free flow, but not below 0.4 x the usual speed: no incident
    for _ in range(4):
        speeds(city_rt, {head.detector_id: head.free_speed_kmh * 0.3})
        drain()
        city_rt.clock.advance(seconds=120)
    assert queries.list_alerts(city_rt, AlertFilter(category="traffic_incident")) == []

    for _ in range(3):
        speeds(city_rt, {head.detector_id: usual * 0.3})
        drain()
        city_rt.clock.advance(seconds=120)
    [a] = queries.list_alerts(city_rt, AlertFilter(category="traffic_incident"))
    assert a["detail"]["usual_kmh"] == pytest.approx(usual, abs=0.1)


def test_a_silent_sensor_opens_a_maintenance_alert(air_rt, post_air, worker):
    post_air(20.0, minutes=2, sensors=("air-j0", "air-j1", "air-j2", "air-g0"))
    post_air(20.0, minutes=10, sensors=("air-j0", "air-j1", "air-j2"))  # air-g0 stops reporting

    changed = worker.evaluator.sweep()

    assert [(c.category, c.source, c.severity, c.rule) for c in changed] == [("maintenance", "air-g0", "minor", "health.silent")]
    from alerts import service

    service.raise_candidates(air_rt, changed)
    [a] = queries.list_alerts(air_rt, AlertFilter(category="maintenance"))
    assert a["district"] == "Gangnam-gu" and a["severity"] == "minor"


def test_a_whole_feed_going_silent_is_one_alert_not_one_per_sensor(city_rt, worker, drain):
    pack = load_pack("seoul", "demo", city_rt.settings.sim_seed)
    speeds(city_rt, {s.id: 50.0 for s in pack.sensors_of("detector")})
    drain()
    city_rt.clock.advance(minutes=30)

    cands = worker.evaluator.sweep()

    assert [(c.rule, c.source) for c in cands] == [("health.feed_silent", "feed:traffic")]


def test_repeatedly_quarantined_values_open_a_drift_maintenance_alert(air_rt, worker):
    from feeds.ingest import ingest
    from alert_helpers import air_obs

    for _ in range(5):
        result = ingest(air_rt, [air_obs("air-j0", air_rt.clock.now(), 5000.0)], source="test")  # beyond pm25's range
        assert result.quarantined == 1
        air_rt.clock.advance(seconds=120)

    cands = worker.evaluator.sweep()

    drift = [c for c in cands if c.rule == "health.drift"]
    assert [(c.source, c.category, c.severity) for c in drift] == [("air-j0", "maintenance", "info")]


def test_methane_above_its_levels_opens_a_gas_leak_alert_that_worsens(city_rt, drain):
    from feeds.ingest import ingest

    gauge = load_pack("seoul", "demo", city_rt.settings.sim_seed).sensors_of("gas")[0]
    for ppm in (20.0, 1500.0, 6000.0):
        ingest(city_rt, [{"sensor_id": gauge.id, "time": city_rt.clock.now().isoformat(),
                          "values": {q: (ppm if q == "methane_ppm" else 1.0) for q in gauge.quantities}}], source="test")
        drain()
        city_rt.clock.advance(seconds=60)

    [a] = queries.list_alerts(city_rt, AlertFilter(category="gas_leak"))
    assert a["severity"] == "critical" and a["count"] == 2 and a["source"] == gauge.id
    assert queries.alert_detail(city_rt, a["id"])["latest"]["v"]["methane_ppm"] == 6000.0  # the sensor's newest reading


def test_a_new_jam_behind_the_same_link_after_resolution_is_a_new_incident(city_rt, drain):
    from alerts import service
    from alerts.model import Actor

    head, up = pack_link_with_upstream(city_rt)

    def jam() -> None:
        for i in range(6):
            vals = {head.detector_id: head.free_speed_kmh * 0.2}
            if i >= 3:
                vals[up.detector_id] = up.free_speed_kmh * 0.2
            speeds(city_rt, vals)
            drain()
            city_rt.clock.advance(seconds=120)

    jam()
    [first] = queries.list_incidents(city_rt)
    service.resolve_incident(city_rt, first["id"], Actor("lee", "supervisor"), "true_positive")
    speeds(city_rt, {head.detector_id: head.free_speed_kmh, up.detector_id: up.free_speed_kmh})  # traffic flows again
    drain()

    jam()

    incidents = queries.list_incidents(city_rt)
    assert sorted(i["state"] for i in incidents) == ["open", "resolved"]
    new = next(i for i in incidents if i["state"] == "open")
    assert len(new["alert_ids"]) == 2 and not set(new["alert_ids"]) & set(first["alert_ids"])
