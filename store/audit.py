"""The append-only audit log: every entry carries the SHA-256 of the one before it.

`append` is called inside the caller's transaction, so an action and its audit entry commit or
roll back together. `verify` recomputes the chain; an edited entry breaks its own hash, a deleted
one breaks the link of the next. ``prev_hash`` is unique, so two writers racing for the same tail
cannot fork the chain: one of them fails and retries.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from store.models.core import AuditEntry

GENESIS = "0" * 64


def entry_hash(prev_hash: str, at: datetime, actor: str, action: str, subject_type: str, subject_id: str, context_id: str | None, payload: dict[str, Any]) -> str:
    body = json.dumps(
        [prev_hash, at.isoformat(timespec="microseconds"), actor, action, subject_type, subject_id, context_id, payload],
        sort_keys=True, separators=(",", ":"), default=str, ensure_ascii=False,
    )
    return hashlib.sha256(body.encode()).hexdigest()


def append(session: Session, *, at: datetime, actor: str, action: str, subject_type: str, subject_id: str | int,
           payload: dict[str, Any] | None = None, context_id: str | None = None) -> AuditEntry:
    """Add one entry to the chain, in the caller's transaction."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(7391)"))  # one writer at the tail at a time
    payload = json.loads(json.dumps(payload or {}, default=str))
    prev = session.scalars(select(AuditEntry.hash).order_by(AuditEntry.seq.desc()).limit(1)).first() or GENESIS
    entry = AuditEntry(at=at, actor=actor, action=action, subject_type=subject_type, subject_id=str(subject_id),
                       context_id=context_id, payload=payload, prev_hash=prev,
                       hash=entry_hash(prev, at, actor, action, subject_type, str(subject_id), context_id, payload))
    session.add(entry)
    session.flush()
    return entry


@dataclass(frozen=True)
class ChainProblem:
    seq: int
    problem: str


def verify(session: Session) -> list[ChainProblem]:
    """Every break in the chain: an edited entry, a deleted one, or one inserted out of order."""
    problems: list[ChainProblem] = []
    prev = GENESIS
    for entry in session.scalars(select(AuditEntry).order_by(AuditEntry.seq)).yield_per(1000):
        if entry.prev_hash != prev:
            problems.append(ChainProblem(entry.seq, "link broken: an entry before it was deleted or edited"))
        expected = entry_hash(entry.prev_hash, entry.at, entry.actor, entry.action, entry.subject_type,
                              entry.subject_id, entry.context_id, entry.payload)
        if expected != entry.hash:
            problems.append(ChainProblem(entry.seq, "content changed after it was written"))
        prev = entry.hash
    return problems
