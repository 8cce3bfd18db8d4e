"""The city model as data: a "city pack" of districts, road links and their detectors, air
stations, bus routes and buses, cameras and infrastructure sensors.

Seoul's 25 real district boundaries ship in ``feeds/packs/seoul``; the rest of Seoul is generated
(deterministic from the seed) inside them, because no real Seoul road file is available. The
``metr-la`` pack uses the real 207 METR-LA detector locations and their road graph.

Everything downstream (simulator, replay, pages, alerts, reports) reads the pack through
`load_pack()`; nothing else knows how it was made.
"""
from __future__ import annotations

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

    def district(self, name_en: str) -> District:
        for d in self.districts:
            if d.name_en == name_en:
                return d
        raise KeyError(name_en)

    def sensors_of(self, kind: str) -> list[SensorSite]:
        return [s for s in self.sensors if s.kind == kind]

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
