"""The sensor registry: SQL ``sensors`` is the truth, each process keeps a cache of it.

Ingest looks a sensor up for every observation, so the registry is cached in-process
(`Registry`, one per Runtime). A registration anywhere bumps a version number in Redis
(``{p}:sensors:version``); every ingest call reads it once and drops its cache when it moved, so a
sensor re-registered through another process's API is seen by the next batch. Sensors a process
has not cached yet are loaded on first sight, in one query per batch; ids that are not in SQL
either are remembered as unknown until the version moves, so a misconfigured field system posting
for an unregistered id costs no query per batch.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import redis
from sqlalchemy import select

from feeds.qa import SensorSpec, check_units
from store.errors import NotFound, Unavailable, ValidationError
from store.models.core import Sensor
from store.runtime import Runtime
from store.upsert import upsert

log = logging.getLogger(__name__)

# The live domain each kind of sensor reports to (docs/CONTRACTS.md).
DOMAIN_OF_KIND: dict[str, str] = {
    "detector": "traffic",
    "air": "air",
    "water": "infra",
    "gas": "infra",
    "sewer": "infra",
    "bridge": "infra",
    "camera": "cctv",
}
MAX_ID = 80


@dataclass
class Registry:
    """One process's cache of the sensors table."""

    specs: dict[str, SensorSpec] = field(default_factory=dict)
    unknown: set[str] = field(default_factory=set)
    version: str | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)


def registry(rt: Runtime) -> Registry:
    reg = rt.caches.get(__name__)
    if reg is None:
        reg = rt.caches.setdefault(__name__, Registry())
    return reg


def version_key(rt: Runtime) -> str:
    """The Redis counter every registration bumps: caches of the registry compare against it."""
    return rt.redis.keys.key("sensors", "version")


def spec_of(row: Sensor) -> SensorSpec:
    return SensorSpec(row.id, row.kind, DOMAIN_OF_KIND.get(row.kind, "infra"), row.district, dict(row.quantities))


def valid_districts(rt: Runtime) -> frozenset[str] | None:
    """The district names a sensor may carry in this city, or None when any name goes."""
    if rt.settings.city != "seoul":
        return None
    from feeds.citypack import seoul_districts

    return frozenset(d.name_en for d in seoul_districts())


def check_sensor(sensor_id: str, kind: str, lat: float, lon: float, district: str | None,
                 quantities: Mapping[str, Any], interval_s: int, districts: frozenset[str] | None) -> list[str]:
    """Every problem with a registration (empty when it is fine); pure."""
    problems = []
    if not sensor_id or len(sensor_id) > MAX_ID or any(c.isspace() or c in "/|" for c in sensor_id):
        problems.append(f"a sensor id is 1 to {MAX_ID} characters without spaces, '/' or '|'")
    if kind not in DOMAIN_OF_KIND:
        problems.append(f"unknown kind {kind!r}; one of {', '.join(DOMAIN_OF_KIND)}")
    if not (-90 <= lat <= 90) or not (-180 <= lon <= 180):
        problems.append(f"({lat}, {lon}) is not a latitude/longitude")
    if districts is not None and district not in districts:
        problems.append(f"unknown district {district!r}; one of the boundary file's name_eng, e.g. Jongno-gu")
    if not 1 <= interval_s <= 86_400:
        problems.append("interval_s must be between 1 and 86400")
    if kind == "camera" and quantities:
        problems.append("cameras report analytics events (stream cctv), not quantities")
    elif kind != "camera" and not quantities:
        problems.append("a sensor must declare at least one quantity")
    problems += check_units(quantities)
    return problems


def _row(sensor_id: str, kind: str, lat: float, lon: float, district: str | None, quantities: Mapping[str, str],
         interval_s: int, source: str, attributes: Mapping[str, Any], now: Any) -> dict[str, Any]:
    return {"id": sensor_id, "kind": kind, "lat": float(lat), "lon": float(lon), "district": district,
            "quantities": dict(quantities), "interval_s": int(interval_s), "source": source,
            "attributes": dict(attributes), "registered_at": now, "updated_at": now}


def _save(rt: Runtime, rows: list[dict[str, Any]]) -> None:
    with rt.session() as s:
        upsert(s, Sensor.__table__, rows, keys=["id"],  # type: ignore[arg-type]
               update=["kind", "lat", "lon", "district", "quantities", "interval_s", "source", "attributes", "updated_at"])
    try:
        rt.redis.client.incr(version_key(rt))
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        # Saved in SQL; other processes find new ids on their own, but keep old specs of
        # re-registered ones until their cache is next dropped.
        log.warning("sensor registry version not bumped (Redis unavailable): %s", exc)
    reg = registry(rt)
    with reg.lock:
        for r in rows:
            reg.specs[r["id"]] = SensorSpec(r["id"], r["kind"], DOMAIN_OF_KIND[r["kind"]], r["district"], r["quantities"])
            reg.unknown.discard(r["id"])


def register_sensor(rt: Runtime, sensor_id: str, *, kind: str, lat: float, lon: float, district: str | None,
                    quantities: Mapping[str, str], interval_s: int = 120, source: str = "api",
                    attributes: Mapping[str, Any] | None = None) -> tuple[SensorSpec, bool]:
    """Register or update one sensor; returns its spec and whether it is new. 400 on bad input."""
    problems = check_sensor(sensor_id, kind, lat, lon, district, quantities, interval_s, valid_districts(rt))
    if problems:
        raise ValidationError(f"sensor {sensor_id[:MAX_ID]!r} not registered: " + "; ".join(problems), details=problems)
    with rt.session() as s:
        created = s.get(Sensor, sensor_id) is None
    _save(rt, [_row(sensor_id, kind, lat, lon, district, quantities, interval_s, source, attributes or {}, rt.clock.now())])
    log.info("sensor %s %s (%s, %s)", sensor_id, "registered" if created else "updated", kind, district)
    return registry(rt).specs[sensor_id], created


def register_sites(rt: Runtime, sites: Iterable[Any], *, source: str = "citypack") -> int:
    """Register the city pack's `SensorSite`s in bulk (insert or update); returns how many.

    All of them are checked first: one bad site refuses the lot, naming each problem.
    """
    districts = valid_districts(rt)
    now = rt.clock.now()
    rows: dict[str, dict[str, Any]] = {}
    problems: list[str] = []
    for site in sites:
        found = check_sensor(site.id, site.kind, site.lat, site.lon, site.district, site.quantities,
                             site.interval_s, districts)
        if found:
            problems.append(f"{site.id}: " + "; ".join(found))
            continue
        attrs = {"link_id": site.link_id} if getattr(site, "link_id", None) else {}
        rows[site.id] = _row(site.id, site.kind, site.lat, site.lon, site.district, site.quantities,
                             site.interval_s, source, attrs, now)
    if problems:
        raise ValidationError(f"{len(problems)} sites not registered: " + " | ".join(problems[:5]), details=problems)
    _save(rt, list(rows.values()))
    log.info("registered %d sensor sites from %s", len(rows), source)
    return len(rows)


def sync(rt: Runtime, reg: Registry) -> None:
    """Drop the cache when another process changed the registry (one GET per batch)."""
    try:
        version = rt.redis.client.get(version_key(rt))
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        log.error("redis unavailable reading the sensor registry version: %s", exc)
        raise Unavailable("Redis is unavailable; nothing was stored, retry the whole batch") from exc
    if version != reg.version:
        reg.specs.clear()
        reg.unknown.clear()
        reg.version = version


def load(rt: Runtime, reg: Registry, ids: Iterable[Any]) -> None:
    """Make sure every known id among `ids` is cached (one query for those not seen yet)."""
    specs, unknown = reg.specs, reg.unknown
    missing = [i for i in ids if type(i) is str and i not in specs and i not in unknown and len(i) <= MAX_ID]
    if not missing:
        return
    with rt.session() as s:
        for start in range(0, len(missing), 1000):
            chunk = missing[start:start + 1000]
            for row in s.scalars(select(Sensor).where(Sensor.id.in_(chunk))):
                specs[row.id] = spec_of(row)
    unknown.update(i for i in missing if i not in specs)


def get(rt: Runtime, sensor_id: str) -> SensorSpec:
    """A sensor's spec, or NotFound."""
    reg = registry(rt)
    with reg.lock:
        sync(rt, reg)
        load(rt, reg, [sensor_id])
        spec = reg.specs.get(sensor_id)
    if spec is None:
        raise NotFound(f"no sensor {sensor_id[:MAX_ID]!r}")
    return spec
