"""The wall at Seoul scale in headless Chromium: first render, cost of a live update, web-process
memory, and sensor-to-screen latency through the ingest API.

    .venv/bin/python bench/wall.py            # Seoul: 5,200 links, 1,100 air sensors, 8,200 buses
    .venv/bin/python bench/wall.py --smoke    # the demo pack and a few samples (the test suite)

How: seeds a SQLite file and a Redis key prefix (real Redis at CITYOPS_REDIS_URL or
redis://127.0.0.1:6379/0, deleted afterwards) with the city pack, users, an API key and one
reading per sensor and bus; starts ``cityops web`` as its own process (so its memory is its own);
signs in as the wall in Debian's Chromium at 1920×1080 and measures:

- first complete render: from the start of the /wall navigation until every link and sensor is on
  the canvas map and the KPI tiles hold numbers (target < 3 s);
- main-thread time per live update: Chromium's TaskDuration (CDP Performance metrics) over a run
  of full-network deltas (every detector, then every air sensor, one every 0.5 s, as the
  coalescer sends them), minus the same span with no updates, divided by the deltas applied;
  once with values drifting as between two ticks, once with every value drawn afresh (worst
  case); the JS delta handler's own time and the long tasks (> 50 ms) beside it (target < 100 ms);
- web-process memory: resident set size of the ``cityops web`` process after the run;
- sensor-to-screen latency: one air reading at a time POSTed to /api/v1/observations; the time
  from just before the POST until the browser restyled that sensor (same machine, same clock);
  includes the coalescer's 0.5 s window (target p95 < 1 s).

Prints figures with the machine; asserts nothing. The machine is shared with other work.
"""
from __future__ import annotations

import argparse
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from machine import describe  # noqa: E402  (bench/machine.py, beside this script)

CHROMIUM = os.environ.get("CITYOPS_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PASSWORD = "bench-wall-password"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def seed(settings: Any) -> tuple[Any, str, dict[str, int]]:
    """Users, API key, sensors and one reading per detector, air sensor and bus."""
    from feeds import ingest, sensors
    from feeds.live_queries import city_pack
    from store import accounts
    from store.runtime import Runtime

    rt = Runtime.start(settings)
    pack = city_pack(rt)
    with rt.session() as s:
        accounts.add_user(s, "wall", PASSWORD, "wall", now=rt.clock.now())
        key = accounts.create_api_key(s, "bench-wall", now=rt.clock.now())
    sites = [x for x in pack.sensors if x.kind in ("detector", "air")]
    sensors.register_sites(rt, sites)
    now = datetime.now(UTC).isoformat()
    rng = random.Random(7)
    obs = [{"sensor_id": x.id, "time": now,
            "values": {"speed_kmh": round(rng.uniform(8, 60), 1)} if x.kind == "detector" else
            {"pm25": round(rng.uniform(5, 60), 1), "pm10": round(rng.uniform(10, 90), 1), "o3": 0.03, "no2": 0.02}}
           for x in sites]
    ingest.ingest(rt, obs, source="bench")
    links = {ln.id: ln for ln in pack.links}
    buses = {}
    for bus in pack.buses:
        route = next((r for r in pack.routes if r.id == bus.route_id), None)
        lat, lon = links[route.link_ids[0]].coords[0] if route and route.link_ids else pack.center
        buses[bus.id] = {"t": now, "lat": lat, "lon": lon, "route": bus.route_id, "speed_kmh": 20.0, "heading": 0}
    rt.redis.set_latest("bus", buses)
    counts = {"links": len(pack.links), "air": len(pack.sensors_of("air")), "buses": len(buses)}
    return rt, key, counts


def full_delta(rt: Any, domain: str, rng: random.Random, mode: str) -> dict[str, Any]:
    """A delta with every entity of `domain` changed. `drift`: each value moves up to ±10 %, as
    readings do between two ticks (a few entities change class); `random`: every value drawn
    afresh over the whole range, so most entities change class (the worst case)."""
    now = datetime.now(UTC).isoformat()
    changes = {}
    qty, lo, hi = ("speed_kmh", 5, 70) if domain == "traffic" else ("pm25", 5, 100)
    for eid, st in rt.redis.all_latest(domain).items():
        v = dict(st.get("v") or {})
        old = float(v.get(qty) or (lo + hi) / 2)
        v[qty] = round(rng.uniform(lo, hi) if mode == "random" else old * rng.uniform(0.9, 1.1), 1)
        changes[eid] = {**st, "t": now, "v": v}
    return {"domain": domain, "sent_at": time.time(), "changes": changes}


def print_profile(profile: dict[str, Any], top: int) -> None:
    """Self time per browser function (CDP sampling profile), most first."""
    nodes = {n["id"]: n for n in profile["nodes"]}
    self_us: dict[str, float] = {}
    for node_id, dt in zip(profile["samples"], profile["timeDeltas"], strict=False):
        frame = nodes[node_id]["callFrame"]
        key = f"{frame['functionName'] or '(anonymous)'} {frame['url'].rsplit('/', 1)[-1].split('?')[0]}:{frame['lineNumber']}"
        self_us[key] = self_us.get(key, 0.0) + dt
    total = sum(v for k, v in self_us.items() if not k.startswith("(idle)")) or 1
    print(f"  browser profile during the updates (self time, {total / 1000:.0f} ms busy):")
    for key, us in sorted(self_us.items(), key=lambda kv: -kv[1])[:top]:
        print(f"    {us / 1000:8.1f} ms  {key[:110]}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--smoke", action="store_true", help="demo pack, few samples")
    ap.add_argument("--scale", choices=["seoul", "demo"], default=None)
    ap.add_argument("--updates", type=int, default=None, help="full-network deltas to apply")
    ap.add_argument("--samples", type=int, default=None, help="sensor-to-screen samples")
    ap.add_argument("--profile", type=int, default=0, metavar="N",
                    help="also print the N browser functions with the most self time during the updates")
    ap.add_argument("--no-tiles", action="store_true", help="measure updates without the KPI tiles' refresh")
    ap.add_argument("--redis-url", default=os.environ.get("CITYOPS_REDIS_URL", "redis://127.0.0.1:6379/0"))
    args = ap.parse_args()
    scale = args.scale or ("demo" if args.smoke else "seoul")
    updates = args.updates or (4 if args.smoke else 20)
    samples = args.samples or (5 if args.smoke else 60)

    from playwright.sync_api import sync_playwright

    from store.settings import Settings

    tmp = Path(tempfile.mkdtemp(prefix="bench-wall-"))
    prefix = "bw" + uuid.uuid4().hex[:10]
    port = free_port()
    secret = uuid.uuid4().hex
    env = {**os.environ, "CITYOPS_DATA_DIR": str(tmp), "CITYOPS_REDIS_URL": args.redis_url,
           "CITYOPS_REDIS_PREFIX": prefix, "CITYOPS_PORT": str(port), "CITYOPS_SCALE": scale,
           "CITYOPS_SIMULATOR": "off", "CITYOPS_SECRET_KEY": secret, "CITYOPS_LOG_LEVEL": "WARNING"}
    settings = Settings(data_dir=tmp, redis_url=args.redis_url, redis_prefix=prefix, port=port, scale=scale,
                        simulator="off", secret_key=secret)
    print(f"machine: {describe()}")
    t0 = time.perf_counter()
    rt, api_key, counts = seed(settings)
    print(f"scale {scale}: {counts['links']:,} links, {counts['air']:,} air sensors, {counts['buses']:,} buses "
          f"(seeded in {time.perf_counter() - t0:.1f} s)")
    web = subprocess.Popen([sys.executable, "-m", "dashboard.cli", "web"], cwd=ROOT, env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        import requests

        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(base + "/healthz", timeout=1).ok:
                    break
            except requests.ConnectionError:
                pass
            if web.poll() is not None or time.monotonic() > deadline:
                print("web process did not start:\n" + (web.stderr.read() if web.stderr else ""))
                return 1
            time.sleep(0.2)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            print(f"browser: Chromium {browser.version}, viewport 1920×1080")
            page = browser.new_context(viewport={"width": 1920, "height": 1080}).new_page()
            page.goto(base + "/login")
            page.fill("#username", "wall")
            page.fill("#password", PASSWORD)
            with page.expect_navigation():
                page.click("#login-submit")
            page.wait_for_selector("#shell-user", timeout=30_000)

            # 1. first complete render (a fresh navigation; geometry from the browser cache as on a wall)
            renders = []
            for _ in range(1 if args.smoke else 3):
                page.goto(base + "/wall")
                page.wait_for_function(
                    f"""() => Object.keys(window.cityops?.layers?.traffic || {{}}).length >= {counts['links']}
                          && Object.keys(window.cityops?.layers?.air || {{}}).length >= {counts['air']}
                          && Object.keys(window.cityops?.state?.traffic || {{}}).length >= {counts['links']}
                          && /[0-9]/.test(document.querySelector('[id*="kpi-value"]')?.innerText || '')""",
                    polling="raf", timeout=60_000)
                renders.append(page.evaluate("() => performance.now()") / 1000)
            print(f"first complete render: {statistics.median(renders):.2f} s median of {len(renders)} "
                  f"({', '.join(f'{r:.2f}' for r in renders)}; the first with a cold browser cache) — target < 3 s")
            page.wait_for_selector("#shell-live.is-connected", timeout=30_000)
            time.sleep(1.5)  # rooms joined, first feed poll done

            # 2. main-thread time per live update
            cdp = page.context.new_cdp_session(page)
            cdp.send("Performance.enable")
            if args.no_tiles:  # isolate the map's share: the KPI tiles never refresh
                page.evaluate("() => { window.dash_clientside.set_props = () => {}; }")
            page.evaluate("""() => { window.__longTasks = [];
                new PerformanceObserver(l => l.getEntries().forEach(e => window.__longTasks.push(e.duration)))
                  .observe({type: 'longtask'}); cityops.perf.handlerMs.length = 0; cityops.perf.applied.length = 0; }""")

            def task_s() -> float:
                return next(m["value"] for m in cdp.send("Performance.getMetrics")["metrics"] if m["name"] == "TaskDuration")

            warm_rng = random.Random(5)  # warm up (JIT, first tile refresh) before anything is measured
            for i in range(4):
                d = full_delta(rt, "traffic" if i % 2 == 0 else "air", warm_rng, "drift")
                rt.redis.publish(d["domain"], {**d, "sent_at": time.time()})
                time.sleep(0.5)
            time.sleep(1.5)
            span = updates * 0.5
            idle0 = task_s()
            time.sleep(span)
            idle = task_s() - idle0
            rng = random.Random(11)
            for mode in ("drift", "random"):
                page.evaluate("() => { window.__longTasks.length = 0; cityops.perf.handlerMs.length = 0;"
                              " cityops.perf.applied.length = 0; }")
                deltas = [full_delta(rt, "traffic" if i % 2 == 0 else "air", rng, mode) for i in range(updates)]
                if args.profile:
                    cdp.send("Profiler.enable")
                    cdp.send("Profiler.start")
                busy0 = task_s()
                for d in deltas:
                    rt.redis.publish(d["domain"], {**d, "sent_at": time.time()})
                    time.sleep(0.5)
                time.sleep(1.2)  # the trailing KPI refresh
                busy = task_s() - busy0
                if args.profile:
                    print_profile(cdp.send("Profiler.stop")["profile"], args.profile)
                applied = page.evaluate("() => cityops.perf.applied.length")
                handler = page.evaluate("() => cityops.perf.handlerMs.slice()")
                long_tasks = page.evaluate("() => window.__longTasks.slice()")
                per_update = (busy - idle * (span + 1.2) / span) / max(applied, 1) * 1000
                what = ("values drift ±10 % (a typical tick)" if mode == "drift" else
                        "values drawn afresh, most classes change (worst case)")
                print(f"main-thread time per live update, {what}: {per_update:.1f} ms — target < 100 ms\n"
                      f"  {applied} full deltas applied ({counts['links']:,} links or {counts['air']:,} sensors each, "
                      f"one per 0.5 s); TaskDuration {busy * 1000:.0f} ms vs {idle * 1000:.0f} ms idle over {span:.1f} s")
                if handler:
                    print(f"  JS delta handler: median {statistics.median(handler):.1f} ms, max {max(handler):.1f} ms; "
                          f"long tasks > 50 ms: {len(long_tasks)}"
                          + (f" (longest {max(long_tasks):.0f} ms)" if long_tasks else ""))

            # 3. sensor-to-screen latency through the ingest API
            air_ids = [sid for sid in rt.redis.all_latest("air")]
            lat_ms = []
            for i in range(samples):
                sid = rng.choice(air_ids)
                value = round(200 + i + rng.random(), 3)
                t_post = time.time()
                r = requests.post(base + "/api/v1/observations", headers={"X-API-Key": api_key}, timeout=10, json={
                    "observations": [{"sensor_id": sid, "time": datetime.now(UTC).isoformat(),
                                      "values": {"pm25": value, "pm10": 150.0, "o3": 0.03, "no2": 0.02}}]})
                if r.status_code >= 300:
                    print(f"ingest API refused the sample: {r.status_code} {r.text[:200]}")
                    return 1
                page.wait_for_function(f"() => cityops.perf.lastValue['air:{sid}'] === {value}", polling="raf",
                                       timeout=10_000)
                shown_at = page.evaluate(f"() => cityops.perf.lastAt['air:{sid}']") / 1000
                lat_ms.append((shown_at - t_post) * 1000)
                time.sleep(rng.uniform(0.05, 0.4))  # posts fall at random points of the coalescing window
            print(f"sensor-to-screen latency (POST → sensor restyled on the map), {len(lat_ms)} samples: "
                  f"p50 {pct(lat_ms, 50):.0f} ms, p95 {pct(lat_ms, 95):.0f} ms, max {max(lat_ms):.0f} ms "
                  f"— target p95 < 1 s")
            print(f"web process memory (RSS of `cityops web`): {rss_mb(web.pid):.0f} MB")
            browser.close()
    finally:
        web.send_signal(signal.SIGTERM)
        try:
            web.wait(timeout=10)
        except subprocess.TimeoutExpired:
            web.kill()
        keys = list(rt.redis.client.scan_iter(f"{prefix}:*"))
        if keys:
            rt.redis.client.delete(*keys)
        rt.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
