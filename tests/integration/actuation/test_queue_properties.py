"""Property-based: random sequences of proposals, approvals, rejections, cancels, expiries,
dispatches and dispatcher crashes, by several users of every role, against the real store.

Whatever happens, no safety-critical command executes without its required distinct approvers
(never the proposer, only approver roles), and nothing is carried out twice.
"""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, rule
from sqlalchemy import func, select

from actuation import service
from actuation.adapters import Faults, default_adapters
from actuation.dispatcher import Claim, DispatcherConfig, dispatch_once
from actuation.model import ApproveCommand, CancelCommand, Context, ProposeCommand, RejectCommand
from actuation.policy import load_policy
from actuation.samples import example_params
from store import audit
from store.clock import FakeClock
from store.errors import CityOpsError
from store.models.actuation import ApprovalRow, CommandRow, DispatchResultRow, FieldLedgerRow
from store.runtime import Runtime
from store.settings import Settings

USERS = {"op1": "operator", "op2": "operator", "sup1": "supervisor", "sup2": "supervisor",
         "lead1": "shift_lead", "wall1": "wall", "admin1": "admin"}
# Deciders drawn more often than the rest, so runs reach approved and executed commands.
ACTORS = st.sampled_from(["sup1", "sup2", "lead1"] * 3 + ["op1", "op2", "wall1", "admin1"])
TYPES = ["emergency_alert", "bridge_closure", "gas_shutoff", "bus_reroute", "signal_timing"]
CFG = DispatcherConfig(lease_s=30, backoff_base_s=1, max_attempts=3)
POLICY = load_policy()


class Crash(Exception):
    pass


class ApprovalQueue(RuleBasedStateMachine):
    commands = Bundle("commands")

    def __init__(self) -> None:
        super().__init__()
        self.dir = tempfile.mkdtemp()
        self.clock = FakeClock()
        self.rt = Runtime.start(Settings(data_dir=Path(self.dir), simulator="off", _env_file=None), clock=self.clock)  # type: ignore[call-arg]
        self.faults = Faults()
        self.adapters = default_adapters(self.rt, latency=(0, 0), faults=self.faults)

    def teardown(self) -> None:
        with self.rt.session() as s:
            assert audit.verify(s) == []
        self.rt.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def _try(self, fn, *args) -> None:  # type: ignore[no-untyped-def]
        try:
            fn(*args)
        except CityOpsError:
            pass  # refusals are legitimate outcomes; the invariants judge what got through

    @rule(target=commands, type_=st.sampled_from(TYPES), user=ACTORS)
    def propose(self, type_: str, user: str) -> int:
        try:
            return service.propose(self.rt, ProposeCommand(type_, example_params(type_, self.clock.now()), USERS[user], Context(user)))["id"]
        except CityOpsError:
            return -1

    @rule(cid=commands, user=ACTORS)
    def approve(self, cid: int, user: str) -> None:
        self._try(service.approve, self.rt, ApproveCommand(cid, USERS[user], Context(user)))

    @rule(cid=commands, user=ACTORS)
    def reject(self, cid: int, user: str) -> None:
        self._try(service.reject, self.rt, RejectCommand(cid, USERS[user], "not needed", Context(user)))

    @rule(cid=commands, user=ACTORS)
    def cancel(self, cid: int, user: str) -> None:
        self._try(service.cancel, self.rt, CancelCommand(cid, USERS[user], Context(user)))

    @rule(minutes=st.integers(1, 8))
    def time_passes_and_expiry_runs(self, minutes: int) -> None:
        self.clock.advance(minutes=minutes)
        service.expire_due(self.rt)

    @rule(fail_next=st.integers(0, 2), lost_replies=st.booleans())
    def dispatch(self, fail_next: int, lost_replies: bool) -> None:
        self.faults.fail_next = fail_next
        self.faults.lost_reply_rate = 1.0 if lost_replies else 0.0  # acted, but the answer never came back
        dispatch_once(self.rt, self.adapters, worker="d1", cfg=CFG)
        self.faults.fail_next, self.faults.lost_reply_rate = 0, 0.0

    @rule(point=st.sampled_from(["claimed", "sent"]))
    def dispatcher_crashes(self, point: str) -> None:
        def hook(where: str, c: Claim) -> None:
            if where == point:
                raise Crash(point)
        try:
            dispatch_once(self.rt, self.adapters, worker="d2", cfg=CFG, crash=hook)
        except Crash:
            pass

    @rule()
    def leases_run_out(self) -> None:
        self.clock.advance(CFG.lease_s + 1)

    @invariant()
    def safety_critical_commands_run_only_with_distinct_approvers(self) -> None:
        with self.rt.session() as s:
            for cmd in s.scalars(select(CommandRow).where(CommandRow.state.in_(("approved", "dispatching", "executed", "failed")))):
                rule_ = POLICY[cmd.type]
                approvals = s.scalars(select(ApprovalRow).where(ApprovalRow.command_id == cmd.id)).all()
                people = {a.user_id for a in approvals}
                assert len(people) == len(approvals) >= rule_.approvals
                assert cmd.proposer not in people
                assert all(a.role in rule_.approver_roles for a in approvals)
                if rule_.safety_critical:
                    assert len(people) >= (2 if cmd.type in ("gas_shutoff", "bridge_closure") else 1)

    @invariant()
    def nothing_is_carried_out_twice(self) -> None:
        with self.rt.session() as s:
            ledger = s.scalars(select(FieldLedgerRow.idempotency_key)).all()
            ids = [k.split("-")[1] for k in ledger]
            assert len(ids) == len(set(ids))
            ok = s.execute(select(DispatchResultRow.command_id, func.count()).where(DispatchResultRow.ok)
                           .group_by(DispatchResultRow.command_id)).all()
            assert all(n == 1 for _, n in ok)
            executed = set(s.scalars(select(CommandRow.id).where(CommandRow.state == "executed")))
            assert executed == {c for c, _ in ok}
            assert executed <= {int(i) for i in ids}


ApprovalQueue.TestCase.settings = settings(max_examples=40, stateful_step_count=40, deadline=None,
                                           suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
test_approval_queue_properties = ApprovalQueue.TestCase
