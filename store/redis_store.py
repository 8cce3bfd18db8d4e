"""The Redis layer: key layout, latest state per entity, one stream per domain, coalesced deltas.

An in-process Redis (fakeredis) when ``CITYOPS_REDIS_URL`` is unset, a real server otherwise;
both speak the same commands, so every caller is written once.

Layout (``{p}`` is ``CITYOPS_REDIS_PREFIX``):
    {p}:latest:{domain}      hash  entity id -> JSON {"t": iso time, "v": {q: value}, "qa": {q: status}[, "tq"]}
                             (sensor domains written only through feeds.latest: never backwards)
    {p}:stream:{domain}      stream of ingested batches, read by consumer groups
    {p}:delta:{domain}       pub/sub channel of coalesced deltas (JSON)
    {p}:feeds                hash  domain -> unix time of its last data (staleness)
    {p}:idem:obs:{hash}      string an Idempotency-Key's pending or done record (feeds.idempotency)
"""
from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import fakeredis
import redis
from redis.exceptions import ResponseError

from store.errors import Unavailable
from store.settings import Settings

log = logging.getLogger(__name__)

DOMAINS = ("traffic", "air", "bus", "infra", "cctv", "alerts", "commands")


def connect(settings: Settings) -> redis.Redis:
    """A client for the configured Redis; each call without a URL makes a new in-process server."""
    if settings.redis_url:
        return redis.Redis.from_url(settings.redis_url, decode_responses=True, health_check_interval=30)
    return fakeredis.FakeRedis(server=fakeredis.FakeServer(), decode_responses=True)


@dataclass(frozen=True)
class Keys:
    prefix: str

    def latest(self, domain: str) -> str:
        return f"{self.prefix}:latest:{domain}"

    def stream(self, domain: str) -> str:
        return f"{self.prefix}:stream:{domain}"

    def channel(self, domain: str) -> str:
        return f"{self.prefix}:delta:{domain}"

    @property
    def feeds(self) -> str:
        return f"{self.prefix}:feeds"

    def key(self, *parts: str) -> str:
        """Any other key of the product, still under the prefix."""
        return ":".join((self.prefix, *parts))


def _guard(fn: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            log.error("redis unavailable in %s: %s", fn.__name__, exc)
            raise Unavailable("Redis is unavailable") from exc

    wrapper.__name__ = fn.__name__
    wrapper.__doc__ = fn.__doc__
    return wrapper


@dataclass
class RedisStore:
    """Thin I/O over one Redis client; everything that touches Redis goes through here."""

    client: redis.Redis
    keys: Keys

    @classmethod
    def from_settings(cls, settings: Settings) -> RedisStore:
        return cls(connect(settings), Keys(settings.redis_prefix))

    # -- latest state ----------------------------------------------------------------------
    @_guard
    def set_latest(self, domain: str, states: Mapping[str, Mapping[str, Any]], *, pipe: Any = None) -> None:
        if not states:
            return
        target = pipe if pipe is not None else self.client
        target.hset(self.keys.latest(domain), mapping={k: json.dumps(v, separators=(",", ":")) for k, v in states.items()})

    @_guard
    def get_latest(self, domain: str, entity_id: str) -> dict[str, Any] | None:
        raw = self.client.hget(self.keys.latest(domain), entity_id)
        return json.loads(raw) if raw else None

    @_guard
    def all_latest(self, domain: str) -> dict[str, dict[str, Any]]:
        raw = self.client.hgetall(self.keys.latest(domain))
        return {k: json.loads(v) for k, v in raw.items()}

    # -- feed heartbeats -------------------------------------------------------------------
    @_guard
    def touch_feed(self, domain: str, at: float | None = None, *, pipe: Any = None) -> None:
        target = pipe if pipe is not None else self.client
        target.hset(self.keys.feeds, domain, at if at is not None else time.time())

    @_guard
    def feed_times(self) -> dict[str, float]:
        return {k: float(v) for k, v in self.client.hgetall(self.keys.feeds).items()}

    # -- streams ---------------------------------------------------------------------------
    @_guard
    def append(self, domain: str, fields: Mapping[str, str], *, maxlen: int | None = 1_000_000, pipe: Any = None) -> Any:
        target = pipe if pipe is not None else self.client
        return target.xadd(self.keys.stream(domain), dict(fields), maxlen=maxlen, approximate=True)

    @_guard
    def ensure_group(self, domain: str, group: str) -> None:
        try:
            self.client.xgroup_create(self.keys.stream(domain), group, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    @_guard
    def read_group(self, domain: str, group: str, consumer: str, *, count: int = 100, block_ms: int | None = 1000) -> list[tuple[str, dict[str, str]]]:
        resp = self.client.xreadgroup(group, consumer, {self.keys.stream(domain): ">"}, count=count, block=block_ms)
        if not resp:
            return []
        return [(entry_id, fields) for _stream, entries in resp for entry_id, fields in entries]

    @_guard
    def ack(self, domain: str, group: str, *entry_ids: str) -> int:
        return int(self.client.xack(self.keys.stream(domain), group, *entry_ids)) if entry_ids else 0

    @_guard
    def claim_stale(self, domain: str, group: str, consumer: str, *, min_idle_ms: int = 30_000, count: int = 100) -> list[tuple[str, dict[str, str]]]:
        """Take over entries another consumer read but never acknowledged (it crashed)."""
        resp = self.client.xautoclaim(self.keys.stream(domain), group, consumer, min_idle_ms, start_id="0-0", count=count)
        entries = resp[1] if resp else []
        return [(entry_id, fields) for entry_id, fields in entries if fields is not None]

    @_guard
    def pending_count(self, domain: str, group: str) -> int:
        info = self.client.xpending(self.keys.stream(domain), group)
        return int(info["pending"]) if info else 0

    # -- pub/sub ---------------------------------------------------------------------------
    @_guard
    def publish(self, domain: str, payload: Mapping[str, Any]) -> int:
        return int(self.client.publish(self.keys.channel(domain), json.dumps(payload, separators=(",", ":"))))

    def subscribe(self, domains: Iterable[str]) -> Any:
        ps = self.client.pubsub(ignore_subscribe_messages=True)
        ps.subscribe(*(self.keys.channel(d) for d in domains))
        return ps

    def domain_of_channel(self, channel: str) -> str:
        return channel.rsplit(":", 1)[-1]


@dataclass
class DeltaCoalescer:
    """Collects what changed per domain and publishes it at most every `interval_s` per domain.

    Later values of one entity replace earlier ones inside a window, so a page receives the
    newest state of each changed entity once, not every intermediate reading.
    """

    store: RedisStore
    interval_s: float = 0.5
    clock: Callable[[], float] = time.monotonic
    _pending: dict[str, dict[str, Any]] = field(default_factory=dict)
    _last_sent: dict[str, float] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, domain: str, changes: Mapping[str, Any]) -> None:
        with self._lock:
            self._pending.setdefault(domain, {}).update(changes)

    def flush(self, *, force: bool = False) -> dict[str, int]:
        """Publish every domain whose window has passed; returns entities sent per domain."""
        now = self.clock()
        due: dict[str, dict[str, Any]] = {}
        with self._lock:
            for domain, changes in list(self._pending.items()):
                if not changes:
                    continue
                if force or now - self._last_sent.get(domain, -1e18) >= self.interval_s:
                    due[domain] = changes
                    self._pending[domain] = {}
                    self._last_sent[domain] = now
        for domain, changes in due.items():
            try:
                self.store.publish(domain, {"domain": domain, "sent_at": time.time(), "changes": changes})
            except Unavailable:
                with self._lock:  # keep them: newer values that arrived meanwhile win
                    self._pending[domain] = {**changes, **self._pending.get(domain, {})}
                raise
        return {d: len(c) for d, c in due.items()}

    def run_forever(self, stop: threading.Event) -> None:
        tick = min(0.1, self.interval_s / 5)
        while not stop.is_set():
            try:
                self.flush()
            except Unavailable:
                pass  # logged by the guard; keep the pending changes for the next window
            stop.wait(tick)
