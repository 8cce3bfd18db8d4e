"""What the demo's simulated-history backfill (`feeds.backfill`) costs: 24 h of rollups for every
sensor of a pack, on SQLite or PostgreSQL. Prints figures; asserts nothing.

    .venv/bin/python bench/backfill.py [--scale demo|seoul] [--database-url URL] [--hours 24]

The schema (PostgreSQL) is dropped afterwards; SQLite lives in a temporary directory.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from feeds import backfill
from feeds.citypack import load_pack
from store.runtime import Runtime
from store.settings import Settings


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--database-url")
    ap.add_argument("--database-schema", default="bench_backfill")
    ap.add_argument("--scale", default="demo")
    ap.add_argument("--hours", type=int, default=backfill.HOURS)
    args = ap.parse_args()
    settings = Settings(data_dir=Path(tempfile.mkdtemp()), scale=args.scale, simulator="on", database_url=args.database_url,
                        database_schema=args.database_schema if args.database_url else None,
                        redis_prefix="bench-backfill", _env_file=None)  # type: ignore[call-arg]
    rt = Runtime.start(settings)
    try:
        t0 = time.perf_counter()
        pack = load_pack(settings.city, settings.scale, settings.sim_seed)
        print(f"pack {settings.scale}: {len(pack.sensors)} sensors, loaded in {time.perf_counter() - t0:.2f} s")
        t0 = time.perf_counter()
        steps = sum(1 for _ in backfill.history_items(pack, settings.sim_seed, *backfill.window(
            rt.clock.now(), settings.rollup_minutes, args.hours), settings.rollup_minutes * 60))
        print(f"model alone: {steps} steps in {time.perf_counter() - t0:.2f} s")
        result = backfill.run(rt, pack, hours=args.hours)
        print(f"backfill ({rt.engine.dialect.name}): {result.steps} steps, {result.values} values, "
              f"{result.rows} rollup rows in {result.seconds:.2f} s")
    finally:
        if args.database_url:
            with rt.engine.begin() as conn:
                conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{args.database_schema}" CASCADE')
        rt.close()


if __name__ == "__main__":
    main()
