"""Small plane-geometry helpers for the city packs, vectorised with numpy.

No GIS library is installed and the packs need only a few operations on WGS84 lon/lat polygons
of city size: point-in-polygon (ray casting on the real district boundaries), random points
inside a polygon, distances and bearings. At that size treating lon/lat as a plane for
*containment* is exact enough (the boundaries themselves are simplified), and distances use the
haversine formula.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

EARTH_RADIUS_M = 6_371_008.8


def _rings(geometry: dict[str, Any]) -> list[list[np.ndarray]]:
    """Polygons as lists of rings (outer first, then holes), each an (n, 2) array of lon, lat."""
    polys = [geometry["coordinates"]] if geometry["type"] == "Polygon" else geometry["coordinates"]
    return [[np.asarray(ring, dtype=float) for ring in poly] for poly in polys]


def _in_ring(lon: np.ndarray, lat: np.ndarray, ring: np.ndarray) -> np.ndarray:
    """Even-odd ray casting of many points against one closed ring."""
    x0, y0 = ring[:-1, 0], ring[:-1, 1]
    x1, y1 = ring[1:, 0], ring[1:, 1]
    x, y = lon[:, None], lat[:, None]
    straddles = (y0 > y) != (y1 > y)
    with np.errstate(divide="ignore", invalid="ignore"):
        x_cross = (x1 - x0) * (y - y0) / (y1 - y0) + x0
    return np.logical_xor.reduce(straddles & (x < x_cross), axis=1)


def contains(geometry: dict[str, Any], lat: Any, lon: Any) -> np.ndarray:
    """Which points lie inside a GeoJSON Polygon or MultiPolygon (holes excluded)."""
    lat_a = np.atleast_1d(np.asarray(lat, dtype=float))
    lon_a = np.atleast_1d(np.asarray(lon, dtype=float))
    inside = np.zeros(lat_a.shape, dtype=bool)
    for poly in _rings(geometry):
        outer = poly[0]
        box = ((lon_a >= outer[:, 0].min()) & (lon_a <= outer[:, 0].max())
               & (lat_a >= outer[:, 1].min()) & (lat_a <= outer[:, 1].max()) & ~inside)
        if not box.any():
            continue
        idx = np.flatnonzero(box)
        hit = _in_ring(lon_a[idx], lat_a[idx], outer)
        for hole in poly[1:]:
            hit &= ~_in_ring(lon_a[idx], lat_a[idx], hole)
        inside[idx[hit]] = True
    return inside


def locate(geometries: Sequence[dict[str, Any]], lat: Any, lon: Any) -> np.ndarray:
    """Index of the first geometry holding each point, -1 where none does."""
    lat_a = np.atleast_1d(np.asarray(lat, dtype=float))
    lon_a = np.atleast_1d(np.asarray(lon, dtype=float))
    where = np.full(lat_a.shape, -1, dtype=int)
    for i, geom in enumerate(geometries):
        todo = where < 0
        if not todo.any():
            break
        idx = np.flatnonzero(todo)
        where[idx[contains(geom, lat_a[idx], lon_a[idx])]] = i
    return where


def bbox(geometry: dict[str, Any]) -> tuple[float, float, float, float]:
    """(min_lat, min_lon, max_lat, max_lon) of the outer rings."""
    outer = np.concatenate([poly[0] for poly in _rings(geometry)])
    return float(outer[:, 1].min()), float(outer[:, 0].min()), float(outer[:, 1].max()), float(outer[:, 0].max())


def random_points(geometry: dict[str, Any], n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """`n` points uniform (in lon/lat) inside the geometry, by rejection from its bounding box."""
    lat0, lon0, lat1, lon1 = bbox(geometry)
    lats: list[np.ndarray] = [np.empty(0)]
    lons: list[np.ndarray] = [np.empty(0)]
    have = 0
    while have < n:
        m = max(16, 2 * (n - have) + 8)
        la = rng.uniform(lat0, lat1, m)
        lo = rng.uniform(lon0, lon1, m)
        keep = contains(geometry, la, lo)
        lats.append(la[keep])
        lons.append(lo[keep])
        have += int(keep.sum())
    return np.concatenate(lats)[:n], np.concatenate(lons)[:n]


def haversine_m(lat1: Any, lon1: Any, lat2: Any, lon2: Any) -> Any:
    """Great-circle distance in metres (scalars or arrays)."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dp = p2 - p1
    dl = np.radians(np.asarray(lon2) - np.asarray(lon1))
    a = np.sin(dp / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(a))


def bearing_deg(lat1: Any, lon1: Any, lat2: Any, lon2: Any) -> Any:
    """Initial compass bearing from point 1 to point 2, degrees clockwise from north, in [0, 360)."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dl = np.radians(np.asarray(lon2) - np.asarray(lon1))
    y = np.sin(dl) * np.cos(p2)
    x = np.cos(p1) * np.sin(p2) - np.sin(p1) * np.cos(p2) * np.cos(dl)
    return (np.degrees(np.arctan2(y, x)) + 360.0) % 360.0


def metres_to_deg(lat: float) -> tuple[float, float]:
    """Degrees of latitude and of longitude per metre at a latitude (for offsets and grids)."""
    dlat = 1.0 / 111_195.0
    return dlat, dlat / math.cos(math.radians(lat))
