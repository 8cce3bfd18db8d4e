"""The one way in for observations: simulator, replay and HTTP all call `ingest`.

    ingest(rt, observations, source) -> IngestResult

validate + QA (`feeds.qa.assess`, pure) → store, in this order:
1. one SQL transaction is opened: quarantined values into ``quarantine``, outcome counts into
   ``qa_counts`` (bucket of `settings.rollup_minutes`; outcomes accepted (unflagged), flagged,
   quarantined, rejected);
2. inside it, one Redis MULTI/EXEC: accepted values appended to the domain streams (entries of at
   most `STREAM_CHUNK` observations, field ``batch``), latest state per sensor (one Lua script
   per domain, `feeds.latest`: never goes backwards), outcome counters for /metrics (hash
   ``{p}:metrics:ingest``, field ``source|outcome``), feed heartbeats, and with an
   Idempotency-Key the request's remembered answer (`feeds.idempotency`);
3. the SQL transaction commits; the changed latest states go to the Runtime's `DeltaCoalescer`.

Nothing accepted is lost: if Redis fails, EXEC never ran (Redis drops a MULTI whose connection
went away), the SQL transaction rolls back, the trailing statistics are taken back, and the caller
gets `Unavailable` (HTTP 503): **nothing of the batch was stored, retry the whole batch**. The
one window left is a connection lost after EXEC ran but before its reply arrived, or an SQL commit
failing after EXEC: without an Idempotency-Key the retry then stores the accepted values twice
(at least once, never zero); with one, the answer was remembered in that EXEC and the retry is
answered from it (exactly once in Redis; after an SQL commit failure it is the batch's quarantine
rows and qa_counts that are missing).

Trailing statistics (3-sigma check) live in memory per process (`feeds.qa.TrailingStats`) and
are persisted every `STATS_PERSIST_S` seconds as hour buckets in Redis
(``{p}:qa:stats:{hour}``: field ``sensor|quantity`` -> ``"n sum sumsq ref"``, expiring after 26 h);
a process loads the last 24 of them on its first batch, so a restart keeps the history up to the
last persist (at most `STATS_PERSIST_S` of it is lost). Two processes ingesting the *same* sensor
would overwrite each other's buckets (last writer wins); sensors normally arrive by one path.

Latest state (`feeds.latest`): per quantity, the newest observation wins, within a batch and
across batches and processes (late or replayed data is stored on the stream and counted in
rollups, but never moves the latest state backwards); a quarantined value never replaces the last
good value, it changes the quantity's qa only.
"""
from __future__ import annotations

import gc
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
import redis

from feeds import idempotency, latest, qa, sensors
from feeds.qa import FLAGGED, OK, QUARANTINED, REJECTED, BatchVerdict, Rejection, TrailingStats
from feeds.sensors import DOMAIN_OF_KIND, register_sensor, register_sites  # noqa: F401 - the contract's names
from store.errors import Conflict, Unavailable
from store.models.core import QaCount, QuarantinedObservation
from store.runtime import Runtime
from store.upsert import upsert

log = logging.getLogger(__name__)

# Outcome names in qa_counts and on /metrics: disjoint, "accepted" meaning accepted unflagged.
COUNT_LABELS = {OK: "accepted", FLAGGED: "flagged", QUARANTINED: "quarantined", REJECTED: "rejected"}
STREAM_CHUNK = 1000  # observations per stream entry: bounds what one worker read holds
STATS_PERSIST_S = 10.0
STATS_TTL_S = 26 * 3600
_dumps = orjson.dumps  # bytes, about 10x faster than json here; Redis stores them as they are


@dataclass(frozen=True)
class IngestResult:
    """What a batch came to. Counts are per value (one quantity of one observation):
    ``accepted`` includes the ``flagged`` ones (they are accepted, marked for maintenance);
    ``accepted + quarantined + rejected`` is every value received. A rejected observation counts
    once per value it carried (once if none could be read).
    """

    observations: int
    accepted: int
    flagged: int
    quarantined: int
    rejected: int
    rejections: tuple[Rejection, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"observations": self.observations, "accepted": self.accepted, "flagged": self.flagged,
                "quarantined": self.quarantined, "rejected": self.rejected,
                "rejections": [{"index": r.index, "sensor_id": r.sensor_id, "quantity": r.quantity, "reason": r.reason}
                               for r in self.rejections]}


@dataclass
class _IngestState:
    """One process's ingest state (in `rt.caches`): trailing statistics and when they were saved."""

    stats: TrailingStats = field(default_factory=TrailingStats)
    stats_loaded: bool = False
    persisted_at: float = 0.0
    frozen_at: int = 0  # sensors with statistics when the collector was last told to skip them
    lock: threading.Lock = field(default_factory=threading.Lock)


def _state(rt: Runtime) -> _IngestState:
    st = rt.caches.get(__name__)
    if st is None:
        st = rt.caches.setdefault(__name__, _IngestState())
    return st


def _hour_key(rt: Runtime, hour: int) -> str:
    return rt.redis.keys.key("qa", "stats", str(hour))


def metrics_key(rt: Runtime) -> str:
    return rt.redis.keys.key("metrics", "ingest")


def ingest(rt: Runtime, observations: Sequence[Any], source: str, *, claim: idempotency.Claim | None = None) -> IngestResult:
    """Validate, QA and store a batch; see the module docstring for what is written where.

    Raises `Unavailable` (503) when Redis or the database is down: then nothing was stored.
    With a `claim` (an Idempotency-Key, `feeds.idempotency`) the answer is remembered in the
    same MULTI/EXEC as the batch; `Conflict` if the claim was lost before EXEC (nothing stored).
    """
    st = _state(rt)
    reg = sensors.registry(rt)
    with st.lock:
        with reg.lock:
            sensors.sync(rt, reg)
            sensors.load(rt, reg, {sid for o in observations if type(o) is dict and type(sid := o.get("sensor_id")) is str})
            if not st.stats_loaded:
                _load_stats(rt, st)
            verdict = qa.assess(observations, reg.specs, st.stats)
        if len(st.stats.by_sensor) >= 2 * st.frozen_at + 500:
            _freeze(st)
        c = verdict.counts
        result = IngestResult(len(observations), c[OK] + c[FLAGGED], c[FLAGGED], c[QUARANTINED], c[REJECTED],
                              tuple(verdict.rejections))
        try:
            changes = _store(rt, verdict, source, claim, result)
        except BaseException:
            qa.undo(verdict)
            raise
        now = rt.clock.monotonic()
        if now - st.persisted_at >= STATS_PERSIST_S:
            _persist_stats(rt, st)
            st.persisted_at = now
    for domain, states in changes.items():
        rt.coalescer.add(domain, states)
    if verdict.rejections:
        first = verdict.rejections[0]
        log.warning("ingest %s: %d values rejected, first at index %d: %s", source, c[REJECTED], first.index, first.reason)
    return result


def _store(rt: Runtime, verdict: BatchVerdict, source: str, claim: idempotency.Claim | None = None,
           result: IngestResult | None = None) -> dict[str, dict[str, dict[str, Any]]]:
    """Write one assessed batch (SQL transaction around one Redis MULTI); returns the new latest states."""
    now = rt.clock.now()
    streams: dict[str, list[dict[str, Any]]] = {}
    states: dict[str, dict[str, dict[str, Any]]] = {}
    full: dict[str, set[str]] = {}  # per domain, the sensors whose candidate may replace the stored state
    quarantine_rows = []
    for a in verdict.assessed:
        sensor = a.sensor
        domain = sensor.domain
        if a.values:
            streams.setdefault(domain, []).append({"sensor_id": sensor.id, "kind": sensor.kind, "district": sensor.district,
                                                   "time": a.time_iso, "values": a.values, "qa": a.qa})
        if a.quarantined:
            for q, v, why in a.quarantined:
                quarantine_rows.append({"sensor_id": sensor.id, "time": a.time, "quantity": q, "value": float(v),
                                        "reason": why[:200], "received_at": now, "state": "held"})
        per = states.get(domain)
        if per is None:
            per = states[domain] = {}
            full[domain] = set()
        sid = sensor.id
        if a.quarantined:
            cand = {"t": a.time_iso, "v": a.values, "qa": {**a.qa, **{q: QUARANTINED for q, _v, _w in a.quarantined}},
                    "d": sensor.district}
        else:
            cand = {"t": a.time_iso, "v": a.values, "qa": a.qa, "d": sensor.district}
        prev = per.get(sid)
        if prev is not None:  # the sensor twice in one batch: folded here by the same rule as in Redis
            cand = latest.merge_state(prev, cand) or prev
        per[sid] = cand
        if not a.quarantined and len(cand["v"]) == len(sensor.rows) and (prev is None or latest.is_full(cand, len(sensor.rows))):
            full[domain].add(sid)
        elif prev is not None:
            full[domain].discard(sid)

    counts = {COUNT_LABELS[k]: n for k, n in verdict.counts.items() if n}
    bucket = _bucket(now, rt.settings.rollup_minutes)
    at = now.timestamp()
    try:
        with rt.session() as s:
            if quarantine_rows:
                s.execute(QuarantinedObservation.__table__.insert(), quarantine_rows)
            if counts:
                upsert(s, QaCount.__table__, [{"bucket_start": bucket, "outcome": k, "n": n} for k, n in counts.items()],  # type: ignore[arg-type]
                       keys=["bucket_start", "outcome"], update=lambda ex, t: {"n": t.c.n + ex.n})
            pipe = rt.redis.client.pipeline(transaction=True)
            if claim is not None:
                idempotency.guard(pipe, claim)
            for domain, items in streams.items():
                for start in range(0, len(items), STREAM_CHUNK):
                    rt.redis.append(domain, {"batch": _dumps(items[start:start + STREAM_CHUNK])}, pipe=pipe)
            replies: list[tuple[str, int]] = []
            for domain, per in states.items():
                if per:  # serialised with orjson: RedisStore.set_latest's json is 4x slower
                    fd = full[domain]
                    replies.append((domain, len(pipe)))
                    latest.queue_merge(pipe, rt.redis.keys.latest(domain), {k: per[k] for k in fd},
                                       {k: v for k, v in per.items() if k not in fd} if len(fd) < len(per) else {}, _dumps)
                    rt.redis.touch_feed(domain, at, pipe=pipe)
            mkey = metrics_key(rt)
            for outcome, n in counts.items():
                pipe.hincrby(mkey, f"{source}|{outcome}", n)
            if claim is not None and result is not None:
                idempotency.remember(pipe, claim, 200, result.to_json())
            done = pipe.execute()
            for domain, i in replies:
                latest.apply_reply(done[i], states[domain])
    except redis.WatchError:
        log.warning("ingest %s: the idempotency claim was taken over before EXEC; batch not stored", source)
        raise Conflict("the claim on this Idempotency-Key expired and another request took it; retry",
                       key="idempotency_in_progress") from None
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        log.error("ingest %s: Redis unavailable, batch of %d observations not stored: %s", source, len(verdict.assessed), exc)
        raise Unavailable("Redis is unavailable; nothing of this batch was stored — retry the whole batch") from exc
    return states


def _freeze(st: _IngestState) -> None:
    """Move the long-lived QA state out of the cyclic collector's view (`gc.freeze`).

    At Seoul scale the statistics are ~25,000 series of hour buckets plus the sensor cache; every
    full collection walked them all, which cost about 8 us per observation (measured with
    bench/ingest.py: 14 -> 6 us of store time per observation). Frozen objects are still freed by
    reference counting; only cycles among them would wait. Done again each time the number of
    sensors with statistics doubles, so it happens a handful of times in a process's life.
    """
    gc.freeze()
    st.frozen_at = len(st.stats.by_sensor)
    log.info("QA statistics of %d sensors moved to the permanent GC generation", st.frozen_at)


def _bucket(t: datetime, minutes: int) -> datetime:
    return t.replace(minute=t.minute - t.minute % minutes, second=0, microsecond=0)


# -- trailing statistics persistence -----------------------------------------------------------
def _load_stats(rt: Runtime, st: _IngestState) -> None:
    """Read the last 24 hour buckets back (first batch after a start)."""
    hour_now = int(rt.clock.now().timestamp()) // 3600
    hours = list(range(hour_now - qa.WINDOW_HOURS + 1, hour_now + 1))
    try:
        pipe = rt.redis.client.pipeline(transaction=False)
        for h in hours:
            pipe.hgetall(_hour_key(rt, h))
        found = pipe.execute()
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        log.error("redis unavailable loading QA statistics: %s", exc)
        raise Unavailable("Redis is unavailable; nothing of this batch was stored — retry the whole batch") from exc
    loaded = 0
    for h, fields in zip(hours, found, strict=True):
        for key, row in fields.items():
            try:
                sensor_id, quantity = key.rsplit("|", 1)
                n, s, ss, ref = row.split()
                st.stats.load(sensor_id, quantity, h, int(n), float(s), float(ss), float(ref))
                loaded += 1
            except ValueError:
                log.warning("ignoring a malformed QA statistics bucket %s in hour %d", key, h)
    st.stats.loaded()
    st.stats.dirty.clear()
    st.stats_loaded = True
    if loaded:
        log.info("loaded %d hour buckets of QA statistics", loaded)


def _persist_stats(rt: Runtime, st: _IngestState) -> None:
    rows = st.stats.take_dirty()
    if not rows:
        return
    try:
        pipe = rt.redis.client.pipeline(transaction=False)
        for hour, fields in rows.items():
            key = _hour_key(rt, hour)
            pipe.hset(key, mapping=fields)
            pipe.expire(key, STATS_TTL_S)
        pipe.execute()
    except (redis.ConnectionError, redis.TimeoutError) as exc:  # statistics only: the data is stored
        log.warning("QA statistics not persisted (Redis unavailable): %s", exc)


def persist_stats(rt: Runtime) -> None:
    """Save every changed statistics bucket now (at shutdown, or in tests)."""
    st = _state(rt)
    with st.lock:
        _persist_stats(rt, st)
        st.persisted_at = rt.clock.monotonic()


def ingest_counts(rt: Runtime) -> dict[tuple[str, str], int]:
    """(source, outcome) -> values ingested since the counters began, across every process."""
    raw = rt.redis.client.hgetall(metrics_key(rt))
    out = {}
    for k, v in raw.items():
        src, _, outcome = k.rpartition("|")
        out[(src, outcome)] = int(v)
    return out
