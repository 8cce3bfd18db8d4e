"""Core tables: people and keys, sensors, quarantine, history rollups, QA counts, audit."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from store.db import Base, str40, str80, str200

ROLES = ("operator", "supervisor", "shift_lead", "wall", "admin")


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str80] = mapped_column(unique=True)
    password_hash: Mapped[str200]
    role: Mapped[str40]
    language: Mapped[str | None] = mapped_column(String(8))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime]


class ApiKey(Base):
    """Field systems post observations with an API key. Only a SHA-256 of the key is stored."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str80] = mapped_column(unique=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]


class Sensor(Base):
    """Anything that reports observations: a loop detector, an air station, a bridge gauge."""

    __tablename__ = "sensors"

    id: Mapped[str] = mapped_column(String(80), primary_key=True)
    kind: Mapped[str40]
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    district: Mapped[str | None] = mapped_column(String(40))
    quantities: Mapped[dict[str, Any]] = mapped_column(JSON)  # {quantity name: unit}
    interval_s: Mapped[int] = mapped_column(Integer, default=120)
    source: Mapped[str40] = mapped_column(default="api")
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    registered_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    __table_args__ = (Index("ix_sensors_kind_district", "kind", "district"),)


class QuarantinedObservation(Base):
    """A value outside physically plausible bounds: kept for review, never drawn as good."""

    __tablename__ = "quarantine"

    id: Mapped[int] = mapped_column(primary_key=True)
    sensor_id: Mapped[str] = mapped_column(String(80), index=True)
    time: Mapped[datetime]
    quantity: Mapped[str40]
    value: Mapped[float] = mapped_column(Float)
    reason: Mapped[str200]
    received_at: Mapped[datetime]
    state: Mapped[str] = mapped_column(String(16), default="held", index=True)  # held | released
    released_by: Mapped[str | None] = mapped_column(String(80))
    released_at: Mapped[datetime | None]
    release_note: Mapped[str | None] = mapped_column(Text)


class Rollup(Base):
    """One bucket of history for one entity (a sensor or a district) and one quantity."""

    __tablename__ = "rollups"

    id: Mapped[int] = mapped_column(primary_key=True)
    entity_type: Mapped[str] = mapped_column(String(16))  # sensor | district | city
    entity_id: Mapped[str80]
    quantity: Mapped[str40]
    bucket_start: Mapped[datetime]
    bucket_minutes: Mapped[int] = mapped_column(Integer)
    n: Mapped[int] = mapped_column(Integer)
    total: Mapped[float] = mapped_column(Float)
    minimum: Mapped[float] = mapped_column(Float)
    maximum: Mapped[float] = mapped_column(Float)
    flagged: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (
        UniqueConstraint("entity_type", "entity_id", "quantity", "bucket_start", name="uq_rollup_bucket"),
        Index("ix_rollups_time", "bucket_start"),
    )

    @property
    def mean(self) -> float:
        return self.total / self.n if self.n else float("nan")


class QaCount(Base):
    """Observations per QA outcome per bucket, for shift reports and /metrics history."""

    __tablename__ = "qa_counts"

    bucket_start: Mapped[datetime] = mapped_column(primary_key=True)
    outcome: Mapped[str] = mapped_column(String(16), primary_key=True)  # accepted|rejected|quarantined|flagged
    n: Mapped[int] = mapped_column(Integer, default=0)


class AuditEntry(Base):
    """Append-only audit log; each entry carries the hash of the one before it."""

    __tablename__ = "audit_log"

    seq: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime]
    actor: Mapped[str80]
    action: Mapped[str80]
    subject_type: Mapped[str40]
    subject_id: Mapped[str80]
    context_id: Mapped[str | None] = mapped_column(String(40), index=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64), unique=True)
    hash: Mapped[str] = mapped_column(String(64), unique=True)

    __table_args__ = (Index("ix_audit_subject", "subject_type", "subject_id"),)
