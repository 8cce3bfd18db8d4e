"""The simulator's behaviour: peaks, incidents spreading upstream, faults, CCTV rates, determinism."""
from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from alerts.const import CCTV_CATEGORIES
from feeds.citypack import load_pack
from feeds.simulator import CCTV_MIX, FAULT_RATE, SENSOR_FAULTS, CitySimulator, FaultModel

SEED = 20261126
# 2026-11-25 is a Wednesday; Seoul is UTC+9.
WED_0300_KST = datetime(2026, 11, 24, 18, 0, tzinfo=UTC)
WED_0800_KST = datetime(2026, 11, 24, 23, 0, tzinfo=UTC)
SAT_0800_KST = datetime(2026, 11, 27, 23, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def demo():
    return load_pack("seoul", "demo", SEED)


def _mean_speed(pack, at: datetime, ticks: int = 6) -> float:
    sim = CitySimulator(pack, SEED)
    speeds = []
    for k in range(ticks):
        obs, _, _ = sim.step(at + timedelta(seconds=10 * k))
        speeds += [o["values"]["speed_kmh"] for o in obs if "speed_kmh" in o["values"]]
    return float(np.median(speeds))


def test_weekday_morning_peak_is_slower_than_the_night(demo):
    night = _mean_speed(demo, WED_0300_KST)
    peak = _mean_speed(demo, WED_0800_KST)

    assert peak < 0.7 * night


def test_evening_peak_is_slower_than_midday(demo):
    midday = _mean_speed(demo, WED_0300_KST + timedelta(hours=11))  # 14:00 KST
    evening = _mean_speed(demo, WED_0300_KST + timedelta(hours=15, minutes=30))  # 18:30 KST

    assert evening < midday


def test_saturday_morning_flows_better_than_wednesday_morning(demo):
    assert _mean_speed(demo, SAT_0800_KST) > 1.3 * _mean_speed(demo, WED_0800_KST)


def test_metr_la_peaks_follow_los_angeles_time():
    pack = load_pack("metr-la")
    la_0300 = datetime(2026, 11, 25, 11, 0, tzinfo=UTC)  # 03:00 PST
    la_0800 = datetime(2026, 11, 25, 16, 0, tzinfo=UTC)

    assert _mean_speed(pack, la_0800) < 0.7 * _mean_speed(pack, la_0300)


def test_incident_slows_its_link_then_spreads_upstream_then_clears(demo):
    root = next(link for link in demo.links if link.upstream and demo.link(link.upstream[0]).upstream)
    hop1 = demo.link(root.upstream[0])
    hop2 = demo.link(hop1.upstream[0])
    base, hit = CitySimulator(demo, SEED), CitySimulator(demo, SEED)
    t0 = WED_0300_KST
    i0, i1, i2 = (base.link_index[x.id] for x in (root, hop1, hop2))
    hit.start_incident(root.id, t0, minutes=20, severity=0.7)

    def ratio(at: datetime) -> np.ndarray:
        base.step(at)
        hit.step(at)
        return hit.speed / base.speed

    at_start = ratio(t0 + timedelta(seconds=10))
    after_5min = ratio(t0 + timedelta(minutes=5))
    after_9min = ratio(t0 + timedelta(minutes=9))
    after_clear = ratio(t0 + timedelta(minutes=40))

    assert at_start[i0] < 0.5 and at_start[i1] == pytest.approx(1.0) and at_start[i2] == pytest.approx(1.0)
    assert after_5min[i1] < 0.8 and after_5min[i2] == pytest.approx(1.0)
    assert after_9min[i2] < 0.9
    assert after_clear[[i0, i1, i2]] == pytest.approx(np.ones(3))


def test_fault_model_hits_about_three_in_a_thousand_readings():
    faults = FaultModel(20_000, SENSOR_FAULTS, np.random.default_rng(1))

    for k in range(2_000):
        faults.step(1_800_000_000 + 10.0 * k, 10.0)

    assert faults.fraction == pytest.approx(FAULT_RATE, rel=0.2)
    assert set(faults.by_kind) == {"spike", "dropout", "stuck", "drift"}


def test_about_three_in_a_thousand_readings_are_faulty_over_two_days_of_the_demo_city(demo):
    sim = CitySimulator(demo, SEED)

    for k in range(2 * 288):
        sim.step(WED_0300_KST + timedelta(minutes=5 * k))

    assert sim.faults.readings == 2 * 288 * len(sim.reporting)
    assert sim.faults.fraction == pytest.approx(FAULT_RATE, rel=0.35)


def test_bus_faults_jitter_drop_and_freeze_positions(demo):
    sim = CitySimulator(demo, SEED)
    sim.bus_faults.rate = 0.1
    missing = 0

    for k in range(100):
        missing += len(demo.buses) - len(sim.step(WED_0300_KST + timedelta(seconds=10 * k))[1])

    assert missing > 0
    assert sim.bus_faults.by_kind.keys() == {"gps_jitter", "dropout", "stuck"}


def test_simulated_faults_show_in_what_is_sent(demo):
    sim = CitySimulator(demo, SEED)
    sim.faults.rate = 0.05  # many faults, so each kind appears in a short run
    expected = len(sim.reporting)
    missing = stuck_repeats = 0
    previous: dict[str, dict] = {}

    for k in range(200):
        obs, _, _ = sim.step(WED_0300_KST + timedelta(seconds=10 * k))
        missing += expected - len(obs)
        for o in obs:
            if previous.get(o["sensor_id"]) == o["values"]:
                stuck_repeats += 1
            previous[o["sensor_id"]] = o["values"]

    assert missing > 0  # dropouts leave sensors silent
    assert stuck_repeats > 0  # stuck sensors repeat themselves exactly
    assert sim.faults.by_kind.keys() == {"spike", "dropout", "stuck", "drift"}


def test_cctv_events_arrive_at_about_2800_a_day_at_seoul_scale():
    seoul = load_pack("seoul", "seoul", SEED)
    cameras_only = replace(seoul, links=(), sensors=tuple(seoul.sensors_of("camera")), routes=(), buses=())
    sim = CitySimulator(cameras_only, SEED)
    days = 10

    events = []
    for k in range(days * 288):
        events += sim.step(WED_0300_KST + timedelta(minutes=5 * k))[2]

    per_day = len(events) / days
    assert per_day == pytest.approx(2800, rel=0.05)
    assert set(Counter(e["category"] for e in events)) == set(CCTV_CATEGORIES)
    truth = Counter((t.category, t.true_positive) for t in sim.cctv_truth)
    for cat in ("traffic_accident", "crowd_density", "aggressive_behaviour", "illegal_parking"):
        rate = truth[(cat, True)] / (truth[(cat, True)] + truth[(cat, False)])
        assert rate == pytest.approx(CCTV_MIX[cat].true_positive, abs=0.04), cat


def test_cctv_events_carry_the_contracts_fields_and_no_ground_truth(demo):
    sim = CitySimulator(demo, SEED)

    events = []
    for k in range(300):
        events += sim.step(WED_0800_KST + timedelta(minutes=5 * k))[2]

    assert events
    for e in events:
        assert set(e) == {"camera_id", "category", "confidence", "time", "district", "lat", "lon"}
        assert 0 <= e["confidence"] <= 1
    assert len(sim.cctv_truth) == len(events)


def test_cctv_mix_covers_the_alert_categories_with_shares_summing_to_one():
    assert tuple(CCTV_MIX) == CCTV_CATEGORIES
    assert sum(c.share for c in CCTV_MIX.values()) == pytest.approx(1.0)
    assert (CCTV_MIX["traffic_accident"].true_positive, CCTV_MIX["crowd_density"].true_positive,
            CCTV_MIX["aggressive_behaviour"].true_positive) == (0.87, 0.78, 0.62)


def test_pm25_stays_in_seouls_typical_range_with_occasional_episodes(demo):
    sim = CitySimulator(demo, SEED)
    hours = [1_767_225_600 + 3600 * h for h in range(24 * 365)]  # 2026

    pm = np.array([sim.regional_pm25(t) for t in hours])

    assert 12 <= np.median(pm) <= 40
    assert np.percentile(pm, 5) >= 5 and np.percentile(pm, 90) <= 80
    assert pm.max() > 70  # an episode happened during the year
    assert (pm > 70).mean() < 0.05


def test_no2_follows_traffic(demo):
    sim_night, sim_peak = CitySimulator(demo, SEED), CitySimulator(demo, SEED)

    night = [o["values"]["no2"] for o in sim_night.step(WED_0300_KST)[0] if "no2" in o["values"]]
    peak = [o["values"]["no2"] for o in sim_peak.step(WED_0800_KST)[0] if "no2" in o["values"]]

    assert np.median(peak) > 1.5 * np.median(night)


def test_buses_move_along_their_routes(demo):
    sim = CitySimulator(demo, SEED)

    first = sim.step(WED_0300_KST)[1]
    later = sim.step(WED_0300_KST + timedelta(minutes=2))[1]

    moved = [b for b in first if b in later and (first[b]["lat"], first[b]["lon"]) != (later[b]["lat"], later[b]["lon"])]
    assert len(moved) > 0.9 * len(demo.buses)
    assert set(next(iter(later.values()))) == {"t", "lat", "lon", "route", "speed_kmh", "heading"}


def test_same_seed_and_clock_reproduce_a_run_and_another_seed_does_not(demo):
    a, b, c = CitySimulator(demo, 1), CitySimulator(demo, 1), CitySimulator(demo, 2)
    times = [WED_0800_KST + timedelta(seconds=10 * k) for k in range(20)]

    run_a = [a.step(t) for t in times]
    run_b = [b.step(t) for t in times]
    run_c = [c.step(t) for t in times]

    assert run_a == run_b
    assert run_a != run_c


def test_true_accident_detections_come_from_cameras_next_to_simulated_incidents():
    seoul = load_pack("seoul", "seoul", SEED)
    sim = CitySimulator(seoul, SEED)

    events = []
    for k in range(48):  # four hours of a weekday morning, 5-minute ticks
        events += sim.step(WED_0800_KST - timedelta(hours=1) + timedelta(minutes=5 * k))[2]

    truth = {(t.camera_id, t.category, t.time): t.true_positive for t in sim.cctv_truth}
    accidents = [e for e in events if e["category"] == "traffic_accident" and truth[(e["camera_id"], e["category"], e["time"])]]
    near = 0
    for e in accidents:
        for inc in sim.incident_log:
            if inc.start <= datetime.fromisoformat(e["time"]).timestamp() < inc.end:
                (la0, lo0), (la1, lo1) = seoul.link(inc.link_id).coords
                if abs((la0 + la1) / 2 - e["lat"]) < 0.015 and abs((lo0 + lo1) / 2 - e["lon"]) < 0.015:
                    near += 1
                    break
    assert len(sim.incident_log) >= 3 and len(accidents) >= 3
    assert near >= min(len(accidents), len(sim.incident_log)) // 2
