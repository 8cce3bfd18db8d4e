"""Every word the alert screens show has Korean and English (a missing key would show as ⟦key⟧)."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from alerts.const import CATEGORIES, SEVERITIES, STATES, VERDICTS
from store.i18n import known_keys, t

ROOT = Path(__file__).resolve().parents[3]
HISTORY_KINDS = ("opened", "folded", "acknowledged", "assigned", "commented", "resolved", "escalated", "grouped")


def _literal_keys() -> set[str]:
    keys: set[str] = set()
    for path in ("panels/alerts.py", "panels/components/alert_banner.py"):
        keys |= set(re.findall(r"""\bt\(\s*["']([a-z_]+\.[a-z_.]+)["']""", (ROOT / path).read_text(encoding="utf-8")))
        keys |= set(re.findall(r"""word\(\s*["']([a-z_]+\.[a-z_.]+)["']""", (ROOT / path).read_text(encoding="utf-8")))
    return {k for k in keys if not k.endswith(".")}  # "alerts.state." + state: covered below


def test_the_screens_use_some_literal_keys():
    assert len(_literal_keys()) > 20


@pytest.mark.parametrize("key", sorted(
    _literal_keys()
    | {f"alerts.category.{c}" for c in CATEGORIES} | {f"severity.{s}" for s in SEVERITIES}
    | {f"alerts.state.{s}" for s in (*STATES, "unresolved")} | {f"alerts.verdict.{v}" for v in VERDICTS}
    | {f"alerts.history.{k}" for k in HISTORY_KINDS}))
def test_word_exists_in_korean_and_english(key):
    assert key in known_keys()
    assert t(key, "ko") and t(key, "en") and not t(key, "ko").startswith("⟦")
