"""Widgets used on two or more pages, each owning its ids and callbacks.

Each module has a `register(app)` that adds its callbacks to one Dash app (the app factory calls
it), so several apps can live in one process (tests) without Dash's global callback list.
"""
from __future__ import annotations

from dash import Dash


def register(app: Dash) -> None:
    from panels.components import citymap, staleness

    staleness.register(app)
    citymap.register(app)
