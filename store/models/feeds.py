"""Feeds tables: which stream entries the rollup worker has already folded into ``rollups``."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from store.db import Base


class RollupEntry(Base):
    """A stream entry whose values are in the rollups, written in the same transaction.

    A worker that committed and died before acknowledging the entry leaves it pending; whoever
    re-claims it finds it here and only acknowledges it, so history counts each value once.
    """

    __tablename__ = "rollup_entries"

    stream: Mapped[str] = mapped_column(String(40), primary_key=True)  # the domain
    entry_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    applied_at: Mapped[datetime]

    __table_args__ = (Index("ix_rollup_entries_applied", "applied_at"),)
