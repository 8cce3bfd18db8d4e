"""KPI tile: label, value with its unit, a status told by colour AND a shape and a word, and the
age of its data. Colour-blind safe: the status glyph (● ▲ ■ ◆ ?) and its label carry the meaning
on their own; the colour only repeats it.

The tile owns its ids; the page's callback writes `value`, `status` and `note` through them.
"""
from __future__ import annotations

from dataclasses import dataclass

from dash import html

from panels.components.staleness import StalenessBadge

# status -> (glyph, css class). "unknown" also covers "not available".
STATUS_GLYPH = {"ok": "●", "warn": "▲", "bad": "■", "critical": "◆", "unknown": "?", "flagged": "⊘"}


@dataclass(frozen=True)
class KpiIds:
    name: str

    @property
    def tile(self) -> dict[str, str]:
        return {"type": "kpi", "index": self.name}

    @property
    def value(self) -> dict[str, str]:
        return {"type": "kpi-value", "index": self.name}

    @property
    def status(self) -> dict[str, str]:
        return {"type": "kpi-status", "index": self.name}

    @property
    def unit(self) -> dict[str, str]:
        return {"type": "kpi-unit", "index": self.name}

    @property
    def note(self) -> dict[str, str]:
        return {"type": "kpi-note", "index": self.name}


def status_children(status: str, label: str) -> list[html.Span]:
    """The second cue of a status: a shape and a word, beside the colour."""
    return [html.Span(STATUS_GLYPH.get(status, "?"), className="kpi-glyph", **{"aria-hidden": "true"}),
            html.Span(label, className="kpi-status-label")]


def tile_class(status: str) -> str:
    return f"kpi panel status-{status}"


def KpiTile(name: str, label: str, unit: str, domain: str, *, value: str = "–", status: str = "unknown",  # noqa: N802
            status_label: str = "", note: str = "", lang: str = "en") -> html.Section:
    """A tile with its first reading; the page's callback later writes value, unit, status and note."""
    ids = KpiIds(name)
    return html.Section(id=ids.tile, className=tile_class(status), children=[
        html.H2(label, className="kpi-label"),
        html.Div(className="kpi-reading", children=[
            html.Span(value, id=ids.value, className="kpi-value"),
            html.Span(unit, id=ids.unit, className="kpi-unit"),
        ]),
        html.Div(status_children(status, status_label), id=ids.status, className="kpi-status"),
        html.Div(note, id=ids.note, className="kpi-note"),
        StalenessBadge(name, domain, lang),
    ])
