"""Detection rules as data: rows of frozen dataclasses loaded from ``rules.yaml``, and pure
functions that take values and return alert candidates. No session, Redis or Flask here: the
worker loads state, calls these, and stores what they return.

A rule never sees a quarantined value, and the emergency rules never see a flagged one: flagged
values only feed the drift rule (a sensor that keeps being flagged needs a technician).
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from alerts.const import (
    AIR_QUALITY,
    CATEGORIES,
    CCTV_CATEGORIES,
    MAINTENANCE,
    SEVERITIES,
    SEVERITY_RANK,
    TRAFFIC_INCIDENT,
)
from feeds.air_queries import Figure
from feeds.aqi import CAI_POLLUTANTS
from store.errors import ValidationError

RULES_FILE = Path(__file__).with_name("rules.yaml")
VALID_QA = frozenset({"ok", "released"})


# -- what the rules take and give --------------------------------------------------------------
@dataclass(frozen=True)
class Reading:
    """One sensor's accepted values at one time, as the domain streams carry them."""

    sensor_id: str
    kind: str
    district: str | None
    time: datetime
    values: Mapping[str, float]
    qa: Mapping[str, str] = field(default_factory=dict)

    def valid(self, quantity: str) -> float | None:
        """The value if it passed QA ("ok" or released by a person), else None."""
        v = self.values.get(quantity)
        if v is None or self.qa.get(quantity, "ok") not in VALID_QA:
            return None
        return float(v)


@dataclass(frozen=True)
class Place:
    district: str | None
    lat: float | None
    lon: float | None


@dataclass(frozen=True)
class Candidate:
    """Something that should be an alert (new, or folded into an open one with the same key)."""

    category: str
    severity: str
    rule: str
    source: str
    place: str
    time: datetime
    where: Place
    detail: Mapping[str, Any] = field(default_factory=dict)
    dedup_minutes: float = 10.0
    group_hint: str | None = None  # alerts with one hint share one incident (a spreading jam)

    @property
    def dedup_key(self) -> str:
        return f"{self.category}|{self.source}|{self.place}"


# -- rule rows ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class CctvRule:
    category: str
    min_confidence: float
    severity: str
    dedup_minutes: float


@dataclass(frozen=True)
class TrafficRule:
    speed_fraction: float
    consecutive: int
    min_usual_kmh: float
    severity: str


@dataclass(frozen=True)
class AirRule:
    """Severity per CAI grade. No window of its own: the figures are `feeds.air_queries`' district
    sub-indices (AirKorea's averaging), so an alert always agrees with the air page."""

    grades: Mapping[str, str]  # CAI grade -> severity


@dataclass(frozen=True)
class ThresholdRule:
    """An infrastructure gauge: above / below a level, or a drop (fraction) since the last reading."""

    key: str
    kind: str
    quantity: str
    op: str  # above | below | drop
    category: str
    levels: tuple[tuple[float, str], ...]


@dataclass(frozen=True)
class HealthRule:
    silent_factor: float
    sweep_seconds: float
    silent_severity: str
    drift_count: int
    drift_window_minutes: float
    drift_severity: str
    feed_silent_fraction: float = 0.5


@dataclass(frozen=True)
class IncidentRule:
    radius_m: float
    window_minutes: float
    families: Mapping[str, tuple[str, ...]]

    def family_of(self, category: str) -> str | None:
        for name, cats in self.families.items():
            if category in cats:
                return name
        return None


@dataclass(frozen=True)
class EscalationRule:
    reminder_minutes: float
    check_seconds: float


@dataclass(frozen=True)
class RuleSet:
    dedup_minutes: float
    cctv: Mapping[str, CctvRule]
    traffic: TrafficRule
    air: AirRule
    infrastructure: tuple[ThresholdRule, ...]
    health: HealthRule
    incidents: IncidentRule
    escalation: EscalationRule


# -- loading -----------------------------------------------------------------------------------
def _severity(value: Any, where: str) -> str:
    if value not in SEVERITIES:
        raise ValidationError(f"rules file: {where}: severity {value!r} is not one of {', '.join(SEVERITIES)}")
    return str(value)


def parse_rules(raw: Mapping[str, Any]) -> RuleSet:
    """A RuleSet from the rules file's contents; a clear ValidationError naming the bad entry."""
    try:
        dedup = float(raw.get("dedup_minutes", 10))
        cctv = {}
        for cat, row in raw["cctv"].items():
            if cat not in CCTV_CATEGORIES:
                raise ValidationError(f"rules file: cctv: unknown category {cat!r}")
            conf = float(row["min_confidence"])
            if not 0 <= conf <= 1:
                raise ValidationError(f"rules file: cctv.{cat}: min_confidence must be within 0..1")
            cctv[cat] = CctvRule(cat, conf, _severity(row["severity"], f"cctv.{cat}"), float(row.get("dedup_minutes", dedup)))
        t = raw["traffic"]
        traffic = TrafficRule(float(t["speed_fraction"]), int(t["consecutive"]), float(t.get("min_usual_kmh", 0)),
                              _severity(t.get("severity", "major"), "traffic"))
        if not 0 < traffic.speed_fraction < 1 or traffic.consecutive < 1:
            raise ValidationError("rules file: traffic: speed_fraction must be within 0..1 and consecutive at least 1")
        a = raw["air"]
        if "window_minutes" in a or "min_readings" in a:
            raise ValidationError("rules file: air: window_minutes and min_readings are gone; the air rule reads the "
                                  "district CAI sub-indices of feeds.air_queries (regulatory windows)")
        air = AirRule({g: _severity(s, f"air.grades.{g}") for g, s in a["grades"].items()})
        infra = []
        for row in raw["infrastructure"]:
            if row["op"] not in ("above", "below", "drop"):
                raise ValidationError(f"rules file: infrastructure.{row['key']}: op must be above, below or drop")
            if row["category"] not in CATEGORIES:
                raise ValidationError(f"rules file: infrastructure.{row['key']}: unknown category {row['category']!r}")
            levels = tuple((float(v), _severity(s, f"infrastructure.{row['key']}")) for v, s in row["levels"])
            infra.append(ThresholdRule(row["key"], row["kind"], row["quantity"], row["op"], row["category"], levels))
        h = raw["health"]
        health = HealthRule(float(h["silent_factor"]), float(h["sweep_seconds"]), _severity(h["silent_severity"], "health"),
                            int(h["drift_count"]), float(h["drift_window_minutes"]), _severity(h["drift_severity"], "health"),
                            float(h.get("feed_silent_fraction", 0.5)))
        for sev in (health.silent_severity, health.drift_severity):
            if SEVERITY_RANK[sev] > SEVERITY_RANK["minor"]:
                raise ValidationError("rules file: health: maintenance alerts are info or minor, never an emergency")
        i = raw["incidents"]
        incidents = IncidentRule(float(i["radius_m"]), float(i["window_minutes"]),
                                 {k: tuple(v) for k, v in i["families"].items()})
        e = raw.get("escalation", {})
        escalation = EscalationRule(float(e.get("reminder_minutes", 2)), float(e.get("check_seconds", 10)))
    except ValidationError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ValidationError(f"rules file: missing or malformed entry ({type(exc).__name__}: {exc})") from None
    return RuleSet(dedup, cctv, traffic, air, tuple(infra), health, incidents, escalation)


def load_rules(path: Path | None = None) -> RuleSet:
    """Read and check the rules file (the default one unless a path is given)."""
    p = path or RULES_FILE
    try:
        raw = yaml.safe_load(p.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ValidationError(f"rules file {p} cannot be read: {exc}") from None
    if not isinstance(raw, dict):
        raise ValidationError(f"rules file {p} must be a mapping")
    return parse_rules(raw)


@cache
def default_rules() -> RuleSet:
    return load_rules()


# -- CCTV analytics ----------------------------------------------------------------------------
def evaluate_cctv(rules: RuleSet, event: Mapping[str, Any], time: datetime) -> Candidate | None:
    """An alert for a camera event whose confidence reaches its category's threshold."""
    rule = rules.cctv.get(event["category"])
    if rule is None or float(event["confidence"]) < rule.min_confidence:
        return None
    camera = str(event["camera_id"])
    return Candidate(rule.category, rule.severity, "cctv", camera, camera, time,
                     Place(event.get("district"), event.get("lat"), event.get("lon")),
                     {"confidence": round(float(event["confidence"]), 3), "camera_id": camera},
                     rule.dedup_minutes)


# -- traffic incident detection ----------------------------------------------------------------
@dataclass(frozen=True)
class LinkInfo:
    link_id: str
    free_speed_kmh: float
    district: str | None
    lat: float | None
    lon: float | None
    downstream: tuple[str, ...] = ()  # links this one feeds into (a jam spreads upstream from them)


@dataclass(frozen=True)
class LinkState:
    low_count: int = 0
    head: str | None = None  # the link where this jam started, when this link is part of one

    def collapsed(self, rule: TrafficRule) -> bool:
        return self.low_count >= rule.consecutive


def evaluate_speed(rule: TrafficRule, link: LinkInfo, speed_kmh: float, usual_kmh: float | None, time: datetime,
                   state: LinkState, downstream_states: Mapping[str, LinkState],
                   dedup_minutes: float = 10.0) -> tuple[LinkState, Candidate | None]:
    """Speed below `speed_fraction` of the usual speed for `consecutive` readings → incident.

    The usual speed is the history's mean for that link and hour when known, else free flow. A
    collapsing link whose downstream link already collapsed joins that jam (same head), so a jam
    spreading upstream is one incident, not many.
    """
    usual = usual_kmh if usual_kmh and usual_kmh > 0 else link.free_speed_kmh
    if usual < rule.min_usual_kmh or speed_kmh >= rule.speed_fraction * usual:
        return LinkState(), None
    count = state.low_count + 1
    if count < rule.consecutive:
        return LinkState(count, state.head), None
    head = state.head
    if head is None:
        head = next((s.head or d for d, s in downstream_states.items() if s.collapsed(rule)), link.link_id)
    cand = Candidate(TRAFFIC_INCIDENT, rule.severity, "traffic.speed", link.link_id, link.link_id, time,
                     Place(link.district, link.lat, link.lon),
                     {"speed_kmh": round(speed_kmh, 1), "usual_kmh": round(usual, 1), "readings_low": count,
                      "head_link": head},
                     dedup_minutes, group_hint=f"traffic:{head}")
    return LinkState(count, head), cand


# -- air quality -------------------------------------------------------------------------------
def evaluate_air(rule: AirRule, figures: Mapping[str, Figure], now: datetime, where: Place,
                 dedup_minutes: float = 10.0) -> list[Candidate]:
    """An alert per pollutant whose district CAI sub-index is at a graded level.

    `figures` are one district's sub-indices from `feeds.air_queries` (validated data only, PM on
    AirKorea's 24 h predicted average, gases on the latest hourly mean): the figures the air page
    and ``GET /api/v1/air/districts`` show, so the alerts cannot disagree with them. A withheld
    figure (too few hourly means) gives no verdict. Dedup stays per district and pollutant.
    """
    if where.district is None:
        return []
    out = []
    for pollutant in CAI_POLLUTANTS:
        fig = figures.get(pollutant)
        if fig is None or fig.grade is None or fig.grade not in rule.grades or fig.concentration is None:
            continue
        out.append(Candidate(AIR_QUALITY, rule.grades[fig.grade], f"air.{fig.grade}", f"cai:{pollutant}", where.district,
                             now, where, {"pollutant": pollutant, "concentration": round(fig.concentration, 4),
                                          "window": fig.window, "cai": fig.index, "grade": fig.grade},
                             dedup_minutes))
    return out


# -- infrastructure gauges ---------------------------------------------------------------------
def _level(rule: ThresholdRule, measure: float) -> str | None:
    hit = None
    for level, severity in rule.levels:
        reached = measure <= level if rule.op == "below" else measure >= level
        if reached and (hit is None or SEVERITY_RANK[severity] > SEVERITY_RANK[hit]):
            hit = severity
    return hit


def evaluate_threshold(rule: ThresholdRule, reading: Reading, previous: float | None, where: Place,
                       dedup_minutes: float = 10.0) -> Candidate | None:
    """The gauge's alert, if its validated value crosses a level (or fell by a fraction since `previous`)."""
    if reading.kind != rule.kind:
        return None
    value = reading.valid(rule.quantity)
    if value is None:
        return None
    if rule.op == "drop":
        if previous is None or previous <= 0:
            return None
        measure = (previous - value) / previous
    else:
        measure = value
    severity = _level(rule, measure)
    if severity is None:
        return None
    detail: dict[str, Any] = {"quantity": rule.quantity, "value": value}
    if rule.op == "drop":
        detail.update(previous=previous, drop_fraction=round(measure, 3))
    return Candidate(rule.category, severity, f"infra.{rule.key}", reading.sensor_id, reading.sensor_id, reading.time,
                     where, detail, dedup_minutes)


# -- data health -------------------------------------------------------------------------------
@dataclass(frozen=True)
class SensorHealth:
    sensor_id: str
    kind: str
    last_time: datetime
    interval_s: float
    where: Place


def silent_sensors(rule: HealthRule, sensors: Iterable[SensorHealth], now: datetime,
                   dedup_minutes: float = 10.0) -> list[Candidate]:
    """Maintenance alerts for sensors silent longer than `silent_factor` reporting intervals."""
    out = []
    for s in sensors:
        silent_s = (now - s.last_time).total_seconds()
        if silent_s > rule.silent_factor * s.interval_s:
            out.append(Candidate(MAINTENANCE, rule.silent_severity, "health.silent", s.sensor_id, s.sensor_id, now, s.where,
                                 {"kind": s.kind, "silent_s": int(silent_s), "interval_s": s.interval_s,
                                  "last_time": s.last_time.isoformat()},
                                 max(dedup_minutes, rule.drift_window_minutes)))
    return out


def drifting(rule: HealthRule, sensor_id: str, kind: str, bad_times: Sequence[datetime], now: datetime, where: Place,
             dedup_minutes: float = 10.0) -> Candidate | None:
    """A maintenance alert when a sensor's values were flagged or quarantined `drift_count` times in the window."""
    cutoff = now - timedelta(minutes=rule.drift_window_minutes)
    n = sum(1 for t in bad_times if t > cutoff)
    if n < rule.drift_count:
        return None
    return Candidate(MAINTENANCE, rule.drift_severity, "health.drift", sensor_id, sensor_id, now, where,
                     {"kind": kind, "bad_values": n, "window_minutes": rule.drift_window_minutes},
                     max(dedup_minutes, rule.drift_window_minutes))


# -- grouping into incidents -------------------------------------------------------------------
def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine), metres."""
    r = 6_371_000.0
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * r * math.asin(math.sqrt(a))


@dataclass(frozen=True)
class AlertPoint:
    """What grouping needs to know about an alert."""

    id: int
    category: str
    lat: float | None
    lon: float | None
    last_seen: datetime
    incident_id: int | None = None


def related(rule: IncidentRule, a: AlertPoint, b: AlertPoint) -> bool:
    """Same family, within the radius and the time window of each other."""
    fam = rule.family_of(a.category)
    if fam is None or fam != rule.family_of(b.category) or a.id == b.id:
        return False
    if None in (a.lat, a.lon, b.lat, b.lon):
        return False
    if abs((a.last_seen - b.last_seen).total_seconds()) > rule.window_minutes * 60:
        return False
    return distance_m(a.lat, a.lon, b.lat, b.lon) <= rule.radius_m  # type: ignore[arg-type]


def find_partner(rule: IncidentRule, alert: AlertPoint, others: Iterable[AlertPoint]) -> AlertPoint | None:
    """The related alert to group with: one already in an incident first, then the nearest in time."""
    matches = [o for o in others if related(rule, alert, o)]
    if not matches:
        return None
    matches.sort(key=lambda o: (o.incident_id is None, abs((o.last_seen - alert.last_seen).total_seconds())))
    return matches[0]
