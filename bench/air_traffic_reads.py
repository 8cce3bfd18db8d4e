"""How long the traffic and air read models take at Seoul scale, on SQLite or PostgreSQL.

Fills a day of 5-minute rollups for every air sensor (1,100 × 6 pollutants × 288 buckets) and
four weeks of hourly speed history for a few links, sets every latest state, then times the reads
the pages and `GET /api/v1/air/districts` make. Prints figures; asserts nothing.

    .venv/bin/python bench/air_traffic_reads.py [--database-url URL] [--scale seoul|demo]
"""
from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import insert

from feeds import air_queries, live_queries, traffic_queries
from feeds.citypack import load_pack
from store.models import Rollup
from store.runtime import Runtime
from store.settings import Settings


def timed(label: str, fn, repeat: int = 3) -> object:  # type: ignore[no-untyped-def]
    times, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    print(f"{label:<48} median {statistics.median(times) * 1000:8.1f} ms  (n={repeat})")
    return result


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--database-url")
    ap.add_argument("--database-schema", default="bench_air_traffic")
    ap.add_argument("--scale", default="seoul")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp())
    settings = Settings(data_dir=tmp, scale=args.scale, simulator="off", database_url=args.database_url,
                        database_schema=args.database_schema if args.database_url else None, redis_prefix="bench-at")
    rt = Runtime.start(settings)
    pack = load_pack(settings.city, settings.scale, settings.sim_seed)
    now = rt.clock.now()
    rnd = random.Random(1)
    air = pack.sensors_of("air")
    start = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=23)
    buckets = [start + timedelta(minutes=5 * i) for i in range(288) if start + timedelta(minutes=5 * i) <= now]
    base = {"pm25": 25, "pm10": 45, "o3": 0.03, "no2": 0.025, "co": 0.5, "so2": 0.004}
    t0 = time.perf_counter()
    rows = []
    with rt.engine.begin() as conn:
        for s in air:
            for b in buckets:
                for q, v0 in base.items():
                    v = v0 * rnd.uniform(0.6, 1.4)
                    rows.append({"entity_type": "sensor", "entity_id": s.id, "quantity": q, "bucket_start": b,
                                 "bucket_minutes": 5, "n": 2, "total": 2 * v, "minimum": v, "maximum": v, "flagged": 0})
            if len(rows) > 50_000:
                conn.execute(insert(Rollup), rows)
                rows = []
        links = pack.links[:20]
        hours = [now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=h) for h in range(24 * 7 * 4 + 24)]
        for ln in links:
            for h in hours:
                v = ln.free_speed_kmh * rnd.uniform(0.3, 1.0)
                rows.append({"entity_type": "sensor", "entity_id": ln.detector_id, "quantity": "speed_kmh", "bucket_start": h,
                             "bucket_minutes": 5, "n": 1, "total": v, "minimum": v, "maximum": v, "flagged": 0})
        if rows:
            conn.execute(insert(Rollup), rows)
    print(f"filled rollups for {len(air)} air sensors × {len(buckets)} buckets in {time.perf_counter() - t0:.1f} s "
          f"({rt.engine.dialect.name})")
    t = now.isoformat()
    rt.redis.set_latest("air", {s.id: {"t": t, "v": {q: v for q, v in base.items()}, "qa": dict.fromkeys(base, "ok"), "d": s.district} for s in air})
    rt.redis.set_latest("traffic", {ln.detector_id: {"t": t, "v": {"speed_kmh": rnd.uniform(5, 60)}, "qa": {"speed_kmh": "ok"}, "d": ln.district}
                                    for ln in pack.links})
    print(f"pack {settings.city}/{settings.scale}: {len(pack.links)} links, {len(air)} air sensors, {len(pack.corridors)} corridors")
    timed("air: all sensors' CAI + US AQI", lambda: air_queries.read_sensors(rt, pack))
    timed("air: 50 changed sensors (one live delta)", lambda: air_queries.read_sensors(rt, pack, [s.id for s in air[:50]]))
    timed("air: district ranking (API /air/districts)", lambda: air_queries.read_districts(rt, pack))
    timed("air: one sensor's 24 h chart", lambda: air_queries.read_sensor_day(rt, pack, air[0].id))
    rt.caches[live_queries.__name__ + ".pack"] = pack
    timed("wall: PM2.5 now only (old air tiles)", lambda: live_queries.city_pm25_now(rt.redis.all_latest("air")))
    timed("wall: air tiles, ranking reused (live tick)", lambda: live_queries.air_kpis(rt), repeat=10)
    timed("wall: air tiles, ranking recomputed (<=1/5 s)",
          lambda: (rt.caches.pop(air_queries.__name__ + ".districts", None), live_queries.air_kpis(rt)))
    by_district: dict[str, list] = {}
    for site in air:
        by_district.setdefault(site.district, []).append(site)
    timed("alerts: air rule, one district", lambda: air_queries.read_district_cai(rt, {air[0].district: by_district[air[0].district]}))
    timed("alerts: air rule, all 25 districts (a tick)", lambda: air_queries.read_district_cai(rt, by_district))
    states = timed("traffic: all link states", lambda: traffic_queries.read_link_states(rt, pack))
    timed("traffic: worst 50 links", lambda: traffic_queries.worst_links(states.values(), n=50))  # type: ignore[union-attr]
    timed("traffic: corridor times", lambda: traffic_queries.corridor_times(pack, states))  # type: ignore[arg-type]
    timed("traffic: speed vs usual, one link (4 weeks)", lambda: traffic_queries.read_speed_history(rt, pack, "link", links[0].id))
    if args.database_url:  # leave the shared database as it was
        with rt.engine.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{args.database_schema}" CASCADE')
    rt.close()


if __name__ == "__main__":
    main()
