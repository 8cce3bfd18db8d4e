"""The alert worker's stream handling: malformed entries never block the stream, a crashed
worker's entries are re-claimed, nothing is acknowledged when the database is down."""
from __future__ import annotations

import json

import pytest

from alerts import queries
from alerts.rules import default_rules
from alerts.worker import AlertWorker
from store.errors import Unavailable
from store.runtime import Runtime


def cctv(rt: Runtime, camera: str = "cam-1", **over: object) -> None:
    ev = {"camera_id": camera, "category": "fire_smoke", "confidence": 0.9, "time": rt.clock.now().isoformat(),
          "district": "Jung-gu", "lat": 37.56, "lon": 126.98, **over}
    rt.redis.append("cctv", {"event": json.dumps(ev)})


def test_malformed_entries_are_skipped_and_acknowledged_and_good_ones_still_alert(rt, drain):
    rt.redis.append("cctv", {"event": "{not json"})
    cctv(rt, "cam-bad", category="ufo")
    cctv(rt, "cam-naive", time="2026-11-26T03:00:00")
    rt.redis.append("air", {"batch": json.dumps([{"sensor_id": "x"}])})
    cctv(rt, "cam-good")

    drain()

    assert [a["source"] for a in queries.list_alerts(rt)] == ["cam-good"]
    assert rt.redis.pending_count("cctv", "alerts") == 0 and rt.redis.pending_count("air", "alerts") == 0


def test_entries_a_crashed_worker_read_are_reclaimed_by_another(rt):
    crashed = AlertWorker(rt, default_rules(), "crashed")
    cctv(rt, "cam-7")
    assert rt.redis.read_group("cctv", "alerts", crashed.consumer, count=10, block_ms=None)  # read, then died
    survivor = AlertWorker(rt, default_rules(), "survivor", stale_ms=0)

    survivor.step()

    [a] = queries.list_alerts(rt)
    assert a["source"] == "cam-7" and rt.redis.pending_count("cctv", "alerts") == 0


def test_nothing_is_acknowledged_when_the_database_is_down(rt, worker, monkeypatch):
    from alerts import service

    cctv(rt, "cam-8")

    def down(*_a: object, **_k: object) -> None:
        raise Unavailable("the database is unavailable; nothing was written")

    monkeypatch.setattr(service, "raise_candidates", down)
    with pytest.raises(Unavailable):
        worker.step()

    assert rt.redis.pending_count("cctv", "alerts") == 1  # kept for a retry or another worker
    monkeypatch.undo()
    worker.stale_ms = 0
    worker.last_claim = -1e18
    worker.step()
    assert [a["source"] for a in queries.list_alerts(rt)] == ["cam-8"]
    assert rt.redis.pending_count("cctv", "alerts") == 0


def test_a_camera_event_without_a_place_is_placed_from_the_cameras_registration(rt):
    from feeds.ingest import register_sensor

    register_sensor(rt, "cam-reg", kind="camera", lat=37.5512, lon=126.9882, district="Jung-gu", quantities={})
    worker = AlertWorker(rt, default_rules(), "w")  # reads the sensor registry at start
    cctv(rt, "cam-reg", district=None, lat=None, lon=None)

    worker.step()

    [a] = queries.list_alerts(rt)
    assert (a["district"], a["lat"], a["lon"]) == ("Jung-gu", 37.5512, 126.9882)
