"""The wall's SVG trend: it shows the series it is given, in the hours it is given."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

from panels.components.trend import Series, trend_svg


def test_trend_draws_one_line_per_series_with_hour_labels() -> None:
    until = datetime(2026, 11, 26, 12, 30, tzinfo=UTC)
    since = until - timedelta(hours=6)
    pts = [(since + timedelta(minutes=5 * i), 30.0 + i % 7) for i in range(72)]

    svg = trend_svg([Series("Speed", "#56B4E9", pts), Series("PM2.5", "#F2C200", [])], since, until, "no data")

    assert svg.count("<path ") == 1  # the empty series draws no line ...
    assert "no data" in svg  # ... but says so
    assert ">07:00<" in svg and ">12:00<" in svg
    assert ">Speed<" in svg and ">PM2.5<" in svg
