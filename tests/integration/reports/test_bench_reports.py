"""Smoke run of bench/reports.py: it runs end to end and prints a time per format (none asserted)."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.bench
def test_reports_bench_smoke_prints_a_time_for_each_format() -> None:
    done = subprocess.run([sys.executable, "-W", "error", str(ROOT / "bench" / "reports.py"), "--smoke"], capture_output=True,
                          text=True, timeout=300, cwd=ROOT)

    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout
    assert re.search(r"machine: \d+ cores, .+, Python 3\.\d+", out)
    for label in ("read \\+ build tables", "render csv", "render xlsx", "render pdf", "end to end: read, build, render pdf"):
        assert re.search(label + r"\s+median\s+\d+\.\d\d s", out), label
    assert re.search(r"pdf: [\d,]+ bytes", out)
