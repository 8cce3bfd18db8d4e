"""Alembic environment: runs on the connection `store.db.migrate` hands over."""
from __future__ import annotations

from alembic import context

import store.models  # noqa: F401  (registers every table on Base.metadata)
from store.db import Base

connection = context.config.attributes.get("connection")
if connection is None:  # `alembic` CLI use: build an engine from the settings.
    from store.db import make_engine
    from store.settings import Settings

    engine = make_engine(Settings())
    with engine.begin() as connection:
        context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
else:
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
