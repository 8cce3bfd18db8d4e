from __future__ import annotations

import stat
from pathlib import Path

from store.settings import Settings


def test_generated_secret_survives_a_restart(tmp_path: Path) -> None:
    first = Settings(data_dir=tmp_path).session_secret()

    second = Settings(data_dir=tmp_path).session_secret()

    assert first == second and len(first) == 64
    assert stat.S_IMODE((tmp_path / "secret_key").stat().st_mode) == 0o600


def test_configured_secret_wins(tmp_path: Path) -> None:
    assert Settings(data_dir=tmp_path, secret_key="s3cret").session_secret() == "s3cret"
    assert not (tmp_path / "secret_key").exists()
