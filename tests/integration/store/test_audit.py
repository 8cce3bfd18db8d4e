from __future__ import annotations

from sqlalchemy import update

from store import audit
from store.models.core import AuditEntry
from store.runtime import Runtime


def _write_three(rt: Runtime) -> None:
    with rt.session() as s:
        for i in range(3):
            audit.append(s, at=rt.clock.now(), actor="kim", action="alert.ack", subject_type="alert", subject_id=i, payload={"n": i})


def test_untouched_chain_verifies(any_db_rt: Runtime) -> None:
    _write_three(any_db_rt)

    with any_db_rt.session() as s:
        problems = audit.verify(s)

    assert problems == []


def test_edited_entry_is_detected(any_db_rt: Runtime) -> None:
    _write_three(any_db_rt)
    with any_db_rt.session() as s:
        s.execute(update(AuditEntry).where(AuditEntry.seq == 2).values(actor="lee"))

    with any_db_rt.session() as s:
        problems = audit.verify(s)

    assert [p.seq for p in problems] == [2]


def test_deleted_entry_is_detected(any_db_rt: Runtime) -> None:
    _write_three(any_db_rt)
    with any_db_rt.session() as s:
        s.delete(s.get(AuditEntry, 2))

    with any_db_rt.session() as s:
        problems = audit.verify(s)

    assert [p.seq for p in problems] == [3]
