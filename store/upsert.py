"""Insert-or-update of many rows in one statement, on SQLite and PostgreSQL alike.

Both speak ``INSERT ... ON CONFLICT (keys) DO UPDATE``; SQLAlchemy spells it per dialect, so this
picks the dialect's `insert` and leaves the caller to say what an update does with the row that
is there (``table.c.col``) and the one that came in (``excluded.col``).

Rows must be unique on `keys` inside one call (PostgreSQL refuses to update a row twice in one
statement); they are sorted by key so that concurrent writers lock rows in the same order and
cannot deadlock each other.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import Table
from sqlalchemy.orm import Session

Update = Callable[[Any, Table], Mapping[str, Any]]


def upsert(session: Session, table: Table, rows: Sequence[Mapping[str, Any]], *, keys: Sequence[str],
           update: Update | Sequence[str]) -> None:
    """Insert `rows`; where a row with the same `keys` exists, apply `update` instead.

    `update` is a list of columns to overwrite with the incoming values, or a function
    ``(excluded, table) -> {column: expression}`` for merges such as ``n = n + excluded.n``.
    """
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:  # pragma: no cover - the product runs on these two
        raise NotImplementedError(f"upsert on {dialect}")
    stmt = insert(table)
    set_ = update(stmt.excluded, table) if callable(update) else {c: stmt.excluded[c] for c in update}
    stmt = stmt.on_conflict_do_update(index_elements=list(keys), set_=dict(set_))
    ordered = sorted(rows, key=lambda r: tuple(str(r[k]) for k in keys))
    for start in range(0, len(ordered), 2000):
        session.execute(stmt, ordered[start:start + 2000])
