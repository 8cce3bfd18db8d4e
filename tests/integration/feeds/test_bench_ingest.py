from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.bench
@pytest.mark.redis
def test_ingest_bench_smoke_prints_its_figures_and_the_machine(redis_settings: object) -> None:
    env = {**os.environ, "CITYOPS_REDIS_URL": redis_settings.redis_url}  # type: ignore[attr-defined]

    done = subprocess.run([sys.executable, str(ROOT / "bench" / "ingest.py"), "--smoke", "--http"], env=env,
                          capture_output=True, text=True, timeout=300, cwd=ROOT)

    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout
    assert re.search(r"machine: \d+ cores, .+, Python 3\.\d+", out)
    ingest_rate = re.search(r"ingest \(validation \+ QA \+ store\), one process, best of 2: ([\d,]+) obs/s", out)
    http_rate = re.search(r"http \(POST /api/v1/observations.*\): ([\d,]+) obs/s", out)
    assert ingest_rate and int(ingest_rate.group(1).replace(",", "")) > 0
    assert http_rate and int(http_rate.group(1).replace(",", "")) > 0
    socket_rate = re.search(r"http \(same, Werkzeug server on a loopback socket, one client\): ([\d,]+) obs/s", out)
    assert socket_rate and int(socket_rate.group(1).replace(",", "")) > 0
    outcomes = re.search(r"outcomes: \{'accepted': (\d+), 'flagged': (\d+), 'quarantined': (\d+), 'rejected': (\d+)\}", out)
    assert outcomes
    accepted, _flagged, quarantined, rejected = map(int, outcomes.groups())
    assert accepted + quarantined + rejected == 2 * 3 * (40 * 9 + 160 * 3)  # every value of both runs accounted for
    assert quarantined > 0 and rejected > 0
