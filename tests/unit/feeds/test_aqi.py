from __future__ import annotations

import pytest

from feeds import aqi


@pytest.mark.parametrize(("pollutant", "c", "index", "grade"), [
    ("pm25", 15, 50, "good"),
    ("pm25", 35, 100, "moderate"),
    ("pm25", 36, 101, "unhealthy"),
    ("pm25", 75, 250, "unhealthy"),
    ("pm25", 76, 251, "very_unhealthy"),
    ("pm10", 80, 100, "moderate"),
    ("o3", 0.091, 101, "unhealthy"),
    ("no2", 0.2005, 250, "unhealthy"),  # between bands: still the lower band, top index
    ("co", 2.0, 50, "good"),
])
def test_cai_band_edges(pollutant: str, c: float, index: int, grade: str) -> None:
    sub = aqi.cai_sub_index(pollutant, c)

    assert sub is not None
    assert (sub.index, sub.grade) == (index, grade)


def test_cai_needs_the_four_main_pollutants() -> None:
    assert aqi.cai({"pm25": 20, "pm10": 40, "o3": 0.02}) is None


def test_cai_is_the_worst_sub_index_and_names_it() -> None:
    idx = aqi.cai({"pm25": 50, "pm10": 40, "o3": 0.02, "no2": 0.02})

    assert idx is not None
    assert idx.pollutant == "pm25"
    assert idx.grade == "unhealthy"


def test_us_aqi_2024_pm25_breakpoints() -> None:
    assert aqi.us_aqi_sub_index("pm25", 9.0).index == 50  # type: ignore[union-attr]
    assert aqi.us_aqi_sub_index("pm25", 35.45).index == 100  # truncated to 35.4 first  # type: ignore[union-attr]
    assert aqi.us_aqi_sub_index("pm25", 55.5).index == 151  # type: ignore[union-attr]


def test_predicted_average_adjusts_high_recent_hours() -> None:
    hourly = [40.0] * 8 + [60.0] * 4  # C12 = 46.67; recent 60 >= 30 and 60/46.67 = 1.29 -> 45

    c = aqi.pm_24h_predicted(hourly, "pm25")

    assert c == pytest.approx((46.6667 * 12 + 45 * 12) / 24, rel=1e-3)


def test_negative_or_missing_concentration_has_no_index() -> None:
    assert aqi.cai_sub_index("pm25", -1) is None
