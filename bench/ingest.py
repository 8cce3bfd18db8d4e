"""Observations per second through validation + QA + store, on one process, with real Redis.

    python bench/ingest.py                 # Seoul scale: 1,100 air sensors x 9 + 5,200 detectors x 3
    python bench/ingest.py --http          # also through POST /api/v1/observations (Flask test client)
    python bench/ingest.py --http --idempotency   # ... each request with an Idempotency-Key
    python bench/ingest.py --profile 25    # and the top 25 functions of a cProfile run
    python bench/ingest.py --smoke         # a few small batches (what the test suite runs)

Redis: CITYOPS_REDIS_URL or --redis-url (default redis://127.0.0.1:6379/0), under a key prefix
of its own, deleted afterwards. SQL (quarantine rows and QA counts): a temporary SQLite file, or
--database-url. The batches are made before the clock starts; each is one reporting interval of
every sensor (6,300 observations, 25,500 values), about 0.3 % of values implausible
(quarantined) and 0.1 % strings (rejected), times two minutes apart.

Prints the figure with the machine it ran on. The machine is shared (other processes may be
busy): the CPU time of this process and of redis-server are printed beside the wall time.
"""
from __future__ import annotations

import argparse
import cProfile
import io
import logging
import os
import pstats
import random
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from machine import describe  # noqa: E402  (bench/machine.py, beside this script)

AIR_Q = {"pm25": ("ug/m3", 5, 60), "pm10": ("ug/m3", 10, 120), "o3": ("ppm", 0.005, 0.08), "no2": ("ppm", 0.005, 0.06),
         "co": ("ppm", 0.2, 1.2), "so2": ("ppm", 0.001, 0.006), "temperature_c": ("C", -5, 15),
         "humidity_pct": ("%", 30, 80), "noise_db": ("dB", 45, 80)}
DET_Q = {"speed_kmh": ("km/h", 10, 70), "volume_vph": ("veh/h", 200, 1800), "occupancy_pct": ("%", 2, 40)}


def make_sites(n_air: int, n_det: int) -> list[Any]:
    from feeds.citypack import SensorSite, seoul_districts

    districts = seoul_districts()
    rng = random.Random(1)
    sites = []
    for i in range(n_air):
        d = districts[i % len(districts)]
        sites.append(SensorSite(f"AIR-{i:05d}", "air", d.centroid[0] + rng.uniform(-0.01, 0.01), d.centroid[1], d.name_en,
                                {q: u for q, (u, _lo, _hi) in AIR_Q.items()}, 120))
    for i in range(n_det):
        d = districts[i % len(districts)]
        sites.append(SensorSite(f"DET-{i:05d}", "detector", d.centroid[0], d.centroid[1] + rng.uniform(-0.01, 0.01), d.name_en,
                                {q: u for q, (u, _lo, _hi) in DET_Q.items()}, 120))
    return sites


def make_batches(sites: list[Any], n: int, start: datetime, seed: int = 7) -> list[list[dict[str, Any]]]:
    rng = random.Random(seed)
    batches = []
    for k in range(n):
        t = (start + timedelta(minutes=2 * k)).isoformat()
        batch = []
        for s in sites:
            table = AIR_Q if s.kind == "air" else DET_Q
            values: dict[str, Any] = {}
            for q, (_u, lo, hi) in table.items():
                r = rng.random()
                if r < 0.003:
                    values[q] = -hi  # implausible: quarantined
                elif r < 0.004:
                    values[q] = "n/a"  # a string: rejected
                else:
                    values[q] = round(rng.uniform(lo, hi), 4)
            batch.append({"sensor_id": s.id, "time": t, "values": values})
        batches.append(batch)
    return batches


def redis_cpu(client: Any) -> float:
    info = client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--smoke", action="store_true", help="small and quick: what the test suite runs")
    p.add_argument("--air", type=int, default=1100)
    p.add_argument("--detectors", type=int, default=5200)
    p.add_argument("--batches", type=int, default=12, help="timed batches (one reporting interval each)")
    p.add_argument("--redis-url", default=os.environ.get("CITYOPS_REDIS_URL") or "redis://127.0.0.1:6379/0")
    p.add_argument("--database-url", default=os.environ.get("CITYOPS_DATABASE_URL"))
    p.add_argument("--repeat", type=int, default=3, help="timed runs; the best wall time is the figure (the machine is shared)")
    p.add_argument("--http", action="store_true", help="also measure POST /api/v1/observations (in-process test client)")
    p.add_argument("--idempotency", action="store_true", help="with --http: send a fresh Idempotency-Key on every request")
    p.add_argument("--profile", type=int, default=0, metavar="N", help="print the top N functions of a cProfile run")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)  # rejections are logged per batch; the figures are the point here
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    if args.smoke:
        args.air, args.detectors, args.batches, args.repeat = 40, 160, 3, 2

    from feeds.ingest import ingest, register_sites
    from store.runtime import Runtime
    from store.settings import Settings

    tmp = tempfile.TemporaryDirectory(prefix="cityops-bench-")
    prefix = "bench" + uuid.uuid4().hex[:10]
    settings = Settings(data_dir=Path(tmp.name), redis_url=args.redis_url, redis_prefix=prefix,
                        database_url=args.database_url, simulator="off", _env_file=None)  # type: ignore[call-arg]
    rt = Runtime.start(settings)
    client = rt.redis.client
    try:
        print(f"machine: {describe()}")
        print(f"redis: {args.redis_url} (server {client.info('server')['redis_version']}); "
              f"sql: {'SQLite (temporary file)' if not args.database_url else args.database_url.split('@')[-1]}")
        sites = make_sites(args.air, args.detectors)
        register_sites(rt, sites, source="bench")
        n_values = args.air * len(AIR_Q) + args.detectors * len(DET_Q)
        start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=2 * (args.batches * args.repeat + 2))
        warmup = make_batches(sites, 1, start - timedelta(minutes=2), seed=5)[0]
        print(f"workload: {len(sites):,} sensors ({args.air:,} air x {len(AIR_Q)}, {args.detectors:,} detectors x "
              f"{len(DET_Q)}) = {n_values:,} values per batch; {args.batches} timed batches per run after one warm-up")

        ingest(rt, warmup, source="bench")  # warm-up: loads the sensor cache and statistics
        prof = cProfile.Profile() if args.profile else None
        runs = []
        totals = {"accepted": 0, "flagged": 0, "quarantined": 0, "rejected": 0}
        for r in range(args.repeat):
            # Made after the warm-up, like fresh data: the warm-up's gc.freeze (feeds.ingest._freeze)
            # does not cover them, so the collector's cost of new observations is in the figure.
            batches = make_batches(sites, args.batches, start + timedelta(minutes=2 * args.batches * r), seed=7 + r)
            r0, c0, w0 = redis_cpu(client), time.process_time(), time.perf_counter()
            if prof:
                prof.enable()
            for b in batches:
                res = ingest(rt, b, source="bench")
                for k in totals:
                    totals[k] += getattr(res, k)
            if prof:
                prof.disable()
            runs.append((time.perf_counter() - w0, time.process_time() - c0, redis_cpu(client) - r0))
            del batches
        n_obs = len(sites) * args.batches
        for i, (wall, cpu, rcpu) in enumerate(runs, 1):
            print(f"  run {i}: {n_obs / wall:,.0f} obs/s (wall {wall:.2f} s; this process CPU {cpu:.2f} s; redis-server CPU {rcpu:.2f} s)")
        wall, cpu, rcpu = min(runs)
        median_cpu = sorted(c for _w, c, _r in runs)[len(runs) // 2]
        print(f"ingest (validation + QA + store), one process, best of {len(runs)}: {n_obs / wall:,.0f} obs/s, "
              f"{n_values * args.batches / wall:,.0f} values/s (wall {wall:.2f} s for {n_obs:,} observations); "
              f"median {n_obs / median_cpu:,.0f} obs per CPU-second of this process"
              + (" [under cProfile: slower than real]" if prof else ""))
        print(f"outcomes: {totals}")
        if prof:
            out = io.StringIO()
            pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(args.profile)
            print(out.getvalue())
        if args.http:
            bench_http(rt, sites, args)
    finally:
        keys = list(client.scan_iter(f"{prefix}:*", count=1000))
        for i in range(0, len(keys), 1000):
            client.delete(*keys[i:i + 1000])
        rt.close()
        tmp.cleanup()
    return 0


def bench_http(rt: Any, sites: list[Any], args: argparse.Namespace) -> None:
    """POST /api/v1/observations: through the Flask test client (no socket), then through the
    real Werkzeug server on a loopback socket (server and client both in this process)."""
    import http.client
    import threading

    import orjson
    from werkzeug.serving import make_server

    from dashboard.app import create_server
    from store import accounts

    with rt.session() as s:
        key = accounts.create_api_key(s, "bench", now=rt.clock.now())
    server = create_server(rt)
    per = 5000  # observations per request (a gateway's batch)
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=2 * (args.batches + 2))

    def requests_from(seed: int, hours: int) -> list[bytes]:
        batches = make_batches(sites, args.batches, start + timedelta(hours=hours), seed=seed)
        return [orjson.dumps({"observations": b[i:i + per]}) for b in batches for i in range(0, len(b), per)]

    def headers() -> dict[str, str]:
        return {"X-API-Key": key, **({"Idempotency-Key": uuid.uuid4().hex} if args.idempotency else {})}

    keyed = " with an Idempotency-Key" if args.idempotency else ""
    c = server.test_client()
    chunks = requests_from(11, 1)
    w0, c0, n = time.perf_counter(), time.process_time(), 0
    for body in chunks:
        r = c.post("/api/v1/observations", data=body, headers=headers(), content_type="application/json")
        if r.status_code != 200:
            raise SystemExit(f"HTTP {r.status_code}: {r.get_data(as_text=True)[:200]}")
        n += r.json["observations"]
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    print(f"http (POST /api/v1/observations, {per:,} per request{keyed}, Flask test client, no socket): {n / wall:,.0f} obs/s "
          f"(wall {wall:.2f} s for {len(chunks)} requests; this process CPU {cpu:.2f} s)")

    httpd = make_server("127.0.0.1", 0, server, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        chunks = requests_from(13, 2)
        conn = http.client.HTTPConnection("127.0.0.1", httpd.server_port, timeout=120)
        w0, c0, n = time.perf_counter(), time.process_time(), 0
        for body in chunks:
            conn.request("POST", "/api/v1/observations", body=body, headers={**headers(), "Content-Type": "application/json"})
            resp = conn.getresponse()
            payload = resp.read()
            if resp.status != 200:
                raise SystemExit(f"HTTP {resp.status}: {payload[:200]!r}")
            n += orjson.loads(payload)["observations"]
        wall, cpu = time.perf_counter() - w0, time.process_time() - c0
        conn.close()
    finally:
        httpd.shutdown()
    print(f"http (same, Werkzeug server on a loopback socket, one client): {n / wall:,.0f} obs/s "
          f"(wall {wall:.2f} s for {len(chunks)} requests; server + client CPU {cpu:.2f} s)")


if __name__ == "__main__":
    sys.exit(main())
