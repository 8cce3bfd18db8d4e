"""The unacknowledged-alerts banner: how many alerts wait, for how long, and which critical ones
escalated (those flash, with their age). Read from `alerts.queries.wall_banner`.

It owns its ids and its callback (refreshed on the shell's throttled live tick, which alert
deltas bump, and every few seconds so the ages move). On the wall every word is Korean and
English; on a console, the user's language.
"""
from __future__ import annotations

from typing import Any

from dash import Dash, Input, Output, State, dcc, html
from flask import current_app, session

from alerts import queries
from dashboard.auth import lang, requires
from store.i18n import both, t

BANNER = "alert-banner"
BANNER_COUNT = "alert-banner-count"
BANNER_TICK = "alert-banner-tick"
BANNER_WALL = "alert-banner-wall"
LIVE_TICK = "live-tick"
REFRESH_MS = 5_000


def age_text(seconds: float | None) -> str:
    """'45 s', '12 min', '3 h 5 min' — short enough for a banner read from across the room."""
    if seconds is None:
        return "–"
    s = int(seconds)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min"
    return f"{s // 3600} h {s % 3600 // 60} min"


def banner_children(banner: queries.Banner, wall: bool, language: str) -> tuple[list[Any], str, str]:
    word = (lambda k, **p: both(k, **p)) if wall else (lambda k, **p: t(k, language, **p))
    if not banner.unacknowledged:
        return [html.Span(word("alerts.banner.none"), className="alert-banner-text")], "alert-banner is-clear", "0"
    parts: list[Any] = [
        html.Span("▲", className="alert-banner-mark"),
        html.Span(word("alerts.banner.unacked", n=banner.unacknowledged), className="alert-banner-text"),
        html.Span(word("alerts.banner.oldest", age=age_text(banner.oldest_age_s)), className="alert-banner-age"),
    ]
    for e in banner.escalated[:3]:
        parts.append(html.Span(word("alerts.banner.escalated", id=e.id, category=t(f"alerts.category.{e.category}", "ko" if wall else language)
                                    + (f" {t(f'alerts.category.{e.category}', 'en')}" if wall else ""), age=age_text(e.age_s)),
                               className="alert-banner-escalated"))
    cls = "alert-banner is-escalated" if banner.escalated else "alert-banner is-waiting"
    return parts, cls, str(banner.unacknowledged)


def AlertBanner(*, wall: bool) -> html.Div:  # noqa: N802 - a component
    rt = current_app.extensions["cityops"]
    children, cls, count = banner_children(queries.wall_banner(rt), wall, lang())
    return html.Div(id=BANNER, className=cls, role="status", children=[
        html.Div(children, id=f"{BANNER}-body", className="alert-banner-body"),
        html.Span(count, id=BANNER_COUNT, className="visually-hidden", **{"data-count": count}),
        dcc.Store(id=BANNER_WALL, data=wall),
        dcc.Interval(id=BANNER_TICK, interval=REFRESH_MS),
    ])


def register(app: Dash) -> None:
    @app.callback(Output(f"{BANNER}-body", "children"), Output(BANNER, "className"), Output(BANNER_COUNT, "children"),
                  Input(LIVE_TICK, "data"), Input(BANNER_TICK, "n_intervals"), State(BANNER_WALL, "data"),
                  prevent_initial_call=True)
    @requires("view.live")
    def refresh(_tick: Any, _n: Any, wall: bool | None) -> tuple[list[Any], str, str]:
        rt = current_app.extensions["cityops"]
        return banner_children(queries.wall_banner(rt), bool(wall) or session.get("role") == "wall", lang())
