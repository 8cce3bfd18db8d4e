"""Every word on screen goes through `t()`. Korean and English tables live in one place:
``store/translations/*.json``, one file per area (``{"key": {"en": ..., "ko": ...}}``), merged at
first use. English is the fallback; a missing key shows itself (``⟦key⟧``) rather than hiding.

It sits in `store` because both `panels` and `reports` (PDF labels) need it, and dependencies
point one way.
"""
from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

LANGUAGES = ("ko", "en")
_DIR = Path(__file__).parent / "translations"


@cache
def _table() -> dict[str, dict[str, str]]:
    merged: dict[str, dict[str, str]] = {}
    for path in sorted(_DIR.glob("*.json")):
        for key, texts in json.loads(path.read_text(encoding="utf-8")).items():
            if key in merged:
                raise ValueError(f"translation key {key!r} defined twice (second time in {path.name})")
            merged[key] = texts
    return merged


def t(key: str, lang: str | None = "en", **params: Any) -> str:
    texts = _table().get(key)
    if texts is None:
        return f"⟦{key}⟧"
    text = texts.get(lang or "en") or texts.get("en") or f"⟦{key}⟧"
    return text.format(**params) if params else text


def both(key: str, **params: Any) -> str:
    """Korean and English together ("교통 Traffic"), for the wall, read by everyone in the room."""
    ko, en = t(key, "ko", **params), t(key, "en", **params)
    return ko if ko == en else f"{ko} {en}"


def known_keys() -> set[str]:
    return set(_table())
