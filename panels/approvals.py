"""Approvals (/approvals), for supervisors and shift leads: the commands waiting for their
decision, each with its context — proposer, age and time left, the area on a map, the affected
population of an alert, the CAP 1.2 preview — and approve or reject with a reason. A
safety-critical command needs a second, explicit confirmation click.

The page and every callback require ``commands.approve`` on the server; the model refuses the
rest (one's own command, a second approval by the same person) whatever the page shows.
"""
from __future__ import annotations

from typing import Any

import dash
import dash_leaflet as dl
from dash import ALL, Dash, Input, Output, State, callback_context, dcc, html, no_update
from flask import current_app, session

from actuation import queries, service
from actuation.model import ApproveCommand, Context, RejectCommand
from dashboard.auth import guarded, lang, requires
from dashboard.live import SOCKET_ID
from feeds.citypack import seoul_districts
from panels.commands import delivery_text
from store.errors import CityOpsError
from store.i18n import t
from store.runtime import Runtime

QUEUE, DETAIL, SELECTED, POLL, REFRESH = "appr-queue", "appr-detail", "appr-selected", "appr-poll", "appr-refresh"
APPROVE, CONFIRM, CONFIRM_BOX, REJECT, REASON, MSG = "appr-approve", "appr-confirm", "appr-confirm-box", "appr-reject", "appr-reason", "appr-msg"
AREA, MAP, RECENT, PICK, ACTIONS = "appr-area", "appr-map", "appr-recent", "appr-pick", "appr-actions"
SEOUL = (37.5665, 126.978)


def _rt() -> Runtime:
    return current_app.extensions["cityops"]


def _dur(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    s = int(seconds)
    return f"{s // 60} min {s % 60:02d} s" if s >= 60 else f"{s} s"


def area_geojson(c: dict[str, Any]) -> dict[str, Any]:
    """The command's area for the map: its districts' boundaries, or its polygon."""
    names = set(c.get("districts") or [])
    features = [{"type": "Feature", "geometry": d.geometry, "properties": {"name": d.name_en}}
                for d in seoul_districts() if d.name_en in names]
    ring = (c.get("params") or {}).get("polygon")
    if ring:
        features.append({"type": "Feature", "properties": {"name": "polygon"},
                         "geometry": {"type": "Polygon", "coordinates": [[[lon, lat] for lat, lon in ring]]}})
    return {"type": "FeatureCollection", "features": features}


def queue_cards(rt: Runtime, user: str, language: str, selected: int | None) -> Any:
    pending = queries.pending_for(rt, user)
    if not pending:
        return html.P(t("appr.none", language), className="muted", id="appr-empty")
    return [html.Button(id={"type": PICK, "index": c["id"]}, className="appr-card" + (" is-selected" if c["id"] == selected else "")
                        + (" is-critical" if c["safety_critical"] else ""), children=[
        html.Div(f"#{c['id']} {t('cmd.type.' + c['type'], language)}", className="appr-card-title"),
        html.Div(t("appr.proposer", language, user=c["proposer"], role=t(f"role.{c['proposer_role']}", language))),
        html.Div(f"{t('appr.age', language, age=_dur(c['age_s']))} · {t('appr.left', language, left=_dur(c['time_left_s']))}"),
        html.Div(t("appr.approvals", language, have=len(c["approvals"]), need=c["approvals_needed"]))])
        for c in pending]


def detail_view(rt: Runtime, command_id: int | None, language: str) -> Any:
    if command_id is None:
        return html.P(t("appr.pick", language), className="muted")
    try:
        c = queries.command_view(rt, command_id)
    except CityOpsError as exc:
        return html.P(exc.message, className="is-error")
    rows = [html.Div([html.Dt(t(f"cmd.field.{k}", language)), html.Dd(", ".join(map(str, v)) if isinstance(v, list) else str(v))])
            for k, v in c["params"].items() if v not in (None, "", [])]
    parts: list[Any] = [
        html.H3(f"#{c['id']} {t('cmd.type.' + c['type'], language)}"),
        html.Div(t(f"cmd.state.{c['state']}", language), id="appr-state", className=f"appr-state cmd-state-{c['state']}",
                 **{"data-state": c["state"]}),
        html.Div(t("appr.proposer", language, user=c["proposer"], role=t(f"role.{c['proposer_role']}", language))),
        html.Div(t("appr.approvals", language, have=len(c["approvals"]), need=c["approvals_needed"])
                 + "".join(f" · {a['user']}" for a in c["approvals"])),
    ]
    if c["affected_population"]:
        parts.append(html.Div(t("appr.population", language, n=f"{c['affected_population']:,}"), id="appr-population"))
    if c.get("delivery"):
        d = c["delivery"]
        channels = " · ".join(f"{t('cmd.channel.' + ch, language)} {t('cmd.channel.' + st, language)}" for ch, st in d.get("channels", {}).items())
        parts.append(html.Div([html.Div(delivery_text(d, language)), html.Div(channels)], id="appr-delivery", className="appr-delivery"))
    if c["reason"]:
        parts.append(html.Div(c["reason"], className="appr-reason"))
    parts.append(html.Details([html.Summary(t("appr.params", language)), html.Dl(rows)], open=True))
    if c["type"] == "emergency_alert":
        try:
            xml = queries.cap_xml(rt, command_id).decode()
        except CityOpsError as exc:
            xml = exc.message
        parts.append(html.Details([html.Summary(t("appr.cap_preview", language)), html.Pre(xml, id="appr-cap", className="appr-cap")], open=True))
    return parts


def recent(rt: Runtime, language: str) -> Any:
    done = [c for c in queries.list_commands(rt, limit=40) if c["state"] != "pending"][:10]
    return html.Ul([html.Li(f"#{c['id']} {t('cmd.type.' + c['type'], language)} — {t('cmd.state.' + c['state'], language)} "
                            f"{delivery_text(c.get('delivery'), language)}", **{"data-id": c["id"], "data-state": c["state"]})
                    for c in done], className="appr-recent-list")


def layout(**_query: Any) -> html.Div:
    rt, language = _rt(), lang()
    return html.Div(className="console-page approvals", children=[
        dcc.Store(id=SELECTED), dcc.Store(id=REFRESH, data=0), dcc.Interval(id=POLL, interval=2_000),
        html.Section(className="panel appr-queue-panel", children=[
            html.H2(t("appr.queue", language)), html.Div(queue_cards(rt, session.get("username", ""), language, None), id=QUEUE),
            html.H2(t("appr.recent", language)), html.Div(recent(rt, language), id=RECENT)]),
        html.Section(className="panel appr-detail-panel", children=[
            html.Div(id=ACTIONS, hidden=True, className="btn-row", children=[
                html.Button(t("appr.approve", language), id=APPROVE, className="btn btn-primary"),
                dcc.Input(id=REASON, placeholder=t("appr.reason", language), className="appr-reason-input"),
                html.Button(t("appr.reject", language), id=REJECT, className="btn")]),
            html.Div(id=CONFIRM_BOX, hidden=True, className="appr-confirm-box", children=[
                html.P(t("appr.confirm_hint", language)),
                html.Button("", id=CONFIRM, className="btn btn-danger")]),
            html.Div(id=MSG, className="appr-msg", role="status"),
            html.Div(detail_view(rt, None, language), id=DETAIL)]),
        html.Section(className="panel appr-map-panel", children=[
            html.H2(t("appr.area", language)),
            dl.Map(id=MAP, center=list(SEOUL), zoom=10.5, preferCanvas=True, className="citymap-leaflet", children=[
                dl.GeoJSON(url="/geo/districts.json", interactive=False, style={"color": "#5a6b7d", "weight": 1, "fillOpacity": 0}),
                dl.GeoJSON(id=AREA, data=area_geojson({}), style={"color": "#ffb000", "weight": 3, "fillOpacity": 0.25})])]),
    ])


def register(app: Dash) -> None:
    dash.register_page(__name__, path="/approvals", layout=guarded("commands.approve", layout), title=t("appr.title", "en"),
                       permission="commands.approve", nav_key="appr.title", live=("commands",), order=5)

    @app.callback(Output(SELECTED, "data"), Input({"type": PICK, "index": ALL}, "n_clicks"), prevent_initial_call=True)
    @requires("commands.approve")
    def pick(clicks: list[int | None]) -> Any:
        if not any(clicks) or not isinstance(callback_context.triggered_id, dict):
            return no_update
        return int(callback_context.triggered_id["index"])

    @app.callback(Output(QUEUE, "children"), Output(DETAIL, "children"), Output(AREA, "data"), Output(RECENT, "children"),
                  Output(ACTIONS, "hidden"), Input(SELECTED, "data"), Input(POLL, "n_intervals"), Input(REFRESH, "data"),
                  Input(SOCKET_ID, "data-delta-commands"))
    @requires("commands.approve")
    def redraw(selected: int | None, *_: Any) -> Any:
        rt, language, user = _rt(), lang(), session["username"]
        area = no_update
        if callback_context.triggered_id == SELECTED and selected is not None:
            area = area_geojson(queries.command_view(rt, selected))
        decidable = selected is not None and any(c["id"] == selected for c in queries.pending_for(rt, user))
        return (queue_cards(rt, user, language, selected), detail_view(rt, selected, language), area,
                recent(rt, language), not decidable)

    @app.callback(Output(CONFIRM_BOX, "hidden"), Output(CONFIRM, "children"), Output(MSG, "children"), Output(REFRESH, "data"),
                  Input(APPROVE, "n_clicks"), Input(CONFIRM, "n_clicks"), Input(REJECT, "n_clicks"), Input(SELECTED, "data"),
                  State(REASON, "value"), State(REFRESH, "data"), prevent_initial_call=True)
    @requires("commands.approve")
    def decide(_a: int | None, _c: int | None, _r: int | None, selected: int | None, reason: str | None, refresh: int) -> Any:
        rt, language, trigger = _rt(), lang(), callback_context.triggered_id
        if trigger == SELECTED or selected is None:
            return True, "", "", no_update
        ctx, role = Context(session["username"]), session["role"]
        try:
            if trigger == APPROVE:
                c = queries.command_view(rt, selected)
                if c["safety_critical"]:  # a second, explicit click for what cannot be undone
                    return False, t("appr.confirm", language, type=t(f"cmd.type.{c['type']}", language)), "", no_update
                view = service.approve(rt, ApproveCommand(selected, role, ctx))
            elif trigger == CONFIRM:
                view = service.approve(rt, ApproveCommand(selected, role, ctx))
            else:
                view = service.reject(rt, RejectCommand(selected, role, reason or "", ctx))
        except CityOpsError as exc:
            return True, "", html.Span(t("appr.refused", language, message=exc.message), className="is-error"), (refresh or 0) + 1
        return True, "", t("appr.done", language, id=view["id"], state=t(f"cmd.state.{view['state']}", language)), (refresh or 0) + 1
