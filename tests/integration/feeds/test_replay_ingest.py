"""Replay of the real recordings through the real ingest: what is stored is what was recorded."""
from __future__ import annotations

import csv
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from dashboard.cli import main
from feeds.replay import CITYWIDE_STATION, DATA, MPH_TO_KMH, parse_kst_hour, replay
from store.clock import FakeClock
from store.errors import ValidationError
from store.runtime import Runtime
from store.settings import Settings


@pytest.fixture(params=["sqlite+fakeredis", pytest.param("postgres+redis", marks=[pytest.mark.postgres, pytest.mark.redis])])
def la_rt(request: pytest.FixtureRequest, tmp_path: Path, clock: FakeClock) -> Iterator[Runtime]:
    """A runtime for the metr-la city, on the embedded defaults and on real PostgreSQL + Redis."""
    if request.param == "sqlite+fakeredis":
        s = Settings(data_dir=tmp_path / "var", redis_prefix="t" + uuid.uuid4().hex[:12], simulator="off", city="metr-la")
    else:
        pg: Settings = request.getfixturevalue("pg_settings")
        rs: Settings = request.getfixturevalue("redis_settings")
        s = rs.model_copy(update={"database_url": pg.database_url, "database_schema": pg.database_schema,
                                  "city": "metr-la"})
    runtime = Runtime.start(s, clock=clock)
    yield runtime
    runtime.close()


def _stream(rt: Runtime, domain: str) -> list[dict]:
    return [item for _id, f in rt.redis.client.xrange(rt.redis.keys.stream(domain)) for item in json.loads(f["batch"])]


def test_metr_la_replay_reproduces_the_recorded_speeds_exactly(la_rt):
    with (DATA / "los_speed_days1-5.csv").open(encoding="utf-8") as f:
        reader = csv.reader(f)
        ids = next(reader)[1:]
        rows = [next(reader) for _ in range(12)]

    result = replay(la_rt, "metr-la", speed=0, limit=12)

    assert (result.frames, result.observations, result.rejected, result.quarantined) == (12, 12 * 207, 0, 0)
    stored = {(e["sensor_id"], e["time"]): e["values"]["speed_kmh"] for e in _stream(la_rt, "traffic")}
    assert len(stored) == 12 * 207
    for step, row in enumerate(rows):
        t = datetime(2012, 3, 1, 8, 5 * step, tzinfo=UTC).isoformat()
        for sid, cell in zip(ids, row[1:], strict=True):
            assert stored[(sid, t)] == float(cell) * MPH_TO_KMH
            assert stored[(sid, t)] / MPH_TO_KMH == pytest.approx(float(cell), rel=1e-15)
    latest = la_rt.redis.all_latest("traffic")
    assert {sid: v["v"]["speed_kmh"] for sid, v in latest.items()} == {
        sid: float(cell) * MPH_TO_KMH for sid, cell in zip(ids, rows[-1][1:], strict=True)}
    assert {v["t"] for v in latest.values()} == {"2012-03-01T08:55:00+00:00"}


def test_replay_waits_the_recorded_step_divided_by_the_speed(la_rt):
    waits: list[float] = []

    replay(la_rt, "metr-la", speed=300, limit=4, wait=waits.append)

    assert waits == [1.0, 1.0, 1.0]


def test_shift_to_now_stamps_each_step_with_the_clock(la_rt, clock):
    replay(la_rt, "metr-la", speed=0, limit=1, shift_to_now=True)

    assert {v["t"] for v in la_rt.redis.all_latest("traffic").values()} == {clock.now().isoformat()}


def test_metr_la_replay_refuses_a_seoul_runtime(rt):
    with pytest.raises(ValidationError, match="CITYOPS_CITY=metr-la"):
        replay(rt, "metr-la", speed=0, limit=1)


def test_daily_air_replay_stores_what_was_recorded_and_nothing_that_was_missing(rt):
    from feeds.citypack import load_pack

    pack = load_pack("seoul", rt.settings.scale, rt.settings.sim_seed)
    seodaemun = pack.district_station("Seodaemun-gu").id  # all six values empty on 2018-01-01
    gangnam = pack.district_station("Gangnam-gu").id

    result = replay(rt, "seoul-air-daily", speed=0, limit=1)

    assert result.skipped == 15 and result.observations == 24 and result.rejected == 0
    assert rt.redis.get_latest("air", seodaemun) is None
    state = rt.redis.get_latest("air", gangnam)
    # 20180101,강남구,0.034,0.009,0.6,0.006,34,22
    assert state["v"] == {"no2": 0.034, "o3": 0.009, "co": 0.6, "so2": 0.006, "pm10": 34.0, "pm25": 22.0}
    assert state["t"] == "2018-01-01T15:00:00+00:00"  # 24:00 KST, the end of the averaged day


def test_hourly_air_replay_maps_24_00_to_midnight_and_skips_the_missing_co(rt):
    start = parse_kst_hour("2018-01-01 23:00")

    replay(rt, "seoul-air-hourly", speed=0, start=start, limit=2)
    replay(rt, "seoul-air-hourly", speed=0, start=parse_kst_hour("2019-08-01 15:00"), limit=1)

    entries = [e for e in _stream(rt, "air") if e["sensor_id"] == CITYWIDE_STATION.id]
    assert [e["time"] for e in entries] == ["2018-01-01T14:00:00+00:00", "2018-01-01T15:00:00+00:00",
                                            "2019-08-01T06:00:00+00:00"]
    assert entries[1]["values"]["pm25"] == 24.0  # the row "2018-01-01 24:00"
    assert "co" not in entries[2]["values"] and entries[2]["values"]["no2"] == 0.027


def test_cli_replays_and_reports(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CITYOPS_CITY", "metr-la")
    monkeypatch.setenv("CITYOPS_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.delenv("CITYOPS_REDIS_URL", raising=False)
    monkeypatch.delenv("CITYOPS_DATABASE_URL", raising=False)

    code = main(["replay", "metr-la", "--speed", "0", "--limit", "2", "--start", "2012-03-01T00:05"])

    out = capsys.readouterr().out
    assert code == 0
    assert "replayed 2 steps (2012-03-01T08:05:00+00:00 .. 2012-03-01T08:10:00+00:00): 414 observations" in out


def test_cli_says_which_city_a_dataset_needs(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CITYOPS_CITY", "seoul")
    monkeypatch.setenv("CITYOPS_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.delenv("CITYOPS_REDIS_URL", raising=False)
    monkeypatch.delenv("CITYOPS_DATABASE_URL", raising=False)

    code = main(["replay", "metr-la", "--speed", "0", "--limit", "1"])

    assert code == 1
    assert "CITYOPS_CITY=metr-la" in capsys.readouterr().err
