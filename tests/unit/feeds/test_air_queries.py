from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from feeds import air_queries as aq
from feeds.aqi import cai_sub_index, pm_24h_predicted
from feeds.citypack import CityPack, SensorSite, seoul_districts
from store.errors import ValidationError

NOW = datetime(2026, 11, 26, 3, 20, tzinfo=UTC)
HOURS = aq.hour_starts(NOW, 24)
ALL = {"pm25": "ug/m3", "pm10": "ug/m3", "o3": "ppm", "no2": "ppm", "co": "ppm", "so2": "ppm"}
JONGNO, JUNG = seoul_districts()[0].name_en, seoul_districts()[1].name_en


def _site(sid: str, district: str) -> SensorSite:
    return SensorSite(sid, "air", 37.57, 126.98, district, ALL)


def _pack(*sites: SensorSite) -> CityPack:
    return CityPack("test", "demo", (37.57, 126.98), seoul_districts()[:3], sensors=sites)


def _means(pm25: list[float], pm10: float = 40.0, o3: float = 0.02, no2: float = 0.02) -> dict[str, dict[datetime, float]]:
    """24 hourly means oldest -> newest for PM2.5; the others flat."""
    return {"pm25": dict(zip(HOURS, pm25, strict=True)), "pm10": dict.fromkeys(HOURS, pm10),
            "o3": dict.fromkeys(HOURS, o3), "no2": dict.fromkeys(HOURS, no2), "co": dict.fromkeys(HOURS, 0.5),
            "so2": dict.fromkeys(HOURS, 0.003)}


def _reading(values: dict[str, float], qa: dict[str, str] | None = None, at: datetime = NOW) -> dict:
    return {"t": at.isoformat(), "v": values, "qa": qa or dict.fromkeys(values, "ok"), "d": JONGNO}


def test_pm_cai_uses_the_24h_predicted_average_of_hourly_means() -> None:
    pm25 = [10.0] * 12 + [20, 20, 20, 20, 30, 30, 40, 40, 50, 60, 70, 80]
    site = _site("A1", JONGNO)

    s = aq.sensor_air(site, {"A1": _means(pm25, pm10=10)}, None, NOW)

    expected = pm_24h_predicted(pm25, "pm25")
    fig = s.cai.figures["pm25"]
    assert fig.window == aq.WINDOW_PM_CAI
    assert fig.concentration == pytest.approx(expected)
    assert fig.index == cai_sub_index("pm25", expected).index  # type: ignore[union-attr]
    assert (s.cai.pollutant, s.cai.window) == ("pm25", aq.WINDOW_PM_CAI)
    assert s.cai.figures["pm25"].concentration != pytest.approx(80.0)  # not the latest hour


def test_gases_use_the_mean_of_the_last_hour_and_us_ozone_the_8h_mean() -> None:
    means = _means([10.0] * 24)
    means["o3"] = dict(zip(HOURS, [0.02] * 16 + [0.05] * 7 + [0.08], strict=True))

    s = aq.sensor_air(_site("A1", JONGNO), {"A1": means}, None, NOW)

    assert (s.cai.figures["o3"].window, s.cai.figures["o3"].concentration) == ("1h", 0.08)
    assert s.us_aqi.figures["o3"].window == "8h"
    assert s.us_aqi.figures["o3"].concentration == pytest.approx((0.05 * 7 + 0.08) / 8)


@pytest.mark.parametrize("current_hour_in_history", [True, False])
def test_flagged_pm25_spike_does_not_change_the_district_cai(current_hour_in_history: bool) -> None:
    pack = _pack(_site("A1", JONGNO), _site("A2", JONGNO))
    history = {"A1": _means([20.0] * 24), "A2": _means([24.0] * 24)}
    if not current_hour_in_history:
        for m in history.values():
            del m["pm25"][HOURS[-1]]
    a2 = _reading({"pm25": 23})

    before = {d.district: d for d in aq.district_air(pack, history, {"A2": a2}, NOW)}
    after = {d.district: d for d in aq.district_air(pack, history, {"A1": _reading({"pm25": 900}, {"pm25": "flagged"}), "A2": a2}, NOW)}

    assert after[JONGNO].cai.value == before[JONGNO].cai.value
    assert after[JONGNO].cai.figures["pm25"].concentration == pytest.approx(before[JONGNO].cai.figures["pm25"].concentration)
    assert after[JONGNO].us_aqi.value == before[JONGNO].us_aqi.value


def test_a_validated_live_value_fills_the_empty_current_hour() -> None:
    history = {"A1": _means([20.0] * 24)}
    del history["A1"]["no2"][HOURS[-1]], history["A1"]["no2"][HOURS[-2]]

    with_live = aq.sensor_air(_site("A1", JONGNO), history, _reading({"no2": 0.07}), NOW)
    flagged_live = aq.sensor_air(_site("A1", JONGNO), history, _reading({"no2": 0.07}, {"no2": "flagged"}), NOW)

    assert with_live.cai.figures["no2"].concentration == 0.07
    assert flagged_live.cai.figures["no2"].concentration is None
    assert flagged_live.cai.figures["no2"].reason == "no validated value this hour or the hour before"
    assert flagged_live.unverified == ["no2"]


def test_gases_fall_back_to_the_previous_hour_early_in_an_hour_but_never_further() -> None:
    history = {"A1": _means([20.0] * 24, no2=0.03)}
    history["A1"]["no2"] = {HOURS[-2]: 0.07, HOURS[-3]: 0.5}

    fig = aq.sensor_air(_site("A1", JONGNO), history, None, NOW).cai.figures["no2"]
    del history["A1"]["no2"][HOURS[-2]]
    older = aq.sensor_air(_site("A1", JONGNO), history, None, NOW).cai.figures["no2"]

    assert (fig.window, fig.concentration) == ("1h", 0.07)
    assert older.concentration is None  # two hours old is not "the last hour"


def test_cai_is_withheld_with_a_reason_when_a_required_pollutant_is_missing() -> None:
    history = {"A1": _means([20.0] * 24)}
    del history["A1"]["o3"]

    s = aq.sensor_air(_site("A1", JONGNO), history, None, NOW)

    assert s.cai.value is None
    assert s.cai.reason is not None and "o3" in s.cai.reason
    assert s.us_aqi.value is not None  # the US index reports what is there


def test_pm_cai_is_withheld_with_fewer_than_four_hourly_means() -> None:
    history = {"A1": _means([20.0] * 24)}
    history["A1"]["pm25"] = {HOURS[-1]: 50.0, HOURS[-2]: 50.0, HOURS[-3]: 50.0}

    fig = aq.sensor_air(_site("A1", JONGNO), history, None, NOW).cai.figures["pm25"]

    assert fig.concentration is None
    assert fig.reason == "fewer than 4 hourly means in the last 12 h"


def test_us_pm_needs_18_of_24_hours() -> None:
    history = {"A1": _means([20.0] * 24)}
    history["A1"]["pm25"] = {h: 20.0 for h in HOURS[-17:]}

    fig = aq.sensor_air(_site("A1", JONGNO), history, None, NOW).us_aqi.figures["pm25"]

    assert fig.concentration is None and fig.reason == "17 of 24 hourly means (needs 18)"


def test_districts_are_ranked_worst_first_and_missing_ones_last() -> None:
    districts = seoul_districts()[:3]
    pack = _pack(_site("A1", districts[0].name_en), _site("A2", districts[1].name_en))
    history = {"A1": _means([20.0] * 24), "A2": _means([60.0] * 24)}

    ranked = aq.district_air(pack, history, {}, NOW)

    assert [d.district for d in ranked] == [districts[1].name_en, districts[0].name_en, districts[2].name_en]
    assert ranked[0].cai.grade == "unhealthy"
    assert ranked[-1].cai.value is None and ranked[-1].cai.reason == "no air sensors in this district"


def test_district_concentration_is_the_mean_of_its_sensors() -> None:
    pack = _pack(_site("A1", JONGNO), _site("A2", JONGNO))
    history = {"A1": _means([10.0] * 24, no2=0.02), "A2": _means([10.0] * 24, no2=0.10)}

    (jongno,) = [d for d in aq.district_air(pack, history, {}, NOW) if d.district == JONGNO]

    assert jongno.cai.figures["no2"].concentration == pytest.approx(0.06)
    assert jongno.reporting == 2


def test_map_class_is_the_chosen_pollutants_grade_and_flagged_never_looks_good() -> None:
    history = {"A1": _means([20.0] * 24), "A2": _means([60.0] * 24)}
    ok = aq.sensor_air(_site("A1", JONGNO), history, _reading({"pm25": 21}), NOW)
    spiked = aq.sensor_air(_site("A2", JONGNO), history, _reading({"pm25": 3}, {"pm25": "flagged"}), NOW)
    no_o3 = aq.sensor_air(_site("A3", JONGNO), {}, None, NOW)

    cai = aq.map_classes([ok, spiked, no_o3], "pm25", "cai")
    us = aq.map_classes([ok], "o3", "us")

    assert cai["A1"][0] == "moderate" and cai["A1"][1] == pytest.approx(20.0)
    assert cai["A2"][0] == "flagged"  # its 24 h figure is "unhealthy", its newest reading unverified
    assert cai["A3"] == [None, None]
    assert us["A1"][0] == "us_good" and us["A1"][1] == pytest.approx(0.02)


def test_map_refuses_a_pollutant_it_cannot_draw() -> None:
    with pytest.raises(ValidationError, match="pollutant must be one of"):
        aq.map_classes([], "benzene", "cai")
