"""Air-quality read models for the air page, the wall and ``GET /api/v1/air/districts``; no Dash.

Every figure is computed from validated data only and with the regulatory averaging, and says
which window it used:

    CAI (Korea)   PM2.5, PM10   AirKorea's 24 h predicted moving average of hourly means
                                (`feeds.aqi.pm_24h_predicted`: last 12 h, last 4 h adjusted)
                  O3, NO2,      the latest hourly mean: this clock hour's once it has data,
                  CO, SO2       else the hour before (AirKorea publishes the last full hour)
    US AQI        PM2.5, PM10   24 h mean of hourly means (at least 18 of 24 hours, EPA's 75 %)
                  O3            8 h mean of hourly means (at least 6 of 8 hours)
                  NO2           mean of the last hour

History comes from the SQL rollups (validated values only, mostly-flagged buckets skipped, see
`feeds.hourly`). The live reading in Redis is used for the current hour only when its QA status
is good and the rollups have nothing for that hour yet: a flagged spike never moves an index.
When data is missing a figure is withheld (None with the reason), never guessed.

A district's concentration per pollutant is the mean of its sensors' windowed concentrations,
so one sensor's gap thins the district figure rather than blanking it.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from datetime import datetime, timedelta
from typing import Any

from feeds import aqi
from feeds.citypack import CityPack, SensorSite
from feeds.hourly import HourlyMeans, hourly_means
from store.clock import utc
from store.errors import NotFound, ValidationError
from store.runtime import Runtime

POLLUTANTS = ("pm25", "pm10", "o3", "no2", "co", "so2")
MAP_POLLUTANTS = ("pm25", "pm10", "o3", "no2")  # the air page's choice
GOOD_QA = frozenset({"ok", "released"})
UNITS = {"pm25": "µg/m³", "pm10": "µg/m³", "o3": "ppm", "no2": "ppm", "co": "ppm", "so2": "ppm"}

WINDOW_PM_CAI = "24h-predicted"  # AirKorea's C24E from the last 12 hourly means
WINDOW_1H = "1h"
WINDOW_8H = "8h"
WINDOW_24H = "24h"
HISTORY_HOURS = 24  # the longest window any figure needs
US_MIN_HOURS = {WINDOW_24H: 18, WINDOW_8H: 6}  # EPA's 75 % completeness


@dataclass(frozen=True)
class Figure:
    """One pollutant's averaged concentration and its sub-index, or why there is none."""

    pollutant: str
    window: str  # WINDOW_* constant
    concentration: float | None
    index: int | None = None
    grade: str | None = None
    level: int | None = None
    reason: str | None = None  # set when withheld


@dataclass(frozen=True)
class AirIndex:
    """An overall index (CAI or US AQI) with the pollutant that sets it, or the reason it is withheld."""

    value: int | None
    grade: str | None
    level: int | None
    pollutant: str | None
    window: str | None  # the window of the pollutant that sets it
    figures: dict[str, Figure] = field(default_factory=dict)
    reason: str | None = None


@dataclass(frozen=True)
class SensorAir:
    sensor_id: str
    district: str
    lat: float
    lon: float
    cai: AirIndex
    us_aqi: AirIndex
    latest: dict[str, float]  # the newest reading per pollutant, validated or not (see `latest_qa`)
    latest_qa: dict[str, str]  # pollutant -> ok | flagged | quarantined | released
    observed_at: datetime | None
    age_s: float | None

    @property
    def unverified(self) -> list[str]:
        """Pollutants whose newest reading is not trusted: shown as unverified, never as a grade."""
        return sorted(p for p, q in self.latest_qa.items() if q not in GOOD_QA)


@dataclass(frozen=True)
class DistrictAir:
    district: str
    name_ko: str
    cai: AirIndex
    us_aqi: AirIndex
    sensors: int  # sensors in the district
    reporting: int  # sensors with a validated figure of any kind
    observed_at: datetime | None  # newest reading of the district's sensors
    age_s: float | None


# -- pure: averaging windows -----------------------------------------------------------------------

def hour_starts(now: datetime, hours: int) -> tuple[datetime, ...]:
    """The clock hours ending with the current (partial) hour, oldest first."""
    return _hour_starts(now.replace(minute=0, second=0, microsecond=0), hours)


@lru_cache(maxsize=32)
def _hour_starts(this_hour: datetime, hours: int) -> tuple[datetime, ...]:
    return tuple(this_hour - timedelta(hours=h) for h in range(hours - 1, -1, -1))


def hourly_series(means: Mapping[datetime, float], live: float | None, now: datetime, hours: int) -> list[float | None]:
    """Hourly means oldest → newest; a validated live value stands in for an empty current hour."""
    slots = hour_starts(now, hours)
    series: list[float | None] = [means.get(h) for h in slots]
    if series[-1] is None and live is not None:
        series[-1] = live
    return series


def _withheld(pollutant: str, window: str, reason: str) -> Figure:
    return Figure(pollutant, window, None, reason=reason)


def _with_index(pollutant: str, window: str, c: float, system: str) -> Figure:
    sub = aqi.cai_sub_index(pollutant, c) if system == "cai" else aqi.us_aqi_sub_index(pollutant, c * 1000 if pollutant == "no2" else c)
    if sub is None:
        return _withheld(pollutant, window, "concentration outside the index's range")
    return Figure(pollutant, window, c, sub.index, sub.grade, sub.level)


def latest_hourly(series: Sequence[float | None]) -> float | None:
    """This hour's mean once it has data, else the previous hour's (never older)."""
    for v in list(series)[-1:-3:-1]:
        if v is not None:
            return v
    return None


def cai_figure(pollutant: str, series: Sequence[float | None]) -> Figure:
    """CAI sub-index from hourly means (oldest → newest, newest = current hour)."""
    if pollutant in aqi.PM_M:
        c = aqi.pm_24h_predicted(list(series[-12:]), pollutant)
        if c is None:
            return _withheld(pollutant, WINDOW_PM_CAI, "fewer than 4 hourly means in the last 12 h")
        return _with_index(pollutant, WINDOW_PM_CAI, c, "cai")
    c = latest_hourly(series)
    if c is None:
        return _withheld(pollutant, WINDOW_1H, "no validated value this hour or the hour before")
    return _with_index(pollutant, WINDOW_1H, c, "cai")


def us_figure(pollutant: str, series: Sequence[float | None]) -> Figure:
    """US AQI sub-index: PM 24 h, O3 8 h, NO2 1 h."""
    if pollutant == "no2":
        c = latest_hourly(series)
        if c is None:
            return _withheld(pollutant, WINDOW_1H, "no validated value this hour or the hour before")
        return _with_index(pollutant, WINDOW_1H, c, "us")
    window, hours = (WINDOW_8H, 8) if pollutant == "o3" else (WINDOW_24H, 24)
    values = [v for v in list(series)[-hours:] if v is not None]
    if len(values) < US_MIN_HOURS[window]:
        return _withheld(pollutant, window, f"{len(values)} of {hours} hourly means (needs {US_MIN_HOURS[window]})")
    return _with_index(pollutant, window, sum(values) / len(values), "us")


def overall(figures: Mapping[str, Figure], *, required: Iterable[str]) -> AirIndex:
    """The largest sub-index and its pollutant; withheld when a required pollutant has none."""
    missing = [p for p in required if figures.get(p) is None or figures[p].index is None]
    if missing:
        return AirIndex(None, None, None, None, None, dict(figures),
                        reason="missing " + ", ".join(f"{p} ({figures[p].reason})" if p in figures else p for p in missing))
    present = [f for f in figures.values() if f.index is not None]
    if not present:
        return AirIndex(None, None, None, None, None, dict(figures), reason="no validated data")
    worst = max(present, key=lambda f: (f.index, -POLLUTANTS.index(f.pollutant)))
    return AirIndex(worst.index, worst.grade, worst.level, worst.pollutant, worst.window, dict(figures))


def indices(series: Mapping[str, Sequence[float | None]]) -> tuple[AirIndex, AirIndex]:
    """CAI and US AQI from hourly series per pollutant (each oldest → newest, HISTORY_HOURS long)."""
    cai_figs = {p: cai_figure(p, s) for p, s in series.items() if p in POLLUTANTS}
    us_figs = {p: us_figure(p, s) for p, s in series.items() if p in ("pm25", "pm10", "o3", "no2")}
    cai = overall(cai_figs, required=aqi.CAI_REQUIRED)  # AirKorea: only with PM10, PM2.5, NO2 and O3
    us = overall(us_figs, required=())  # EPA reports whatever pollutants a monitor has
    return cai, us


def _live_value(reading: Mapping[str, Any] | None, pollutant: str, now: datetime) -> float | None:
    """The latest reading of `pollutant` if validated and inside the current hour."""
    if not reading or reading.get("qa", {}).get(pollutant, "ok") not in GOOD_QA:
        return None
    value = reading.get("v", {}).get(pollutant)
    t = reading.get("t")
    if value is None or not t:
        return None
    observed = utc(datetime.fromisoformat(t))
    return float(value) if observed >= now.replace(minute=0, second=0, microsecond=0) else None


def sensor_series(sensor: SensorSite, means: HourlyMeans, reading: Mapping[str, Any] | None,
                  now: datetime) -> dict[str, list[float | None]]:
    """Hourly series of each pollutant the sensor measures (HISTORY_HOURS long, newest = this hour)."""
    mine = means.get(sensor.id, {})
    return {p: hourly_series(mine.get(p, {}), _live_value(reading, p, now), now, HISTORY_HOURS)
            for p in POLLUTANTS if p in sensor.quantities}


def _observed(reading: Mapping[str, Any] | None, now: datetime) -> tuple[datetime | None, float | None]:
    if not reading or not reading.get("t"):
        return None, None
    at = utc(datetime.fromisoformat(reading["t"]))
    return at, (now - at).total_seconds()


def sensor_air(sensor: SensorSite, means: HourlyMeans, reading: Mapping[str, Any] | None, now: datetime) -> SensorAir:
    """Pure: one sensor's indices from its hourly means and latest reading."""
    cai, us = indices(sensor_series(sensor, means, reading, now))
    at, age = _observed(reading, now)
    latest = {p: float(v) for p, v in (reading or {}).get("v", {}).items() if p in POLLUTANTS and v is not None}
    qa = {p: q for p, q in (reading or {}).get("qa", {}).items() if p in POLLUTANTS}
    return SensorAir(sensor.id, sensor.district, sensor.lat, sensor.lon, cai, us, latest, qa, at, age)


def district_air(pack: CityPack, means: HourlyMeans, latest: Mapping[str, Mapping[str, Any]], now: datetime) -> list[DistrictAir]:
    """Pure: each district's indices from the mean of its sensors' hourly series; ranked worst first."""
    out = []
    for d in pack.districts:
        sensors = [s for s in pack.sensors if s.kind == "air" and s.district == d.name_en]
        cai, us, reporting = district_indices(sensors, means, latest, now)
        times = [_observed(latest.get(s.id), now)[0] for s in sensors]
        newest = max((t for t in times if t), default=None)
        out.append(DistrictAir(d.name_en, d.name_ko, cai, us, len(sensors), reporting, newest,
                               (now - newest).total_seconds() if newest else None))
    return rank_districts(out)


def district_indices(sensors: Sequence[SensorSite], means: HourlyMeans, latest: Mapping[str, Mapping[str, Any]],
                     now: datetime) -> tuple[AirIndex, AirIndex, int]:
    """Pure: one district's CAI and US AQI from the mean of its sensors' hourly series, and how
    many sensors have a validated figure. The one district computation: the air page, the API,
    the wall and the alerts' air rule all come through here."""
    per_sensor = [sensor_series(s, means, latest.get(s.id), now) for s in sensors]
    merged: dict[str, list[float | None]] = {}
    for p in POLLUTANTS:
        columns = [ser[p] for ser in per_sensor if p in ser]
        if columns:
            merged[p] = [_mean([c[i] for c in columns]) for i in range(HISTORY_HOURS)]
    reporting = sum(any(v is not None for col in ser.values() for v in col) for ser in per_sensor)
    if not merged:
        none = AirIndex(None, None, None, None, None, reason="no air sensors in this district")
        return none, none, reporting
    cai, us = indices(merged)
    return cai, us, reporting


def _mean(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return sum(present) / len(present) if present else None


def rank_districts(districts: Iterable[DistrictAir]) -> list[DistrictAir]:
    """Worst CAI first; districts whose CAI is withheld last, by name."""
    return sorted(districts, key=lambda d: (d.cai.value is None, -(d.cai.value or 0), d.district))


@dataclass(frozen=True)
class SensorDay:
    """The 24-hour chart of one sensor: hourly means per pollutant (validated values only)."""

    sensor_id: str
    district: str
    hours: list[datetime]  # UTC hour starts, oldest first; the last is the current partial hour
    series: dict[str, list[float | None]]
    units: dict[str, str]
    window: str = "hourly means of validated values"


# -- I/O shell ---------------------------------------------------------------------------------------

SETTLE = timedelta(minutes=10)  # an hour's rollups are taken as final this long after it ended
_CACHE = __name__ + ".settled_hours"


def _history(rt: Runtime, ids: list[str] | None, now: datetime) -> HourlyMeans:
    """Hourly means of the last HISTORY_HOURS for `ids` (None = every sensor).

    Settled hours (ended more than SETTLE ago) are read once for every sensor and kept in the
    runtime's cache, so a live update re-reads only the current hour or two: at Seoul scale that
    is the difference between seconds and a few hundred milliseconds (bench/air_traffic_reads.py).
    """
    hours = hour_starts(now, HISTORY_HOURS)
    settled = [h for h in hours if h + timedelta(hours=1) <= now - SETTLE]
    cache: dict[datetime, dict[str, dict[str, float]]] = rt.caches.setdefault(_CACHE, {})  # hour -> sensor -> q -> mean
    missing = [h for h in settled if h not in cache]
    if missing:
        with rt.session() as s:
            fetched = hourly_means(s, "sensor", None, POLLUTANTS, missing[0], missing[-1] + timedelta(hours=1))
        per_hour: dict[datetime, dict[str, dict[str, float]]] = {h: {} for h in missing}
        for sid, by_q in fetched.items():
            for q, by_h in by_q.items():
                for h, v in by_h.items():
                    if h in per_hour:
                        per_hour[h].setdefault(sid, {})[q] = v
        cache.update(per_hour)
        for h in [h for h in cache if h < hours[0]]:
            cache.pop(h, None)
    live_from = settled[-1] + timedelta(hours=1) if settled else hours[0]
    with rt.session() as s:
        out = hourly_means(s, "sensor", ids, POLLUTANTS, live_from, now + timedelta(hours=1))
    wanted = None if ids is None else set(ids)
    for h in settled:
        for sid, by_q in cache.get(h, {}).items():
            if wanted is not None and sid not in wanted:
                continue
            mine = out.setdefault(sid, {})
            for q, v in by_q.items():
                mine.setdefault(q, {})[h] = v
    return out


def read_sensors(rt: Runtime, pack: CityPack, ids: Iterable[str] | None = None) -> list[SensorAir]:
    """Air sensors with their indices; `ids` limits it to a few (a live update), None means all."""
    now = rt.clock.now()
    sites = pack.sensors_of("air")
    if ids is not None:
        wanted = set(ids)
        sites = [s for s in sites if s.id in wanted]
        if not sites:
            return []
    latest = rt.redis.all_latest("air")
    means = _history(rt, None if ids is None else [s.id for s in sites], now)
    return [sensor_air(s, means, latest.get(s.id), now) for s in sites]


def read_districts(rt: Runtime, pack: CityPack, *, max_age_s: float = 0.0) -> list[DistrictAir]:
    """Every district, worst first. `max_age_s` > 0 reuses a result that young, shared by every
    page and API caller of this process: the ranking moves by the hour, and at Seoul scale one
    computation costs a few hundred milliseconds, too much for every live tick of every screen.
    """
    key = __name__ + ".districts"
    hit = rt.caches.get(key)
    if max_age_s > 0 and hit is not None and rt.clock.monotonic() - hit[0] <= max_age_s:
        return hit[1]
    now = rt.clock.now()
    result = district_air(pack, _history(rt, None, now), rt.redis.all_latest("air"), now)
    rt.caches[key] = (rt.clock.monotonic(), result)
    return result


def read_district_cai(rt: Runtime, sensors_by_district: Mapping[str, Sequence[SensorSite]]) -> dict[str, AirIndex]:
    """The CAI of a few districts, each from the sensors given for it (the alert worker's
    registered stations); the same `district_indices` as `read_districts`, so an alert's grade is
    the one the air page shows. Reads only those sensors' current hours (settled hours are cached)."""
    now = rt.clock.now()
    ids = [s.id for sensors in sensors_by_district.values() for s in sensors]
    means = _history(rt, ids, now) if ids else {}
    latest = rt.redis.all_latest("air") if ids else {}
    return {d: district_indices(sensors, means, latest, now)[0] for d, sensors in sensors_by_district.items()}


def read_sensor_day(rt: Runtime, pack: CityPack, sensor_id: str) -> SensorDay:
    site = next((s for s in pack.sensors if s.id == sensor_id and s.kind == "air"), None)
    if site is None:
        raise NotFound(f"no air sensor {sensor_id!r}")
    now = rt.clock.now()
    means = _history(rt, [sensor_id], now)
    series = sensor_series(site, means, rt.redis.get_latest("air", sensor_id), now)
    return SensorDay(sensor_id, site.district, list(hour_starts(now, HISTORY_HOURS)), series,
                     {p: UNITS[p] for p in series})


def check_pollutant(pollutant: str) -> str:
    if pollutant not in MAP_POLLUTANTS:
        raise ValidationError(f"pollutant must be one of {', '.join(MAP_POLLUTANTS)}, not {pollutant!r}")
    return pollutant


def map_classes(sensors: Iterable[SensorAir], pollutant: str, system: str) -> dict[str, list[Any]]:
    """The air map's wire state for one pollutant and index (`system` "cai" or "us"):
    ``{sensor id: [class, concentration]}``, the shape of the live wire state (CONTRACTS).

    Class is the sub-index grade of that pollutant in its regulatory window (US grades prefixed
    ``us_``), ``flagged`` when the sensor's newest reading of it is flagged or quarantined (so an
    unverified value is never drawn as good), or None when the figure is withheld.
    """
    check_pollutant(pollutant)
    out: dict[str, list[Any]] = {}
    for s in sensors:
        fig = (s.cai if system == "cai" else s.us_aqi).figures.get(pollutant)
        value = None if fig is None or fig.concentration is None else round(fig.concentration, 4)
        if pollutant in s.unverified:
            cls: str | None = "flagged"
        elif fig is None or fig.grade is None:
            cls = None
        else:
            cls = fig.grade if system == "cai" else f"us_{fig.grade}"
        out[s.sensor_id] = [cls, value]
    return out
