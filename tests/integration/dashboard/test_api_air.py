"""GET /api/v1/air/districts through the Flask test client, on SQLite and the real PostgreSQL."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from flask.testing import FlaskClient

from dashboard.app import create_server
from feeds import air_queries
from feeds.aqi import cai_sub_index, pm_24h_predicted
from feeds.citypack import load_pack
from store import accounts
from store.models import Rollup
from store.runtime import Runtime

PASSWORD = "correct-horse-9"
POLLUTANTS = {"pm25": 30.0, "pm10": 40.0, "o3": 0.02, "no2": 0.02, "co": 0.4, "so2": 0.003}


def _pack(rt: Runtime):  # type: ignore[no-untyped-def]
    return load_pack(rt.settings.city, rt.settings.scale, rt.settings.sim_seed)


def _fill_history(rt: Runtime, sensor_ids: list[str], values: dict[str, float], hours: int = 24,
                  *, current_hour: bool = True) -> None:
    """One validated 5-minute bucket per hour for the last `hours` hours (the current hour included)."""
    now = rt.clock.now()
    with rt.session() as s:
        for h in air_queries.hour_starts(now, hours)[: None if current_hour else -1]:
            for sid in sensor_ids:
                for q, v in values.items():
                    s.add(Rollup(entity_type="sensor", entity_id=sid, quantity=q, bucket_start=h, bucket_minutes=5,
                                 n=1, total=v, minimum=v, maximum=v, flagged=0))


def _client(rt: Runtime, role: str | None) -> FlaskClient:
    client = create_server(rt).test_client()
    if role is not None:
        with rt.session() as s:
            accounts.add_user(s, f"u-{role}", PASSWORD, role, now=rt.clock.now())
        assert client.post("/api/v1/session", json={"username": f"u-{role}", "password": PASSWORD}).status_code == 200
    return client


@pytest.fixture
def districts(any_db_rt: Runtime) -> tuple[Runtime, str, str]:
    """Jongno-gu with a day of validated history and a fresh reading; Jung-gu with nothing."""
    rt = any_db_rt
    pack = _pack(rt)
    jongno = [s.id for s in pack.sensors_of("air") if s.district == "Jongno-gu"]
    _fill_history(rt, jongno, POLLUTANTS)
    at = rt.clock.now() - timedelta(seconds=90)
    rt.redis.set_latest("air", {sid: {"t": at.isoformat(), "v": {"pm25": 31.0}, "qa": {"pm25": "ok"}, "d": "Jongno-gu"} for sid in jongno})
    return rt, "Jongno-gu", "Jung-gu"


@pytest.mark.parametrize("role", ["operator", "supervisor", "shift_lead", "admin", "wall"])
def test_every_signed_in_role_reads_the_district_indices(districts: tuple[Runtime, str, str], role: str) -> None:
    rt, with_data, _ = districts

    resp = _client(rt, role).get("/api/v1/air/districts")

    assert resp.status_code == 200
    rows = {d["district"]: d for d in resp.get_json()["districts"]}
    assert len(rows) == 25
    assert rows[with_data]["cai"]["value"] is not None


def test_district_shows_cai_grade_in_both_languages_the_pollutant_window_and_us_aqi(districts: tuple[Runtime, str, str]) -> None:
    rt, with_data, _ = districts
    expected_pm = pm_24h_predicted([30.0] * 24, "pm25")

    body = _client(rt, "operator").get("/api/v1/air/districts").get_json()

    first = body["districts"][0]
    assert first["district"] == with_data  # the only district with data ranks first
    assert first["name_ko"] == "종로구"
    assert first["cai"] == {"value": cai_sub_index("pm25", expected_pm).index, "grade": "moderate",  # type: ignore[union-attr]
                            "grade_ko": "보통", "grade_en": "Moderate", "pollutant": "pm25",
                            "window": "24h-predicted", "reason": None}
    assert first["us_aqi"]["pollutant"] == "pm25" and first["us_aqi"]["window"] == "24h"
    assert first["us_aqi"]["grade_en"] == "Moderate"
    assert first["age_s"] == pytest.approx(90.0)
    assert datetime.fromisoformat(first["observed_at"]) == rt.clock.now() - timedelta(seconds=90)
    assert "24h-predicted" in body["windows"]


def test_district_without_data_is_listed_with_null_index_and_the_reason(districts: tuple[Runtime, str, str]) -> None:
    rt, _, without = districts

    rows = {d["district"]: d for d in _client(rt, "operator").get("/api/v1/air/districts").get_json()["districts"]}

    missing = rows[without]
    assert missing["cai"]["value"] is None and missing["cai"]["grade_ko"] is None
    assert "fewer than 4 hourly means" in missing["cai"]["reason"]
    assert missing["us_aqi"]["value"] is None
    assert missing["observed_at"] is None and missing["age_s"] is None
    assert missing["reporting"] == 0


def test_quarantine_heavy_history_and_flagged_reading_do_not_move_the_district_index(districts: tuple[Runtime, str, str]) -> None:
    rt, with_data, _ = districts
    client = _client(rt, "operator")
    before = {d["district"]: d for d in client.get("/api/v1/air/districts").get_json()["districts"]}[with_data]
    sid = next(s.id for s in _pack(rt).sensors_of("air") if s.district == with_data)
    with rt.session() as s:  # a bucket of this hour made of flagged spikes
        s.add(Rollup(entity_type="sensor", entity_id=sid, quantity="pm25", bucket_start=rt.clock.now().replace(minute=5, second=0, microsecond=0),
                     bucket_minutes=5, n=3, total=2700.0, minimum=900.0, maximum=900.0, flagged=3))
    rt.redis.set_latest("air", {sid: {"t": rt.clock.now().isoformat(), "v": {"pm25": 900.0}, "qa": {"pm25": "flagged"}, "d": with_data}})

    after = {d["district"]: d for d in client.get("/api/v1/air/districts").get_json()["districts"]}[with_data]

    assert after["cai"]["value"] == before["cai"]["value"]


def test_signed_out_caller_is_refused(districts: tuple[Runtime, str, str]) -> None:
    rt, _, _ = districts

    resp = _client(rt, None).get("/api/v1/air/districts")

    assert resp.status_code == 401
    assert resp.get_json()["key"] == "not_authenticated"


def test_route_is_in_the_openapi_document_with_its_response_model(rt: Runtime) -> None:
    doc = create_server(rt).test_client().get("/api/v1/openapi.json").get_json()

    op = doc["paths"]["/air/districts"]["get"]
    assert op["responses"]["200"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/DistrictsOut"}
    assert "wall" in op["description"] and "operator" in op["description"]
    assert "IndexOut" in doc["components"]["schemas"]


def test_settled_hours_are_read_once_and_the_current_hour_every_time(any_db_rt: Runtime) -> None:
    rt = any_db_rt
    pack = _pack(rt)
    site = pack.sensors_of("air")[0]
    _fill_history(rt, [site.id], {"no2": 0.02, "pm25": 20.0, "pm10": 30.0, "o3": 0.02}, current_hour=False)
    first = air_queries.read_sensors(rt, pack, [site.id])[0]
    with rt.session() as s:  # this hour's first bucket arrives
        s.add(Rollup(entity_type="sensor", entity_id=site.id, quantity="no2", bucket_start=rt.clock.now(),
                     bucket_minutes=5, n=1, total=0.1, minimum=0.1, maximum=0.1, flagged=0))

    second = air_queries.read_sensors(rt, pack, [site.id])[0]
    rt.clock.advance(hours=2)  # that hour is settled now and comes from the cache-filling read
    third = air_queries.read_sensor_day(rt, pack, site.id)

    assert first.cai.figures["no2"].concentration == pytest.approx(0.02)  # early in the hour: the hour before
    assert second.cai.figures["no2"].concentration == pytest.approx(0.1)
    assert third.series["no2"][-3] == pytest.approx(0.1)
    assert third.series["no2"][-1] is None
