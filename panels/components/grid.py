"""The dark wall theme for AG Grid tables (AG Grid 35's Theming API, no CDN stylesheet): one
definition, so every page's tables match the panels around them and the large type of the wall.
"""
from __future__ import annotations

from typing import Any

GRID_THEME: dict[str, str] = {"function": (
    "themeQuartz.withParams({backgroundColor: '#0E1726', foregroundColor: '#F2F6FC', "
    "headerBackgroundColor: '#132036', headerTextColor: '#F2F6FC', borderColor: '#2A3A52', "
    "oddRowBackgroundColor: '#101B2D', rowHoverColor: '#1B2B45', selectedRowBackgroundColor: '#22406A', "
    "accentColor: '#56B4E9', fontSize: 15, headerFontSize: 15, headerFontWeight: 700, spacing: 5})")}


def grid_options(**extra: Any) -> dict[str, Any]:
    """dashGridOptions with the theme and the house defaults (click selects a row, no cell focus box)."""
    return {"theme": GRID_THEME, "suppressCellFocus": True, "animateRows": False, "rowHeight": 34,
            "headerHeight": 38, **extra}
