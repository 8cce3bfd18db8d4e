"""Shift handover: notes written during a shift, then two sign-offs (outgoing, then incoming).

The rules are pure functions of values (`check_note`, `check_signoff`), so they are tested
without a database; `add_note` and `sign` are the thin shells that load, check, write and audit
in one transaction. Who may call them (shift leads, ``handover.sign``) is checked by the entry
points, which own the roles table.

Rules:
- a note belongs to a shift that has started; once the outgoing lead has signed, the shift's
  notes are closed (what was signed is what the incoming lead read);
- the outgoing lead signs first; the incoming lead signs second and must be someone else —
  a handover with one person on both ends is not a handover.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from reports.shifts import Period
from store import audit
from store.errors import Conflict, InvalidTransition, ValidationError
from store.models.reports import HandoverNote, HandoverSignoff

MAX_NOTE = 4000
OUTGOING, INCOMING = "outgoing", "incoming"
SIGN_ROLES = (OUTGOING, INCOMING)


@dataclass(frozen=True)
class Signature:
    role: str
    username: str
    signed_at: datetime


def _require_shift(period: Period) -> str:
    if period.shift_id is None:
        raise ValidationError("handover notes and sign-offs belong to a shift, not to an arbitrary range")
    return period.shift_id


def check_note(text: str, period: Period, now: datetime, signatures: list[Signature]) -> str:
    """The cleaned note text, or the reason it cannot be written."""
    _require_shift(period)
    cleaned = (text or "").strip()
    if not cleaned:
        raise ValidationError("a handover note needs some text")
    if len(cleaned) > MAX_NOTE:
        raise ValidationError(f"a handover note holds at most {MAX_NOTE} characters")
    if now < period.start:
        raise InvalidTransition("this shift has not started yet; notes are written during the shift")
    if any(s.role == OUTGOING for s in signatures):
        raise InvalidTransition("the outgoing lead has signed this handover; its notes are closed")
    return cleaned


def check_signoff(role: str, username: str, period: Period, now: datetime, signatures: list[Signature]) -> None:
    """Raise unless `username` may sign the handover of `period` as `role` now."""
    _require_shift(period)
    if role not in SIGN_ROLES:
        raise ValidationError(f"sign as one of {', '.join(SIGN_ROLES)}, not {role!r}")
    if not username:
        raise ValidationError("a sign-off needs a signer")
    if now < period.start:
        raise InvalidTransition("this shift has not started yet")
    by_role = {s.role: s for s in signatures}
    if role in by_role:
        raise Conflict(f"the {role} lead has already signed ({by_role[role].username})")
    if role == INCOMING:
        out = by_role.get(OUTGOING)
        if out is None:
            raise InvalidTransition("the outgoing lead signs first")
        if out.username == username:
            raise InvalidTransition("the incoming lead must be a different person from the outgoing lead")


def signatures(session: Session, period: Period) -> list[Signature]:
    rows = session.scalars(select(HandoverSignoff).where(HandoverSignoff.shift_start == period.start)
                           .order_by(HandoverSignoff.signed_at)).all()
    return [Signature(r.role, r.username, r.signed_at) for r in rows]


def notes(session: Session, period: Period) -> list[HandoverNote]:
    """Notes of every shift that starts inside `period` (one for a shift, several for a range)."""
    return list(session.scalars(select(HandoverNote)
                                .where(HandoverNote.shift_start >= period.start, HandoverNote.shift_start < period.end)
                                .order_by(HandoverNote.created_at, HandoverNote.id)).all())


def signoffs(session: Session, period: Period) -> list[HandoverSignoff]:
    return list(session.scalars(select(HandoverSignoff)
                                .where(HandoverSignoff.shift_start >= period.start, HandoverSignoff.shift_start < period.end)
                                .order_by(HandoverSignoff.signed_at, HandoverSignoff.id)).all())


def add_note(session: Session, period: Period, author: str, text: str, *, now: datetime,
             context_id: str | None = None) -> HandoverNote:
    """Write a note on the shift's handover, audited in the same transaction."""
    shift_id = _require_shift(period)
    cleaned = check_note(text, period, now, signatures(session, period))
    note = HandoverNote(shift_id=shift_id, shift_start=period.start, shift_end=period.end, author=author,
                        text=cleaned, created_at=now)
    session.add(note)
    session.flush()
    audit.append(session, at=now, actor=author, action="handover.note", subject_type="shift", subject_id=shift_id,
                 payload={"note_id": note.id, "text": cleaned, "shift_start": period.start.isoformat()},
                 context_id=context_id)
    return note


def sign(session: Session, period: Period, role: str, username: str, *, now: datetime, comment: str | None = None,
         context_id: str | None = None) -> HandoverSignoff:
    """Sign the handover as the outgoing or incoming lead, audited in the same transaction."""
    shift_id = _require_shift(period)
    check_signoff(role, username, period, now, signatures(session, period))
    row = HandoverSignoff(shift_id=shift_id, shift_start=period.start, shift_end=period.end, role=role,
                          username=username, signed_at=now, comment=(comment or "").strip() or None)
    session.add(row)
    try:
        session.flush()
    except IntegrityError:  # another lead signed the same role a moment before
        raise Conflict(f"the {role} lead has already signed") from None
    audit.append(session, at=now, actor=username, action=f"handover.sign.{role}", subject_type="shift",
                 subject_id=shift_id, payload={"shift_start": period.start.isoformat(), "comment": row.comment},
                 context_id=context_id)
    return row
