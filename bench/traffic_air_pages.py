"""The traffic and air pages at Seoul scale in headless Chromium: first render, and how long a
full-network live update takes to reach the screen.

    .venv/bin/python bench/traffic_air_pages.py [--scale seoul|demo]

Starts the web tier in this process (the browser-test harness: SQLite, in-process Redis), seeds
every detector, air sensor and bus of the pack with a reading (and 23 hours of air history, so
the CAI can be computed), signs in as an operator at 1920×1080 and prints:

- first render of /traffic: navigation start until every link and bus is on the canvas map and
  the worst-links table has rows; of /air: until every sensor is drawn and the ranking has rows;
- full-network update: a speed for every detector (or NO2 for every air sensor) through ingest,
  until the page shows the new class of a sample of them (includes the 0.5 s coalescer window and,
  on the air page, the server recomputing every sensor's index for the chosen pollutant);
- the server time of the read models behind one refresh.

Prints figures; asserts nothing. The machine is shared with other work: figures vary.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "browser")]

from harness import CHROMIUM, CHROMIUM_ARGS, observation, seed_city, sign_in, start_live_app  # noqa: E402


def seed(rt: Any) -> None:
    from sqlalchemy import insert

    from feeds.air_queries import hour_starts
    from store.models import Rollup

    pack = seed_city(rt)
    now = rt.clock.now()
    rows = [{"entity_type": "sensor", "entity_id": s.id, "quantity": q, "bucket_start": h, "bucket_minutes": 5,
             "n": 1, "total": v, "minimum": v, "maximum": v, "flagged": 0}
            for s in pack.sensors_of("air") for h in hour_starts(now, 24)[:-1]
            for q, v in {"pm25": 20.0, "pm10": 35.0, "o3": 0.02, "no2": 0.015}.items()]
    with rt.engine.begin() as conn:
        conn.execute(insert(Rollup), rows)
    rt.redis.set_latest("bus", {b.id: {"t": now.isoformat(), "lat": pack.center[0] + (i % 90 - 45) * 0.002,
                                       "lon": pack.center[1] + (i // 90 - 45) * 0.003, "route": b.route_id}
                                for i, b in enumerate(pack.buses)})
    rt.redis.touch_feed("bus")


def timed_wait(page: Any, expression: str, timeout_ms: int = 60_000) -> float:
    t0 = time.perf_counter()
    page.wait_for_function(expression, timeout=timeout_ms, polling=20)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", default="seoul")
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    from feeds import ingest
    from feeds.live_queries import city_pack
    from panels import air as air_page
    from panels import traffic as traffic_page

    t0 = time.perf_counter()
    app = start_live_app(Path(tempfile.mkdtemp()), prepare=seed, scale=args.scale)
    pack = city_pack(app.rt)
    links, buses, sensors = len(pack.links), len(pack.buses), len(pack.sensors_of("air"))
    print(f"{args.scale}: {links:,} links, {buses:,} buses, {sensors:,} air sensors; seeded in {time.perf_counter() - t0:.1f} s")
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = sign_in(browser, app, "operator", path="/wall")
            t = time.perf_counter()
            page.goto(app.url + "/traffic", wait_until="commit")
            page.wait_for_function(f"() => Object.keys(window.cityops?.layers?.traffic || {{}}).length >= {links}"
                                   f" && Object.keys(window.cityops?.layers?.bus || {{}}).length >= {buses}"
                                   " && document.querySelectorAll('#traffic-worst .ag-row').length > 0",
                                   timeout=60_000, polling=20)
            print(f"/traffic first render (links, buses, worst links): {time.perf_counter() - t:.2f} s")
            page.wait_for_selector("#shell-live.is-connected", timeout=10_000)
            time.sleep(1)
            sample = [ln.detector_id for ln in pack.links[:: max(1, links // 20)]]
            t = time.perf_counter()
            ingest.ingest(app.rt, [observation(ln.detector_id, {"speed_kmh": 9.0}) for ln in pack.links], source="bench")
            ingested = time.perf_counter() - t
            cond = " && ".join(f"cityops.state.traffic['{d}']?.[0] === 'congested'" for d in sample)
            timed_wait(page, f"() => {cond}")
            print(f"/traffic every link's speed via ingest ({ingested:.2f} s of it ingest) -> classes on screen: "
                  f"{time.perf_counter() - t:.2f} s")
            t = time.perf_counter()
            traffic_page._tables(app.rt, "en")
            print(f"/traffic refresh read models (states, worst {traffic_page.WORST_N}, corridors): "
                  f"{(time.perf_counter() - t) * 1000:.0f} ms")

            t = time.perf_counter()
            page.goto(app.url + "/air", wait_until="commit")
            page.wait_for_function(f"() => Object.keys(window.cityops?.layers?.airIndex || {{}}).length >= {sensors}"
                                   " && document.querySelectorAll('#air-ranking .ag-row').length > 0",
                                   timeout=60_000, polling=20)
            print(f"/air first render (sensors, ranking): {time.perf_counter() - t:.2f} s")
            page.locator("#air-pollutant label", has_text="NO₂").click()
            page.wait_for_function("() => Object.values(cityops.state.airIndex).some(s => s[0] === 'good')", timeout=30_000)
            time.sleep(1)
            sample_air = [s.id for s in pack.sensors_of("air")[:: max(1, sensors // 20)]]
            t = time.perf_counter()
            ingest.ingest(app.rt, [observation(s.id, {"no2": 0.25}) for s in pack.sensors_of("air")], source="bench")
            cond = " && ".join(f"cityops.state.airIndex['{s}']?.[0] === 'very_unhealthy'" for s in sample_air)
            timed_wait(page, f"() => {cond}")
            print(f"/air every sensor's NO2 via ingest -> per-pollutant CAI classes on screen: {time.perf_counter() - t:.2f} s")
            t = time.perf_counter()
            air_page.map_state(app.rt, "no2", "cai")
            print(f"/air read model for every sensor's class: {(time.perf_counter() - t) * 1000:.0f} ms")
            t = time.perf_counter()
            air_page.ranking_rows(app.rt, "en")
            print(f"/air district ranking read model (cache cold or warm): {(time.perf_counter() - t) * 1000:.0f} ms")
            browser.close()
    finally:
        app.stop()


if __name__ == "__main__":
    main()
