"""The generated part of the Seoul city pack: roads, detectors, stations, buses, cameras, gauges.

No real Seoul road file was available, so the network is *generated*, deterministically from the
seed, inside the real district boundaries: a jittered grid of arterials (about 0.7 km apart at
Seoul scale, the spacing Seoul's arterials roughly have), clipped to the city by point-in-polygon
on the real geometry, each street segment a pair of directed links (both carriageways). A few real
roads are given their names where they run (Sejong-daero, Jong-ro, Teheran-ro, ...), snapped to
the nearest grid line; the Han river banks carry the two expressway-like riverside roads; the
river can be crossed only on N-S segments, which become the bridges. Everything else is called
"Arterial n". Nothing here claims to be Seoul's real road geometry: see packs/seoul/SOURCE.md.

The Han river is approximated from the district boundaries: the vertices that the north-bank
districts share with the south-bank ones (the districts meet mid-river), continued west and east
along the northern edges of Gangseo and Gangdong, where the river borders cities outside Seoul.
"""
from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, replace
from functools import cache

import numpy as np

from feeds import geo
from feeds.citypack import Bus, BusRoute, CityPack, Corridor, District, Link, SensorSite

DETECTOR_QUANTITIES = {"speed_kmh": "km/h", "volume_vph": "veh/h", "occupancy_pct": "%"}
AIR_QUANTITIES = {"pm25": "ug/m3", "pm10": "ug/m3", "o3": "ppm", "no2": "ppm", "co": "ppm", "so2": "ppm",
                  "temperature_c": "degC", "humidity_pct": "%", "noise_db": "dB"}
INFRA_QUANTITIES = {
    "water": {"pressure_kpa": "kPa", "flow_m3h": "m3/h"},
    "gas": {"methane_ppm": "ppm"},
    "sewer": {"level_cm": "cm"},
    "bridge": {"vibration_mm_s": "mm/s", "strain_ue": "ue"},
}


@dataclass(frozen=True)
class Scale:
    """How many of each thing a pack of this scale holds (bridges follow from the river)."""

    links: int
    air: int
    routes: int
    buses: int
    cameras: int
    water: int
    gas: int
    sewer: int


SCALES: dict[str, Scale] = {
    # The seed's counts: 5,200 detectors (one per link), 1,100 S-DoT-style air sensors,
    # 8,200 buses on 360 routes, 15,000 AI cameras; a few hundred infrastructure gauges.
    "seoul": Scale(links=5200, air=1100, routes=360, buses=8200, cameras=15000, water=150, gas=100, sewer=120),
    "demo": Scale(links=300, air=60, routes=20, buses=200, cameras=300, water=12, gas=8, sewer=10),
}

NORTH_BANK = ("Mapo-gu", "Yongsan-gu", "Seongdong-gu", "Gwangjin-gu")
SOUTH_BANK = ("Gangseo-gu", "Yangcheon-gu", "Yeongdeungpo-gu", "Dongjak-gu", "Seocho-gu", "Gangnam-gu",
              "Songpa-gu", "Gangdong-gu")
# Where the river leaves the shared north/south boundary it is the northern edge of Gangseo (west,
# facing Goyang) and of Gangdong (east, facing Guri): (district, lon from, lon to).
RIVER_EDGES = (("Gangseo-gu", 126.795, 126.860), ("Gangdong-gu", 127.117, 127.190))

@dataclass(frozen=True)
class NamedRoad:
    """A real road, placed on the grid line nearest to where it runs (approximately)."""

    name: str
    axis: str  # "ew" runs east-west along a latitude, "ns" north-south along a longitude
    at: float  # its latitude (ew) or longitude (ns)
    lo: float  # extent along the other axis
    hi: float
    lanes: tuple[int, int]
    speeds: tuple[int, ...]


NAMED_ROADS = (
    NamedRoad("세종대로 Sejong-daero", "ns", 126.9768, 37.553, 37.578, (4, 5), (50, 60)),
    NamedRoad("종로 Jong-ro", "ew", 37.5705, 126.972, 127.020, (3, 4), (50,)),
    NamedRoad("을지로 Eulji-ro", "ew", 37.5662, 126.978, 127.012, (3, 3), (50,)),
    NamedRoad("테헤란로 Teheran-ro", "ew", 37.5045, 127.022, 127.068, (4, 5), (60,)),
    NamedRoad("강남대로 Gangnam-daero", "ns", 127.0260, 37.480, 37.522, (4, 5), (60,)),
    NamedRoad("동일로 Dongil-ro", "ns", 127.0720, 37.540, 37.690, (3, 4), (60, 70)),
    NamedRoad("도봉로 Dobong-ro", "ns", 127.0300, 37.605, 37.690, (3, 3), (60,)),
    NamedRoad("공항대로 Gonghang-daero", "ew", 37.5585, 126.800, 126.870, (3, 4), (60, 70)),
    NamedRoad("남부순환로 Nambusunhwan-ro", "ew", 37.4850, 126.850, 127.100, (3, 4), (60, 70)),
    NamedRoad("통일로 Tongil-ro", "ns", 126.9350, 37.575, 37.650, (3, 4), (60,)),
)
RIVERSIDE = {1: "강변북로 Gangbyeonbuk-ro", -1: "올림픽대로 Olympic-daero"}  # north bank, south bank


@dataclass
class _Grid:
    spacing_m: float
    lat: np.ndarray  # (rows, cols) jittered node positions
    lon: np.ndarray
    district: np.ndarray  # (rows, cols) district index or -1
    edges: list[tuple[int, int, int, int]]  # (i0, j0, i1, j1), horizontal or vertical neighbours
    crossing: set[int]  # indices into edges that cross the Han


def _bank(districts: tuple[District, ...]) -> np.ndarray:
    side = np.zeros(len(districts) + 1, dtype=int)  # last slot: -1 (outside) maps to 0
    for k, d in enumerate(districts):
        side[k] = 1 if d.name_en in NORTH_BANK else -1 if d.name_en in SOUTH_BANK else 0
    return side


@cache
def river_line(districts: tuple[District, ...]) -> np.ndarray:
    """The Han as an (n, 2) array of (lat, lon), west to east, from the shared bank boundaries."""
    by_name = {d.name_en: d for d in districts}
    south = np.concatenate([np.asarray(poly[0]) for n in SOUTH_BANK
                            for poly in _polys(by_name[n].geometry)])
    pts = []
    for n in NORTH_BANK:
        for poly in _polys(by_name[n].geometry):
            for lon, lat in poly[0]:
                d_km = np.min(np.hypot((south[:, 0] - lon) * 88.2, (south[:, 1] - lat) * 111.2))
                if d_km < 0.05:
                    pts.append((lon, lat))
    for name, lo, hi in RIVER_EDGES:
        pts += _north_edge(by_name[name].geometry, lo, hi)
    pts = sorted(set(pts))
    line = np.array([(lat, lon) for lon, lat in pts])
    # Densify to ~100 m so "distance to the river" can use vertices only.
    out = [line[0]]
    for a, b in zip(line[:-1], line[1:], strict=True):
        n = max(1, int(geo.haversine_m(a[0], a[1], b[0], b[1]) // 100))
        out.extend(a + (b - a) * k / n for k in range(1, n + 1))
    return np.array(out)


def _north_edge(geometry: dict, lo: float, hi: float) -> list[tuple[float, float]]:
    """(lon, lat) vertices of a polygon's northern edge between two longitudes.

    The highest vertex per 0.006-degree band of longitude, minus the bands where the ring only
    passes along the south side (lower than their neighbours' top by more than ~0.9 km).
    """
    ring = np.concatenate([np.asarray(poly[0]) for poly in _polys(geometry)])
    sel = ring[(ring[:, 0] >= lo) & (ring[:, 0] <= hi)]
    bands = np.floor(sel[:, 0] / 0.006)
    top = np.array([sel[bands == b][np.argmax(sel[bands == b][:, 1])] for b in np.unique(bands)])
    keep = [p for p in top if p[1] >= top[np.abs(top[:, 0] - p[0]) <= 0.012][:, 1].max() - 0.008]
    return [(float(lon), float(lat)) for lon, lat in keep]


def _polys(geometry: dict) -> list:
    return [geometry["coordinates"]] if geometry["type"] == "Polygon" else geometry["coordinates"]


def crosses(river: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Which segments a[k]-b[k] ((lat, lon) rows) cross the river polyline (plane test in lon/lat)."""
    out = np.zeros(len(a), dtype=bool)
    lo_lat, hi_lat = river[:, 0].min(), river[:, 0].max()
    cand = np.flatnonzero((np.maximum(a[:, 0], b[:, 0]) >= lo_lat) & (np.minimum(a[:, 0], b[:, 0]) <= hi_lat))
    if not len(cand):
        return out
    p1, p2 = a[cand][:, None, ::-1], b[cand][:, None, ::-1]  # (n, 1, [lon, lat])
    q1, q2 = river[None, :-1, ::-1], river[None, 1:, ::-1]

    def orient(u: np.ndarray, v: np.ndarray, w: np.ndarray) -> np.ndarray:
        return np.sign((v[..., 0] - u[..., 0]) * (w[..., 1] - u[..., 1]) - (v[..., 1] - u[..., 1]) * (w[..., 0] - u[..., 0]))

    hit = (orient(p1, p2, q1) * orient(p1, p2, q2) < 0) & (orient(q1, q2, p1) * orient(q1, q2, p2) < 0)
    out[cand] = hit.any(axis=1)
    return out


def _make_grid(districts: tuple[District, ...], spacing_m: float, seed: int) -> _Grid:
    geoms = [d.geometry for d in districts]
    boxes = [geo.bbox(g) for g in geoms]
    lat0, lon0 = min(b[0] for b in boxes), min(b[1] for b in boxes)
    lat1, lon1 = max(b[2] for b in boxes), max(b[3] for b in boxes)
    dlat, dlon = geo.metres_to_deg((lat0 + lat1) / 2)
    ys = np.arange(lat0, lat1 + spacing_m * dlat, spacing_m * dlat)
    xs = np.arange(lon0, lon1 + spacing_m * dlon, spacing_m * dlon)
    rng = np.random.default_rng([seed, 1])
    jit = rng.uniform(-0.22, 0.22, size=(2, len(ys), len(xs))) * spacing_m
    lat = ys[:, None] + jit[0] * dlat
    lon = xs[None, :] + jit[1] * dlon
    where = geo.locate(geoms, lat.ravel(), lon.ravel()).reshape(lat.shape)
    side = _bank(districts)
    cand: list[tuple[int, int, int, int]] = []
    for i in range(len(ys)):
        for j in range(len(xs)):
            if where[i, j] < 0:
                continue
            if j + 1 < len(xs) and where[i, j + 1] >= 0:
                cand.append((i, j, i, j + 1))
            if i + 1 < len(ys) and where[i + 1, j] >= 0:
                cand.append((i, j, i + 1, j))
    c = np.array(cand)
    mid_lat = (lat[c[:, 0], c[:, 1]] + lat[c[:, 2], c[:, 3]]) / 2
    mid_lon = (lon[c[:, 0], c[:, 1]] + lon[c[:, 2], c[:, 3]]) / 2
    mid_ok = geo.locate(geoms, mid_lat, mid_lon) >= 0
    s0 = side[where[c[:, 0], c[:, 1]]]
    s1 = side[where[c[:, 2], c[:, 3]]]
    across = s0 * s1 == -1
    vertical = c[:, 0] != c[:, 2]
    ends_a = np.stack([lat[c[:, 0], c[:, 1]], lon[c[:, 0], c[:, 1]]], axis=1)
    ends_b = np.stack([lat[c[:, 2], c[:, 3]], lon[c[:, 2], c[:, 3]]], axis=1)
    wet = crosses(river_line(districts), ends_a, ends_b)
    # The river is crossed only on N-S segments between the banks: the bridges.
    keep = mid_ok & np.where(across, vertical, ~wet)
    edges = [tuple(int(v) for v in row) for row in c[keep]]
    crossing = {k for k, flag in enumerate(across[keep]) if flag}
    return _Grid(spacing_m, lat, lon, where, edges, crossing)  # type: ignore[arg-type]


def _grid_for(districts: tuple[District, ...], n_edges: int, seed: int) -> _Grid:
    """The widest grid that still has at least `n_edges` street segments inside the city."""
    area_m2 = 605e6  # Seoul's area, a first guess only: the loop below measures
    spacing = math.sqrt(2 * area_m2 / n_edges)
    grid = _make_grid(districts, spacing, seed)
    for _ in range(12):
        ratio = len(grid.edges) / n_edges
        if 1.0 <= ratio <= 1.04:
            break
        spacing *= math.sqrt(ratio) if ratio < 1 else math.sqrt(ratio) * 0.995
        grid = _make_grid(districts, spacing, seed)
    while len(grid.edges) < n_edges:
        spacing *= 0.98
        grid = _make_grid(districts, spacing, seed)
    return grid


def generate_seoul(districts: tuple[District, ...], scale: str, seed: int) -> CityPack:
    sc = SCALES[scale]
    rng = np.random.default_rng([seed, 2])
    grid = _grid_for(districts, sc.links // 2, seed)
    geoms = [d.geometry for d in districts]
    side = _bank(districts)
    river = river_line(districts)
    lat, lon = grid.lat, grid.lon
    bank_road = _riverside(grid, side, river)

    # -- road names, classes, lanes and speeds, per grid line ---------------------------------
    line_of = [("ew", e[0]) if e[0] == e[2] else ("ns", e[1]) for e in grid.edges]
    mids = np.array([((lat[e[0], e[1]] + lat[e[2], e[3]]) / 2, (lon[e[0], e[1]] + lon[e[2], e[3]]) / 2)
                     for e in grid.edges])
    name = [""] * len(grid.edges)
    lanes = np.zeros(len(grid.edges), dtype=int)
    speed = np.zeros(len(grid.edges))
    taken: set[tuple[str, int]] = set()
    row_lat = lat.mean(axis=1)
    col_lon = lon.mean(axis=0)
    for road in NAMED_ROADS:
        line = ("ew", int(np.argmin(abs(row_lat - road.at)))) if road.axis == "ew" else \
            ("ns", int(np.argmin(abs(col_lon - road.at))))
        if line in taken:
            continue
        taken.add(line)
        along = mids[:, 1] if road.axis == "ew" else mids[:, 0]
        ln = int(rng.integers(road.lanes[0], road.lanes[1] + 1))
        sp = float(rng.choice(road.speeds))
        for k, lk in enumerate(line_of):
            if lk == line and road.lo <= along[k] <= road.hi and k not in grid.crossing:
                name[k], lanes[k], speed[k] = road.name, ln, sp
    # Riverside expressways: one continuous road along each bank (see `_riverside`).
    for bank in (1, -1):
        ln = int(rng.integers(3, 5))
        sp = float(rng.choice((80, 90, 100)))
        for k, b in bank_road.items():
            if b == bank:
                name[k], lanes[k], speed[k] = RIVERSIDE[bank], ln, sp
    generic: dict[tuple[str, int], tuple[str, int, float]] = {}
    for k, lk in enumerate(line_of):
        if name[k]:
            continue
        if k in grid.crossing:
            continue
        if lk not in generic:
            generic[lk] = (f"Arterial {len(generic) + 1}", int(rng.integers(2, 4)), float(rng.choice((50, 60, 60, 70))))
        name[k], lanes[k], speed[k] = generic[lk]
    bridges = sorted(grid.crossing, key=lambda k: mids[k, 1])
    for b, k in enumerate(bridges, start=1):
        name[k] = f"Han River bridge {b}"
        lanes[k] = int(rng.integers(2, 5))
        speed[k] = float(rng.choice((60, 70, 80)))

    # -- trim to the exact count: drop random plain segments ---------------------------------
    protected = {k for k in range(len(grid.edges)) if not name[k].startswith("Arterial ")}
    surplus = len(grid.edges) - sc.links // 2
    droppable = [k for k in range(len(grid.edges)) if k not in protected]
    drop = set(rng.choice(droppable, size=surplus, replace=False).tolist()) if surplus > 0 else set()
    kept = [k for k in range(len(grid.edges)) if k not in drop]

    # -- directed links and their detectors --------------------------------------------------
    links: list[Link] = []
    sensors: list[SensorSite] = []
    ends: list[tuple[tuple[int, int], tuple[int, int]]] = []
    specs = []
    for k in kept:
        i0, j0, i1, j1 = grid.edges[k]
        for a, b in (((i0, j0), (i1, j1)), ((i1, j1), (i0, j0))):
            specs.append((k, a, b))
    a_lat = np.array([lat[a] for _, a, _ in specs])
    a_lon = np.array([lon[a] for _, a, _ in specs])
    b_lat = np.array([lat[b] for _, _, b in specs])
    b_lon = np.array([lon[b] for _, _, b in specs])
    heading = np.radians(geo.bearing_deg(a_lat, a_lon, b_lat, b_lon))
    dlat, dlon = geo.metres_to_deg(37.55)
    # Detector on the right-hand carriageway, 12 m off the centre line, half-way along.
    d_lat = (a_lat + b_lat) / 2 - np.sin(heading) * 12 * dlat
    d_lon = (a_lon + b_lon) / 2 + np.cos(heading) * 12 * dlon
    where = geo.locate(geoms, d_lat, d_lon)
    fallback = where < 0
    d_lat[fallback] = ((a_lat + b_lat) / 2)[fallback]
    d_lon[fallback] = ((a_lon + b_lon) / 2)[fallback]
    where[fallback] = geo.locate(geoms, d_lat[fallback], d_lon[fallback])
    length = geo.haversine_m(a_lat, a_lon, b_lat, b_lon)
    for n, (k, a, b) in enumerate(specs, start=1):
        lid, did = f"L{n:05d}", f"D{n:05d}"
        dist = districts[int(where[n - 1])].name_en
        links.append(Link(id=lid, name=name[k], district=dist,
                          coords=((round(float(lat[a]), 6), round(float(lon[a]), 6)),
                                  (round(float(lat[b]), 6), round(float(lon[b]), 6))),
                          length_m=round(float(length[n - 1]), 1), lanes=int(lanes[k]),
                          free_speed_kmh=float(speed[k]), detector_id=did))
        sensors.append(SensorSite(id=did, kind="detector", lat=round(float(d_lat[n - 1]), 6),
                                  lon=round(float(d_lon[n - 1]), 6), district=dist,
                                  quantities=dict(DETECTOR_QUANTITIES), link_id=lid))
        ends.append((a, b))
    by_end: dict[tuple[int, int], list[int]] = defaultdict(list)
    for n, (_a, b) in enumerate(ends):
        by_end[b].append(n)
    links = [_with_upstream(link, tuple(links[m].id for m in by_end[ends[n][0]] if ends[m][0] != ends[n][1]))
             for n, link in enumerate(links)]

    # -- bridges: one gauge (vibration + strain) per river crossing -----------------------------
    kept_set = set(kept)
    for b, k in enumerate(bridges, start=1):
        if k not in kept_set:
            continue
        blat, blon = float(mids[k, 0]), float(mids[k, 1])
        dist = districts[int(geo.locate(geoms, blat, blon)[0])].name_en
        sensors.append(SensorSite(id=f"BR{b:03d}", kind="bridge", lat=round(blat, 6), lon=round(blon, 6),
                                  district=dist, quantities=dict(INFRA_QUANTITIES["bridge"])))

    # -- air stations, cameras, water / gas / sewer gauges: spread over the districts ---------
    pops = np.array([d.population for d in districts], dtype=float)
    areas = np.array([_area_km2(d.geometry) for d in districts])
    weight_air = 0.5 * pops / pops.sum() + 0.5 * areas / areas.sum()
    for k, (d, n_air) in enumerate(zip(districts, _apportion(sc.air, weight_air, minimum=1), strict=True)):
        la, lo = geo.random_points(d.geometry, n_air, np.random.default_rng([seed, 3, k]))
        # Station 000 of each district is its reference station (nearest to the centroid): the
        # daily per-district records are replayed onto it.
        if n_air:
            c_lat, c_lon = d.centroid
            if geo.contains(d.geometry, c_lat, c_lon)[0]:
                la[0], lo[0] = c_lat, c_lon
            else:
                m = int(np.argmin(geo.haversine_m(la, lo, c_lat, c_lon)))
                la[[0, m]], lo[[0, m]] = la[[m, 0]], lo[[m, 0]]
        for q in range(n_air):
            sensors.append(SensorSite(id=f"AQ-{d.code}-{q:03d}", kind="air", lat=round(float(la[q]), 6),
                                      lon=round(float(lo[q]), 6), district=d.name_en,
                                      quantities=dict(AIR_QUANTITIES)))
    for kind, count, prefix in (("camera", sc.cameras, "CAM"), ("water", sc.water, "W"),
                                ("gas", sc.gas, "G"), ("sewer", sc.sewer, "S")):
        n = 0
        tag = {"camera": 4, "water": 5, "gas": 6, "sewer": 7}[kind]
        for k, (d, m) in enumerate(zip(districts, _apportion(count, pops / pops.sum()), strict=True)):
            la, lo = geo.random_points(d.geometry, m, np.random.default_rng([seed, tag, k]))
            for q in range(m):
                n += 1
                sensors.append(SensorSite(id=f"{prefix}{n:05d}", kind=kind, lat=round(float(la[q]), 6),
                                          lon=round(float(lo[q]), 6), district=d.name_en,
                                          quantities=dict(INFRA_QUANTITIES.get(kind, {}))))

    routes = _routes(links, ends, sc.routes, np.random.default_rng([seed, 8]))
    per, extra = divmod(sc.buses, sc.routes)
    buses = []
    for r, route in enumerate(routes):
        for _ in range(per + (1 if r < extra else 0)):
            buses.append(Bus(id=f"B{len(buses) + 1:05d}", route_id=route.id))
    return CityPack(name="seoul", scale=scale, center=(37.5665, 126.9780), districts=districts,
                    links=tuple(links), sensors=tuple(sensors), routes=tuple(routes), buses=tuple(buses),
                    corridors=_corridors(links, ends), timezone="Asia/Seoul")


def _riverside(grid: _Grid, side: np.ndarray, river: np.ndarray) -> dict[int, int]:
    """Add a riverside road along each bank to the grid; returns edge index -> bank (1 N, -1 S).

    In each grid column, the bank's node nearest the river (within 1.2 spacings) is a point of the
    road; consecutive columns' points are joined, reusing the grid segment when there is one.
    """
    rows, cols = grid.lat.shape
    on_land = grid.district >= 0
    d = np.full(grid.lat.shape, np.inf)
    d[on_land] = geo.haversine_m(river[None, :, 0], river[None, :, 1], grid.lat[on_land][:, None],
                                 grid.lon[on_land][:, None]).min(axis=1)
    node_bank = np.where(on_land, side[grid.district], 0)
    index = {e: k for k, e in enumerate(grid.edges)}
    out: dict[int, int] = {}
    for bank in (1, -1):
        picks: dict[int, int] = {}
        for j in range(cols):
            near = [(d[i, j], i) for i in range(rows) if node_bank[i, j] == bank and d[i, j] < 1.2 * grid.spacing_m]
            if near:
                picks[j] = min(near)[1]
        for j, i in sorted(picks.items()):
            if j + 1 not in picks:
                continue
            e = (i, j, picks[j + 1], j + 1)
            a = np.array([[grid.lat[i, j], grid.lon[i, j]]])
            b = np.array([[grid.lat[picks[j + 1], j + 1], grid.lon[picks[j + 1], j + 1]]])
            if crosses(river, a, b)[0]:
                continue
            k = index.get(e)
            if k is None:
                k = index[e] = len(grid.edges)
                grid.edges.append(e)
            if k not in grid.crossing:
                out[k] = bank
    return out


def _with_upstream(link: Link, upstream: tuple[str, ...]) -> Link:
    return replace(link, upstream=upstream)


def _area_km2(geometry: dict) -> float:
    total = 0.0
    for poly in _polys(geometry):
        ring = np.asarray(poly[0])
        lat_c = ring[:, 1].mean()
        x = ring[:, 0] * 111.195 * math.cos(math.radians(lat_c))
        y = ring[:, 1] * 111.195
        total += abs(float(np.dot(x[:-1], y[1:]) - np.dot(x[1:], y[:-1]))) / 2
    return total


def _apportion(total: int, weights: np.ndarray, *, minimum: int = 0) -> list[int]:
    """Split `total` in proportion to `weights` (largest remainder), each share >= `minimum`."""
    base = np.full(len(weights), minimum)
    rest = total - base.sum()
    raw = weights / weights.sum() * rest
    share = np.floor(raw).astype(int)
    order = np.argsort(-(raw - share), kind="stable")
    share[order[: rest - share.sum()]] += 1
    return (base + share).tolist()


def _routes(links: list[Link], ends: list, n_routes: int, rng: np.random.Generator) -> list[BusRoute]:
    """Bus routes as round trips: a random walk that prefers going straight, then back again."""
    by_start: dict[tuple[int, int], list[int]] = defaultdict(list)
    for n, (a, _b) in enumerate(ends):
        by_start[a].append(n)
    reverse = {(a, b): n for n, (a, b) in enumerate(ends)}
    routes: list[BusRoute] = []
    numbers = sorted(rng.choice(np.arange(100, 8000), size=n_routes, replace=False).tolist())
    attempts = 0
    while len(routes) < n_routes:
        attempts += 1
        target = int(rng.integers(10, 36))
        cur = int(rng.integers(len(links)))
        path = [cur]
        seen = {ends[cur][0], ends[cur][1]}
        while len(path) < target:
            nxt = [m for m in by_start[ends[cur][1]] if ends[m][1] not in seen]
            if not nxt:
                break
            straight = [m for m in nxt if links[m].name == links[cur].name]
            cur = int(rng.choice(straight)) if straight and rng.random() < 0.7 else int(rng.choice(nxt))
            path.append(cur)
            seen.add(ends[cur][1])
        if len(path) < 5 and attempts < 50 * n_routes:
            continue
        back = [reverse[(ends[m][1], ends[m][0])] for m in reversed(path)]
        routes.append(BusRoute(id=f"R{len(routes) + 1:03d}", name=str(numbers[len(routes)]),
                               link_ids=tuple(links[m].id for m in path + back)))
    return routes


def _corridors(links: list[Link], ends: list) -> tuple[Corridor, ...]:
    """The longest chain of each named road in each direction: what operators watch."""
    by_start: dict[tuple[tuple[int, int], str], list[int]] = defaultdict(list)
    for n, (a, _b) in enumerate(ends):
        by_start[(a, links[n].name)].append(n)
    named = [n for n, link in enumerate(links) if not link.name.startswith(("Arterial ", "Han River bridge"))]
    extent: dict[str, list[float]] = {}
    for n in named:
        (la0, lo0), (la1, lo1) = links[n].coords
        e = extent.setdefault(links[n].name, [90.0, 180.0, -90.0, -180.0])
        e[:] = [min(e[0], la0, la1), min(e[1], lo0, lo1), max(e[2], la0, la1), max(e[3], lo0, lo1)]
    # A road runs along its longer extent; a corridor goes one way along it (zig-zags allowed).
    axis = {road: ("eastbound", "westbound") if (e[3] - e[1]) * 0.79 > e[2] - e[0] else ("northbound", "southbound")
            for road, e in extent.items()}
    best: dict[tuple[str, str], list[int]] = {}
    for n in named:
        road = links[n].name
        heading = _direction(links[n])
        if heading not in axis[road]:
            continue
        chain = [n]
        seen = {ends[n][0], ends[n][1]}
        while True:
            cur = chain[-1]
            nxt = [m for m in by_start[(ends[cur][1], road)]
                   if ends[m][1] not in seen and _direction(links[m]) != OPPOSITE[heading]]
            if not nxt:
                break
            chain.append(nxt[0])
            seen.add(ends[nxt[0]][1])
        key = (road, heading)
        if len(chain) > len(best.get(key, [])):
            best[key] = chain
    out = []
    for (road, direction), chain in sorted(best.items()):
        if len(chain) >= 2:
            out.append(Corridor(id=f"C{len(out) + 1:02d}", name=f"{road} {direction}",
                                link_ids=tuple(links[m].id for m in chain)))
    return tuple(out)


OPPOSITE = {"northbound": "southbound", "southbound": "northbound", "eastbound": "westbound", "westbound": "eastbound"}


def _direction(link: Link) -> str:
    (la0, lo0), (la1, lo1) = link.coords
    b = float(geo.bearing_deg(la0, lo0, la1, lo1))
    return ("northbound", "eastbound", "southbound", "westbound")[int(((b + 45) % 360) // 90)]
