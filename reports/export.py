"""Exports of a `Report`: CSV (a zip of one file per table), XLSX (one sheet per table) and PDF.

**What the SHA-256 covers.** Every export carries the SHA-256 of the report's *canonical data*:
the UTF-8 bytes of `canonical_json(report)` — a JSON document

    {"format": "cityops-report/1", "kind", "subject", "period": {"start", "end", "tz"},
     "tables": [{"name", "columns": [...], "rows": [[...], ...]}, ...]}

with keys sorted, no spaces (``separators=(",", ":")``), non-ASCII kept as UTF-8, times as UTC
ISO 8601 with a ``Z`` (microseconds when present), numbers as JSON numbers (Python's shortest
float repr), and missing values (NaN, NaT, None) as ``null``. The generation time and the
language of the labels are *not* in it, so the same data gives the same hash whenever and in
whatever language it is exported. The CSV zip ships that document as ``report.json``: anyone
can check a PDF's footer with ``sha256sum report.json`` (or rebuild it from the database with
``cityops report ... --format json``).

Times: UTC inside; local (the report's zone) in the files — CSV as ISO 8601 with the offset,
XLSX as real Excel date-times in local time (the zone is named in the "about" sheet and in each
time column's header), the PDF as local clock times.
"""
from __future__ import annotations

import hashlib
import io
import json
import math
import zipfile
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from reports.shift_report import Report

FORMAT_VERSION = "cityops-report/1"
MIMETYPES = {
    "csv": "application/zip",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pdf": "application/pdf",
    "json": "application/json",
}


# -- canonical data and its hash -----------------------------------------------------------------
def _utc_iso(ts: pd.Timestamp | datetime) -> str:
    ts = pd.Timestamp(ts).tz_convert("UTC")
    text = ts.strftime("%Y-%m-%dT%H:%M:%S")
    if ts.microsecond:
        text += f".{ts.microsecond:06d}"
    return text + "Z"


def _canonical_value(v: Any) -> Any:
    if v is None or v is pd.NaT:
        return None
    if isinstance(v, (pd.Timestamp, datetime)):
        return None if pd.isna(v) else _utc_iso(v)
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        f = float(v)
        return None if math.isnan(f) or math.isinf(f) else f
    if isinstance(v, dict):
        return {str(k): _canonical_value(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_canonical_value(x) for x in v]
    try:
        if pd.isna(v):
            return None
    except (TypeError, ValueError):
        pass
    return str(v)


def canonical_document(report: Report) -> dict[str, Any]:
    p = report.period
    return {
        "format": FORMAT_VERSION, "kind": report.kind, "subject": report.subject,
        "period": {"start": _utc_iso(p.start), "end": _utc_iso(p.end), "tz": p.tz},
        "tables": [{"name": name, "columns": [str(c) for c in df.columns],
                    "rows": [[_canonical_value(v) for v in row] for row in df.itertuples(index=False, name=None)]}
                   for name, df in report.tables.items()],
    }


def canonical_json(report: Report) -> bytes:
    """The hashed bytes; computed once per report (a report's tables are not changed after building)."""
    if "canonical" not in report.cache:
        report.cache["canonical"] = json.dumps(canonical_document(report), sort_keys=True, separators=(",", ":"),
                                               ensure_ascii=False, allow_nan=False).encode("utf-8")
    return report.cache["canonical"]


def content_hash(report: Report) -> str:
    return hashlib.sha256(canonical_json(report)).hexdigest()


# -- CSV -----------------------------------------------------------------------------------------
def _time_columns(df: pd.DataFrame) -> list[str]:
    return [c for c in df.columns if isinstance(df[c].dtype, pd.DatetimeTZDtype)]


def _local_iso(df: pd.DataFrame, tz: str) -> pd.DataFrame:
    out = df.copy()
    for c in _time_columns(df):
        out[c] = df[c].dt.tz_convert(tz).map(lambda t: "" if pd.isna(t) else t.isoformat())
    return out


def to_csv_zip(report: Report) -> bytes:
    """One UTF-8 CSV per table (with a BOM, so Excel shows Korean), plus ``report.json`` (the
    hashed canonical data) and ``manifest.json`` (hash, zone, generation time, file list)."""
    buf = io.BytesIO()
    names = []
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for i, (name, df) in enumerate(report.tables.items(), start=1):
            fname = f"{i:02d}_{name}.csv"
            names.append(fname)
            z.writestr(fname, _local_iso(df, report.period.tz).to_csv(index=False).encode("utf-8-sig"))
        z.writestr("report.json", canonical_json(report))
        z.writestr("manifest.json", json.dumps(_about(report) | {"files": names}, ensure_ascii=False, indent=2))
    return buf.getvalue()


def _about(report: Report) -> dict[str, Any]:
    p = report.period
    return {"report": report.kind, "subject": report.subject, "period": p.label, "start_utc": _utc_iso(p.start),
            "end_utc": _utc_iso(p.end), "timezone": p.tz, "generated_at": _utc_iso(report.generated_at),
            "sha256": content_hash(report), "sha256_covers": "UTF-8 bytes of report.json (canonical table data; see reports/export.py)",
            "not_available": [k for k, ok in report.available.items() if not ok]}


# -- XLSX ----------------------------------------------------------------------------------------
def to_xlsx(report: Report) -> bytes:
    """One sheet per table; numbers as numbers, times as Excel date-times in local time."""
    tz = report.period.tz
    buf = io.BytesIO()
    with pd.ExcelWriter(buf, engine="xlsxwriter", datetime_format="yyyy-mm-dd hh:mm:ss", date_format="yyyy-mm-dd") as xw:
        about = pd.DataFrame(list(_about(report).items()), columns=["field", "value"]).astype({"value": "str"})
        about.to_excel(xw, sheet_name="about", index=False)
        xw.sheets["about"].set_column(0, 0, 16)
        xw.sheets["about"].set_column(1, 1, 80)
        for name, df in report.tables.items():
            out = df.copy()
            tcols = _time_columns(df)
            for c in tcols:
                out[c] = df[c].dt.tz_convert(tz).dt.tz_localize(None)
            out = out.rename(columns={c: f"{c} ({tz})" for c in tcols})
            sheet = name[:31]
            out.to_excel(xw, sheet_name=sheet, index=False)
            ws = xw.sheets[sheet]
            for j, col in enumerate(out.columns):
                width = max([len(str(col))] + [len(str(v)) for v in out[col].head(200)]) + 2
                ws.set_column(j, j, min(max(width, 10), 60))
            ws.freeze_panes(1, 0)
    return buf.getvalue()


def render(report: Report, fmt: str, *, lang: str = "en") -> bytes:
    if fmt == "csv":
        return to_csv_zip(report)
    if fmt == "xlsx":
        return to_xlsx(report)
    if fmt == "json":
        return canonical_json(report)
    if fmt == "pdf":
        from reports.pdf import to_pdf

        return to_pdf(report, lang=lang)
    raise ValueError(fmt)
