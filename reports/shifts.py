"""Shifts: the control room's unit of work, as pure functions of the settings and a time.

A shift is defined in *local* wall-clock time ("07-15,15-23,23-07" in the settings' time zone)
but stored and queried in UTC. The two meet at daylight-saving changes: in Europe/Berlin the
23–07 shift of the last Sunday in March is 7 hours long and that of the last Sunday in October
is 9. We never add "8 hours" to a start; each boundary is converted from local time on its own
date, so consecutive shifts always tile the time line with no gap and no overlap.

Local times that do not exist (the skipped hour in spring) or happen twice (the repeated hour
in autumn) follow PEP 495's ``fold=0``: a skipped time means the instant the clock jumped
to, a repeated time its first occurrence. Both shifts that share a boundary use the same rule,
so the tiling holds there too.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from store.errors import ValidationError

MAX_RANGE = timedelta(days=31)  # a report longer than a month is a different product
_BOUNDARY = re.compile(r"^\s*(\d{1,2})(?::(\d{2}))?\s*-\s*(\d{1,2})(?::(\d{2}))?\s*$")
_SHIFT_ID = re.compile(r"^(\d{4}-\d{2}-\d{2})T(\d{2})(?::?(\d{2}))?$")


@dataclass(frozen=True)
class ShiftDef:
    """One shift of the daily pattern, in local wall-clock time (end < start crosses midnight)."""

    start: time
    end: time

    @property
    def crosses_midnight(self) -> bool:
        return self.end <= self.start

    @property
    def name(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"


@dataclass(frozen=True)
class Period:
    """A stretch of time a report covers: [start, end) in UTC, shown in `tz`.

    `shift` is set when the period is exactly one shift (so the report can name it and the
    handover notes can be attached to it).
    """

    start: datetime
    end: datetime
    tz: str
    shift: ShiftDef | None = None

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.tz)

    @property
    def duration(self) -> timedelta:
        return self.end - self.start

    @property
    def local_start(self) -> datetime:
        return self.start.astimezone(self.zone)

    @property
    def local_end(self) -> datetime:
        return self.end.astimezone(self.zone)

    @property
    def shift_id(self) -> str | None:
        """``2026-11-26T07`` (``T07:30`` for a half-hour start): the id `--shift` takes."""
        if self.shift is None:
            return None
        ls = self.local_start
        return f"{ls:%Y-%m-%dT%H}" + (f":{ls:%M}" if ls.minute else "")

    @property
    def label(self) -> str:
        """What a person reads: ``2026-11-26 07:00–15:00 (Asia/Seoul)``."""
        ls, le = self.local_start, self.local_end
        end = f"{le:%H:%M}" if le.date() == ls.date() else f"{le:%Y-%m-%d %H:%M}"
        if ls.date() != le.date() and self.shift is not None and self.shift.crosses_midnight:
            end = f"{le:%H:%M} (+1)"
        return f"{ls:%Y-%m-%d %H:%M}–{end} ({self.tz})"

    @property
    def slug(self) -> str:
        """A file-name friendly id: ``shift-2026-11-26T07`` or ``range-20261126T0700-20261126T1500``."""
        if self.shift_id:
            return f"shift-{self.shift_id.replace(':', '')}"
        return f"range-{self.local_start:%Y%m%dT%H%M}-{self.local_end:%Y%m%dT%H%M}"


def zone(tz: str) -> ZoneInfo:
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError(f"unknown time zone {tz!r}") from None


def parse_shifts(spec: str) -> tuple[ShiftDef, ...]:
    """``"07-15,15-23,23-07"`` → the day's shifts. They must tile the 24 hours exactly.

    Minutes are allowed (``"06:30-14:30,..."``). A gap or overlap between shifts is refused:
    a time that belongs to no shift, or to two, would make "the shift containing t" ambiguous.
    """
    parts = [p for p in spec.split(",") if p.strip()]
    if not parts:
        raise ValidationError("the shifts setting is empty; expected e.g. 07-15,15-23,23-07")
    defs: list[ShiftDef] = []
    for part in parts:
        m = _BOUNDARY.match(part)
        if not m:
            raise ValidationError(f"shift {part.strip()!r} is not HH-HH or HH:MM-HH:MM")
        h1, m1, h2, m2 = int(m[1]), int(m[2] or 0), int(m[3]), int(m[4] or 0)
        if not (0 <= h1 <= 23 and 0 <= h2 <= 24 and m1 < 60 and m2 < 60) or (h2 == 24 and m2):
            raise ValidationError(f"shift {part.strip()!r} has an hour or minute out of range")
        defs.append(ShiftDef(time(h1, m1), time(h2 % 24, m2)))
    minutes = 0
    for i, d in enumerate(defs):
        nxt = defs[(i + 1) % len(defs)]
        if d.end != nxt.start:
            raise ValidationError(f"shift {d.name} must end where the next one ({nxt.name}) starts")
        length = (_minutes(d.end) - _minutes(d.start)) % (24 * 60)
        if length == 0 and len(defs) > 1:
            raise ValidationError(f"shift {d.name} is empty")
        minutes += length or 24 * 60
    if minutes != 24 * 60:
        raise ValidationError(f"the shifts cover {minutes / 60:g} hours of the day, not 24")
    return tuple(defs)


def _minutes(t: time) -> int:
    return t.hour * 60 + t.minute


def local_to_utc(day: date, at: time, tz: ZoneInfo) -> datetime:
    """A local wall-clock time on a local date → UTC (fold=0 at DST edges, see module doc)."""
    return datetime.combine(day, at, tzinfo=tz).astimezone(UTC)


def shift_period(day: date, sdef: ShiftDef, tz: str) -> Period:
    """The shift `sdef` that starts on local date `day`."""
    z = zone(tz)
    end_day = day + timedelta(days=1) if sdef.crosses_midnight else day
    return Period(local_to_utc(day, sdef.start, z), local_to_utc(end_day, sdef.end, z), tz, sdef)


def shift_at(instant: datetime, spec: str, tz: str) -> Period:
    """The shift that contains `instant` (aware; any zone)."""
    if instant.tzinfo is None:
        raise ValidationError("a naive time cannot be placed in a shift; give its offset")
    defs = parse_shifts(spec)
    local_day = instant.astimezone(zone(tz)).date()
    for offset in (0, -1, 1):
        for sdef in defs:
            p = shift_period(local_day + timedelta(days=offset), sdef, tz)
            if p.start <= instant < p.end:
                return p
    raise AssertionError("shifts tile the day, so one of them holds every instant")  # pragma: no cover


def next_shift(period: Period, spec: str) -> Period:
    """The shift that starts when `period` ends: where its open items are carried to."""
    return shift_at(period.end, spec, period.tz)


def parse_shift_id(text: str, spec: str, tz: str) -> Period:
    """``2026-11-26T07`` (local date and start hour) → that shift. The hour must start a shift."""
    m = _SHIFT_ID.match(text.strip())
    if not m:
        raise ValidationError(f"shift {text!r} is not YYYY-MM-DDTHH (local date and start hour), e.g. 2026-11-26T07")
    try:
        day = date.fromisoformat(m[1])
        start = time(int(m[2]), int(m[3] or 0))
    except ValueError as exc:
        raise ValidationError(f"shift {text!r}: {exc}") from None
    defs = parse_shifts(spec)
    for sdef in defs:
        if sdef.start == start:
            return shift_period(day, sdef, tz)
    starts = ", ".join(f"{d.start:%H}" if not d.start.minute else f"{d.start:%H:%M}" for d in defs)
    raise ValidationError(f"no shift starts at {start:%H:%M}; shifts start at {starts} ({tz})")


def parse_instant(text: str, tz: str, *, what: str = "time") -> datetime:
    """An ISO 8601 time → aware UTC. Without an offset it is local time in `tz` (what people type)."""
    raw = text.strip()
    if not raw:
        raise ValidationError(f"{what} is empty")
    try:
        dt = datetime.fromisoformat(raw.replace("Z", "+00:00") if raw.endswith("Z") else raw)
    except ValueError:
        raise ValidationError(f"{what} {text!r} is not an ISO 8601 time (e.g. 2026-11-26T07:00 or 2026-11-26T07:00+09:00)") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=zone(tz))
    return dt.astimezone(UTC)


def parse_range(start: str, end: str, tz: str, spec: str | None = None) -> Period:
    """A report range from two ISO times. When it is exactly one shift, it is named as one."""
    s = parse_instant(start, tz, what="start")
    e = parse_instant(end, tz, what="end")
    return make_range(s, e, tz, spec)


def make_range(start: datetime, end: datetime, tz: str, spec: str | None = None) -> Period:
    if start.tzinfo is None or end.tzinfo is None:
        raise ValidationError("start and end need a time zone")
    zone(tz)
    if end <= start:
        raise ValidationError("the end must be after the start")
    if end - start > MAX_RANGE:
        raise ValidationError(f"a report covers at most {MAX_RANGE.days} days")
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    if spec:
        p = shift_at(start, spec, tz)
        if p.start == start and p.end == end:
            return p
    return Period(start, end, tz)


def hours_in(period: Period) -> list[datetime]:
    """The local clock hours a period touches, as aware local datetimes (the chart's x axis).

    On a DST night the list has 7 or 9 entries for an 8-hour shift, because that is how many
    hours went by; each one is a distinct instant even when the wall clock repeats.
    """
    z = period.zone
    out: list[datetime] = []
    t = hour_floor(period.start, z)
    while t < period.end:
        out.append(t.astimezone(z))
        t += timedelta(hours=1)
    return out


def hour_floor(instant: datetime, tz: ZoneInfo) -> datetime:
    """The start (UTC) of the local clock hour holding `instant` — right for +05:30 zones too."""
    local = instant.astimezone(tz)
    floored = local.replace(minute=0, second=0, microsecond=0)
    return floored.astimezone(UTC)
