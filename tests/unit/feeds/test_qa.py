from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from feeds import qa
from feeds.qa import QUANTITIES, SensorSpec, TrailingStats, assess

T0 = datetime(2026, 11, 25, 0, 0, tzinfo=UTC)
AIR = SensorSpec("air-1", "air", "air", "Jongno-gu", {"pm25": "ug/m3", "pm10": "ug/m3", "o3": "ppm"})
SENSORS = {AIR.id: AIR}


def obs(values: dict[str, Any], at: datetime = T0, sensor_id: Any = "air-1") -> dict[str, Any]:
    return {"sensor_id": sensor_id, "time": at.isoformat(), "values": values}


def stable_history(stats: TrailingStats, n: int = 200, mean: float = 20.0, sd: float = 2.0, seed: int = 1) -> list[float]:
    rng = random.Random(seed)
    values = [rng.gauss(mean, sd) for _ in range(n)]
    batch = [obs({"pm25": v}, T0 + timedelta(minutes=2 * i)) for i, v in enumerate(values)]
    assess(batch, SENSORS, stats)
    return values


def test_contract_quantities_are_all_in_the_table() -> None:
    names = ("pm25 pm10 o3 no2 co so2 temperature_c humidity_pct noise_db speed_kmh volume_vph occupancy_pct "
             "pressure_kpa methane_ppm level_cm vibration_mm_s flow_m3h strain_ue").split()

    assert set(names) == set(QUANTITIES)
    assert all(q.low < q.high and q.min_sigma > 0 for q in QUANTITIES.values())


@pytest.mark.parametrize("value", [-5, 2000])
def test_pm25_outside_plausible_range_is_quarantined(value: float) -> None:
    verdict = assess([obs({"pm25": value, "pm10": 30})], SENSORS, TrailingStats())

    assert verdict.counts == {"ok": 1, "flagged": 0, "quarantined": 1, "rejected": 0}
    (a,) = verdict.assessed
    assert a.values == {"pm10": 30}
    assert a.quarantined[0][:2] == ("pm25", value)
    assert "outside plausible 0..1000" in a.quarantined[0][2]


def test_range_bounds_themselves_are_plausible() -> None:
    verdict = assess([obs({"pm25": 0, "pm10": 2000, "o3": 1.0})], SENSORS, TrailingStats())

    assert verdict.counts["ok"] == 3


def test_sudden_five_sigma_jump_is_flagged_after_stable_history() -> None:
    stats = TrailingStats()
    history = stable_history(stats)
    mean, sd = sum(history) / len(history), math.sqrt(sum((v - sum(history) / len(history)) ** 2 for v in history) / len(history))

    verdict = assess([obs({"pm25": mean + 5 * sd}, T0 + timedelta(hours=7))], SENSORS, stats)

    assert verdict.counts == {"ok": 0, "flagged": 1, "quarantined": 0, "rejected": 0}
    assert verdict.assessed[0].qa == {"pm25": "flagged"}
    assert verdict.assessed[0].values == {"pm25": pytest.approx(mean + 5 * sd)}  # flagged is still accepted


def test_two_sigma_move_is_not_flagged() -> None:
    stats = TrailingStats()
    history = stable_history(stats)
    mean = sum(history) / len(history)

    verdict = assess([obs({"pm25": mean + 2 * 2.0}, T0 + timedelta(hours=7))], SENSORS, stats)

    assert verdict.counts["ok"] == 1


def test_no_flag_before_minimum_history() -> None:
    stats = TrailingStats()
    assess([obs({"pm25": 20.0 + (i % 2) * 0.1}, T0 + timedelta(minutes=i)) for i in range(qa.MIN_SAMPLES - 1)], SENSORS, stats)

    verdict = assess([obs({"pm25": 500.0}, T0 + timedelta(hours=1))], SENSORS, stats)

    assert verdict.counts["ok"] == 1


def test_history_older_than_24_hours_leaves_the_window() -> None:
    stats = TrailingStats()
    stable_history(stats, n=100, mean=20.0, sd=1.0)

    verdict = assess([obs({"pm25": 80.0}, T0 + timedelta(hours=30))], SENSORS, stats)

    assert verdict.counts["ok"] == 1  # the old history expired: nothing to compare with
    assert stats.series("air-1", "pm25").n == 0


def test_yardstick_is_the_24_complete_hours_before_the_value() -> None:
    stats = TrailingStats()
    rng = random.Random(7)
    points = [(T0 + timedelta(minutes=10 * i), rng.uniform(400, 401)) for i in range(300)]  # 50 h
    assess([obs({"pm25": v}, t) for t, v in points], SENSORS, stats)
    hour = points[-1][0].replace(minute=0)
    window = [v for t, v in points if hour - timedelta(hours=24) <= t < hour]

    mean, sd = stats.series("air-1", "pm25").mean_sd()

    m = sum(window) / len(window)
    assert stats.series("air-1", "pm25").n == len(window) == 144
    assert mean == pytest.approx(m, rel=1e-9)
    assert sd == pytest.approx(math.sqrt(sum((v - m) ** 2 for v in window) / len(window)), rel=1e-6)


def test_late_data_of_an_earlier_hour_joins_its_hour() -> None:
    stats = TrailingStats()
    stable_history(stats, n=200)
    before = stats.series("air-1", "pm25").n

    assess([obs({"pm25": 21.0}, T0 + timedelta(hours=1, minutes=5))], SENSORS, stats)

    assert stats.series("air-1", "pm25").n == before + 1


def test_string_where_a_number_belongs_is_rejected() -> None:
    verdict = assess([obs({"pm25": "12.5", "pm10": 30})], SENSORS, TrailingStats())

    assert verdict.counts == {"ok": 1, "flagged": 0, "quarantined": 0, "rejected": 1}
    assert verdict.rejections[0].quantity == "pm25"
    assert "must be a number, not str" in verdict.rejections[0].reason


@pytest.mark.parametrize("value", [True, None, [1], float("nan"), float("inf")])
def test_non_numbers_and_non_finite_values_are_rejected(value: Any) -> None:
    verdict = assess([obs({"pm25": value})], SENSORS, TrailingStats())

    assert verdict.counts["rejected"] == 1
    assert verdict.assessed == []


def test_unknown_sensor_is_rejected_with_all_its_values() -> None:
    verdict = assess([obs({"pm25": 1, "pm10": 2}, sensor_id="nope")], SENSORS, TrailingStats())

    assert verdict.counts["rejected"] == 2
    assert verdict.rejections[0].sensor_id == "nope"
    assert "unknown sensor" in verdict.rejections[0].reason


def test_unknown_quantity_and_quantity_the_sensor_lacks_are_rejected() -> None:
    verdict = assess([obs({"pm1": 3, "speed_kmh": 40, "pm25": 10})], SENSORS, TrailingStats())

    assert verdict.counts == {"ok": 1, "flagged": 0, "quarantined": 0, "rejected": 2}
    reasons = {r.quantity: r.reason for r in verdict.rejections}
    assert "unknown quantity" in reasons["pm1"]
    assert "does not measure 'speed_kmh'" in reasons["speed_kmh"]


@pytest.mark.parametrize(("observation", "why"), [
    ("air-1", "must be a JSON object"),
    ({"time": T0.isoformat(), "values": {"pm25": 1}}, "sensor_id"),
    ({"sensor_id": 5, "time": T0.isoformat(), "values": {"pm25": 1}}, "sensor_id"),
    ({"sensor_id": "air-1", "values": {"pm25": 1}}, "time must be"),
    ({"sensor_id": "air-1", "time": "2026-11-25T00:00:00", "values": {"pm25": 1}}, "no UTC offset"),
    ({"sensor_id": "air-1", "time": "yesterday", "values": {"pm25": 1}}, "not ISO 8601"),
    ({"sensor_id": "air-1", "time": ["x"], "values": {"pm25": 1}}, "time must be"),
    ({"sensor_id": "air-1", "time": T0.isoformat(), "values": []}, "values must be"),
    ({"sensor_id": "air-1", "time": T0.isoformat()}, "values must be"),
])
def test_malformed_envelopes_are_rejected_with_their_index(observation: Any, why: str) -> None:
    verdict = assess([obs({"pm25": 1}), observation], SENSORS, TrailingStats())

    assert verdict.counts["ok"] == 1
    assert len(verdict.rejections) == 1
    assert verdict.rejections[0].index == 1
    assert why in verdict.rejections[0].reason


def test_times_are_normalised_to_utc() -> None:
    verdict = assess([obs({"pm25": 1}, at=datetime(2026, 11, 25, 9, 0, tzinfo=UTC).astimezone(
        __import__("zoneinfo").ZoneInfo("Asia/Seoul")))], SENSORS, TrailingStats())

    assert verdict.assessed[0].time_iso == "2026-11-25T09:00:00+00:00"


def test_undo_takes_a_failed_batch_back_out_of_the_history() -> None:
    stats = TrailingStats()
    stable_history(stats, n=50)
    assess([obs({"pm25": 20.0}, T0 + timedelta(hours=3))], SENSORS, stats)
    before = (stats.series("air-1", "pm25").n, stats.series("air-1", "pm25").mean_sd())
    verdict = assess([obs({"pm25": 40.0 + i}, T0 + timedelta(hours=1, minutes=i)) for i in range(10)], SENSORS, stats)
    assert stats.series("air-1", "pm25").n == before[0] + 10

    qa.undo(verdict)

    assert stats.series("air-1", "pm25").n == before[0]
    assert stats.series("air-1", "pm25").mean_sd() == pytest.approx(before[1])


def test_persisted_buckets_restore_the_same_statistics() -> None:
    stats = TrailingStats()
    stable_history(stats, n=300)
    rows = stats.take_dirty()
    restored = TrailingStats()

    for hour, fields in rows.items():
        for key, row in fields.items():
            sensor_id, quantity = key.split("|")
            n, s, ss, ref = row.split()
            restored.load(sensor_id, quantity, hour, int(n), float(s), float(ss), float(ref))
    restored.loaded()

    a, b = stats.series("air-1", "pm25"), restored.series("air-1", "pm25")
    assert (b.n, b.hour) == (a.n, a.hour)
    assert b.mean_sd() == pytest.approx(a.mean_sd())
    assert stats.take_dirty() == {}


@pytest.mark.parametrize(("quantities", "problem"), [
    ({"pm25": "ug/m3", "no2": "ppm"}, None),
    ({"pm25": "µg/m³"}, None),
    ({"pm25": "ppm"}, "pm25 is measured in ug/m3"),
    ({"pm1": "ug/m3"}, "unknown quantity"),
])
def test_sensor_units_are_checked_at_registration(quantities: dict[str, str], problem: str | None) -> None:
    problems = qa.check_units(quantities)

    assert (problems == []) if problem is None else any(problem in p for p in problems)


@given(st.lists(st.tuples(st.integers(0, 60), st.floats(0, 1000, allow_nan=False)), min_size=1, max_size=300))
@settings(max_examples=150, deadline=None)
def test_yardstick_equals_a_brute_force_computation(points: list[tuple[int, float]]) -> None:
    stats = TrailingStats()
    assess([obs({"pm25": v}, T0 + timedelta(hours=h)) for h, v in points], SENSORS, stats)
    seen: list[tuple[int, float]] = []
    for h, v in points:  # what the series remembers: values not older than the window at their arrival
        current = max([h, *[x for x, _ in seen]])
        if h >= current - qa.WINDOW_HOURS:
            seen.append((h, v))
    last = max(h for h, _ in seen)
    window = [v for h, v in seen if last - qa.WINDOW_HOURS <= h < last]

    ser = stats.series("air-1", "pm25")

    assert ser.n == len(window)
    if len(window) >= qa.MIN_SAMPLES:
        m = sum(window) / len(window)
        sd = math.sqrt(sum((v - m) ** 2 for v in window) / len(window))
        assert ser.mean_sd()[0] == pytest.approx(m, rel=1e-9, abs=1e-9)
        assert ser.mean_sd()[1] == pytest.approx(sd, rel=1e-6, abs=1e-6)
    else:
        assert math.isnan(ser.mean_sd()[0])
