"""A small run of bench/wall.py: the benchmark still runs end to end and prints every figure."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.bench
@pytest.mark.browser
@pytest.mark.redis
def test_wall_bench_smoke_prints_every_figure() -> None:
    if not Path("/usr/bin/chromium").exists():
        pytest.skip("no Chromium at /usr/bin/chromium")

    run = subprocess.run([sys.executable, str(ROOT / "bench" / "wall.py"), "--smoke"], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)

    assert run.returncode == 0, run.stdout + run.stderr
    for figure in ("machine:", "first complete render:", "main-thread time per live update, values drift",
                   "worst case", "sensor-to-screen latency", "web process memory"):
        assert figure in run.stdout, run.stdout
