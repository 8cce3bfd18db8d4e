"""Alert tables: alerts, their history and comments, and incidents that group them.

Dedup is enforced by the database, not by hope: ``fold_key`` is unique and set while an alert can
still absorb repeats (not resolved, last seen within the dedup window). Two workers racing to open
the same alert both try the insert; the loser's unique violation sends it back to fold instead.
A retired or resolved alert has ``fold_key`` NULL (NULLs never collide).
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from store.db import Base, str40, str80


class Incident(Base):
    """Related alerts close in space and time, handled as one."""

    __tablename__ = "incidents"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str | None] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(String(16), default="open", index=True)  # open | resolved
    family: Mapped[str | None] = mapped_column(String(40))
    group_hint: Mapped[str | None] = mapped_column(String(200), unique=True)  # e.g. the head link of a traffic jam
    district: Mapped[str | None] = mapped_column(String(40))
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    opened_at: Mapped[datetime]
    opened_by: Mapped[str80]
    last_seen: Mapped[datetime]
    resolved_at: Mapped[datetime | None]
    resolved_by: Mapped[str | None] = mapped_column(String(80))
    verdict: Mapped[str | None] = mapped_column(String(20))


class Alert(Base):
    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(primary_key=True)
    fold_key: Mapped[str | None] = mapped_column(String(300), unique=True)
    dedup_key: Mapped[str] = mapped_column(String(300), index=True)
    category: Mapped[str40]
    severity: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16), default="open")
    rule: Mapped[str40]
    source: Mapped[str80]
    place: Mapped[str80]
    district: Mapped[str | None] = mapped_column(String(40))
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # the readings that raised it
    count: Mapped[int] = mapped_column(Integer, default=1)
    first_seen: Mapped[datetime]
    last_seen: Mapped[datetime]
    opened_at: Mapped[datetime]
    critical_since: Mapped[datetime | None]
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by: Mapped[str | None] = mapped_column(String(80))
    assignee: Mapped[str | None] = mapped_column(String(80))
    resolved_at: Mapped[datetime | None]
    resolved_by: Mapped[str | None] = mapped_column(String(80))
    verdict: Mapped[str | None] = mapped_column(String(20))
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id"), index=True)
    escalated_at: Mapped[datetime | None]
    reminders: Mapped[int] = mapped_column(Integer, default=0)
    last_reminder_at: Mapped[datetime | None]
    version: Mapped[int] = mapped_column(Integer, default=1)

    __table_args__ = (
        Index("ix_alerts_state_severity", "state", "severity"),
        Index("ix_alerts_category_resolved", "category", "resolved_at"),
        Index("ix_alerts_last_seen", "last_seen"),
    )
    # Optimistic concurrency: two people acknowledging at once → one wins, the other gets 409.
    __mapper_args__ = {"version_id_col": version}


class AlertEvent(Base):
    """The history of one alert: opened, folded, acknowledged, assigned, escalated, resolved..."""

    __tablename__ = "alert_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id"), index=True)
    at: Mapped[datetime]
    actor: Mapped[str80]
    kind: Mapped[str40]
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class AlertComment(Base):
    __tablename__ = "alert_comments"

    id: Mapped[int] = mapped_column(primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id"), index=True)
    at: Mapped[datetime]
    author: Mapped[str80]
    text: Mapped[str] = mapped_column(Text)
