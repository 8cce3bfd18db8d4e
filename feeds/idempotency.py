"""Idempotency keys for observation batches: a retried request never stores its batch twice.

A client that lost the reply to a batch cannot tell "stored" from "not stored"; with an
``Idempotency-Key`` it can simply send the same request again:

1. `claim` sets ``{p}:idem:obs:{hash of API key name and key}`` to a *pending* record with
   ``SET NX GET`` (one atomic command): the first request owns the key; a request that finds a
   pending record is told to retry later (409 ``idempotency_in_progress``), one that finds a done
   record gets its remembered answer (`Replay`), either with a different body 409
   ``idempotency_mismatch``.
2. The owner stores the batch; the *done* record (status and answer) is written in the same
   MULTI/EXEC as the batch (`feeds.ingest`), so "stored" and "remembered" happen together or not
   at all — a reply lost after EXEC is answered from the record on the retry. The owner WATCHes
   the key and checks it still holds its pending record first: if the pending record expired
   and another request claimed the key meanwhile, EXEC is refused and nothing is stored twice.
3. A failed store (`Unavailable`, or any error) `release`s the pending record (deleted only if it
   is still ours), so the client may retry at once; if Redis is down the release fails too and the
   record expires after `PENDING_TTL_S`.

Done records live `DONE_TTL_S` (24 h): a retry later than that is a new request. The body is
compared by its SHA-256 (byte for byte: a retry sends the same bytes).
"""
from __future__ import annotations

import hashlib
import logging
import uuid
from dataclasses import dataclass
from typing import Any

import orjson
import redis

from store.errors import Conflict, Unavailable, ValidationError
from store.runtime import Runtime

log = logging.getLogger(__name__)

PENDING_TTL_S = 60  # longer than a batch takes to store; bounds how long a crashed owner blocks retries
DONE_TTL_S = 24 * 3600
MAX_KEY_LEN = 200

_RELEASE_LUA = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"


@dataclass(frozen=True)
class Claim:
    """The right to store one request's batch: the Redis key and the pending record we set."""

    key: str
    pending: str
    fingerprint: str

    def done_record(self, status: int, body: Any) -> bytes:
        return orjson.dumps({"state": "done", "fp": self.fingerprint, "status": status, "body": body})


@dataclass(frozen=True)
class Replay:
    """The remembered answer of the request that stored the batch."""

    status: int
    body: Any


def check_key(raw: str) -> str:
    """The header's value if usable (1..200 visible ASCII characters); `ValidationError` otherwise."""
    if not (0 < len(raw) <= MAX_KEY_LEN) or not raw.isascii() or not raw.isprintable():
        raise ValidationError(f"Idempotency-Key must be 1 to {MAX_KEY_LEN} visible ASCII characters")
    return raw


def fingerprint(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def redis_key(rt: Runtime, scope: str, key: str) -> str:
    """Per API key (two field systems may pick the same key), hashed (any length, any character)."""
    return rt.redis.keys.key("idem", "obs", hashlib.sha256(f"{scope}\0{key}".encode()).hexdigest()[:40])


def decide(found: str | bytes, fp: str) -> Replay:
    """What a request with body fingerprint `fp` gets when the key already holds `found` (pure).

    A done record with the same fingerprint: its answer. Otherwise `Conflict`.
    """
    try:
        record = orjson.loads(found)
        state, same = record["state"], record["fp"] == fp
    except (orjson.JSONDecodeError, KeyError, TypeError):
        raise Conflict("this Idempotency-Key holds an unreadable record; use a new key",
                       key="idempotency_mismatch") from None
    if not same:
        raise Conflict("this Idempotency-Key was used with a different body; use a new key for a new batch",
                       key="idempotency_mismatch")
    if state != "done":
        raise Conflict("a request with this Idempotency-Key is being stored; retry in a few seconds",
                       key="idempotency_in_progress")
    return Replay(int(record["status"]), record["body"])


def claim(rt: Runtime, scope: str, key: str, fp: str) -> Claim | Replay:
    """Take the key for this request, or return the remembered answer; `Conflict` (409) otherwise."""
    rkey = redis_key(rt, scope, key)
    pending = orjson.dumps({"state": "pending", "fp": fp, "token": uuid.uuid4().hex}).decode()
    try:
        found = rt.redis.client.set(rkey, pending, nx=True, ex=PENDING_TTL_S, get=True)
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        log.error("idempotency claim: Redis unavailable: %s", exc)
        raise Unavailable("Redis is unavailable; nothing was stored, retry the whole batch") from exc
    if found is None:
        return Claim(rkey, pending, fp)
    return decide(found, fp)


def guard(pipe: Any, c: Claim) -> None:
    """WATCH the key on a transaction pipeline and check it still holds our pending record.

    Called before MULTI; EXEC then fails (`redis.WatchError`) if anyone touched the key since.
    """
    pipe.watch(c.key)
    if pipe.get(c.key) != c.pending:
        pipe.reset()
        raise Conflict("the claim on this Idempotency-Key expired and another request took it; retry",
                       key="idempotency_in_progress")
    pipe.multi()


def remember(pipe: Any, c: Claim, status: int, body: Any) -> None:
    """Queue the done record in the batch's MULTI."""
    pipe.set(c.key, c.done_record(status, body), ex=DONE_TTL_S)


def release(rt: Runtime, c: Claim) -> None:
    """Give the key back after a failed store (only if it still holds our pending record)."""
    try:
        rt.redis.client.eval(_RELEASE_LUA, 1, c.key, c.pending)
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        log.warning("idempotency key not released (Redis unavailable); it expires in %d s: %s", PENDING_TTL_S, exc)
