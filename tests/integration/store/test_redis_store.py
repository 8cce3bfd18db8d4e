from __future__ import annotations

from store.redis_store import DeltaCoalescer, RedisStore


def test_unacked_entries_of_a_dead_consumer_are_reclaimed(any_redis: RedisStore) -> None:
    any_redis.ensure_group("air", "workers")
    for i in range(5):
        any_redis.append("air", {"n": str(i)})
    taken = any_redis.read_group("air", "workers", "worker-1", count=5, block_ms=None)
    any_redis.ack("air", "workers", taken[0][0])  # worker-1 dies after acknowledging one

    reclaimed = any_redis.claim_stale("air", "workers", "worker-2", min_idle_ms=0)

    assert [f["n"] for _, f in reclaimed] == ["1", "2", "3", "4"]


def test_deltas_are_coalesced_per_domain_window(any_redis: RedisStore) -> None:
    now = [100.0]
    co = DeltaCoalescer(any_redis, interval_s=0.5, clock=lambda: now[0])
    sub = any_redis.subscribe(["traffic"])
    sub.get_message(timeout=0.2)
    co.add("traffic", {"L1": {"speed": 30}})
    assert co.flush() == {"traffic": 1}
    co.add("traffic", {"L1": {"speed": 20}})
    co.add("traffic", {"L1": {"speed": 10}, "L2": {"speed": 50}})

    held = co.flush()
    now[0] += 0.5
    sent = co.flush()

    assert held == {}
    assert sent == {"traffic": 2}
    sub.close()
