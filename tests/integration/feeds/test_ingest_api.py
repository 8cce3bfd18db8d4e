from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from dashboard.app import create_server
from store import accounts
from store.clock import FakeClock
from store.models.core import AuditEntry
from store.runtime import Runtime
from store.settings import Settings

AIR = {"kind": "air", "lat": 37.5735, "lon": 126.9788, "district": "Jongno-gu",
       "quantities": {"pm25": "ug/m3", "pm10": "ug/m3", "o3": "ppm", "no2": "ppm"}}


class Api:
    """The Flask test client with the users and the API key the tests act as."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.server = create_server(rt)
        self.users: set[str] = set()
        with rt.session() as s:
            self.key = accounts.create_api_key(s, "field-gateway", now=rt.clock.now())

    def client(self, role: str | None = None) -> FlaskClient:
        c = self.server.test_client()
        if role:
            if role not in self.users:  # made on first use: password hashing is deliberately slow
                with self.rt.session() as s:
                    accounts.add_user(s, role, f"{role}-password", role, now=self.rt.clock.now())
                self.users.add(role)
            assert c.post("/api/v1/session", json={"username": role, "password": f"{role}-password"}).status_code == 200
        return c

    def post_obs(self, body: Any, key: str | None = "default", **kw: Any) -> Any:
        headers = {} if key is None else {"X-API-Key": self.key if key == "default" else key}
        data = body if isinstance(body, (bytes, str)) else json.dumps(body)
        return self.client().post("/api/v1/observations", data=data, headers=headers, content_type="application/json", **kw)


@pytest.fixture
def api(stack_rt: Runtime) -> Api:
    a = Api(stack_rt)
    assert a.client().put("/api/v1/sensors/air-1", json=AIR, headers={"X-API-Key": a.key}).status_code == 201
    return a


@pytest.fixture
def small_api(tmp_path: Path, clock: FakeClock) -> Iterator[Api]:
    """Limits small enough to cross in a test: 3 observations, 2 kB."""
    s = Settings(data_dir=tmp_path / "var", redis_prefix="small", simulator="off", max_batch_observations=3, max_batch_bytes=2048)
    rt = Runtime.start(s, clock=clock)
    a = Api(rt)
    a.client().put("/api/v1/sensors/air-1", json=AIR, headers={"X-API-Key": a.key})
    yield a
    rt.close()


def observation(rt: Runtime, minutes: float = 0, **values: Any) -> dict[str, Any]:
    return {"sensor_id": "air-1", "time": (rt.clock.now() + timedelta(minutes=minutes)).isoformat(), "values": values}


# -- sensors ----------------------------------------------------------------------------------
def test_operator_session_registers_and_updates_a_sensor(api: Api) -> None:
    c = api.client("operator")

    first = c.put("/api/v1/sensors/det-7", json={"kind": "detector", "lat": 37.56, "lon": 126.97, "district": "Jung-gu",
                                                "quantities": {"speed_kmh": "km/h"}})
    again = c.put("/api/v1/sensors/det-7", json={"kind": "detector", "lat": 37.56, "lon": 126.97, "district": "Jung-gu",
                                                "quantities": {"speed_kmh": "km/h", "volume_vph": "veh/h"}})

    assert first.status_code == 201
    assert first.json["domain"] == "traffic"
    assert again.status_code == 200
    assert again.json["quantities"] == {"speed_kmh": "km/h", "volume_vph": "veh/h"}


@pytest.mark.parametrize(("role", "status"), [(None, 401), ("wall", 403)])
def test_sensor_registration_needs_a_key_or_an_operator(api: Api, role: str | None, status: int) -> None:
    r = api.client(role).put("/api/v1/sensors/x-1", json=AIR)

    assert r.status_code == status


@pytest.mark.parametrize(("change", "problem"), [
    ({"district": "Gotham-gu"}, "unknown district"),
    ({"quantities": {"pm25": "ppm"}}, "pm25 is measured in ug/m3"),
    ({"quantities": {"radon": "Bq"}}, "unknown quantity"),
    ({"kind": "ufo"}, "unknown kind"),
])
def test_bad_registrations_are_400_with_the_reason(api: Api, change: dict[str, Any], problem: str) -> None:
    r = api.client().put("/api/v1/sensors/air-9", json={**AIR, **change}, headers={"X-API-Key": api.key})

    assert r.status_code == 400
    assert problem in r.json["message"]


# -- observations -----------------------------------------------------------------------------
def test_batch_answers_counts_and_each_rejection(api: Api) -> None:
    rt = api.rt
    body = {"observations": [observation(rt, pm25=12.0, pm10=20), observation(rt, 1, pm25=-5),
                             observation(rt, 2, pm25="12"), {"sensor_id": "nope", "time": rt.clock.now().isoformat(), "values": {"pm25": 1}}]}

    r = api.post_obs(body)

    assert r.status_code == 200
    assert {k: r.json[k] for k in ("observations", "accepted", "flagged", "quarantined", "rejected")} == \
        {"observations": 4, "accepted": 2, "flagged": 0, "quarantined": 1, "rejected": 2}
    assert [(x["index"], x["quantity"]) for x in r.json["rejections"]] == [(2, "pm25"), (3, None)]


@pytest.mark.parametrize(("key", "message"), [(None, "X-API-Key header is required"), ("cok_wrong", "not valid")])
def test_missing_or_bad_key_is_401(api: Api, key: str | None, message: str) -> None:
    r = api.post_obs({"observations": [observation(api.rt, pm25=1)]}, key=key)

    assert r.status_code == 401
    assert message in r.json["message"]


@pytest.mark.parametrize(("body", "message"), [
    (b"{not json", "not JSON"),
    ({"obs": []}, '"observations"'),
    ([1, 2], '"observations"'),
    ({"observations": {"sensor_id": "air-1"}}, '"observations"'),
    ({"observations": []}, "no observations"),
])
def test_malformed_batch_is_400_with_the_reason(api: Api, body: Any, message: str) -> None:
    r = api.post_obs(body)

    assert r.status_code == 400
    assert message in r.json["message"]
    assert r.json["key"] == "invalid"


def test_too_many_observations_is_413(small_api: Api) -> None:
    r = small_api.post_obs({"observations": [observation(small_api.rt, i, pm25=1) for i in range(4)]})

    assert r.status_code == 413
    assert "at most 3" in r.json["message"]


def test_too_many_bytes_is_413(small_api: Api) -> None:
    big = {"observations": [observation(small_api.rt, pm25=1) | {"note": "x" * 3000}]}

    r = small_api.post_obs(big)

    assert r.status_code == 413
    assert r.json["key"] == "too_large"


def test_redis_down_is_503_and_says_to_retry(small_api: Api) -> None:
    small_api.rt.redis.client.connection_pool.connection_kwargs["server"].connected = False

    r = small_api.post_obs({"observations": [observation(small_api.rt, pm25=1)]})

    assert r.status_code == 503
    assert r.json["message"] == "Redis is unavailable; nothing was stored, retry the whole batch"


# -- latest -----------------------------------------------------------------------------------
def test_latest_shows_values_time_and_qa_without_credentials(api: Api) -> None:
    rt = api.rt
    api.post_obs({"observations": [observation(rt, pm25=12.0, pm10=20), observation(rt, 2, pm25=2000.0)]})

    r = api.client().get("/api/v1/sensors/air-1/latest")

    assert r.status_code == 200
    assert r.json == {"sensor_id": "air-1", "kind": "air", "district": "Jongno-gu",
                      "time": (rt.clock.now() + timedelta(minutes=2)).isoformat(),
                      "values": {"pm25": 12.0, "pm10": 20}, "qa": {"pm25": "quarantined", "pm10": "ok"}}


def test_latest_of_unknown_sensor_is_404(api: Api) -> None:
    assert api.client().get("/api/v1/sensors/ghost/latest").status_code == 404


# -- quarantine -------------------------------------------------------------------------------
def quarantine_two(api: Api) -> list[dict[str, Any]]:
    api.post_obs({"observations": [observation(api.rt, 0, pm25=-5), observation(api.rt, 2, pm25=2000.0, pm10=2500)]})
    return api.client("operator").get("/api/v1/quarantine").json["items"]


def test_operator_lists_quarantined_values_with_filters(api: Api) -> None:
    items = quarantine_two(api)
    c = api.client("operator")

    only_pm10 = c.get("/api/v1/quarantine?quantity=pm10").json
    since = c.get("/api/v1/quarantine", query_string={"since": (api.rt.clock.now() + timedelta(minutes=1)).isoformat()}).json

    assert [(i["quantity"], i["value"]) for i in items] == [("pm10", 2500), ("pm25", 2000), ("pm25", -5)]
    assert all(i["state"] == "held" and "outside plausible" in i["reason"] for i in items)
    assert (only_pm10["total"], only_pm10["items"][0]["value"]) == (1, 2500)
    assert since["total"] == 2


@pytest.mark.parametrize("query", ["state=maybe", "limit=0", "since=yesterday", "since=2026-11-26T00:00:00", "limit=x"])
def test_bad_quarantine_filters_are_400(api: Api, query: str) -> None:
    assert api.client("operator").get(f"/api/v1/quarantine?{query}").status_code == 400


def test_wall_may_not_review_quarantine(api: Api) -> None:
    items = quarantine_two(api)
    wall = api.client("wall")

    assert wall.get("/api/v1/quarantine").status_code == 403
    assert wall.post(f"/api/v1/quarantine/{items[0]['id']}/release", json={"note": "fine"}).status_code == 403
    assert api.client().get("/api/v1/quarantine").status_code == 401


def test_release_is_audited_reenters_the_stream_and_cannot_happen_twice(api: Api) -> None:
    rt = api.rt
    held = [i for i in quarantine_two(api) if i["quantity"] == "pm10"][0]
    c = api.client("operator")

    r = c.post(f"/api/v1/quarantine/{held['id']}/release", json={"note": "construction dust, confirmed on site"})
    again = api.client("supervisor").post(f"/api/v1/quarantine/{held['id']}/release", json={"note": "me too"})

    assert r.status_code == 200
    assert (r.json["state"], r.json["released_by"], r.json["release_note"]) == ("released", "operator", "construction dust, confirmed on site")
    assert again.status_code == 409
    assert "already released by operator" in again.json["message"]
    last = json.loads(rt.redis.client.xrevrange(rt.redis.keys.stream("air"), count=1)[0][1]["batch"])
    assert last == [{"sensor_id": "air-1", "kind": "air", "district": "Jongno-gu", "time": held["time"],
                     "values": {"pm10": 2500.0}, "qa": {"pm10": "released"}}]
    assert rt.redis.get_latest("air", "air-1")["qa"]["pm10"] == "released"
    with rt.session() as s:
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "quarantine.release")).one()
    assert (entry.actor, entry.subject_id, entry.payload["note"]) == ("operator", str(held["id"]), "construction dust, confirmed on site")
    assert c.get("/api/v1/quarantine?state=released").json["total"] == 1


@pytest.mark.parametrize(("qid", "body", "status"), [(999, {"note": "x"}, 404), (None, {"note": ""}, 400), (None, {}, 400)])
def test_release_of_unknown_value_or_without_note_fails(api: Api, qid: int | None, body: dict[str, Any], status: int) -> None:
    items = quarantine_two(api)

    r = api.client("operator").post(f"/api/v1/quarantine/{qid or items[0]['id']}/release", json=body)

    assert r.status_code == status


# -- metrics and OpenAPI ----------------------------------------------------------------------
def test_metrics_count_values_by_outcome_and_source(api: Api) -> None:
    api.post_obs({"observations": [observation(api.rt, pm25=12.0, pm10=3000), observation(api.rt, 1, pm25="x")]})

    text = api.client().get("/metrics").data.decode()

    assert 'cityops_ingest_values_total{outcome="accepted",source="http"} 1.0' in text
    assert 'cityops_ingest_values_total{outcome="quarantined",source="http"} 1.0' in text
    assert 'cityops_ingest_values_total{outcome="rejected",source="http"} 1.0' in text
    assert 'cityops_feed_last_data_timestamp_seconds{domain="air"}' in text
    assert "cityops_redis_up 1.0" in text
    assert 'cityops_rollup_pending_entries{domain="air"}' not in text  # no rollup worker has made its group yet


def test_metrics_show_entries_a_rollup_worker_holds(api: Api) -> None:
    from feeds import worker

    worker.ensure_groups(api.rt)
    api.post_obs({"observations": [observation(api.rt, pm25=12.0)]})
    worker._read(api.rt, "busy", None)

    text = api.client().get("/metrics").data.decode()

    assert 'cityops_rollup_pending_entries{domain="air"} 1.0' in text
    assert 'cityops_rollup_pending_entries{domain="traffic"} 0.0' in text


def test_ingest_routes_are_in_the_openapi_document(api: Api) -> None:
    doc = api.client().get("/api/v1/openapi.json").json

    assert doc["paths"]["/observations"]["post"]["security"] == [{"apiKey": []}]
    assert doc["paths"]["/sensors/{sensor_id}"]["put"]["security"] == [{"apiKey": []}, {"session": []}]
    assert "operator" in doc["paths"]["/sensors/{sensor_id}"]["put"]["description"]
    assert "413" in doc["paths"]["/observations"]["post"]["responses"]
    assert doc["paths"]["/sensors/{sensor_id}"]["put"]["requestBody"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/SensorIn"}
    assert {"ObservationBatch", "IngestOut", "LatestOut", "QuarantinePage", "ReleaseIn"} <= set(doc["components"]["schemas"])
    assert "quarantine.review" not in doc["paths"]["/quarantine"]["get"]["description"]  # roles are listed, not keys
    assert "operator" in doc["paths"]["/quarantine"]["get"]["description"]
