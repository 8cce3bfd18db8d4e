from __future__ import annotations

from datetime import UTC, datetime

from feeds.worker import Agg, aggregate, bucket_start


def item(sensor_id: str, time: str, values: dict, qa: dict, district: str | None = "Jung-gu") -> dict:
    return {"sensor_id": sensor_id, "kind": "air", "district": district, "time": time, "values": values, "qa": qa}


def test_values_fold_per_sensor_district_and_city_in_their_bucket() -> None:
    items = [item("a", "2026-11-26T03:01:00+00:00", {"pm25": 10}, {"pm25": "ok"}),
             item("b", "2026-11-26T03:04:59+00:00", {"pm25": 30.5}, {"pm25": "flagged"}),
             item("a", "2026-11-26T03:05:00+00:00", {"pm25": 12}, {"pm25": "released"})]

    out = aggregate(items, 5, "seoul")

    b0, b1 = datetime(2026, 11, 26, 3, 0, tzinfo=UTC), datetime(2026, 11, 26, 3, 5, tzinfo=UTC)
    assert out[("sensor", "a", "pm25", b0)] == Agg(1, 10.0, 10.0, 10.0, 0)
    assert out[("district", "Jung-gu", "pm25", b0)] == Agg(2, 40.5, 10.0, 30.5, 1)
    assert out[("city", "seoul", "pm25", b0)] == Agg(2, 40.5, 10.0, 30.5, 1)
    assert out[("sensor", "a", "pm25", b1)] == Agg(1, 12.0, 12.0, 12.0, 0)
    assert len(out) == 7  # b0: sensors a and b, district, city; b1: sensor a, district, city


def test_quarantined_and_non_numeric_values_never_roll_up() -> None:
    items = [item("a", "2026-11-26T03:01:00+00:00", {"pm25": 2000, "pm10": "x", "o3": True, "no2": 0.02},
                  {"pm25": "quarantined", "pm10": "ok", "o3": "ok", "no2": "ok"}, district=None)]

    out = aggregate(items, 1, "seoul")

    assert {k[:3] for k in out} == {("sensor", "a", "no2"), ("city", "seoul", "no2")}


def test_bucket_start_floors_to_the_bucket_width() -> None:
    t = datetime(2026, 11, 26, 3, 7, 31, 5, tzinfo=UTC)

    assert bucket_start(t, 5) == datetime(2026, 11, 26, 3, 5, tzinfo=UTC)
    assert bucket_start(t, 1) == datetime(2026, 11, 26, 3, 7, tzinfo=UTC)
