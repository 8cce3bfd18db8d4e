"""Traffic read models for the traffic page, the wall and reports: what the screen shows, no Dash.

Link states come from the latest detector readings (Redis, domain ``traffic``) joined with the
city pack's links. A value the QA pipeline flagged or quarantined, or a detector that missed two
intervals, is never drawn as good: its link's class is ``unverified`` and it stays out of the
rankings, the network figures and corridor times.

Pure functions (``link_states``, ``worst_links``, ``corridor_times``, ``usual_by_hour_of_week``,
``speed_history``) take values and return values; the ``read_*`` functions at the bottom are the
thin I/O shell that fetches those values from Redis and SQL.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from feeds.citypack import CityPack, Corridor, Link
from feeds.hourly import hourly_means
from store.clock import utc
from store.errors import NotFound, ValidationError
from store.runtime import Runtime

SPEED = "speed_kmh"
GOOD_QA = frozenset({"ok", "released"})
STALE_AFTER_INTERVALS = 2  # a detector that missed two intervals is stale (issue 3, point 6)


@dataclass(frozen=True)
class SpeedClass:
    """A band of link speed, as Seoul TOPIS draws general roads (smooth ≥ 25 km/h, slow 15-25,
    congested < 15). The wall (`feeds.live_queries.speed_class`) uses the same bands, so a link
    is the same colour on the wall and on the traffic page.
    """

    key: str  # free | slow | congested
    min_kmh: float  # lowest speed inside the band
    level: int  # 0 best; colours and line patterns are picked by level


SPEED_CLASSES: tuple[SpeedClass, ...] = (
    SpeedClass("free", 25.0, 0),
    SpeedClass("slow", 15.0, 1),
    SpeedClass("congested", 0.0, 2),
)
UNVERIFIED = "unverified"  # flagged, quarantined, stale or no reading: shown, never trusted


def speed_class(speed_kmh: float) -> SpeedClass:
    return next(c for c in SPEED_CLASSES if speed_kmh >= c.min_kmh)


@dataclass(frozen=True)
class LinkState:
    link_id: str
    name: str
    district: str
    length_m: float
    free_speed_kmh: float
    speed_kmh: float | None  # the detector's latest speed, even when unverified (shown greyed)
    status: Literal["ok", "flagged", "quarantined", "stale", "no_data"]
    speed_class: str  # a SpeedClass key, or "unverified"
    level: int | None  # SpeedClass.level; None when unverified
    congestion_index: float | None  # 100 × (1 − speed / free-flow speed): 0 free … 100 standing; verified only
    travel_time_s: float | None  # verified only
    free_travel_time_s: float
    observed_at: datetime | None
    age_s: float | None

    @property
    def verified(self) -> bool:
        return self.status == "ok"

    @property
    def delay_s(self) -> float | None:
        return None if self.travel_time_s is None else self.travel_time_s - self.free_travel_time_s


def _travel_time_s(length_m: float, speed_kmh: float) -> float:
    return length_m / (max(speed_kmh, 0.5) / 3.6)  # a standing queue still moves a little


def link_state(link: Link, reading: Mapping[str, Any] | None, now: datetime, interval_s: float = 120) -> LinkState:
    """One link's state from its detector's latest-state dict (``{"t", "v", "qa"}``) or None."""
    free_tt = _travel_time_s(link.length_m, link.free_speed_kmh)
    base = LinkState(link.id, link.name, link.district, link.length_m, link.free_speed_kmh, None, "no_data",
                     UNVERIFIED, None, None, None, free_tt, None, None)
    if not reading:
        return base
    observed = utc(datetime.fromisoformat(reading["t"])) if reading.get("t") else None
    age = (now - observed).total_seconds() if observed else None
    speed = reading.get("v", {}).get(SPEED)
    qa = reading.get("qa", {}).get(SPEED, "ok")
    state = replace(base, speed_kmh=float(speed) if speed is not None else None, observed_at=observed, age_s=age)
    if speed is None:
        return state
    if qa not in GOOD_QA:
        return replace(state, status="quarantined" if qa == "quarantined" else "flagged")
    if age is None or age > STALE_AFTER_INTERVALS * interval_s:
        return replace(state, status="stale")
    cls = speed_class(float(speed))
    ci = 100 * max(0.0, min(1.0, 1.0 - float(speed) / link.free_speed_kmh)) if link.free_speed_kmh > 0 else None
    return replace(state, status="ok", speed_class=cls.key, level=cls.level, congestion_index=ci,
                   travel_time_s=_travel_time_s(link.length_m, float(speed)))


def link_states(pack: CityPack, latest: Mapping[str, Mapping[str, Any]], now: datetime) -> dict[str, LinkState]:
    """Every link of the pack with its detector's latest reading (`latest`: detector id -> state)."""
    interval = {s.id: s.interval_s for s in pack.sensors if s.kind == "detector"}
    return {ln.id: link_state(ln, latest.get(ln.detector_id), now, interval.get(ln.detector_id, 120)) for ln in pack.links}


SORT_KEYS = ("congestion_index", "speed_kmh", "delay_s", "travel_time_s")


def worst_links(states: Iterable[LinkState], *, by: str = "congestion_index", n: int | None = 20) -> list[LinkState]:
    """Verified links, worst first: highest congestion index or delay, or lowest speed."""
    if by not in SORT_KEYS:
        raise ValidationError(f"cannot sort links by {by!r}; choose one of {', '.join(SORT_KEYS)}")
    verified = [s for s in states if s.verified]
    sign = 1.0 if by == "speed_kmh" else -1.0  # slowest first; otherwise largest first
    ranked = sorted(verified, key=lambda s: (sign * getattr(s, by), s.link_id))
    return ranked if n is None else ranked[:n]


@dataclass(frozen=True)
class NetworkSummary:
    """The network figures, defined as on the wall (`feeds.live_queries.traffic_kpis`) so they agree."""

    mean_speed_kmh: float | None  # length-weighted mean of verified links
    congestion_index: float | None  # length-weighted mean of the links' congestion index, 0 … 100
    congested_links: int
    verified_links: int
    unverified_links: int
    newest_at: datetime | None


def network_summary(states: Iterable[LinkState]) -> NetworkSummary:
    states = list(states)
    ok = [s for s in states if s.verified]
    newest = max((s.observed_at for s in states if s.observed_at), default=None)
    length = sum(s.length_m for s in ok)
    if not ok or length <= 0:
        return NetworkSummary(None, None, 0, 0, len(states), newest)
    mean = sum((s.speed_kmh or 0.0) * s.length_m for s in ok) / length
    ci = sum((s.congestion_index or 0.0) * s.length_m for s in ok) / length
    return NetworkSummary(mean, ci, sum(s.speed_class == "congested" for s in ok), len(ok), len(states) - len(ok), newest)


@dataclass(frozen=True)
class CorridorTime:
    corridor_id: str
    name: str
    length_m: float
    travel_time_s: float | None  # None when a link has no verified speed (then `reason` says which)
    free_travel_time_s: float
    reason: str | None = None

    @property
    def ratio(self) -> float | None:
        """Travel time over free-flow time (1.0 = free flow, 2.0 = twice as long)."""
        return None if self.travel_time_s is None else self.travel_time_s / self.free_travel_time_s

    @property
    def speed_kmh(self) -> float | None:
        return None if not self.travel_time_s else self.length_m / self.travel_time_s * 3.6


def corridor_time(corridor: Corridor, states: Mapping[str, LinkState]) -> CorridorTime:
    """Sum of length / speed over the corridor's links; withheld if one link is unverified."""
    links = [states[i] for i in corridor.link_ids if i in states]
    length = sum(s.length_m for s in links)
    free = sum(s.free_travel_time_s for s in links)
    missing = [s.link_id for s in links if not s.verified]
    if len(links) < len(corridor.link_ids):
        missing += [i for i in corridor.link_ids if i not in states]
    if missing:
        return CorridorTime(corridor.id, corridor.name, length, None, free,
                            reason=f"no verified speed on {len(missing)} link(s): {', '.join(missing[:3])}")
    return CorridorTime(corridor.id, corridor.name, length, sum(s.travel_time_s or 0.0 for s in links), free)


def corridor_times(pack: CityPack, states: Mapping[str, LinkState]) -> list[CorridorTime]:
    """Every corridor, slowest relative to free flow first; withheld ones last."""
    times = [corridor_time(c, states) for c in pack.corridors]
    return sorted(times, key=lambda c: (c.ratio is None, -(c.ratio or 0.0), c.corridor_id))


# -- speed against the usual speed for the hour ---------------------------------------------------

USUAL_WEEKS = 4  # "usual" = mean of the same hour of the week over the trailing four weeks


def hour_of_week(hour_utc: datetime, tz: ZoneInfo) -> int:
    """0 = Monday 00:00-01:00 local time ... 167 = Sunday 23:00; traffic follows local clocks."""
    local = hour_utc.astimezone(tz)
    return local.weekday() * 24 + local.hour


def usual_by_hour_of_week(hourly: Mapping[datetime, float], tz: ZoneInfo) -> dict[int, float]:
    """Mean of the hourly means that fall in each hour of the week."""
    sums: dict[int, list[float]] = {}
    for hour, mean in hourly.items():
        sums.setdefault(hour_of_week(hour, tz), []).append(mean)
    return {how: sum(v) / len(v) for how, v in sums.items()}


@dataclass(frozen=True)
class SpeedHistory:
    """The chart beside a selected link or corridor: hourly speed against the usual speed."""

    subject_id: str
    subject_kind: Literal["link", "corridor"]
    name: str
    hours: list[datetime]  # UTC hour starts, oldest first
    speed_kmh: list[float | None]  # that hour's mean (verified values only), None where missing
    usual_kmh: list[float | None]  # mean of the same hour of week over the trailing weeks
    current_kmh: float | None  # the latest verified speed
    usual_now_kmh: float | None
    note: str | None  # "no history yet" when there is nothing to compare with
    window: str = f"hourly means; usual = same hour of week over the trailing {USUAL_WEEKS} weeks"


def _corridor_speed(lengths: Sequence[float], speeds: Sequence[float | None]) -> float | None:
    """Space-mean speed of a chain: total length over the sum of each link's time."""
    if any(s is None or s <= 0 for s in speeds):
        return None
    time_h = sum(ln / 1000 / s for ln, s in zip(lengths, speeds, strict=True))  # type: ignore[operator]
    return sum(lengths) / 1000 / time_h if time_h else None


def speed_history(subject_id: str, kind: Literal["link", "corridor"], name: str, links: Sequence[Link],
                  means: Mapping[str, Mapping[datetime, float]], now: datetime, tz: ZoneInfo,
                  current_kmh: float | None, hours: int = 24) -> SpeedHistory:
    """Pure: hourly speeds of the last `hours` and the usual speed for each hour of the week.

    `means` maps detector id -> hour start (UTC) -> mean speed, covering the trailing weeks and
    today. "Usual" uses only hours before the charted window, so today's jam does not make itself
    look usual.
    """
    this_hour = now.replace(minute=0, second=0, microsecond=0)
    chart_hours = [this_hour - timedelta(hours=h) for h in range(hours - 1, -1, -1)]
    window_start = chart_hours[0]
    lengths = [ln.length_m for ln in links]
    usual_per_link = [usual_by_hour_of_week({h: v for h, v in means.get(ln.detector_id, {}).items() if h < window_start}, tz)
                      for ln in links]

    def combine(values: list[float | None]) -> float | None:
        return values[0] if len(values) == 1 else _corridor_speed(lengths, values)

    speeds = [combine([means.get(ln.detector_id, {}).get(h) for ln in links]) for h in chart_hours]
    usual = [combine([u.get(hour_of_week(h, tz)) for u in usual_per_link]) for h in chart_hours]
    note = None if any(u is not None for u in usual) else "no history yet"
    usual_now = usual[-1]
    return SpeedHistory(subject_id, kind, name, chart_hours, speeds, usual, current_kmh, usual_now, note)


@dataclass(frozen=True)
class BusPosition:
    bus_id: str
    route: str
    lat: float
    lon: float
    speed_kmh: float | None
    heading: float | None
    age_s: float | None


def bus_positions(latest: Mapping[str, Mapping[str, Any]], now: datetime) -> list[BusPosition]:
    """Buses with a usable position (domain ``bus`` latest state); ones without lat/lon are left out."""
    out = []
    for bus_id, b in latest.items():
        lat, lon = b.get("lat"), b.get("lon")
        if lat is None or lon is None or not (math.isfinite(lat) and math.isfinite(lon)):
            continue
        age = (now - utc(datetime.fromisoformat(b["t"]))).total_seconds() if b.get("t") else None
        out.append(BusPosition(bus_id, str(b.get("route", "")), float(lat), float(lon), b.get("speed_kmh"), b.get("heading"), age))
    return sorted(out, key=lambda p: p.bus_id)


# -- I/O shell ---------------------------------------------------------------------------------------

def read_link_states(rt: Runtime, pack: CityPack, *, max_age_s: float = 0.0) -> dict[str, LinkState]:
    """Every link's state. `max_age_s` > 0 shares a result that young between the pages of this
    process: at Seoul scale one read is 5,200 latest states (about 0.1-0.3 s), and every open
    traffic page refreshes on each live tick.
    """
    key = __name__ + ".link_states"
    hit = rt.caches.get(key)
    if max_age_s > 0 and hit is not None and hit[1] is pack and rt.clock.monotonic() - hit[0] <= max_age_s:
        return hit[2]
    states = link_states(pack, rt.redis.all_latest("traffic"), rt.clock.now())
    rt.caches[key] = (rt.clock.monotonic(), pack, states)
    return states


def read_buses(rt: Runtime) -> list[BusPosition]:
    return bus_positions(rt.redis.all_latest("bus"), rt.clock.now())


def read_speed_history(rt: Runtime, pack: CityPack, kind: str, subject_id: str, *, hours: int = 24) -> SpeedHistory:
    """The chart data for one link or corridor (`kind` "link" or "corridor")."""
    links_by_id = {ln.id: ln for ln in pack.links}
    if kind == "link":
        if subject_id not in links_by_id:
            raise NotFound(f"no link {subject_id!r}")
        links, name = [links_by_id[subject_id]], links_by_id[subject_id].name
    elif kind == "corridor":
        corridor = next((c for c in pack.corridors if c.id == subject_id), None)
        if corridor is None:
            raise NotFound(f"no corridor {subject_id!r}")
        links, name = [links_by_id[i] for i in corridor.link_ids if i in links_by_id], corridor.name
    else:
        raise ValidationError(f"kind must be 'link' or 'corridor', not {kind!r}")
    now = rt.clock.now()
    since = now.replace(minute=0, second=0, microsecond=0) - timedelta(weeks=USUAL_WEEKS, hours=hours)
    with rt.session() as s:
        raw = hourly_means(s, "sensor", [ln.detector_id for ln in links], [SPEED], since, now + timedelta(hours=1))
    means = {det: q.get(SPEED, {}) for det, q in raw.items()}
    latest = {ln.detector_id: rt.redis.get_latest("traffic", ln.detector_id) for ln in links}
    states = [link_state(ln, latest[ln.detector_id], now) for ln in links]
    current = states[0].speed_kmh if kind == "link" and states[0].verified else (
        _corridor_speed([s.length_m for s in states], [s.speed_kmh if s.verified else None for s in states]))
    return speed_history(subject_id, kind, name, links, means, now, ZoneInfo(rt.settings.timezone), current, hours)  # type: ignore[arg-type]


def buses_geojson(rt: Runtime) -> dict[str, Any]:
    """Every bus with a position as GeoJSON points (feature id = bus id), for the map's bus layer.

    Served from a route, not a callback: 8,200 points stay out of the page's JSON, and live bus
    deltas then move the markers in the browser.
    """
    return {"type": "FeatureCollection", "features": [
        {"type": "Feature", "id": b.bus_id, "geometry": {"type": "Point", "coordinates": [round(b.lon, 5), round(b.lat, 5)]},
         "properties": {"route": b.route}}
        for b in read_buses(rt)]}


def selection_geojson(pack: CityPack, kind: str, subject_id: str) -> dict[str, Any]:
    """The selected link, or every link of the selected corridor, as GeoJSON lines (the map's
    highlight of what the chart shows)."""
    if kind == "corridor":
        corridor = next((c for c in pack.corridors if c.id == subject_id), None)
        ids = set(corridor.link_ids) if corridor else set()
    else:
        ids = {subject_id}
    return {"type": "FeatureCollection", "features": [
        {"type": "Feature", "id": ln.id, "properties": {"name": ln.name},
         "geometry": {"type": "LineString", "coordinates": [[lon, lat] for lat, lon in ln.coords]}}
        for ln in pack.links if ln.id in ids]}
