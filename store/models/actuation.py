"""Actuation tables: commands (with the version the guarded UPDATEs check), their approvals,
the outbox the dispatcher claims, each dispatch attempt's result, the simulated field systems'
idempotency ledger, and the street-lighting levels the schedules set.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from store.db import Base, str40, str80


class CommandRow(Base):
    __tablename__ = "commands"

    id: Mapped[int] = mapped_column(primary_key=True)
    type: Mapped[str40]
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    state: Mapped[str] = mapped_column(String(16), index=True)
    proposer: Mapped[str80] = mapped_column(index=True)
    proposer_role: Mapped[str40]
    approvals_needed: Mapped[int] = mapped_column(Integer)
    approver_roles: Mapped[list[str]] = mapped_column(JSON)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    expires_at: Mapped[datetime | None] = mapped_column(index=True)
    reason: Mapped[str | None] = mapped_column(Text)
    context_id: Mapped[str40]
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    version: Mapped[int] = mapped_column(Integer, default=0)
    # What caused it (migration 0006): plain ids, not foreign keys, since the alerts domain is optional.
    alert_id: Mapped[int | None] = mapped_column(Integer, index=True)
    incident_id: Mapped[int | None] = mapped_column(Integer, index=True)


class ApprovalRow(Base):
    """One person's approval. Unique per (command, person): the database refuses a second one."""

    __tablename__ = "command_approvals"

    id: Mapped[int] = mapped_column(primary_key=True)
    command_id: Mapped[int] = mapped_column(ForeignKey("commands.id"), index=True)
    user_id: Mapped[str80]
    role: Mapped[str40]
    at: Mapped[datetime]
    context_id: Mapped[str40]

    __table_args__ = (UniqueConstraint("command_id", "user_id", name="uq_approval_once_per_person"),)


class OutboxRow(Base):
    """What the dispatcher must send. One row per command (unique), written in the transaction
    of the approval that completed the command; claimed with a lease."""

    __tablename__ = "command_outbox"

    id: Mapped[int] = mapped_column(primary_key=True)
    command_id: Mapped[int] = mapped_column(ForeignKey("commands.id"), unique=True)
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True)
    type: Mapped[str40]
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    context_id: Mapped[str40]
    state: Mapped[str] = mapped_column(String(16))  # pending | claimed | done | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    available_at: Mapped[datetime]
    claimed_by: Mapped[str | None] = mapped_column(String(80))
    claimed_until: Mapped[datetime | None]
    created_at: Mapped[datetime]
    done_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_outbox_due", "state", "available_at"),)


class DispatchResultRow(Base):
    """One attempt to hand a command to its field system, and what the system reported."""

    __tablename__ = "dispatch_results"

    id: Mapped[int] = mapped_column(primary_key=True)
    command_id: Mapped[int] = mapped_column(ForeignKey("commands.id"), index=True)
    outbox_id: Mapped[int] = mapped_column(Integer)
    attempt: Mapped[int] = mapped_column(Integer)
    worker: Mapped[str80]
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime]
    ok: Mapped[bool] = mapped_column(Boolean)
    latency_ms: Mapped[float] = mapped_column(Float)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    error: Mapped[str | None] = mapped_column(Text)


class FieldLedgerRow(Base):
    """The simulated field systems' own memory of what they did, keyed by idempotency key: a
    repeated call returns the first result instead of acting twice."""

    __tablename__ = "field_ledger"

    idempotency_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    system: Mapped[str40]
    received_at: Mapped[datetime]
    result: Mapped[dict[str, Any]] = mapped_column(JSON)
    calls: Mapped[int] = mapped_column(Integer, default=1)


class LightingLevelRow(Base):
    """The level street lights of a district are at now, and which command set it."""

    __tablename__ = "lighting_levels"

    district: Mapped[str] = mapped_column(String(40), primary_key=True)
    level_pct: Mapped[int] = mapped_column(Integer)
    command_id: Mapped[int | None] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(String(16))  # profile | override | default
    since: Mapped[datetime]
