"""The PDF a person reads: a cover with the period and the headline figures, charts, every table,
the incidents' timelines; page numbers, generation time and the data's SHA-256 on every page.

Fonts. Latin text and all figures are set in Helvetica (always present, and its text extracts
exactly). Runs of characters Helvetica cannot show (Hangul, Greek σ, ...) switch to a Korean
font: NanumGothic, embedded as a subset, when the system has it (Debian: ``apt install
fonts-nanum``, found under /usr/share/fonts/truetype/nanum); otherwise reportlab's built-in CID
font ``HYSMyeongJo-Medium``, which needs no file but is not embedded (the reader's viewer must
supply a Korean font). `font_info()` says which one a process uses.

Charts are drawn with reportlab's own graphics (no browser, no kaleido).
"""
from __future__ import annotations

import io
import math
import re
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import pandas as pd
from reportlab.graphics.charts.barcharts import VerticalBarChart
from reportlab.graphics.charts.linecharts import HorizontalLineChart
from reportlab.graphics.shapes import Drawing, String
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen import canvas as rl_canvas
from reportlab.platypus import (
    CondPageBreak,
    KeepTogether,
    PageBreak,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from reports.export import content_hash
from reports.shift_report import Report
from store.i18n import known_keys, t

PAGE = landscape(A4)
MARGIN = 14 * mm
CHUNK_ROWS = 250  # long tables are split into tables of this many rows: reportlab splits small ones fast
TTF_CANDIDATES = (
    ("/usr/share/fonts/truetype/nanum/NanumGothic.ttf", "/usr/share/fonts/truetype/nanum/NanumGothicBold.ttf"),
    ("/usr/share/fonts/truetype/nanum-coding/NanumGothicCoding.ttf", None),
)
CID_FONT = "HYSMyeongJo-Medium"
INK = colors.HexColor("#1d2733")
ACCENT = colors.HexColor("#1f6fb2")
ACCENT2 = colors.HexColor("#d9822b")
RULE = colors.HexColor("#c9d2dc")
STRIPE = colors.HexColor("#f2f5f8")


@cache
def _fonts() -> tuple[str, str, str]:
    """(regular, bold, description) of the Korean font, registered with reportlab once."""
    for regular, bold in TTF_CANDIDATES:
        if Path(regular).exists():
            pdfmetrics.registerFont(TTFont("CJK", regular))
            if bold and Path(bold).exists():
                pdfmetrics.registerFont(TTFont("CJK-Bold", bold))
                return "CJK", "CJK-Bold", f"TrueType {Path(regular).name} (embedded subset)"
            return "CJK", "CJK", f"TrueType {Path(regular).name} (embedded subset)"
    pdfmetrics.registerFont(UnicodeCIDFont(CID_FONT))
    return CID_FONT, CID_FONT, f"CID {CID_FONT} (built into reportlab, not embedded)"


def font_info() -> str:
    return _fonts()[2]


def _width_chars(text: str) -> int:
    """Width in Latin-letter units: a Hangul syllable is about two letters wide."""
    return sum(2 if ord(ch) >= 0x1100 else 1 for ch in text)


def _helvetica_can(ch: str) -> bool:
    try:
        ch.encode("cp1252")
        return True
    except UnicodeEncodeError:
        return False


_RUN = re.compile(r"([^\x00-\xff\u2013\u2014\u2018\u2019\u201c\u201d\u2022\u2026\u20ac]+)")


def markup(text: Any, *, bold: bool = False) -> str:
    """Paragraph markup: escaped, with runs Helvetica cannot show set in the Korean font."""
    regular, bold_font, _ = _fonts()
    face = bold_font if bold else regular
    out = escape(str(text))
    return _RUN.sub(lambda m: f'<font name="{face}">{m.group(1)}</font>'
                    if not all(_helvetica_can(c) for c in m.group(1)) else m.group(1), out)


def _styles() -> dict[str, ParagraphStyle]:
    base = getSampleStyleSheet()
    body = ParagraphStyle("body", parent=base["BodyText"], fontName="Helvetica", fontSize=8.5, leading=10.5, textColor=INK)
    return {
        "title": ParagraphStyle("title", parent=body, fontName="Helvetica-Bold", fontSize=22, leading=27, spaceAfter=4),
        "subtitle": ParagraphStyle("subtitle", parent=body, fontSize=13, leading=17, textColor=ACCENT),
        "h1": ParagraphStyle("h1", parent=body, fontName="Helvetica-Bold", fontSize=13, leading=16, spaceBefore=8, spaceAfter=4, textColor=ACCENT),
        "h2": ParagraphStyle("h2", parent=body, fontName="Helvetica-Bold", fontSize=10, leading=13, spaceBefore=6, spaceAfter=3),
        "body": body,
        "cell": ParagraphStyle("cell", parent=body, fontSize=7, leading=8.5),
        "kpi": ParagraphStyle("kpi", parent=body, fontSize=9.5, leading=12),
        "note": ParagraphStyle("note", parent=body, fontSize=7.5, leading=9.5, textColor=colors.HexColor("#55616e")),
    }


# -- formatting ----------------------------------------------------------------------------------
def fmt_number(v: Any, *, decimals: int = 1) -> str:
    """Figures as the PDF prints them (tests compare with this): 1 decimal, integers as integers."""
    if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA:
        return "–"
    if isinstance(v, (bool,)):
        return "yes" if v else "no"
    if isinstance(v, int) or (hasattr(v, "dtype") and "int" in str(getattr(v, "dtype", ""))):
        return f"{int(v):,}"
    return f"{float(v):,.{decimals}f}"


def _fmt_cell(v: Any, column: str, tz: str, with_seconds: bool) -> str:
    if isinstance(v, pd.Timestamp):
        if pd.isna(v):
            return "–"
        return v.tz_convert(tz).strftime("%m-%d %H:%M:%S" if with_seconds else "%m-%d %H:%M")
    if v is None or v is pd.NaT:
        return "–"
    if isinstance(v, float):
        return fmt_number(v, decimals=DECIMALS.get(column, 1))
    if isinstance(v, int) and not isinstance(v, bool):
        return str(v) if column.endswith("_id") or column in ("id",) else fmt_number(v)
    return str(v)


def _label(prefix: str, key: str, lang: str) -> str:
    full = f"{prefix}.{key}"
    return t(full, lang) if full in known_keys() else key.replace("_", " ")


def _value_label(value: str, lang: str) -> str:
    for prefix in ("reports.category", "alerts.category", "reports.value", "qa"):
        if f"{prefix}.{value}" in known_keys():
            return t(f"{prefix}.{value}", lang)
    return value


# -- tables --------------------------------------------------------------------------------------
DECIMALS = {"cai": 0, "o3_mean": 3, "no2_mean": 3, "so2_mean": 4, "co_mean": 2}  # ppm gases need more than 1 decimal
WRAP = {"text", "detail", "approvers", "result", "name", "what", "comment", "place", "value"}
TRANSLATE_VALUES = {"category", "outcome", "severity", "kind", "state", "measure", "role", "meets_target"}


def _table(df: pd.DataFrame, st: dict[str, ParagraphStyle], tz: str, lang: str, *, width: float,
           seconds: bool = False, drop: Iterable[str] = ()) -> list[Any]:
    df = df.drop(columns=[c for c in drop if c in df.columns])
    cols = list(df.columns)
    header = [Paragraph(markup(_label("reports.col", c, lang), bold=True), st["cell"]) for c in cols]
    texts: list[list[str]] = []
    lengths = [max(6, len(c)) for c in cols]
    for row in df.itertuples(index=False, name=None):
        cells_text = []
        for j, (c, v) in enumerate(zip(cols, row)):
            text = _fmt_cell(v, c, tz, seconds)
            if c in TRANSLATE_VALUES and lang != "en":
                text = _value_label(text, lang)
            lengths[j] = max(lengths[j], min(len(text) if text.isascii() else _width_chars(text), 60))
            cells_text.append(text)
        texts.append(cells_text)
    total = sum(lengths)
    widths = [width * x / total for x in lengths]
    # A Paragraph only where it is needed (text that must wrap, or needs the Korean font): a plain
    # string is ten times cheaper to lay out, and a Seoul shift has ~5,000 command rows.
    # A column with any text Helvetica cannot show is set in the Korean font, which also has Latin
    # letters and digits, so its cells stay plain strings too.
    fits = [int((w - 6) / (7 * 0.56)) for w in widths]  # characters of 7 pt Helvetica a column holds
    korean = [any(not x.isascii() and not all(_helvetica_can(ch) for ch in x) for x in col) for col in zip(*texts)] if texts else []
    body: list[list[Any]] = [[Paragraph(markup(x), st["cell"]) if len(x) > fits[j] and cols[j] in WRAP else x
                              for j, x in enumerate(r)] for r in texts]
    style = TableStyle([
        ("FONT", (0, 0), (-1, -1), "Helvetica", 7),
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e4ebf2")),
        ("LINEBELOW", (0, 0), (-1, 0), 0.6, ACCENT),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("ROWBACKGROUNDS", (0, 1), (-1, -1), [colors.white, STRIPE]),
        ("LEFTPADDING", (0, 0), (-1, -1), 3), ("RIGHTPADDING", (0, 0), (-1, -1), 3),
        ("TOPPADDING", (0, 0), (-1, -1), 1.5), ("BOTTOMPADDING", (0, 0), (-1, -1), 1.5),
    ])
    for j, c in enumerate(cols):
        if korean and korean[j]:
            style.add("FONT", (j, 1), (j, -1), _fonts()[0], 7)
        if pd.api.types.is_numeric_dtype(df[c].dtype) and not c.endswith("_id") and c != "id":
            style.add("ALIGN", (j, 1), (j, -1), "RIGHT")
            header[j] = Paragraph(markup(_label("reports.col", c, lang), bold=True),
                                  ParagraphStyle("hr", parent=st["cell"], alignment=2))
    if not body:
        return [Table([header], colWidths=widths, style=style), Paragraph(markup(t("reports.empty", lang)), st["note"])]
    out = []
    for i in range(0, len(body), CHUNK_ROWS):
        out.append(Table([header] + body[i:i + CHUNK_ROWS], colWidths=widths, repeatRows=1, style=style))
    return out


# -- charts --------------------------------------------------------------------------------------
def _chart_frame(title: str, w: float, h: float) -> Drawing:
    d = Drawing(w, h)
    regular = _fonts()[0]
    font = regular if not all(_helvetica_can(c) for c in title) else "Helvetica-Bold"
    d.add(String(0, h - 11, title, fontName=font, fontSize=9, fillColor=INK))
    return d


def _no_data(d: Drawing, w: float, h: float, lang: str) -> Drawing:
    d.add(String(w / 2, h / 2, t("reports.chart.no_data", lang), fontName=_fonts()[0], fontSize=9,
                 fillColor=colors.grey, textAnchor="middle"))
    return d


def line_chart(title: str, labels: list[str], values: list[float | None], w: float, h: float, lang: str,
               color: Any = ACCENT) -> Drawing:
    d = _chart_frame(title, w, h)
    vals = [None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v) for v in values]
    if not any(v is not None for v in vals):
        return _no_data(d, w, h, lang)
    c = HorizontalLineChart()
    c.x, c.y, c.width, c.height = 32, 22, w - 44, h - 44
    c.data = [[v if v is not None else None for v in vals]]
    c.categoryAxis.categoryNames = labels
    c.categoryAxis.labels.fontName = "Helvetica"
    c.categoryAxis.labels.fontSize = 7
    c.valueAxis.labels.fontSize = 7
    present = [v for v in vals if v is not None]
    c.valueAxis.valueMin = 0
    c.valueAxis.valueMax = max(present) * 1.15 if max(present) > 0 else 1
    c.lines[0].strokeColor = color
    c.lines[0].strokeWidth = 1.8
    c.joinedLines = 1
    d.add(c)
    return d


def bar_chart(title: str, labels: list[str], values: list[float], w: float, h: float, lang: str,
              color: Any = ACCENT, rotate: bool = True) -> Drawing:
    d = _chart_frame(title, w, h)
    vals = [0.0 if v is None or (isinstance(v, float) and math.isnan(v)) else float(v) for v in values]
    if not vals or not any(vals):
        return _no_data(d, w, h, lang)
    bottom = 58 if rotate else 22
    c = VerticalBarChart()
    c.x, c.y, c.width, c.height = 32, bottom, w - 44, h - bottom - 20
    c.data = [vals]
    c.categoryAxis.categoryNames = labels
    c.categoryAxis.labels.fontName = _fonts()[0]
    c.categoryAxis.labels.fontSize = 6.5
    if rotate:
        c.categoryAxis.labels.angle = 60
        c.categoryAxis.labels.boxAnchor = "ne"
        c.categoryAxis.labels.dx, c.categoryAxis.labels.dy = 2, -2
    c.valueAxis.labels.fontSize = 7
    c.valueAxis.valueMin = 0
    c.valueAxis.valueMax = max(vals) * 1.15
    c.bars[0].fillColor = color
    c.bars[0].strokeColor = None
    d.add(c)
    return d


def _charts(report: Report, lang: str, width: float) -> list[Any]:
    tz = report.period.tz
    out: list[Any] = []
    half = (width - 10) / 2
    tr = report.tables.get("traffic_by_hour")
    if tr is not None:
        labels = [h.tz_convert(tz).strftime("%H") for h in tr["hour"]]
        out.append(Table([[line_chart(t("reports.chart.speed", lang), labels, list(tr["mean_speed_kmh"]), half, 150, lang),
                           bar_chart(t("reports.chart.congestion", lang), labels, list(tr["congestion_pct"]), half, 150, lang,
                                     ACCENT2, rotate=False)]], colWidths=[half + 5, half + 5]))
    row = []
    air = report.tables.get("air_by_district")
    if air is not None:
        row.append(bar_chart(t("reports.chart.pm25", lang), list(air["district"]), list(air["pm25_mean"]), half, 190, lang))
    cat = report.tables.get("alerts_by_category")
    if cat is not None:
        labels = [_value_label(str(x), lang) for x in cat["category"]]
        row.append(bar_chart(t("reports.chart.alerts", lang), labels, list(cat["alerts"]), half, 190, lang, ACCENT2))
    if row:
        out.append(Table([row], colWidths=[half + 5] * len(row)))
    return out


# -- page furniture ------------------------------------------------------------------------------
def _canvas_maker(footer_left: str, page_text: Any) -> type:
    """A canvas that knows the page count when it draws each footer (two passes over the pages)."""

    class NumberedCanvas(rl_canvas.Canvas):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._pages: list[dict[str, Any]] = []

        def showPage(self) -> None:  # noqa: N802 - reportlab's name
            self._pages.append(dict(self.__dict__))
            self._startPage()

        def save(self) -> None:
            total = len(self._pages)
            for state in self._pages:
                self.__dict__.update(state)
                self._footer(total)
                super().showPage()
            super().save()

        def _footer(self, total: int) -> None:
            w, _ = PAGE
            self.setStrokeColor(RULE)
            self.setLineWidth(0.5)
            self.line(MARGIN, 11 * mm, w - MARGIN, 11 * mm)
            self.setFont("Helvetica", 7)
            self.setFillColor(colors.HexColor("#55616e"))
            self.drawString(MARGIN, 7 * mm, footer_left)
            text = page_text(self._pageNumber, total)
            face = _fonts()[0] if not all(_helvetica_can(c) for c in text) else "Helvetica"
            self.setFont(face, 7.5)
            self.drawRightString(w - MARGIN, 7 * mm, text)

    return NumberedCanvas


# -- the document --------------------------------------------------------------------------------
def _kpi_rows(report: Report, lang: str, st: dict[str, ParagraphStyle]) -> list[list[Any]]:
    s = report.tables["summary"]
    rows = []
    for key, value, unit in zip(s["key"], s["value"], s["unit"]):
        is_count = unit == "" and (isinstance(value, float) and not math.isnan(value) and float(value).is_integer())
        shown = fmt_number(int(value)) if is_count else fmt_number(value, decimals=0 if key == "cai_max" else 1)
        rows.append([Paragraph(markup(_label("reports.kpi", key, lang)), st["kpi"]),
                     Paragraph(f"<b>{escape(shown)}</b> {escape(unit)}", st["kpi"])])
    return rows


def to_pdf(report: Report, *, lang: str = "en") -> bytes:
    st = _styles()
    tz = report.period.tz
    digest = content_hash(report)
    generated = pd.Timestamp(report.generated_at).tz_convert(tz).strftime("%Y-%m-%d %H:%M:%S %Z")
    width = PAGE[0] - 2 * MARGIN
    story: list[Any] = []

    # Cover: what, when, the headline figures, what is missing, and how to check the hash.
    story.append(Paragraph(markup(t(f"reports.title.{report.kind}", lang), bold=True), st["title"]))
    what = report.period.label
    if report.kind == "incident" and not report.tables["incident"].empty:
        row = report.tables["incident"].iloc[0]
        what = t("reports.timeline_of", lang, id=row["incident_id"], name=row["name"] or row["district"])
    story.append(Paragraph(markup(what), st["subtitle"]))
    story.append(Spacer(1, 4 * mm))
    meta = [[t("reports.period", lang), report.period.label], [t("reports.timezone", lang), tz],
            [t("reports.generated_at", lang), generated], [t("reports.sha256", lang), digest]]
    story.append(Table([[Paragraph(markup(k), st["body"]), Paragraph(markup(v), st["body"])] for k, v in meta],
                       colWidths=[55 * mm, width - 55 * mm], style=TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP")])))
    for domain, ok in report.available.items():
        if not ok:
            story.append(Paragraph(markup(t("reports.not_available_domain", lang, domain=t(f"reports.domain.{domain}", lang))),
                                   st["body"]))
    story.append(Paragraph(markup(t("reports.headline", lang)), st["h1"]))
    kpis = _kpi_rows(report, lang, st)
    half = (len(kpis) + 1) // 2
    grid = [[*a, *(kpis[half + i] if half + i < len(kpis) else ["", ""])] for i, a in enumerate(kpis[:half])]
    if grid:
        story.append(Table(grid, colWidths=[width * 0.32, width * 0.18, width * 0.32, width * 0.18],
                           style=TableStyle([("LINEBELOW", (0, 0), (-1, -1), 0.3, RULE), ("VALIGN", (0, 0), (-1, -1), "MIDDLE")])))
    story.append(Spacer(1, 3 * mm))
    story.append(Paragraph(markup(t("reports.sha256_note", lang)), st["note"]))

    charts = _charts(report, lang, width)
    if charts:
        story.append(PageBreak())
        story.append(Paragraph(markup(t("reports.charts", lang)), st["h1"]))
        story.extend(charts)

    story.append(PageBreak())
    for name, df in report.tables.items():
        if name in ("summary",):
            continue
        title = Paragraph(markup(_label("reports.table", name, lang)), st["h1"])
        if name == "incident_timeline":
            story.append(CondPageBreak(40 * mm))
            story.append(title)
            story.extend(_timelines(report, df, st, lang, width))
            continue
        parts = _table(df, st, tz, lang, width=width, drop=("params",))
        story.append(CondPageBreak(30 * mm))
        story.append(KeepTogether([title, parts[0]]) if len(parts) == 1 or len(df) <= 5 else title)
        story.extend(parts[1:] if len(parts) == 1 or len(df) <= 5 else parts)
        story.append(Spacer(1, 3 * mm))

    buf = io.BytesIO()
    doc = SimpleDocTemplate(buf, pagesize=PAGE, leftMargin=MARGIN, rightMargin=MARGIN, topMargin=MARGIN,
                            bottomMargin=16 * mm, title=f"CityOps {t(f'reports.title.{report.kind}', 'en')} {report.subject}",
                            author="CityOps", subject=report.period.label, keywords=f"sha256:{digest}", creator="CityOps reports")
    footer_left = f"CityOps · {report.subject} · {t('reports.generated_at', 'en')} {generated} · SHA-256 {digest}"
    doc.build(story, canvasmaker=_canvas_maker(footer_left, lambda n, total: t("reports.page", lang, n=n, total=total)))
    return buf.getvalue()


def _timelines(report: Report, df: pd.DataFrame, st: dict[str, ParagraphStyle], lang: str, width: float) -> list[Any]:
    out: list[Any] = []
    names = {}
    inc = report.tables.get("incidents", report.tables.get("incident"))
    if inc is not None:
        names = dict(zip(inc["incident_id"], inc["name"]))
    if df.empty:
        return _table(df, st, report.period.tz, lang, width=width)
    for inc_id, part in df.groupby("incident_id", sort=False):
        out.append(Paragraph(markup(t("reports.timeline_of", lang, id=inc_id, name=names.get(inc_id, "") or "")), st["h2"]))
        out.extend(_table(part, st, report.period.tz, lang, width=width, seconds=True, drop=("incident_id",)))
    return out
