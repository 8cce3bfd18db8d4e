"""Approve-to-adapter latency and commands per second through the whole approval queue.

A dispatcher runs in a thread against simulated field systems (realistic latency by default).
1. Latency: emergency alerts are proposed, then approved one at a time; the figure is the time
   from the start of the approve call to the field system receiving the command (the approval
   transaction with its outbox row, the dispatcher's poll and claim, the hand-over).
2. Throughput: a mix of commands (half run at once, half safety-critical with one or two
   approvals) proposed and approved from several threads; the figure is commands that reached
   `executed` per second, from the first proposal to the last execution.
Prints figures; asserts nothing. Target (issue 5): approve-to-adapter p95 < 0.5 s; the seed's
14,000 actions a day is 0.16/s.

    .venv/bin/python bench/actuation.py [--smoke] [--database-url URL] [--latency zero]
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import func, select  # noqa: E402

from actuation import service  # noqa: E402
from actuation.adapters import default_adapters  # noqa: E402
from actuation.dispatcher import DispatcherConfig, run_dispatcher  # noqa: E402
from actuation.model import ApproveCommand, Context, ProposeCommand  # noqa: E402
from actuation.samples import example_params  # noqa: E402
from store.models.actuation import CommandRow  # noqa: E402
from store.runtime import Runtime  # noqa: E402
from store.settings import Settings  # noqa: E402


class Recorder:
    """Wraps a field system: notes when each command reaches it."""

    def __init__(self, inner: Any, seen: dict[int, float]) -> None:
        self.inner, self.seen = inner, seen

    def send(self, key: str, payload: dict[str, Any]) -> dict[str, Any]:
        self.seen.setdefault(payload["command_id"], time.perf_counter())
        return self.inner.send(key, payload)


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def propose(rt: Runtime, type_: str, user: str = "op1") -> int:
    return service.propose(rt, ProposeCommand(type_, example_params(type_, rt.clock.now()), "operator", Context(user)))["id"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--smoke", action="store_true", help="a few commands only: checks the script runs")
    ap.add_argument("--database-url")
    ap.add_argument("--database-schema", default="bench_actuation")
    ap.add_argument("--latency", choices=["realistic", "zero"], default="realistic")
    ap.add_argument("--alerts", type=int, default=200)
    ap.add_argument("--commands", type=int, default=1000)
    args = ap.parse_args()
    n_alerts, n_cmds = (10, 40) if args.smoke else (args.alerts, args.commands)
    settings = Settings(data_dir=Path(tempfile.mkdtemp()), simulator="off", database_url=args.database_url,
                        database_schema=args.database_schema if args.database_url else None, redis_prefix="bench-act")
    rt = Runtime.start(settings)
    seen: dict[int, float] = {}
    latency = (0.0, 0.0) if args.latency == "zero" else None
    adapters = {t: Recorder(a, seen) for t, a in default_adapters(rt, latency=latency).items()}
    stop = threading.Event()
    disp = threading.Thread(target=run_dispatcher, args=(rt, stop), daemon=True,
                            kwargs={"adapters": adapters, "cfg": DispatcherConfig(poll_s=0.02, batch=32, concurrency=8)})
    disp.start()
    print(f"machine: {os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}; "
          f"database {'postgresql' if args.database_url else 'sqlite'}; field-system latency {args.latency}")

    # 1. approve → adapter
    lat: list[float] = []
    for _ in range(n_alerts):
        cid = propose(rt, "emergency_alert")
        t0 = time.perf_counter()
        service.approve(rt, ApproveCommand(cid, "supervisor", Context("sup1")))
        deadline = time.perf_counter() + 10
        while cid not in seen and time.perf_counter() < deadline:
            time.sleep(0.001)
        if cid in seen:
            lat.append(seen[cid] - t0)
    print(f"approve-to-adapter: n={len(lat)} of {n_alerts} p50 {pct(lat, 50) * 1000:.0f} ms, p95 {pct(lat, 95) * 1000:.0f} ms, "
          f"max {max(lat) * 1000:.0f} ms (target p95 < 500 ms)")

    # 2. whole queue
    ids: list[int] = []
    mix = ["signal_timing", "bus_reroute", "lighting_schedule", "emergency_alert", "gas_shutoff", "bridge_closure"]

    def one(i: int) -> None:
        type_ = mix[i % len(mix)]
        cid = propose(rt, type_, user=f"op{i % 4}")
        ids.append(cid)
        if type_ == "emergency_alert":
            service.approve(rt, ApproveCommand(cid, "supervisor", Context("sup1")))
        elif type_ in ("gas_shutoff", "bridge_closure"):
            service.approve(rt, ApproveCommand(cid, "supervisor", Context("sup1")))
            service.approve(rt, ApproveCommand(cid, "shift_lead", Context("lead1")))

    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(one, range(n_cmds)))
    submitted = time.perf_counter() - t0
    deadline = time.perf_counter() + 600
    done = 0
    while time.perf_counter() < deadline:
        with rt.session() as s:
            done = s.scalar(select(func.count()).select_from(CommandRow)
                            .where(CommandRow.state == "executed", CommandRow.id.in_(ids))) or 0
        if done >= n_cmds:
            break
        time.sleep(0.05)
    total = time.perf_counter() - t0
    print(f"whole queue: {done} of {n_cmds} commands executed in {total:.2f} s = {done / total:.1f} commands/s "
          f"(proposals and approvals took {submitted:.2f} s from 4 threads; seed load 0.16/s)")
    stop.set()
    disp.join(10)
    rt.close()


if __name__ == "__main__":
    main()
