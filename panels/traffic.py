"""Traffic (/traffic): link speeds and buses on the map, the worst links, corridor travel times,
and the selected link's or corridor's speed against the usual speed for the hour.

Left, the city map (links by speed class, colour plus line width and dash; buses as their own
canvas layer). Right, two sortable tables and the chart. A click on a link or a table row selects
what the chart shows. Live data: the map restyles itself from Socket.IO deltas in the browser;
the tables take row transactions and the chart a `Patch` on the throttled live tick, so nothing
is redrawn whole. Flagged, quarantined or stale speeds are shown as unverified, never ranked.
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
from feeds import live_queries as lq
from feeds import traffic_queries as tq
from panels.components.citymap import CityMap
from panels.components.grid import grid_options
from panels.components.staleness import StalenessBadge
from store.i18n import t
from store.runtime import Runtime

PAGE = "traffic"
MAP = "traffic-map"
LINKS_LAYER = f"{MAP}-links"
WORST = "traffic-worst"
WORST_IDS = "traffic-worst-ids"
CORRIDORS = "traffic-corridors"
CHART = "traffic-chart"
CHART_NOTE = "traffic-chart-note"
SELECTED = "traffic-selected"
HIGHLIGHT = "traffic-highlight"
UNVERIFIED_NOTE = "traffic-unverified"
LIVE_TICK = "live-tick"
WORST_N = 50
LINK_STATES_MAX_AGE_S = 1.0  # one read of every link's state serves all open traffic pages for this long


def _rt() -> Runtime:
    return current_app.extensions["cityops"]


def _num(v: float | None, digits: int = 1) -> float | None:
    """Rounded for the table (the grid sorts numbers, so they stay numbers; units are in the headers)."""
    return None if v is None else round(v, digits)


# -- read models as rows ----------------------------------------------------------------------
def _district(rt: Runtime, name_en: str, language: str) -> str:
    try:
        d = lq.city_pack(rt).district(name_en)
    except KeyError:
        return name_en
    return d.name_ko if language == "ko" else d.name_en


def link_row(rt: Runtime, s: tq.LinkState, language: str) -> dict[str, Any]:
    return {"id": s.link_id, "name": s.name, "district": _district(rt, s.district, language),
            "speed": _num(s.speed_kmh), "free": _num(s.free_speed_kmh, 0), "ci": _num(s.congestion_index, 0),
            "delay": _num(s.delay_s, 0), "cls": t(f"speed.{s.speed_class}", language)}


def corridor_row(c: tq.CorridorTime, language: str) -> dict[str, Any]:
    minutes = None if c.travel_time_s is None else c.travel_time_s / 60
    return {"id": c.corridor_id, "name": c.name, "time": _num(minutes), "free": _num(c.free_travel_time_s / 60),
            "ratio": _num(c.ratio, 2), "speed": _num(c.speed_kmh),
            "note": t("traffic.withheld", language) if c.travel_time_s is None else "", "reason": c.reason or ""}


def _tables(rt: Runtime, language: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]], str]:
    pack = lq.city_pack(rt)
    states = tq.read_link_states(rt, pack, max_age_s=LINK_STATES_MAX_AGE_S)
    worst = [link_row(rt, s, language) for s in tq.worst_links(states.values(), n=WORST_N)]
    corridors = [corridor_row(c, language) for c in tq.corridor_times(pack, states)]
    unverified = sum(not s.verified for s in states.values())
    note = f"{t('traffic.unverified', language)}: {unverified:,} / {len(states):,} {t('unit.links', language)}"
    return worst, corridors, note


def _local_hours(rt: Runtime, hours: list[datetime]) -> list[str]:
    tz = ZoneInfo(rt.settings.timezone)
    return [h.astimezone(tz).replace(tzinfo=None).isoformat() for h in hours]


def chart_figure(rt: Runtime, selected: dict[str, str] | None, language: str) -> tuple[go.Figure, str]:
    """Hourly speed against the usual for the hour (x in local time; lists, so it can be patched)."""
    fig = go.Figure()
    fig.update_layout(template="plotly_dark", paper_bgcolor="rgba(0,0,0,0)", plot_bgcolor="#0E1726",
                      margin={"l": 60, "r": 20, "t": 40, "b": 40}, font={"size": 15, "color": "#E8EEF7"},
                      legend={"orientation": "h", "y": 1.0, "yanchor": "bottom", "x": 1, "xanchor": "right",
                              "bgcolor": "rgba(0,0,0,0)"}, yaxis={"title": t("traffic.chart.speed", language),
                                                                              "rangemode": "tozero", "gridcolor": "#2A3A52"},
                      xaxis={"tickformat": "%H:%M", "gridcolor": "#2A3A52"})
    if not selected:
        fig.update_layout(xaxis={"visible": False}, yaxis={"visible": False}, plot_bgcolor="rgba(0,0,0,0)",
                          annotations=[{"text": t("traffic.chart.pick", language), "showarrow": False, "font": {"size": 18},
                                        "xref": "paper", "yref": "paper", "x": 0.5, "y": 0.5}])
        return fig, ""
    hist = tq.read_speed_history(_rt(), lq.city_pack(rt), selected["kind"], selected["id"])
    xs = _local_hours(rt, hist.hours)
    fig.add_trace(go.Scatter(x=xs, y=list(hist.speed_kmh), name=t("traffic.chart.speed", language), mode="lines+markers",
                             line={"color": "#56B4E9", "width": 3}, marker={"size": 7}))
    fig.add_trace(go.Scatter(x=xs, y=list(hist.usual_kmh), name=t("traffic.chart.usual", language), mode="lines",
                             line={"color": "#E69F00", "width": 3, "dash": "dash"}))
    fig.add_trace(go.Scatter(x=[xs[-1]], y=[hist.current_kmh], name=t("traffic.chart.now", language), mode="markers",
                             marker={"size": 16, "symbol": "diamond", "color": "#FFFFFF"}))
    fig.update_layout(title={"text": hist.name, "font": {"size": 17}, "x": 0.01, "xanchor": "left", "y": 0.97})
    note = t("traffic.chart.no_history", language) if hist.note else ""
    return fig, note


# -- layout -----------------------------------------------------------------------------------
def _grid(grid_id: str, columns: list[dict[str, Any]], rows: list[dict[str, Any]], sort: str) -> dag.AgGrid:
    return dag.AgGrid(id=grid_id, rowData=rows, columnDefs=columns, getRowId="params.data.id",
                      defaultColDef={"sortable": True, "resizable": True, "flex": 1, "minWidth": 70,
                                     "wrapHeaderText": True, "autoHeaderHeight": True},
                      dashGridOptions=grid_options(), columnState=[{"colId": sort, "sort": "desc"}],
                      className="cityops-grid", style={"height": "100%"})


def layout(**_query: Any) -> html.Div:
    rt = _rt()
    language = lang()
    pack = lq.city_pack(rt)
    worst, corridors, note = _tables(rt, language)
    fig, chart_note = chart_figure(rt, None, language)
    col = lambda field, key, **kw: {"field": field, "headerName": t(key, language), **kw}  # noqa: E731
    return html.Div(className="console-page traffic", children=[
        dcc.Store(id=SELECTED),
        dcc.Store(id=WORST_IDS, data=[r["id"] for r in worst]),
        html.Section(className="panel traffic-map-panel", children=[
            html.Div(className="panel-head", children=[
                html.H2(t("traffic.map.title", language)),
                html.Span(t("traffic.layer.links", language), className="layer-label"),
                StalenessBadge("traffic-links", "traffic", language),
                html.Span(t("traffic.layer.buses", language), className="layer-label"),
                StalenessBadge("traffic-buses", "bus", language)]),
            CityMap(MAP, center=pack.center, snapshots={"traffic": lq.map_snapshot(rt, "traffic"), "bus": {}},
                    tile_url=rt.settings.tile_url, zoom=11, lang=language, selectable=True, legend=("traffic", "bus"),
                    overlays=(dl.GeoJSON(id=HIGHLIGHT, data={"type": "FeatureCollection", "features": []},
                                         style={"color": "#FFFFFF", "weight": 11, "opacity": 0.45}, interactive=False),)),
        ]),
        html.Section(className="panel traffic-worst-panel", children=[
            html.Div(className="panel-head", children=[
                html.H2(t("traffic.worst.title", language)),
                html.Span(note, id=UNVERIFIED_NOTE, className="panel-note"),
                StalenessBadge("traffic-worst", "traffic", language)]),
            _grid(WORST, [col("name", "traffic.col.link", flex=3, tooltipField="name"), col("district", "traffic.col.district"),
                          col("speed", "traffic.col.speed", type="numericColumn"),
                          col("ci", "traffic.col.ci", type="numericColumn"), col("delay", "traffic.col.delay", type="numericColumn"),
                          col("cls", "traffic.col.class")], worst, "ci"),
        ]),
        html.Section(className="panel traffic-corridor-panel", children=[
            html.Div(className="panel-head", children=[
                html.H2(t("traffic.corridors.title", language)), StalenessBadge("traffic-corridors", "traffic", language)]),
            _grid(CORRIDORS, [col("name", "traffic.col.corridor", flex=4, tooltipField="name"), col("time", "traffic.col.time", type="numericColumn"),
                              col("free", "traffic.col.free_time", type="numericColumn"),
                              col("ratio", "traffic.col.ratio", type="numericColumn"),
                              col("speed", "traffic.col.speed", type="numericColumn"), col("note", "traffic.col.status", tooltipField="reason")],
                  corridors, "ratio"),
        ]),
        html.Section(className="panel traffic-chart-panel", children=[
            html.Div(className="panel-head", children=[
                html.H2(t("traffic.chart.heading", language)), html.Span(chart_note, id=CHART_NOTE, className="panel-note"),
                StalenessBadge("traffic-chart", "traffic", language)]),
            dcc.Graph(id=CHART, figure=fig, config={"displayModeBar": False}, className="traffic-chart"),
        ]),
    ])


# -- registration and callbacks ---------------------------------------------------------------
def register(app: Dash) -> None:
    dash.register_page(__name__, path="/traffic", layout=guarded("view.console", layout), title=t("traffic.title", "en"),
                       permission="view.console", nav_key="traffic.title", live=("traffic", "bus"), order=1,
                       console_home=True)

    @app.callback(Output(SELECTED, "data"),
                  Input(LINKS_LAYER, "clickData"), Input(WORST, "cellClicked"), Input(CORRIDORS, "cellClicked"),
                  prevent_initial_call=True)
    @requires("view.console")
    def select(link_click: dict[str, Any] | None, worst_cell: dict[str, Any] | None,
               corridor_cell: dict[str, Any] | None) -> dict[str, str] | Any:
        """What the chart shows: the link clicked on the map or in the table, or the corridor."""
        trigger = dash.ctx.triggered_id
        if trigger == LINKS_LAYER and link_click:
            link_id = (link_click.get("properties") or {}).get("link")
            return {"kind": "link", "id": link_id} if link_id else no_update
        if trigger == WORST and worst_cell and worst_cell.get("rowId"):
            return {"kind": "link", "id": worst_cell["rowId"]}
        if trigger == CORRIDORS and corridor_cell and corridor_cell.get("rowId"):
            return {"kind": "corridor", "id": corridor_cell["rowId"]}
        return no_update

    @app.callback(Output(CHART, "figure"), Output(CHART_NOTE, "children"), Output(HIGHLIGHT, "data"),
                  Input(SELECTED, "data"), prevent_initial_call=True)
    @requires("view.console")
    def draw_chart(selected: dict[str, str] | None) -> tuple[go.Figure, str, dict[str, Any]]:
        """The chart of the selection, and the selection drawn on the map (a white halo)."""
        rt = _rt()
        fig, note = chart_figure(rt, selected, lang())
        halo = tq.selection_geojson(lq.city_pack(rt), selected["kind"], selected["id"]) if selected else no_update
        return fig, note, halo

    @app.callback(Output(WORST, "rowTransaction"), Output(WORST_IDS, "data"), Output(CORRIDORS, "rowTransaction"),
                  Output(UNVERIFIED_NOTE, "children"), Output(CHART, "figure", allow_duplicate=True),
                  Input(LIVE_TICK, "data"), State(WORST_IDS, "data"), State(SELECTED, "data"),
                  prevent_initial_call=True)
    @requires("view.console")
    def refresh(_tick: int | None, shown: list[str] | None, selected: dict[str, str] | None) -> tuple[Any, ...]:
        """After live data: row transactions for the tables and a patch of the chart's series (the
        whole 24 points, so the patch stays right when the hour rolls over; layout untouched)."""
        rt = _rt()
        language = lang()
        worst, corridors, note = _tables(rt, language)
        now_ids = [r["id"] for r in worst]
        gone = set(shown or []) - set(now_ids)
        worst_tx = {"remove": [{"id": i} for i in gone], "update": [r for r in worst if r["id"] in set(shown or [])],
                    "add": [r for r in worst if r["id"] not in set(shown or [])]}
        chart: Any = no_update
        if selected:
            hist = tq.read_speed_history(rt, lq.city_pack(rt), selected["kind"], selected["id"])
            xs = _local_hours(rt, hist.hours)
            chart = Patch()
            chart["data"][0]["x"], chart["data"][0]["y"] = xs, list(hist.speed_kmh)
            chart["data"][1]["x"], chart["data"][1]["y"] = xs, list(hist.usual_kmh)
            chart["data"][2]["x"], chart["data"][2]["y"] = [xs[-1]], [hist.current_kmh]
        return worst_tx, now_ids, {"update": corridors}, note, chart
