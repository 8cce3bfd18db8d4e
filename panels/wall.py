"""The video wall (/wall): a kiosk read from across the room, nothing to click.

Left, the city map (road links by speed class, air sensors by CAI class, alert markers); right,
KPI tiles; below, six hours of network speed and PM2.5. Every word in Korean and English, every
number with its unit, every status as colour plus a shape and a word, every panel with the age
of its data. The map restyles itself from live deltas in the browser; the tiles and the trend
refresh on the throttled live tick (at most once a second).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import dash
from dash import Dash, Input, Output, State, dcc, html, no_update
from flask import current_app

from dashboard.auth import guarded, requires
from feeds import live_queries as q
from panels.components.alert_banner import AlertBanner
from panels.components.citymap import CityMap, alerts_id
from panels.components.kpi import KpiIds, KpiTile, status_children, tile_class
from panels.components.staleness import StalenessBadge
from panels.components.trend import Series, TrendChart, svg_src, trend_svg
from store.i18n import both
from store.runtime import Runtime

PAGE = "wall"
MAP = "wall-map"
TREND = "wall-trend"
TREND_NOTE = "wall-trend-note"
LIVE_TICK = "live-tick"
SOCKET_ID = "live-socket"  # the shell's Socket.IO component (dashboard.live.SOCKET_ID)
TREND_POLL = "wall-trend-poll"
SHOWN = "wall-shown"
TREND_POLL_MS = 60_000

# name, label key, unit key, live domain
TILES = (
    ("mean_speed", "wall.kpi.mean_speed", "unit.kmh", "traffic"),
    ("congestion_index", "wall.kpi.congestion_index", "unit.index", "traffic"),
    ("congested_links", "wall.kpi.congested_links", "unit.links", "traffic"),
    ("pm25", "wall.kpi.pm25", "unit.ugm3", "air"),
    ("worst_district", "wall.kpi.worst_district", "unit.index", "air"),
    ("open_alerts", "wall.kpi.open_alerts", "unit.alerts", "alerts"),
    ("pending_approvals", "wall.kpi.pending_approvals", "unit.requests", "commands"),
)
SEVERITIES = ("critical", "major", "minor", "info")  # alerts.const.SEVERITIES, most severe first
CAI_STATUS = {"good": "ok", "moderate": "ok", "unhealthy": "bad", "very_unhealthy": "critical"}


def _rt() -> Runtime:
    return current_app.extensions["cityops"]


@dataclass(frozen=True)
class Reading:
    value: str
    status: str  # ok | warn | bad | critical | unknown | flagged
    label: str
    note: str = ""
    unit: str | None = None  # overrides the tile's unit (the worst district shows its PM2.5 there)


def _num(v: float | None, digits: int = 1) -> str:
    return "–" if v is None else f"{v:,.{digits}f}"


def _speed_reading(v: float | None, excluded: int) -> Reading:
    cls = q.speed_class(v)
    note = both("live.flagged_count", n=excluded) if excluded else ""
    return Reading(_num(v), {"free": "ok", "slow": "warn", "congested": "bad"}.get(cls or "", "unknown"),
                   both(f"speed.{cls}") if cls else both("speed.unknown"), note)


def _air_reading(value: str, grade: str | None, note: str = "", unit: str | None = None) -> Reading:
    """A tile whose colour and words are a CAI grade (from the regulatory figures, `air_kpis`)."""
    if grade is None:
        return Reading(value, "unknown", both("live.no_data"), note, unit)
    return Reading(value, CAI_STATUS[grade], both(f"cai.{grade}"), note, unit)


def _pm25_tile(ak: q.AirKpis) -> Reading:
    """The live concentration as the value, labelled "now"; the grade and its figure are the 24 h
    predicted mean's, so the colour never disagrees with the air page or the alerts."""
    notes = [both("wall.pm25_graded_by", v=_num(ak.pm25_regulatory))] if ak.pm25_regulatory is not None else []
    if ak.excluded:
        notes.append(both("live.flagged_count", n=ak.excluded))
    if ak.pm25_now is not None and ak.pm25_grade is None:
        # A concentration but no regulatory average yet (AirKorea needs 4 hourly means): say why
        # the tile is uncoloured instead of guessing a grade from one reading.
        return Reading(_num(ak.pm25_now), "unknown", both("wall.pm25_grade_withheld"), " · ".join(notes))
    return _air_reading(_num(ak.pm25_now), ak.pm25_grade, " · ".join(notes))


def _worst_district_tile(rt: Runtime, ak: q.AirKpis) -> Reading:
    """The air page's ranking top, with its CAI and the pollutant that sets it."""
    if ak.worst_district is None:
        return _air_reading("–", None)
    return _air_reading(q.district_name(rt, ak.worst_district, "ko") or "–", ak.worst_district_grade,
                        q.district_name(rt, ak.worst_district, "en") or "",
                        unit=f"CAI {ak.worst_district_cai} · {both(f'air.pollutant_short.{ak.worst_district_pollutant}')}")


def readings(rt: Runtime) -> dict[str, Reading]:
    """Every tile's reading, from the read models (the layout's first paint and each refresh)."""
    tk, ak = q.traffic_kpis(rt), q.air_kpis(rt)
    out = {"mean_speed": _speed_reading(tk.mean_speed_kmh, tk.excluded)}
    ci = tk.congestion_index
    ci_status = "unknown" if ci is None else "ok" if ci < 25 else "warn" if ci < 50 else "bad"
    ci_word = {"ok": "speed.free", "warn": "speed.slow", "bad": "speed.congested", "unknown": "speed.unknown"}[ci_status]
    out["congestion_index"] = Reading(_num(ci), ci_status, both(ci_word))
    share = tk.congested_links / tk.links_reporting if tk.links_reporting else None
    cl_status = "unknown" if share is None else "ok" if share < 0.05 else "warn" if share < 0.15 else "bad"
    out["congested_links"] = Reading(f"{tk.congested_links:,}" if tk.links_reporting else "–", cl_status,
                                     f"{share:.0%} {both('wall.of_links')}" if share is not None else both("speed.unknown"),
                                     f"/ {tk.links_reporting:,}" if tk.links_reporting else "")
    out["pm25"] = _pm25_tile(ak)
    out["worst_district"] = _worst_district_tile(rt, ak)
    alerts = q.open_alerts_by_severity(rt)
    if alerts is None:
        out["open_alerts"] = Reading("–", "unknown", both("live.not_available"))
    else:
        total = sum(alerts.values())
        status = "critical" if alerts.get("critical") else "bad" if alerts.get("major") else "warn" if total else "ok"
        note = " · ".join(f"{both(f'severity.{s}')} {alerts.get(s, 0)}" for s in SEVERITIES)
        out["open_alerts"] = Reading(f"{total:,}", status, both(f"severity.{_top(alerts)}") if total else both("wall.none_open"), note)
    pending = q.pending_approvals(rt)
    out["pending_approvals"] = (Reading("–", "unknown", both("live.not_available")) if pending is None else
                                Reading(f"{pending:,}", "warn" if pending else "ok", both("wall.waiting" if pending else "wall.none_waiting")))
    return out


def shown_readings(r: dict[str, Reading]) -> dict[str, list[str]]:
    """What the tiles show, as plain lists (kept in the page to send only what changed)."""
    units = {name: unit_key for name, _label, unit_key, _domain in TILES}
    return {name: [x.value, x.unit if x.unit is not None else both(units[name]), x.status, x.label, x.note]
            for name, x in r.items()}


def _top(counts: dict[str, int]) -> str:
    return next((s for s in SEVERITIES if counts.get(s)), "info")


def trend_chart(rt: Runtime) -> tuple[str, str]:
    """Six hours of speed and PM2.5 in the city's time zone, as SVG, and the page's note about it."""
    data = q.trend_6h(rt)
    tz = ZoneInfo(rt.settings.timezone)

    def local(iso: str) -> datetime:  # the axis reads in the city's time, not UTC
        return datetime.fromisoformat(iso).astimezone(tz)

    svg = trend_svg([Series(both("wall.trend.speed"), "#56B4E9", [(local(t), v) for t, v in data["speed"]]),
                     Series(both("wall.trend.pm25"), "#F2C200", [(local(t), v) for t, v in data["pm25"]])],
                    local(data["since"]), local(data["until"]) + timedelta(minutes=10), both("live.no_data"))
    note = "" if data["history"] else both("live.latest_only")
    return svg, note


# -- layout -------------------------------------------------------------------------------
def _tile(name: str, label_key: str, unit_key: str, domain: str, r: Reading) -> html.Section:
    return KpiTile(name, both(label_key), r.unit if r.unit is not None else both(unit_key), domain,
                   value=r.value, status=r.status, status_label=r.label, note=r.note)


def layout(**_query: Any) -> html.Div:
    rt = _rt()
    pack = q.city_pack(rt)
    r = readings(rt)
    svg, note = trend_chart(rt)
    snapshots = {"traffic": q.map_snapshot(rt, "traffic"), "air": q.map_snapshot(rt, "air")}
    return html.Div(className="wall", children=[
        html.Section(className="panel wall-map-panel", children=[
            html.Div(className="panel-head", children=[
                html.H2(both("wall.title")),
                StalenessBadge("map-traffic", "traffic"), StalenessBadge("map-air", "air"),
            ]),
            AlertBanner(wall=True),
            CityMap(MAP, center=pack.center, snapshots=snapshots, tile_url=rt.settings.tile_url, zoom=11,
                    wall=True, interactive=False, alerts=q.alert_points(rt)),
        ]),
        html.Div(className="wall-tiles", children=[_tile(*row, r[row[0]]) for row in TILES]),
        dcc.Store(id=SHOWN, data=shown_readings(r)),
        html.Section(className="panel wall-trend-panel", children=[
            html.Div(className="panel-head", children=[
                html.H2(both("wall.trend.title")), html.Span(note, id=TREND_NOTE, className="panel-note"),
                StalenessBadge("trend", "traffic"),
            ]),
            TrendChart(TREND, svg, both("wall.trend.title")),
            dcc.Interval(id=TREND_POLL, interval=TREND_POLL_MS),
        ]),
    ])


# -- registration and callbacks -----------------------------------------------------------
def register(app: Dash) -> None:
    dash.register_page(__name__, path="/wall", layout=guarded("view.live", layout), title=both("nav.wall"),
                       permission="view.live", nav_key="nav.wall", live=("traffic", "air", "alerts", "commands"),
                       order=0)
    outputs = []
    for name, *_ in TILES:
        ids = KpiIds(name)
        outputs += [Output(ids.value, "children"), Output(ids.unit, "children"), Output(ids.status, "children"),
                    Output(ids.note, "children"), Output(ids.tile, "className")]

    @app.callback(*outputs, Output(SHOWN, "data"), Input(LIVE_TICK, "data"), State(SHOWN, "data"),
                  prevent_initial_call=True)
    @requires("view.live")
    def refresh_tiles(_tick: int | None, shown: dict[str, list[str]] | None) -> list[Any]:
        """New readings after live data arrived (throttled to once a second in the browser).
        Only what changed is sent: an unchanged tile costs the wall no re-render."""
        now = shown_readings(readings(_rt()))
        shown = shown or {}
        values: list[Any] = []
        for name, *_ in TILES:
            new, old = now[name], shown.get(name) or [None] * 5
            value, unit, status, label, note = new
            values += [value if value != old[0] else no_update, unit if unit != old[1] else no_update,
                       status_children(status, label) if (status, label) != (old[2], old[3]) else no_update,
                       note if note != old[4] else no_update,
                       tile_class(status) if status != old[2] else no_update]
        return [*values, now]

    # The trend moves by five-minute buckets: redrawing it on every tick would be work for nothing.
    @app.callback(Output(TREND, "src"), Output(TREND_NOTE, "children"), Input(TREND_POLL, "n_intervals"),
                  prevent_initial_call=True)
    @requires("view.live")
    def refresh_trend(_n: int | None) -> tuple[str, str]:
        svg, note = trend_chart(_rt())
        return svg_src(svg), note

    # Alert markers change only when alerts do: refreshed on the alerts room's deltas.
    @app.callback(Output(alerts_id(MAP), "data"), Input(SOCKET_ID, "data-delta-alerts"), prevent_initial_call=True)
    @requires("view.live")
    def refresh_alert_markers(_delta: Any) -> dict[str, Any]:
        return q.alert_points(_rt())
