"""What one simulator tick costs at Seoul scale: pack generation, the model step, the whole tick.

The whole tick is what `run_simulator` does every `sim_interval_s` (10 s by default): step the
model, then `ingest` (validation + QA + SQL counts + Redis) for ~6,700 observations, the bus
hash for ~8,200 buses and the CCTV events. Prints figures and the machine; asserts nothing.

    .venv/bin/python bench/simulator.py [--scale seoul|demo] [--redis-url URL] [--ticks N]
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from feeds.citypack import load_pack
from feeds.ingest import register_sites
from feeds.simulator import CitySimulator, publish_step
from store.clock import FakeClock
from store.runtime import Runtime
from store.settings import Settings


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", default="seoul", choices=["seoul", "demo"])
    ap.add_argument("--redis-url", help="a real Redis (default: in-process)")
    ap.add_argument("--ticks", type=int, default=30)
    args = ap.parse_args()
    print(f"machine: {platform.node()} {platform.machine()} {os.cpu_count()} cpus, Python {platform.python_version()}")

    t0 = time.perf_counter()
    pack = load_pack("seoul", args.scale, 20261126)
    print(f"pack generation ({args.scale}): {time.perf_counter() - t0:.2f} s — {len(pack.links)} links, "
          f"{len(pack.sensors)} sensors, {len(pack.buses)} buses")

    clock = FakeClock()
    sim = CitySimulator(pack, 20261126)
    steps = []
    for _ in range(args.ticks):
        t0 = time.perf_counter()
        obs, buses, events = sim.step(clock.now())
        steps.append(time.perf_counter() - t0)
        clock.advance(10)
    print(f"model step: median {statistics.median(steps) * 1000:.1f} ms, max {max(steps) * 1000:.1f} ms "
          f"({len(obs)} observations, {len(buses)} buses per tick)")

    settings = Settings(data_dir=Path(tempfile.mkdtemp()), scale=args.scale, simulator="off",
                        redis_url=args.redis_url, redis_prefix="bench-sim-" + uuid.uuid4().hex[:8])
    rt = Runtime.start(settings, clock=clock)
    try:
        t0 = time.perf_counter()
        register_sites(rt, pack.sensors)
        print(f"register {len(pack.sensors)} sites: {time.perf_counter() - t0:.2f} s")
        ticks = []
        for _ in range(args.ticks):
            t0 = time.perf_counter()
            publish_step(rt, *sim.step(clock.now()))
            ticks.append(time.perf_counter() - t0)
            clock.advance(10)
        ticks = ticks[1:]  # the first loads the sensor registry
        print(f"whole tick (step + ingest + buses + cctv) on SQLite and "
              f"{'Redis at ' + args.redis_url if args.redis_url else 'in-process Redis'}: "
              f"median {statistics.median(ticks) * 1000:.0f} ms, max {max(ticks) * 1000:.0f} ms "
              f"— {statistics.median(ticks) / 10 * 100:.0f} % of one core at a 10 s tick")
    finally:
        if args.redis_url:
            keys = list(rt.redis.client.scan_iter(f"{settings.redis_prefix}:*"))
            if keys:
                rt.redis.client.delete(*keys)
        rt.close()


if __name__ == "__main__":
    main()
