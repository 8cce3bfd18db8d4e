"""Real processes on the real PostgreSQL (and the SQLite file, whose guarded UPDATEs stand in
for SKIP LOCKED): racing approvals, two dispatchers, and a dispatcher killed (os._exit) after
claiming or after acting, resumed by another process."""
from __future__ import annotations

import multiprocessing as mp
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from actuation import service
from actuation.adapters import default_adapters
from actuation.dispatcher import Claim, DispatcherConfig, run_dispatcher
from actuation.model import ApproveCommand, Context, ProposeCommand
from actuation.samples import example_params
from store.models.actuation import ApprovalRow, CommandRow, DispatchResultRow, FieldLedgerRow, OutboxRow
from store.runtime import Runtime
from store.settings import Settings

CTX = mp.get_context("spawn")


def _approve(settings: Settings, cid: int, user: str, barrier: mp.Barrier, out: mp.Queue) -> None:
    rt = Runtime.start(settings, run_migrations=False)
    barrier.wait()
    try:
        service.approve(rt, ApproveCommand(cid, "supervisor", Context(user)))
        out.put((user, "ok"))
    except Exception as exc:  # noqa: BLE001
        out.put((user, type(exc).__name__))
    rt.close()


def _dispatch(settings: Settings, seconds: float, lease_s: float, die_at: str | None) -> None:
    rt = Runtime.start(settings, run_migrations=False)
    stop = threading.Event()

    def crash(where: str, c: Claim) -> None:
        if where == die_at:
            os._exit(9)  # the process dies here: no cleanup, no rollback handlers

    threading.Timer(seconds, stop.set).start()
    run_dispatcher(rt, stop, adapters=default_adapters(rt, latency=(0.005, 0.02)),  # type: ignore[arg-type]
                   cfg=DispatcherConfig(lease_s=lease_s, poll_s=0.02), crash=crash if die_at else None)
    rt.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    if request.param == "sqlite":
        return Settings(data_dir=tmp_path / "var", simulator="off", _env_file=None)  # type: ignore[call-arg]
    return request.getfixturevalue("pg_settings")


@pytest.fixture
def db_rt(db_settings: Settings) -> Iterator[Runtime]:
    rt = Runtime.start(db_settings)
    yield rt
    rt.close()


def _count(rt: Runtime, model: type, *where: object) -> int:
    with rt.session() as s:
        return s.scalar(select(func.count()).select_from(model).where(*where)) or 0


def test_two_concurrent_approvals_and_two_dispatchers_make_exactly_one_dispatch(db_rt: Runtime, db_settings: Settings) -> None:
    cid = service.propose(db_rt, ProposeCommand("emergency_alert", example_params("emergency_alert", db_rt.clock.now()),
                                                "operator", Context("op1")))["id"]
    others = [service.propose(db_rt, ProposeCommand("signal_timing", example_params("signal_timing", db_rt.clock.now()),
                                                    "operator", Context("op1")))["id"] for _ in range(20)]
    barrier, out = CTX.Barrier(2), CTX.Queue()
    approvers = [CTX.Process(target=_approve, args=(db_settings, cid, u, barrier, out)) for u in ("sup1", "sup2")]
    for p in approvers:
        p.start()
    for p in approvers:
        p.join(60)
    outcomes = sorted(out.get(timeout=5)[1] for _ in approvers)

    dispatchers = [CTX.Process(target=_dispatch, args=(db_settings, 6.0, 30.0, None)) for _ in range(2)]
    for p in dispatchers:
        p.start()
    for p in dispatchers:
        p.join(60)

    assert outcomes[-1] == "ok" and outcomes.count("ok") == 1  # the other lost: Conflict or InvalidTransition
    assert _count(db_rt, ApprovalRow, ApprovalRow.command_id == cid) == 1
    assert _count(db_rt, OutboxRow) == 21
    assert _count(db_rt, CommandRow, CommandRow.state == "executed") == 21
    assert _count(db_rt, FieldLedgerRow) == 21 and _count(db_rt, FieldLedgerRow, FieldLedgerRow.calls > 1) == 0
    assert _count(db_rt, DispatchResultRow, DispatchResultRow.ok) == 21
    assert len(others) == 20


@pytest.mark.parametrize("die_at", ["claimed", "sent"])
def test_dispatcher_killed_after_claiming_is_resumed_by_another_process(db_rt: Runtime, db_settings: Settings, die_at: str) -> None:
    cid = service.propose(db_rt, ProposeCommand("gas_shutoff", example_params("gas_shutoff", db_rt.clock.now()), "operator", Context("op1")))["id"]
    service.approve(db_rt, ApproveCommand(cid, "supervisor", Context("sup1")))
    service.approve(db_rt, ApproveCommand(cid, "shift_lead", Context("lead1")))

    doomed = CTX.Process(target=_dispatch, args=(db_settings, 10.0, 1.5, die_at))
    doomed.start()
    doomed.join(60)
    assert doomed.exitcode == 9
    with db_rt.session() as s:
        assert s.scalars(select(OutboxRow.state)).one() == "claimed"
    time.sleep(1.6)  # the dead one's lease runs out
    heir = CTX.Process(target=_dispatch, args=(db_settings, 3.0, 30.0, None))
    heir.start()
    heir.join(60)

    assert _count(db_rt, CommandRow, CommandRow.state == "executed") == 1
    assert _count(db_rt, DispatchResultRow, DispatchResultRow.ok) == 1
    with db_rt.session() as s:
        ledger = s.scalars(select(FieldLedgerRow)).all()
    assert len(ledger) == 1 and ledger[0].calls == (2 if die_at == "sent" else 1)
