"""Alerts (/alerts): the operators' live list, one alert's details, its place on the map, the
actions on it, and each category's precision.

Top, the unacknowledged banner and the filters (severity, category, district, state, age); left,
the grid (dash-ag-grid, live: an alert delta re-reads the filtered list and AG Grid updates the
rows by id, keeping the selection); right, the selected alert (readings, history, comments,
actions) above the map and the precision table. Acting calls `alerts.service` — the same use
cases as the REST API — with the signed-in user; the callback checks ``alerts.act`` on the
server, and the service the rest (a second acknowledgement, a supervisor-only dismissal).
A new critical alert chimes on every console page, this one included: the shell does it
(`dashboard.shell`), so this page has no chime of its own.
"Propose command" opens the Commands page as ``/commands?alert=ID&type=TYPE``: the form there
starts aimed at the alert and the proposal carries it as its cause; the detail lists the commands
proposed from the alert with their states.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import dash
import dash_ag_grid as dag
from dash import Dash, Input, Output, State, callback_context, dcc, html, no_update
from flask import current_app, session

from alerts import queries, service
from alerts.const import CATEGORIES, SEVERITIES, SEVERITY_RANK, VERDICTS
from alerts.escalation import SUPERVISOR_ROLES
from actuation.commands import PARAMS as COMMAND_TYPES
from alerts.model import Actor
from dashboard import roles
from dashboard.auth import guarded, lang, requires
from dashboard.live import SOCKET_ID
from feeds import live_queries as lq
from panels.components import alert_banner
from panels.components.alert_banner import AlertBanner, age_text
from panels.components.citymap import CityMap, alerts_id
from store.errors import CityOpsError
from store.i18n import t
from store.runtime import Runtime

PAGE = "alerts"
GRID, DETAIL, MSG, NOTIFY = "alerts-grid", "alerts-detail", "alerts-msg", "alerts-notify"
SELECTED, REFRESH = "alerts-selected", "alerts-refresh"
MAP, PRECISION = "alerts-map", "alerts-precision"
F = {k: f"alerts-f-{k}" for k in ("severity", "category", "district", "state", "age")}
ACK, ASSIGN, COMMENT_BTN, RESOLVE = "alerts-ack", "alerts-assign", "alerts-comment-btn", "alerts-resolve"
COMMENT, ASSIGNEE, VERDICT = "alerts-comment", "alerts-assignee", "alerts-verdict"
PROPOSE, PROPOSE_TYPE, GOTO = "alerts-propose", "alerts-propose-type", "alerts-goto"
INCIDENT, INC_NAME, INC_NAME_BTN, INC_RESOLVE, INC_MSG = ("alerts-incident", "alerts-incident-name", "alerts-incident-name-btn",
                                                          "alerts-incident-resolve", "alerts-incident-msg")
AGES = {"1h": timedelta(hours=1), "6h": timedelta(hours=6), "24h": timedelta(hours=24), "7d": timedelta(days=7), "all": None}


def _rt() -> Runtime:
    return current_app.extensions["cityops"]


# -- read models as screen rows -----------------------------------------------------------------
def _local(rt: Runtime, iso: str | None) -> str:
    if not iso:
        return ""
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).astimezone(ZoneInfo(rt.settings.timezone)).strftime("%m-%d %H:%M:%S")


def grid_rows(rt: Runtime, filters: dict[str, Any], language: str) -> list[dict[str, Any]]:
    age = AGES.get(filters.get("age") or "24h")
    f = queries.AlertFilter(state=filters.get("state") or None, severity=filters.get("severity") or None,
                            category=filters.get("category") or None, district=filters.get("district") or None,
                            since=rt.clock.now() - age if age else None)
    now = rt.clock.now().timestamp()
    rows = []
    for a in queries.list_alerts(rt, f):
        opened = datetime.fromisoformat(a["opened_at"].replace("Z", "+00:00")).timestamp()
        rows.append({"rid": str(a["id"]), "id": a["id"], "sev": a["severity"], "rank": -SEVERITY_RANK[a["severity"]],
                     "severity": t(f"severity.{a['severity']}", language), "state_raw": a["state"],
                     "category": t(f"alerts.category.{a['category']}", language), "district": a["district"] or "",
                     "state": t(f"alerts.state.{a['state']}", language), "count": a["count"],
                     "first_seen": _local(rt, a["first_seen"]), "last_seen": _local(rt, a["last_seen"]),
                     "age": round((now - opened) / 60, 1), "assignee": a["assignee"] or "", "source": a["source"]})
    return rows


def detail_view(rt: Runtime, alert_id: int | None, language: str) -> list[Any]:
    if alert_id is None:
        return [html.P(t("alerts.detail.pick", language), className="panel-note")]
    a = queries.alert_detail(rt, alert_id)
    facts = [(t("alerts.col.severity", language), t(f"severity.{a['severity']}", language)),
             (t("alerts.col.category", language), t(f"alerts.category.{a['category']}", language)),
             (t("alerts.col.state", language), t(f"alerts.state.{a['state']}", language)
              + (" · " + t("alerts.verdict." + a["verdict"], language) if a["verdict"] else "")),
             (t("alerts.col.district", language), a["district"] or "–"), (t("alerts.col.source", language), a["source"]),
             (t("alerts.col.count", language), str(a["count"])),
             (t("alerts.col.first_seen", language), _local(rt, a["first_seen"])),
             (t("alerts.col.last_seen", language), _local(rt, a["last_seen"])),
             (t("alerts.col.assignee", language), a["assignee"] or "–")]
    if a["incident_id"]:
        facts.append(("", t("alerts.detail.incident", language, id=a["incident_id"])))
    return [
        html.H3(t("alerts.detail.title", language, id=a["id"]), id="alerts-detail-title"),
        html.Div(t("alerts.detail.escalated", language), className="alert-escalated-note") if a["escalated_at"] and a["state"] == "open" else None,
        html.Dl([x for k, v in facts for x in (html.Dt(k), html.Dd(v))], className="alert-facts"),
        html.H4(t("alerts.detail.readings", language)),
        html.Dl([x for k, v in a["detail"].items() for x in (html.Dt(k), html.Dd(str(v)))], className="alert-facts"),
        *([html.H4(t("alerts.detail.latest", language)),
           html.Dl([x for k, v in (a["latest"].get("v") or {}).items()
                    for x in (html.Dt(k), html.Dd(f"{v} ({a['latest'].get('qa', {}).get(k, 'ok')})"))], className="alert-facts")]
          if a.get("latest") else []),
        html.H4(t("alerts.detail.history", language)),
        html.Ul([html.Li(" · ".join((_local(rt, h["at"]), t("alerts.history." + h["kind"], language), h["actor"])))
                 for h in a["history"]], className="alert-history"),
        html.H4(t("alerts.detail.comments", language)),
        html.Ul([html.Li(f"{_local(rt, c['at'])} · {c['author']}: {c['text']}") for c in a["comments"]], className="alert-comments"),
        html.H4(t("alerts.detail.commands", language)),
        html.Ul([html.Li(" · ".join((f"#{c['id']}", t(f"cmd.type.{c['type']}", language), t(f"cmd.state.{c['state']}", language),
                                     c["proposer"], _local(rt, c["created_at"]))), **{"data-command": str(c["id"]), "data-state": c["state"]})
                 for c in a["commands"]] or [html.Li(t("alerts.detail.no_commands", language), className="muted")],
                className="alert-commands"),
    ]


def propose_href(alert_id: int, type_: str) -> str:
    """Where "Propose command" leads: the Commands page with the type and the alert as cause."""
    if type_ not in COMMAND_TYPES:
        type_ = "bus_reroute"
    return f"/commands?alert={alert_id}&type={type_}"


def precision_table(rt: Runtime, language: str) -> Any:
    rows = queries.precision_by_category(rt, 7)
    if not rows:
        return html.P(t("alerts.precision.none", language), className="panel-note")
    head = html.Tr([html.Th(t(k, language)) for k in ("alerts.col.category", "alerts.precision.tp", "alerts.precision.fp",
                                                       "alerts.precision.value")])
    body = [html.Tr([html.Td(t(f"alerts.category.{p.category}", language)), html.Td(p.true_positives),
                     html.Td(p.false_positives), html.Td("–" if p.precision is None else f"{p.precision:.0%}",
                                                         **{"data-category": p.category})]) for p in rows]
    return html.Table([html.Thead(head), html.Tbody(body)], className="alerts-precision-table")


def escalation_lines(rt: Runtime, language: str) -> list[Any]:
    """For supervisors: the critical alerts escalated and still unacknowledged (a console opened late sees them too)."""
    if session.get("role") not in SUPERVISOR_ROLES:
        return []
    return [html.Div(t("alerts.notify.escalated", language, id=e.id, age=age_text(e.age_s)), className="alerts-notify-line")
            for e in queries.wall_banner(rt).escalated]


def incident_options(rt: Runtime, language: str) -> list[dict[str, Any]]:
    return [{"label": f"#{i['id']} {i['name'] or t('alerts.incident.unnamed', language)} · {len(i['alert_ids'])}",
             "value": i["id"]} for i in queries.list_incidents(rt, "open")]


# -- layout -------------------------------------------------------------------------------------
def _filter(key: str, options: list[tuple[str, str]], value: str | None, language: str) -> html.Label:
    return html.Label([t(f"alerts.filter.{key}", language),
                       dcc.Dropdown(id=F[key], value=value, clearable=value is None, placeholder=t("alerts.filter.any", language),
                                    options=[{"label": label, "value": v} for v, label in options])], className="alerts-filter")


def layout(**_query: Any) -> html.Div:
    rt, language = _rt(), lang()
    pack = lq.city_pack(rt)
    col = lambda field, key, **kw: {"field": field, "headerName": t(key, language), **kw}  # noqa: E731
    filters = {"state": "unresolved", "age": "24h"}
    return html.Div(className="console-page alerts", children=[
        dcc.Store(id=SELECTED), dcc.Store(id=REFRESH, data=0),
        AlertBanner(wall=False),
        html.Div(escalation_lines(rt, language), id=NOTIFY, className="alerts-notify", role="alert"),
        html.Div(className="alerts-filters", children=[
            _filter("severity", [(s, t(f"severity.{s}", language)) for s in reversed(SEVERITIES)], None, language),
            _filter("category", [(c, t(f"alerts.category.{c}", language)) for c in CATEGORIES], None, language),
            _filter("district", [(d.name_en, d.name_ko if language == "ko" else d.name_en) for d in pack.districts], None, language),
            _filter("state", [(s, t(f"alerts.state.{s}", language)) for s in ("unresolved", "open", "acknowledged", "resolved")],
                    "unresolved", language),
            _filter("age", [(k, t(f"alerts.age.{k}", language)) for k in AGES], "24h", language),
        ]),
        html.Section(className="panel alerts-grid-panel", children=[
            html.H2(t("alerts.list.title", language)),
            dag.AgGrid(id=GRID, rowData=grid_rows(rt, filters, language), getRowId="params.data.rid",
                       columnDefs=[col("id", "alerts.col.id", maxWidth=80), col("severity", "alerts.col.severity", maxWidth=120),
                                   col("category", "alerts.col.category"), col("district", "alerts.col.district"),
                                   col("state", "alerts.col.state", maxWidth=130), col("count", "alerts.col.count", maxWidth=90),
                                   col("last_seen", "alerts.col.last_seen"), col("age", "alerts.col.age", maxWidth=130),
                                   col("assignee", "alerts.col.assignee", maxWidth=130)],
                       defaultColDef={"sortable": True, "resizable": True, "flex": 1, "minWidth": 70},
                       dashGridOptions={"rowSelection": {"mode": "singleRow", "enableClickSelection": True, "checkboxes": False},
                                        "rowHeight": 34, "headerHeight": 38, "suppressCellFocus": True,
                                        "getRowClass": {"function": "'alert-row sev-' + params.data.sev + ' st-' + params.data.state_raw"}},
                       className="ag-theme-alpine-dark cityops-grid", style={"height": "100%"}),
        ]),
        html.Section(className="panel alerts-detail-panel", children=[
            html.Div(className="alerts-actions", children=[
                dcc.Textarea(id=COMMENT, placeholder=t("alerts.action.comment_placeholder", language), className="alerts-comment"),
                html.Div([html.Button(t("alerts.action.ack", language), id=ACK, className="btn btn-primary"),
                          html.Button(t("alerts.action.comment", language), id=COMMENT_BTN, className="btn")], className="btn-row"),
                html.Div([dcc.Input(id=ASSIGNEE, placeholder=t("alerts.action.assignee_placeholder", language), className="alerts-assignee"),
                          html.Button(t("alerts.action.assign", language), id=ASSIGN, className="btn")], className="btn-row"),
                html.Div([dcc.RadioItems(id=VERDICT, value="true_positive", inline=True, className="radio-group",
                                         options=[{"label": t(f"alerts.verdict.{v}", language), "value": v} for v in VERDICTS]),
                          html.Button(t("alerts.action.resolve", language), id=RESOLVE, className="btn")], className="btn-row"),
                html.Div([dcc.Dropdown(id=PROPOSE_TYPE, value="bus_reroute", clearable=False, className="alerts-propose-type",
                                       placeholder=t("alerts.action.propose_type", language),
                                       options=[{"label": t(f"cmd.type.{k}", language), "value": k} for k in COMMAND_TYPES]),
                          html.Button(t("alerts.action.propose", language), id=PROPOSE, className="btn")],
                         className="btn-row", hidden=not roles.allowed(session.get("role"), "commands.propose")),
                html.Div(id=MSG, className="alerts-msg", role="status"),
            ]),
            dcc.Location(id=GOTO, refresh="callback-nav"),
            html.Div(detail_view(rt, None, language), id=DETAIL),
        ]),
        html.Section(className="panel alerts-map-panel", children=[
            html.H2(t("alerts.map.title", language)),
            CityMap(MAP, center=pack.center, snapshots={}, tile_url=rt.settings.tile_url, zoom=11, lang=language, legend=(),
                    alerts=lq.alert_points(rt)),
        ]),
        html.Section(className="panel alerts-precision-panel", children=[
            html.H2(t("alerts.precision.title", language)), html.Div(precision_table(rt, language), id=PRECISION),
            html.H2(t("alerts.incident.title", language)),
            html.Div(className="btn-row", children=[
                dcc.Dropdown(id=INCIDENT, options=incident_options(rt, language), className="alerts-incident-pick",
                             placeholder=t("alerts.incident.pick", language)),
                dcc.Input(id=INC_NAME, placeholder=t("alerts.incident.name", language)),
                html.Button(t("alerts.incident.name_btn", language), id=INC_NAME_BTN, className="btn"),
                html.Button(t("alerts.incident.resolve", language), id=INC_RESOLVE, className="btn")]),
            html.Div(id=INC_MSG, className="alerts-msg", role="status")]),
    ])


# -- registration and callbacks -----------------------------------------------------------------
def register(app: Dash) -> None:
    dash.register_page(__name__, path="/alerts", layout=guarded("view.console", layout), title=t("alerts.title", "en"),
                       permission="view.console", nav_key="alerts.title", live=("alerts",), order=3)
    alert_banner.register(app)

    @app.callback(Output(GRID, "rowData"), Output(alerts_id(MAP), "data"), Output(PRECISION, "children"),
                  Output(NOTIFY, "children"), Output(INCIDENT, "options"),
                  *[Input(F[k], "value") for k in F], Input(SOCKET_ID, "data-delta-alerts"), Input(REFRESH, "data"),
                  prevent_initial_call=True)
    @requires("view.console")
    def refresh(severity: str | None, category: str | None, district: str | None, state: str | None, age: str | None,
                delta: dict[str, Any] | None, _refresh: int | None) -> tuple[Any, ...]:
        """Filters changed, a delta arrived or an action was taken: re-read the filtered list."""
        rt, language = _rt(), lang()
        rows = grid_rows(rt, {"severity": severity, "category": category, "district": district, "state": state, "age": age}, language)
        notify: Any = no_update
        escalations = ((delta or {}).get("notify") or {}) if callback_context.triggered_id == SOCKET_ID else {}
        if escalations and session.get("role") in escalations.get("roles", ()):
            notify = [html.Div(t("alerts.notify.escalated", language, id=e["alert_id"], age=age_text(e["age_s"])),
                               className="alerts-notify-line") for e in escalations.get("escalations", [])]
        return rows, lq.alert_points(rt), precision_table(rt, language), notify, incident_options(rt, language)

    @app.callback(Output(SELECTED, "data"), Input(GRID, "selectedRows"), prevent_initial_call=True)
    @requires("view.console")
    def select(rows: list[dict[str, Any]] | None) -> Any:
        return int(rows[0]["id"]) if rows else no_update

    @app.callback(Output(DETAIL, "children"), Output(MAP, "viewport"), Input(SELECTED, "data"), Input(REFRESH, "data"),
                  prevent_initial_call=True)
    @requires("view.console")
    def show(alert_id: int | None, _refresh: int | None) -> tuple[Any, Any]:
        rt = _rt()
        view = detail_view(rt, alert_id, lang())
        if alert_id is None or callback_context.triggered_id != SELECTED:
            return view, no_update
        a = queries.alert_detail(rt, alert_id)
        return view, ({"center": [a["lat"], a["lon"]], "zoom": 14, "transition": "flyTo"} if a["lat"] is not None else no_update)

    @app.callback(Output(MSG, "children"), Output(REFRESH, "data"), Output(COMMENT, "value"),
                  Input(ACK, "n_clicks"), Input(ASSIGN, "n_clicks"), Input(COMMENT_BTN, "n_clicks"), Input(RESOLVE, "n_clicks"),
                  State(SELECTED, "data"), State(COMMENT, "value"), State(ASSIGNEE, "value"), State(VERDICT, "value"),
                  State(REFRESH, "data"), prevent_initial_call=True)
    @requires("alerts.act")
    def act(_a: Any, _b: Any, _c: Any, _d: Any, alert_id: int | None, comment: str | None, assignee: str | None,
            verdict: str | None, refresh_n: int | None) -> tuple[Any, Any, Any]:
        """The action the user clicked, through the same service as the REST API."""
        language = lang()
        if alert_id is None:
            return t("alerts.msg.pick_first", language), no_update, no_update
        rt, actor = _rt(), Actor(session["username"], session["role"])
        button = callback_context.triggered_id
        try:
            if button == ACK:
                out = service.acknowledge(rt, alert_id, actor, comment or None)
            elif button == ASSIGN:
                out = service.assign(rt, alert_id, actor, assignee or "")
            elif button == COMMENT_BTN:
                out = service.add_comment(rt, alert_id, actor, comment or "")
            else:
                out = service.resolve(rt, alert_id, actor, verdict or "", comment or None)
        except CityOpsError as exc:
            return html.Span(exc.message, className="alerts-msg-error"), (refresh_n or 0) + 1, no_update
        what = t(f"alerts.state.{out['state']}", language) if button in (ACK, RESOLVE) else t(
            "alerts.history.assigned" if button == ASSIGN else "alerts.history.commented", language)
        return html.Span(t("alerts.msg.done", language, id=alert_id, what=what), className="alerts-msg-ok"), (refresh_n or 0) + 1, ""

    @app.callback(Output(GOTO, "href"), Output(MSG, "children", allow_duplicate=True), Input(PROPOSE, "n_clicks"),
                  State(SELECTED, "data"), State(PROPOSE_TYPE, "value"), prevent_initial_call=True)
    @requires("commands.propose")
    def propose_command(_n: int | None, alert_id: int | None, type_: str | None) -> tuple[Any, Any]:
        """Open the Commands page aimed at the selected alert; proposing there is checked again."""
        if alert_id is None:
            return no_update, t("alerts.msg.pick_first", lang())
        return propose_href(int(alert_id), type_ or "bus_reroute"), no_update

    @app.callback(Output(INC_MSG, "children"), Output(REFRESH, "data", allow_duplicate=True),
                  Input(INC_NAME_BTN, "n_clicks"), Input(INC_RESOLVE, "n_clicks"), State(INCIDENT, "value"),
                  State(INC_NAME, "value"), State(VERDICT, "value"), State(REFRESH, "data"), prevent_initial_call=True)
    @requires("alerts.act")
    def act_incident(_a: Any, _b: Any, incident_id: int | None, name: str | None, verdict: str | None,
                     refresh_n: int | None) -> tuple[Any, Any]:
        """Name an incident, or resolve it and all its alerts with the verdict chosen above."""
        language = lang()
        if incident_id is None:
            return t("alerts.incident.pick", language), no_update
        rt, actor = _rt(), Actor(session["username"], session["role"])
        try:
            if callback_context.triggered_id == INC_NAME_BTN:
                out = service.name_incident(rt, int(incident_id), actor, name or "")
            else:
                out = service.resolve_incident(rt, int(incident_id), actor, verdict or "")
        except CityOpsError as exc:
            return html.Span(exc.message, className="alerts-msg-error"), no_update
        return (html.Span(f"#{out['id']} {out['name'] or ''} · {t('alerts.state.' + ('resolved' if out['state'] == 'resolved' else 'open'), language)}",
                          className="alerts-msg-ok"), (refresh_n or 0) + 1)
