"""Quality assurance of observations, as the seed's table says, as pure functions over data.

    stage        check                                              outcome
    schema       types, required fields, known sensor, known        reject (with the reason, logged)
                 quantity for that sensor
    range        physically plausible bounds of the quantity         quarantine (kept for review)
    statistics   outside 3 sigma of the trailing 24-hour mean of     accept, but flag for maintenance
                 that sensor and quantity

Units are checked when a sensor is registered (`check_units`): an observation carries bare numbers
in the units its sensor declared, so a sensor declaring ``pm25`` in ``ppm`` is refused up front.

The trailing 24 hours are the 24 complete clock hours before the hour of the value (the hour in
progress joins the yardstick when it completes); with fewer than `MIN_SAMPLES` values there,
nothing is flagged. A standard deviation below the quantity's `min_sigma` counts as `min_sigma`.

Nothing here touches Redis, SQL or Flask. `assess` is the hot loop of ingest (every value of
every observation passes through it), so it is written for speed: one pass, local names, sums
per hour bucket (`Series`) whose yardstick (mean, threshold) is worked out once per hour, so a
check is one subtraction and one comparison, never a scan of the last 24 hours.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from math import isfinite
from typing import Any

# Outcomes of one value. "released" is a quarantined value an operator let through.
OK, FLAGGED, QUARANTINED, REJECTED, RELEASED = "ok", "flagged", "quarantined", "rejected", "released"
OUTCOMES = (OK, FLAGGED, QUARANTINED, REJECTED)

SIGMAS = 3.0  # statistical check: further than this many standard deviations from the mean
MIN_SAMPLES = 30  # fewer values than this in the trailing window: too little history to judge
WINDOW_HOURS = 24  # the trailing window: the complete hours before the current one


@dataclass(frozen=True)
class Quantity:
    """One measured quantity: its unit, its physically plausible bounds, its noise floor.

    `min_sigma` is the smallest standard deviation the statistical check assumes: a sensor whose
    history is perfectly flat (or quantised) would otherwise flag every change of one step.
    """

    name: str
    unit: str
    low: float
    high: float
    min_sigma: float
    aliases: frozenset[str] = frozenset()

    def accepts_unit(self, unit: str) -> bool:
        return unit == self.unit or unit in self.aliases


_ROWS = (
    Quantity("pm25", "ug/m3", 0, 1000, 1.0, frozenset({"µg/m3", "µg/m³", "ug/m³"})),
    Quantity("pm10", "ug/m3", 0, 2000, 1.0, frozenset({"µg/m3", "µg/m³", "ug/m³"})),
    Quantity("o3", "ppm", 0, 1.0, 0.002),
    Quantity("no2", "ppm", 0, 2.0, 0.002),
    Quantity("co", "ppm", 0, 100, 0.05),
    Quantity("so2", "ppm", 0, 2.0, 0.001),
    Quantity("temperature_c", "C", -40, 60, 0.3, frozenset({"°C", "degC"})),
    Quantity("humidity_pct", "%", 0, 100, 1.0),
    Quantity("noise_db", "dB", 0, 150, 1.0, frozenset({"dBA", "dB(A)"})),
    Quantity("speed_kmh", "km/h", 0, 200, 2.0, frozenset({"kmh", "kph"})),
    Quantity("volume_vph", "veh/h", 0, 12000, 10.0, frozenset({"vph"})),
    Quantity("occupancy_pct", "%", 0, 100, 1.0),
    Quantity("pressure_kpa", "kPa", 0, 2000, 2.0),
    Quantity("methane_ppm", "ppm", 0, 100_000, 1.0),
    Quantity("level_cm", "cm", 0, 2000, 1.0),
    Quantity("vibration_mm_s", "mm/s", 0, 500, 0.1),
    Quantity("flow_m3h", "m3/h", 0, 100_000, 1.0, frozenset({"m³/h"})),
    Quantity("strain_ue", "ue", -5000, 5000, 1.0, frozenset({"µε", "microstrain"})),
)
QUANTITIES: dict[str, Quantity] = {q.name: q for q in _ROWS}


def check_units(quantities: Mapping[str, Any]) -> list[str]:
    """Problems with a sensor's declared {quantity: unit}; empty when every pair is known."""
    problems = []
    for name, unit in quantities.items():
        q = QUANTITIES.get(name)
        if q is None:
            problems.append(f"unknown quantity {name!r}; known: {', '.join(QUANTITIES)}")
        elif not isinstance(unit, str) or not q.accepts_unit(unit):
            problems.append(f"{name} is measured in {q.unit}, not {unit!r}")
    return problems


@dataclass(frozen=True)
class SensorSpec:
    """What QA needs to know of a registered sensor (the registry's cached row)."""

    id: str
    kind: str
    domain: str
    district: str | None
    quantities: Mapping[str, str]  # quantity name -> unit
    rows: Mapping[str, Quantity] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "rows", {n: QUANTITIES[n] for n in self.quantities if n in QUANTITIES})


# -- trailing statistics -----------------------------------------------------------------------
class Series:
    """One sensor's quantity: sums per hour bucket, and the yardstick of the trailing 24 hours.

    The yardstick (mean and 3-sigma threshold) is that of the 24 complete hours before the
    current one, worked out once when the hour changes, so judging a value is one subtraction
    and one comparison, not a pass over a day of history. Sums are of ``value - ref`` (the first
    value seen), so the variance of a large, steady value (a water pressure of 500 kPa moving by
    0.1) does not drown in rounding.
    """

    __slots__ = ("key", "ref", "hour", "cur", "buckets", "low", "high", "floor2",
                 "n", "mean", "sd", "thr2", "dirty", "touched")

    def __init__(self, key: str, row: Quantity, ref: float, hour: int) -> None:
        self.key = key
        self.ref = ref
        self.low, self.high = row.low, row.high
        self.floor2 = row.min_sigma * row.min_sigma
        self.hour = hour
        self.cur: list[Any] = [0, 0.0, 0.0]
        self.buckets: dict[int, list[Any]] = {hour: self.cur}
        self.n = 0  # values in the yardstick's window
        self.mean = math.nan
        self.sd = math.nan
        self.thr2 = math.inf  # squared deviation beyond which a value is flagged; inf: too little history
        self.dirty = False  # changed since last persisted
        self.touched: set[int] = set()  # hours other than the current one changed since then

    def refresh(self) -> None:
        """Work the yardstick out again from the complete hours of the window."""
        first = self.hour - WINDOW_HOURS
        n, s, ss = 0, 0.0, 0.0
        for h in list(self.buckets):
            if h < first:
                del self.buckets[h]
            elif h < self.hour:
                b = self.buckets[h]
                n += b[0]
                s += b[1]
                ss += b[2]
        self.n = n
        if n >= MIN_SAMPLES:
            m = s / n
            var = max(ss / n - m * m, 0.0)
            self.mean = self.ref + m
            self.sd = math.sqrt(var)
            self.thr2 = SIGMAS * SIGMAS * max(var, self.floor2)
        else:
            self.mean = self.sd = math.nan
            self.thr2 = math.inf

    def roll(self, hour: int) -> None:
        """Make `hour` (later than the current one) the current hour."""
        if self.dirty:
            self.touched.add(self.hour)
        self.hour = hour
        self.cur = self.buckets.setdefault(hour, [0, 0.0, 0.0])
        self.refresh()

    def add_at(self, hour: int, value: float) -> bool:
        """Add a value of an earlier hour (late data); False when it is older than the window."""
        if hour < self.hour - WINDOW_HOURS:
            return False
        b = self.buckets.setdefault(hour, [0, 0.0, 0.0])
        d = value - self.ref
        b[0] += 1
        b[1] += d
        b[2] += d * d
        self.touched.add(hour)
        self.refresh()
        return True

    def remove_at(self, hour: int, value: float) -> None:
        """Undo an add (a batch whose write failed must not count in the history)."""
        b = self.buckets.get(hour)
        if b is None or b[0] <= 0:
            return
        d = value - self.ref
        b[0] -= 1
        b[1] -= d
        b[2] -= d * d
        if hour != self.hour:
            self.refresh()

    def merge_bucket(self, hour: int, n: int, s: float, ss: float, ref: float) -> None:
        """Add persisted sums (taken around `ref`) into the bucket of `hour` (call `refresh` after)."""
        if n <= 0:
            return
        shift = ref - self.ref  # sums around ref -> sums around self.ref
        b = self.buckets.setdefault(hour, [0, 0.0, 0.0])
        b[0] += n
        b[1] += s + n * shift
        b[2] += ss + 2 * shift * s + n * shift * shift
        if hour > self.hour:
            self.hour = hour
            self.cur = b

    def mean_sd(self) -> tuple[float, float]:
        """The yardstick: mean and standard deviation of the window (nan: too little history)."""
        return self.mean, self.sd

    def bucket_rows(self, hours: Iterable[int]) -> dict[int, str]:
        """Hour -> "n s ss ref" for persisting the given buckets."""
        out = {}
        for h in hours:
            b = self.buckets.get(h)
            if b is not None:
                out[h] = f"{b[0]} {b[1]!r} {b[2]!r} {self.ref!r}"
        return out


@dataclass
class TrailingStats:
    """Trailing 24-hour sums for every (sensor, quantity) seen, grouped by sensor."""

    by_sensor: dict[str, dict[str, Series]] = field(default_factory=dict)
    dirty: list[Series] = field(default_factory=list)

    def series(self, sensor_id: str, quantity: str) -> Series | None:
        return self.by_sensor.get(sensor_id, {}).get(quantity)

    def load(self, sensor_id: str, quantity: str, hour: int, n: int, s: float, ss: float, ref: float) -> None:
        """Put persisted sums of one hour back (after a restart); call `loaded` when done."""
        row = QUANTITIES.get(quantity)
        if row is None:
            return
        per = self.by_sensor.setdefault(sensor_id, {})
        ser = per.get(quantity)
        if ser is None:
            ser = per[quantity] = Series(f"{sensor_id}|{quantity}", row, ref, hour)
        ser.merge_bucket(hour, n, s, ss, ref)

    def loaded(self) -> None:
        for per in self.by_sensor.values():
            for ser in per.values():
                ser.refresh()

    def take_dirty(self) -> dict[int, dict[str, str]]:
        """Hour -> {"sensor|quantity": "n s ss ref"} of every bucket changed since the last call."""
        out: dict[int, dict[str, str]] = {}
        for ser in self.dirty:
            hours = {ser.hour, *ser.touched}
            for h, row in ser.bucket_rows(hours).items():
                out.setdefault(h, {})[ser.key] = row
            ser.dirty = False
            ser.touched = set()
        self.dirty = []
        return out


# -- the batch check ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Rejection:
    index: int  # position of the observation in the batch
    sensor_id: str | None
    quantity: str | None  # None: the whole observation was rejected
    reason: str


@dataclass(slots=True)
class Assessed:
    """One observation that passed the schema checks of its envelope."""

    index: int
    sensor: SensorSpec
    time: datetime  # aware UTC
    time_iso: str  # ISO 8601 UTC, as it goes on the stream
    hour: int  # hours since the epoch (the statistics bucket)
    values: dict[str, float]  # accepted values (ok or flagged)
    qa: dict[str, str]  # accepted quantity -> "ok" | "flagged"
    quarantined: list[tuple[str, float, str]]  # (quantity, value, reason)


@dataclass
class BatchVerdict:
    assessed: list[Assessed] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(OUTCOMES, 0))
    stats: TrailingStats | None = None  # where the accepted values were added (for `undo`)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def parse_time(raw: Any) -> datetime:
    """An aware UTC datetime from an aware datetime or an ISO 8601 string with an offset."""
    if isinstance(raw, str):
        try:
            t = datetime.fromisoformat(raw)
        except ValueError:
            raise ValueError(f"time {raw[:40]!r} is not ISO 8601") from None
    elif isinstance(raw, datetime):
        t = raw
    else:
        raise ValueError("time must be an ISO 8601 string with an offset")
    if t.tzinfo is None or t.utcoffset() is None:
        raise ValueError(f"time {str(raw)[:40]!r} has no UTC offset")
    return t.astimezone(UTC)


def assess(observations: Sequence[Any], sensors: Mapping[str, SensorSpec], stats: TrailingStats) -> BatchVerdict:
    """Check every value of a batch; add the accepted ones to `stats` (`undo` takes them back).

    Counts are per value; an observation rejected as a whole counts once per value it carried
    (once if none could be read). A value is judged against the 24 complete hours before its
    own hour, so the order of values inside an hour does not change verdicts.
    """
    out = BatchVerdict()
    rejections = out.rejections
    assessed = out.assessed
    by_sensor = stats.by_sensor
    dirty = stats.dirty
    times: dict[Any, tuple[datetime, str, int]] = {}
    n_acc = n_flag = n_quar = n_rej = 0
    fromkeys = dict.fromkeys

    for index, obs in enumerate(observations):
        # -- the envelope: shape, sensor, time
        if type(obs) is not dict:
            rejections.append(Rejection(index, None, None, "an observation must be a JSON object"))
            n_rej += 1
            continue
        sid = obs.get("sensor_id")
        values = obs.get("values")
        nvals = len(values) if type(values) is dict and values else 1
        if type(sid) is not str or not sid:
            rejections.append(Rejection(index, None, None, "sensor_id (a non-empty string) is required"))
            n_rej += nvals
            continue
        sensor = sensors.get(sid)
        if sensor is None:
            rejections.append(Rejection(index, sid, None, f"unknown sensor {sid[:80]!r}: register it first (PUT /api/v1/sensors/{{id}})"))
            n_rej += nvals
            continue
        if type(values) is not dict or not values:
            rejections.append(Rejection(index, sid, None, "values must be a non-empty object {quantity: number}"))
            n_rej += 1
            continue
        raw_t = obs.get("time")
        try:
            parsed = times[raw_t]
        except KeyError:
            try:
                t = parse_time(raw_t)
            except ValueError as exc:
                rejections.append(Rejection(index, sid, None, str(exc)))
                n_rej += nvals
                continue
            parsed = times[raw_t] = (t, t.isoformat(), int((t - _EPOCH).total_seconds()) // 3600)
        except TypeError:  # an unhashable time (a list, an object)
            rejections.append(Rejection(index, sid, None, "time must be an ISO 8601 string with an offset"))
            n_rej += nvals
            continue
        t, t_iso, hour = parsed

        # -- each value: type, range, statistics
        per = by_sensor.get(sid)
        if per is None:
            per = by_sensor[sid] = {}
        acc: dict[str, float] = {}
        flagged: list[str] | None = None
        quar: list[tuple[str, float, str]] | None = None
        for q, v in values.items():
            ser = per.get(q)
            tv = type(v)
            if ser is None or (tv is not float and tv is not int):
                row = sensor.rows.get(q)
                if row is None:
                    why = (f"sensor {sid!r} does not measure {q!r}" if q in QUANTITIES
                           else f"unknown quantity {str(q)[:40]!r}")
                    rejections.append(Rejection(index, sid, q, why))
                    n_rej += 1
                    continue
                if tv is not float and tv is not int:
                    rejections.append(Rejection(index, sid, q, f"{q} must be a number, not {tv.__name__}"))
                    n_rej += 1
                    continue
                if ser is None and row.low <= v <= row.high:
                    ser = per[q] = Series(f"{sid}|{q}", row, float(v), hour)
                elif ser is None:
                    ser = _Bounds(row)  # type: ignore[assignment] # out of range: no series yet
            if not (ser.low <= v <= ser.high):  # also false for NaN
                if not isfinite(v):
                    rejections.append(Rejection(index, sid, q, f"{q} must be a finite number"))
                    n_rej += 1
                    continue
                if quar is None:
                    quar = []
                quar.append((q, v, f"{q} {v:g} {sensor.rows[q].unit} outside plausible {ser.low:g}..{ser.high:g}"))
                n_quar += 1
                continue
            if hour != ser.hour:
                if hour > ser.hour:
                    ser.roll(hour)
                    b = ser.cur
                elif ser.add_at(hour, v):  # late data of an earlier hour
                    b = None
                else:  # older than the window: judged, not remembered
                    b = None
            else:
                b = ser.cur
            if b is not None:
                d = v - ser.ref
                b[0] += 1
                b[1] += d
                b[2] += d * d
            if not ser.dirty:
                ser.dirty = True
                dirty.append(ser)
            dev = v - ser.mean
            if dev * dev > ser.thr2:  # False while thr2 is inf (too little history) or mean is nan
                if flagged is None:
                    flagged = []
                flagged.append(q)
            acc[q] = v
        if acc:
            n_acc += len(acc)
            qa = fromkeys(acc, OK)
            if flagged:
                n_flag += len(flagged)
                for q in flagged:
                    qa[q] = FLAGGED
            assessed.append(Assessed(index, sensor, t, t_iso, hour, acc, qa, quar or []))
        elif quar:
            assessed.append(Assessed(index, sensor, t, t_iso, hour, acc, {}, quar))

    out.counts = {OK: n_acc - n_flag, FLAGGED: n_flag, QUARANTINED: n_quar, REJECTED: n_rej}
    out.stats = stats
    return out


class _Bounds:
    """Range bounds of a quantity a sensor has no history of yet (its first value is implausible)."""

    __slots__ = ("low", "high")

    def __init__(self, row: Quantity) -> None:
        self.low, self.high = row.low, row.high


def undo(verdict: BatchVerdict) -> None:
    """Take a batch's accepted values back out of the trailing statistics (its write failed)."""
    stats = verdict.stats
    if stats is None:
        return
    for a in reversed(verdict.assessed):
        per = stats.by_sensor.get(a.sensor.id, {})
        for q, v in a.values.items():
            ser = per.get(q)
            if ser is not None:
                ser.remove_at(a.hour, v)
    verdict.stats = None
