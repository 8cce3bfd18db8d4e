"""Event into ingest → alert visible: latency of the alert path under Seoul-scale load.

Background load: the city simulator at Seoul scale (about 6,700 observations every 10 s through
`feeds.ingest.ingest`, 8,200 buses, and CCTV events at the seed's 2,800 a day), all in this
process, with the alert worker (`run_alert_worker`) consuming the streams in group ``alerts``.

Probes, each opening a fresh alert (a source seen for the first time):
- ``cctv``: a camera event posted to ``POST /api/v1/cctv/events`` (API key, Flask test client);
- ``gas``: a methane reading past the critical level posted through `feeds.ingest.ingest`.
Latency = from just before the probe is submitted to the moment the alert's delta arrives on the
``alerts`` channel (published after the commit, so the REST API already shows it; the pages get
it from the channel through Socket.IO, about 20–40 ms more on loopback per docs/STACK.md).

The probe rate is far above the seed's 2,800 alerts/day (0.03/s) so that a short run gives enough
samples; the simulator's own events keep the seed's rate on top. Prints figures; asserts nothing.

    .venv/bin/python bench/alerts.py [--seconds 120] [--probe-interval 1.0] [--redis-url URL]
                                     [--database-url URL] [--smoke]
"""
from __future__ import annotations

import sys
from pathlib import Path

# This file is named like the `alerts` package: run as a script, its folder would come first on
# sys.path and shadow the package. Put the repository root there instead.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

import argparse
import json
import os
import platform
import statistics
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime

from alerts.worker import run_alert_worker  # noqa: E402 - after the sys.path fix above
from dashboard.app import create_server
from feeds.citypack import load_pack
from feeds.ingest import ingest, register_sensor, register_sites
from feeds.simulator import CitySimulator, publish_step
from store import accounts
from store.clock import SystemClock
from store.runtime import Runtime
from store.settings import Settings


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, int(round(q / 100 * len(s))) - 1))]


class Listener:
    """Records when each alert source first appears on the alerts channel."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.seen: dict[str, float] = {}
        self.deltas = 0
        self.stop = threading.Event()
        self.ps = rt.redis.subscribe(["alerts"])
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self) -> None:
        while not self.stop.is_set():
            msg = self.ps.get_message(timeout=0.2)
            if not msg or msg.get("type") != "message":
                continue
            now = time.perf_counter()
            self.deltas += 1
            for a in json.loads(msg["data"]).get("changes", {}).values():
                self.seen.setdefault(a.get("source", ""), now)


def simulate(rt: Runtime, sim: CitySimulator, stop: threading.Event, interval_s: float, ticks: list[float]) -> None:
    while not stop.is_set():
        t0 = time.perf_counter()
        publish_step(rt, *sim.step(rt.clock.now()))
        ticks.append(time.perf_counter() - t0)
        stop.wait(max(0.0, interval_s - (time.perf_counter() - t0)))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=120.0, help="how long to probe")
    ap.add_argument("--probe-interval", type=float, default=1.0, help="seconds between probes (alternating cctv / gas)")
    ap.add_argument("--scale", default="seoul", choices=["seoul", "demo"])
    ap.add_argument("--redis-url", default=os.environ.get("CITYOPS_REDIS_URL"), help="a real Redis (default: in-process)")
    ap.add_argument("--database-url", default=None, help="e.g. PostgreSQL (default: SQLite in a temp dir)")
    ap.add_argument("--smoke", action="store_true", help="a short run at demo scale (for the test suite)")
    args = ap.parse_args()
    if args.smoke:
        args.seconds, args.scale, args.probe_interval = 8.0, "demo", 0.5
    print(f"machine: {os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}; "
          f"load average (1 min) at start: {os.getloadavg()[0]:.1f}")

    settings = Settings(data_dir=Path(tempfile.mkdtemp()), scale=args.scale, simulator="off", redis_url=args.redis_url,
                        database_url=args.database_url, database_schema=("bench_" + uuid.uuid4().hex[:8]) if args.database_url else None,
                        redis_prefix="bench-alerts-" + uuid.uuid4().hex[:8], _env_file=None)  # type: ignore[call-arg]
    rt = Runtime.start(settings, clock=SystemClock())
    stop = threading.Event()
    try:
        pack = load_pack("seoul", args.scale, settings.sim_seed)
        register_sites(rt, pack.sensors)
        n_probes = int(args.seconds / args.probe_interval) + 2
        gas_site = pack.sensors_of("gas")[0]
        for i in range(n_probes // 2 + 1):
            register_sensor(rt, f"bench-gas-{i}", kind="gas", lat=gas_site.lat, lon=gas_site.lon, district=gas_site.district,
                            quantities={"methane_ppm": "ppm"}, source="bench")
        with rt.session() as s:
            key = accounts.create_api_key(s, "bench", now=rt.clock.now())
        client = create_server(rt).test_client()
        sim = CitySimulator(pack, settings.sim_seed)
        print(f"load: {args.scale} pack, {len(pack.sensors)} sensors, {len(pack.buses)} buses; simulator every "
              f"{settings.sim_interval_s:.0f} s, CCTV events at {sim.cctv_rate_per_day():,.0f}/day; "
              f"{'Redis at ' + args.redis_url if args.redis_url else 'in-process Redis'}, "
              f"{'PostgreSQL' if args.database_url else 'SQLite'}")

        ticks: list[float] = []
        listener = Listener(rt)
        threads = [threading.Thread(target=simulate, args=(rt, sim, stop, settings.sim_interval_s, ticks), daemon=True),
                   threading.Thread(target=run_alert_worker, args=(rt, stop), daemon=True)]
        for t in threads:
            t.start()
        time.sleep(2.0 if args.smoke else 15.0)  # the first ticks load registries and history

        sent: dict[str, tuple[str, float]] = {}
        stored: dict[str, float] = {}  # when ingest returned (the reading is on the stream)
        end = time.perf_counter() + args.seconds
        i = 0
        while time.perf_counter() < end:
            i += 1
            now = datetime.now(UTC)
            if i % 2:
                cam = f"bench-cam-{i}"
                body = {"events": [{"camera_id": cam, "category": "fire_smoke", "confidence": 0.95, "time": now.isoformat(),
                                    "district": gas_site.district, "lat": gas_site.lat, "lon": gas_site.lon}]}
                t0 = time.perf_counter()
                r = client.post("/api/v1/cctv/events", json=body, headers={"X-API-Key": key})
                assert r.status_code == 200, r.get_json()
                sent[cam] = ("cctv", t0)
            else:
                sid = f"bench-gas-{i // 2}"
                t0 = time.perf_counter()
                ingest(rt, [{"sensor_id": sid, "time": now.isoformat(), "values": {"methane_ppm": 6000.0}}], source="bench")
                stored[sid] = time.perf_counter()
                sent[sid] = ("gas", t0)
            time.sleep(max(0.0, args.probe_interval - (time.perf_counter() - t0)))
        time.sleep(3.0)  # let the last ones arrive
        stop.set()
        listener.stop.set()

        lat: dict[str, list[float]] = {"cctv": [], "gas": []}
        in_ingest = [stored[sid] - t0 for sid, (kind, t0) in sent.items() if kind == "gas"]
        after_ingest = [listener.seen[sid] - stored[sid] for sid in stored if sid in listener.seen]
        missing = 0
        for source, (kind, t0) in sent.items():
            if source in listener.seen:
                lat[kind].append(listener.seen[source] - t0)
            else:
                missing += 1
        both = lat["cctv"] + lat["gas"]
        obs_per_tick = len(pack.sensors) - len(pack.sensors_of("camera"))
        print(f"background: {len(ticks)} simulator ticks, median {statistics.median(ticks) * 1000:.0f} ms each "
              f"(~{obs_per_tick:,} observations/tick); {listener.deltas} alert deltas published")
        for kind, values in (("cctv (POST /api/v1/cctv/events)", lat["cctv"]), ("gas reading (feeds.ingest)", lat["gas"]),
                             ("all probes", both)):
            if values:
                print(f"event → alert on the alerts channel, {kind}: n={len(values)} p50 {pct(values, 50) * 1000:.0f} ms, "
                      f"p95 {pct(values, 95) * 1000:.0f} ms, max {max(values) * 1000:.0f} ms")
        for name, values in (("  of which waiting in feeds.ingest (its lock is shared with the simulator's batches)", in_ingest),
                             ("  of which stream → alert (the alert worker)", after_ingest)):
            if values:
                print(f"{name}: p50 {pct(values, 50) * 1000:.0f} ms, p95 {pct(values, 95) * 1000:.0f} ms")
        print(f"probes without an alert within the run: {missing} of {len(sent)}")
        print(f"load average (1 min) at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores "
              "(other processes on the machine count too)")
        if both:
            print(f"target p95 < 2000 ms: {'met' if pct(both, 95) < 2.0 else 'NOT met'}")
    finally:
        stop.set()
        time.sleep(0.5)
        if args.redis_url:
            keys = list(rt.redis.client.scan_iter(f"{settings.redis_prefix}:*"))
            if keys:
                rt.redis.client.delete(*keys)
        if args.database_url and settings.database_schema:
            from sqlalchemy import text

            with rt.engine.begin() as conn:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{settings.database_schema}" CASCADE'))
        rt.close()


if __name__ == "__main__":
    main()
