"""The approval queue on real SQLite and PostgreSQL: transactions, versions, outbox, audit, expiry."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from actuation import queries, service
from actuation.adapters import default_adapters
from actuation.dispatcher import dispatch_once
from actuation.model import ApproveCommand, CancelCommand, Context, ProposeCommand, RejectCommand
from actuation.samples import example_params
from actuation.uow import UnitOfWork
from store import audit
from store.clock import FakeClock
from store.errors import Conflict, InvalidTransition, NotAuthorized, ValidationError
from store.models.actuation import OutboxRow
from store.models.core import AuditEntry
from store.runtime import Runtime


def propose(rt: Runtime, type_: str, user: str = "op1", role: str = "operator") -> dict:
    return service.propose(rt, ProposeCommand(type_, example_params(type_, rt.clock.now()), role, Context(user)))


def approve(rt: Runtime, cid: int, user: str, role: str = "supervisor") -> dict:
    return service.approve(rt, ApproveCommand(cid, role, Context(user)))


def outbox_rows(rt: Runtime, cid: int) -> int:
    with rt.session() as s:
        return s.scalar(select(func.count()).select_from(OutboxRow).where(OutboxRow.command_id == cid)) or 0


def test_gas_shutoff_needs_two_people_and_writes_one_outbox_row(any_db_rt: Runtime) -> None:
    cid = propose(any_db_rt, "gas_shutoff")["id"]

    first = approve(any_db_rt, cid, "sup1")
    assert first["state"] == "pending" and outbox_rows(any_db_rt, cid) == 0
    with pytest.raises(Conflict):
        approve(any_db_rt, cid, "sup1")
    second = approve(any_db_rt, cid, "lead1", "shift_lead")

    assert second["state"] == "approved"
    assert [a["user"] for a in second["approvals"]] == ["sup1", "lead1"]
    assert outbox_rows(any_db_rt, cid) == 1


def test_every_transition_is_audited_and_the_chain_holds(any_db_rt: Runtime) -> None:
    cid = propose(any_db_rt, "emergency_alert")["id"]
    approve(any_db_rt, cid, "sup1")
    dispatch_once(any_db_rt, default_adapters(any_db_rt, latency=(0, 0)), worker="w")

    with any_db_rt.session() as s:
        actions = s.scalars(select(AuditEntry.action).where(AuditEntry.subject_type == "command", AuditEntry.subject_id == str(cid))
                            .order_by(AuditEntry.seq)).all()
        assert audit.verify(s) == []
    assert actions == ["command.proposed", "command.submitted", "command.approved", "command.dispatch_started", "command.executed"]
    view = queries.command_view(any_db_rt, cid)
    assert view["state"] == "executed" and view["results"][0]["detail"]["target_met"]


def test_stale_version_loses_with_conflict_and_changes_nothing(any_db_rt: Runtime) -> None:
    cid = propose(any_db_rt, "emergency_alert")["id"]
    with UnitOfWork(any_db_rt) as slow:
        cmd = slow.commands.get(cid)
        approve(any_db_rt, cid, "sup2")  # someone else decides first
        cmd.approve(Context("sup1"), "supervisor", any_db_rt.clock.now())

        with pytest.raises(Conflict):
            slow.commit()

    view = queries.command_view(any_db_rt, cid)
    assert [a["user"] for a in view["approvals"]] == ["sup2"] and outbox_rows(any_db_rt, cid) == 1


def test_leaving_the_unit_of_work_without_commit_rolls_back(any_db_rt: Runtime) -> None:
    cid = propose(any_db_rt, "emergency_alert")["id"]

    with UnitOfWork(any_db_rt) as uow:
        uow.commands.get(cid).approve(Context("sup1"), "supervisor", any_db_rt.clock.now())

    assert queries.command_view(any_db_rt, cid)["state"] == "pending"


def test_pending_request_expires_on_the_scheduler_pass(rt: Runtime, clock: FakeClock) -> None:
    cid = propose(rt, "bridge_closure")["id"]
    clock.advance(minutes=14)
    assert service.expire_due(rt) == 0

    clock.advance(minutes=1)

    assert service.expire_due(rt) == 1
    assert queries.command_view(rt, cid)["state"] == "expired"
    with pytest.raises(InvalidTransition):
        approve(rt, cid, "sup1")
    assert queries.pending_count(rt) == 0


def test_rejection_and_cancel_and_the_pending_views(rt: Runtime) -> None:
    a = propose(rt, "emergency_alert")["id"]
    b = propose(rt, "gas_shutoff")["id"]
    assert queries.pending_count(rt) == 2
    assert {c["id"] for c in queries.pending_for(rt, "op1")} == set()  # own commands are not yours to decide

    service.reject(rt, RejectCommand(a, "supervisor", "wrong district", Context("sup1")))
    with pytest.raises(NotAuthorized):
        service.cancel(rt, CancelCommand(b, "supervisor", Context("sup1")))
    service.cancel(rt, CancelCommand(b, "operator", Context("op1")))

    assert queries.command_view(rt, a)["reason"] == "wrong district"
    assert queries.command_view(rt, b)["state"] == "cancelled"
    assert queries.pending_count(rt) == 0


def test_non_critical_command_executes_without_approval(rt: Runtime) -> None:
    cid = propose(rt, "bus_reroute")["id"]

    dispatch_once(rt, default_adapters(rt, latency=(0, 0)), worker="w")

    view = queries.command_view(rt, cid)
    assert view["state"] == "executed" and view["approvals"] == []
    assert view["results"][0]["detail"]["feed_bytes"] > 0


def test_alert_ending_in_the_past_is_refused(rt: Runtime, clock: FakeClock) -> None:
    params = example_params("emergency_alert", clock.now() - timedelta(hours=3))

    with pytest.raises(ValidationError, match="past"):
        service.propose(rt, ProposeCommand("emergency_alert", params, "operator", Context("op1")))


def test_cancel_message_references_the_sent_alert(rt: Runtime) -> None:
    ad = default_adapters(rt, latency=(0, 0))
    first = propose(rt, "emergency_alert")["id"]
    approve(rt, first, "sup1")
    dispatch_once(rt, ad, worker="w")
    params = example_params("emergency_alert", rt.clock.now()) | {"msg_type": "Cancel", "references": [first]}

    cid = service.propose(rt, ProposeCommand("emergency_alert", params, "operator", Context("op1")))["id"]
    approve(rt, cid, "sup1")

    with rt.session() as s:
        xml = s.scalars(select(OutboxRow.payload).where(OutboxRow.command_id == cid)).one()["cap_xml"]
    assert "<msgType>Cancel</msgType>" in xml and f"KR.SEOUL.CITYOPS.{first}," in xml


def test_update_of_an_unsent_alert_is_refused(rt: Runtime) -> None:
    pending = propose(rt, "emergency_alert")["id"]
    params = example_params("emergency_alert", rt.clock.now()) | {"msg_type": "Update", "references": [pending]}

    with pytest.raises(ValidationError, match="not a sent"):
        service.propose(rt, ProposeCommand("emergency_alert", params, "operator", Context("op1")))


def test_context_links_the_alert_the_approval_and_the_dispatch_in_the_audit_log(rt: Runtime) -> None:
    cause = Context("op1", parent_id="alert-ctx-42")
    cid = service.propose(rt, ProposeCommand("emergency_alert", example_params("emergency_alert", rt.clock.now()), "operator", cause))["id"]
    approval = Context("sup1")
    service.approve(rt, ApproveCommand(cid, "supervisor", approval))
    dispatch_once(rt, default_adapters(rt, latency=(0, 0)), worker="w")

    with rt.session() as s:
        entries = {e.action: e for e in s.scalars(select(AuditEntry).where(AuditEntry.subject_id == str(cid)))}
        outbox_ctx = s.scalars(select(OutboxRow.context_id)).one()
    assert entries["command.proposed"].payload["parent_id"] == "alert-ctx-42"
    assert entries["command.approved"].context_id == approval.id == outbox_ctx
    assert entries["command.dispatch_started"].payload["parent_id"] == approval.id
    assert entries["command.executed"].payload["parent_id"] == approval.id
