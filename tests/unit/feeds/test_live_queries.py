"""The live screens' pure rules: what class a reading is drawn with, and when a feed is stale."""
from __future__ import annotations

from feeds.live_queries import (
    domain_intervals,
    feed_health,
    feed_interval_s,
    median_interval_s,
    speed_class,
    wire_delta,
    wire_state,
)
from store.settings import Settings


def test_link_speeds_fall_into_topis_classes() -> None:
    assert speed_class(42.0) == "free"
    assert speed_class(25.0) == "free"
    assert speed_class(20.0) == "slow"
    assert speed_class(14.9) == "congested"
    assert speed_class(None) is None


def test_flagged_speed_is_never_drawn_as_good() -> None:
    state = {"t": "2026-11-26T03:00:00+00:00", "v": {"speed_kmh": 80.0}, "qa": {"speed_kmh": "flagged"}}

    assert wire_state("traffic", state)[0] == "flagged"


def test_quarantined_pm25_is_drawn_flagged_even_when_other_values_are_good() -> None:
    state = {"t": "2026-11-26T03:00:00+00:00", "v": {"pm25": 5.0, "pm10": 10.0},
             "qa": {"pm25": "quarantined", "pm10": "ok"}}

    assert wire_state("air", state)[0] == "flagged"


def test_air_sensor_class_is_the_worst_cai_grade_of_its_good_values() -> None:
    clean = {"t": "x", "v": {"pm25": 10.0, "pm10": 20.0}, "qa": {"pm25": "ok", "pm10": "ok"}}
    smoggy = {"t": "x", "v": {"pm25": 10.0, "pm10": 200.0}, "qa": {"pm25": "ok", "pm10": "ok"}}

    assert wire_state("air", clean)[0] == "good"
    assert wire_state("air", smoggy)[0] == "very_unhealthy"


def test_a_delta_reaches_the_browser_as_class_and_value_per_entity() -> None:
    payload = {"domain": "traffic", "sent_at": 1.5, "changes": {
        "D1": {"t": "2026-11-26T03:00:00+00:00", "v": {"speed_kmh": 12.0}, "qa": {"speed_kmh": "ok"}}}}

    wire = wire_delta("traffic", payload)

    assert wire == {"domain": "traffic", "sent_at": 1.5, "n": 1,
                    "changes": {"D1": ["congested", 12.0]}}


def test_alert_deltas_carry_only_severity_and_state_of_each_changed_alert() -> None:
    wire = wire_delta("alerts", {"domain": "alerts", "sent_at": 2.0,
                                 "changes": {"7": {"state": "open", "severity": "critical", "detail": {"x": 1}}}})

    assert wire["changes"] == {"7": {"severity": "critical", "state": "open"}} and wire["n"] == 1
    assert "notify" not in wire


def test_commands_deltas_carry_no_rows_only_the_news_that_counts_changed() -> None:
    wire = wire_delta("commands", {"domain": "commands", "sent_at": 2.0, "changes": {"7": {"state": "pending"}}})

    assert wire["changes"] == {} and wire["n"] == 1


def test_feed_is_stale_after_missing_two_intervals() -> None:
    assert not feed_health("air", last=1000.0, interval_s=120, now=1000.0 + 239).stale
    assert feed_health("air", last=1000.0, interval_s=120, now=1000.0 + 241).stale


def test_feed_that_never_reported_is_stale() -> None:
    assert feed_health("traffic", last=None, interval_s=10, now=5.0).stale


def test_a_domains_interval_is_the_upper_median_of_its_sensors() -> None:
    assert median_interval_s({60.0: 1, 300.0: 1}) == 300.0
    assert median_interval_s({10.0: 1, 120.0: 5, 3600.0: 2}) == 120.0
    assert median_interval_s({}) is None


def test_a_few_slow_or_fast_sensors_do_not_move_the_domains_interval() -> None:
    rows = [("air", 120, 1100), ("air", 3600, 3), ("detector", 300, 5200), ("detector", 10, 2), ("water", 600, 40)]

    assert domain_intervals(rows) == {"air": 120.0, "traffic": 300.0, "infra": 600.0}


def test_a_domain_without_sensors_falls_back_to_the_simulator_interval() -> None:
    settings = Settings(sim_interval_s=10, _env_file=None)  # type: ignore[call-arg]

    assert feed_interval_s(settings, "bus", {"air": 120.0}) == 10.0
    assert feed_interval_s(settings, "air", {"air": 120.0}) == 120.0
    assert feed_interval_s(settings, "air", None) == 10.0


def test_a_feed_with_a_longer_interval_is_not_stale_after_two_short_ones() -> None:
    settings = Settings(sim_interval_s=10, _env_file=None)  # type: ignore[call-arg]
    intervals = domain_intervals([("air", 120, 3), ("detector", 10, 3)])

    air = feed_health("air", last=1000.0, interval_s=feed_interval_s(settings, "air", intervals), now=1000.0 + 60)
    traffic = feed_health("traffic", last=1000.0, interval_s=feed_interval_s(settings, "traffic", intervals), now=1000.0 + 60)

    assert not air.stale
    assert traffic.stale
