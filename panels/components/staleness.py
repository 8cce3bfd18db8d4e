"""Staleness badge: the age of a panel's data ("updated 12 s ago"), or "stale since 14:05".

A badge names the live domain its panel shows. The shell polls feed heartbeats every few seconds
(`feeds.live_queries.feed_status`, the server's truth) and every live delta refreshes the
browser's copy; one clientside callback re-renders every badge each second, so the age keeps
counting while nothing arrives. A stale badge makes its panel grey (CSS ``.panel:has(.is-stale)``)
and the words say it, so the state never rests on colour alone.
"""
from __future__ import annotations

from dash import ALL, Dash, Input, Output, State, html

from store.i18n import t

BADGE = "stale-badge"
FEEDS_STORE = "live-feeds"
TICK_INTERVAL = "live-age-tick"
CONFIG_STORE = "shell-config"


def badge_id(name: str, domain: str) -> dict[str, str]:
    return {"type": BADGE, "index": name, "domain": domain}


def StalenessBadge(name: str, domain: str, lang: str = "en") -> html.Span:  # noqa: N802 - a component
    """A badge for panel `name` showing the age of `domain`'s data."""
    return html.Span(t("live.no_data", lang), id=badge_id(name, domain), className="stale-badge is-stale",
                     role="status")


def register(app: Dash) -> None:
    app.clientside_callback(
        "window.dash_clientside.cityops.ages",
        Output({"type": BADGE, "index": ALL, "domain": ALL}, "children"),
        Output({"type": BADGE, "index": ALL, "domain": ALL}, "className"),
        Input(TICK_INTERVAL, "n_intervals"),
        Input(FEEDS_STORE, "data"),
        State(CONFIG_STORE, "data"),
        State({"type": BADGE, "index": ALL, "domain": ALL}, "id"),
    )
