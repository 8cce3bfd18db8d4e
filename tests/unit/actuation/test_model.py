"""The approval queue's pure rules: transitions, the two-person rule, roles, expiry."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from actuation.model import APPROVED, CANCELLED, EXPIRED, PENDING, REJECTED, TRANSITIONS, Command, CommandApproved, Context
from actuation.policy import load_policy
from store.errors import Conflict, InvalidTransition, NotAuthorized, ValidationError

NOW = datetime(2026, 11, 26, 7, 0, tzinfo=UTC)
POLICY = load_policy()


def propose(type_: str, user: str = "op1", role: str = "operator") -> Command:
    cmd = Command.propose(POLICY[type_], {"x": 1}, role, Context(user), NOW, 15)
    cmd.id = 1
    return cmd


def test_non_critical_command_is_approved_at_once_with_its_outbox_event() -> None:
    cmd = propose("signal_timing")

    assert cmd.state == APPROVED
    assert any(isinstance(e, CommandApproved) and e.final for e in cmd.events)


def test_safety_critical_command_waits_with_default_expiry() -> None:
    cmd = propose("emergency_alert")

    assert cmd.state == PENDING
    assert cmd.expires_at == NOW + timedelta(minutes=15)


def test_proposer_cannot_approve_own_command_whatever_their_role() -> None:
    cmd = propose("emergency_alert", user="sup1", role="supervisor")

    with pytest.raises(NotAuthorized):
        cmd.approve(Context("sup1"), "shift_lead", NOW)
    assert cmd.state == PENDING and not cmd.approvals


def test_operator_cannot_approve() -> None:
    cmd = propose("emergency_alert")

    with pytest.raises(NotAuthorized):
        cmd.approve(Context("op2"), "operator", NOW)


@pytest.mark.parametrize("type_", ["gas_shutoff", "bridge_closure"])
def test_two_approver_command_needs_two_different_people(type_: str) -> None:
    cmd = propose(type_)
    cmd.approve(Context("sup1"), "supervisor", NOW)

    with pytest.raises(Conflict):
        cmd.approve(Context("sup1"), "supervisor", NOW)
    assert cmd.state == PENDING
    cmd.approve(Context("lead1"), "shift_lead", NOW)
    assert cmd.state == APPROVED
    assert cmd.distinct_approvers() == {"sup1", "lead1"}


def test_approval_after_expiry_is_refused_and_expiry_applies() -> None:
    cmd = propose("emergency_alert")
    late = NOW + timedelta(minutes=15)

    with pytest.raises(InvalidTransition):
        cmd.approve(Context("sup1"), "supervisor", late)
    cmd.expire(Context("system"), late)
    assert cmd.state == EXPIRED


def test_expiry_before_time_is_refused() -> None:
    cmd = propose("emergency_alert")

    with pytest.raises(InvalidTransition):
        cmd.expire(Context("system"), NOW + timedelta(minutes=14))


def test_rejection_needs_a_reason_and_is_final() -> None:
    cmd = propose("gas_shutoff")

    with pytest.raises(ValidationError):
        cmd.reject(Context("sup1"), "supervisor", "  ", NOW)
    cmd.reject(Context("sup1"), "supervisor", "valve already closed", NOW)
    assert (cmd.state, cmd.reason) == (REJECTED, "valve already closed")
    with pytest.raises(InvalidTransition):
        cmd.approve(Context("sup2"), "supervisor", NOW)


def test_only_the_proposer_cancels_and_only_before_approval() -> None:
    cmd = propose("emergency_alert")

    with pytest.raises(NotAuthorized):
        cmd.cancel(Context("sup1"), NOW)
    cmd.cancel(Context("op1"), NOW)
    assert cmd.state == CANCELLED
    done = propose("signal_timing")
    with pytest.raises(InvalidTransition):
        done.cancel(Context("op1"), NOW)


def test_dispatch_states_follow_the_table() -> None:
    cmd = propose("signal_timing")
    cmd.start_dispatch(Context("d"), NOW, 1)
    cmd.executed(Context("d"), NOW, {})

    with pytest.raises(InvalidTransition):
        cmd.start_dispatch(Context("d"), NOW, 2)
    assert ("executed", "start_dispatch") not in TRANSITIONS


def test_wall_and_admin_cannot_propose() -> None:
    for role in ("wall", "admin"):
        with pytest.raises(NotAuthorized):
            propose("bus_reroute", role=role)
