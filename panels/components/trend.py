"""A small time-series chart drawn as SVG on the server: for walls and tiles that only show a trend.

Why not a plotly graph: plotly.js is several megabytes for the browser to parse before the wall
is complete, and its fonts are fixed pixels, tiny on a 4K wall. An SVG with a viewBox scales
with its box (text included) at any resolution, and costs the browser one image decode.
"""
from __future__ import annotations

import base64
import html as html_escape
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from dash import html

W, H = 1000, 300  # viewBox of one panel
PAD_L, PAD_R, PAD_T, PAD_B = 70, 20, 48, 42


@dataclass(frozen=True)
class Series:
    title: str
    colour: str
    points: Sequence[tuple[datetime, float]]  # local (aware) times, oldest first


def _nice_max(v: float) -> float:
    if v <= 0:
        return 1.0
    mag = 10 ** math.floor(math.log10(v))
    for step in (1, 2, 2.5, 5, 10):
        if v <= step * mag:
            return step * mag
    return 10 * mag


def _panel(s: Series, x0: float, since: datetime, until: datetime, no_data: str) -> str:
    span = (until - since).total_seconds() or 1.0
    plot_w, plot_h = W - PAD_L - PAD_R, H - PAD_T - PAD_B
    step = _nice_max(max((v for _, v in s.points), default=0) * 1.1 / 4)
    top = step * 4

    def x(t: datetime) -> float:
        return x0 + PAD_L + plot_w * min(1.0, max(0.0, (t - since).total_seconds() / span))

    def y(v: float) -> float:
        return PAD_T + plot_h * (1 - v / top)

    out = [f'<text x="{x0 + PAD_L}" y="32" class="t">{html_escape.escape(s.title)}</text>']
    for i in range(5):
        v = step * i
        out.append(f'<line x1="{x0 + PAD_L}" x2="{x0 + W - PAD_R}" y1="{y(v):.1f}" y2="{y(v):.1f}" class="g"/>')
        out.append(f'<text x="{x0 + PAD_L - 10}" y="{y(v) + 7:.1f}" class="a" text-anchor="end">{v:g}</text>')
    hour = since.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    while hour <= until:
        out.append(f'<text x="{x(hour):.1f}" y="{H - 10}" class="a" text-anchor="middle">{hour:%H:%M}</text>')
        hour += timedelta(hours=1)
    if s.points:
        path = " ".join(f"{'M' if i == 0 else 'L'}{x(t):.1f},{y(v):.1f}" for i, (t, v) in enumerate(s.points))
        out.append(f'<path d="{path}" fill="none" stroke="{s.colour}" stroke-width="5" stroke-linejoin="round"/>')
        t_last, v_last = s.points[-1]
        out.append(f'<circle cx="{x(t_last):.1f}" cy="{y(v_last):.1f}" r="9" fill="{s.colour}" stroke="#fff" stroke-width="3"/>')
    else:
        out.append(f'<text x="{x0 + W / 2}" y="{H / 2}" class="a" text-anchor="middle">{html_escape.escape(no_data)}</text>')
    return "".join(out)


def trend_svg(series: Sequence[Series], since: datetime, until: datetime, no_data: str = "–") -> str:
    panels = "".join(_panel(s, i * W, since, until, no_data) for i, s in enumerate(series))
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W * len(series)} {H}">'
            '<style>.t{font:600 30px sans-serif;fill:#E8EEF7}.a{font:26px sans-serif;fill:#A9B7CC}'
            '.g{stroke:#2A3A52;stroke-width:1.5}</style>' + panels + "</svg>")


def svg_src(svg: str) -> str:
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()


def TrendChart(chart_id: str, svg: str, alt: str) -> html.Img:  # noqa: N802 - a component
    """The chart as an image that fills its box; a callback may replace its `src` (`svg_src`)."""
    return html.Img(id=chart_id, src=svg_src(svg), alt=alt, className="trend-chart")
