"""The alert worker: reads the domain streams and the camera stream in consumer group ``alerts``,
runs the rules, opens or folds alerts, and pushes what changed on the ``alerts`` channel.

    run_alert_worker(rt, stop)

Several workers may run in the group (each entry goes to one of them); an entry is acknowledged
only after its alerts are committed, and entries a crashed worker read but never acknowledged are
re-claimed after `STALE_MS`. The rules' memory (consecutive low speeds, previous gauge values,
recent flags) lives in Redis, not in the process, so it is shared by the workers of the group and
survives a restart. The air rule keeps no memory of its own: it reads the district sub-indices of
`feeds.air_queries` from the rollups (the air page's figures), for the districts a batch touched.

A periodic sweep (every `health.sweep_seconds`) raises maintenance alerts for silent sensors and
for sensors whose values keep being flagged or quarantined.
"""
from __future__ import annotations

import json
import logging
import os
import socket
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import redis
from sqlalchemy import func, select

from alerts import service
from alerts.const import CCTV_CATEGORIES, CHANNEL, CONSUMER_GROUP, MAINTENANCE, SOURCE_DOMAINS
from alerts.rules import (
    Candidate,
    LinkInfo,
    LinkState,
    Place,
    Reading,
    RuleSet,
    SensorHealth,
    default_rules,
    drifting,
    evaluate_air,
    evaluate_cctv,
    evaluate_speed,
    evaluate_threshold,
    silent_sensors,
)
from feeds import air_queries
from feeds.aqi import CAI_POLLUTANTS
from feeds.citypack import SensorSite
from store.errors import CityOpsError, Unavailable
from store.models.core import QuarantinedObservation, Sensor
from store.runtime import Runtime

log = logging.getLogger(__name__)

STALE_MS = 30_000
CLAIM_EVERY_S = 15.0
# Entries read per stream per pass: camera events first and many (small, urgent), sensor batches a
# few at a time (each up to 1,000 observations), so a burst of readings never holds a fire back.
READ_ORDER = ("cctv", "infra", "air", "traffic")
READ_COUNT = {"cctv": 500, "infra": 10, "air": 2, "traffic": 2}
# The worker's index does not keep a station's quantities: a pollutant it does not measure has no
# rollups, so its figure is withheld, exactly as if the station's list had left it out.
AIR_QUANTITIES = dict.fromkeys(air_queries.POLLUTANTS, "")
IDLE_WAIT_S = 0.05
SENSOR_KINDS_WATCHED = ("detector", "air", "water", "gas", "sewer", "bridge")  # cameras speak only when they see something
T = TypeVar("T")


def _parse_time(value: Any) -> datetime:
    t = value if isinstance(value, datetime) else datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if t.tzinfo is None:
        raise ValueError("time without a zone")
    return t.astimezone(UTC)


def _redis(fn: Callable[[], T]) -> T:
    try:
        return fn()
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        log.error("redis unavailable in the alert worker: %s", exc)
        raise Unavailable("Redis is unavailable") from exc


# -- what the worker knows about the city -------------------------------------------------------
@dataclass
class CityIndex:
    """Places of sensors, links of detectors, district centroids: read once, refreshed on sweeps."""

    links_by_detector: dict[str, LinkInfo] = field(default_factory=dict)
    downstream: dict[str, tuple[str, ...]] = field(default_factory=dict)
    centroids: dict[str, tuple[float, float]] = field(default_factory=dict)
    sensors: dict[str, tuple[str, str | None, float, float, int]] = field(default_factory=dict)  # kind, district, lat, lon, interval

    def place_of(self, sensor_id: str, district: str | None) -> Place:
        s = self.sensors.get(sensor_id)
        if s is not None:
            return Place(s[1] or district, s[2], s[3])
        return self.district_place(district)

    def district_place(self, district: str | None) -> Place:
        c = self.centroids.get(district or "")
        return Place(district, c[0], c[1]) if c else Place(district, None, None)


def build_city_index(rt: Runtime) -> CityIndex:
    idx = CityIndex()
    try:
        from feeds.citypack import load_pack

        pack = load_pack(rt.settings.city, rt.settings.scale, rt.settings.sim_seed)
    except Exception as exc:  # noqa: BLE001 - a missing pack leaves only the SQL sensors to go on
        log.warning("alert worker: no city pack (%s); traffic rules use registered detectors only", exc)
        pack = None
    if pack is not None:
        idx.centroids = {d.name_en: d.centroid for d in pack.districts}
        down: dict[str, list[str]] = defaultdict(list)
        for ln in pack.links:
            for up in ln.upstream:
                down[up].append(ln.id)
        for ln in pack.links:
            mid = ln.coords[len(ln.coords) // 2]
            idx.links_by_detector[ln.detector_id] = LinkInfo(ln.id, ln.free_speed_kmh, ln.district, mid[0], mid[1],
                                                             tuple(down.get(ln.id, ())))
        idx.downstream = {k: tuple(v) for k, v in down.items()}
    refresh_sensors(rt, idx)
    return idx


def refresh_sensors(rt: Runtime, idx: CityIndex) -> None:
    with rt.session() as s:
        rows = s.execute(select(Sensor.id, Sensor.kind, Sensor.district, Sensor.lat, Sensor.lon, Sensor.interval_s,
                                Sensor.attributes)).all()
    idx.sensors = {r.id: (r.kind, r.district, r.lat, r.lon, r.interval_s) for r in rows}
    for r in rows:  # detectors registered outside the pack: a link of their own if they say their free speed
        if r.kind == "detector" and r.id not in idx.links_by_detector and (r.attributes or {}).get("free_speed_kmh"):
            idx.links_by_detector[r.id] = LinkInfo(str(r.attributes.get("link_id") or r.id),
                                                   float(r.attributes["free_speed_kmh"]), r.district, r.lat, r.lon)


# -- usual speed from history -------------------------------------------------------------------
@dataclass
class UsualSpeeds:
    """The usual speed of a detector at this hour of the week (trailing four weeks), cached an hour."""

    tz: ZoneInfo
    cache: dict[tuple[str, int], tuple[float | None, datetime]] = field(default_factory=dict)

    def get(self, rt: Runtime, detector_id: str, at: datetime) -> float | None:
        from feeds.hourly import hourly_means
        from feeds.traffic_queries import USUAL_WEEKS, hour_of_week, usual_by_hour_of_week

        how = hour_of_week(at, self.tz)
        hit = self.cache.get((detector_id, how))
        if hit is not None and at - hit[1] < timedelta(hours=1):
            return hit[0]
        hour_start = at.replace(minute=0, second=0, microsecond=0)
        with rt.session() as s:
            means = hourly_means(s, "sensor", [detector_id], ["speed_kmh"], hour_start - timedelta(weeks=USUAL_WEEKS), hour_start)
        usual = usual_by_hour_of_week(means.get(detector_id, {}).get("speed_kmh", {}), self.tz).get(how)
        self.cache[(detector_id, how)] = (usual, at)
        return usual


# -- evaluating readings ------------------------------------------------------------------------
@dataclass
class Evaluator:
    rt: Runtime
    rules: RuleSet
    city: CityIndex
    usual: UsualSpeeds

    def key(self, *parts: str) -> str:
        return self.rt.redis.keys.key("alerts", *parts)

    def readings(self, readings: Sequence[Reading]) -> list[Candidate]:
        by_kind: dict[str, list[Reading]] = defaultdict(list)
        for r in readings:
            by_kind[r.kind].append(r)
        out: list[Candidate] = []
        out += self.traffic(by_kind.get("detector", []))
        out += self.air(by_kind.get("air", []))
        out += self.infrastructure([r for k in ("water", "gas", "sewer", "bridge") for r in by_kind.get(k, [])])
        out += self.flags([r for r in readings if any(v == "flagged" for v in r.qa.values())])
        return out

    def traffic(self, readings: Sequence[Reading]) -> list[Candidate]:
        rule = self.rules.traffic
        work = []
        for r in sorted(readings, key=lambda r: r.time):
            link = self.city.links_by_detector.get(r.sensor_id)
            speed = r.valid("speed_kmh")
            if link is not None and speed is not None:
                work.append((r, link, speed))
        if not work:
            return []
        needed = sorted({ln.link_id for _, ln, _ in work} | {d for _, ln, _ in work for d in ln.downstream})
        raw = _redis(lambda: self.rt.redis.client.hmget(self.key("links"), needed))
        states = {k: _link_state(v) for k, v in zip(needed, raw, strict=True)}
        changed: dict[str, LinkState] = {}
        out = []
        for r, link, speed in work:
            before = states.get(link.link_id, LinkState())
            usual = None
            if speed < rule.speed_fraction * link.free_speed_kmh or before.low_count:
                usual = self.usual.get(self.rt, r.sensor_id, r.time)  # history only when it could matter
            after, cand = evaluate_speed(rule, link, speed, usual, r.time, before,
                                         {d: states.get(d, LinkState()) for d in link.downstream}, self.rules.dedup_minutes)
            if after != before:
                states[link.link_id] = changed[link.link_id] = after
            if cand is not None:
                out.append(cand)
        if changed:
            cleared = [k for k, v in changed.items() if v == LinkState()]
            kept = {k: f"{v.low_count}|{v.head or ''}" for k, v in changed.items() if v != LinkState()}

            def write() -> None:
                pipe = self.rt.redis.client.pipeline(transaction=False)
                if kept:
                    pipe.hset(self.key("links"), mapping=kept)
                if cleared:
                    pipe.hdel(self.key("links"), *cleared)
                pipe.execute()

            _redis(write)
        return out

    def air(self, readings: Sequence[Reading]) -> list[Candidate]:
        """Evaluate the districts this batch brought validated air readings for, on their stations'
        regulatory figures (`air_queries.read_district_cai`), at the newest reading's time."""
        touched: dict[str, datetime] = {}
        for r in readings:
            district = self.city.place_of(r.sensor_id, r.district).district
            if district and any(r.valid(p) is not None for p in CAI_POLLUTANTS):
                touched[district] = max(r.time, touched.get(district, r.time))
        if not touched:
            return []
        stations: dict[str, list[SensorSite]] = {d: [] for d in touched}
        for sid, (kind, district, lat, lon, _interval) in self.city.sensors.items():
            if kind == "air" and district in stations:
                stations[district].append(SensorSite(sid, "air", lat, lon, district, AIR_QUANTITIES))
        out = []
        for d, cai in air_queries.read_district_cai(self.rt, stations).items():
            out += evaluate_air(self.rules.air, cai.figures, touched[d], self.city.district_place(d), self.rules.dedup_minutes)
        return out

    def infrastructure(self, readings: Sequence[Reading]) -> list[Candidate]:
        if not readings:
            return []
        drops = [rule for rule in self.rules.infrastructure if rule.op == "drop"]
        prev_fields = sorted({f"{r.sensor_id}|{rule.quantity}" for r in readings for rule in drops if r.kind == rule.kind})
        prev: dict[str, float | None] = {}
        if prev_fields:
            raw = _redis(lambda: self.rt.redis.client.hmget(self.key("prev"), prev_fields))
            prev = {k: (float(v) if v is not None else None) for k, v in zip(prev_fields, raw, strict=True)}
        out = []
        for r in sorted(readings, key=lambda r: r.time):
            where = self.city.place_of(r.sensor_id, r.district)
            for rule in self.rules.infrastructure:
                f = f"{r.sensor_id}|{rule.quantity}"
                cand = evaluate_threshold(rule, r, prev.get(f), where, self.rules.dedup_minutes)
                if cand is not None:
                    out.append(cand)
            for rule in drops:
                v = r.valid(rule.quantity) if r.kind == rule.kind else None
                if v is not None:
                    prev[f"{r.sensor_id}|{rule.quantity}"] = v
        updates = {k: v for k, v in prev.items() if v is not None}
        if updates:
            _redis(lambda: self.rt.redis.client.hset(self.key("prev"), mapping=updates))
        return out

    def flags(self, readings: Sequence[Reading]) -> list[Candidate]:
        """Flagged values feed the drift rule (a maintenance alert), never an emergency rule."""
        if not readings:
            return []
        rule = self.rules.health
        ids = sorted({r.sensor_id for r in readings})
        raw = _redis(lambda: self.rt.redis.client.hmget(self.key("flags"), ids))
        times = {sid: [_parse_time(t) for t in json.loads(v)] if v else [] for sid, v in zip(ids, raw, strict=True)}
        kinds = {}
        for r in readings:
            times[r.sensor_id] += [r.time] * sum(1 for v in r.qa.values() if v == "flagged")
            kinds[r.sensor_id] = (r.kind, r.district)
        out = []
        for sid, ts in times.items():
            now = max(ts)
            ts = sorted(t for t in ts if t > now - timedelta(minutes=rule.drift_window_minutes))
            times[sid] = ts
            cand = drifting(rule, sid, kinds[sid][0], ts, now, self.city.place_of(sid, kinds[sid][1]), self.rules.dedup_minutes)
            if cand is not None:
                out.append(cand)
        _redis(lambda: self.rt.redis.client.hset(self.key("flags"), mapping={
            sid: json.dumps([t.isoformat() for t in ts]) for sid, ts in times.items()}))
        return out

    # -- the periodic sweep -----------------------------------------------------------------------
    def sweep(self) -> list[Candidate]:
        """Silent sensors, and sensors whose values keep being quarantined."""
        refresh_sensors(self.rt, self.city)
        now = self.rt.clock.now()
        rule = self.rules.health
        out: list[Candidate] = []
        by_domain: dict[str, list[SensorHealth]] = defaultdict(list)
        from feeds.sensors import DOMAIN_OF_KIND

        latest = {d: self.rt.redis.all_latest(d) for d in ("traffic", "air", "infra")}
        for sid, (kind, district, lat, lon, interval) in self.city.sensors.items():
            if kind not in SENSOR_KINDS_WATCHED:
                continue
            state = latest.get(DOMAIN_OF_KIND.get(kind, "infra"), {}).get(sid)
            if state is None or "t" not in state:
                continue  # never reported: nothing to miss yet
            by_domain[DOMAIN_OF_KIND.get(kind, "infra")].append(
                SensorHealth(sid, kind, _parse_time(state["t"]), float(interval or 120), Place(district or state.get("d"), lat, lon)))
        for domain, sensors in by_domain.items():
            silent = silent_sensors(rule, sensors, now, self.rules.dedup_minutes)
            if len(sensors) >= 10 and len(silent) > rule.feed_silent_fraction * len(sensors):
                # The whole feed stopped: one alert for the feed, not thousands for its sensors.
                out.append(Candidate(MAINTENANCE, "minor", "health.feed_silent", f"feed:{domain}", domain, now,
                                     Place(None, None, None), {"domain": domain, "silent": len(silent), "sensors": len(sensors)},
                                     max(self.rules.dedup_minutes, rule.drift_window_minutes)))
            else:
                out += silent
        since = now - timedelta(minutes=rule.drift_window_minutes)
        with self.rt.session() as s:
            rows = s.execute(select(QuarantinedObservation.sensor_id, func.count())
                             .where(QuarantinedObservation.received_at >= since)
                             .group_by(QuarantinedObservation.sensor_id)
                             .having(func.count() >= 1)).all()
        if rows:
            ids = [r[0] for r in rows]
            raw = _redis(lambda: self.rt.redis.client.hmget(self.key("flags"), ids))
            for (sid, n), flagged in zip(rows, raw, strict=True):
                flagged_times = [_parse_time(t) for t in json.loads(flagged)] if flagged else []
                kind = self.city.sensors.get(sid, ("sensor",))[0]
                cand = drifting(rule, sid, kind, flagged_times + [now] * int(n), now, self.city.place_of(sid, None),
                                self.rules.dedup_minutes)
                if cand is not None:
                    out.append(cand)
        return out


def _link_state(raw: str | None) -> LinkState:
    if not raw:
        return LinkState()
    n, _, head = raw.partition("|")
    return LinkState(int(n), head or None)


# -- parsing stream entries ---------------------------------------------------------------------
def parse_batch(fields: Mapping[str, str]) -> list[Reading]:
    out = []
    for o in json.loads(fields["batch"]):
        out.append(Reading(str(o["sensor_id"]), str(o.get("kind", "")), o.get("district"), _parse_time(o["time"]),
                           {k: float(v) for k, v in (o.get("values") or {}).items() if v is not None}, o.get("qa") or {}))
    return out


def parse_event(fields: Mapping[str, str]) -> dict[str, Any]:
    ev = json.loads(fields["event"])
    if ev.get("category") not in CCTV_CATEGORIES:
        raise ValueError(f"unknown category {ev.get('category')!r}")
    ev["confidence"] = float(ev["confidence"])
    ev["time"] = _parse_time(ev["time"])
    return ev


# -- the loop -----------------------------------------------------------------------------------
@dataclass
class AlertWorker:
    rt: Runtime
    rules: RuleSet
    consumer: str
    evaluator: Evaluator = field(init=False)
    last_claim: float = field(default=-1e18)
    last_sweep: float = field(default=-1e18)
    stale_ms: int = STALE_MS  # a pending entry idle this long belonged to a crashed worker

    def __post_init__(self) -> None:
        city = build_city_index(self.rt)
        self.evaluator = Evaluator(self.rt, self.rules, city, UsualSpeeds(ZoneInfo(self.rt.settings.timezone)))
        for domain in SOURCE_DOMAINS:
            self.rt.redis.ensure_group(domain, CONSUMER_GROUP)

    def candidates(self, domain: str, entries: Iterable[tuple[str, Mapping[str, str]]]) -> list[Candidate]:
        out: list[Candidate] = []
        readings: list[Reading] = []
        for entry_id, fields in entries:
            try:
                if domain == "cctv":
                    ev = parse_event(fields)
                    if ev.get("lat") is None or not ev.get("district"):  # place it from the camera's registration
                        where = self.evaluator.city.place_of(str(ev["camera_id"]), ev.get("district"))
                        ev.update(district=where.district, lat=ev.get("lat") or where.lat, lon=ev.get("lon") or where.lon)
                    cand = evaluate_cctv(self.rules, ev, ev["time"])
                    if cand is not None:
                        out.append(cand)
                else:
                    readings += parse_batch(fields)
            except (KeyError, ValueError, TypeError) as exc:  # a malformed entry must not block the stream
                log.error("alerts: skipping malformed %s entry %s: %s", domain, entry_id, exc)
        return out + self.evaluator.readings(readings)

    def handle(self, domain: str, entries: list[tuple[str, Mapping[str, str]]]) -> int:
        """Evaluate, commit alerts, publish, then acknowledge. On failure nothing is acknowledged."""
        if not entries:
            return 0
        cands = self.candidates(domain, entries)
        changed = service.raise_candidates(self.rt, cands, self.rules)
        if changed:
            self.rt.coalescer.add(CHANNEL, {str(a["id"]): a for a in changed})
        self.rt.redis.ack(domain, CONSUMER_GROUP, *[e for e, _ in entries])
        return len(entries)

    def step(self) -> int:
        """One pass over every stream; the number of entries handled."""
        mono = self.rt.clock.monotonic()
        n = 0
        if mono - self.last_claim >= CLAIM_EVERY_S:
            self.last_claim = mono
            for domain in READ_ORDER:
                n += self.handle(domain, self.rt.redis.claim_stale(domain, CONSUMER_GROUP, self.consumer,
                                                                   min_idle_ms=self.stale_ms, count=READ_COUNT[domain]))
        for domain in READ_ORDER:
            n += self.handle(domain, self.rt.redis.read_group(domain, CONSUMER_GROUP, self.consumer,
                                                              count=READ_COUNT[domain], block_ms=None))
        if mono - self.last_sweep >= self.rules.health.sweep_seconds:
            self.last_sweep = mono
            changed = service.raise_candidates(self.rt, self.evaluator.sweep(), self.rules)
            if changed:
                self.rt.coalescer.add(CHANNEL, {str(a["id"]): a for a in changed})
        self.flush()
        return n

    def flush(self, force: bool = False) -> None:
        try:
            self.rt.coalescer.flush(force=force)
        except Unavailable:
            pass  # logged by the guard; the coalescer keeps the changes for the next window


def consumer_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{threading.get_ident()}"


def run_alert_worker(rt: Runtime, stop: threading.Event, *, rules: RuleSet | None = None) -> None:
    """Consume until `stop` is set. Database or Redis outages are logged and retried, not fatal."""
    worker = AlertWorker(rt, rules or default_rules(), consumer_name())
    log.info("alert worker %s started", worker.consumer)
    while not stop.is_set():
        try:
            handled = worker.step()
        except CityOpsError as exc:
            log.error("alert worker: %s; retrying in 2 s (unacknowledged entries are re-read)", exc.message)
            stop.wait(2)
            continue
        if not handled:
            stop.wait(IDLE_WAIT_S)
    worker.flush(force=True)
