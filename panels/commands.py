"""Commands (/commands): propose any command type with a form that validates on the server, or
start an emergency alert from a CAP 1.2 file; below, my commands and their states, live.

Opened as ``/commands?alert=ID&type=TYPE`` (the Alerts page's "Propose command"), the form starts
with that type aimed at the alert's district, and the proposal carries the alert (and its
incident) as its cause; the service checks they exist.

The form is drawn from the command's model (`actuation.forms`), so every field a type takes is
on screen; proposing calls `actuation.service.propose` — the same use case as the REST API —
which applies the policy (who may propose what) whatever the page shows.
"""
from __future__ import annotations

import base64
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import dash
from dash import ALL, Dash, Input, Output, State, callback_context, dcc, html, no_update
from flask import current_app, session

from actuation import cap, queries, service
from actuation.commands import PARAMS
from actuation.forms import FieldSpec, form_fields, from_form, to_form
from actuation.model import CancelCommand, Cause, Context, ProposeCommand
from actuation.policy import load_policy
from actuation.samples import blank_params, params_from_alert
from alerts import queries as alert_queries
from dashboard.auth import guarded, lang, requires
from dashboard.live import SOCKET_ID
from feeds.citypack import seoul_districts
from store.errors import CityOpsError, NotFound
from store.i18n import t
from store.runtime import Runtime

TYPE, POLICY, FORM, SUBMIT, MSG, UPLOAD = "cmd-type", "cmd-policy", "cmd-form", "cmd-submit", "cmd-msg", "cmd-cap-upload"
MINE, POLL, REFRESH, FIELD, CANCEL = "cmd-mine", "cmd-poll", "cmd-refresh", "cmd-field", "cmd-cancel"
CAUSE, CAUSE_NOTE = "cmd-cause", "cmd-cause-note"


def _rt() -> Runtime:
    return current_app.extensions["cityops"]


def _option_label(field: str, value: str, language: str) -> str:
    if field == "districts":
        by_en = {d.name_en: d for d in seoul_districts()}
        return by_en[value].name_ko if language == "ko" and value in by_en else value
    if field == "channels":
        return t(f"cmd.channel.{value}", language)
    return value


def _widget(f: FieldSpec, value: Any, language: str) -> Any:
    wid = {"type": FIELD, "index": f.name}
    if f.kind in ("choice", "multi"):
        return dcc.Dropdown(id=wid, value=value, multi=f.kind == "multi", clearable=not f.required or f.kind == "multi",
                            options=[{"label": _option_label(f.name, o, language), "value": o} for o in f.options])
    if f.kind in ("textarea", "json"):
        return dcc.Textarea(id=wid, value=value, className="cmd-textarea" + (" is-json" if f.kind == "json" else ""),
                            placeholder=t("cmd.json_hint", language) if f.kind == "json" else "")
    if f.kind == "bool":
        return dcc.Checklist(id=wid, value=["yes"] if value else [], options=[{"label": "", "value": "yes"}])
    kind = {"datetime": "datetime-local", "int": "number"}.get(f.kind, "text")
    return dcc.Input(id=wid, value=value, type=kind, debounce=False, className="cmd-input",
                     placeholder=t("cmd.list_hint", language) if f.kind == "list" else "")


def form_children(type_: str, values: dict[str, Any], language: str) -> list[Any]:
    return [html.Div(className="cmd-row" + (" is-required" if f.required else ""), children=[
        html.Label(t(f"cmd.field.{f.name}", language), className="cmd-label"), _widget(f, values.get(f.name), language)])
        for f in form_fields(type_)]


def policy_note(type_: str, language: str) -> str:
    rule = load_policy()[type_]
    return t("cmd.safety_critical", language, n=rule.approvals) if rule.needs_approval else t("cmd.runs_at_once", language)


def outcome(c: dict[str, Any], language: str) -> str:
    """One line on what happened: the reason, or for an alert its delivery."""
    if c["state"] in ("rejected", "failed") and c.get("reason"):
        return c["reason"]
    return delivery_text(c.get("delivery"), language)


def delivery_text(d: dict[str, Any] | None, language: str) -> str:
    if not d or "share_pct" not in d:
        return ""
    at = d.get("reached_98_at_s")
    return t("cmd.delivery", language, share=d["share_pct"], population=f"{d['population']:,}",
             at=f"{at} s" if at is not None else t("cmd.delivery.not_reached", language))


def local_time(rt: Runtime, iso: str) -> str:
    """UTC inside, local on screen."""
    return datetime.fromisoformat(iso).astimezone(ZoneInfo(rt.settings.timezone)).strftime("%m-%d %H:%M:%S")


def mine_table(rt: Runtime, user: str, language: str) -> Any:
    rows = queries.list_commands(rt, proposer=user, limit=30)
    if not rows:
        return html.P(t("cmd.none", language), className="muted")
    head = html.Tr([html.Th(t(f"cmd.col.{k}", language)) for k in ("id", "type", "state", "approvals", "created", "outcome", "cause")]
                   + [html.Th("")])
    body = [html.Tr(id={"type": "cmd-row", "index": c["id"]}, className=f"cmd-state-{c['state']}", children=[
        html.Td(str(c["id"])), html.Td(t(f"cmd.type.{c['type']}", language)),
        html.Td(t(f"cmd.state.{c['state']}", language), className="cmd-state", **{"data-state": c["state"]}),
        html.Td(f"{len(c['approvals'])}/{c['approvals_needed']}"), html.Td(local_time(rt, c["created_at"])),
        html.Td(outcome(c, language)),
        html.Td(t("cmd.cause.alert", language, id=c["alert_id"]) if c.get("alert_id") else
                t("cmd.cause.incident", language, id=c["incident_id"]) if c.get("incident_id") else "", className="cmd-cause-cell"),
        html.Td(html.Button(t("cmd.cancel", language), id={"type": CANCEL, "index": c["id"]}, className="btn btn-small")
                if c["state"] in ("proposed", "pending") else "")]) for c in rows]
    return html.Table([html.Thead(head), html.Tbody(body)], className="cmd-table")


def start_params(rt: Runtime, type_: str, cause: dict[str, Any] | None) -> dict[str, Any]:
    """The form's starting values: blank but for the time window, aimed at the alert when there
    is a cause (see `actuation.samples.blank_params` for why nothing else is pre-filled)."""
    now = rt.clock.now()
    if not cause:
        return blank_params(type_, now)
    return params_from_alert(type_, now, alert_id=cause["alert_id"], district=cause.get("district"), what=cause.get("what", ""))


def cause_from_query(rt: Runtime, query: dict[str, Any], language: str) -> tuple[dict[str, Any] | None, str]:
    """``?alert=ID``: the alert (and its incident) the proposal will carry, and the line that says
    so; a missing alert says that instead and links nothing."""
    try:
        alert_id = int(query.get("alert") or 0)
    except (TypeError, ValueError):
        alert_id = 0
    if alert_id <= 0:
        return None, ""
    try:
        a = alert_queries.alert_detail(rt, alert_id)
    except NotFound:
        return None, t("cmd.cause.missing", language, id=alert_id)
    what = f"{t('alerts.category.' + a['category'], language)} · {a['place']}"
    cause = {"alert_id": alert_id, "incident_id": a["incident_id"], "district": a["district"], "what": f"{a['category']} at {a['place']}"}
    return cause, t("cmd.cause", language, id=alert_id, what=what)


def layout(**query: Any) -> html.Div:
    rt, language = _rt(), lang()
    first = query.get("type") if query.get("type") in PARAMS else "emergency_alert"
    cause, cause_note = cause_from_query(rt, query, language)
    values = to_form(first, start_params(rt, first, cause), rt.settings.timezone)
    return html.Div(className="console-page commands", children=[
        dcc.Store(id=REFRESH, data=0), dcc.Interval(id=POLL, interval=2_000), dcc.Store(id=CAUSE, data=cause),
        html.Section(className="panel cmd-propose", children=[
            html.H2(t("cmd.propose.title", language)),
            html.Div(className="btn-row", children=[
                dcc.Dropdown(id=TYPE, value=first, clearable=False, className="cmd-type",
                             options=[{"label": t(f"cmd.type.{k}", language), "value": k} for k in PARAMS]),
                html.Span(policy_note(first, language), id=POLICY, className="cmd-policy"),
                dcc.Upload(id=UPLOAD, children=html.Button(t("cmd.cap_import", language), className="btn"),
                           accept=".xml,application/xml,text/xml", max_size=1_000_000)]),
            html.P(cause_note, id=CAUSE_NOTE, className="cmd-cause panel-note"),
            html.Div(form_children(first, values, language), id=FORM, className="cmd-form"),
            html.Button(t("cmd.submit", language), id=SUBMIT, className="btn btn-primary"),
            html.Div(id=MSG, className="cmd-msg", role="status"),
        ]),
        html.Section(className="panel cmd-mine", children=[
            html.H2(t("cmd.mine.title", language)), html.Div(mine_table(rt, session.get("username", ""), language), id=MINE)]),
    ])


def register(app: Dash) -> None:
    dash.register_page(__name__, path="/commands", layout=guarded("commands.propose", layout), title=t("cmd.title", "en"),
                       permission="commands.propose", nav_key="cmd.title", live=("commands",), order=4)

    @app.callback(Output(FORM, "children"), Output(POLICY, "children"), Output(TYPE, "value"), Output(MSG, "children"),
                  Input(TYPE, "value"), Input(UPLOAD, "contents"), State(UPLOAD, "filename"), State(CAUSE, "data"),
                  prevent_initial_call=True)
    @requires("commands.propose")
    def redraw_form(type_: str, contents: str | None, filename: str | None, cause: dict[str, Any] | None) -> Any:
        rt, language = _rt(), lang()
        if callback_context.triggered_id == UPLOAD and contents:
            try:
                draft = cap.parse(base64.b64decode(contents.split(",", 1)[1]), rt.clock.now())
            except CityOpsError as exc:
                return no_update, no_update, no_update, t("cmd.invalid", language, message=exc.message)
            values = to_form("emergency_alert", draft["params"], rt.settings.timezone)
            note = t("cmd.cap_imported", language, name=filename or "CAP", notes=" ".join(draft["notes"]))
            return form_children("emergency_alert", values, language), policy_note("emergency_alert", language), "emergency_alert", note
        values = to_form(type_, start_params(rt, type_, cause), rt.settings.timezone)
        return form_children(type_, values, language), policy_note(type_, language), no_update, ""

    @app.callback(Output(MSG, "children", allow_duplicate=True), Output(REFRESH, "data"),
                  Input(SUBMIT, "n_clicks"), State(TYPE, "value"), State({"type": FIELD, "index": ALL}, "value"),
                  State({"type": FIELD, "index": ALL}, "id"), State(REFRESH, "data"), State(CAUSE, "data"),
                  prevent_initial_call=True)
    @requires("commands.propose")
    def propose(_n: int | None, type_: str, values: list[Any], ids: list[dict[str, str]], refresh: int,
                cause: dict[str, Any] | None) -> Any:
        rt, language = _rt(), lang()
        params = from_form(type_, {i["index"]: v for i, v in zip(ids, values, strict=True)}, rt.settings.timezone)
        why = Cause(cause.get("alert_id"), cause.get("incident_id")) if cause else Cause()
        try:
            view = service.propose(rt, ProposeCommand(type_, params, session["role"], Context(session["username"]), why))
        except CityOpsError as exc:
            problems = "; ".join(f"{t('cmd.field.' + d['field'].split('.')[0], language) if d['field'] != 'params' else ''} {d['problem']}"
                                 for d in (exc.details or []))
            return html.Span(t("cmd.invalid", language, message=f"{exc.message}. {problems}"), className="is-error"), no_update
        return t("cmd.proposed", language, id=view["id"], state=t(f"cmd.state.{view['state']}", language)), (refresh or 0) + 1

    @app.callback(Output(MSG, "children", allow_duplicate=True), Output(REFRESH, "data", allow_duplicate=True),
                  Input({"type": CANCEL, "index": ALL}, "n_clicks"), State(REFRESH, "data"), prevent_initial_call=True)
    @requires("commands.propose")
    def withdraw(clicks: list[int | None], refresh: int) -> Any:
        if not any(clicks) or not isinstance(callback_context.triggered_id, dict):
            return no_update, no_update
        rt, language = _rt(), lang()
        try:
            view = service.cancel(rt, CancelCommand(int(callback_context.triggered_id["index"]), session["role"], Context(session["username"])))
        except CityOpsError as exc:
            return t("cmd.invalid", language, message=exc.message), no_update
        return t("cmd.proposed", language, id=view["id"], state=t(f"cmd.state.{view['state']}", language)), (refresh or 0) + 1

    @app.callback(Output(MINE, "children"), Input(POLL, "n_intervals"), Input(REFRESH, "data"),
                  Input(SOCKET_ID, "data-delta-commands"), prevent_initial_call=True)
    @requires("commands.propose")
    def refresh_mine(*_: Any) -> Any:
        return mine_table(_rt(), session["username"], lang())
