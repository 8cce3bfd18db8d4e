"""The alerts REST API through the Flask test client: filters, lifecycle, roles, 409s, incidents,
precision, camera events in with an API key, and the OpenAPI document."""
from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from alerts import service
from alerts.rules import Candidate, Place
from store import accounts
from store.runtime import Runtime

from api_helpers import client_as


def make_alert(rt: Runtime, category: str = "traffic_accident", severity: str = "critical", camera: str = "cam-1",
               district: str = "Jung-gu", lat: float = 37.56) -> int:
    cand = Candidate(category, severity, "cctv", camera, camera, rt.clock.now(), Place(district, lat, 126.98), {"confidence": 0.9})
    return next(int(a["id"]) for a in service.raise_candidates(rt, [cand]) if a["source"] == camera)


@pytest.fixture
def op(any_db_rt: Runtime) -> FlaskClient:
    return client_as(any_db_rt, "operator")


def test_list_carries_the_promised_fields_and_filters_by_state_district_severity(any_db_rt, op):
    rt = any_db_rt
    a = make_alert(rt, severity="critical", district="Jung-gu")
    make_alert(rt, category="illegal_parking", severity="info", camera="cam-2", district="Mapo-gu", lat=37.50)

    everything = op.get("/api/v1/alerts").get_json()["alerts"]
    critical_jung = op.get("/api/v1/alerts?state=open&district=Jung-gu&severity=critical").get_json()["alerts"]

    assert len(everything) == 2
    assert {"id", "state", "category", "severity", "district", "count", "first_seen", "last_seen"} <= set(everything[0])
    assert [x["id"] for x in critical_jung] == [a]
    assert op.get("/api/v1/alerts?category=illegal_parking").get_json()["alerts"][0]["district"] == "Mapo-gu"
    assert op.get("/api/v1/alerts?since=2099-01-01T00:00:00Z").get_json()["alerts"] == []


@pytest.mark.parametrize("query", ["severity=huge", "state=closed", "since=yesterday", "since=2026-11-26T00:00:00",
                                   "limit=0", "category=ufo"])
def test_bad_filters_are_400_with_a_reason(rt, query):
    op = client_as(rt, "operator")

    r = op.get(f"/api/v1/alerts?{query}")

    assert r.status_code == 400 and r.get_json()["message"]


def test_ack_assign_comment_resolve_then_double_ack_and_resolve_are_409(any_db_rt, op):
    rt = any_db_rt
    a = make_alert(rt, severity="major")

    r1 = op.post(f"/api/v1/alerts/{a}/ack", json={"comment": "on it"})
    r2 = op.post(f"/api/v1/alerts/{a}/assign", json={"assignee": "lee"})
    r3 = op.post(f"/api/v1/alerts/{a}/comment", json={"text": "police on site"})
    again = op.post(f"/api/v1/alerts/{a}/ack", json={})
    r4 = op.post(f"/api/v1/alerts/{a}/resolve", json={"verdict": "true_positive"})
    twice = op.post(f"/api/v1/alerts/{a}/resolve", json={"verdict": "true_positive"})

    assert [r.status_code for r in (r1, r2, r3, r4)] == [200] * 4
    assert r1.get_json()["acknowledged_by"] == "u-operator" and r2.get_json()["assignee"] == "lee"
    assert again.status_code == 409 and "already acknowledged" in again.get_json()["message"]
    assert twice.status_code == 409 and "already resolved" in twice.get_json()["message"]
    detail = op.get(f"/api/v1/alerts/{a}").get_json()
    assert [h["kind"] for h in detail["history"]] == ["opened", "acknowledged", "assigned", "commented", "resolved"]
    assert [c["text"] for c in detail["comments"]] == ["on it", "police on site"]


def test_every_action_is_in_the_audit_log_with_who(rt):
    from sqlalchemy import select

    from store import audit
    from store.models.core import AuditEntry

    op = client_as(rt, "operator")
    a = make_alert(rt, severity="major")
    op.post(f"/api/v1/alerts/{a}/ack", json={})
    op.post(f"/api/v1/alerts/{a}/resolve", json={"verdict": "false_positive"})

    with rt.session() as s:
        rows = s.execute(select(AuditEntry.actor, AuditEntry.action).where(AuditEntry.subject_id == str(a))
                         .order_by(AuditEntry.seq)).all()
        assert audit.verify(s) == []
    assert [tuple(r) for r in rows] == [("system:alerts", "alert.opened"), ("u-operator", "alert.acknowledged"),
                                        ("u-operator", "alert.resolved")]


@pytest.mark.parametrize("role", ["wall", "admin"])
def test_wall_and_admin_can_read_but_cannot_act(rt, role):
    client = client_as(rt, role)
    a = make_alert(rt)

    reads = client.get("/api/v1/alerts")
    acts = [client.post(f"/api/v1/alerts/{a}/ack", json={}),
            client.post(f"/api/v1/alerts/{a}/resolve", json={"verdict": "true_positive"}),
            client.post("/api/v1/incidents", json={"alert_ids": [a]})]

    assert reads.status_code == (200 if role in ("wall", "admin") else 403)
    assert [r.status_code for r in acts] == [403, 403, 403]
    assert op_state(rt, a) == "open"


def op_state(rt: Runtime, alert_id: int) -> str:
    from alerts import queries

    return str(queries.alert_detail(rt, alert_id)["state"])


def test_an_operator_cannot_dismiss_a_critical_alert_as_false_positive_but_a_supervisor_can(rt):
    op = client_as(rt, "operator")
    sup = client_as(rt, "supervisor")
    a = make_alert(rt, severity="critical")

    refused = op.post(f"/api/v1/alerts/{a}/resolve", json={"verdict": "false_positive"})
    allowed = sup.post(f"/api/v1/alerts/{a}/resolve", json={"verdict": "false_positive"})

    assert refused.status_code == 403 and "supervisor" in refused.get_json()["message"]
    assert allowed.status_code == 200 and allowed.get_json()["verdict"] == "false_positive"


def test_not_signed_in_is_401_and_unknown_alert_is_404_and_bad_verdict_is_400(rt):
    anon = client_as(rt, None)
    op = client_as(rt, "operator")
    a = make_alert(rt)

    assert anon.get("/api/v1/alerts").status_code == 401
    assert op.post("/api/v1/alerts/999/ack", json={}).status_code == 404
    assert op.post(f"/api/v1/alerts/{a}/resolve", json={"verdict": "maybe"}).status_code == 400
    assert op.post(f"/api/v1/alerts/{a}/assign", json={}).status_code == 400
    assert op.post(f"/api/v1/alerts/{a}/comment", json={"text": ""}).status_code == 400


def test_precision_equals_the_verdicts_ratio(any_db_rt):
    rt = any_db_rt
    sup = client_as(rt, "supervisor")
    verdicts = {"traffic_accident": ["true_positive"] * 7 + ["false_positive"] * 1,
                "crowd_density": ["true_positive"] * 3 + ["false_positive"] * 2}
    cam = 0
    for category, vs in verdicts.items():
        for v in vs:
            cam += 1
            a = make_alert(rt, category=category, severity="major", camera=f"cam-{cam}", lat=37.0 + cam * 0.05)
            assert sup.post(f"/api/v1/alerts/{a}/resolve", json={"verdict": v}).status_code == 200
    make_alert(rt, category="crowd_density", severity="major", camera="cam-open", lat=38.0)  # unresolved: not counted

    rows = {r["category"]: r for r in sup.get("/api/v1/alerts/precision?days=7").get_json()["categories"]}

    assert rows["traffic_accident"]["precision"] == pytest.approx(7 / 8, abs=1e-4)
    assert rows["crowd_density"]["precision"] == pytest.approx(3 / 5, abs=1e-4)
    assert rows["crowd_density"]["judged"] == 5
    rt.clock.advance(days=8)
    assert sup.get("/api/v1/alerts/precision?days=7").get_json()["categories"] == []
    assert sup.get("/api/v1/alerts/precision?days=0").status_code == 400


def test_incidents_group_nearby_alerts_and_resolve_as_one(any_db_rt, op):
    rt = any_db_rt
    a = make_alert(rt, category="traffic_accident", camera="cam-a", lat=37.5600)
    b = make_alert(rt, category="stopped_vehicle", severity="major", camera="cam-b", lat=37.5610)  # ~110 m away
    far = make_alert(rt, category="traffic_accident", camera="cam-far", lat=37.60)  # 4 km away

    [inc] = op.get("/api/v1/incidents?state=open").get_json()["incidents"]
    assert sorted(inc["alert_ids"]) == sorted([a, b]) and far not in inc["alert_ids"]

    named = op.post(f"/api/v1/incidents/{inc['id']}/name", json={"name": "Namdaemun-ro pile-up"})
    sup = client_as(rt, "supervisor")
    done = sup.post(f"/api/v1/incidents/{inc['id']}/resolve", json={"verdict": "true_positive"})
    again = sup.post(f"/api/v1/incidents/{inc['id']}/resolve", json={"verdict": "true_positive"})

    assert named.get_json()["name"] == "Namdaemun-ro pile-up"
    assert done.status_code == 200 and done.get_json()["state"] == "resolved"
    assert {op_state(rt, x) for x in (a, b)} == {"resolved"} and op_state(rt, far) == "open"
    assert again.status_code == 409


def test_operators_open_an_incident_by_hand(rt):
    op = client_as(rt, "operator")
    a = make_alert(rt, category="loitering", severity="minor", camera="c1")
    b = make_alert(rt, category="intrusion", severity="major", camera="c2")

    r = op.post("/api/v1/incidents", json={"alert_ids": [a, b], "name": "fence cut"})
    missing = op.post("/api/v1/incidents", json={"alert_ids": [a, 999]})

    assert r.status_code == 201 and sorted(r.get_json()["alert_ids"]) == [a, b]
    assert missing.status_code == 404


def test_cctv_events_need_an_api_key_and_valid_fields(rt):
    anon = client_as(rt, None)
    with rt.session() as s:
        key = accounts.create_api_key(s, "vca", now=rt.clock.now())
    ev = {"camera_id": "cam-3", "category": "fire_smoke", "confidence": 0.93, "time": "2026-11-26T03:00:00+09:00",
          "district": "Jung-gu", "lat": 37.56, "lon": 126.98}

    no_key = anon.post("/api/v1/cctv/events", json={"events": [ev]})
    bad_key = anon.post("/api/v1/cctv/events", json={"events": [ev]}, headers={"X-API-Key": "nope"})
    bad_cat = anon.post("/api/v1/cctv/events", json={"events": [{**ev, "category": "ufo"}]}, headers={"X-API-Key": key})
    bad_conf = anon.post("/api/v1/cctv/events", json={"events": [{**ev, "confidence": 3}]}, headers={"X-API-Key": key})
    naive = anon.post("/api/v1/cctv/events", json={"events": [{**ev, "time": "2026-11-26T03:00:00"}]}, headers={"X-API-Key": key})
    ok = anon.post("/api/v1/cctv/events", json={"events": [ev, ev]}, headers={"X-API-Key": key})

    assert (no_key.status_code, bad_key.status_code) == (401, 401)
    assert (bad_cat.status_code, bad_conf.status_code, naive.status_code) == (400, 400, 400)
    assert ok.status_code == 200 and ok.get_json() == {"accepted": 2}


def test_a_cctv_event_posted_becomes_one_alert_through_the_worker(rt, worker, drain):
    import json

    with rt.session() as s:
        key = accounts.create_api_key(s, "vca", now=rt.clock.now())
    anon = client_as(rt, None)
    ev = {"camera_id": "cam-3", "category": "fire_smoke", "confidence": 0.93, "time": rt.clock.now().isoformat(),
          "district": "Jung-gu", "lat": 37.56, "lon": 126.98}
    low = {**ev, "camera_id": "cam-4", "confidence": 0.3}  # below fire_smoke's threshold
    ps = rt.redis.subscribe(["alerts"])

    anon.post("/api/v1/cctv/events", json={"events": [ev, ev, low]}, headers={"X-API-Key": key})
    drain()

    [a] = client_as(rt, "operator").get("/api/v1/alerts").get_json()["alerts"]
    assert (a["category"], a["severity"], a["count"], a["source"]) == ("fire_smoke", "critical", 2, "cam-3")
    deltas = [json.loads(m["data"]) for m in iter(lambda: ps.get_message(timeout=0.5), None)]
    deltas += [json.loads(m["data"]) for m in iter(lambda: ps.get_message(timeout=0.5), None)]  # after the subscribe reply
    assert any(str(a["id"]) in d["changes"] for d in deltas)


def test_wall_summary_counts_unacknowledged_and_drops_on_ack(rt):
    wall = client_as(rt, "wall")
    op = client_as(rt, "operator")
    a = make_alert(rt, camera="c1")
    make_alert(rt, category="loitering", severity="minor", camera="c2", lat=37.7)
    rt.clock.advance(minutes=1)

    before = wall.get("/api/v1/alerts/summary").get_json()
    op.post(f"/api/v1/alerts/{a}/ack", json={})
    after = wall.get("/api/v1/alerts/summary").get_json()

    assert before["unacknowledged"] == 2 and before["oldest_age_s"] == pytest.approx(60)
    assert before["by_severity"]["critical"] == 1
    assert after["unacknowledged"] == 1 and after["by_severity"]["critical"] == 0


def test_alert_routes_are_in_the_openapi_document(rt):
    doc = client_as(rt, None).get("/api/v1/openapi.json").get_json()

    for path in ("/alerts", "/alerts/{alert_id}", "/alerts/{alert_id}/ack", "/alerts/{alert_id}/assign",
                 "/alerts/{alert_id}/comment", "/alerts/{alert_id}/resolve", "/alerts/precision", "/incidents",
                 "/incidents/{incident_id}/resolve", "/cctv/events"):
        assert path in doc["paths"], path
    assert doc["paths"]["/alerts/{alert_id}/ack"]["post"]["responses"]["409"]
