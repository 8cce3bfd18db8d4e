"""The city simulator: a pure model of a city pack's sensors, and the thin loop feeding it to ingest.

`CitySimulator.step(now)` returns what the city's field systems would send at `now`: one
observation per reporting sensor (detectors, air stations, infrastructure gauges), every bus's
position, and the AI cameras' analytics events. It never touches Redis or SQL; it is
deterministic from the seed and the sequence of `now` values, so a test can replay a run.
`run_simulator(rt, stop)` is the service (dashboard/services.py): every `sim_interval_s` it
takes `rt.clock.now()`, steps the model and sends the result through `feeds.ingest.ingest`, the
`bus` latest hash and the `cctv` stream, like any other feed.

What it models, and why each piece is there (operators and alert rules must see these):
- Traffic: demand follows the local clock (morning peak about 08:00, evening about 18:30 on
  weekdays; a flatter afternoon hump at weekends) times a per-link factor; speed falls with
  demand (BPR-style curve), volume and occupancy follow. Incidents (Poisson, about two an hour
  at Seoul scale) cut a link's speed, spread upstream one hop every few minutes as the queue
  grows, and clear from the head of the queue once the incident ends.
- Air: PM2.5 = a slow regional component (smooth in time, 10-60 ug/m3 typical, with occasional
  multi-day episodes) x season x station factor + the local traffic's share; NO2 and CO follow
  district traffic; O3 follows the sun and is titrated by NO2; temperature and humidity follow
  season and hour; noise follows traffic.
- Faults (about 0.3 % of readings, `FAULT_RATE`): spikes, dropouts, stuck values and drift on
  sensors; GPS jitter, dropouts and frozen positions on buses. Ground truth stays here
  (`faults`, `incidents`, `cctv_truth`), never in what is sent.
- CCTV: about 2,800 events a day at Seoul's 15,000 cameras (scaled by camera count), in the 14
  categories of `alerts.const.CCTV_CATEGORIES`, with a per-category true-positive rate; a true
  accident detection comes from the camera nearest a live simulated incident when there is one.
"""
from __future__ import annotations

import json
import logging
import math
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from feeds import geo
from feeds.citypack import CityPack, load_pack
from store.errors import Unavailable
from store.runtime import Runtime

log = logging.getLogger(__name__)

FAULT_RATE = 0.003  # fraction of readings affected by a sensor fault (the seed's 0.3 %)
CCTV_EVENTS_PER_CAMERA_DAY = 2800 / 15000  # the seed: ~2,800 alerts a day from 15,000 cameras
INCIDENTS_PER_HOUR_PER_LINK = 2.0 / 5200  # about two incidents an hour at Seoul scale
HOP_MINUTES = 4.0  # an incident's queue reaches one more upstream link every HOP_MINUTES
CLEAR_MINUTES = 3.0  # and leaves it HOP_MINUTES x hop later than the incident link recovers
MAX_HOPS = 3
MPS_PER_KMH = 1 / 3.6


@dataclass(frozen=True)
class CctvCategory:
    share: float  # of all events
    true_positive: float  # probability an event is real (the seed: accident 87 %, crowd 78 %, aggression 62 %)


CCTV_MIX: dict[str, CctvCategory] = {
    "traffic_accident": CctvCategory(0.06, 0.87),
    "illegal_parking": CctvCategory(0.22, 0.91),
    "abandoned_object": CctvCategory(0.05, 0.70),
    "crowd_density": CctvCategory(0.08, 0.78),
    "fire_smoke": CctvCategory(0.03, 0.74),
    "pedestrian_fall": CctvCategory(0.05, 0.72),
    "wrong_way_vehicle": CctvCategory(0.03, 0.83),
    "aggressive_behaviour": CctvCategory(0.05, 0.62),
    "loitering": CctvCategory(0.08, 0.58),
    "intrusion": CctvCategory(0.05, 0.80),
    "illegal_dumping": CctvCategory(0.07, 0.76),
    "jaywalking": CctvCategory(0.10, 0.81),
    "stopped_vehicle": CctvCategory(0.10, 0.85),
    "flooding": CctvCategory(0.03, 0.79),
}


# -- time profiles (pure) ----------------------------------------------------------------------
def _bump(hour: float, centre: float, width: float) -> float:
    d = (hour - centre + 12.0) % 24.0 - 12.0  # circular distance in hours
    return math.exp(-0.5 * (d / width) ** 2)


def traffic_demand(hour: float, weekday: bool) -> float:
    """Demand relative to a link's capacity at a local hour: ~0.1 at 03:00, ~1.1 at the peaks."""
    if weekday:
        return (0.08 + 0.95 * _bump(hour, 8.0, 1.1) + 0.55 * _bump(hour, 13.0, 3.0)
                + 0.95 * _bump(hour, 18.5, 1.5) + 0.30 * _bump(hour, 21.5, 1.5))
    return 0.10 + 0.70 * _bump(hour, 14.5, 3.5) + 0.20 * _bump(hour, 19.5, 2.0)


def water_demand(hour: float) -> float:
    """Water use relative to the daily mean: morning and evening peaks, low at night."""
    return 0.55 + 0.55 * _bump(hour, 7.5, 1.5) + 0.45 * _bump(hour, 20.0, 2.0) + 0.15 * _bump(hour, 13.0, 3.0)


def cctv_activity(hour: float) -> float:
    """Unnormalised rate of camera events by hour: people and cars about, low before dawn."""
    return 0.25 + 0.8 * _bump(hour, 12.0, 4.0) + 0.6 * _bump(hour, 20.0, 2.5)


_CCTV_NORM = 24 / sum(cctv_activity(h + 0.5) for h in range(24))


# -- faults ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FaultKind:
    name: str
    weight: float
    minutes: tuple[float, float]  # duration range; (0, 0) = a single reading


SENSOR_FAULTS = (FaultKind("spike", 0.35, (0, 0)), FaultKind("dropout", 0.25, (1, 10)),
                 FaultKind("stuck", 0.20, (5, 40)), FaultKind("drift", 0.20, (20, 120)))
BUS_FAULTS = (FaultKind("gps_jitter", 0.5, (1, 10)), FaultKind("dropout", 0.3, (1, 10)),
              FaultKind("stuck", 0.2, (2, 15)))


@dataclass
class FaultModel:
    """Fault episodes of `n` devices; about `rate` of all readings fall inside one.

    An episode starts with a probability per reading chosen so that (expected readings per
    episode) x (starts per reading) = `rate`, whatever the tick length. Kind 0 = healthy, k = the
    k-th entry of `kinds` plus one.
    """

    n: int
    kinds: tuple[FaultKind, ...]
    rng: np.random.Generator
    rate: float = FAULT_RATE
    kind: np.ndarray = field(init=False)
    until: np.ndarray = field(init=False)
    since: np.ndarray = field(init=False)
    param: np.ndarray = field(init=False)
    readings: int = 0
    faulty: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.kind = np.zeros(self.n, dtype=np.int8)
        self.until = np.zeros(self.n)
        self.since = np.zeros(self.n)
        self.param = np.zeros(self.n)
        self._weights = np.array([k.weight for k in self.kinds]) / sum(k.weight for k in self.kinds)

    def step(self, t: float, dt: float) -> np.ndarray:
        """Advance to time `t` (unix s) after `dt` s; returns each device's fault kind (0 = none)."""
        self.kind[self.until <= t] = 0
        per_episode = sum(w * max(1.0, (k.minutes[0] + k.minutes[1]) * 30.0 / dt)
                          for w, k in zip(self._weights, self.kinds, strict=True))
        p = self.rate / per_episode
        start = (self.kind == 0) & (self.rng.random(self.n) < p)
        idx = np.flatnonzero(start)
        if len(idx):
            which = self.rng.choice(len(self.kinds), size=len(idx), p=self._weights)
            lo = np.array([self.kinds[w].minutes[0] for w in which])
            hi = np.array([self.kinds[w].minutes[1] for w in which])
            minutes = self.rng.uniform(lo, hi)
            self.kind[idx] = which + 1
            self.since[idx] = t
            # A single-reading fault ends before the next tick; others last their minutes.
            self.until[idx] = np.where(hi > 0, t + minutes * 60.0, t + 0.5 * dt)
            self.param[idx] = self.rng.uniform(-1.0, 1.0, len(idx))
        self.readings += self.n
        bad = int(np.count_nonzero(self.kind))
        self.faulty += bad
        if bad:
            for k, c in zip(*np.unique(self.kind[self.kind > 0], return_counts=True), strict=True):
                name = self.kinds[int(k) - 1].name
                self.by_kind[name] = self.by_kind.get(name, 0) + int(c)
        return self.kind

    @property
    def fraction(self) -> float:
        return self.faulty / self.readings if self.readings else 0.0

    def code(self, name: str) -> int:
        return 1 + [k.name for k in self.kinds].index(name)


# -- ground truth ------------------------------------------------------------------------------
@dataclass
class Incident:
    link_id: str
    start: float  # unix s
    end: float
    severity: float  # fraction of speed lost on the incident link itself
    hops: dict[int, int]  # link index -> hops upstream of the incident (0 = the link itself)

    def factor(self, t: float) -> dict[int, float]:
        """Speed factor (<1) per affected link at time t: the queue grows upstream, then clears."""
        out = {}
        for idx, hop in self.hops.items():
            if self.start + hop * HOP_MINUTES * 60 <= t < self.end + hop * CLEAR_MINUTES * 60:
                out[idx] = 1.0 - self.severity * (0.65 ** hop)
        return out


@dataclass(frozen=True)
class CctvTruth:
    camera_id: str
    category: str
    time: str
    true_positive: bool


# -- the model ---------------------------------------------------------------------------------
class CitySimulator:
    """Everything a city pack's field systems report, tick by tick. Pure: no I/O."""

    def __init__(self, pack: CityPack, seed: int = 0, *, interval_s: float = 10.0) -> None:
        self.pack = pack
        self.seed = seed
        self.interval_s = interval_s
        self.rng = np.random.default_rng([seed, 100])
        self.tz = ZoneInfo(pack.timezone)
        self.last_t: float | None = None
        self.incidents: list[Incident] = []
        self.incident_log: list[Incident] = []
        self.cctv_truth: list[CctvTruth] = []
        self._init_traffic()
        self._init_air()
        self._init_infra()
        self._init_buses()
        self.cameras = pack.sensors_of("camera")
        self._cam_cells: dict[tuple[int, int], list[int]] = {}
        for k, cam in enumerate(self.cameras):
            self._cam_cells.setdefault(_cell(cam.lat, cam.lon), []).append(k)
        self._unseen: list[Incident] = []  # incidents no camera has reported yet
        rng = np.random.default_rng([seed, 101])
        self.faults = FaultModel(len(self.reporting), SENSOR_FAULTS, rng)
        self.bus_faults = FaultModel(len(self.buses), BUS_FAULTS, np.random.default_rng([seed, 102]))
        self._stuck: dict[int, dict[str, float]] = {}
        self._stuck_bus: dict[int, dict[str, Any]] = {}
        self._last_values: dict[int, dict[str, float]] = {}

    # -- set-up ------------------------------------------------------------------------------
    def _init_traffic(self) -> None:
        links = self.pack.links
        self.link_index = {link.id: i for i, link in enumerate(links)}
        self.vf = np.array([link.free_speed_kmh for link in links])
        self.lanes = np.array([link.lanes for link in links], dtype=float)
        rng = np.random.default_rng([self.seed, 110])
        named = np.array([0.0 if link.name.startswith(("Arterial", "METR-LA")) else 0.12 for link in links])
        self.link_factor = np.exp(rng.normal(0.0, 0.22, len(links)) + named)
        self.capacity = self.lanes * np.where(self.vf >= 80, 1800.0, 900.0)
        self.upstream = [[self.link_index[u] for u in link.upstream if u in self.link_index] for link in links]
        districts = [d.name_en for d in self.pack.districts]
        self.district_of_link = np.array([districts.index(link.district) for link in links], dtype=int)
        self.n_districts = len(districts)
        self.district_names = districts
        self.load = np.zeros(len(links))
        self.speed = self.vf.copy()
        self.flow = np.zeros(len(links))
        self.occupancy = np.zeros(len(links))

    def _init_air(self) -> None:
        self.air = self.pack.sensors_of("air")
        rng = np.random.default_rng([self.seed, 120])
        n = len(self.air)
        self.air_district = np.array([self.district_names.index(s.district) for s in self.air], dtype=int)
        self.air_factor = np.exp(rng.normal(0, 0.15, n))
        self.air_coarse = rng.uniform(1.45, 1.9, n)
        self.air_temp_offset = rng.normal(0, 0.6, n)
        self.air_noise_offset = rng.normal(0, 3.0, n)
        self.regional_phase = rng.uniform(0, 2 * math.pi, 4)

    def _init_infra(self) -> None:
        self.infra = [s for s in self.pack.sensors if s.kind in ("water", "gas", "sewer", "bridge")]
        rng = np.random.default_rng([self.seed, 130])
        self.infra_base = rng.uniform(0.6, 1.4, len(self.infra))
        self.bridge_link: dict[int, int] = {}
        if self.pack.links:
            mid_lat = np.array([(link.coords[0][0] + link.coords[-1][0]) / 2 for link in self.pack.links])
            mid_lon = np.array([(link.coords[0][1] + link.coords[-1][1]) / 2 for link in self.pack.links])
            for i, s in enumerate(self.infra):
                if s.kind == "bridge":
                    self.bridge_link[i] = int(np.argmin(geo.haversine_m(mid_lat, mid_lon, s.lat, s.lon)))
        detectors = {s.link_id: s for s in self.pack.sensors_of("detector")}
        self.detectors = [detectors[link.id] for link in self.pack.links]
        self.reporting = [*self.detectors, *self.air, *self.infra]  # sensors sending observations, in order

    def _init_buses(self) -> None:
        """Flatten every route into one line of 'route space' so all buses move in one numpy step."""
        self.buses = list(self.pack.buses)
        self.routes = {r.id: r for r in self.pack.routes}
        seg_link, seg_start, seg_len, route_off, route_len = [], [], [], {}, {}
        pos = 0.0
        for r in self.pack.routes:
            route_off[r.id] = pos
            start = pos
            for lid in r.link_ids:
                i = self.link_index[lid]
                seg_link.append(i)
                seg_start.append(pos)
                seg_len.append(max(1.0, self.pack.links[i].length_m))
                pos += seg_len[-1]
            route_len[r.id] = pos - start
        self.seg_link = np.array(seg_link, dtype=int)
        self.seg_start = np.array(seg_start)
        self.seg_len = np.array(seg_len)
        rng = np.random.default_rng([self.seed, 140])
        self.bus_off = np.array([route_off[b.route_id] for b in self.buses])
        self.bus_len = np.array([route_len[b.route_id] for b in self.buses])
        self.bus_s = rng.uniform(0, 1, len(self.buses)) * self.bus_len
        links = self.pack.links
        self.link_a = np.array([link.coords[0] for link in links]) if links else np.zeros((0, 2))
        self.link_b = np.array([link.coords[-1] for link in links]) if links else np.zeros((0, 2))
        self.link_heading = (geo.bearing_deg(self.link_a[:, 0], self.link_a[:, 1], self.link_b[:, 0], self.link_b[:, 1])
                             if links else np.zeros(0))

    # -- public ------------------------------------------------------------------------------
    def start_incident(self, link_id: str, at: datetime, *, minutes: float = 30.0, severity: float = 0.6) -> Incident:
        """Begin an incident on a link now (also what the random process calls)."""
        root = self.link_index[link_id]
        hops = {root: 0}
        frontier = [root]
        for h in range(1, MAX_HOPS + 1):
            nxt = []
            for i in frontier:
                for u in self.upstream[i]:
                    if u not in hops:
                        hops[u] = h
                        nxt.append(u)
            frontier = nxt
        t = at.timestamp()
        inc = Incident(link_id=link_id, start=t, end=t + minutes * 60.0, severity=severity, hops=hops)
        self.incidents.append(inc)
        self.incident_log.append(inc)
        self._unseen.append(inc)
        return inc

    def local_hour(self, now: datetime) -> tuple[float, bool]:
        local = now.astimezone(self.tz)
        return local.hour + local.minute / 60 + local.second / 3600, local.weekday() < 5

    def step(self, now: datetime) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]], list[dict[str, Any]]]:
        """(observations, bus positions by id, CCTV events) at `now` (aware)."""
        t = now.timestamp()
        dt = self.interval_s if self.last_t is None else max(0.0, t - self.last_t)
        self.last_t = t
        stamp = now.astimezone(UTC).isoformat()
        hour, weekday = self.local_hour(now)
        self._traffic(t, dt, hour, weekday, now)
        values = self._detector_values()
        values += self._air_values(t, hour, now)
        values += self._infra_values(t, hour)
        observations = self._apply_faults(values, t, dt, stamp)
        buses = self._buses(t, dt, stamp)
        events = self._cctv(t, dt, hour, stamp)
        return observations, buses, events

    # -- traffic -----------------------------------------------------------------------------
    def _traffic(self, t: float, dt: float, hour: float, weekday: bool, now: datetime) -> None:
        n = len(self.pack.links)
        if not n:
            return
        demand = traffic_demand(hour, weekday)
        x = demand * self.link_factor * (1 + self.rng.normal(0, 0.04, n))
        self.load = x
        speed = self.vf / (1.0 + x ** 4) * (1 + self.rng.normal(0, 0.025, n))
        # Random incidents, likelier when traffic is heavy.
        lam = INCIDENTS_PER_HOUR_PER_LINK * n * (0.4 + demand) / 0.9 * dt / 3600.0
        for _ in range(self.rng.poisson(lam)):
            link = self.pack.links[int(self.rng.integers(n))]
            self.start_incident(link.id, now, minutes=float(np.clip(self.rng.lognormal(math.log(35), 0.5), 10, 120)),
                                severity=float(self.rng.uniform(0.4, 0.75)))
        factor = np.ones(n)
        live = []
        for inc in self.incidents:
            if t < inc.end + MAX_HOPS * CLEAR_MINUTES * 60:
                live.append(inc)
            for idx, f in inc.factor(t).items():
                factor[idx] = min(factor[idx], f)
        self.incidents = live
        self.speed = np.clip(speed * factor, 2.0, None)
        flow = self.capacity * np.minimum(x, 1.0) * (1 - 0.3 * np.clip(x - 1.0, 0, 1)) * np.sqrt(factor)
        self.flow = flow
        self.occupancy = np.clip(flow / (self.speed * self.lanes) * 0.65, 0, 95)

    def _detector_values(self) -> list[dict[str, float]]:
        speed = np.round(self.speed, 1).tolist()
        flow = np.round(self.flow).tolist()
        occ = np.round(self.occupancy, 1).tolist()
        return [{"speed_kmh": s, "volume_vph": f, "occupancy_pct": o} for s, f, o in zip(speed, flow, occ, strict=True)]

    # -- air ---------------------------------------------------------------------------------
    def regional_pm25(self, t: float) -> float:
        """The city-wide background PM2.5 (ug/m3) at unix time t: smooth, plus episodes."""
        days = t / 86400.0
        periods = (1.3, 2.9, 6.1, 11.7)
        s = sum(math.sin(2 * math.pi * days / p + ph) for p, ph in zip(periods, self.regional_phase, strict=True))
        base = math.exp(math.log(22.0) + 0.45 * s / math.sqrt(2.0))
        doy = datetime.fromtimestamp(t, UTC).timetuple().tm_yday
        season = 1.0 + 0.3 * math.cos(2 * math.pi * (doy - 45) / 365.25)  # high in late winter/spring
        return base * season + self.episode_pm25(t)

    def episode_pm25(self, t: float) -> float:
        """Extra PM2.5 of a haze episode at t: about one in three weeks, 18-60 h, +25-70 ug/m3 at its peak."""
        day = int(t // 86400)
        extra = 0.0
        for d in range(day - 3, day + 1):
            r = np.random.default_rng([self.seed, 150, d])
            if r.random() >= 0.045:
                continue
            start = d * 86400 + r.uniform(0, 86400)
            length = r.uniform(18, 60) * 3600
            peak = r.uniform(25, 70)
            if start <= t < start + length:
                extra += peak * math.sin(math.pi * (t - start) / length)
        return extra

    def _air_values(self, t: float, hour: float, now: datetime) -> list[dict[str, float]]:
        n = len(self.air)
        if not n:
            return []
        load_d = np.bincount(self.district_of_link, weights=self.load, minlength=self.n_districts)
        cnt = np.bincount(self.district_of_link, minlength=self.n_districts)
        mean_load = float(self.load.mean()) if len(self.load) else 0.5
        load_d = np.where(cnt > 0, load_d / np.maximum(cnt, 1), mean_load)
        local = load_d[self.air_district] * self.air_factor
        noise = self.rng.normal(1.0, 0.05, (6, n))
        regional = self.regional_pm25(t)
        diurnal = 1.0 + 0.12 * math.cos(2 * math.pi * (hour - 9) / 24)
        pm25 = np.clip(regional * diurnal * self.air_factor + 9.0 * local, 1, None) * noise[0]
        dust = 1.0 + (self.episode_pm25(t) > 0) * 0.3
        pm10 = pm25 * self.air_coarse * dust * noise[1]
        no2 = (0.011 + 0.028 * local) * noise[2]
        co = (0.28 + 0.35 * local) * noise[3]
        doy = now.timetuple().tm_yday
        sun = max(0.0, math.sin(math.pi * (hour - 6) / 13)) if 6 <= hour <= 19 else 0.0
        summer = 1.0 + 0.5 * math.cos(2 * math.pi * (doy - 190) / 365.25)
        o3 = np.clip(0.012 + 0.032 * sun * summer - 0.35 * (no2 - 0.011), 0.002, None) * noise[4]
        so2 = 0.0032 * noise[5]
        temp = (11.7 - 14.0 * math.cos(2 * math.pi * (doy - 15) / 365.25)
                + 4.0 * math.cos(2 * math.pi * (hour - 15) / 24) + self.air_temp_offset
                + self.rng.normal(0, 0.2, n))
        hum = np.clip(62 + 10 * math.cos(2 * math.pi * (doy - 200) / 365.25)
                      - 12 * math.cos(2 * math.pi * (hour - 15) / 24) + self.rng.normal(0, 2, n), 10, 100)
        noise_db = 47 + 16 * np.sqrt(np.clip(local, 0, None)) + self.air_noise_offset + self.rng.normal(0, 1, n)
        cols = (("pm25", pm25, 1), ("pm10", pm10, 1), ("o3", o3, 4), ("no2", no2, 4), ("co", co, 2),
                ("so2", so2, 4), ("temperature_c", temp, 1), ("humidity_pct", hum, 1), ("noise_db", noise_db, 1))
        lists = [(q, np.round(np.broadcast_to(v, (n,)), d).tolist()) for q, v, d in cols]
        return [{q: vals[i] for q, vals in lists} for i in range(n)]

    # -- infrastructure ----------------------------------------------------------------------
    def _infra_values(self, t: float, hour: float) -> list[dict[str, float]]:
        w = water_demand(hour)
        city_load = float(self.load.mean()) if len(self.load) else 0.5
        out: list[dict[str, float]] = []
        rnd = self.rng.normal(0, 1, (2, len(self.infra)))
        for i, s in enumerate(self.infra):
            b = float(self.infra_base[i])
            e0, e1 = float(rnd[0, i]), float(rnd[1, i])
            if s.kind == "water":
                out.append({"pressure_kpa": round(430 - 70 * (w - 0.55) * b + 3 * e0, 1),
                            "flow_m3h": round(max(0.0, 220 * b * w * (1 + 0.03 * e1)), 1)})
            elif s.kind == "gas":
                out.append({"methane_ppm": round(max(0.0, 1.95 + 0.06 * e0), 2)})
            elif s.kind == "sewer":
                out.append({"level_cm": round(max(0.0, 18 * b + 12 * w + 1.0 * e0), 1)})
            else:
                load = float(self.load[self.bridge_link[i]]) if i in self.bridge_link else city_load
                out.append({"vibration_mm_s": round(max(0.0, 0.25 + 1.4 * load * b * (1 + 0.1 * e0)), 3),
                            "strain_ue": round(90 * b + 70 * load + 8 * e1, 1)})
        return out

    # -- faults on sensors -------------------------------------------------------------------
    def _apply_faults(self, values: list[dict[str, float]], t: float, dt: float, stamp: str) -> list[dict[str, Any]]:
        kind = self.faults.step(t, dt)
        spike, dropout, stuck, drift = (self.faults.code(k) for k in ("spike", "dropout", "stuck", "drift"))
        out = []
        bad = set(np.flatnonzero(kind).tolist())
        for i in list(self._stuck):
            if i not in bad or kind[i] != stuck:
                del self._stuck[i]
        for i, (site, vals) in enumerate(zip(self.reporting, values, strict=True)):
            if i in bad:
                k = kind[i]
                if k == dropout:
                    continue
                if k == stuck:
                    vals = self._stuck.setdefault(i, self._last_values.get(i, vals))
                elif k == spike:
                    p = abs(float(self.faults.param[i]))
                    q = sorted(vals)[int(p * len(vals)) % len(vals)]
                    vals = {**vals, q: round(vals[q] * (3 + 5 * p) + 1, 3)}
                elif k == drift:
                    minutes = (t - float(self.faults.since[i])) / 60.0
                    p = float(self.faults.param[i])
                    scale = max(0.0, 1 + (1.0 if p >= 0 else -1.0) * (0.004 + 0.012 * abs(p)) * minutes)
                    vals = {q: round(v * scale, 4) for q, v in vals.items()}
            else:
                self._last_values[i] = vals
            out.append({"sensor_id": site.id, "time": stamp, "values": vals})
        return out

    # -- buses -------------------------------------------------------------------------------
    def _buses(self, t: float, dt: float, stamp: str) -> dict[str, dict[str, Any]]:
        if not self.buses:
            return {}
        kind = self.bus_faults.step(t, dt)
        g = self.bus_off + self.bus_s
        k = np.searchsorted(self.seg_start, g, side="right") - 1
        li = self.seg_link[k]
        frac = np.clip((g - self.seg_start[k]) / self.seg_len[k], 0, 1)
        # Buses run slower than cars (stops, bus lanes at peaks), never faster than 50 km/h.
        v_kmh = np.minimum(self.speed[li] * 0.72, 50.0) * (1 + self.rng.normal(0, 0.05, len(self.buses)))
        self.bus_s = (self.bus_s + v_kmh * MPS_PER_KMH * min(dt, 300.0)) % self.bus_len
        lat = self.link_a[li, 0] + (self.link_b[li, 0] - self.link_a[li, 0]) * frac
        lon = self.link_a[li, 1] + (self.link_b[li, 1] - self.link_a[li, 1]) * frac
        jitter, dropout, stuck = (self.bus_faults.code(n) for n in ("gps_jitter", "dropout", "stuck"))
        jit = kind == jitter
        if jit.any():
            dlat, dlon = geo.metres_to_deg(37.5)
            m = int(jit.sum())
            lat[jit] += self.rng.normal(0, 120, m) * dlat
            lon[jit] += self.rng.normal(0, 120, m) * dlon
        lat_l = np.round(lat, 6).tolist()
        lon_l = np.round(lon, 6).tolist()
        v_l = np.round(v_kmh, 1).tolist()
        hd_l = np.round(self.link_heading[li]).tolist()
        out: dict[str, dict[str, Any]] = {}
        for i, bus in enumerate(self.buses):
            kk = kind[i]
            if kk == dropout:
                continue
            pos = {"t": stamp, "lat": lat_l[i], "lon": lon_l[i], "route": bus.route_id,
                   "speed_kmh": v_l[i], "heading": hd_l[i]}
            if kk == stuck:
                frozen = self._stuck_bus.setdefault(i, pos)
                pos = {**frozen, "t": stamp}
            elif i in self._stuck_bus:
                del self._stuck_bus[i]
            out[bus.id] = pos
        return out

    # -- cameras -----------------------------------------------------------------------------
    def cctv_rate_per_day(self) -> float:
        return len(self.cameras) * CCTV_EVENTS_PER_CAMERA_DAY

    def _cctv(self, t: float, dt: float, hour: float, stamp: str) -> list[dict[str, Any]]:
        if not self.cameras:
            return []
        lam = self.cctv_rate_per_day() * cctv_activity(hour) * _CCTV_NORM * dt / 86400.0
        n = int(self.rng.poisson(lam))
        if not n:
            return []
        cats = list(CCTV_MIX)
        shares = np.array([CCTV_MIX[c].share for c in cats])
        which = self.rng.choice(len(cats), size=n, p=shares / shares.sum())
        cams = self.rng.integers(len(self.cameras), size=n)
        draws = self.rng.random(n)
        conf = self.rng.beta(8, 2, n)
        conf_fp = self.rng.beta(4, 3, n)
        events = []
        for j in range(n):
            cat = cats[int(which[j])]
            real = bool(draws[j] < CCTV_MIX[cat].true_positive)
            c = float(0.5 + 0.49 * conf[j]) if real else float(0.4 + 0.55 * conf_fp[j])
            cam = self.cameras[int(cams[j])]
            if real and cat == "traffic_accident":
                cam = self._camera_on_an_incident(t) or cam
            events.append({"camera_id": cam.id, "category": cat, "confidence": round(c, 3), "time": stamp,
                           "district": cam.district, "lat": cam.lat, "lon": cam.lon})
            self.cctv_truth.append(CctvTruth(cam.id, cat, stamp, real))
        return events


    def _camera_on_an_incident(self, t: float) -> Any:
        """The camera nearest the oldest unreported live incident (within ~1 km), or None.

        True accident detections are attached to the simulated incidents when there are any, so
        a camera's accident event and the slowdown on the loop detectors tell the same story;
        the rates of `CCTV_MIX` stay as they are (which events are true does not change).
        """
        self._unseen = [inc for inc in self._unseen if t < inc.end]
        while self._unseen:
            inc = self._unseen.pop(0)
            (la0, lo0), (la1, lo1) = self.pack.link(inc.link_id).coords[0], self.pack.link(inc.link_id).coords[-1]
            lat, lon = (la0 + la1) / 2, (lo0 + lo1) / 2
            ci, cj = _cell(lat, lon)
            near = [k for di in (-1, 0, 1) for dj in (-1, 0, 1) for k in self._cam_cells.get((ci + di, cj + dj), ())]
            if near:
                best = min(near, key=lambda k: (self.cameras[k].lat - lat) ** 2 + (self.cameras[k].lon - lon) ** 2)
                return self.cameras[best]
        return None


def _cell(lat: float, lon: float) -> tuple[int, int]:
    return int(math.floor(lat / 0.01)), int(math.floor(lon / 0.01))


# -- the service -------------------------------------------------------------------------------
def publish_step(rt: Runtime, observations: list[dict[str, Any]], buses: Mapping[str, Mapping[str, Any]],
                 events: list[dict[str, Any]]) -> Any:
    """Send one step the way any field system would: ingest, the bus hash, the CCTV stream."""
    from feeds.ingest import ingest

    result = ingest(rt, observations, source="simulator")
    now = rt.clock.now().timestamp()
    pipe = rt.redis.client.pipeline(transaction=False)
    if buses:
        rt.redis.set_latest("bus", buses, pipe=pipe)
        rt.redis.touch_feed("bus", now, pipe=pipe)
    for e in events:
        rt.redis.append("cctv", {"event": json.dumps(e, ensure_ascii=False, separators=(",", ":"))}, pipe=pipe)
    if events:
        rt.redis.touch_feed("cctv", now, pipe=pipe)
    pipe.execute()
    if buses:
        rt.coalescer.add("bus", buses)  # live to the pages, coalesced like ingest's deltas
    return result


def run_simulator(rt: Runtime, stop: threading.Event) -> None:
    """The simulator service: register the pack's sensors, start the simulated-history backfill
    when the history is empty (`feeds.backfill`), then one step every `sim_interval_s`."""
    from feeds.ingest import register_sites

    s = rt.settings
    pack = load_pack(s.city, s.scale, s.sim_seed)
    register_sites(rt, pack.sensors)
    from feeds import backfill

    backfill.start_if_wanted(rt, pack, stop)  # an empty history gets 24 h of simulated past (demo only)
    sim = CitySimulator(pack, s.sim_seed, interval_s=s.sim_interval_s)
    log.info("simulator: %s/%s, %d sensors, %d buses, every %.0f s", pack.name, pack.scale,
             len(pack.sensors), len(pack.buses), s.sim_interval_s)
    while not stop.is_set():
        started = rt.clock.monotonic()
        now = rt.clock.now()
        obs, buses, events = sim.step(now)
        try:
            publish_step(rt, obs, buses, events)
        except Unavailable:  # the model keeps its state; this tick is simply not sent
            log.warning("simulator: store unavailable, tick of %s not sent", now.isoformat())
        stop.wait(max(0.0, s.sim_interval_s - (rt.clock.monotonic() - started)))
