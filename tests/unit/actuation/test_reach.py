"""The alert channels' delivery model: per-channel reports and the seed's 98 %-in-90-s target."""
from __future__ import annotations

from actuation.adapters import CHANNEL_MODEL, alert_population, reach_curve


def test_all_channels_reach_98_percent_within_90_seconds() -> None:
    report = reach_curve(1_000_000, list(CHANNEL_MODEL))

    assert report["target_met"] and report["reached_98_at_s"] <= 90
    assert all(c["status"] == "delivered" for c in report["channels"].values())
    shares = [s for _, s in report["reach_curve"]]
    assert shares == sorted(shares) and shares[0] == 0.0


def test_without_cell_broadcast_the_target_is_missed_and_reported() -> None:
    report = reach_curve(1_000_000, list(CHANNEL_MODEL), failed=frozenset({"cell_broadcast"}))

    assert not report["target_met"] and report["reached_98_at_s"] is None
    assert report["channels"]["cell_broadcast"] == {"status": "failed", "first_delivery_s": None, "reach_share": 0.0}


def test_population_counts_districts_or_polygon_centres() -> None:
    by_district = alert_population({"districts": ["Jongno-gu"]})
    seoul_box = [[37.4, 126.7], [37.75, 126.7], [37.75, 127.2], [37.4, 127.2], [37.4, 126.7]]

    assert 100_000 < by_district < 200_000
    assert alert_population({"polygon": seoul_box}) > 9_000_000
