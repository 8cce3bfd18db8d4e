from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from feeds import traffic_queries as tq
from feeds.citypack import CityPack, Corridor, Link, SensorSite, seoul_districts
from store.errors import ValidationError

NOW = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)  # 12:00 Thursday in Seoul
SEOUL = ZoneInfo("Asia/Seoul")


def _link(i: int, length_m: float = 1000.0, free: float = 60.0) -> Link:
    return Link(id=f"L{i}", name=f"Road {i}", district="Jongno-gu", coords=((37.57, 126.97 + i / 100), (37.57, 126.98 + i / 100)),
                length_m=length_m, lanes=2, free_speed_kmh=free, detector_id=f"D{i}")


def _pack(links: list[Link], corridors: tuple[Corridor, ...] = ()) -> CityPack:
    sensors = tuple(SensorSite(ln.detector_id, "detector", 37.57, 126.97, ln.district, {"speed_kmh": "km/h"}, 120, ln.id) for ln in links)
    return CityPack("test", "demo", (37.57, 126.98), seoul_districts()[:1], tuple(links), sensors, corridors=corridors)


def _reading(speed: float, qa: str = "ok", age_s: float = 30) -> dict:
    return {"t": (NOW - timedelta(seconds=age_s)).isoformat(), "v": {"speed_kmh": speed}, "qa": {"speed_kmh": qa}, "d": "Jongno-gu"}


def test_link_speed_gets_its_class_and_congestion_index() -> None:
    pack = _pack([_link(1), _link(2), _link(3)])

    states = tq.link_states(pack, {"D1": _reading(25), "D2": _reading(24.9), "D3": _reading(12)}, NOW)

    assert [states[i].speed_class for i in ("L1", "L2", "L3")] == ["free", "slow", "congested"]
    assert states["L3"].congestion_index == pytest.approx(80.0)
    assert states["L1"].travel_time_s == pytest.approx(1000 / (25 / 3.6))


@pytest.mark.parametrize(("qa", "age_s", "status"), [("flagged", 30, "flagged"), ("quarantined", 30, "quarantined"), ("ok", 241, "stale")])
def test_untrusted_speed_is_shown_as_unverified_never_as_a_class(qa: str, age_s: float, status: str) -> None:
    pack = _pack([_link(1)])

    state = tq.link_states(pack, {"D1": _reading(5, qa, age_s)}, NOW)["L1"]

    assert (state.status, state.speed_class, state.level, state.congestion_index) == (status, "unverified", None, None)
    assert state.speed_kmh == 5  # still on screen, greyed, with its status


def test_link_without_a_reading_has_no_data() -> None:
    state = tq.link_states(_pack([_link(1)]), {}, NOW)["L1"]

    assert (state.status, state.speed_kmh, state.speed_class) == ("no_data", None, "unverified")


def test_worst_links_rank_verified_links_only_and_sort_by_the_chosen_column() -> None:
    pack = _pack([_link(1), _link(2), _link(3), _link(4, length_m=3000)])
    states = tq.link_states(pack, {"D1": _reading(50), "D2": _reading(20), "D3": _reading(1, "flagged"), "D4": _reading(30)}, NOW)

    by_index = [s.link_id for s in tq.worst_links(states.values())]
    by_speed = [s.link_id for s in tq.worst_links(states.values(), by="speed_kmh", n=2)]
    by_delay = [s.link_id for s in tq.worst_links(states.values(), by="delay_s")]

    assert by_index == ["L2", "L4", "L1"]  # the flagged 1 km/h on L3 is not "the worst link"
    assert by_speed == ["L2", "L4"]
    assert by_delay[0] == "L4"  # 3 km at half speed loses more time than 1 km at a third


def test_worst_links_refuses_an_unknown_sort_column() -> None:
    with pytest.raises(ValidationError, match="cannot sort links by 'colour'"):
        tq.worst_links([], by="colour")


def test_corridor_time_is_the_sum_of_link_times() -> None:
    links = [_link(1, 800, 60), _link(2, 1200, 50), _link(3, 500, 40)]
    pack = _pack(links, (Corridor("C1", "Sejong-daero", ("L1", "L2", "L3")),))
    speeds = {"D1": 40.0, "D2": 25.0, "D3": 10.0}
    expected = 800 / (40 / 3.6) + 1200 / (25 / 3.6) + 500 / (10 / 3.6)
    expected_free = 800 / (60 / 3.6) + 1200 / (50 / 3.6) + 500 / (40 / 3.6)

    (ct,) = tq.corridor_times(pack, tq.link_states(pack, {d: _reading(v) for d, v in speeds.items()}, NOW))

    assert ct.travel_time_s == pytest.approx(expected)
    assert ct.free_travel_time_s == pytest.approx(expected_free)
    assert ct.ratio == pytest.approx(expected / expected_free)
    assert ct.speed_kmh == pytest.approx(2.5 / (expected / 3600))


def test_corridor_time_is_withheld_when_one_link_is_unverified() -> None:
    pack = _pack([_link(1), _link(2)], (Corridor("C1", "Sejong-daero", ("L1", "L2")),))

    (ct,) = tq.corridor_times(pack, tq.link_states(pack, {"D1": _reading(40), "D2": _reading(40, "flagged")}, NOW))

    assert ct.travel_time_s is None
    assert ct.reason is not None and "L2" in ct.reason


def test_network_summary_counts_congested_and_unverified_links() -> None:
    pack = _pack([_link(1), _link(2), _link(3)])

    summary = tq.network_summary(tq.link_states(pack, {"D1": _reading(60), "D2": _reading(10), "D3": _reading(1, "quarantined")}, NOW).values())

    assert (summary.congested_links, summary.verified_links, summary.unverified_links) == (1, 2, 1)
    assert summary.mean_speed_kmh == pytest.approx(35.0)  # the flagged link's 10 km/h left out
    assert summary.congestion_index == pytest.approx((0 + 100 * (1 - 10 / 60)) / 2)


def test_usual_speed_is_the_mean_of_the_same_hour_of_week_over_past_weeks() -> None:
    hour = NOW - timedelta(hours=1)  # Thursday 11:00 Seoul
    means = {"D1": {hour - timedelta(weeks=1): 40.0, hour - timedelta(weeks=2): 50.0, hour - timedelta(weeks=1, hours=1): 99.0, hour: 20.0}}

    hist = tq.speed_history("L1", "link", "Road 1", [_link(1)], means, NOW, SEOUL, current_kmh=22.0, hours=24)

    i = hist.hours.index(hour)
    assert hist.speed_kmh[i] == 20.0
    assert hist.usual_kmh[i] == pytest.approx(45.0)
    assert hist.usual_kmh[i - 1] == pytest.approx(99.0)
    assert hist.note is None


def test_speed_history_says_when_there_is_no_history_yet() -> None:
    hist = tq.speed_history("L1", "link", "Road 1", [_link(1)], {"D1": {NOW: 30.0}}, NOW, SEOUL, current_kmh=30.0)

    assert hist.note == "no history yet"
    assert hist.usual_now_kmh is None
    assert hist.speed_kmh[-1] == 30.0


def test_corridor_history_speed_is_length_over_summed_link_times() -> None:
    links = [_link(1, 1000), _link(2, 3000)]
    hour = NOW

    hist = tq.speed_history("C1", "corridor", "Sejong", links, {"D1": {hour: 20.0}, "D2": {hour: 60.0}}, NOW, SEOUL, None)

    assert hist.speed_kmh[-1] == pytest.approx(4 / (1 / 20 + 3 / 60))


def test_buses_without_a_position_are_left_off_the_map() -> None:
    latest = {"B2": {"t": NOW.isoformat(), "lat": 37.5, "lon": 127.0, "route": "R1", "speed_kmh": 20, "heading": 90},
              "B1": {"t": NOW.isoformat(), "lat": None, "lon": 127.0, "route": "R1"}}

    buses = tq.bus_positions(latest, NOW)

    assert [(b.bus_id, b.route, b.age_s) for b in buses] == [("B2", "R1", 0.0)]


def test_selected_corridor_is_drawn_as_all_its_links() -> None:
    pack = _pack([_link(1), _link(2), _link(3)], (Corridor("C1", "Sejong-daero", ("L1", "L3")),))

    corridor = tq.selection_geojson(pack, "corridor", "C1")
    link = tq.selection_geojson(pack, "link", "L2")

    assert [f["id"] for f in corridor["features"]] == ["L1", "L3"]
    assert link["features"][0]["geometry"]["coordinates"][0] == [126.99, 37.57]  # GeoJSON is lon, lat
    assert tq.selection_geojson(pack, "corridor", "nope")["features"] == []
