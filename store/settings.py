"""The one settings object, read from ``CITYOPS_*`` environment variables.

Read once at the entry point (`Settings()`), then passed in: `create_app(settings)`,
`run_worker(settings)`. No module reads the environment at import, so tests build their own.
"""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def _int_from_env(value: Any) -> Any:
    """Environment variables are strings; a Literal of ints would refuse CITYOPS_ROLLUP_MINUTES=1."""
    return int(value) if isinstance(value, str) and value.strip().isdigit() else value


class Settings(BaseSettings):
    """Every knob of a CityOps process. The README's table is generated from these fields."""

    model_config = SettingsConfigDict(env_prefix="CITYOPS_", extra="ignore")

    host: str = Field("127.0.0.1", description="Address the web server binds to.")
    port: int = Field(8050, description="Port of the web server (pages, REST API, Socket.IO).")
    data_dir: Path = Field(Path("var"), description="Where the SQLite file, job store and logs go.")
    scale: Literal["demo", "seoul"] = Field("demo", description="City size: a small demo or the seed's Seoul counts.")
    city: Literal["seoul", "metr-la"] = Field("seoul", description="Which city pack to load.")
    simulator: Literal["on", "off"] = Field("on", description="Run the simulator inside `cityops run`.")
    database_url: str | None = Field(None, description="SQLAlchemy URL; unset = SQLite file under the data dir. PostgreSQL: postgresql+psycopg://user@host/db.")
    database_schema: str | None = Field(None, description="PostgreSQL schema to use (created if missing), so instances and tests can share one database.")
    redis_url: str | None = Field(None, description="Redis URL; unset = an in-process Redis (fakeredis).")
    redis_prefix: str = Field("cityops", description="Prefix of every Redis key, so several instances can share a server.")
    timezone: str = Field("Asia/Seoul", description="Time zone shown on screen and used for shifts.")
    language: Literal["ko", "en"] = Field("ko", description="Default screen language (each user may choose).")
    secret_key: str | None = Field(None, description="Flask session secret; unset = a random one kept in `<data dir>/secret_key` (mode 0600), so sign-ins survive a restart. Set it (the same value) on every web process behind a load balancer.")
    tile_url: str | None = Field(None, description="Map tile server URL template; unset = draw district boundaries only (offline).")
    retention_days: int = Field(30, ge=1, description="How long rollups of history are kept in SQL.")
    rollup_minutes: Annotated[Literal[1, 5], BeforeValidator(_int_from_env)] = Field(5, description="Width of a history rollup bucket, minutes.")
    delta_interval_s: float = Field(0.5, gt=0, description="Least time between two live deltas of one domain, seconds.")
    sim_interval_s: float = Field(10.0, gt=0, description="Seconds between two simulator ticks (each tick is one sensor interval).")
    sim_seed: int = Field(20261126, description="Seed of the simulator and the generated road network.")
    max_batch_observations: int = Field(50_000, description="Largest observation batch accepted (413 above).")
    max_batch_bytes: int = Field(16 * 1024 * 1024, description="Largest request body accepted, bytes (413 above).")
    escalation_minutes: float = Field(2.0, gt=0, description="Unacknowledged critical alerts escalate after this long.")
    approval_expiry_minutes: float = Field(15.0, gt=0, description="Default expiry of a pending approval request.")
    shifts: str = Field("07-15,15-23,23-07", description="Shift boundaries, local hours.")
    log_level: str = Field("INFO", description="Python log level.")

    @property
    def sqlalchemy_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'cityops.sqlite3').resolve()}"

    def session_secret(self) -> str:
        """The configured secret, else one generated once and kept in the data dir.

        A restart must not sign the video wall out: nobody is there to sign it back in.
        """
        if self.secret_key:
            return self.secret_key
        import os
        import secrets

        self.ensure_dirs()
        path = self.data_dir / "secret_key"
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return path.read_text(encoding="ascii").strip()
        value = secrets.token_hex(32)
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(value)
        return value

    def ensure_dirs(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
