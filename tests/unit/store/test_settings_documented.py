from __future__ import annotations

from pathlib import Path

from store.settings import Settings

README = Path(__file__).resolve().parents[3] / "README.md"


def test_every_setting_is_in_the_readme_table() -> None:
    text = README.read_text(encoding="utf-8")

    missing = [name for name in Settings.model_fields if f"`CITYOPS_{name.upper()}`" not in text]

    assert missing == []
