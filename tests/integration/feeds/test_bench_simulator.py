from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.bench
def test_simulator_bench_smoke_prints_its_figures_and_the_machine() -> None:
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "simulator.py"), "--scale", "demo", "--ticks", "3"],
                          capture_output=True, text=True, timeout=300, cwd=ROOT)

    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout
    assert re.search(r"machine: .+ \d+ cpus, Python 3\.\d+", out)
    assert re.search(r"pack generation \(demo\): [\d.]+ s — 300 links", out)
    assert re.search(r"model step: median [\d.]+ ms", out)
    assert re.search(r"whole tick .*: median \d+ ms", out)
