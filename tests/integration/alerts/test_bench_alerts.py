"""Smoke run of bench/alerts.py: it runs end to end and prints its figures (no timing asserted)."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.bench
def test_alerts_bench_smoke_prints_latency_percentiles_and_the_machine() -> None:
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "alerts.py"), "--smoke"], capture_output=True, text=True,
                          timeout=300, cwd=ROOT)

    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout
    assert re.search(r"machine: \d+ cores, .+, Python 3\.\d+", out)
    m = re.search(r"all probes: n=(\d+) p50 (\d+) ms, p95 (\d+) ms", out)
    assert m and int(m.group(1)) > 0 and int(m.group(2)) <= int(m.group(3))
    missing = re.search(r"probes without an alert within the run: (\d+) of (\d+)", out)
    assert missing and int(missing.group(1)) == 0  # every probe became an alert
