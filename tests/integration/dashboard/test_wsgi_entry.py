from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def test_wsgi_module_builds_an_app_that_answers_readyz(tmp_path: Path) -> None:
    code = ("from dashboard.wsgi import app\n"
            "c = app.test_client()\n"
            "r = c.get('/readyz')\n"
            "print(r.status_code, r.get_json()['status'])\n")
    env = {**os.environ, "CITYOPS_DATA_DIR": str(tmp_path), "CITYOPS_SIMULATOR": "off"}
    env.pop("CITYOPS_REDIS_URL", None)
    env.pop("CITYOPS_DATABASE_URL", None)

    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)

    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "200 ready"
