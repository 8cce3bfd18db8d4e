"""A PM2.5 rise past CAI "unhealthy" in a district, driven through feeds.ingest and the worker."""
from __future__ import annotations

from alerts import queries, service
from alerts.model import Actor
from alerts.queries import AlertFilter
from store.models.alerts import Alert
from sqlalchemy import select

OPERATOR = Actor("kim", "operator")


def test_pm25_rise_past_unhealthy_opens_exactly_one_alert_and_repeats_fold(air_rt, post_air, drain):
    post_air(20.0, minutes=10)   # moderate: nothing
    drain()
    assert queries.list_alerts(air_rt) == []

    post_air(60.0, minutes=60)   # unhealthy (36-75 µg/m³) for an hour
    drain()
    post_air(62.0, minutes=20)
    drain()

    alerts = queries.list_alerts(air_rt, AlertFilter(category="air_quality"))
    assert len(alerts) == 1
    a = alerts[0]
    assert (a["district"], a["severity"], a["state"]) == ("Jongno-gu", "major", "open")
    assert a["detail"]["pollutant"] == "pm25" and a["detail"]["grade"] == "unhealthy"
    assert a["count"] > 5
    assert a["last_seen"] > a["first_seen"]


def test_the_alert_can_be_acknowledged_then_resolved_with_a_verdict(air_rt, post_air, drain):
    post_air(60.0, minutes=40)
    drain()
    [a] = queries.list_alerts(air_rt)

    acked = service.acknowledge(air_rt, a["id"], OPERATOR, comment="crew informed")
    resolved = service.resolve(air_rt, a["id"], OPERATOR, "true_positive")

    assert acked["state"] == "acknowledged" and acked["acknowledged_by"] == "kim"
    assert resolved["state"] == "resolved" and resolved["verdict"] == "true_positive"
    detail = queries.alert_detail(air_rt, a["id"])
    assert [h["kind"] for h in detail["history"]] == ["opened", "acknowledged", "resolved"]
    assert detail["comments"][0]["text"] == "crew informed"


def test_very_unhealthy_raises_the_same_alert_to_critical(air_rt, post_air, drain):
    post_air(60.0, minutes=40)
    drain()
    post_air(150.0, minutes=60)
    drain()

    [a] = queries.list_alerts(air_rt)
    assert a["severity"] == "critical" and a["detail"]["grade"] == "very_unhealthy"
    with air_rt.session() as s:
        assert s.scalars(select(Alert.critical_since)).one() is not None


def test_a_repeat_after_resolution_opens_a_new_alert(air_rt, post_air, drain):
    post_air(60.0, minutes=40)
    drain()
    [a] = queries.list_alerts(air_rt)
    service.resolve(air_rt, a["id"], OPERATOR, "true_positive")

    post_air(60.0, minutes=10)
    drain()

    alerts = queries.list_alerts(air_rt)
    assert len(alerts) == 2
    assert {x["state"] for x in alerts} == {"open", "resolved"}


def test_one_station_alone_in_a_district_below_min_readings_opens_nothing(air_rt, drain):
    from feeds.ingest import ingest
    from alert_helpers import air_obs

    ingest(air_rt, [air_obs("air-g0", air_rt.clock.now(), 60.0)], source="test")
    drain()

    assert queries.list_alerts(air_rt) == []
