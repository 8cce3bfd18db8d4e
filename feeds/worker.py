"""Background services of feeds: the rollup worker and the live-delta publisher.

`run_worker` reads the domain streams (traffic, air, infra) in consumer group ``rollup`` and
folds accepted values (qa ok, flagged or released; quarantined values never reach the stream)
into the SQL ``rollups`` table, per sensor, per district and city-wide, in buckets of
`settings.rollup_minutes`. Delivery is exactly once into history:

- entries are acknowledged only after the SQL transaction that applied them committed;
- the same transaction records each applied entry in ``rollup_entries`` by the digest of its
  content (``sha:`` + BLAKE2b-128 of the ``batch`` field; entry ids recorded before that are still
  recognised); an entry that comes round again (a worker committed, then died before
  acknowledging) is skipped, and so is a byte-identical entry under another id (a batch stored
  twice because a retry without an Idempotency-Key followed a lost reply: the same observations,
  same times, same values); two workers racing on one entry cannot both commit it (primary key),
  the loser rolls back and retries;
- on start and every `CLAIM_EVERY_S`, a worker takes over entries another consumer read but left
  unacknowledged for `CLAIM_IDLE_MS` (it died), with XAUTOCLAIM.

Malformed entries are logged and acknowledged (poison messages must not block the group).
Rollups and applied-entry records older than `settings.retention_days` are deleted hourly.
"""
from __future__ import annotations

import hashlib
import logging
import os
import socket
import threading
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import orjson
import redis
from sqlalchemy import case, delete, select
from sqlalchemy.exc import IntegrityError

from feeds.qa import FLAGGED, OK, RELEASED
from store.errors import Unavailable
from store.models.core import Rollup
from store.models.feeds import RollupEntry
from store.runtime import Runtime
from store.upsert import upsert

log = logging.getLogger(__name__)

GROUP = "rollup"
DOMAINS = ("traffic", "air", "infra")  # the streams whose entries carry observation batches
GOOD = frozenset({OK, FLAGGED, RELEASED})
CLAIM_IDLE_MS = 60_000
CLAIM_EVERY_S = 30.0
PRUNE_EVERY_S = 3600.0
READ_COUNT = 50  # entries per read; an entry holds up to feeds.ingest.STREAM_CHUNK observations

BucketKey = tuple[str, str, str, datetime]  # entity type, entity id, quantity, bucket start


@dataclass
class Agg:
    n: int
    total: float
    minimum: float
    maximum: float
    flagged: int

    def add(self, v: float, flagged: bool) -> None:
        self.n += 1
        self.total += v
        if v < self.minimum:
            self.minimum = v
        if v > self.maximum:
            self.maximum = v
        if flagged:
            self.flagged += 1


def bucket_start(t: datetime, minutes: int) -> datetime:
    return t.replace(minute=t.minute - t.minute % minutes, second=0, microsecond=0)


def aggregate(items: Iterable[dict], minutes: int, city: str) -> dict[BucketKey, Agg]:
    """Fold stream items into buckets per sensor, per district and city-wide (pure).

    Values whose qa is not ok/flagged/released are left out; a value that is not a number is
    left out too (ingest never writes one, but a stream is an interface other writers share).
    """
    out: dict[BucketKey, Agg] = {}
    starts: dict[str, datetime] = {}
    for item in items:
        raw_t = item["time"]
        start = starts.get(raw_t)
        if start is None:
            start = starts[raw_t] = bucket_start(datetime.fromisoformat(raw_t), minutes)
        qa = item.get("qa") or {}
        sid, district = item["sensor_id"], item.get("district")
        for q, v in item["values"].items():
            status = qa.get(q, OK)
            if status not in GOOD or type(v) not in (int, float):
                continue
            flagged = status == FLAGGED
            keys = [("sensor", sid, q, start), ("city", city, q, start)]
            if district:
                keys.append(("district", district, q, start))
            for key in keys:
                agg = out.get(key)
                if agg is None:
                    out[key] = Agg(1, float(v), float(v), float(v), int(flagged))
                else:
                    agg.add(float(v), flagged)
    return out


def _decode(entries: Sequence[tuple[str, dict[str, str]]]) -> tuple[dict[str, list[dict]], list[str]]:
    """Entry id -> items of the well-formed entries, and the ids of malformed ones."""
    good: dict[str, list[dict]] = {}
    bad: list[str] = []
    for entry_id, fields in entries:
        try:
            items = orjson.loads(fields["batch"])
            if type(items) is not list or not all(type(i) is dict and "time" in i and "sensor_id" in i
                                                  and type(i.get("values")) is dict for i in items):
                raise ValueError("not a list of observations")
            for i in items:
                if datetime.fromisoformat(i["time"]).tzinfo is None:
                    raise ValueError(f"time {i['time']!r} has no UTC offset")
                if (type(i.get("qa", {})) is not dict or type(i["sensor_id"]) is not str
                        or not isinstance(i.get("district"), (str, type(None)))):
                    raise ValueError("qa must be an object, sensor_id and district strings")
            good[entry_id] = items
        except (KeyError, ValueError, TypeError, orjson.JSONDecodeError) as exc:
            log.error("rollup: skipping malformed stream entry %s: %s", entry_id, exc)
            bad.append(entry_id)
    return good, bad


def content_id(batch: str | bytes) -> str:
    """What ``rollup_entries`` records for an entry: the digest of its ``batch`` field (36 chars)."""
    data = batch.encode() if isinstance(batch, str) else batch
    return "sha:" + hashlib.blake2b(data, digest_size=16).hexdigest()


def apply_entries(rt: Runtime, domain: str, entries: Sequence[tuple[str, dict[str, str]]]) -> list[str]:
    """Fold entries into the rollups in one transaction; returns the ids that may now be acked.

    Entries already applied (by this or a dead worker) are skipped, not counted twice.
    """
    if not entries:
        return []
    good, bad = _decode(entries)
    now = rt.clock.now()
    if good:
        raw = dict(entries)
        digest = {i: content_id(raw[i]["batch"]) for i in good}
        with rt.session() as s:
            ids = list(good)
            done = set(s.scalars(select(RollupEntry.entry_id).where(
                RollupEntry.stream == domain, RollupEntry.entry_id.in_(ids + list(set(digest.values()))))))
            fresh: dict[str, str] = {}  # digest -> entry id: a byte-identical twin in this read counts once
            for i in ids:
                if i not in done and digest[i] not in done:
                    fresh.setdefault(digest[i], i)
            if len(fresh) < len(ids):
                log.info("rollup %s: %d entries applied before (a worker died before acking, or a batch stored twice)",
                         domain, len(ids) - len(fresh))
            if fresh:
                s.execute(RollupEntry.__table__.insert(), [{"stream": domain, "entry_id": d, "applied_at": now} for d in fresh])
                aggs = aggregate((item for i in fresh.values() for item in good[i]), rt.settings.rollup_minutes, rt.settings.city)
                upsert_rollups(s, aggs, rt.settings.rollup_minutes)
    return [e for e, _f in entries]


def upsert_rollups(session: object, aggs: dict[BucketKey, Agg], minutes: int) -> None:
    """Merge `aggregate`'s buckets into ``rollups`` (sums and counts add, extremes widen): the one
    writer of history rows, shared by this worker and the demo's backfill (`feeds.backfill`)."""
    rows = [{"entity_type": et, "entity_id": eid, "quantity": q, "bucket_start": start, "bucket_minutes": minutes,
             "n": a.n, "total": a.total, "minimum": a.minimum, "maximum": a.maximum, "flagged": a.flagged}
            for (et, eid, q, start), a in aggs.items()]

    def merge(ex, t):  # type: ignore[no-untyped-def]
        return {"n": t.c.n + ex.n, "total": t.c.total + ex.total, "flagged": t.c.flagged + ex.flagged,
                "minimum": case((ex.minimum < t.c.minimum, ex.minimum), else_=t.c.minimum),
                "maximum": case((ex.maximum > t.c.maximum, ex.maximum), else_=t.c.maximum)}

    upsert(session, Rollup.__table__, rows, keys=["entity_type", "entity_id", "quantity", "bucket_start"], update=merge)  # type: ignore[arg-type]


def prune(rt: Runtime) -> tuple[int, int]:
    """Delete rollups and applied-entry records older than the retention; (rollups, entries) deleted."""
    cutoff = rt.clock.now() - timedelta(days=rt.settings.retention_days)
    with rt.session() as s:
        r = s.execute(delete(Rollup).where(Rollup.bucket_start < cutoff)).rowcount  # type: ignore[attr-defined]
        e = s.execute(delete(RollupEntry).where(RollupEntry.applied_at < cutoff)).rowcount  # type: ignore[attr-defined]
    if r or e:
        log.info("retention: deleted %d rollup buckets and %d entry records older than %s", r, e, cutoff.isoformat())
    return int(r or 0), int(e or 0)


def _read(rt: Runtime, consumer: str, block_ms: int | None) -> dict[str, list[tuple[str, dict[str, str]]]]:
    streams = {rt.redis.keys.stream(d): ">" for d in DOMAINS}
    try:
        resp = rt.redis.client.xreadgroup(GROUP, consumer, streams, count=READ_COUNT, block=block_ms)
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        log.error("rollup worker: Redis unavailable: %s", exc)
        raise Unavailable("Redis is unavailable") from exc
    out: dict[str, list[tuple[str, dict[str, str]]]] = {}
    for stream, entries in resp or []:
        out[rt.redis.domain_of_channel(stream)] = list(entries)
    return out


def _handle(rt: Runtime, domain: str, entries: Sequence[tuple[str, dict[str, str]]]) -> int:
    try:
        ackable = apply_entries(rt, domain, entries)
    except IntegrityError:
        log.warning("rollup %s: another worker applied some of these entries first; will retry", domain)
        return 0
    rt.redis.ack(domain, GROUP, *ackable)
    return len(ackable)


def ensure_groups(rt: Runtime) -> None:
    for d in DOMAINS:
        rt.redis.ensure_group(d, GROUP)


def claim(rt: Runtime, consumer: str, *, min_idle_ms: int = CLAIM_IDLE_MS) -> int:
    """Take over and apply entries dead consumers left pending; how many were handled."""
    handled = 0
    for d in DOMAINS:
        while True:
            entries = rt.redis.claim_stale(d, GROUP, consumer, min_idle_ms=min_idle_ms, count=READ_COUNT)
            if not entries:
                break
            log.info("rollup %s: re-claimed %d entries from a dead consumer", d, len(entries))
            n = _handle(rt, d, entries)
            handled += n
            if n == 0:
                break
    return handled


def process_once(rt: Runtime, consumer: str, *, block_ms: int | None = None) -> int:
    """Read and apply one round of new entries from every stream; how many were handled."""
    handled = 0
    for d, entries in _read(rt, consumer, block_ms).items():
        handled += _handle(rt, d, entries)
    return handled


def consumer_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


def run_worker(rt: Runtime, stop: threading.Event, *, consumer: str | None = None, block_ms: int = 500) -> None:
    """The rollup worker's loop until `stop` is set (a service of `cityops run` / `cityops worker`)."""
    consumer = consumer or consumer_name()
    clock = rt.clock.monotonic
    last_claim = last_prune = float("-inf")
    log.info("rollup worker %s started", consumer)
    while not stop.is_set():
        try:
            if last_claim == float("-inf"):
                ensure_groups(rt)
            now = clock()
            if now - last_claim >= CLAIM_EVERY_S:
                claim(rt, consumer)
                last_claim = now
            if now - last_prune >= PRUNE_EVERY_S:
                prune(rt)
                last_prune = now
            process_once(rt, consumer, block_ms=block_ms)
        except Unavailable:
            stop.wait(1.0)  # logged where it happened; keep trying


def run_delta_publisher(rt: Runtime, stop: threading.Event) -> None:
    """Publish the process's coalesced live deltas (at most every delta_interval_s per domain)."""
    rt.coalescer.run_forever(stop)
