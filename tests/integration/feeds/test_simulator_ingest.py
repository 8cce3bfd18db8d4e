"""The simulator through the real ingest: latest state, domain streams, buses and CCTV events."""
from __future__ import annotations

import json
import threading
import time
from feeds.citypack import load_pack
from feeds.ingest import register_sites
from feeds.simulator import CitySimulator, publish_step, run_simulator


def test_simulated_observations_buses_and_camera_events_reach_the_store(stack_rt):
    rt = stack_rt
    pack = load_pack("seoul", "demo", rt.settings.sim_seed)
    register_sites(rt, pack.sensors)
    sim = CitySimulator(pack, rt.settings.sim_seed)

    results, events = [], []
    for _ in range(60):
        obs, buses, evs = sim.step(rt.clock.now())
        results.append(publish_step(rt, obs, buses, evs))
        events += evs
        rt.clock.advance(minutes=5)

    assert all(r.rejected == 0 for r in results)
    assert sum(r.accepted for r in results) > 0.99 * sum(r.accepted + r.quarantined for r in results)
    traffic = rt.redis.all_latest("traffic")
    assert len(traffic) == len(pack.links)
    link = pack.links[0]
    assert set(traffic[link.detector_id]["v"]) == {"speed_kmh", "volume_vph", "occupancy_pct"}
    assert traffic[link.detector_id]["d"] == link.district
    assert len(rt.redis.all_latest("air")) == len(pack.sensors_of("air"))
    assert len(rt.redis.all_latest("bus")) == len(pack.buses)
    bus = rt.redis.get_latest("bus", pack.buses[0].id)
    assert bus["route"] == pack.buses[0].route_id and -90 < bus["lat"] < 90
    stream = rt.redis.client.xrange(rt.redis.keys.stream("cctv"))
    assert events and [json.loads(f["event"]) for _id, f in stream] == events
    assert {"traffic", "air", "infra", "bus", "cctv"} <= set(rt.redis.feed_times())


def test_simulator_service_registers_the_pack_and_feeds_ingest_until_stopped(rt):
    stop = threading.Event()
    worker = threading.Thread(target=run_simulator, args=(rt, stop), daemon=True)

    worker.start()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not rt.redis.all_latest("traffic"):
        time.sleep(0.05)
    stop.set()
    worker.join(timeout=30)

    pack = load_pack(rt.settings.city, rt.settings.scale, rt.settings.sim_seed)
    assert not worker.is_alive()
    assert len(rt.redis.all_latest("traffic")) == len(pack.links)


def test_simulator_service_keeps_running_when_redis_is_down(tmp_path, clock, caplog):
    from store.runtime import Runtime
    from store.settings import Settings

    down = Runtime.start(Settings(data_dir=tmp_path / "var", redis_url="redis://127.0.0.1:1/0", simulator="off"),
                         clock=clock)
    stop = threading.Event()
    worker = threading.Thread(target=run_simulator, args=(down, stop), daemon=True)

    with caplog.at_level("WARNING", logger="feeds.simulator"):
        worker.start()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and "tick of" not in caplog.text:
            time.sleep(0.05)
        stop.set()
        worker.join(timeout=30)
    down.close()

    assert not worker.is_alive()
    assert "store unavailable, tick of" in caplog.text
