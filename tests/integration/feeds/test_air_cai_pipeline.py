"""A flagged PM2.5 spike through the real path (ingest → QA flags it → rollup worker → rollups)
leaves the district's CAI where it was: history is read without flagged buckets."""
from __future__ import annotations

import random
from datetime import timedelta

from sqlalchemy import func, select

from feeds import air_queries, worker
from feeds.citypack import load_pack
from feeds.ingest import ingest
from feeds.sensors import register_sites
from store.models import Rollup
from store.runtime import Runtime


def _drain(rt: Runtime) -> None:
    worker.ensure_groups(rt)
    while worker.process_once(rt, "test-consumer"):
        pass


def test_flagged_pm25_spike_through_ingest_and_rollups_does_not_change_the_district_cai(stack_rt: Runtime) -> None:
    rt = stack_rt
    pack = load_pack(rt.settings.city, rt.settings.scale, rt.settings.sim_seed)
    register_sites(rt, pack.sensors_of("air"))
    jongno = [s.id for s in pack.sensors_of("air") if s.district == "Jongno-gu"]
    rnd = random.Random(3)
    now = rt.clock.now()
    obs = []
    for minutes in range(13 * 60, 0, -4):  # every 4 minutes for 13 hours: history for the 24 h predicted average
        at = (now - timedelta(minutes=minutes)).isoformat()
        obs += [{"sensor_id": sid, "time": at, "values": {"pm25": round(rnd.uniform(18, 22), 1), "pm10": 35.0,
                                                          "o3": 0.02, "no2": 0.02}} for sid in jongno]
    ingest(rt, obs, source="test")
    _drain(rt)
    before = {d.district: d for d in air_queries.read_districts(rt, pack)}["Jongno-gu"]

    spike = ingest(rt, [{"sensor_id": jongno[0], "time": (now - timedelta(seconds=30)).isoformat(),
                         "values": {"pm25": 400.0}}], source="test")
    _drain(rt)
    after = {d.district: d for d in air_queries.read_districts(rt, pack)}["Jongno-gu"]

    with rt.session() as s:
        flagged_rows = s.scalar(select(func.count()).select_from(Rollup).where(
            Rollup.entity_id == jongno[0], Rollup.quantity == "pm25", Rollup.flagged > 0))
    assert spike.flagged == 1  # QA flagged it (3 sigma), the rollup worker stored it
    assert flagged_rows == 1
    assert before.cai.value is not None and before.cai.pollutant == "pm25"
    assert after.cai.value == before.cai.value
    # The spike's whole 5-minute bucket is left out (its good neighbour too): the average moves
    # by that one reading's share, not by the spike, which would lift it by several µg/m³.
    assert abs(after.cai.figures["pm25"].concentration - before.cai.figures["pm25"].concentration) < 0.1
