"""A command proposed from an alert or incident: the cause is checked, stored, shown, audited,
and listed on the alert's detail."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from actuation.samples import example_params
from alerts import service as alerts
from alerts.model import Actor
from alerts.rules import Candidate, Place
from store.models.core import AuditEntry
from store.runtime import Runtime

from api_helpers import clients_for

USERS = {"op1": "operator", "sup1": "supervisor", "lead1": "shift_lead", "wall": "wall"}


@pytest.fixture
def clients(any_db_rt: Runtime) -> Iterator[dict[str, FlaskClient]]:
    rt = any_db_rt
    out = clients_for(rt, USERS)
    yield out


def raise_alert(rt: Runtime, source: str = "cam-1") -> int:
    raised = alerts.raise_candidates(rt, [Candidate("traffic_accident", "critical", "cctv_traffic_accident", source, "Jong-ro 3",
                                                    rt.clock.now(), Place("Jongno-gu", 37.57, 126.99))])
    return int(raised[0]["id"])


def post(c: FlaskClient, rt: Runtime, type_: str, **cause: Any) -> Any:
    return c.post("/api/v1/commands", json={"type": type_, "params": example_params(type_, rt.clock.now()), **cause})


def test_command_from_an_alert_carries_its_cause_in_json_and_audit(any_db_rt: Runtime, clients: dict[str, FlaskClient]) -> None:
    rt = any_db_rt
    alert_id = raise_alert(rt)

    r = post(clients["op1"], rt, "bus_reroute", alert_id=alert_id)

    assert r.status_code == 201, r.json
    cmd = r.json
    assert cmd["alert_id"] == alert_id and cmd["incident_id"] is None
    assert "alert_id" not in cmd["params"]  # the params stay what the field system receives
    assert clients["op1"].get(f"/api/v1/commands/{cmd['id']}").json["alert_id"] == alert_id
    with rt.session() as s:  # "what did this alert cause" is one query on the audit log
        caused = s.scalars(select(AuditEntry).where(AuditEntry.payload["parent_id"].as_string() == f"alert:{alert_id}",
                                                    AuditEntry.action == "command.proposed")).all()
    assert [(e.subject_id, e.payload["alert_id"], e.context_id) for e in caused] == [(str(cmd["id"]), alert_id, cmd["context_id"])]


def test_alert_detail_lists_the_commands_proposed_from_it_with_states(any_db_rt: Runtime,
                                                                       clients: dict[str, FlaskClient]) -> None:
    rt = any_db_rt
    alert_id, other = raise_alert(rt), raise_alert(rt, source="cam-2")
    reroute = post(clients["op1"], rt, "bus_reroute", alert_id=alert_id).json
    closure = post(clients["op1"], rt, "bridge_closure", alert_id=alert_id).json
    post(clients["op1"], rt, "signal_timing", alert_id=other)
    post(clients["op1"], rt, "signal_timing")

    detail = clients["wall"].get(f"/api/v1/alerts/{alert_id}")

    assert detail.status_code == 200
    assert [(c["id"], c["type"], c["state"]) for c in detail.json["commands"]] == [
        (reroute["id"], "bus_reroute", "approved"), (closure["id"], "bridge_closure", "pending")]


def test_command_for_an_incident_and_its_alert(any_db_rt: Runtime, clients: dict[str, FlaskClient]) -> None:
    rt = any_db_rt
    alert_id = raise_alert(rt)
    incident = alerts.open_incident(rt, [alert_id], Actor("lead1", "shift_lead"), name="crash")

    r = post(clients["op1"], rt, "signal_timing", alert_id=alert_id, incident_id=incident["id"])

    assert r.status_code == 201 and (r.json["alert_id"], r.json["incident_id"]) == (alert_id, incident["id"])


@pytest.mark.parametrize("cause,status,key", [
    ({"alert_id": 999_999}, 404, "no_alert"),
    ({"incident_id": 999_999}, 404, "no_incident"),
    ({"alert_id": 0}, 400, "invalid"),
    ({"alert_id": "twelve"}, 400, "invalid"),
])
def test_a_cause_that_does_not_exist_is_refused_and_nothing_is_stored(any_db_rt: Runtime, clients: dict[str, FlaskClient],
                                                                       cause: dict[str, Any], status: int, key: str) -> None:
    rt = any_db_rt

    r = post(clients["op1"], rt, "bus_reroute", **cause)

    assert (r.status_code, r.json["key"]) == (status, key)
    assert clients["op1"].get("/api/v1/commands?mine=1").json["commands"] == []


def test_an_alert_of_another_incident_is_refused(any_db_rt: Runtime, clients: dict[str, FlaskClient]) -> None:
    rt = any_db_rt
    a1, a2 = raise_alert(rt), raise_alert(rt, source="cam-2")
    alerts.open_incident(rt, [a1], Actor("lead1", "shift_lead"), name="one")
    other = alerts.open_incident(rt, [a2], Actor("lead1", "shift_lead"), name="two")

    r = post(clients["op1"], rt, "bus_reroute", alert_id=a1, incident_id=other["id"])

    assert r.status_code == 400 and "belongs to incident" in r.json["message"]


def test_the_wall_may_not_propose_from_an_alert(any_db_rt: Runtime, clients: dict[str, FlaskClient]) -> None:
    rt = any_db_rt
    alert_id = raise_alert(rt)

    r = post(clients["wall"], rt, "bus_reroute", alert_id=alert_id)

    assert r.status_code == 403
    assert clients["op1"].get(f"/api/v1/alerts/{alert_id}").json["commands"] == []


def test_migration_0006_matches_the_command_model(any_db_rt: Runtime) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from store.db import Base

    with any_db_rt.engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)

    ours = [d for d in diffs if any(m in repr(d) for m in ("table=<commands>", "Table('commands'", "'commands'"))]
    assert ours == []
