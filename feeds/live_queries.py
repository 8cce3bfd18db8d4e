"""Read models for the live screens (the wall, and the shared map and tiles): what a page shows,
computed from the store, so that pages hold no Redis or SQL of their own.

Two halves:
- pure rules (`speed_class`, `air_class`, `feed_health`, `wire_state`): values in, values out;
- thin readers (`wall_kpis`, `map_snapshot`, `feed_status`, ...) that take a `Runtime`.

The *wire state* of an entity is what a browser needs to draw it: a class (`free`, `slow`,
`congested`; CAI grade names; or `flagged`) and the shown value (ages come from the feed
heartbeats). Both the page's first snapshot and every live delta are converted with the same `wire_state`, so the first paint
and later updates can never disagree. Flagged or quarantined values are never given a good class:
the class is `flagged` and the page draws it grey and dashed with a mark.
"""
from __future__ import annotations

import importlib
import logging
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

from feeds import air_queries, aqi, citypack, traffic_queries
from feeds.hourly import usable_buckets
from store.clock import utc
from feeds.sensors import DOMAIN_OF_KIND, version_key
from store.models import Rollup, Sensor
from store.runtime import Runtime
from store.settings import Settings

log = logging.getLogger(__name__)

SPEED_CLASSES = tuple(c.key for c in traffic_queries.SPEED_CLASSES)  # TOPIS bands, one definition
CAI_CLASSES = ("good", "moderate", "unhealthy", "very_unhealthy")
BAD_QA = frozenset({"flagged", "quarantined"})
# Which quantity draws each domain on the map.
MAP_QUANTITY = {"traffic": "speed_kmh", "air": "pm25"}
LIVE_DOMAINS = ("traffic", "air", "bus", "alerts", "commands")
STALE_AFTER_INTERVALS = 2
# Domains whose truth is SQL (alerts, commands): without a heartbeat their age is that of the read.
SQL_DOMAINS = frozenset({"alerts", "commands"})


# -- pure rules ---------------------------------------------------------------------------
def speed_class(speed_kmh: float | None) -> str | None:
    """TOPIS speed class of a road link (`feeds.traffic_queries`' bands), or None without a value."""
    if speed_kmh is None or (isinstance(speed_kmh, float) and math.isnan(speed_kmh)):
        return None
    return traffic_queries.speed_class(float(speed_kmh)).key


def air_class(values: Mapping[str, float]) -> str | None:
    """CAI grade of a sensor's current validated values (the worst sub-index present).

    Only the live map's sensor dots still use this instantaneous grade (the wire state must be
    computed per delta without history); the wall's air tiles and the alerts grade by the regulatory
    figures of `feeds.air_queries`. Callers pass only values whose QA is good.
    """
    idx = aqi.cai({k: v for k, v in values.items() if k in aqi.CAI_POLLUTANTS}, require_all=False)
    return idx.grade if idx else None


def good_values(state: Mapping[str, Any]) -> dict[str, float]:
    """The values of a latest-state dict whose QA is neither flagged nor quarantined."""
    qa = state.get("qa") or {}
    return {q: v for q, v in (state.get("v") or {}).items() if qa.get(q, "ok") not in BAD_QA and v is not None}


def wire_state(domain: str, state: Mapping[str, Any]) -> list[Any]:
    """`[class, shown value]` of one entity for the browser (see module doc). Kept this small on
    purpose: a Seoul-scale snapshot is 6,300 of them in the page, a full delta 5,200."""
    qty = MAP_QUANTITY.get(domain)
    qa = (state.get("qa") or {}).get(qty, "ok") if qty else "ok"
    value = (state.get("v") or {}).get(qty) if qty else None
    if qa in BAD_QA:
        return ["flagged", value]
    if domain == "traffic":
        return [speed_class(value), value]
    if domain == "air":
        return [air_class(good_values(state)), value]
    return [None, value]


def wire_delta(domain: str, payload: Mapping[str, Any]) -> dict[str, Any]:
    """A Redis delta (`{"domain", "sent_at", "changes"}`) as the browser receives it."""
    changes = payload.get("changes") or {}
    if domain in MAP_QUANTITY:
        changes = {k: wire_state(domain, v) for k, v in changes.items()}
    elif domain == "bus":
        changes = {k: [v.get("lat"), v.get("lon"), v.get("route")] for k, v in changes.items()}
    elif domain == "alerts":  # compact: id -> {severity, state} (the console chimes on new criticals)
        changes = {k: {"severity": v.get("severity"), "state": v.get("state")} for k, v in changes.items()}
    else:
        changes = {}  # commands: the page re-reads its counts; the delta is the trigger
    wire = {"domain": domain, "sent_at": payload.get("sent_at"), "n": len(payload.get("changes") or {}),
            "changes": changes}
    if domain == "alerts" and payload.get("notify"):
        wire["notify"] = payload["notify"]  # escalation notices for the supervisors' consoles
    return wire


@dataclass(frozen=True)
class FeedHealth:
    domain: str
    last: float | None  # unix time of the last data
    interval_s: float
    age_s: float | None
    stale: bool


def feed_health(domain: str, last: float | None, interval_s: float, now: float) -> FeedHealth:
    """A feed is stale when it has missed two intervals (or never reported)."""
    if last is None:
        return FeedHealth(domain, None, interval_s, None, True)
    age = max(0.0, now - last)
    return FeedHealth(domain, last, interval_s, age, age > STALE_AFTER_INTERVALS * interval_s)


def median_interval_s(counts: Mapping[float, int]) -> float | None:
    """The upper median of sensor intervals given as {interval_s: how many sensors}, or None.

    Why the median and not the max or min: a domain's heartbeat moves whenever any of its sensors
    reports, so with the upper median the feed is never called stale while at least half its
    sensors report on schedule (a few fast test sensors dying cannot grey the panel, as the min
    would), yet a few slow sensors (hourly gauges) cannot hide a dead feed for hours, as the max
    would. The upper median: of two halves, the slower one's fastest sensor decides.
    """
    total = sum(n for n in counts.values() if n > 0)
    if not total:
        return None
    seen = 0
    for interval, n in sorted(counts.items()):
        if n <= 0:
            continue
        seen += n
        if seen * 2 > total:
            return float(interval)
    return None  # unreachable: the loop passes the half


def domain_intervals(rows: Iterable[tuple[str, float, int]]) -> dict[str, float]:
    """Expected interval per live domain from the sensor registry's (kind, interval_s, count) rows
    (`feeds.sensors.DOMAIN_OF_KIND` maps kinds to domains; see `median_interval_s`)."""
    by_domain: dict[str, dict[float, int]] = {}
    for kind, interval, n in rows:
        counts = by_domain.setdefault(DOMAIN_OF_KIND.get(kind, "infra"), {})
        counts[float(interval)] = counts.get(float(interval), 0) + int(n)
    out = {d: median_interval_s(c) for d, c in by_domain.items()}
    return {d: v for d, v in out.items() if v is not None}


def feed_interval_s(settings: Settings, domain: str, intervals: Mapping[str, float] | None = None) -> float:
    """Expected seconds between two reports of `domain`: its sensors' median interval
    (`domain_intervals`), else `settings.sim_interval_s` (a domain without registered sensors:
    buses, or a registry not read yet)."""
    derived = (intervals or {}).get(domain)
    return float(derived) if derived else float(settings.sim_interval_s)


def registered_intervals(rt: Runtime) -> dict[str, float]:
    """`domain_intervals` of the sensors table, recomputed only when the registry's version in
    Redis moves (every registration bumps it), so a poll every few seconds costs one GET."""
    key = __name__ + ".intervals"
    try:
        version = rt.redis.client.get(version_key(rt))
    except Exception:  # noqa: BLE001 - staleness falls back to the setting, never fails the poll
        log.warning("sensor registry version unreadable; feed intervals from the setting")
        return {}
    cached = rt.caches.get(key)
    if cached is not None and cached[0] == version:
        return cached[1]
    try:
        with rt.session() as s:
            rows = s.execute(select(Sensor.kind, Sensor.interval_s, func.count())
                             .group_by(Sensor.kind, Sensor.interval_s)).all()
    except Exception:  # noqa: BLE001
        log.exception("sensor intervals unreadable; feed intervals from the setting")
        return {}
    intervals = domain_intervals((k, float(i), int(n)) for k, i, n in rows)
    rt.caches[key] = (version, intervals)
    return intervals


# -- the city pack ------------------------------------------------------------------------
def city_pack(rt: Runtime) -> citypack.CityPack:
    """The process's city pack (cached in the runtime). Districts only until `load_pack` exists."""
    cached = rt.caches.get(__name__ + ".pack")
    if cached is not None:
        return cached
    s = rt.settings
    loader = getattr(citypack, "load_pack", None)
    if loader is not None:
        pack = loader(s.city, s.scale, s.sim_seed)
    else:
        districts = citypack.seoul_districts()
        lat = sum(d.centroid[0] for d in districts) / len(districts)
        lon = sum(d.centroid[1] for d in districts) / len(districts)
        pack = citypack.CityPack(name=s.city, scale=s.scale, center=(lat, lon), districts=districts)
    rt.caches[__name__ + ".pack"] = pack
    return pack


def links_geojson(pack: citypack.CityPack) -> dict[str, Any]:
    """Road links as LineStrings; the feature id is the detector id, the key of traffic state."""
    return {"type": "FeatureCollection", "features": [
        {"type": "Feature", "id": link.detector_id,
         "geometry": {"type": "LineString", "coordinates": [[round(lon, 5), round(lat, 5)] for lat, lon in link.coords]},
         "properties": {"name": link.name, "district": link.district, "link": link.id}}
        for link in pack.links]}


def sensors_geojson(pack: citypack.CityPack, kind: str = "air") -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": [
        {"type": "Feature", "id": s.id, "geometry": {"type": "Point", "coordinates": [round(s.lon, 5), round(s.lat, 5)]},
         "properties": {"district": s.district}}
        for s in pack.sensors_of(kind)]}


def layer_geojson(rt: Runtime, layer: str) -> dict[str, Any]:
    """The static geometry of one map layer (served once per process from a cached route)."""
    pack = city_pack(rt)
    if layer == "districts":
        return pack.districts_geojson()
    if layer == "links":
        return links_geojson(pack)
    if layer == "air":
        return sensors_geojson(pack, "air")
    raise KeyError(layer)


# -- readers ------------------------------------------------------------------------------
def map_snapshot(rt: Runtime, domain: str) -> dict[str, list[Any]]:
    """Wire state of every entity of a domain: a page's first paint of a map layer."""
    return {k: wire_state(domain, v) for k, v in rt.redis.all_latest(domain).items()}


def feed_status(rt: Runtime, domains: tuple[str, ...] = ("traffic", "air")) -> dict[str, dict[str, Any]]:
    """Per domain: last data time, expected interval (its own sensors', `registered_intervals`),
    age and stale flag, at `rt.clock` time."""
    times = rt.redis.feed_times()
    now = rt.clock.now().timestamp()
    intervals = registered_intervals(rt)
    out = {}
    for d in domains:
        last = times.get(d)
        if last is None and d in SQL_DOMAINS:
            last = now  # read from SQL at this moment: as fresh as the read itself
        h = feed_health(d, last, feed_interval_s(rt.settings, d, intervals), now)
        out[d] = {"last": h.last, "interval": h.interval_s, "age": h.age_s, "stale": h.stale}
    return out


@dataclass(frozen=True)
class TrafficKpis:
    mean_speed_kmh: float | None
    congestion_index: float | None  # 0 (free flow everywhere) … 100 (standstill)
    congested_links: int
    links_reporting: int  # verified links
    excluded: int  # links whose speed is flagged, quarantined or stale: left out


@dataclass(frozen=True)
class AirKpis:
    """The wall's air tiles. Grades and the worst district come from `feeds.air_queries` (the
    regulatory averaging the air page and ``GET /api/v1/air/districts`` use); only `pm25_now` is a
    live concentration, and the wall labels it so."""

    pm25_now: float | None  # mean of the district means of the latest validated readings
    pm25_regulatory: float | None  # mean of the districts' 24 h predicted PM2.5 (AirKorea's C24E)
    pm25_grade: str | None  # CAI grade of `pm25_regulatory`
    worst_district: str | None  # the air page's ranking top: the highest district CAI
    worst_district_cai: int | None
    worst_district_grade: str | None
    worst_district_pollutant: str | None  # the pollutant that sets its CAI
    sensors_reporting: int
    excluded: int


def traffic_kpis(rt: Runtime) -> TrafficKpis:
    """The network figures of `feeds.traffic_queries.network_summary` (verified links only), so the
    wall and the traffic page show the same numbers."""
    states = traffic_queries.read_link_states(rt, city_pack(rt))
    summary = traffic_queries.network_summary(states.values())
    excluded = sum(1 for st in states.values() if st.status in ("flagged", "quarantined", "stale"))
    return TrafficKpis(None if summary.mean_speed_kmh is None else round(summary.mean_speed_kmh, 1),
                       None if summary.congestion_index is None else round(summary.congestion_index, 1),
                       summary.congested_links, summary.verified_links, excluded)


WALL_AIR_MAX_AGE_S = 5.0  # as the air page's ranking: the regulatory figures move by the hour


def city_pm25_now(latest: Mapping[str, Mapping[str, Any]]) -> tuple[float | None, int, int]:
    """Pure: city-wide PM2.5 from the latest validated readings, as the mean of the district means
    (each district counts once, as AirKorea's city figure); with the sensors counted and left out."""
    by_district: dict[str, list[float]] = {}
    excluded = n = 0
    for state in latest.values():
        good = good_values(state)
        if "pm25" not in good:
            if "pm25" in (state.get("v") or {}):
                excluded += 1
            continue
        n += 1
        by_district.setdefault(state.get("d") or "?", []).append(float(good["pm25"]))
    if not by_district:
        return None, 0, excluded
    means = [sum(v) / len(v) for v in by_district.values()]
    return round(sum(means) / len(means), 1), n, excluded


def air_figures(districts: list[air_queries.DistrictAir], pm25_now: float | None, reporting: int,
                excluded: int) -> AirKpis:
    """Pure: the wall's air tiles from the air page's district ranking (worst first).

    The worst district is the ranking's top when it has a CAI; the city-wide PM2.5 grade is that of
    the mean of the districts' regulatory PM2.5 figures (24 h predicted), never of a live value.
    """
    top = districts[0] if districts and districts[0].cai.value is not None else None
    pm = [f.concentration for d in districts if (f := d.cai.figures.get("pm25")) is not None and f.concentration is not None]
    regulatory = sum(pm) / len(pm) if pm else None
    sub = aqi.cai_sub_index("pm25", regulatory) if regulatory is not None else None
    return AirKpis(pm25_now, None if regulatory is None else round(regulatory, 1), sub.grade if sub else None,
                   top.district if top else None, top.cai.value if top else None, top.cai.grade if top else None,
                   top.cai.pollutant if top else None, reporting, excluded)


def air_kpis(rt: Runtime) -> AirKpis:
    """The wall's air tiles: `air_queries.read_districts` (shared, at most WALL_AIR_MAX_AGE_S old)
    for grades and the worst district, the latest state for the live concentration."""
    now, reporting, excluded = city_pm25_now(rt.redis.all_latest("air"))
    districts = air_queries.read_districts(rt, city_pack(rt), max_age_s=WALL_AIR_MAX_AGE_S)
    return air_figures(districts, now, reporting, excluded)


def district_name(rt: Runtime, name_en: str | None, lang: str) -> str | None:
    if name_en is None:
        return None
    try:
        d = city_pack(rt).district(name_en)
    except KeyError:
        return name_en
    return d.name_ko if lang == "ko" else d.name_en


def _optional(module: str, func: str) -> Any:
    """A read model another package provides, or None while that package has not landed."""
    try:
        return getattr(importlib.import_module(module), func)
    except (ModuleNotFoundError, AttributeError):
        return None


def open_alerts_by_severity(rt: Runtime) -> dict[str, int] | None:
    """`alerts.queries.open_counts_by_severity(rt)` when the alerts package provides it, else None."""
    fn = _optional("alerts.queries", "open_counts_by_severity")
    if fn is None:
        return None
    try:
        return dict(fn(rt))
    except Exception:  # noqa: BLE001 - the wall shows "not available" rather than an error page
        log.exception("alerts counts failed")
        return None


def alert_points(rt: Runtime) -> dict[str, Any]:
    """Unresolved alerts with a place as GeoJSON points (`alerts.queries.map_points`), or none."""
    fn = _optional("alerts.queries", "map_points")
    points: list[dict[str, Any]] = []
    if fn is not None:
        try:
            points = list(fn(rt))
        except Exception:  # noqa: BLE001
            log.exception("alert points failed")
    return {"type": "FeatureCollection", "features": [
        {"type": "Feature", "id": str(p["id"]), "geometry": {"type": "Point", "coordinates": [p["lon"], p["lat"]]},
         "properties": {"severity": p["severity"], "category": p["category"], "state": p["state"]}} for p in points]}


def pending_approvals(rt: Runtime) -> int | None:
    """`actuation.queries.pending_count(rt)` when the actuation package provides it, else None."""
    fn = _optional("actuation.queries", "pending_count")
    if fn is None:
        return None
    try:
        return int(fn(rt))
    except Exception:  # noqa: BLE001
        log.exception("pending approvals failed")
        return None


TREND_HOURS = 6


def trend_6h(rt: Runtime) -> dict[str, Any]:
    """Six hours of network speed and city PM2.5, from the city-wide history rollups.

    Reads the ``rollups`` rows of entity type ``city`` (written by the rollup worker) bucket by
    bucket, flagged-heavy buckets left out as in `feeds.hourly`. Without any such rows the series
    hold only the latest state and `history` is False, and the page says so.
    """
    now = rt.clock.now()
    since = now - timedelta(hours=TREND_HOURS)
    series: dict[str, list[tuple[str, float]]] = {"speed_kmh": [], "pm25": []}
    try:
        with rt.session() as s:
            rows = s.execute(
                select(Rollup.quantity, Rollup.bucket_start, func.sum(Rollup.total), func.sum(Rollup.n))
                .where(Rollup.entity_type == "city", Rollup.quantity.in_(list(series)),
                       Rollup.bucket_start >= since, usable_buckets())
                .group_by(Rollup.quantity, Rollup.bucket_start).order_by(Rollup.bucket_start)).all()
        for quantity, start, total, n in rows:
            series[quantity].append((utc(start).isoformat(), round(float(total) / float(n), 1)))
    except Exception:  # noqa: BLE001 - a history failure must not blank the wall
        log.exception("history read failed; showing the latest state only")
    if series["speed_kmh"] or series["pm25"]:
        return {"history": True, "speed": series["speed_kmh"], "pm25": series["pm25"], "since": since.isoformat(),
                "until": now.isoformat()}
    tk, ak = traffic_kpis(rt), air_kpis(rt)
    stamp = now.isoformat()
    return {"history": False, "since": since.isoformat(), "until": stamp,
            "speed": [(stamp, tk.mean_speed_kmh)] if tk.mean_speed_kmh is not None else [],
            "pm25": [(stamp, ak.pm25_now)] if ak.pm25_now is not None else []}
