"""The city packs: generated Seoul inside the real boundaries, the real METR-LA graph."""
from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from feeds import geo
from feeds.citypack import PACKS, load_pack, metr_la_pack, seoul_districts
from feeds.packgen import crosses, generate_seoul, river_line
from store.errors import ValidationError

SEED = 20261126


@pytest.fixture(scope="module")
def seoul():
    return load_pack("seoul", "seoul", SEED)


@pytest.fixture(scope="module")
def demo():
    return load_pack("seoul", "demo", SEED)


def test_same_seed_gives_the_same_pack():
    a = generate_seoul(seoul_districts(), "demo", 7)
    b = generate_seoul(seoul_districts(), "demo", 7)

    assert a == b
    assert [s.lat for s in a.sensors] == [s.lat for s in b.sensors]


def test_different_seed_gives_a_different_pack():
    a = generate_seoul(seoul_districts(), "demo", 7)
    b = generate_seoul(seoul_districts(), "demo", 8)

    assert [link.coords for link in a.links] != [link.coords for link in b.links]
    assert [s.lat for s in a.sensors_of("air")] != [s.lat for s in b.sensors_of("air")]


def test_seoul_scale_has_the_seeds_counts(seoul):
    kinds = Counter(s.kind for s in seoul.sensors)

    assert len(seoul.links) == 5200
    assert kinds["detector"] == 5200
    assert kinds["air"] == 1100
    assert len(seoul.routes) == 360
    assert len(seoul.buses) == 8200
    assert kinds["camera"] == 15000
    assert 200 <= kinds["water"] + kinds["gas"] + kinds["sewer"] + kinds["bridge"] <= 600
    assert kinds["bridge"] >= 20  # one gauge per Han crossing
    assert {b.route_id for b in seoul.buses} == {r.id for r in seoul.routes}


def test_demo_scale_is_small(demo):
    kinds = Counter(s.kind for s in demo.sensors)

    assert len(demo.links) == 300
    assert kinds["air"] == 60
    assert len(demo.buses) == 200 and len(demo.routes) == 20
    assert kinds["camera"] == 300
    assert 20 <= kinds["water"] + kinds["gas"] + kinds["sewer"] + kinds["bridge"] <= 60


def test_every_generated_site_lies_inside_its_districts_real_polygon(seoul):
    by_district: dict[str, list] = {}
    for s in seoul.sensors:
        by_district.setdefault(s.district, []).append(s)

    for name, sites in by_district.items():
        inside = geo.contains(seoul.district(name).geometry, [s.lat for s in sites], [s.lon for s in sites])
        assert inside.all(), f"{(~inside).sum()} sites of {name} outside its boundary"
    assert len(by_district) == 25


def test_links_and_their_detectors_agree(seoul):
    sensors = {s.id: s for s in seoul.sensors}

    for link in seoul.links:
        det = sensors[link.detector_id]
        assert det.kind == "detector" and det.link_id == link.id and det.district == link.district
        assert link.length_m > 0 and link.lanes >= 2


def test_upstream_links_end_where_the_link_starts(seoul):
    for link in seoul.links:
        for up in link.upstream:
            u = seoul.link(up)
            assert u.coords[-1] == link.coords[0]
            assert u.coords[0] != link.coords[-1]  # never the U-turn from the opposite carriageway
    assert sum(1 for link in seoul.links if link.upstream) > 0.95 * len(seoul.links)


def test_both_carriageways_exist_for_every_street(seoul):
    ends = {(link.coords[0], link.coords[-1]) for link in seoul.links}

    assert all((b, a) in ends for a, b in ends)


def test_free_speeds_are_urban_arterials_or_expressways(seoul):
    speeds = Counter(link.free_speed_kmh for link in seoul.links)
    riverside = [link for link in seoul.links if "Olympic-daero" in link.name or "Gangbyeonbuk-ro" in link.name]

    assert set(speeds) <= {50.0, 60.0, 70.0, 80.0, 90.0, 100.0}
    assert riverside and all(80 <= link.free_speed_kmh <= 100 for link in riverside)
    assert any(link.name.startswith("세종대로") for link in seoul.links)


def test_riverside_expressways_run_continuously_along_both_banks(seoul):
    longest = {c.name: len(c.link_ids) for c in seoul.corridors}

    assert longest["올림픽대로 Olympic-daero eastbound"] >= 30
    assert longest["강변북로 Gangbyeonbuk-ro westbound"] >= 20


def test_bridges_sit_on_the_river_between_the_banks(seoul):
    river = river_line(seoul.districts)
    bridges = seoul.sensors_of("bridge")

    for b in bridges:
        assert np.min(geo.haversine_m(river[:, 0], river[:, 1], b.lat, b.lon)) < 1500


def test_only_bridges_cross_the_han(seoul):
    river = river_line(seoul.districts)
    a = np.array([link.coords[0] for link in seoul.links])
    b = np.array([link.coords[-1] for link in seoul.links])
    is_bridge = np.array([link.name.startswith("Han River bridge") for link in seoul.links])

    wet = crosses(river, a, b)

    assert wet[is_bridge].all()
    assert not wet[~is_bridge].any()
    assert is_bridge.sum() == 2 * len(seoul.sensors_of("bridge"))


def test_bus_routes_are_connected_round_trips(seoul):
    for route in seoul.routes[:50]:
        links = [seoul.link(i) for i in route.link_ids]
        for a, b in zip(links, links[1:], strict=False):
            assert a.coords[-1] == b.coords[0]
        assert links[-1].coords[-1] == links[0].coords[0]


def test_corridors_are_chains_of_links(seoul):
    assert any(c.name.startswith("세종대로") for c in seoul.corridors)
    for corridor in seoul.corridors:
        links = [seoul.link(i) for i in corridor.link_ids]
        assert all(a.coords[-1] == b.coords[0] for a, b in zip(links, links[1:], strict=False))


def test_each_district_has_a_reference_air_station(demo):
    for d in demo.districts:
        station = demo.district_station(d.name_en)
        assert station.kind == "air" and station.district == d.name_en


def test_metr_la_pack_uses_the_real_207_detectors_and_their_graph():
    pack = metr_la_pack()
    ids = (PACKS / "metr-la" / "graph_sensor_ids.txt").read_text(encoding="utf-8").strip().split(",")

    assert [s.id for s in pack.sensors] == [i.strip() for i in ids]
    assert pack.timezone == "America/Los_Angeles"
    first = pack.link("L773869")
    assert first.coords[0] == (34.15497, -118.31829)
    # DCRNN's edge 773869 -> 773906 (weight 0.22) makes 773869 upstream of 773906.
    assert "L773869" in pack.link("L773906").upstream
    for s in pack.sensors:
        assert geo.contains(pack.district(s.district).geometry, s.lat, s.lon)[0]


def test_unknown_city_or_scale_is_a_clear_error():
    with pytest.raises(ValidationError):
        load_pack("atlantis", "demo", 1)
    with pytest.raises(ValidationError):
        load_pack("seoul", "huge", 1)
