"""How long a shift report takes to build and export at Seoul scale (target: PDF < 10 s).

Fills one 8-hour shift with the seed's volumes: 5-minute speed rollups of 5,200 detectors plus
district and city buckets (~0.5 M rows), 5-minute PM and gas rollups of 1,100 air sensors and 25
districts (~0.65 M rows), QA counts, ~930 alerts (2,800 a day) with history, comments and ~60
incidents, ~4,700 commands (14,000 actions a day) with approvals and dispatch results, and
handover notes. Then times: reading and building the tables, and rendering each format.
Prints figures; asserts nothing.

    .venv/bin/python bench/reports.py [--database-url URL] [--smoke] [--repeat N] [--keep-pdf FILE]

``--smoke`` runs the same code on a tiny shift (used by the `bench` test).
"""
from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from reports import export, service  # noqa: E402
from reports.shifts import Period, parse_shift_id  # noqa: E402
from store.clock import FakeClock  # noqa: E402
from store.models.actuation import ApprovalRow, CommandRow, DispatchResultRow  # noqa: E402
from store.models.alerts import Alert, AlertComment, AlertEvent, Incident  # noqa: E402
from store.models.core import QaCount, Rollup  # noqa: E402
from store.models.reports import HandoverNote  # noqa: E402
from store.runtime import Runtime  # noqa: E402
from store.settings import Settings  # noqa: E402

SHIFT = "2026-11-26T07"
CATEGORIES = ("traffic_accident", "illegal_parking", "abandoned_object", "crowd_density", "fire_smoke", "pedestrian_fall",
              "wrong_way_vehicle", "aggressive_behaviour", "loitering", "intrusion", "illegal_dumping", "jaywalking",
              "stopped_vehicle", "flooding", "traffic_incident", "air_quality", "water_leak", "maintenance")
SEVERITIES = ("info", "minor", "minor", "major", "major", "critical")
TYPES = ("bus_reroute", "lighting_schedule", "signal_timing", "signal_timing", "signal_timing", "emergency_alert",
         "bridge_closure", "gas_shutoff")


@dataclass(frozen=True)
class Scale:
    detectors: int
    air_sensors: int
    districts: int
    alerts: int
    incidents: int
    commands: int


SEOUL = Scale(detectors=5200, air_sensors=1100, districts=25, alerts=933, incidents=60, commands=4667)
SMOKE = Scale(detectors=20, air_sensors=10, districts=5, alerts=40, incidents=4, commands=60)


def _bulk(rt: Runtime, model: Any, rows: list[dict[str, Any]], chunk: int = 20_000) -> None:
    with rt.session() as s:
        for i in range(0, len(rows), chunk):
            s.execute(insert(model), rows[i:i + chunk])


def fill(rt: Runtime, period: Period, sc: Scale) -> dict[str, int]:
    rnd = random.Random(20261126)
    buckets = [period.start + timedelta(minutes=5 * k) for k in range(int(period.duration.total_seconds() // 300))]
    districts = [f"district-{d:02d}" for d in range(sc.districts)]
    counts: dict[str, int] = {}
    rows: list[dict[str, Any]] = []
    for b in buckets:
        city_total = 0.0
        for i in range(sc.detectors):
            v = max(3.0, rnd.gauss(32, 12))
            city_total += v
            rows.append(dict(entity_type="sensor", entity_id=f"det-{i}", quantity="speed_kmh", bucket_start=b, bucket_minutes=5,
                             n=1, total=v, minimum=v, maximum=v, flagged=0))
        for d in districts:
            rows.append(dict(entity_type="district", entity_id=d, quantity="speed_kmh", bucket_start=b, bucket_minutes=5,
                             n=sc.detectors // sc.districts, total=32.0 * (sc.detectors // sc.districts), minimum=3, maximum=90, flagged=0))
        rows.append(dict(entity_type="city", entity_id="seoul", quantity="speed_kmh", bucket_start=b, bucket_minutes=5,
                         n=sc.detectors, total=city_total, minimum=3, maximum=90, flagged=0))
    base = {"pm25": 22.0, "pm10": 41.0, "o3": 0.03, "no2": 0.025, "co": 0.5, "so2": 0.003}
    for b in buckets:
        for i in range(sc.air_sensors):
            for q, v0 in base.items():
                v = abs(rnd.gauss(v0, v0 / 4))
                rows.append(dict(entity_type="sensor", entity_id=f"air-{i}", quantity=q, bucket_start=b, bucket_minutes=5,
                                 n=1, total=v, minimum=v, maximum=v, flagged=0))
        for d in districts:
            for q, v0 in base.items():
                n = sc.air_sensors // sc.districts
                rows.append(dict(entity_type="district", entity_id=d, quantity=q, bucket_start=b, bucket_minutes=5,
                                 n=n, total=n * abs(rnd.gauss(v0, v0 / 5)), minimum=0, maximum=0, flagged=0))
    counts["rollups"] = len(rows)
    _bulk(rt, Rollup, rows)
    _bulk(rt, QaCount, [dict(bucket_start=b, outcome=o, n=rnd.randint(0, 90_000 if o == "accepted" else 50))
                        for b in buckets for o in ("accepted", "flagged", "quarantined", "rejected")])
    span = period.duration.total_seconds()
    incidents = [dict(name=f"Incident {i}", state="resolved" if i % 3 else "open", family="traffic", district=rnd.choice(districts),
                      opened_at=period.start + timedelta(seconds=rnd.uniform(0, span * 0.9)), opened_by="system:alerts",
                      last_seen=period.start, resolved_at=None, resolved_by=None, verdict=None) for i in range(sc.incidents)]
    for inc in incidents:
        if inc["state"] == "resolved":
            inc["resolved_at"] = inc["opened_at"] + timedelta(minutes=rnd.uniform(10, 90))
            inc["resolved_by"] = "lead.park"
    _bulk(rt, Incident, incidents)
    alerts, events, comments = [], [], []
    for i in range(sc.alerts):
        opened = period.start + timedelta(seconds=rnd.uniform(0, span))
        acked = opened + timedelta(minutes=rnd.expovariate(1 / 4)) if rnd.random() < 0.9 else None
        resolved = acked + timedelta(minutes=rnd.expovariate(1 / 40)) if acked and rnd.random() < 0.8 else None
        verdict = ("true_positive" if rnd.random() < 0.8 else "false_positive") if resolved else None
        cat = rnd.choice(CATEGORIES)
        alerts.append(dict(dedup_key=f"{cat}|{i}", fold_key=None, category=cat, severity=rnd.choice(SEVERITIES),
                           state="resolved" if resolved else "acknowledged" if acked else "open", rule="bench", source=f"cam-{i}",
                           place=f"p-{i}", district=rnd.choice(districts), detail={}, count=rnd.randint(1, 4), first_seen=opened,
                           last_seen=opened, opened_at=opened, acknowledged_at=acked, acknowledged_by="op.kim" if acked else None,
                           resolved_at=resolved, resolved_by="op.lee" if resolved else None, verdict=verdict,
                           incident_id=rnd.randint(1, sc.incidents) if rnd.random() < 0.25 else None, reminders=0, version=1))
        events.append(dict(alert_id=i + 1, at=opened, actor="system:alerts", kind="opened", payload={}))
        if acked:
            events.append(dict(alert_id=i + 1, at=acked, actor="op.kim", kind="acknowledged", payload={}))
        if resolved:
            events.append(dict(alert_id=i + 1, at=resolved, actor="op.lee", kind="resolved", payload={"verdict": verdict}))
        if rnd.random() < 0.3:
            comments.append(dict(alert_id=i + 1, at=opened + timedelta(minutes=1), author="op.kim", text="확인 중 / checking"))
    _bulk(rt, Alert, alerts)
    _bulk(rt, AlertEvent, events)
    _bulk(rt, AlertComment, comments)
    counts["alerts"] = len(alerts)
    commands, approvals, dispatches = [], [], []
    for i in range(sc.commands):
        typ = rnd.choice(TYPES)
        created = period.start + timedelta(seconds=rnd.uniform(0, span))
        critical = typ in ("emergency_alert", "bridge_closure", "gas_shutoff")
        state = rnd.choice(("executed",) * 8 + ("failed", "rejected") + (("pending",) if critical else ()))
        params: dict[str, Any] = {"note": "bench"}
        if rnd.random() < 0.05:
            params["alert_id"] = rnd.randint(1, sc.alerts)
        commands.append(dict(type=typ, params=params, state=state, proposer="op.kim", proposer_role="operator",
                             approvals_needed=2 if typ in ("bridge_closure", "gas_shutoff") else int(critical),
                             approver_roles=["supervisor"], created_at=created, updated_at=created + timedelta(seconds=30),
                             expires_at=None, reason=None, context_id=f"c{i}", result=None, version=1))
        if critical and state != "pending":
            approvals.append(dict(command_id=i + 1, user_id="sup.choi", role="supervisor", at=created + timedelta(seconds=20),
                                  context_id=f"c{i}"))
        if state in ("executed", "failed"):
            dispatches.append(dict(command_id=i + 1, outbox_id=i + 1, attempt=1, worker="d1", started_at=created + timedelta(seconds=21),
                                   finished_at=created + timedelta(seconds=22), ok=state == "executed", latency_ms=900.0, detail={},
                                   error=None if state == "executed" else "timeout"))
    _bulk(rt, CommandRow, commands)
    _bulk(rt, ApprovalRow, approvals)
    _bulk(rt, DispatchResultRow, dispatches)
    counts["commands"] = len(commands)
    _bulk(rt, HandoverNote, [dict(shift_id=SHIFT, shift_start=period.start, shift_end=period.end, author="lead.park",
                                  text=f"note {i}: 신호 점검", created_at=period.start + timedelta(hours=i)) for i in range(8)])
    return counts


def timed(label: str, fn: Callable[[], Any], repeat: int) -> Any:
    times, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    print(f"{label:<44} median {statistics.median(times):7.2f} s  min {min(times):7.2f} s  (n={repeat})", flush=True)
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--database-url")
    ap.add_argument("--database-schema", default="bench_reports")
    ap.add_argument("--smoke", action="store_true", help="a tiny shift: checks the script runs")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--keep-pdf", help="write the PDF here to look at it")
    args = ap.parse_args(argv)
    sc = SMOKE if args.smoke else SEOUL
    repeat = 1 if args.smoke else args.repeat
    tmp = Path(tempfile.mkdtemp())
    settings = Settings(data_dir=tmp, simulator="off", database_url=args.database_url,
                        database_schema=args.database_schema if args.database_url else None, redis_prefix="bench-reports",
                        _env_file=None)  # type: ignore[call-arg]
    rt = Runtime.start(settings, clock=FakeClock())
    print(f"machine: {os.cpu_count()} cores, {platform.platform()}, Python {platform.python_version()}", flush=True)
    try:
        period = parse_shift_id(SHIFT, settings.shifts, settings.timezone)
        rt.clock.current = period.end + timedelta(minutes=30)  # type: ignore[attr-defined]
        t0 = time.perf_counter()
        counts = fill(rt, period, sc)
        print(f"database: {'PostgreSQL' if args.database_url else 'SQLite'}; scale: {'smoke' if args.smoke else 'Seoul'}; "
              f"{counts['rollups']:,} rollup rows, {counts['alerts']:,} alerts, {counts['commands']:,} commands "
              f"(filled in {time.perf_counter() - t0:.1f} s)", flush=True)
        report = timed("read + build tables", lambda: service.shift_report(rt, period), repeat)
        for fmt in ("csv", "xlsx", "pdf"):
            def render(fmt: str = fmt) -> bytes:
                report.cache.clear()  # each run pays for the canonical data and its hash, as a fresh export does
                return export.render(report, fmt, lang="ko")

            content = timed(f"render {fmt}", render, repeat)
            print(f"  {fmt}: {len(content):,} bytes", flush=True)
            if fmt == "pdf" and args.keep_pdf:
                Path(args.keep_pdf).write_bytes(content)
        timed("end to end: read, build, render pdf", lambda: export.render(service.shift_report(rt, period), "pdf", lang="ko"), repeat)
    finally:
        if args.database_url:
            from sqlalchemy import text

            with rt.engine.begin() as conn:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{args.database_schema}" CASCADE'))
        rt.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
