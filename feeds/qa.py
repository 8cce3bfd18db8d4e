"""Quality assurance of observations, as the seed's table says, as pure functions over data.

    stage        check                                              outcome
    schema       types, required fields, known sensor, known        reject (with the reason, logged)
                 quantity for that sensor
    range        physically plausible bounds of the quantity         quarantine (kept for review)
    statistics   outside 3 sigma of the trailing 24-hour mean of     accept, but flag for maintenance
                 that sensor and quantity

Units are checked when a sensor is registered (`check_units`): an observation carries bare numbers
in the units its sensor declared, so a sensor declaring ``pm25`` in ``ppm`` is refused up front.

Nothing here touches Redis, SQL or Flask. `assess` is the hot loop of ingest (every value of
every observation passes through it), so it is written for speed: one pass, local names, the
trailing statistics kept as running sums per hour bucket (`TrailingStats`) so that a check is a
handful of float operations and never a scan of the last 24 hours.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

# Outcomes of one value. "released" is a quarantined value an operator let through.
OK, FLAGGED, QUARANTINED, REJECTED, RELEASED = "ok", "flagged", "quarantined", "rejected", "released"
OUTCOMES = (OK, FLAGGED, QUARANTINED, REJECTED)

SIGMAS = 3.0  # statistical check: further than this many standard deviations from the mean
MIN_SAMPLES = 30  # fewer values than this in the trailing window: too little history to judge
WINDOW_HOURS = 24  # the trailing window: the current hour bucket and the 23 before it


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
    """Running sums of one sensor's quantity over the trailing window, by hour bucket.

    Sums are of ``value - ref`` (the first value seen), so the variance of a large, steady value
    (a water pressure of 500 kPa moving by 0.1) does not drown in rounding.
    """

    __slots__ = ("key", "ref", "hour", "cur", "n", "s", "ss", "buckets", "dirty", "touched")

    def __init__(self, key: str, ref: float, hour: int) -> None:
        self.key = key
        self.ref = ref
        self.hour = hour
        self.cur = [0, 0.0, 0.0]
        self.buckets: dict[int, list[Any]] = {hour: self.cur}
        self.n = 0
        self.s = 0.0
        self.ss = 0.0
        self.dirty = False  # changed since last persisted
        self.touched: set[int] = set()  # hours other than the current one changed since then

    def roll(self, hour: int) -> None:
        """Move the current bucket forward to `hour`, dropping buckets that left the window."""
        if self.dirty:
            self.touched.add(self.hour)
        first = hour - WINDOW_HOURS + 1
        for h in [h for h in self.buckets if h < first]:
            b = self.buckets.pop(h)
            self.n -= b[0]
            self.s -= b[1]
            self.ss -= b[2]
        if self.n <= 0:  # nothing left: reset exactly rather than carry rounding
            self.n, self.s, self.ss = 0, 0.0, 0.0
        self.hour = hour
        self.cur = self.buckets.setdefault(hour, [0, 0.0, 0.0])

    def add_at(self, hour: int, value: float) -> bool:
        """Add a value of an earlier hour; False when it is older than the window."""
        if hour <= self.hour - WINDOW_HOURS:
            return False
        b = self.buckets.setdefault(hour, [0, 0.0, 0.0])
        d = value - self.ref
        b[0] += 1
        b[1] += d
        b[2] += d * d
        self.n += 1
        self.s += d
        self.ss += d * d
        self.touched.add(hour)
        return True

    def remove_at(self, hour: int, value: float) -> None:
        """Undo `add` (a batch whose write failed must not count in the history)."""
        b = self.buckets.get(hour)
        if b is None or b[0] <= 0:
            return
        d = value - self.ref
        b[0] -= 1
        b[1] -= d
        b[2] -= d * d
        self.n -= 1
        self.s -= d
        self.ss -= d * d

    def merge_bucket(self, hour: int, n: int, s: float, ss: float, ref: float) -> None:
        """Add persisted sums (taken around `ref`) into the bucket of `hour`."""
        if n <= 0 or hour <= self.hour - WINDOW_HOURS:
            return
        shift = ref - self.ref  # sums around ref -> sums around self.ref
        s2 = s + n * shift
        ss2 = ss + 2 * shift * s + n * shift * shift
        b = self.buckets.setdefault(hour, [0, 0.0, 0.0])
        b[0] += n
        b[1] += s2
        b[2] += ss2
        self.n += n
        self.s += s2
        self.ss += ss2
        if hour > self.hour:
            self.roll(hour)

    def mean_sd(self) -> tuple[float, float]:
        if not self.n:
            return math.nan, math.nan
        m = self.s / self.n
        return self.ref + m, math.sqrt(max(self.ss / self.n - m * m, 0.0))

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
        """Put persisted sums of one hour back (after a restart)."""
        per = self.by_sensor.setdefault(sensor_id, {})
        ser = per.get(quantity)
        if ser is None:
            ser = per[quantity] = Series(f"{sensor_id}|{quantity}", ref, hour)
        ser.merge_bucket(hour, n, s, ss, ref)

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
    values: dict[str, float]  # accepted values (ok or flagged)
    qa: dict[str, str]  # accepted quantity -> "ok" | "flagged"
    quarantined: list[tuple[str, float, str]]  # (quantity, value, reason)


@dataclass
class BatchVerdict:
    assessed: list[Assessed] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(OUTCOMES, 0))
    undo: list[tuple[Series, int, float]] = field(default_factory=list)  # stats added by this batch


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
    """Check every value of a batch; record accepted values in `stats` (undo list kept).

    Values are judged one by one, in order, so a batch holding a sensor's history and then a
    jump judges the jump against that history. Counts are per value; an observation rejected
    as a whole counts once per value it carried (once if none could be read).
    """
    out = BatchVerdict()
    counts = out.counts
    rejections = out.rejections
    assessed = out.assessed
    undo = out.undo
    by_sensor = stats.by_sensor
    dirty = stats.dirty
    times: dict[Any, tuple[datetime, str, int]] = {}
    isfinite = math.isfinite
    n_ok = n_flag = n_quar = n_rej = 0
    sig2 = SIGMAS * SIGMAS

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
        rows = sensor.rows
        per = by_sensor.get(sid)
        if per is None:
            per = by_sensor[sid] = {}
        acc: dict[str, float] = {}
        qa: dict[str, str] = {}
        quar: list[tuple[str, float, str]] = []
        for q, v in values.items():
            row = rows.get(q)
            if row is None:
                why = (f"sensor {sid!r} does not measure {q!r}" if q in QUANTITIES
                       else f"unknown quantity {str(q)[:40]!r}")
                rejections.append(Rejection(index, sid, q, why))
                n_rej += 1
                continue
            tv = type(v)
            if tv is not float and tv is not int:
                rejections.append(Rejection(index, sid, q, f"{q} must be a number, not {tv.__name__}"))
                n_rej += 1
                continue
            if not (row.low <= v <= row.high):  # also false for NaN
                if not isfinite(v):
                    rejections.append(Rejection(index, sid, q, f"{q} must be a finite number"))
                    n_rej += 1
                    continue
                quar.append((q, v, f"{q} {v:g} {row.unit} outside plausible {row.low:g}..{row.high:g}"))
                n_quar += 1
                continue
            ser = per.get(q)
            if ser is None:
                ser = per[q] = Series(f"{sid}|{q}", float(v), hour)
            if hour > ser.hour:
                ser.roll(hour)
            n = ser.n
            d = v - ser.ref
            status = OK
            if n >= MIN_SAMPLES:
                m = ser.s / n
                var = ser.ss / n - m * m
                floor = row.min_sigma * row.min_sigma
                if var < floor:
                    var = floor
                dev = d - m
                if dev * dev > sig2 * var:
                    status = FLAGGED
            if hour == ser.hour:
                b = ser.cur
                b[0] += 1
                b[1] += d
                b[2] += d * d
                ser.n = n + 1
                ser.s += d
                ser.ss += d * d
                undo.append((ser, hour, v))
            elif ser.add_at(hour, v):
                undo.append((ser, hour, v))
            if not ser.dirty:
                ser.dirty = True
                dirty.append(ser)
            acc[q] = v
            qa[q] = status
            if status is OK:
                n_ok += 1
            else:
                n_flag += 1
        if acc or quar:
            assessed.append(Assessed(index, sensor, t, t_iso, acc, qa, quar))

    counts[OK] = n_ok
    counts[FLAGGED] = n_flag
    counts[QUARANTINED] = n_quar
    counts[REJECTED] = n_rej
    return out


def undo(verdict: BatchVerdict) -> None:
    """Take a batch's values back out of the trailing statistics (its write failed)."""
    for ser, hour, v in reversed(verdict.undo):
        ser.remove_at(hour, v)
    verdict.undo.clear()
