"""Without a Korean TrueType font on the machine the PDF still builds, with reportlab's CID font."""
from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import UTC, datetime

import pandas as pd
import pypdf
import pytest

from reports import pdf
from reports.shift_report import Report
from reports.shifts import parse_shift_id


@pytest.fixture
def no_ttf(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(pdf, "TTF_CANDIDATES", (("/nonexistent/NanumGothic.ttf", None),))
    pdf._fonts.cache_clear()
    yield
    pdf._fonts.cache_clear()


def test_pdf_falls_back_to_the_builtin_cid_font(no_ttf: None) -> None:
    period = parse_shift_id("2026-11-26T07", "07-15,15-23,23-07", "Asia/Seoul")
    summary = pd.DataFrame({"key": ["observations"], "value": [1234.0], "unit": [""]})
    notes = pd.DataFrame({"shift_id": ["2026-11-26T07"], "at": pd.to_datetime([period.start], utc=True),
                          "author": ["lead.park"], "text": ["교대 메모 note"]})
    report = Report("shift", period, datetime(2026, 11, 26, 7, tzinfo=UTC), {"summary": summary, "handover_notes": notes},
                    subject="2026-11-26T07")

    content = pdf.to_pdf(report, lang="ko")

    assert pdf.font_info().startswith("CID HYSMyeongJo-Medium")
    reader = pypdf.PdfReader(io.BytesIO(content))
    text = "\n".join(p.extract_text() for p in reader.pages)
    assert "1,234" in text and "lead.park" in text  # figures stay in Helvetica, readable whatever the viewer
    fonts = {str(f.get_object().get("/BaseFont")) for p in reader.pages for f in (p["/Resources"].get("/Font") or {}).values()}
    assert any("HYSMyeongJo" in f for f in fonts)
