"""POST /api/v1/observations with an Idempotency-Key: a retry never stores a batch twice."""
from __future__ import annotations

import json
import threading
from datetime import timedelta
from typing import Any

import pytest
import redis
from flask.testing import FlaskClient
from sqlalchemy import select

from dashboard.app import create_server
from feeds import idempotency, worker
from feeds.ingest import ingest
from store import accounts
from store.errors import Conflict, Unavailable
from store.models.core import Rollup
from store.models.feeds import RollupEntry
from store.redis_store import RedisStore
from store.runtime import Runtime
from store.settings import Settings


class Gateway:
    """A field system: the Flask test client and its API key."""

    def __init__(self, rt: Runtime, name: str = "gateway") -> None:
        self.rt = rt
        self.client: FlaskClient = create_server(rt).test_client()
        with rt.session() as s:
            self.key = accounts.create_api_key(s, name, now=rt.clock.now())

    def post(self, body: Any, idem: str | None = None) -> Any:
        headers = {"X-API-Key": self.key}
        if idem is not None:
            headers["Idempotency-Key"] = idem
        return self.client.post("/api/v1/observations", data=json.dumps(body), headers=headers, content_type="application/json")


@pytest.fixture
def gw(demo_sensors: Runtime) -> Gateway:
    return Gateway(demo_sensors)


def batch(rt: Runtime, pm25: float = 12.0, minutes: int = 0) -> dict[str, Any]:
    at = (rt.clock.now() + timedelta(minutes=minutes)).isoformat()
    return {"observations": [{"sensor_id": "air-1", "time": at, "values": {"pm25": pm25, "pm10": 5000}},
                             {"sensor_id": "air-2", "time": at, "values": {"pm25": pm25 + 1}}]}


def stream_len(rt: Runtime, domain: str = "air") -> int:
    return int(rt.redis.client.xlen(rt.redis.keys.stream(domain)))


def city_pm25_count(rt: Runtime) -> int:
    worker.ensure_groups(rt)
    worker.process_once(rt, "test-consumer")
    with rt.session() as s:
        return sum(s.scalars(select(Rollup.n).where(Rollup.entity_type == "city", Rollup.quantity == "pm25")))


def transaction_pipelines(rt: Runtime, monkeypatch: pytest.MonkeyPatch, execute: Any) -> None:
    """Make every MULTI/EXEC pipeline of `rt`'s client run `execute(real_execute)` instead."""
    real_pipeline = rt.redis.client.pipeline

    def pipeline(transaction: bool = True, **kw: Any) -> Any:
        pipe = real_pipeline(transaction=transaction, **kw)
        if transaction:
            real = pipe.execute
            pipe.execute = lambda *a, **k: execute(real)
        return pipe

    monkeypatch.setattr(rt.redis.client, "pipeline", pipeline)


def test_retry_after_a_lost_reply_is_answered_from_memory_and_stored_once(gw: Gateway, monkeypatch: pytest.MonkeyPatch) -> None:
    rt = gw.rt

    def exec_then_lose_reply(real: Any) -> Any:
        real()
        raise redis.ConnectionError("Connection reset by peer")

    transaction_pipelines(rt, monkeypatch, exec_then_lose_reply)
    lost = gw.post(batch(rt), idem="b-0001")
    monkeypatch.undo()

    retry = gw.post(batch(rt), idem="b-0001")

    assert lost.status_code == 503  # the client cannot tell whether it was stored
    assert retry.status_code == 200
    assert retry.headers["Idempotent-Replay"] == "true"
    assert (retry.json["accepted"], retry.json["quarantined"]) == (2, 1)
    assert stream_len(rt) == 1
    assert city_pm25_count(rt) == 2  # two pm25 values, counted once


def test_repeated_request_gets_the_same_answer_and_stores_nothing(gw: Gateway) -> None:
    rt = gw.rt
    first = gw.post(batch(rt), idem="b-0002")

    again = gw.post(batch(rt), idem="b-0002")

    assert first.status_code == again.status_code == 200
    assert "Idempotent-Replay" not in first.headers
    assert again.headers["Idempotent-Replay"] == "true"
    assert again.json == first.json
    assert stream_len(rt) == 1


def test_without_a_key_a_repeat_is_stored_again(gw: Gateway) -> None:
    gw.post(batch(gw.rt))

    gw.post(batch(gw.rt))

    assert stream_len(gw.rt) == 2


def test_same_key_with_a_different_body_is_409_and_stores_nothing(gw: Gateway) -> None:
    rt = gw.rt
    gw.post(batch(rt), idem="b-0003")

    other = gw.post(batch(rt, pm25=30.0), idem="b-0003")

    assert other.status_code == 409
    assert other.json["key"] == "idempotency_mismatch"
    assert stream_len(rt) == 1


def test_failed_store_releases_the_key_so_the_retry_stores(gw: Gateway, monkeypatch: pytest.MonkeyPatch) -> None:
    rt = gw.rt

    def redis_down(_real: Any) -> Any:
        raise redis.ConnectionError("Connection refused")

    transaction_pipelines(rt, monkeypatch, redis_down)
    failed = gw.post(batch(rt), idem="b-0004")
    monkeypatch.undo()

    retry = gw.post(batch(rt), idem="b-0004")

    assert failed.status_code == 503
    assert retry.status_code == 200
    assert "Idempotent-Replay" not in retry.headers  # stored now, not replayed
    assert stream_len(rt) == 1


def test_request_while_the_first_is_being_stored_is_told_to_retry(gw: Gateway) -> None:
    rt = gw.rt
    body = batch(rt)
    held = idempotency.claim(rt, "gateway", "b-0005", idempotency.fingerprint(json.dumps(body).encode()))

    same = gw.post(body, idem="b-0005")
    different = gw.post(batch(rt, pm25=1.0), idem="b-0005")

    assert isinstance(held, idempotency.Claim)
    assert (same.status_code, same.json["key"]) == (409, "idempotency_in_progress")
    assert (different.status_code, different.json["key"]) == (409, "idempotency_mismatch")
    assert stream_len(rt) == 0


def test_claim_taken_over_before_exec_stores_nothing(demo_sensors: Runtime) -> None:
    rt = demo_sensors
    stale = idempotency.claim(rt, "gateway", "b-0006", "fp")
    assert isinstance(stale, idempotency.Claim)
    rt.redis.client.delete(stale.key)  # the pending record expired ...
    assert isinstance(idempotency.claim(rt, "gateway", "b-0006", "fp"), idempotency.Claim)  # ... and a retry took it

    with pytest.raises(Conflict) as err:
        ingest(rt, batch(rt)["observations"], source="http", claim=stale)

    assert err.value.key == "idempotency_in_progress"
    assert stream_len(rt) == 0


def test_two_api_keys_may_use_the_same_idempotency_key(gw: Gateway) -> None:
    other = Gateway(gw.rt, "second-gateway")
    gw.post(batch(gw.rt), idem="b-0007")

    r = other.post(batch(gw.rt, minutes=1), idem="b-0007")

    assert r.status_code == 200
    assert "Idempotent-Replay" not in r.headers
    assert stream_len(gw.rt) == 2


def test_bad_idempotency_key_is_400(gw: Gateway) -> None:
    r = gw.post(batch(gw.rt), idem="x" * 201)

    assert r.status_code == 400
    assert "Idempotency-Key" in r.json["message"]


def test_concurrent_claims_of_one_key_have_one_winner(any_redis: RedisStore, tmp_path: Any) -> None:
    settings = Settings(data_dir=tmp_path / "var", redis_prefix=any_redis.keys.prefix, simulator="off")
    rt = Runtime.start(settings, redis=any_redis)
    outcomes: list[Any] = []
    start = threading.Barrier(8)

    def contend() -> None:
        start.wait(timeout=10)
        try:
            outcomes.append(idempotency.claim(rt, "gateway", "b-0008", "fp"))
        except Conflict as exc:
            outcomes.append(exc.key)

    threads = [threading.Thread(target=contend) for _ in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=30)

    assert sum(isinstance(o, idempotency.Claim) for o in outcomes) == 1
    assert sorted(o for o in outcomes if isinstance(o, str)) == ["idempotency_in_progress"] * 7
    rt.engine.dispose()


def test_openapi_documents_the_idempotency_key(gw: Gateway) -> None:
    op = gw.client.get("/api/v1/openapi.json").json["paths"]["/observations"]["post"]

    assert any(p["name"] == "Idempotency-Key" and p["in"] == "header" for p in op["parameters"])
    assert "idempotency_mismatch" in op["responses"]["409"]["description"]


# -- the stream side: the rollup worker counts a batch stored twice once -----------------------
def test_unkeyed_retry_after_a_lost_reply_is_on_the_stream_twice_but_rolled_up_once(demo_sensors: Runtime,
                                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    rt = demo_sensors
    observations = batch(rt)["observations"]

    def exec_then_lose_reply(real: Any) -> Any:
        real()
        raise redis.ConnectionError("Connection reset by peer")

    transaction_pipelines(rt, monkeypatch, exec_then_lose_reply)
    with pytest.raises(Unavailable):
        ingest(rt, observations, source="test")
    monkeypatch.undo()
    ingest(rt, observations, source="test")  # the retry

    assert stream_len(rt) == 2
    assert city_pm25_count(rt) == 2  # two pm25 values, not four
    assert rt.redis.pending_count("air", worker.GROUP) == 0  # the twin was acknowledged


def test_entries_recorded_by_id_before_digests_are_still_not_applied_again(demo_sensors: Runtime) -> None:
    rt = demo_sensors
    worker.ensure_groups(rt)
    ingest(rt, batch(rt)["observations"], source="test")
    ((entry_id, fields),) = rt.redis.client.xrange(rt.redis.keys.stream("air"))
    with rt.session() as s:
        s.add(RollupEntry(stream="air", entry_id=entry_id, applied_at=rt.clock.now()))

    acked = worker.apply_entries(rt, "air", [(entry_id, fields)])

    assert acked == [entry_id]
    with rt.session() as s:
        assert list(s.scalars(select(Rollup.n))) == []
