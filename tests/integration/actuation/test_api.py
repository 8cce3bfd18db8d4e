"""The commands REST API: happy paths end to end, and every 4xx a client can provoke."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from actuation.adapters import default_adapters
from actuation.dispatcher import dispatch_once
from actuation.samples import example_params
from store.runtime import Runtime

from api_helpers import clients_for

CAP_DIR = Path(__file__).resolve().parents[3] / "data" / "cap"
USERS = {"op1": "operator", "op2": "operator", "sup1": "supervisor", "sup2": "supervisor", "lead1": "shift_lead", "wall": "wall"}


@pytest.fixture
def clients(rt: Runtime) -> Iterator[dict[str, FlaskClient]]:
    out = clients_for(rt, USERS)
    yield out


def propose(c: FlaskClient, rt: Runtime, type_: str) -> dict:
    r = c.post("/api/v1/commands", json={"type": type_, "params": example_params(type_, rt.clock.now())})
    assert r.status_code == 201, r.json
    return r.json


def test_alert_proposed_approved_dispatched_with_cap_xml(rt: Runtime, clients: dict[str, FlaskClient]) -> None:
    cmd = propose(clients["op1"], rt, "emergency_alert")

    assert clients["sup1"].post(f"/api/v1/commands/{cmd['id']}/approve").json["state"] == "approved"
    dispatch_once(rt, default_adapters(rt, latency=(0, 0)), worker="w")
    view = clients["op1"].get(f"/api/v1/commands/{cmd['id']}").json
    xml = clients["op1"].get(f"/api/v1/commands/{cmd['id']}/cap.xml")

    assert view["state"] == "executed" and view["approvals"][0]["user"] == "sup1"
    assert xml.status_code == 200 and xml.mimetype == "application/cap+xml" and b"cap:1.2" in xml.data


def test_gas_shutoff_two_approvers_and_the_lists(rt: Runtime, clients: dict[str, FlaskClient]) -> None:
    r = clients["op1"].post("/api/v1/commands", json={"type": "gas_shutoff", "params": {"zone": "Mapo-gu", "reason": "leak"}})
    cid = r.json["id"]

    assert [c["id"] for c in clients["sup1"].get("/api/v1/commands?decide=1").json["commands"]] == [cid]
    assert clients["op1"].get("/api/v1/commands?decide=1").json["commands"] == []
    assert clients["sup1"].post(f"/api/v1/commands/{cid}/approve").json["state"] == "pending"
    assert clients["sup1"].post(f"/api/v1/commands/{cid}/approve").status_code == 409
    assert clients["lead1"].post(f"/api/v1/commands/{cid}/approve").json["state"] == "approved"
    assert [c["id"] for c in clients["op1"].get("/api/v1/commands?mine=1").json["commands"]] == [cid]


def test_imported_cap_draft_posts_as_it_is(clients: dict[str, FlaskClient]) -> None:
    data = (CAP_DIR / "oasis_spec_example_nws_thunderstorm_cap12.xml").read_bytes()

    draft = clients["op1"].post("/api/v1/cap/import", data=data, content_type="application/xml")
    created = clients["op1"].post("/api/v1/commands", json=draft.json)

    assert draft.status_code == 200 and draft.json["params"]["event"] == "SEVERE THUNDERSTORM"
    assert created.status_code == 201 and created.json["state"] == "pending"


@pytest.mark.parametrize("who,method,path,body,status,key", [
    ("anon", "post", "/api/v1/commands", {"type": "gas_shutoff", "params": {}}, 401, "not_authenticated"),
    ("wall", "post", "/api/v1/commands", {"type": "gas_shutoff", "params": {"zone": "Mapo-gu", "reason": "leak"}}, 403, "forbidden"),
    ("op1", "post", "/api/v1/commands", {"type": "nuke", "params": {}}, 400, "invalid"),
    ("op1", "post", "/api/v1/commands", {"type": "gas_shutoff", "params": {"zone": "Mapo-gu"}}, 400, "invalid"),
    ("op1", "post", "/api/v1/commands", {"params": {}}, 400, "invalid"),
    ("op1", "get", "/api/v1/commands/999", None, 404, "not_found"),
    ("op1", "get", "/api/v1/commands?state=bogus", None, 400, "invalid"),
    ("sup1", "post", "/api/v1/commands/999/approve", None, 404, "not_found"),
])
def test_client_errors(clients: dict[str, FlaskClient], who: str, method: str, path: str, body: dict | None, status: int, key: str) -> None:
    r = getattr(clients[who], method)(path, json=body) if body is not None else getattr(clients[who], method)(path)

    assert r.status_code == status and r.json["key"] == key


def test_operator_may_not_approve_and_proposer_may_not_approve_own(rt: Runtime, clients: dict[str, FlaskClient]) -> None:
    by_op = propose(clients["op1"], rt, "emergency_alert")
    by_sup = propose(clients["sup1"], rt, "emergency_alert")

    assert clients["op2"].post(f"/api/v1/commands/{by_op['id']}/approve").status_code == 403
    own = clients["sup1"].post(f"/api/v1/commands/{by_sup['id']}/approve")
    assert own.status_code == 403 and own.json["key"] == "own_command"
    assert clients["sup1"].get(f"/api/v1/commands/{by_sup['id']}").json["state"] == "pending"


def test_reject_needs_a_reason_and_cancel_is_the_proposers(rt: Runtime, clients: dict[str, FlaskClient]) -> None:
    cid = propose(clients["op1"], rt, "bridge_closure")["id"]

    assert clients["sup1"].post(f"/api/v1/commands/{cid}/reject", json={}).status_code == 400
    assert clients["op2"].post(f"/api/v1/commands/{cid}/cancel").status_code == 403
    assert clients["sup1"].post(f"/api/v1/commands/{cid}/reject", json={"reason": "bridge inspected, safe"}).json["state"] == "rejected"
    assert clients["op1"].post(f"/api/v1/commands/{cid}/cancel").status_code == 409


def test_cap_xml_of_a_non_alert_is_404(rt: Runtime, clients: dict[str, FlaskClient]) -> None:
    cid = propose(clients["op1"], rt, "signal_timing")["id"]

    assert clients["op1"].get(f"/api/v1/commands/{cid}/cap.xml").status_code == 404


@pytest.mark.parametrize("name,key", [("nws_flash_flood_watch_20100830_cap11.xml", "cap_version"),
                                      ("nws_atom_index_feed_20180815_cap11.xml", "cap_not_cap")])
def test_cap_import_refuses_old_and_foreign_files(clients: dict[str, FlaskClient], name: str, key: str) -> None:
    r = clients["op1"].post("/api/v1/cap/import", data=(CAP_DIR / name).read_bytes(), content_type="application/xml")

    assert r.status_code == 400 and r.json["key"] == key


def test_cap_import_refuses_external_entities(clients: dict[str, FlaskClient]) -> None:
    xxe = b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]><a>&x;</a>'

    r = clients["op1"].post("/api/v1/cap/import", data=xxe, content_type="application/xml")

    assert r.status_code == 400 and r.json["key"] == "cap_hostile" and "root:" not in r.get_data(as_text=True)


def test_routes_are_in_the_openapi_document(clients: dict[str, FlaskClient]) -> None:
    paths = clients["anon"].get("/api/v1/openapi.json").json["paths"]

    for p in ("/commands", "/commands/{command_id}", "/commands/{command_id}/approve", "/commands/{command_id}/reject",
              "/commands/{command_id}/cancel", "/commands/{command_id}/cap.xml", "/cap/import"):
        assert p in paths


def test_policy_is_readable_with_its_defaults(clients: dict[str, FlaskClient]) -> None:
    rules = {r["type"]: r for r in clients["op1"].get("/api/v1/commands/policy").json["rules"]}

    assert rules["gas_shutoff"]["approvals"] == 2 and rules["gas_shutoff"]["expiry_minutes"] == 15
    assert rules["bus_reroute"]["approvals"] == 0
    assert clients["anon"].get("/api/v1/commands/policy").status_code == 401
