"""Air quality (/air): sensors on the map by index class for a chosen pollutant, the district
ranking, and the last 24 hours of a selected sensor.

The map colours each sensor by the Korean CAI sub-index of the chosen pollutant (PM2.5, PM10, O3,
NO2) in its regulatory window (PM: AirKorea's 24 h predicted average; gases: 1 h), or by the US
EPA AQI when that is chosen. A sensor whose newest reading is flagged or quarantined is drawn
grey and dashed, never in a "good" colour; a withheld figure is drawn small and dark. Live data:
each Socket.IO air delta recomputes only the sensors it names and restyles them in the browser;
the ranking takes a row transaction on the throttled live tick; the chart a `Patch`.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import dash
import dash_ag_grid as dag
import dash_leaflet as dl
import plotly.graph_objects as go
from dash import Dash, Input, Output, Patch, State, dcc, html, no_update
from flask import current_app

from dashboard.auth import guarded, lang, requires
from dashboard.live import SOCKET_ID
from feeds import air_queries as aq
from feeds import live_queries as lq
from panels.components.citymap import CityMap, state_id
from panels.components.grid import grid_options
from panels.components.staleness import StalenessBadge
from store.i18n import t
from store.runtime import Runtime

PAGE = "air"
MAP = "air-map"
AIR_LAYER = f"{MAP}-air"
STATE_DOMAIN = "airIndex"  # the map's own state: classes for the chosen pollutant and index
CHANGES = "air-changes"
POLLUTANT = "air-pollutant"
SYSTEM = "air-system"
LEGEND = "air-legend"
RANKING = "air-ranking"
CHART = "air-chart"
CHART_NOTE = "air-chart-note"
SELECTED = "air-selected"
HIGHLIGHT = "air-highlight"
LIVE_TICK = "live-tick"
RANKING_MAX_AGE_S = 5.0
CAI_CLASSES = ("good", "moderate", "unhealthy", "very_unhealthy")
US_CLASSES = ("good", "moderate", "unhealthy_sensitive", "unhealthy", "very_unhealthy", "hazardous")
GLYPH = {"good": "●", "moderate": "●", "unhealthy_sensitive": "▲", "unhealthy": "▲", "very_unhealthy": "■", "hazardous": "◆"}


def _rt() -> Runtime:
    return current_app.extensions["cityops"]


def _grade_word(grade: str | None, system: str, language: str) -> str:
    if grade is None:
        return t("air.no_index", language)
    return t(f"cai.{grade}" if system == "cai" else f"air.us.{grade}", language)


# -- read models as screen rows ---------------------------------------------------------------
def ranking_rows(rt: Runtime, language: str) -> list[dict[str, Any]]:
    rows = []
    for rank, d in enumerate(aq.read_districts(rt, lq.city_pack(rt), max_age_s=RANKING_MAX_AGE_S), start=1):
        cai, us = d.cai, d.us_aqi
        rows.append({
            "id": d.district, "rank": rank if cai.value is not None else None,
            "district": d.name_ko if language == "ko" else d.district,
            "cai": cai.value, "grade": f"{GLYPH.get(cai.grade or '', '–')} {_grade_word(cai.grade, 'cai', language)}",
            "level": cai.level,
            "pollutant": t(f"air.pollutant_short.{cai.pollutant}", language) if cai.pollutant else "–",
            "window": t(f"air.window_short.{cai.window}", language) if cai.window else t("air.withheld_short", language),
            "reason": cai.reason or (t(f"air.window.{cai.window}", language) if cai.window else ""),
            "us": us.value, "us_grade": _grade_word(us.grade, "us", language) if us.value is not None else "",
            "age": None if d.age_s is None else round(d.age_s)})
    return rows


def map_state(rt: Runtime, pollutant: str, system: str, ids: list[str] | None = None) -> dict[str, list[Any]]:
    return aq.map_classes(aq.read_sensors(rt, lq.city_pack(rt), ids), pollutant, system)


def _local_hours(rt: Runtime, hours: list[datetime]) -> list[str]:
    tz = ZoneInfo(rt.settings.timezone)
    return [h.astimezone(tz).replace(tzinfo=None).isoformat() for h in hours]


def chart_figure(rt: Runtime, sensor_id: str | None, pollutant: str, language: str) -> tuple[go.Figure, str]:
    """The sensor's hourly means of the chosen pollutant over 24 h (x in local time)."""
    fig = go.Figure()
    unit = aq.UNITS[pollutant]
    fig.update_layout(template="plotly_dark", paper_bgcolor="rgba(0,0,0,0)", plot_bgcolor="#0E1726",
                      margin={"l": 70, "r": 20, "t": 44, "b": 40}, font={"size": 15, "color": "#E8EEF7"},
                      yaxis={"title": f"{t(f'air.pollutant.{pollutant}', language)} ({unit})", "rangemode": "tozero",
                             "gridcolor": "#2A3A52"},
                      xaxis={"tickformat": "%H:%M", "gridcolor": "#2A3A52"})
    if not sensor_id:
        fig.update_layout(xaxis={"visible": False}, yaxis={"visible": False}, plot_bgcolor="rgba(0,0,0,0)",
                          annotations=[{"text": t("air.chart.pick", language), "showarrow": False, "font": {"size": 18},
                                        "xref": "paper", "yref": "paper", "x": 0.5, "y": 0.5}])
        return fig, ""
    day = aq.read_sensor_day(rt, lq.city_pack(rt), sensor_id)
    xs = _local_hours(rt, day.hours)
    fig.add_trace(go.Scatter(x=xs, y=list(day.series.get(pollutant, [None] * len(xs))), mode="lines+markers",
                             line={"color": "#F2C200", "width": 3}, marker={"size": 8},
                             name=t("air.window.1h", language)))
    fig.update_layout(title={"text": t("air.chart.title", language, sensor=f"{sensor_id} · {day.district}"), "font": {"size": 17}})
    return fig, ""


def _ring(*, visible: bool) -> dict[str, Any]:
    return {"color": "#FFFFFF", "weight": 4, "opacity": 1 if visible else 0, "fill": False, "dashArray": "6 4"}


def legend(system: str, language: str) -> list[html.Div]:
    """The classes as the map draws them: a colour and a circle that grows with the band."""
    classes = CAI_CLASSES if system == "cai" else US_CLASSES
    prefix = "" if system == "cai" else "us_"
    rows = [html.Div([html.Span("●", className=f"legend-mark air-{prefix}{c}", style={"fontSize": f"{0.8 + 0.22 * i:.2f}em"}),
                      html.Span(_grade_word(c, system, language))], className="legend-row") for i, c in enumerate(classes)]
    rows.append(html.Div([html.Span("◌", className="legend-mark air-flagged"), html.Span(t("status.flagged", language))],
                         className="legend-row"))
    rows.append(html.Div([html.Span("·", className="legend-mark air-none"), html.Span(t("air.no_index", language))],
                         className="legend-row"))
    return rows


# -- layout -----------------------------------------------------------------------------------
def layout(**_query: Any) -> html.Div:
    rt = _rt()
    language = lang()
    pack = lq.city_pack(rt)
    pollutant, system = "pm25", "cai"
    fig, note = chart_figure(rt, None, pollutant, language)
    col = lambda field, key, **kw: {"field": field, "headerName": t(key, language), **kw}  # noqa: E731
    return html.Div(className="console-page air", children=[
        dcc.Store(id=SELECTED), dcc.Store(id=CHANGES),
        html.Section(className="panel air-map-panel", children=[
            html.Div(className="panel-head", children=[
                html.H2(t("air.map.title", language)), StalenessBadge("air-map", "air", language)]),
            html.Div(className="air-controls", children=[
                dcc.RadioItems(id=POLLUTANT, value=pollutant, inline=True, className="radio-group",
                               options=[{"label": t(f"air.pollutant.{p}", language), "value": p} for p in aq.MAP_POLLUTANTS]),
                dcc.RadioItems(id=SYSTEM, value=system, inline=True, className="radio-group",
                               options=[{"label": t("air.index.cai", language), "value": "cai"},
                                        {"label": t("air.index.us", language), "value": "us"}]),
            ]),
            html.Div(className="air-map-wrap", children=[
                CityMap(MAP, center=pack.center, snapshots={STATE_DOMAIN: map_state(rt, pollutant, system)},
                        tile_url=rt.settings.tile_url, zoom=11, lang=language, selectable=True, legend=(),
                        air_domain=STATE_DOMAIN,
                        overlays=(dl.CircleMarker(id=HIGHLIGHT, center=list(pack.center), radius=16, interactive=False,
                                                  pathOptions=_ring(visible=False)),)),
                html.Div(legend(system, language), id=LEGEND, className="map-legend air-legend"),
            ]),
        ]),
        html.Section(className="panel air-ranking-panel", children=[
            html.Div(className="panel-head", children=[
                html.H2(t("air.ranking.title", language)), StalenessBadge("air-ranking", "air", language)]),
            dag.AgGrid(id=RANKING, rowData=ranking_rows(rt, language), getRowId="params.data.id",
                       columnDefs=[col("rank", "air.ranking.rank", maxWidth=52, minWidth=44),
                                   col("district", "air.ranking.district", flex=1.3, tooltipField="district"),
                                   col("cai", "air.ranking.index", type="numericColumn", maxWidth=80),
                                   col("grade", "air.ranking.grade", flex=1.7, minWidth=150, tooltipField="grade"),
                                   col("pollutant", "air.ranking.pollutant", maxWidth=90),
                                   col("window", "air.ranking.window", flex=1, minWidth=110, tooltipField="reason"),
                                   col("us", "air.ranking.us", type="numericColumn", maxWidth=80),
                                   col("us_grade", "air.ranking.us_grade", flex=1.4, tooltipField="us_grade"),
                                   col("age", "air.ranking.age", type="numericColumn", maxWidth=82)],
                       defaultColDef={"sortable": True, "resizable": True, "flex": 1, "minWidth": 70,
                                      "wrapHeaderText": True, "autoHeaderHeight": True},
                       dashGridOptions=grid_options(getRowClass={"function": "params.data.level == null ? 'row-none' : 'row-level-' + params.data.level"}),
                       className="cityops-grid", style={"height": "100%"}),
        ]),
        html.Section(className="panel air-chart-panel", children=[
            html.Div(className="panel-head", children=[
                html.H2(t("air.chart.heading", language)), html.Span(note, id=CHART_NOTE, className="panel-note"),
                StalenessBadge("air-chart", "air", language)]),
            dcc.Graph(id=CHART, figure=fig, config={"displayModeBar": False}, className="air-chart"),
        ]),
    ])


# -- registration and callbacks ---------------------------------------------------------------
def register(app: Dash) -> None:
    dash.register_page(__name__, path="/air", layout=guarded("view.console", layout), title=t("air.title", "en"),
                       permission="view.console", nav_key="air.title", live=("air",), order=2)
    app.clientside_callback(  # live: restyle only the sensors that changed
        "function (changes) { if (changes && window.cityops) { window.cityops.applyDelta({domain: '%s', changes: changes}); }"
        " }" % STATE_DOMAIN,
        Input(CHANGES, "data"), prevent_initial_call=True)

    @app.callback(Output(state_id(MAP, STATE_DOMAIN), "data"), Output(LEGEND, "children"),
                  Input(POLLUTANT, "value"), Input(SYSTEM, "value"), prevent_initial_call=True)
    @requires("view.console")
    def choose(pollutant: str, system: str) -> tuple[dict[str, list[Any]], list[html.Div]]:
        """A new pollutant or index: every sensor's class (the operator asked for a new picture)."""
        aq.check_pollutant(pollutant)
        system = "us" if system == "us" else "cai"
        return map_state(_rt(), pollutant, system), legend(system, lang())

    @app.callback(Output(CHANGES, "data"), Output(CHART, "figure", allow_duplicate=True),
                  Input(SOCKET_ID, "data-delta-air"), State(POLLUTANT, "value"), State(SYSTEM, "value"),
                  State(SELECTED, "data"), prevent_initial_call=True)
    @requires("view.console")
    def on_delta(delta: dict[str, Any] | None, pollutant: str, system: str, selected: str | None) -> tuple[Any, Any]:
        """The sensors a live delta names, recomputed; the selected sensor's chart patched."""
        ids = list((delta or {}).get("changes") or {})
        if not ids:
            return no_update, no_update
        rt = _rt()
        changes = map_state(rt, pollutant, "us" if system == "us" else "cai", ids)
        chart: Any = no_update
        if selected and selected in changes:
            day = aq.read_sensor_day(rt, lq.city_pack(rt), selected)
            chart = Patch()  # the series only (all 24 points: right across the hour's roll-over)
            chart["data"][0]["x"] = _local_hours(rt, day.hours)
            chart["data"][0]["y"] = list(day.series.get(pollutant, [None] * len(day.hours)))
        return changes, chart

    @app.callback(Output(SELECTED, "data"), Output(HIGHLIGHT, "center"), Output(HIGHLIGHT, "pathOptions"),
                  Input(AIR_LAYER, "clickData"), prevent_initial_call=True)
    @requires("view.console")
    def select(click: dict[str, Any] | None) -> tuple[Any, Any, Any]:
        """The sensor clicked: its chart, and a white ring around it on the map."""
        sensor_id = (click or {}).get("id")
        site = next((s for s in lq.city_pack(_rt()).sensors_of("air") if s.id == sensor_id), None)
        if site is None:
            return no_update, no_update, no_update
        return site.id, [site.lat, site.lon], _ring(visible=True)

    @app.callback(Output(CHART, "figure"), Output(CHART_NOTE, "children"), Input(SELECTED, "data"),
                  Input(POLLUTANT, "value"), prevent_initial_call=True)
    @requires("view.console")
    def draw_chart(sensor_id: str | None, pollutant: str) -> tuple[go.Figure, str]:
        return chart_figure(_rt(), sensor_id, aq.check_pollutant(pollutant), lang())

    @app.callback(Output(RANKING, "rowTransaction"), Input(LIVE_TICK, "data"), prevent_initial_call=True)
    @requires("view.console")
    def refresh_ranking(_tick: int | None) -> dict[str, Any]:
        """Ranks change by the hour: update the 25 rows in place (the grid keeps the user's sort)."""
        return {"update": ranking_rows(_rt(), lang())}
