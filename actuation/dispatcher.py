"""The outbox dispatcher: the only reader of `command_outbox`.

    claim (lease) → send to the field system with the row's idempotency key → record the result

* Claiming is one transaction: due rows are picked with ``FOR UPDATE SKIP LOCKED`` on
  PostgreSQL, and each is taken with a guarded UPDATE (``… WHERE id = :id AND (pending and due,
  or claimed with an expired lease)``) — on SQLite, whose writers are serialised, that guard alone
  is the safe equivalent. The command moves to `dispatching` in the same transaction.
* A crash anywhere leaves either an unclaimed row or a claimed one whose lease runs out; the next
  dispatcher re-claims it and sends again with the SAME key, and the field system, keyed by it,
  returns its first result instead of acting twice. Nothing is lost, nothing is doubled.
* Recording is guarded by the claim (``claimed_by = me``): a dispatcher that lost its lease
  drops its result instead of overwriting a newer one. Failures retry with exponential backoff
  up to `max_attempts`, then the command is `failed`.
"""
from __future__ import annotations

import logging
import os
import random
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import and_, or_, select, update

from actuation.model import Context
from actuation.service import publish_state
from actuation.uow import UnitOfWork
from store import audit
from store.models.actuation import DispatchResultRow, OutboxRow
from store.runtime import Runtime

log = logging.getLogger(__name__)


class Adapter(Protocol):
    def send(self, key: str, payload: dict[str, Any]) -> dict[str, Any]: ...


@dataclass(frozen=True)
class DispatcherConfig:
    lease_s: float = 30.0
    batch: int = 16
    concurrency: int = 8
    poll_s: float = 0.05
    max_attempts: int = 5
    backoff_base_s: float = 1.0
    backoff_max_s: float = 60.0


@dataclass(frozen=True)
class Claim:
    outbox_id: int
    command_id: int
    key: str
    type: str
    payload: dict[str, Any]
    attempt: int
    context_id: str


def backoff_s(attempt: int, cfg: DispatcherConfig, rng: random.Random | None = None) -> float:
    """Exponential backoff with jitter: base·2^(n-1), capped, times a factor in [0.5, 1]."""
    raw = min(cfg.backoff_max_s, cfg.backoff_base_s * 2 ** max(attempt - 1, 0))
    return raw * (0.5 + 0.5 * (rng or random).random())


def _due(now: datetime) -> Any:
    return or_(and_(OutboxRow.state == "pending", OutboxRow.available_at <= now),
               and_(OutboxRow.state == "claimed", OutboxRow.claimed_until < now))


def claim(rt: Runtime, worker: str, cfg: DispatcherConfig) -> list[Claim]:
    """Take up to `cfg.batch` due rows for `worker`, with a lease, in one transaction."""
    now = rt.clock.now()
    claims: list[Claim] = []
    with UnitOfWork(rt) as uow:
        s = uow.session
        stmt = select(OutboxRow.id).where(_due(now)).order_by(OutboxRow.id).limit(cfg.batch)
        if s.get_bind().dialect.name == "postgresql":
            stmt = stmt.with_for_update(skip_locked=True)
        for oid in s.scalars(stmt).all():
            taken = s.execute(update(OutboxRow).where(OutboxRow.id == oid, _due(now)).values(
                state="claimed", claimed_by=worker, claimed_until=now + timedelta(seconds=cfg.lease_s),
                attempts=OutboxRow.attempts + 1).execution_options(synchronize_session=False))
            if taken.rowcount != 1:
                continue  # another dispatcher got it first
            row = s.get(OutboxRow, oid, populate_existing=True)
            assert row is not None
            claims.append(Claim(row.id, row.command_id, row.idempotency_key, row.type, row.payload, row.attempts, row.context_id))
            cmd = uow.commands.get(row.command_id)
            cmd.start_dispatch(Context(user_id=f"dispatcher:{worker}", parent_id=row.context_id), now, row.attempts)
        if claims:
            uow.commit()
    return claims


def record(rt: Runtime, c: Claim, worker: str, cfg: DispatcherConfig, *, ok: bool, result: dict[str, Any] | None,
           error: str | None, started: datetime, latency_ms: float) -> bool:
    """Store the outcome of one attempt; False when the lease was lost (the result is dropped)."""
    now = rt.clock.now()
    ctx = Context(user_id=f"dispatcher:{worker}", parent_id=c.context_id)
    final_failure = not ok and c.attempt >= cfg.max_attempts
    if ok:
        values: dict[str, Any] = {"state": "done", "done_at": now, "claimed_until": None, "last_error": None}
    elif final_failure:
        values = {"state": "failed", "done_at": now, "claimed_until": None, "last_error": error}
    else:
        values = {"state": "pending", "claimed_by": None, "claimed_until": None, "last_error": error,
                  "available_at": now + timedelta(seconds=backoff_s(c.attempt, cfg))}
    with UnitOfWork(rt) as uow:
        s = uow.session
        kept = s.execute(update(OutboxRow).where(OutboxRow.id == c.outbox_id, OutboxRow.claimed_by == worker,
                                                 OutboxRow.state == "claimed", OutboxRow.attempts == c.attempt)
                         .values(**values).execution_options(synchronize_session=False))
        if kept.rowcount != 1:
            log.warning("outbox %s: lease lost by %s; result dropped (the new holder resends with the same key)", c.outbox_id, worker)
            return False
        s.add(DispatchResultRow(command_id=c.command_id, outbox_id=c.outbox_id, attempt=c.attempt, worker=worker,
                                started_at=started, finished_at=now, ok=ok, latency_ms=latency_ms,
                                detail=result or {}, error=error))
        if ok or final_failure:
            cmd = uow.commands.get(c.command_id)
            if ok:
                cmd.executed(ctx, now, result or {})
            else:
                cmd.failed(ctx, now, error or "failed")
        else:
            audit.append(s, at=now, actor=ctx.user_id, action="command.dispatch_retry", subject_type="command",
                         subject_id=c.command_id, payload={"attempt": c.attempt, "error": error, "parent_id": c.context_id}, context_id=ctx.id)
        uow.commit()
    publish_state(rt, c.command_id, "executed" if ok else ("failed" if final_failure else "dispatching"), c.type)
    return True


def _send(rt: Runtime, c: Claim, adapters: dict[str, Adapter], worker: str, cfg: DispatcherConfig,
          crash: Callable[[str, Claim], None] | None) -> None:
    if crash:
        crash("claimed", c)
    started, t0 = rt.clock.now(), time.perf_counter()
    try:
        result, error, ok = adapters[c.type].send(c.key, c.payload), None, True
    except Exception as exc:  # noqa: BLE001 - any adapter failure is a failed attempt
        result, error, ok = None, f"{type(exc).__name__}: {exc}", False
        log.warning("dispatch of command %s attempt %s failed: %s", c.command_id, c.attempt, error)
    latency_ms = (time.perf_counter() - t0) * 1000
    if crash:
        crash("sent", c)
    record(rt, c, worker, cfg, ok=ok, result=result, error=error, started=started, latency_ms=latency_ms)


def dispatch_once(rt: Runtime, adapters: dict[str, Adapter], *, worker: str, cfg: DispatcherConfig = DispatcherConfig(),
                  pool: ThreadPoolExecutor | None = None, crash: Callable[[str, Claim], None] | None = None) -> int:
    """Claim a batch and send it (in parallel when a pool is given). Returns how many were claimed."""
    claims = claim(rt, worker, cfg)
    if pool is None:
        for c in claims:
            _send(rt, c, adapters, worker, cfg, crash)
    else:
        for f in [pool.submit(_send, rt, c, adapters, worker, cfg, crash) for c in claims]:
            f.result()
    return len(claims)


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident() % 100000}"


def run_dispatcher(rt: Runtime, stop: threading.Event, *, adapters: dict[str, Adapter] | None = None,
                   cfg: DispatcherConfig | None = None, crash: Callable[[str, Claim], None] | None = None) -> None:
    """Service ``dispatcher``: claim while sends are in flight (up to `concurrency` at once), so
    a slow field system never delays the next command; sleep `poll_s` only when nothing was due."""
    from actuation.adapters import default_adapters

    cfg = cfg or DispatcherConfig()
    adapters = adapters or default_adapters(rt)  # type: ignore[assignment]
    name = worker_name()
    log.info("dispatcher %s started (lease %.0f s, batch %d, concurrency %d)", name, cfg.lease_s, cfg.batch, cfg.concurrency)
    in_flight: set[Future[None]] = set()
    with ThreadPoolExecutor(max_workers=cfg.concurrency, thread_name_prefix="dispatch") as pool:
        while not stop.is_set():
            in_flight = {f for f in in_flight if not f.done()}
            room = cfg.concurrency - len(in_flight)
            if room <= 0:
                wait(in_flight, timeout=cfg.poll_s, return_when=FIRST_COMPLETED)
                continue
            try:
                claims = claim(rt, name, replace(cfg, batch=min(cfg.batch, room)))
            except Exception:  # noqa: BLE001 - a database blip must not kill the loop
                log.exception("dispatcher claim failed; retrying")
                claims = []
                stop.wait(1)
            for c in claims:
                in_flight.add(pool.submit(_send_logged, rt, c, adapters, name, cfg, crash))  # type: ignore[arg-type]
            if not claims:
                stop.wait(cfg.poll_s)
        wait(in_flight, timeout=cfg.lease_s)


def _send_logged(rt: Runtime, c: Claim, adapters: dict[str, Adapter], worker: str, cfg: DispatcherConfig,
                 crash: Callable[[str, Claim], None] | None) -> None:
    try:
        _send(rt, c, adapters, worker, cfg, crash)
    except Exception:  # noqa: BLE001 - the lease runs out and another pass resends with the same key
        log.exception("dispatch of command %s attempt %s could not be recorded", c.command_id, c.attempt)
