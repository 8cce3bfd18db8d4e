"""The detection rules as pure functions: values in, candidates out."""
from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from alerts.const import CCTV_CATEGORIES
from alerts.rules import (
    AlertPoint,
    LinkInfo,
    LinkState,
    Place,
    Reading,
    SensorHealth,
    default_rules,
    drifting,
    evaluate_air,
    evaluate_cctv,
    evaluate_speed,
    evaluate_threshold,
    find_partner,
    load_rules,
    parse_rules,
    silent_sensors,
)
from feeds.air_queries import Figure, cai_figure
from feeds.aqi import cai_sub_index
from store.errors import ValidationError

T0 = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)
RULES = default_rules()
JONGNO = Place("Jongno-gu", 37.59, 126.98)


def test_the_rules_file_covers_all_14_camera_categories():
    assert set(RULES.cctv) == set(CCTV_CATEGORIES) and len(CCTV_CATEGORIES) == 14


def test_a_camera_event_below_its_confidence_threshold_raises_nothing():
    ev = {"camera_id": "cam-1", "category": "fire_smoke", "confidence": 0.59, "district": "Jung-gu", "lat": 1.0, "lon": 2.0}

    assert evaluate_cctv(RULES, ev, T0) is None
    cand = evaluate_cctv(RULES, {**ev, "confidence": 0.6}, T0)
    assert cand is not None and (cand.category, cand.severity, cand.dedup_key) == ("fire_smoke", "critical", "fire_smoke|cam-1|cam-1")


def test_illegal_parking_folds_over_a_longer_window_than_a_crash():
    ev = {"camera_id": "c", "confidence": 0.99}
    parking = evaluate_cctv(RULES, {**ev, "category": "illegal_parking"}, T0)
    crash = evaluate_cctv(RULES, {**ev, "category": "traffic_accident"}, T0)

    assert parking is not None and crash is not None
    assert parking.dedup_minutes == 30 and crash.dedup_minutes == RULES.dedup_minutes


LINK = LinkInfo("L1", 60.0, "Jung-gu", 37.56, 126.98, downstream=("L0",))


def _run(speeds: list[float], usual: float | None = None, downstream: dict[str, LinkState] | None = None):
    state, out = LinkState(), []
    for i, v in enumerate(speeds):
        state, cand = evaluate_speed(RULES.traffic, LINK, v, usual, T0 + timedelta(minutes=2 * i), state, downstream or {})
        out.append(cand)
    return state, out


def test_speed_below_the_fraction_on_n_consecutive_readings_opens_an_incident():
    state, out = _run([20, 20, 20])  # 20 < 0.4 * 60

    assert out[:2] == [None, None] and out[2] is not None
    assert out[2].category == "traffic_incident" and out[2].group_hint == "traffic:L1" and state.low_count == 3


def test_a_normal_reading_resets_the_count():
    state, out = _run([20, 20, 50, 20, 20])

    assert out == [None] * 5 and state.low_count == 2


def test_the_usual_speed_for_the_hour_replaces_free_flow_when_known():
    _, out = _run([20, 20, 20], usual=40.0)  # 20 is not below 0.4 * 40

    assert out == [None, None, None]


def test_links_usually_crawling_never_trip():
    _, out = _run([1, 1, 1], usual=10.0)  # below min_usual_kmh: congestion is normal there

    assert out == [None, None, None]


def test_a_link_collapsing_behind_a_jammed_link_joins_its_jam():
    _, out = _run([10, 10, 10], downstream={"L0": LinkState(5, "L9")})

    assert out[2] is not None and out[2].group_hint == "traffic:L9" and out[2].detail["head_link"] == "L9"


def _figures(**concentrations: float) -> dict[str, Figure]:
    """District figures whose windowed concentration is the given one, graded as `feeds.air_queries` grades."""
    out = {}
    for p, c in concentrations.items():
        sub = cai_sub_index(p, c)
        out[p] = Figure(p, "24h-predicted" if p in ("pm25", "pm10") else "1h", c, sub.index, sub.grade, sub.level)
    return out


@pytest.mark.parametrize(("pm25", "expected"), [(15.0, None), (35.0, None), (36.0, "major"), (75.0, "major"), (76.0, "critical")])
def test_pm25_cai_bands_map_to_severities(pm25, expected):
    cands = evaluate_air(RULES.air, _figures(pm25=pm25), T0, JONGNO)

    assert [c.severity for c in cands] == ([expected] if expected else [])


def test_air_alert_carries_the_regulatory_window_and_the_figure_the_air_page_shows():
    figs = _figures(pm25=60.0)

    [cand] = evaluate_air(RULES.air, figs, T0, JONGNO)

    assert cand.detail == {"pollutant": "pm25", "concentration": round(figs["pm25"].concentration, 4),
                           "window": "24h-predicted", "cai": figs["pm25"].index, "grade": "unhealthy"}


def test_a_withheld_figure_gives_no_verdict():
    too_few_hours = {"pm25": cai_figure("pm25", [None] * 21 + [90.0, 90.0, 90.0])}

    assert too_few_hours["pm25"].grade is None
    assert evaluate_air(RULES.air, too_few_hours, T0, JONGNO) == []


def test_one_alert_per_pollutant_and_district():
    pm, o3 = evaluate_air(RULES.air, _figures(pm25=60.0, o3=0.2), T0, JONGNO)

    assert {pm.detail["pollutant"], o3.detail["pollutant"]} == {"pm25", "o3"}
    assert {pm.dedup_key, o3.dedup_key} == {"air_quality|cai:pm25|Jongno-gu", "air_quality|cai:o3|Jongno-gu"}


def test_rules_file_with_the_old_air_window_is_refused_with_a_clear_message():
    raw = __import__("yaml").safe_load(Path("alerts/rules.yaml").read_text(encoding="utf-8"))
    raw["air"]["window_minutes"] = 60

    with pytest.raises(ValidationError, match="window_minutes"):
        parse_rules(raw)


def _reading(kind: str, quantity: str, value: float, qa: str = "ok") -> Reading:
    return Reading("S1", kind, "Mapo-gu", T0, {quantity: value}, {quantity: qa})


def _rule(key: str):  # type: ignore[no-untyped-def]
    return next(r for r in RULES.infrastructure if r.key == key)


def test_flagged_values_never_raise_an_emergency_but_released_ones_do():
    rule = _rule("methane")

    assert evaluate_threshold(rule, _reading("gas", "methane_ppm", 9000, "flagged"), None, JONGNO) is None
    released = evaluate_threshold(rule, _reading("gas", "methane_ppm", 9000, "released"), None, JONGNO)
    assert released is not None and released.severity == "critical"


def test_water_pressure_drop_compares_with_the_previous_reading():
    rule = _rule("water_pressure_drop")

    assert evaluate_threshold(rule, _reading("water", "pressure_kpa", 400), None, JONGNO) is None
    assert evaluate_threshold(rule, _reading("water", "pressure_kpa", 400), 450, JONGNO) is None
    major = evaluate_threshold(rule, _reading("water", "pressure_kpa", 300), 450, JONGNO)
    assert major is not None and major.severity == "major" and major.category == "water_leak"


@pytest.mark.parametrize(("key", "kind", "quantity", "value", "severity"), [
    ("sewer_level", "sewer", "level_cm", 160, "major"), ("sewer_level", "sewer", "level_cm", 210, "critical"),
    ("bridge_vibration", "bridge", "vibration_mm_s", 9, None), ("bridge_vibration", "bridge", "vibration_mm_s", 30, "critical"),
    ("water_pressure_low", "water", "pressure_kpa", 140, "critical"),
])
def test_gauge_levels(key, kind, quantity, value, severity):
    cand = evaluate_threshold(_rule(key), _reading(kind, quantity, value), None, JONGNO)

    assert (cand.severity if cand else None) == severity


def test_silent_past_three_intervals_is_a_minor_maintenance_alert():
    sensors = [SensorHealth("A", "air", T0 - timedelta(seconds=361), 120, JONGNO),
               SensorHealth("B", "air", T0 - timedelta(seconds=359), 120, JONGNO)]

    [cand] = silent_sensors(RULES.health, sensors, T0)

    assert (cand.source, cand.category, cand.severity) == ("A", "maintenance", "minor")


def test_drift_needs_enough_bad_values_within_the_window():
    times = [T0 - timedelta(minutes=m) for m in (1, 2, 3, 4, 70)]

    assert drifting(RULES.health, "S", "air", times, T0, JONGNO) is None
    cand = drifting(RULES.health, "S", "air", times + [T0], T0, JONGNO)
    assert cand is not None and cand.severity == "info" and cand.detail["bad_values"] == 5


def test_related_alerts_are_same_family_close_in_space_and_time():
    a = AlertPoint(1, "traffic_accident", 37.5600, 126.98, T0)
    near = AlertPoint(2, "stopped_vehicle", 37.5620, 126.98, T0 + timedelta(minutes=5), incident_id=7)
    other_family = AlertPoint(3, "fire_smoke", 37.5600, 126.98, T0)
    far = AlertPoint(4, "traffic_accident", 37.6000, 126.98, T0)
    late = AlertPoint(5, "traffic_accident", 37.5600, 126.98, T0 + timedelta(minutes=20))

    assert find_partner(RULES.incidents, a, [other_family, far, late]) is None
    assert find_partner(RULES.incidents, a, [other_family, near, far]) == near


def test_a_broken_rules_file_is_refused_with_the_entry_named(tmp_path: Path):
    raw = __import__("yaml").safe_load(Path("alerts/rules.yaml").read_text(encoding="utf-8"))

    with pytest.raises(ValidationError, match="cctv.fire_smoke"):
        parse_rules({**raw, "cctv": {**raw["cctv"], "fire_smoke": {"min_confidence": 0.5, "severity": "doom"}}})
    with pytest.raises(ValidationError, match="unknown category 'ufo'"):
        parse_rules({**raw, "cctv": {"ufo": {"min_confidence": 0.5, "severity": "info"}}})
    with pytest.raises(ValidationError, match="never an emergency"):
        parse_rules({**raw, "health": {**raw["health"], "silent_severity": "critical"}})
    with pytest.raises(ValidationError, match="missing or malformed"):
        parse_rules({k: v for k, v in raw.items() if k != "traffic"})
    bad = tmp_path / "rules.yaml"
    bad.write_text("cctv: [unclosed", encoding="utf-8")
    with pytest.raises(ValidationError, match="cannot be read"):
        load_rules(bad)


def test_an_edited_threshold_changes_the_rule():
    raw = __import__("yaml").safe_load(Path("alerts/rules.yaml").read_text(encoding="utf-8"))
    edited = parse_rules({**raw, "traffic": {**raw["traffic"], "consecutive": 1}})

    state, cand = evaluate_speed(edited.traffic, LINK, 10, None, T0, LinkState(), {})

    assert cand is not None and dataclasses.asdict(state)["low_count"] == 1
