from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from feeds import history, worker
from feeds.ingest import ingest
from store.errors import ValidationError
from store.runtime import Runtime


def post(rt: Runtime, sensor_id: str, at: datetime, **values: float) -> None:
    ingest(rt, [{"sensor_id": sensor_id, "time": at.isoformat(), "values": values}], source="test")


def drain(rt: Runtime) -> None:
    worker.ensure_groups(rt)
    while worker.process_once(rt, "h"):
        pass


def test_sensor_district_and_city_series_over_a_window(demo_sensors: Runtime) -> None:
    rt = demo_sensors
    t0 = datetime(2026, 11, 26, 1, 0, tzinfo=UTC)
    post(rt, "air-1", t0 + timedelta(minutes=1), pm25=10.0)
    post(rt, "air-1", t0 + timedelta(minutes=3), pm25=20.0)
    post(rt, "air-1", t0 + timedelta(minutes=7), pm25=30.0)
    post(rt, "air-2", t0 + timedelta(minutes=2), pm25=40.0)
    post(rt, "air-1", t0 + timedelta(minutes=4), pm25=-5.0)  # quarantined: never history
    drain(rt)

    sensor = history.sensor_series(rt, "air-1", "pm25", t0, t0 + timedelta(hours=1))
    district = history.district_series(rt, "Gangnam-gu", "pm25", t0, t0 + timedelta(hours=1))
    city = history.city_series(rt, "pm25", t0, t0 + timedelta(minutes=5))

    assert [(p.start, p.mean, p.minimum, p.maximum, p.n) for p in sensor] == [
        (t0, 15.0, 10.0, 20.0, 2), (t0 + timedelta(minutes=5), 30.0, 30.0, 30.0, 1)]
    assert [(p.mean, p.n) for p in district] == [(40.0, 1)]
    assert [(p.start, p.mean, p.n) for p in city] == [(t0, 70.0 / 3, 3)]


def test_hourly_means_and_usual_speed_by_local_hour(demo_sensors: Runtime) -> None:
    rt = demo_sensors
    now = rt.clock.now()  # 2026-11-26 03:00 UTC = 12:00 in Seoul
    for day in range(1, 4):
        at = now - timedelta(days=day)
        post(rt, "det-1", at + timedelta(minutes=10), speed_kmh=30.0 + day)
        post(rt, "det-1", at + timedelta(minutes=20), speed_kmh=40.0 + day)
        post(rt, "det-1", at + timedelta(hours=1, minutes=5), speed_kmh=60.0)
    drain(rt)

    means = history.hourly_means(rt, "sensor", ["det-1"], ["speed_kmh"], now - timedelta(days=2), now)
    usual = history.usual_by_hour(rt, "sensor", ["det-1"], "speed_kmh", days=7)

    assert means["det-1"]["speed_kmh"] == {now - timedelta(days=2): 37.0, now - timedelta(days=2, hours=-1): 60.0,
                                           now - timedelta(days=1): 36.0, now - timedelta(days=1, hours=-1): 60.0}
    assert usual == {"det-1": {12: 37.0, 13: 60.0}}


@pytest.mark.parametrize(("entity_type", "start", "end", "message"), [
    ("street", datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC), "entity type"),
    ("sensor", datetime(2026, 1, 2, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC), "end after"),
    ("sensor", datetime(2026, 1, 1), datetime(2026, 1, 2), "aware"),
    ("sensor", datetime(2024, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC), "at most"),
])
def test_bad_history_windows_are_refused(demo_sensors: Runtime, entity_type: str, start: datetime, end: datetime, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        history.series(demo_sensors, entity_type, "air-1", "pm25", start, end)
