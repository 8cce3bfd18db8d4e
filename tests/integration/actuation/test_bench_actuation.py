"""Smoke run of bench/actuation.py: it runs end to end and prints its figures (no timing asserted)."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.bench
def test_actuation_bench_smoke_prints_latency_and_throughput() -> None:
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "actuation.py"), "--smoke"], capture_output=True, text=True,
                          timeout=300, cwd=ROOT)

    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout
    assert re.search(r"machine: \d+ cores, .+, Python 3\.\d+", out)
    m = re.search(r"approve-to-adapter: n=(\d+) of (\d+) p50 (\d+) ms, p95 (\d+) ms", out)
    assert m and m.group(1) == m.group(2) and int(m.group(3)) <= int(m.group(4))
    q = re.search(r"whole queue: (\d+) of (\d+) commands executed in [\d.]+ s = ([\d.]+) commands/s", out)
    assert q and q.group(1) == q.group(2) and float(q.group(3)) > 0
