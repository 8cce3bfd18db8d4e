"""The canonical data behind the SHA-256, and the report's words in both languages."""
from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime

import numpy as np
import pandas as pd

from reports.export import canonical_json, content_hash
from reports.pdf import fmt_number, markup
from reports.shift_report import Report
from reports.shifts import parse_shift_id
from store.i18n import known_keys, t

PERIOD = parse_shift_id("2026-11-26T07", "07-15,15-23,23-07", "Asia/Seoul")


def report(**tables: pd.DataFrame) -> Report:
    return Report("shift", PERIOD, datetime(2026, 11, 26, 7, tzinfo=UTC), dict(tables), subject="2026-11-26T07")


def test_canonical_json_is_sorted_compact_utf8_with_utc_times_and_nulls() -> None:
    df = pd.DataFrame({"at": pd.to_datetime([datetime(2026, 11, 26, 0, 0, 0, 5, tzinfo=UTC), None], utc=True),
                       "v": [1.5, np.nan], "n": pd.Series([3, 4], dtype="int64"), "who": ["김", ""]})

    doc = json.loads(canonical_json(report(t=df)))
    raw = canonical_json(report(t=df))

    assert doc["tables"] == [{"name": "t", "columns": ["at", "v", "n", "who"],
                              "rows": [["2026-11-26T00:00:00.000005Z", 1.5, 3, "김"], [None, None, 4, ""]]}]
    assert b", " not in raw and "김".encode() in raw
    assert list(json.loads(raw)) == sorted(json.loads(raw))


def test_hash_is_sha256_of_the_canonical_bytes_and_ignores_generation_time() -> None:
    df = pd.DataFrame({"n": [1]})
    a, b = report(t=df), report(t=df)
    b.generated_at = datetime(2030, 1, 1, tzinfo=UTC)

    assert content_hash(a) == hashlib.sha256(canonical_json(a)).hexdigest() == content_hash(b)
    assert content_hash(report(t=pd.DataFrame({"n": [2]}))) != content_hash(a)


def test_every_report_word_has_korean_and_english() -> None:
    keys = [k for k in known_keys() if k.startswith("reports.")]

    assert len(keys) > 150
    for key in keys:
        assert t(key, "ko") and t(key, "en") and not t(key, "ko").startswith("⟦"), key


def test_figures_print_with_one_decimal_and_counts_as_integers() -> None:
    assert fmt_number(32.94791) == "32.9"
    assert fmt_number(100856) == "100,856"
    assert fmt_number(float("nan")) == "–" and fmt_number(None) == "–"


def test_korean_runs_switch_font_and_markup_is_escaped() -> None:
    out = markup("PM2.5 <높음> & 3σ")

    assert "&lt;" in out and "&amp;" in out
    assert '<font name="' in out and "높음" in out
    assert markup("plain ascii 1.5") == "plain ascii 1.5"
