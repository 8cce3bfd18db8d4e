"""Reports (/reports): pick a shift or a time range, preview its figures and charts, export it,
and write and sign the shift's handover.

Top, the choice (a recent shift, or start and end in local time) and the export buttons (PDF,
XLSX, CSV through `dcc.Download`; shown to shift leads and admins, checked on the server, each
export audited by `reports.service`). Middle, the headline figures as tiles and four charts.
Bottom, the open items carried over and the handover: notes, then the outgoing and incoming
leads' sign-off. Every figure comes from `reports.service`, the same code as the files.
"""
from __future__ import annotations

import math
import uuid
from datetime import timedelta
from typing import Any

import dash
import pandas as pd
import plotly.graph_objects as go
from dash import Dash, Input, Output, State, ctx, dcc, html, no_update
from flask import current_app, session

from dashboard import roles
from dashboard.auth import guarded, lang, requires
from reports import handover, service
from reports.pdf import fmt_number
from reports.shift_report import Report
from reports.shifts import Period, shift_at
from store.errors import CityOpsError
from store.i18n import known_keys, t
from store.runtime import Runtime

PAGE = "reports"
MODE, SHIFT, START, END, SHOW = "reports-mode", "reports-shift", "reports-start", "reports-end", "reports-show"
SPEC, ERROR, PREVIEW, DOWNLOAD = "reports-spec", "reports-error", "reports-preview", "reports-download"
EXPORT = {"pdf": "reports-export-pdf", "xlsx": "reports-export-xlsx", "csv": "reports-export-csv"}
NOTE_TEXT, NOTE_ADD, SIGN_OUT, SIGN_IN, HANDOVER = ("reports-note-text", "reports-note-add", "reports-sign-outgoing",
                                                    "reports-sign-incoming", "reports-handover")
RECENT_SHIFTS = 9
GRAPH_CONFIG = {"displayModeBar": False}


def _rt() -> Runtime:
    return current_app.extensions["cityops"]


def _label(prefix: str, key: str, language: str) -> str:
    return t(f"{prefix}.{key}", language) if f"{prefix}.{key}" in known_keys() else key.replace("_", " ")


# -- choices -------------------------------------------------------------------------------------
def recent_shifts(rt: Runtime) -> list[Period]:
    """The current shift and the ones before it, newest first."""
    s = rt.settings
    current = shift_at(rt.clock.now(), s.shifts, s.timezone)
    out = [current]
    while len(out) < RECENT_SHIFTS:
        out.append(shift_at(out[-1].start - timedelta(seconds=1), s.shifts, s.timezone))
    return out


def period_of(rt: Runtime, spec: dict[str, Any] | None) -> Period:
    spec = spec or {}
    if spec.get("mode") == "range":
        return service.period_for(rt, start=spec.get("start") or "", end=spec.get("end") or "")
    return service.period_for(rt, shift=spec.get("shift") or None)


# -- preview sections ----------------------------------------------------------------------------
def kpi_tiles(report: Report, language: str) -> html.Div:
    s = report.tables["summary"]
    tiles = []
    for key, value, unit in zip(s["key"], s["value"], s["unit"]):
        count = unit == "" and not math.isnan(value) and float(value).is_integer()
        shown = fmt_number(int(value)) if count else fmt_number(value, decimals=0 if key == "cai_max" else 1)
        tiles.append(html.Div(className="report-kpi", id=f"reports-kpi-{key}", children=[
            html.Div(_label("reports.kpi", key, language), className="report-kpi-label"),
            html.Div([html.Span(shown, className="report-kpi-value"), html.Span(f" {unit}" if unit else "", className="report-kpi-unit")]),
        ]))
    return html.Div(tiles, className="report-kpis")


def _figure(kind: str, x: list[Any], y: list[Any], title: str) -> go.Figure:
    y = [None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v) for v in y]
    trace = go.Scatter(x=x, y=y, mode="lines+markers") if kind == "line" else go.Bar(x=x, y=y)
    fig = go.Figure(trace)
    if not any(v is not None for v in y):
        fig.add_annotation(text=t("reports.chart.no_data", lang()), showarrow=False, font={"size": 16}, x=0.5, y=0.5,
                           xref="paper", yref="paper")
        fig.update_xaxes(visible=False)
        fig.update_yaxes(visible=False)
    fig.update_layout(title={"text": title, "font": {"size": 13}}, margin={"l": 40, "r": 10, "t": 36, "b": 40}, height=240,
                      template="plotly_dark", paper_bgcolor="rgba(0,0,0,0)", plot_bgcolor="rgba(0,0,0,0)")
    return fig


def charts(report: Report, language: str) -> html.Div:
    tz = report.period.tz
    figs = []
    tr = report.tables["traffic_by_hour"]
    hours = [h.tz_convert(tz).strftime("%m-%d %H:%M") for h in tr["hour"]]
    figs.append(_figure("line", hours, list(tr["mean_speed_kmh"]), t("reports.chart.speed", language)))
    figs.append(_figure("bar", hours, list(tr["congestion_pct"]), t("reports.chart.congestion", language)))
    air = report.tables["air_by_district"]
    figs.append(_figure("bar", list(air["district"]), list(air["pm25_mean"]), t("reports.chart.pm25", language)))
    if "alerts_by_category" in report.tables:
        cat = report.tables["alerts_by_category"]
        figs.append(_figure("bar", [_label("reports.category", c, language) for c in cat["category"]], list(cat["alerts"]),
                            t("reports.chart.alerts", language)))
    return html.Div([dcc.Graph(figure=f, config=GRAPH_CONFIG, className="report-chart", id=f"reports-chart-{i}")
                     for i, f in enumerate(figs)], className="report-charts")


def table(df: pd.DataFrame, tz: str, language: str, table_id: str) -> html.Table | html.P:
    if df.empty:
        return html.P(t("reports.empty", language), className="panel-note")

    def cell(v: Any) -> str:
        if isinstance(v, pd.Timestamp):
            return "–" if pd.isna(v) else v.tz_convert(tz).strftime("%m-%d %H:%M")
        if isinstance(v, float):
            return fmt_number(v)
        return str(v)

    head = html.Tr([html.Th(_label("reports.col", c, language)) for c in df.columns])
    rows = [html.Tr([html.Td(cell(v)) for v in r]) for r in df.head(200).itertuples(index=False, name=None)]
    return html.Table([html.Thead(head), html.Tbody(rows)], className="report-table", id=table_id)


def preview(report: Report, language: str) -> list[Any]:
    tz = report.period.tz
    out: list[Any] = [html.H2(report.period.label, id="reports-period-label"), kpi_tiles(report, language), charts(report, language)]
    for domain, ok in report.available.items():
        if not ok:
            out.append(html.P(t("reports.not_available_domain", language, domain=t(f"reports.domain.{domain}", language)),
                              className="panel-note"))
    for name in ("response_times", "open_items", "incidents"):
        if name in report.tables:
            out += [html.H3(_label("reports.table", name, language)), table(report.tables[name], tz, language, f"reports-table-{name}")]
    return out


def handover_view(rt: Runtime, period: Period, language: str) -> list[Any]:
    if period.shift_id is None:
        return [html.P(t("reports.empty", language), className="panel-note")]
    tz = period.zone
    with rt.session() as s:
        notes = handover.notes(s, period)
        signs = handover.signoffs(s, period)
    items: list[Any] = [html.Li([html.Span(n.created_at.astimezone(tz).strftime("%H:%M "), className="note-time"),
                                 html.B(f"{n.author}: "), n.text]) for n in notes]
    out: list[Any] = [html.Ul(items, id="reports-notes", className="report-notes")]
    for sgn in signs:
        out.append(html.P(t("reports.handover.signed", language, role=t(f"reports.handover.role.{sgn.role}", language),
                            user=sgn.username, time=sgn.signed_at.astimezone(tz).strftime("%m-%d %H:%M")),
                          className=f"signoff signoff-{sgn.role}"))
    return out


# -- layout --------------------------------------------------------------------------------------
def layout(**_query: Any) -> html.Div:
    rt = _rt()
    language = lang()
    shifts = recent_shifts(rt)
    may_export = roles.allowed(session.get("role"), "reports.export")
    may_sign = roles.allowed(session.get("role"), "handover.sign")
    hidden = {"display": "none"}
    return html.Div(className="console-page reports", children=[
        dcc.Store(id=SPEC), dcc.Download(id=DOWNLOAD),
        html.Section(className="panel report-controls", children=[
            html.H2(t("reports.page.title", language)),
            dcc.RadioItems(id=MODE, value="shift", inline=True, className="radio-group",
                           options=[{"label": t("reports.page.shift", language), "value": "shift"},
                                    {"label": t("reports.page.range", language), "value": "range"}]),
            dcc.Dropdown(id=SHIFT, value=shifts[0].shift_id, clearable=False, className="report-shift",
                         options=[{"label": p.label, "value": p.shift_id} for p in shifts]),
            html.Label([t("reports.page.start", language),
                        dcc.Input(id=START, type="datetime-local", value=f"{shifts[1].local_start:%Y-%m-%dT%H:%M}")],
                       id=f"{START}-wrap"),
            html.Label([t("reports.page.end", language),
                        dcc.Input(id=END, type="datetime-local", value=f"{shifts[0].local_start:%Y-%m-%dT%H:%M}")],
                       id=f"{END}-wrap"),
            html.Button(t("reports.page.show", language), id=SHOW, n_clicks=0, className="btn"),
            html.Span([html.Button(f"{t('reports.page.export', language)} {fmt.upper()}", id=bid, n_clicks=0, className="btn")
                       for fmt, bid in EXPORT.items()], style=None if may_export else hidden),
            html.Span(t("reports.page.no_export", language), className="panel-note", style=hidden if may_export else None),
            html.Div(id=ERROR, className="report-error", role="alert"),
        ]),
        dcc.Loading(html.Section(id=PREVIEW, className="panel report-preview")),
        html.Section(className="panel report-handover", children=[
            html.H2(t("reports.table.handover_notes", language)),
            html.Div(id=HANDOVER),
            html.Div(style=None if may_sign else hidden, children=[
                dcc.Textarea(id=NOTE_TEXT, className="report-note-input", maxLength=handover.MAX_NOTE,
                             placeholder=t("reports.handover.note", language)),
                html.Button(t("reports.handover.add_note", language), id=NOTE_ADD, n_clicks=0, className="btn"),
                html.Button(t("reports.handover.sign_outgoing", language), id=SIGN_OUT, n_clicks=0, className="btn"),
                html.Button(t("reports.handover.sign_incoming", language), id=SIGN_IN, n_clicks=0, className="btn"),
            ]),
        ]),
    ])


# -- registration and callbacks ------------------------------------------------------------------
def register(app: Dash) -> None:
    dash.register_page(__name__, path="/reports", layout=guarded("reports.view", layout), title=t("reports.page.title", "en"),
                       permission="reports.view", nav_key="reports.page.title", order=7)

    @app.callback(Output(SHIFT, "style"), Output(f"{START}-wrap", "style"), Output(f"{END}-wrap", "style"), Input(MODE, "value"))
    def choose_mode(mode: str) -> tuple[Any, Any, Any]:
        shown, hidden = {}, {"display": "none"}
        return (hidden, shown, shown) if mode == "range" else (shown, hidden, hidden)

    @app.callback(Output(SPEC, "data"), Output(PREVIEW, "children"), Output(HANDOVER, "children"), Output(ERROR, "children"),
                  Input(SHOW, "n_clicks"), State(MODE, "value"), State(SHIFT, "value"), State(START, "value"), State(END, "value"))
    @requires("reports.view")
    def show(_n: int, mode: str, shift: str | None, start: str | None, end: str | None) -> tuple[Any, Any, Any, Any]:
        """Build the report the user chose (the current shift when the page opens)."""
        rt, language = _rt(), lang()
        spec = {"mode": "range" if mode == "range" else "shift", "shift": shift, "start": start, "end": end}
        try:
            period = period_of(rt, spec)
            report = service.shift_report(rt, period)
        except CityOpsError as exc:
            return no_update, no_update, no_update, exc.message
        return spec, preview(report, language), handover_view(rt, period, language), ""

    @app.callback(Output(DOWNLOAD, "data"), Output(ERROR, "children", allow_duplicate=True),
                  *[Input(bid, "n_clicks") for bid in EXPORT.values()], State(SPEC, "data"), prevent_initial_call=True)
    @requires("reports.export")
    def export_file(*args: Any) -> tuple[Any, Any]:
        spec = args[-1]
        fmt = next((f for f, bid in EXPORT.items() if bid == ctx.triggered_id), None)
        if fmt is None or not spec:
            return no_update, no_update
        rt = _rt()
        try:
            report = service.shift_report(rt, period_of(rt, spec))
            out = service.export_report(rt, report, fmt, actor=session["username"], lang=lang(), context_id=uuid.uuid4().hex,
                                        via="page")
        except CityOpsError as exc:
            return no_update, exc.message
        return dcc.send_bytes(out.content, out.filename), ""

    @app.callback(Output(HANDOVER, "children", allow_duplicate=True), Output(NOTE_TEXT, "value"),
                  Output(ERROR, "children", allow_duplicate=True),
                  Input(NOTE_ADD, "n_clicks"), Input(SIGN_OUT, "n_clicks"), Input(SIGN_IN, "n_clicks"),
                  State(NOTE_TEXT, "value"), State(SPEC, "data"), prevent_initial_call=True)
    @requires("handover.sign")
    def act_on_handover(_a: int, _o: int, _i: int, text: str | None, spec: dict[str, Any] | None) -> tuple[Any, Any, Any]:
        """Write a note, or sign as outgoing or incoming lead, on the shift shown."""
        rt, language, user = _rt(), lang(), session["username"]
        try:
            period = period_of(rt, spec)
            with rt.session() as s:
                if ctx.triggered_id == NOTE_ADD:
                    handover.add_note(s, period, user, text or "", now=rt.clock.now(), context_id=uuid.uuid4().hex)
                else:
                    role = handover.OUTGOING if ctx.triggered_id == SIGN_OUT else handover.INCOMING
                    handover.sign(s, period, role, user, now=rt.clock.now(), context_id=uuid.uuid4().hex)
        except CityOpsError as exc:
            return no_update, no_update, exc.message
        return handover_view(rt, period, language), "" if ctx.triggered_id == NOTE_ADD else no_update, ""
