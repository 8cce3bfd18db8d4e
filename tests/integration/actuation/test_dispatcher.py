"""The dispatcher in one process: retries with backoff, final failure, and crashes at each point
(simulated by a crash hook that aborts the pass) resumed by another dispatcher after the lease."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from actuation import queries, service
from actuation.adapters import Faults, default_adapters
from actuation.dispatcher import Claim, DispatcherConfig, dispatch_once
from actuation.model import ApproveCommand, Context, ProposeCommand
from actuation.samples import example_params
from store import audit
from store.clock import FakeClock
from store.models.actuation import DispatchResultRow, FieldLedgerRow, OutboxRow
from store.runtime import Runtime

CFG = DispatcherConfig(lease_s=30, backoff_base_s=2, max_attempts=3)


class Crash(Exception):
    """Stands for the process dying at this point: nothing after it runs."""


def crash_at(point: str):
    def hook(where: str, c: Claim) -> None:
        if where == point:
            raise Crash(point)
    return hook


def approved_gas_shutoff(rt: Runtime) -> int:
    cid = service.propose(rt, ProposeCommand("gas_shutoff", example_params("gas_shutoff", rt.clock.now()), "operator", Context("op1")))["id"]
    service.approve(rt, ApproveCommand(cid, "supervisor", Context("sup1")))
    service.approve(rt, ApproveCommand(cid, "shift_lead", Context("lead1")))
    return cid


def effects(rt: Runtime) -> list[tuple[str, int]]:
    with rt.session() as s:
        return [(r.idempotency_key, r.calls) for r in s.scalars(select(FieldLedgerRow))]


def ok_results(rt: Runtime, cid: int) -> int:
    with rt.session() as s:
        return s.scalar(select(func.count()).select_from(DispatchResultRow).where(DispatchResultRow.command_id == cid, DispatchResultRow.ok)) or 0


def test_failed_attempts_retry_with_backoff_then_execute(any_db_rt: Runtime, clock: FakeClock) -> None:
    cid = approved_gas_shutoff(any_db_rt)
    faults = Faults(fail_next=2)
    ad = default_adapters(any_db_rt, latency=(0, 0), faults=faults)

    assert dispatch_once(any_db_rt, ad, worker="w", cfg=CFG) == 1
    assert dispatch_once(any_db_rt, ad, worker="w", cfg=CFG) == 0  # backing off
    clock.advance(2)
    dispatch_once(any_db_rt, ad, worker="w", cfg=CFG)
    clock.advance(4)
    dispatch_once(any_db_rt, ad, worker="w", cfg=CFG)

    view = queries.command_view(any_db_rt, cid)
    assert view["state"] == "executed"
    assert [r["ok"] for r in view["results"]] == [False, False, True]
    assert len(effects(any_db_rt)) == 1


def test_command_fails_after_the_last_attempt(rt: Runtime, clock: FakeClock) -> None:
    cid = approved_gas_shutoff(rt)
    ad = default_adapters(rt, latency=(0, 0), faults=Faults(refuse_rate=1.0))

    for _ in range(CFG.max_attempts):
        dispatch_once(rt, ad, worker="w", cfg=CFG)
        clock.advance(60)

    view = queries.command_view(rt, cid)
    assert view["state"] == "failed" and view["dispatch"]["state"] == "failed" and "timeout" in view["reason"]
    assert effects(rt) == []


@pytest.mark.parametrize("point", ["claimed", "sent"])
def test_dispatcher_dying_after_claim_or_send_is_resumed_without_loss_or_doubling(any_db_rt: Runtime, clock: FakeClock, point: str) -> None:
    cid = approved_gas_shutoff(any_db_rt)
    ad = default_adapters(any_db_rt, latency=(0, 0))

    with pytest.raises(Crash):
        dispatch_once(any_db_rt, ad, worker="dead", cfg=CFG, crash=crash_at(point))
    assert dispatch_once(any_db_rt, ad, worker="alive", cfg=CFG) == 0  # the lease still holds
    clock.advance(CFG.lease_s + 1)
    assert dispatch_once(any_db_rt, ad, worker="alive", cfg=CFG) == 1

    assert queries.command_view(any_db_rt, cid)["state"] == "executed"
    assert ok_results(any_db_rt, cid) == 1
    (key, calls), = effects(any_db_rt)
    assert calls == (2 if point == "sent" else 1)  # the second call was answered from the ledger
    with any_db_rt.session() as s:
        assert audit.verify(s) == []
        assert s.scalars(select(OutboxRow.attempts)).one() == 2


def test_late_result_of_a_dispatcher_that_lost_its_lease_is_dropped(rt: Runtime, clock: FakeClock) -> None:
    cid = approved_gas_shutoff(rt)
    ad = default_adapters(rt, latency=(0, 0))
    slow_claims: list[Claim] = []

    def park(where: str, c: Claim) -> None:
        if where == "claimed" and not slow_claims:
            slow_claims.append(c)
            clock.advance(CFG.lease_s + 1)
            assert dispatch_once(rt, ad, worker="fresh", cfg=CFG) == 1  # takes over meanwhile

    dispatch_once(rt, ad, worker="slow", cfg=CFG, crash=park)

    assert queries.command_view(rt, cid)["state"] == "executed"
    assert ok_results(rt, cid) == 1 and len(effects(rt)) == 1


def test_lost_reply_is_retried_and_answered_from_the_ledger(rt: Runtime, clock: FakeClock) -> None:
    cid = approved_gas_shutoff(rt)
    faults = Faults(lost_reply_rate=1.0)
    ad = default_adapters(rt, latency=(0, 0), faults=faults)

    dispatch_once(rt, ad, worker="w", cfg=CFG)
    faults.lost_reply_rate = 0.0
    clock.advance(10)
    dispatch_once(rt, ad, worker="w", cfg=CFG)

    view = queries.command_view(rt, cid)
    assert view["state"] == "executed" and view["results"][-1]["detail"]["replayed"] is True
    assert effects(rt)[0][1] == 2
