"""Migration 0002_alerts builds exactly the tables store/models/alerts.py declares, on SQLite and
PostgreSQL, and the fold key is really unique in the database."""
from __future__ import annotations

from datetime import UTC, datetime

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.exc import IntegrityError

from store.db import Base
from store.models.alerts import Alert

ALERT_TABLES = {"alerts", "alert_events", "alert_comments", "incidents"}


def test_migration_matches_the_models(any_db_rt):
    with any_db_rt.engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)

    ours = [d for d in diffs if any(f"'{t}'" in repr(d) or f"table {t}" in str(d) or f"Table('{t}'" in repr(d)
                                    for t in ALERT_TABLES)]
    assert ours == []
    assert not any(d[0] == "add_table" and d[1].name in ALERT_TABLES for d in diffs if isinstance(d, tuple))


def _alert(key: str | None) -> Alert:
    t = datetime(2026, 11, 26, 3, tzinfo=UTC)
    return Alert(fold_key=key, dedup_key="k", category="fire_smoke", severity="major", state="open", rule="cctv", source="c",
                 place="c", detail={}, count=1, first_seen=t, last_seen=t, opened_at=t, reminders=0)


def test_two_unresolved_alerts_cannot_share_a_fold_key_but_retired_ones_can(any_db_rt):
    with any_db_rt.session() as s:
        s.add_all([_alert(None), _alert(None), _alert("k")])

    with pytest.raises(IntegrityError):
        with any_db_rt.session() as s:
            s.add(_alert("k"))
