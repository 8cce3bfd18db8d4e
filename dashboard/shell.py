"""The frame around every page: header (title, navigation, local clock, user and role, language,
live connection state, sign-out), the one Socket.IO component, and `dash.page_container`.

The socket sits in this root layout, outside the page container, so one connection survives page
changes. Its state is shown by a clientside callback: a server callback could not report
"reconnecting" while the server is down. The clock ticks in the browser in the configured time
zone; data ages are counted there too, from the server's feed heartbeats.

On a console (operator, supervisor, shift lead, admin) the shell also chimes: the socket joins the
``alerts`` room on every page (`dashboard.live.rooms_for`) and a clientside callback plays a short
tone made in the browser (WebAudio) for each critical alert it has not seen open before, and shows
"critical alert #id" in the header until clicked. The sound switch beside it mutes this console (kept
in the browser) and, being a click, lets the browser play sound at all: a page reloaded without a
click has its audio held back by the autoplay rule, and the switch then says so. The wall's kiosk
has none of this: nobody stands at the wall to silence it.
"""
from __future__ import annotations

import logging
from typing import Any
from zoneinfo import ZoneInfo

import dash
from dash import Dash, Input, Output, State, dcc, html
from dash_socketio import DashSocketIO
from flask import current_app, session

from dashboard import roles
from dashboard.auth import lang, requires
from dashboard.live import CHIME_ROLES, EVENTS, ROOMS_STORE, SOCKET_ID
from feeds.live_queries import LIVE_DOMAINS, feed_status
from panels.components.staleness import CONFIG_STORE, FEEDS_STORE, TICK_INTERVAL
from store.i18n import both, t
from store.runtime import Runtime

log = logging.getLogger(__name__)

FEEDS_RAW = "live-feeds-raw"
FEEDS_POLL = "live-feeds-poll"
LIVE_TICK = "live-tick"
LIVE_APPLIED = "live-applied"  # browser time of the last delta applied
FEEDS_POLL_MS = 5_000
CHIME_STORE = "shell-chime-seen"  # ids of critical alerts this console has already chimed for
ALARM = "shell-alarm"  # "critical alert #12" after a chime; a click silences the cue
SOUND = "shell-sound"  # sound on / off (a click also unlocks the browser's audio)


def _rt() -> Runtime:
    return current_app.extensions["cityops"]


def _word(key: str, wall: bool, language: str, **params: Any) -> str:
    return both(key, **params) if wall else t(key, language, **params)


def shell_config(rt: Runtime, language: str, wall: bool) -> dict[str, Any]:
    """What the browser needs to draw times and ages in the user's language and time zone."""
    tz = rt.settings.timezone
    abbrev = rt.clock.now().astimezone(ZoneInfo(tz)).strftime("%Z")
    keys = {"connecting": "shell.live.connecting", "connected": "shell.live.connected",
            "reconnecting": "shell.live.reconnecting", "updated_ago": "live.updated_ago",
            "stale_since": "live.stale_since", "no_data": "live.no_data", "s": "unit.s", "min": "unit.min",
            "h": "unit.h"}
    labels = {k: _word(v, wall, language) for k, v in keys.items() if k not in ("s", "min", "h")}
    # Units of an age appear once in a two-language label, so the wall uses the SI-style ones.
    labels.update({k: t(v, "en" if wall else language) for k, v in keys.items() if k in ("s", "min", "h")})
    if not wall:
        labels.update({k: t(f"shell.alarm.{k}", language) for k in ("sound_on", "sound_off", "sound_blocked", "critical", "silence")})
    return {"tz": tz, "tzLabel": abbrev, "lang": language, "labels": labels}


def _nav(user_role: str | None, language: str) -> html.Nav:
    links = []
    for page in dash.page_registry.values():
        if page.get("nav") is False or not roles.allowed(user_role, page.get("permission", "view.console")):
            continue
        links.append(dcc.Link(t(page.get("nav_key", ""), language), href=page["path"], className="nav-link",
                              id=f"nav-{page['path'].strip('/') or 'home'}"))
    return html.Nav(links, className="nav")


def unresolved_critical_ids(rt: Runtime) -> list[str]:
    """Critical alerts already unresolved when the console opens: an update to one of them (a
    fold, an escalation) must not chime as if it were new."""
    from alerts.queries import AlertFilter, list_alerts

    try:
        return [str(a["id"]) for a in list_alerts(rt, AlertFilter(state="unresolved", severity="critical", limit=1000))]
    except Exception:  # noqa: BLE001 - a console without its chime history still opens
        log.exception("could not read the open critical alerts for the chime")
        return []


def alarm_widgets(rt: Runtime, config: dict[str, Any]) -> list[Any]:
    """The console's chime: what it has heard of, the cue after a chime, and the sound switch."""
    labels = config["labels"]
    return [
        dcc.Store(id=CHIME_STORE, data=unresolved_critical_ids(rt)),
        html.Button("", id=ALARM, className="shell-alarm is-quiet", title=labels["silence"], role="alert"),
        html.Button(labels["sound_on"], id=SOUND, className="shell-sound is-on", **{"aria-pressed": "false"}),
    ]


def root_layout() -> html.Div:
    """The shell for the signed-in user (the request guard has already sent others to /login)."""
    rt = _rt()
    user_role = session.get("role")
    language = lang()
    wall = user_role == "wall"
    config = shell_config(rt, language, wall)
    chime = user_role in CHIME_ROLES
    header = html.Header(className="shell-header", children=[
        html.Div(both("app.title") if wall else t("app.title", language), className="shell-title"),
        _nav(user_role, language) if not wall else html.Div(),
        html.Div(className="shell-right", children=[
            *(alarm_widgets(rt, config) if chime else []),
            html.Span("", id="shell-clock", className="shell-clock"),
            html.Span(config["labels"]["connecting"], id="shell-live", className="live-state is-connecting",
                      role="status"),
            html.Span(t("shell.signed_in_as", language, user=session.get("username", ""),
                        role=_word(f"role.{user_role}", wall, language)), id="shell-user", className="shell-user"),
            *([] if wall else [
                html.Span([html.A("한국어", href="/lang/ko", id="lang-ko",
                                  className="lang" + (" is-active" if language == "ko" else "")),
                           html.A("English", href="/lang/en", id="lang-en",
                                  className="lang" + (" is-active" if language == "en" else ""))],
                          className="shell-lang", title=t("shell.language", language)),
                html.A(t("shell.logout", language), href="/logout", id="shell-logout", className="shell-logout")]),
        ]),
    ])
    return html.Div(className="shell" + (" is-wall" if wall else ""), children=[
        header,
        DashSocketIO(id=SOCKET_ID, eventNames=list(EVENTS)),
        dcc.Store(id=CONFIG_STORE, data=config),
        dcc.Store(id=FEEDS_RAW),
        dcc.Store(id=FEEDS_STORE),
        dcc.Store(id=LIVE_TICK, data=0),
        dcc.Store(id=LIVE_APPLIED),
        dcc.Store(id=ROOMS_STORE),
        dcc.Interval(id=TICK_INTERVAL, interval=1_000),
        dcc.Interval(id=FEEDS_POLL, interval=FEEDS_POLL_MS),
        html.Main(dash.page_container, className="shell-main"),
    ])


def register(app: Dash) -> None:
    app.clientside_callback("window.dash_clientside.cityops.connection",
                            Output("shell-live", "children"), Output("shell-live", "className"),
                            Input(SOCKET_ID, "connected"), State(CONFIG_STORE, "data"))
    app.clientside_callback("window.dash_clientside.cityops.clock",
                            Output("shell-clock", "children"), Input(TICK_INTERVAL, "n_intervals"),
                            State(CONFIG_STORE, "data"))
    # Live deltas restyle the maps in place and bump the throttled `live-tick`.
    app.clientside_callback("window.dash_clientside.cityops.onDelta", Output(LIVE_APPLIED, "data"),
                            *[Input(SOCKET_ID, f"data-delta-{d}") for d in LIVE_DOMAINS], prevent_initial_call=True)
    # A new critical alert chimes on every console page (the shell is in the alerts room there);
    # the wall's layout has no chime widgets, so this never runs on the kiosk.
    app.clientside_callback("window.dash_clientside.cityops.chime",
                            Output(CHIME_STORE, "data"), Output(ALARM, "children"), Output(ALARM, "className"),
                            Output(SOUND, "children"), Output(SOUND, "className"),
                            Input(SOCKET_ID, "data-delta-alerts"), Input(ALARM, "n_clicks"), Input(SOUND, "n_clicks"),
                            State(CHIME_STORE, "data"), State(CONFIG_STORE, "data"), prevent_initial_call=True)
    app.clientside_callback("window.dash_clientside.cityops.stampFeeds",
                            Output(FEEDS_STORE, "data"), Input(FEEDS_RAW, "data"))

    @app.callback(Output(FEEDS_RAW, "data"), Input(FEEDS_POLL, "n_intervals"))
    @requires("view.live")
    def poll_feeds(_n: int | None) -> dict[str, Any]:
        """Feed heartbeats from the store (the truth about staleness), with the server's time."""
        rt = _rt()
        return {"feeds": feed_status(rt, ("traffic", "air", "bus", "alerts", "commands")),
                "server_now": rt.clock.now().timestamp()}
