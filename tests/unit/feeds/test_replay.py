"""Reading the recorded real data for replay: times, units, missing values (no store involved)."""
from __future__ import annotations

import csv
from datetime import UTC, datetime

import pytest

from feeds.citypack import load_pack
from feeds.replay import (
    CITYWIDE_STATION, DATA, KST, LA, MPH_TO_KMH, metr_la_frames, parse_kst_hour, parse_start, seoul_daily_frames,
    seoul_hourly_frames,
)
from store.errors import ValidationError


def test_korean_24_00_is_midnight_ending_that_day():
    assert parse_kst_hour("2018-01-01 24:00") == datetime(2018, 1, 1, 15, 0, tzinfo=UTC)  # 2018-01-02 00:00 KST
    assert parse_kst_hour("2018-01-02 01:00") == datetime(2018, 1, 1, 16, 0, tzinfo=UTC)
    assert parse_kst_hour("2018-01-01 01:00") == datetime(2017, 12, 31, 16, 0, tzinfo=UTC)


def test_hourly_records_follow_each_other_an_hour_apart_across_midnight():
    frames = [f for _, f in zip(range(50), seoul_hourly_frames(), strict=False)]

    assert all((b.time - a.time).total_seconds() == 3600 for a, b in zip(frames, frames[1:], strict=False))
    midnight = frames[23]
    assert midnight.time == datetime(2018, 1, 1, 15, 0, tzinfo=UTC)
    assert midnight.observations[0]["values"] == {"pm25": 24.0, "pm10": 43.0, "o3": 0.002, "no2": 0.05, "co": 0.8,
                                                  "so2": 0.006}  # the row "2018-01-01 24:00"


def test_hourly_missing_value_is_skipped_not_invented():
    start = parse_kst_hour("2019-08-01 15:00")

    frame = next(seoul_hourly_frames(start=start))

    assert frame.time == start
    assert frame.observations == [{"sensor_id": CITYWIDE_STATION.id, "time": "2019-08-01T06:00:00+00:00",
                                   "values": {"pm25": 16.0, "pm10": 24.0, "o3": 0.02, "no2": 0.027, "so2": 0.003}}]


def test_hourly_duplicate_day_in_the_source_is_replayed_once():
    frames = list(seoul_hourly_frames(start=parse_kst_hour("2019-11-30 23:00")))[:60]
    times = [f.time for f in frames]

    assert times == sorted(set(times))
    assert sum(f.skipped for f in frames) == 24


def test_metr_la_step_zero_is_march_first_2012_midnight_in_los_angeles_in_kmh():
    with (DATA / "los_speed_days1-5.csv").open(encoding="utf-8") as f:
        reader = csv.reader(f)
        header, row0, row1 = next(reader), next(reader), next(reader)

    first, second = [fr for _, fr in zip(range(2), metr_la_frames(), strict=False)]

    assert first.time == datetime(2012, 3, 1, 8, 0, tzinfo=UTC)
    assert (second.time - first.time).total_seconds() == 300
    assert [o["sensor_id"] for o in first.observations] == header[1:]
    assert [o["values"]["speed_kmh"] for o in first.observations] == [float(c) * MPH_TO_KMH for c in row0[1:]]
    assert [o["values"]["speed_kmh"] for o in second.observations] == [float(c) * MPH_TO_KMH for c in row1[1:]]


def test_metr_la_start_skips_earlier_steps():
    start = parse_start("2012-03-02T07:30", LA)

    frame = next(metr_la_frames(start=start))

    assert frame.time == datetime(2012, 3, 2, 15, 30, tzinfo=UTC)


def _a_district_row_with_a_gap(pack):
    names = {d.name_ko for d in pack.districts}
    cols = ("no2_ppm", "o3_ppm", "co_ppm", "so2_ppm", "pm10_ugm3", "pm25_ugm3")
    with (DATA / "seoul_daily_air_2018.csv").open(encoding="utf-8") as f:
        for row in csv.DictReader(f):
            present = [c for c in cols if row[c]]
            if row["station_name_ko"] in names and 0 < len(present) < len(cols):
                return row
    raise AssertionError("no partly missing district row in 2018")


def test_daily_records_go_to_the_district_station_without_the_missing_fields():
    pack = load_pack("seoul", "demo", 1)
    row = _a_district_row_with_a_gap(pack)
    district = next(d for d in pack.districts if d.name_ko == row["station_name_ko"])
    day = datetime.strptime(row["date"], "%Y%m%d").replace(tzinfo=KST)

    frame = next(seoul_daily_frames(pack, [DATA / "seoul_daily_air_2018.csv"], start=day))

    obs = next(o for o in frame.observations if o["sensor_id"] == pack.district_station(district.name_en).id)
    expected = {q: float(row[c]) for c, q in (("no2_ppm", "no2"), ("o3_ppm", "o3"), ("co_ppm", "co"), ("so2_ppm", "so2"),
                                              ("pm10_ugm3", "pm10"), ("pm25_ugm3", "pm25")) if row[c]}
    assert obs["values"] == expected
    assert frame.time.astimezone(KST).hour == 0 and (frame.time - day).total_seconds() == 86400


def test_daily_roadside_stations_and_empty_rows_are_skipped_and_counted():
    pack = load_pack("seoul", "demo", 1)

    first = next(seoul_daily_frames(pack, [DATA / "seoul_daily_air_2018.csv"]))

    # 2018-01-01: 39 stations; 14 roadside ones have no district station, 서대문구 has no value at all.
    assert len(first.observations) == 24 and first.skipped == 15
    assert {o["sensor_id"] for o in first.observations} <= {s.id for s in pack.sensors_of("air")}


def test_start_without_an_offset_is_the_datas_local_time():
    assert parse_start("2019-01-01", KST) == datetime(2018, 12, 31, 15, 0, tzinfo=UTC)
    assert parse_start("2019-01-01T00:00+00:00", KST) == datetime(2019, 1, 1, tzinfo=UTC)
    assert parse_start(None, KST) is None
    with pytest.raises(ValidationError):
        parse_start("yesterday", KST)
