"""Replay of recorded real data through the same ingest as every other feed, at N x speed.

Three recordings ship in ``data/replay`` (sources in data/README.md):

- ``metr-la``: the Los-loop speeds of the 207 METR-LA detectors, mph at 5-minute steps from
  2012-03-01 00:00 America/Los_Angeles (step 0), onto the ``metr-la`` pack's detectors. Speeds are
  converted to km/h (the product's unit) by the exact factor 1.609344 (the international mile):
  ``speed_kmh / MPH_TO_KMH`` gives the recorded mph back to float precision, and
  ``float(cell) * MPH_TO_KMH`` is the stored value exactly (tests compare both).
- ``seoul-air-daily``: daily means per station, 2018-2021, onto each district's reference air
  station (``AQ-<code>-000``), matching the station name to the district's Korean name
  (`District.name_ko`); the other stations (roadside, background) have no place in the pack and
  are skipped, and counted. A daily mean is stamped at the end of its day (24:00 KST), the
  moment it is complete, as Korea stamps hourly means at the end of their hour.
- ``seoul-air-hourly``: city-wide hourly means, 2018-2021, onto one station of their own
  (`CITYWIDE_STATION`, placed at Seoul City Hall), since they are no station's measurement.
  Times use the Korean 01:00-24:00 convention: ``24:00`` is midnight *ending* that day, i.e.
  00:00 of the next day. The source repeats 2019-12-01 (the copy is skipped) and lacks
  2019-12-07 and 2020-02-29 (left as gaps). The column labelled CO2 at source holds NO2-scale ppm values and is
  replayed as ``no2`` (data/README.md records the doubt).

Missing values (empty cells, ``-``) are skipped quantity by quantity, never invented; a record
with no value left is skipped whole. Each time step goes to `feeds.ingest.ingest` as one batch,
``source="replay"``, and the replay waits (step length / speed) between steps.

Run it with the simulator off (``cityops replay`` is a process of its own; with a shared Redis and
``cityops run`` on, the simulator's values for the same stations would interleave with the record).

Timestamps: by default the **recorded** times are kept, so what is stored is the record itself
(values *and* when they were measured): history, rollups and the 3-sigma statistics line up with
the original and a replay can be checked against it. ``--shift-to-now`` instead stamps each step
with the clock's time when it is sent, for a demo that should look live; the recorded time is
then only in the log.
"""
from __future__ import annotations

import argparse
import csv
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from feeds.citypack import CityPack, SensorSite, load_pack
from store.errors import ValidationError
from store.runtime import Runtime

log = logging.getLogger(__name__)

DATA = Path(__file__).resolve().parent.parent / "data" / "replay"
MPH_TO_KMH = 1.609344  # exact: 1 international mile = 1609.344 m
LA = ZoneInfo("America/Los_Angeles")
KST = ZoneInfo("Asia/Seoul")
METR_LA_START = datetime(2012, 3, 1, 0, 0, tzinfo=LA)  # step 0, per the T-GCN paper
METR_LA_STEP = timedelta(minutes=5)
MISSING = frozenset({"", "-", "NA", "nan"})

DAILY_COLUMNS = {"pm25_ugm3": "pm25", "pm10_ugm3": "pm10", "o3_ppm": "o3", "no2_ppm": "no2", "co_ppm": "co",
                 "so2_ppm": "so2"}
HOURLY_COLUMNS = {"pm25_ugm3": "pm25", "pm10_ugm3": "pm10", "o3_ppm": "o3", "no2_ppm_labelled_co2_in_source": "no2",
                  "co_ppm": "co", "so2_ppm": "so2"}
CITYWIDE_STATION = SensorSite(
    id="AQ-SEOUL-AVG", kind="air", lat=37.5663, lon=126.9779, district="Jung-gu",
    quantities={"pm25": "ug/m3", "pm10": "ug/m3", "o3": "ppm", "no2": "ppm", "co": "ppm", "so2": "ppm"},
    interval_s=3600)


@dataclass(frozen=True)
class Frame:
    """One recorded time step: its time (aware) and the observations recorded at it."""

    time: datetime
    observations: list[dict[str, Any]]
    skipped: int = 0  # records of this step with no usable value, or no station in the pack


@dataclass
class ReplayResult:
    frames: int = 0
    observations: int = 0
    accepted: int = 0
    flagged: int = 0
    quarantined: int = 0
    rejected: int = 0
    skipped: int = 0
    first: datetime | None = None
    last: datetime | None = None
    rejections: list[str] = field(default_factory=list)

    def summary(self) -> str:
        span = f"{self.first.isoformat()} .. {self.last.isoformat()}" if self.first and self.last else "nothing"
        return (f"replayed {self.frames} steps ({span}): {self.observations} observations, {self.accepted} values "
                f"accepted ({self.flagged} flagged), {self.quarantined} quarantined, {self.rejected} rejected; "
                f"{self.skipped} records skipped (no value, or no station in the pack)")


# -- reading the recordings (pure but for the file) -------------------------------------------
def _number(cell: str | None) -> float | None:
    if cell is None or cell.strip() in MISSING:
        return None
    return float(cell)


def _after(start: datetime | None, t: datetime) -> bool:
    return start is None or t >= start


def metr_la_frames(path: Path = DATA / "los_speed_days1-5.csv", *, start: datetime | None = None) -> Iterator[Frame]:
    """The Los-loop speeds, one frame per 5-minute step, speeds in km/h (see the module doc)."""
    with path.open(encoding="utf-8", newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        ids = header[1:]
        for row in reader:
            t = (METR_LA_START + int(row[0]) * METR_LA_STEP).astimezone(UTC)
            if not _after(start, t):
                continue
            stamp = t.isoformat()
            obs = []
            skipped = 0
            for sid, cell in zip(ids, row[1:], strict=True):
                mph = _number(cell)
                if mph is None:
                    skipped += 1
                    continue
                obs.append({"sensor_id": sid, "time": stamp, "values": {"speed_kmh": mph * MPH_TO_KMH}})
            yield Frame(t, obs, skipped)


def seoul_daily_frames(pack: CityPack, paths: Iterable[Path] | None = None, *,
                       start: datetime | None = None) -> Iterator[Frame]:
    """Daily means per district station, one frame per day, stamped at 24:00 KST of that day."""
    station = {d.name_ko: pack.district_station(d.name_en).id for d in pack.districts}
    files = sorted(paths) if paths is not None else sorted(DATA.glob("seoul_daily_air_*.csv"))
    for path in files:
        with path.open(encoding="utf-8", newline="") as f:
            rows = csv.DictReader(f)
            day: str | None = None
            obs: list[dict[str, Any]] = []
            skipped = 0
            for row in rows:
                if row["date"] != day:
                    if day is not None:
                        t = _end_of_day(day)
                        if _after(start, t):
                            yield Frame(t, obs, skipped)
                    day, obs, skipped = row["date"], [], 0
                sid = station.get(row["station_name_ko"])
                values = {q: v for col, q in DAILY_COLUMNS.items() if (v := _number(row[col])) is not None}
                if sid is None or not values:
                    skipped += 1
                    continue
                obs.append({"sensor_id": sid, "time": _end_of_day(day).isoformat(), "values": values})
            if day is not None:
                t = _end_of_day(day)
                if _after(start, t):
                    yield Frame(t, obs, skipped)


def _end_of_day(yyyymmdd: str) -> datetime:
    d = datetime.strptime(yyyymmdd, "%Y%m%d").replace(tzinfo=KST)
    return (d + timedelta(days=1)).astimezone(UTC)


def parse_kst_hour(text: str) -> datetime:
    """``YYYY-MM-DD HH:MM`` in the Korean 01:00-24:00 convention -> aware UTC (24:00 = next 00:00)."""
    day, hm = text.strip().split(" ")
    hour, minute = (int(x) for x in hm.split(":"))
    base = datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=KST)
    return (base + timedelta(hours=hour, minutes=minute)).astimezone(UTC)


def seoul_hourly_frames(path: Path = DATA / "seoul_hourly_air_2018-2021.csv", *,
                        start: datetime | None = None) -> Iterator[Frame]:
    """City-wide hourly means onto `CITYWIDE_STATION`, one frame per hour.

    The source repeats 2019-12-01 (24 identical rows): a record not later than the one before it
    is skipped (counted on the next frame). 2019-12-07 and 2020-02-29 are absent and stay absent.
    """
    last: datetime | None = None
    carry = 0
    with path.open(encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            t = parse_kst_hour(row["datetime_kst"])
            if last is not None and t <= last:
                carry += 1
                continue
            last = t
            if not _after(start, t):
                continue
            values = {q: v for col, q in HOURLY_COLUMNS.items() if (v := _number(row[col])) is not None}
            obs = [{"sensor_id": CITYWIDE_STATION.id, "time": t.isoformat(), "values": values}] if values else []
            yield Frame(t, obs, carry + (0 if values else 1))
            carry = 0


# -- datasets ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Dataset:
    name: str
    city: str  # the CITYOPS_CITY whose sensors it feeds
    tz: ZoneInfo  # local time of --start
    sites: Callable[[Runtime], list[SensorSite]]
    frames: Callable[[Runtime, datetime | None], Iterator[Frame]]


def _seoul_pack(rt: Runtime) -> CityPack:
    return load_pack("seoul", rt.settings.scale, rt.settings.sim_seed)


DATASETS: dict[str, Dataset] = {
    "metr-la": Dataset("metr-la", "metr-la", LA, lambda rt: list(load_pack("metr-la").sensors),
                       lambda rt, start: metr_la_frames(start=start)),
    "seoul-air-daily": Dataset("seoul-air-daily", "seoul", KST,
                               lambda rt: [_seoul_pack(rt).district_station(d.name_en)
                                           for d in _seoul_pack(rt).districts],
                               lambda rt, start: seoul_daily_frames(_seoul_pack(rt), start=start)),
    "seoul-air-hourly": Dataset("seoul-air-hourly", "seoul", KST, lambda rt: [CITYWIDE_STATION],
                                lambda rt, start: seoul_hourly_frames(start=start)),
}


def parse_start(text: str | None, tz: ZoneInfo) -> datetime | None:
    """``--start``: an ISO date or date-time; without an offset it is the data's local time."""
    if not text:
        return None
    try:
        t = datetime.fromisoformat(text)
    except ValueError:
        raise ValidationError(f"--start {text!r} is not an ISO date or date-time (e.g. 2012-03-02T07:00)") from None
    return (t if t.tzinfo else t.replace(tzinfo=tz)).astimezone(UTC)


# -- the replay loop ---------------------------------------------------------------------------
def replay(rt: Runtime, dataset: str, *, speed: float = 60.0, start: datetime | None = None, limit: int | None = None,
           shift_to_now: bool = False, stop: threading.Event | None = None,
           wait: Callable[[float], Any] | None = None) -> ReplayResult:
    """Replay `dataset` through ingest: one batch per recorded step, (step / speed) s apart.

    `speed` 0 sends as fast as ingest takes it. `wait` (default: `stop.wait` or `time.sleep`) is
    injected so tests can record the pacing instead of sleeping.
    """
    from feeds.ingest import ingest, register_sites

    ds = DATASETS.get(dataset)
    if ds is None:
        raise ValidationError(f"unknown dataset {dataset!r}; one of {', '.join(DATASETS)}")
    if rt.settings.city != ds.city:
        raise ValidationError(f"replay {dataset} feeds the {ds.city} pack's sensors: run it with CITYOPS_CITY={ds.city}")
    if speed < 0:
        raise ValidationError("--speed must be 0 (as fast as possible) or more")
    if limit is not None and limit < 1:
        raise ValidationError("--limit must be at least 1")
    pause = wait or (stop.wait if stop is not None else time.sleep)
    register_sites(rt, ds.sites(rt), source=f"replay:{dataset}")
    result = ReplayResult()
    previous: datetime | None = None
    for frame in ds.frames(rt, start):
        if stop is not None and stop.is_set():
            break
        if limit is not None and result.frames >= limit:
            break
        if previous is not None and speed > 0 and frame.time > previous:
            pause((frame.time - previous).total_seconds() / speed)
        previous = frame.time
        obs = frame.observations
        if shift_to_now and obs:
            stamp = rt.clock.now().isoformat()
            obs = [{**o, "time": stamp} for o in obs]
        if obs:
            r = ingest(rt, obs, source="replay")
            result.accepted += r.accepted
            result.flagged += r.flagged
            result.quarantined += r.quarantined
            result.rejected += r.rejected
            result.rejections += [f"{x.sensor_id} {x.quantity}: {x.reason}" for x in r.rejections[:3]]
        result.frames += 1
        result.observations += len(obs)
        result.skipped += frame.skipped
        result.first = result.first or frame.time
        result.last = frame.time
        log.debug("replay %s: step %s, %d observations", dataset, frame.time.isoformat(), len(obs))
    return result


# -- the command -------------------------------------------------------------------------------
def add_cli(subparsers: Any) -> None:
    """``cityops replay {metr-la|seoul-air-daily|seoul-air-hourly} --speed N [--start ...] [--limit ...]``."""
    p = subparsers.add_parser("replay", help="replay recorded real data through ingest at N x speed",
                              description=__doc__.split("\n\n")[0])
    p.add_argument("dataset", choices=sorted(DATASETS))
    p.add_argument("--speed", type=float, default=60.0,
                   help="N x real time (default 60: a 5-minute step every 5 s); 0 = as fast as possible")
    p.add_argument("--start", help="first recorded time to replay, ISO; without an offset the data's local time")
    p.add_argument("--limit", type=int, help="number of recorded time steps to replay")
    p.add_argument("--shift-to-now", action="store_true",
                   help="stamp each step with the current time instead of the recorded one (default: recorded)")
    p.set_defaults(fn=cmd_replay)


def cmd_replay(args: argparse.Namespace) -> int:
    from store.settings import Settings

    settings = Settings()
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    ds = DATASETS[args.dataset]
    start = parse_start(args.start, ds.tz)
    rt = Runtime.start(settings)
    stop = threading.Event()
    print(f"replaying {args.dataset} at {args.speed:g}x (recorded timestamps "
          f"{'shifted to now' if args.shift_to_now else 'kept'}); Ctrl-C stops", flush=True)
    try:
        result = replay(rt, args.dataset, speed=args.speed, start=start, limit=args.limit,
                        shift_to_now=args.shift_to_now, stop=stop)
    except KeyboardInterrupt:
        stop.set()
        print("replay interrupted", flush=True)
        return 130
    finally:
        rt.close()
    print(result.summary(), flush=True)
    for line in result.rejections[:10]:
        print(f"  rejected: {line}")
    return 0 if not result.rejected else 2
