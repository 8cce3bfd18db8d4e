"""The wall's air figures are the air page's and the API's: one computation (`feeds.air_queries`)."""
from __future__ import annotations

from datetime import timedelta

from flask.testing import FlaskClient

from dashboard.app import create_server
from feeds import air_queries
from feeds import live_queries as q
from feeds.citypack import load_pack
from panels import air as air_page
from panels import wall
from store import accounts
from store.models import Rollup
from store.runtime import Runtime

CLEAN = {"pm10": 40.0, "o3": 0.02, "no2": 0.02, "co": 0.4, "so2": 0.003}


def _sensors(rt: Runtime, district: str) -> list[str]:
    pack = load_pack(rt.settings.city, rt.settings.scale, rt.settings.sim_seed)
    return [s.id for s in pack.sensors_of("air") if s.district == district]


def _hourly(rt: Runtime, sensor_ids: list[str], pm25: float, hours: int = 24) -> None:
    """One validated 5-minute bucket per hour for the last `hours` hours, PM2.5 at `pm25`."""
    with rt.session() as s:
        for h in air_queries.hour_starts(rt.clock.now(), hours):
            for sid in sensor_ids:
                for qty, v in {**CLEAN, "pm25": pm25}.items():
                    s.add(Rollup(entity_type="sensor", entity_id=sid, quantity=qty, bucket_start=h, bucket_minutes=5,
                                 n=1, total=v, minimum=v, maximum=v, flagged=0))


def _client(rt: Runtime) -> FlaskClient:
    client = create_server(rt).test_client()
    with rt.session() as s:
        accounts.add_user(s, "op", "correct-horse-9", "operator", now=rt.clock.now())
    assert client.post("/api/v1/session", json={"username": "op", "password": "correct-horse-9"}).status_code == 200
    return client


def test_wall_worst_district_is_the_air_page_ranking_top_and_the_api_first_district(any_db_rt: Runtime) -> None:
    rt = any_db_rt
    mapo, jongno = _sensors(rt, "Mapo-gu"), _sensors(rt, "Jongno-gu")
    _hourly(rt, mapo, 60.0)    # a day of unhealthy PM2.5: the regulatory worst
    _hourly(rt, jongno, 20.0)  # a clean day ...
    at = (rt.clock.now() - timedelta(seconds=30)).isoformat()
    rt.redis.set_latest("air", {  # ... but a spike right now, which an instantaneous rule would rank first
        **{sid: {"t": at, "v": {"pm25": 70.0}, "qa": {"pm25": "ok"}, "d": "Jongno-gu"} for sid in jongno},
        **{sid: {"t": at, "v": {"pm25": 40.0}, "qa": {"pm25": "ok"}, "d": "Mapo-gu"} for sid in mapo}})

    kpis = q.air_kpis(rt)
    page_top = air_page.ranking_rows(rt, "en")[0]
    api_top = _client(rt).get("/api/v1/air/districts").get_json()["districts"][0]

    assert kpis.worst_district == page_top["id"] == api_top["district"] == "Mapo-gu"
    assert kpis.worst_district_cai == page_top["cai"] == api_top["cai"]["value"]
    assert kpis.worst_district_grade == api_top["cai"]["grade"] == "unhealthy"
    assert kpis.worst_district_pollutant == api_top["cai"]["pollutant"] == "pm25"


def test_city_pm25_tile_shows_the_live_value_labelled_now_and_the_grade_of_the_24h_predicted_mean(rt: Runtime) -> None:
    mapo = _sensors(rt, "Mapo-gu")
    _hourly(rt, mapo, 20.0)  # moderate all day
    at = (rt.clock.now() - timedelta(seconds=30)).isoformat()
    rt.redis.set_latest("air", {sid: {"t": at, "v": {"pm25": 90.0}, "qa": {"pm25": "ok"}, "d": "Mapo-gu"} for sid in mapo})

    tile = wall.readings(rt)["pm25"]

    assert tile.value == "90.0"  # the live concentration ...
    assert tile.label == "보통 Moderate" and tile.status == "ok"  # ... graded by the regulatory mean, not as "very unhealthy"
    assert "24시간 예측 평균" in tile.note and "24 h predicted mean" in tile.note
    assert q.air_kpis(rt).pm25_regulatory is not None and q.air_kpis(rt).pm25_grade == "moderate"


def test_wall_tiles_say_the_pm25_window_in_both_languages() -> None:
    from store.i18n import both

    assert both("wall.kpi.pm25") == "서울 평균 초미세먼지 (현재) City-wide PM2.5, now"


def test_wall_trend_drops_a_bucket_with_any_flagged_value_as_the_hourly_means_do(rt: Runtime) -> None:
    now = rt.clock.now()
    clean, mixed = now - timedelta(hours=2), now - timedelta(hours=1)
    with rt.session() as s:
        s.add(Rollup(entity_type="city", entity_id="city", quantity="pm25", bucket_start=clean, bucket_minutes=5,
                     n=10, total=200.0, minimum=20.0, maximum=20.0, flagged=0))
        # one flagged spike among ten: the old "more than half flagged" rule kept this bucket (mean 109)
        s.add(Rollup(entity_type="city", entity_id="city", quantity="pm25", bucket_start=mixed, bucket_minutes=5,
                     n=10, total=1090.0, minimum=10.0, maximum=1000.0, flagged=1))

    trend = q.trend_6h(rt)

    assert trend["history"] is True
    assert trend["pm25"] == [(clean.isoformat(), 20.0)]
