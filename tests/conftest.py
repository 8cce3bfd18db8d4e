"""Shared fixtures: settings in a temp dir, runtimes on every storage path.

Real services are used where reachable: PostgreSQL at CITYOPS_TEST_DATABASE_URL (default
postgresql+psycopg://postgres@127.0.0.1:5432/test) in a schema of its own per test, Redis at
CITYOPS_TEST_REDIS_URL (default redis://127.0.0.1:6379/0) under a key prefix of its own per test.
Tests marked `postgres` / `redis` skip, saying why, when the server is not there.
"""
from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from store.clock import FakeClock
from store.redis_store import Keys, RedisStore, connect
from store.runtime import Runtime
from store.settings import Settings

PG_URL = os.environ.get("CITYOPS_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("CITYOPS_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def _pg_reachable() -> bool:
    try:
        import psycopg

        with psycopg.connect(PG_URL.replace("postgresql+psycopg", "postgresql"), connect_timeout=2):
            return True
    except Exception:  # noqa: BLE001
        return False


def _redis_reachable() -> bool:
    try:
        import redis

        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping())
    except Exception:  # noqa: BLE001
        return False


PG_OK = _pg_reachable()
REDIS_OK = _redis_reachable()


def pytest_report_header(config: pytest.Config) -> list[str]:
    return [f"cityops real services: postgresql {'reachable' if PG_OK else 'NOT reachable (postgres tests skip)'}"
            f" at {PG_URL}; redis {'reachable' if REDIS_OK else 'NOT reachable (redis tests skip)'} at {REDIS_URL}"]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if "postgres" in item.keywords and not PG_OK:
            item.add_marker(pytest.mark.skip(reason=f"no PostgreSQL at {PG_URL}"))
        if "redis" in item.keywords and not REDIS_OK:
            item.add_marker(pytest.mark.skip(reason=f"no Redis at {REDIS_URL}"))


def _unique() -> str:
    return "t" + uuid.uuid4().hex[:12]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Embedded defaults: SQLite in a temp dir, in-process Redis."""
    return Settings(data_dir=tmp_path / "var", redis_prefix=_unique(), simulator="off", _env_file=None)  # type: ignore[call-arg]


@pytest.fixture
def rt(settings: Settings, clock: FakeClock) -> Iterator[Runtime]:
    runtime = Runtime.start(settings, clock=clock)
    yield runtime
    runtime.close()


@pytest.fixture
def pg_settings(tmp_path: Path) -> Iterator[Settings]:
    schema = _unique()
    yield Settings(data_dir=tmp_path / "var", database_url=PG_URL, database_schema=schema,
                   redis_prefix=_unique(), simulator="off")
    from sqlalchemy import create_engine, text

    eng = create_engine(PG_URL)
    with eng.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    eng.dispose()


@pytest.fixture
def redis_settings(tmp_path: Path) -> Iterator[Settings]:
    prefix = _unique()
    s = Settings(data_dir=tmp_path / "var", redis_url=REDIS_URL, redis_prefix=prefix, simulator="off")
    yield s
    client = connect(s)
    keys = list(client.scan_iter(f"{prefix}:*"))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def any_db_rt(request: pytest.FixtureRequest, tmp_path: Path, clock: FakeClock) -> Iterator[Runtime]:
    """A runtime on SQLite and, where reachable, on the real PostgreSQL."""
    if request.param == "sqlite":
        s = Settings(data_dir=tmp_path / "var", redis_prefix=_unique(), simulator="off")
    else:
        s = request.getfixturevalue("pg_settings")
    runtime = Runtime.start(s, clock=clock)
    yield runtime
    runtime.close()


@pytest.fixture(params=["fakeredis", pytest.param("redis", marks=pytest.mark.redis)])
def any_redis(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RedisStore]:
    """A RedisStore on the in-process Redis and, where reachable, on the real server."""
    if request.param == "fakeredis":
        yield RedisStore.from_settings(Settings(data_dir=tmp_path, redis_prefix=_unique()))
        return
    s = request.getfixturevalue("redis_settings")
    store = RedisStore(connect(s), Keys(s.redis_prefix))
    yield store
    store.client.close()
