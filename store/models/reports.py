"""Handover tables: what a shift lead writes during the shift, and the two sign-offs.

A shift is keyed by its UTC start and end, not by the ``2026-11-26T07`` id, because the id
depends on the time-zone setting and the instants do not. The id is kept alongside for reading.
One sign-off per role per shift (``outgoing`` / ``incoming``) is enforced by the database; that
the two are different people is enforced by `reports.handover` (a rule, tested there).
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from store.db import Base, str40, str80


class HandoverNote(Base):
    __tablename__ = "handover_notes"

    id: Mapped[int] = mapped_column(primary_key=True)
    shift_id: Mapped[str40]
    shift_start: Mapped[datetime]
    shift_end: Mapped[datetime]
    author: Mapped[str80]
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]

    __table_args__ = (Index("ix_handover_notes_shift", "shift_start"),)


class HandoverSignoff(Base):
    __tablename__ = "handover_signoffs"

    id: Mapped[int] = mapped_column(primary_key=True)
    shift_id: Mapped[str40]
    shift_start: Mapped[datetime]
    shift_end: Mapped[datetime]
    role: Mapped[str] = mapped_column(String(16))  # outgoing | incoming
    username: Mapped[str80]
    signed_at: Mapped[datetime]
    comment: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (UniqueConstraint("shift_start", "role", name="uq_handover_signoff_role"),)
