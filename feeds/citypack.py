"""The city model as data: a "city pack" of districts, road links and their detectors, air
stations, bus routes and buses, cameras and infrastructure sensors.

Seoul's 25 real district boundaries ship in ``feeds/packs/seoul``; the rest of Seoul is generated
(deterministic from the seed) inside them, because no real Seoul road file is available. The
``metr-la`` pack uses the real 207 METR-LA detector locations and their road graph.

Everything downstream (simulator, replay, pages, alerts, reports) reads the pack through
`load_pack()`; nothing else knows how it was made.
"""
from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

PACKS = Path(__file__).parent / "packs"


@dataclass(frozen=True)
class District:
    code: str
    name_ko: str
    name_en: str  # as the boundary file's name_eng, e.g. "Jongno-gu": the district key everywhere
    population: int
    centroid: tuple[float, float]  # (lat, lon)
    geometry: dict[str, Any] = field(repr=False, compare=False, hash=False)


@dataclass(frozen=True)
class SensorSite:
    """A sensor the pack places: loop detector, air station, camera, water/gas/sewer/bridge gauge."""

    id: str
    kind: str  # detector | air | camera | water | gas | sewer | bridge
    lat: float
    lon: float
    district: str
    quantities: dict[str, str] = field(compare=False, hash=False)  # quantity name -> unit
    interval_s: int = 120
    link_id: str | None = None  # detectors: the link they measure


@dataclass(frozen=True)
class Link:
    """A directed road link (one carriageway of an arterial between two junctions)."""

    id: str
    name: str
    district: str
    coords: tuple[tuple[float, float], ...]  # (lat, lon) from start to end
    length_m: float
    lanes: int
    free_speed_kmh: float
    detector_id: str
    upstream: tuple[str, ...] = ()  # links whose traffic flows into this one


@dataclass(frozen=True)
class BusRoute:
    id: str
    name: str
    link_ids: tuple[str, ...]


@dataclass(frozen=True)
class Bus:
    id: str
    route_id: str


@dataclass(frozen=True)
class Corridor:
    """A named chain of links whose travel time operators watch."""

    id: str
    name: str
    link_ids: tuple[str, ...]


@dataclass(frozen=True)
class CityPack:
    name: str
    scale: str
    center: tuple[float, float]
    districts: tuple[District, ...]
    links: tuple[Link, ...] = ()
    sensors: tuple[SensorSite, ...] = ()
    routes: tuple[BusRoute, ...] = ()
    buses: tuple[Bus, ...] = ()
    corridors: tuple[Corridor, ...] = ()
    timezone: str = "Asia/Seoul"  # local time of the city: peaks, days of the week

    def district(self, name_en: str) -> District:
        for d in self.districts:
            if d.name_en == name_en:
                return d
        raise KeyError(name_en)

    def sensors_of(self, kind: str) -> list[SensorSite]:
        return [s for s in self.sensors if s.kind == kind]

    def link(self, link_id: str) -> Link:
        return self._links_by_id()[link_id]

    def _links_by_id(self) -> dict[str, Link]:
        cached = self.__dict__.get("_link_index")
        if cached is None:
            cached = {link.id: link for link in self.links}
            object.__setattr__(self, "_link_index", cached)
        return cached

    def district_station(self, name_en: str) -> SensorSite:
        """The reference air station of a district (``AQ-<code>-000``): replay of per-district records."""
        wanted = f"AQ-{self.district(name_en).code}-000"
        for s in self.sensors:
            if s.id == wanted:
                return s
        raise KeyError(wanted)

    def districts_geojson(self) -> dict[str, Any]:
        return {"type": "FeatureCollection", "features": [
            {"type": "Feature", "id": d.name_en, "geometry": d.geometry,
             "properties": {"code": d.code, "name": d.name_ko, "name_eng": d.name_en, "population": d.population}}
            for d in self.districts]}


def _centroid(geometry: dict[str, Any]) -> tuple[float, float]:
    """Area-weighted centroid of the (outer) ring(s); good enough to place a label or a marker."""
    polys = [geometry["coordinates"]] if geometry["type"] == "Polygon" else geometry["coordinates"]
    a_sum = cx = cy = 0.0
    for poly in polys:
        ring = poly[0]
        for (x0, y0), (x1, y1) in zip(ring, ring[1:], strict=False):
            cross = x0 * y1 - x1 * y0
            a_sum += cross
            cx += (x0 + x1) * cross
            cy += (y0 + y1) * cross
    if a_sum == 0:
        xs = [p[0] for poly in polys for p in poly[0]]
        ys = [p[1] for poly in polys for p in poly[0]]
        return (sum(ys) / len(ys), sum(xs) / len(xs))
    return (cy / (3 * a_sum), cx / (3 * a_sum))


CITIES = ("seoul", "metr-la")


@cache
def load_pack(city: str = "seoul", scale: str = "demo", seed: int = 20261126) -> CityPack:
    """The city pack for `city` at `scale`; the same arguments always give the same pack.

    Seoul's roads and sensors are generated from `seed` inside the real boundaries (see
    `feeds.packgen`); METR-LA is the real detector set at every scale (the seed is unused there).
    Cached per process: generation of the Seoul-scale pack takes about a second.
    """
    from store.errors import ValidationError

    if city == "seoul":
        from feeds.packgen import SCALES, generate_seoul

        if scale not in SCALES:
            raise ValidationError(f"unknown scale {scale!r}; one of {', '.join(SCALES)}")
        return generate_seoul(seoul_districts(), scale, seed)
    if city == "metr-la":
        return metr_la_pack(scale)
    raise ValidationError(f"unknown city {city!r}; one of {', '.join(CITIES)}")


def metr_la_pack(scale: str = "demo") -> CityPack:
    """The 207 real METR-LA loop detectors (LA County freeways, 2012) and their directed graph.

    Each detector gets a link of its own, drawn from the detector towards its strongest
    downstream neighbour; a link's upstream links are the detectors with an edge *into* it in
    DCRNN's road-distance graph (edge i -> j: traffic passes i, then j). The "districts" are
    pseudo-districts: the cells of a 3 x 3 grid over the detectors' bounding box (only the cells
    holding detectors), since the pack has no boundary file. No air, bus or camera data.
    """
    from feeds.geo import haversine_m
    from feeds.packgen import DETECTOR_QUANTITIES

    pack = PACKS / "metr-la"
    with (pack / "graph_sensor_locations.csv").open(encoding="utf-8") as f:
        rows = [(r["sensor_id"], float(r["latitude"]), float(r["longitude"])) for r in csv.DictReader(f)]
    where = {sid: (lat, lon) for sid, lat, lon in rows}
    downstream: dict[str, list[tuple[float, str]]] = {sid: [] for sid, _, _ in rows}
    upstream: dict[str, list[str]] = {sid: [] for sid, _, _ in rows}
    with (pack / "metr_la_adj_edges.csv").open(encoding="utf-8") as f:
        for r in csv.DictReader(f):
            a, b = r["from_sensor_id"], r["to_sensor_id"]
            if a != b:
                downstream[a].append((float(r["weight"]), b))
                upstream[b].append(a)
    lat0, lat1 = min(r[1] for r in rows), max(r[1] for r in rows)
    lon0, lon1 = min(r[2] for r in rows), max(r[2] for r in rows)
    eps = 1e-6
    n = 3

    def cell(lat: float, lon: float) -> tuple[int, int]:
        return (min(n - 1, int((lat - lat0) / (lat1 - lat0 + eps) * n)),
                min(n - 1, int((lon - lon0) / (lon1 - lon0 + eps) * n)))

    used = sorted({cell(lat, lon) for _, lat, lon in rows})
    districts = []
    for i, j in used:
        la0 = lat0 + (lat1 - lat0 + eps) * i / n
        la1 = lat0 + (lat1 - lat0 + eps) * (i + 1) / n
        lo0 = lon0 + (lon1 - lon0 + eps) * j / n
        lo1 = lon0 + (lon1 - lon0 + eps) * (j + 1) / n
        ring = [[lo0 - eps, la0 - eps], [lo1 + eps, la0 - eps], [lo1 + eps, la1 + eps], [lo0 - eps, la1 + eps],
                [lo0 - eps, la0 - eps]]
        name = f"LA-{'SMN'[i]}{'WCE'[j]}"  # south/mid/north, west/centre/east
        districts.append(District(code=name, name_ko=name, name_en=name, population=0,
                                  centroid=((la0 + la1) / 2, (lo0 + lo1) / 2),
                                  geometry={"type": "Polygon", "coordinates": [ring]}))
    name_of = {c: d.name_en for c, d in zip(used, districts, strict=True)}
    links, sensors = [], []
    for sid, lat, lon in rows:
        best = max(downstream[sid], default=None)
        end = where[best[1]] if best else (lat, lon)
        dist = name_of[cell(lat, lon)]
        links.append(Link(id=f"L{sid}", name=f"METR-LA detector {sid}", district=dist,
                          coords=((lat, lon), end), length_m=round(float(haversine_m(lat, lon, *end)), 1),
                          lanes=4, free_speed_kmh=105.0, detector_id=sid,
                          upstream=tuple(f"L{u}" for u in sorted(set(upstream[sid])))))
        sensors.append(SensorSite(id=sid, kind="detector", lat=lat, lon=lon, district=dist,
                                  quantities=dict(DETECTOR_QUANTITIES), interval_s=300, link_id=f"L{sid}"))
    center = ((lat0 + lat1) / 2, (lon0 + lon1) / 2)
    return CityPack(name="metr-la", scale=scale, center=center, districts=tuple(districts), links=tuple(links),
                    sensors=tuple(sensors), timezone="America/Los_Angeles")


@cache
def seoul_districts() -> tuple[District, ...]:
    pack = PACKS / "seoul"
    geo = json.loads((pack / "districts.geojson").read_text(encoding="utf-8"))
    pops = json.loads((pack / "populations.json").read_text(encoding="utf-8"))
    out = []
    for f in sorted(geo["features"], key=lambda f: f["properties"]["code"]):
        p = f["properties"]
        out.append(District(code=p["code"], name_ko=p["name"], name_en=p["name_eng"],
                            population=int(pops[p["name_eng"]]), centroid=_centroid(f["geometry"]),
                            geometry=f["geometry"]))
    return tuple(out)
