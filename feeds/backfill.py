"""Simulated history for a fresh demo: the past hours of rollups, from the simulator's own model.

Why: the Air page's CAI needs at least four hourly PM means and the wall's trend six hours of
city buckets, so a fresh `make run` would show "withheld" for hours. When the simulator runs
(`settings.simulator == "on"`, demo data only) and the ``rollups`` table is empty, the simulator
service asks for this backfill: a second `CitySimulator` (same pack and seed, faults off) is run
over the past `hours`, one step per `step_s`, and its readings go through the rollup worker's own
`feeds.worker.aggregate` and `upsert_rollups` (same bucket width, same sensor / district / city
rows). Nothing goes on the streams or into the latest state, so no alert fires on the past.

It is *simulated history*, and says so: one WARNING line in the log when it starts and one when
it ends. It never runs when the simulator is off, nor on a database that already has rollups
(real history is never mixed with made-up history).

What is left out, on purpose: the QA statistics (3σ) are not fed (they come from live data and
fill in over a day), and readings outside a quantity's plausible range are dropped as ingest
would quarantine them. Faults are off: the backfill stands for history as validated.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from feeds.citypack import CityPack
from feeds.qa import QUANTITIES
from feeds.sensors import DOMAIN_OF_KIND
from feeds.simulator import CitySimulator
from feeds.worker import DOMAINS, aggregate, bucket_start, upsert_rollups
from store.models import Rollup
from store.runtime import Runtime

log = logging.getLogger(__name__)

HOURS = 24
SAMPLES_PER_BUCKET = 1  # one simulated reading per sensor and bucket: n = 1, mean = the reading


@dataclass(frozen=True)
class Backfill:
    """What a backfill wrote."""

    start: datetime
    end: datetime  # exclusive: the current bucket is live data's
    steps: int
    values: int
    rows: int
    seconds: float


def wanted(rt: Runtime) -> bool:
    """Only for the demo simulator, and only on an empty history."""
    if rt.settings.simulator != "on":
        return False
    with rt.session() as s:
        return s.scalars(select(Rollup.id).limit(1)).first() is None


def window(now: datetime, minutes: int, hours: int = HOURS) -> tuple[datetime, datetime]:
    """[start, end): whole buckets of the past `hours`, ending where the current bucket begins."""
    end = bucket_start(now, minutes)
    return end - timedelta(hours=hours), end


def history_items(pack: CityPack, seed: int, start: datetime, end: datetime, step_s: float
                  ) -> Iterator[list[dict[str, Any]]]:
    """Per simulated step in [start, end): stream-like items (as ingest appends them) of the pack's
    sensors, faults off, implausible values dropped. Pure: no I/O."""
    sim = CitySimulator(pack, seed, interval_s=step_s)
    sim.faults.rate = 0.0
    sites = {s.id: s for s in sim.reporting}
    t = start
    while t < end:
        observations, _buses, _events = sim.step(t)
        items = []
        for o in observations:
            site = sites[o["sensor_id"]]
            if DOMAIN_OF_KIND.get(site.kind) not in DOMAINS:
                continue
            values = {q: v for q, v in o["values"].items()
                      if q in QUANTITIES and QUANTITIES[q].low <= v <= QUANTITIES[q].high}
            items.append({"sensor_id": site.id, "kind": site.kind, "district": site.district, "time": o["time"],
                          "values": values, "qa": {}})
        yield items
        t += timedelta(seconds=step_s)


def run(rt: Runtime, pack: CityPack, *, hours: int = HOURS, stop: threading.Event | None = None) -> Backfill:
    """Write `hours` of simulated rollups before the current bucket, one transaction per hour."""
    minutes = rt.settings.rollup_minutes
    start, end = window(rt.clock.now(), minutes, hours)
    step_s = minutes * 60 / SAMPLES_PER_BUCKET
    log.warning("backfill: writing %d h of SIMULATED history (%s to %s) into an empty rollups table — demo data, "
                "not measurements", hours, start.isoformat(), end.isoformat())
    began = time.perf_counter()
    steps = values = rows = 0
    batch: list[dict[str, Any]] = []
    per_hour = max(1, round(3600 / step_s))
    for items in history_items(pack, rt.settings.sim_seed, start, end, step_s):
        if stop is not None and stop.is_set():
            break
        batch.extend(items)
        steps += 1
        if steps % per_hour == 0:
            values, rows = _flush(rt, batch, minutes, values, rows)
            batch = []
    if batch:
        values, rows = _flush(rt, batch, minutes, values, rows)
    result = Backfill(start, end, steps, values, rows, time.perf_counter() - began)
    log.warning("backfill: SIMULATED history written: %d steps, %d values, %d rollup rows in %.1f s",
                result.steps, result.values, result.rows, result.seconds)
    return result


def _flush(rt: Runtime, items: list[dict[str, Any]], minutes: int, values: int, rows: int) -> tuple[int, int]:
    aggs = aggregate(items, minutes, rt.settings.city)
    with rt.session() as s:
        upsert_rollups(s, aggs, minutes)
    return values + sum(len(i["values"]) for i in items), rows + len(aggs)


def start_if_wanted(rt: Runtime, pack: CityPack, stop: threading.Event) -> threading.Thread | None:
    """Decide now (before the simulator's first live tick can write a rollup) and, if wanted, write
    the history in a thread of its own, so neither the web tier nor the live ticks wait for it."""
    try:
        if not wanted(rt):
            return None
    except Exception:  # noqa: BLE001 - no backfill is better than no simulator
        log.exception("backfill: could not tell whether history is empty; none written")
        return None

    def work() -> None:
        try:
            run(rt, pack, stop=stop)
        except Exception:  # noqa: BLE001
            log.exception("backfill: simulated history failed part-way; live data continues")

    thread = threading.Thread(target=work, name="simulator-backfill", daemon=True)
    thread.start()
    return thread
