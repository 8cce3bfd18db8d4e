"""Shifts from the settings: which shift holds a time, `--shift` ids, midnight and DST edges."""
from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest

from reports.shifts import (
    hours_in,
    make_range,
    next_shift,
    parse_instant,
    parse_range,
    parse_shift_id,
    parse_shifts,
    shift_at,
)
from store.errors import ValidationError

DEFAULT = "07-15,15-23,23-07"
SEOUL = "Asia/Seoul"
BERLIN = "Europe/Berlin"


def test_default_pattern_has_three_eight_hour_shifts() -> None:
    defs = parse_shifts(DEFAULT)

    assert [(d.start, d.end) for d in defs] == [(time(7), time(15)), (time(15), time(23)), (time(23), time(7))]
    assert [d.crosses_midnight for d in defs] == [False, False, True]


def test_minutes_in_the_pattern_are_allowed() -> None:
    defs = parse_shifts("06:30-18:30,18:30-06:30")

    assert defs[0].start == time(6, 30) and defs[1].end == time(6, 30)


@pytest.mark.parametrize("spec", ["", "07-15,15-23", "07-15,16-07", "07-15,15-23,23-08", "7-25,25-7",
                                  "morning", "07-15,15-23,23-07,07-15", "07:75-15,15-07"])
def test_patterns_that_do_not_tile_the_day_are_refused(spec: str) -> None:
    with pytest.raises(ValidationError):
        parse_shifts(spec)


def test_a_morning_time_in_seoul_is_in_the_day_shift() -> None:
    # 10:00 KST = 01:00 UTC
    p = shift_at(datetime(2026, 11, 26, 1, 0, tzinfo=UTC), DEFAULT, SEOUL)

    assert p.shift_id == "2026-11-26T07"
    assert p.start == datetime(2026, 11, 25, 22, 0, tzinfo=UTC)
    assert p.end == datetime(2026, 11, 26, 6, 0, tzinfo=UTC)


def test_an_early_morning_time_belongs_to_the_night_shift_that_began_the_day_before() -> None:
    # 03:00 KST on the 27th = 18:00 UTC on the 26th
    p = shift_at(datetime(2026, 11, 26, 18, 0, tzinfo=UTC), DEFAULT, SEOUL)

    assert p.shift_id == "2026-11-26T23"
    assert p.local_start.hour == 23 and p.local_end.hour == 7
    assert p.duration == timedelta(hours=8)


def test_a_boundary_instant_belongs_to_the_shift_that_starts_there() -> None:
    boundary = datetime(2026, 11, 26, 6, 0, tzinfo=UTC)  # 15:00 KST

    assert shift_at(boundary, DEFAULT, SEOUL).shift_id == "2026-11-26T15"
    assert shift_at(boundary - timedelta(microseconds=1), DEFAULT, SEOUL).shift_id == "2026-11-26T07"


def test_naive_time_cannot_be_placed() -> None:
    with pytest.raises(ValidationError):
        shift_at(datetime(2026, 11, 26, 3), DEFAULT, SEOUL)


def test_shift_id_round_trips() -> None:
    p = parse_shift_id("2026-11-26T07", DEFAULT, SEOUL)

    assert p.shift_id == "2026-11-26T07"
    assert p.label == "2026-11-26 07:00–15:00 (Asia/Seoul)"
    assert p.slug == "shift-2026-11-26T07"


def test_night_shift_label_marks_the_next_day() -> None:
    assert parse_shift_id("2026-11-26T23", DEFAULT, SEOUL).label == "2026-11-26 23:00–07:00 (+1) (Asia/Seoul)"


@pytest.mark.parametrize("text", ["2026-11-26T08", "2026-11-26", "26/11/2026T07", "2026-13-01T07", "2026-02-30T07", "yesterday"])
def test_bad_shift_ids_are_refused_with_a_reason(text: str) -> None:
    with pytest.raises(ValidationError):
        parse_shift_id(text, DEFAULT, SEOUL)


def test_unknown_time_zone_is_refused() -> None:
    with pytest.raises(ValidationError, match="time zone"):
        parse_shift_id("2026-11-26T07", DEFAULT, "Mars/Olympus_Mons")


def test_next_shift_follows_across_midnight() -> None:
    night = parse_shift_id("2026-11-26T23", DEFAULT, SEOUL)

    assert next_shift(night, DEFAULT).shift_id == "2026-11-27T07"


def test_berlin_night_shift_on_spring_dst_is_seven_hours() -> None:
    # Clocks go 02:00 -> 03:00 on Sunday 29 March 2026.
    p = parse_shift_id("2026-03-28T23", DEFAULT, BERLIN)

    assert p.duration == timedelta(hours=7)
    assert p.start == datetime(2026, 3, 28, 22, 0, tzinfo=UTC)  # 23:00 CET
    assert p.end == datetime(2026, 3, 29, 5, 0, tzinfo=UTC)  # 07:00 CEST
    assert len(hours_in(p)) == 7


def test_berlin_night_shift_on_autumn_dst_is_nine_hours() -> None:
    # Clocks go 03:00 -> 02:00 on Sunday 25 October 2026.
    p = parse_shift_id("2026-10-24T23", DEFAULT, BERLIN)

    assert p.duration == timedelta(hours=9)
    hours = hours_in(p)
    assert len(hours) == 9
    assert [h.hour for h in hours] == [23, 0, 1, 2, 2, 3, 4, 5, 6]  # the wall clock shows 02 twice
    assert len({h.astimezone(UTC) for h in hours}) == 9


def test_dst_night_shifts_tile_with_their_neighbours() -> None:
    for night in ("2026-03-28T23", "2026-10-24T23"):
        p = parse_shift_id(night, DEFAULT, BERLIN)
        before = shift_at(p.start - timedelta(seconds=1), DEFAULT, BERLIN)
        after = next_shift(p, DEFAULT)

        assert before.end == p.start and after.start == p.end
        assert after.duration == timedelta(hours=8)


def test_a_time_in_the_repeated_hour_is_in_the_night_shift() -> None:
    # 00:30 UTC and 01:30 UTC on 25 Oct 2026 are both 02:30 on Berlin's wall clock.
    for utc_hour in (0, 1):
        p = shift_at(datetime(2026, 10, 25, utc_hour, 30, tzinfo=UTC), DEFAULT, BERLIN)
        assert p.shift_id == "2026-10-24T23"


def test_shift_boundary_inside_the_skipped_hour_moves_to_after_the_jump() -> None:
    # A pattern with a boundary at 02:30, which does not exist on 29 March 2026 in Berlin.
    spec = "02:30-14:30,14:30-02:30"
    p = parse_shift_id("2026-03-28T14:30", spec, BERLIN)

    assert p.end == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)  # 02:30 read with the pre-jump offset = 03:30 CEST
    assert next_shift(p, spec).start == p.end


def test_range_without_offset_is_local_time() -> None:
    p = parse_range("2026-11-26T07:00", "2026-11-26T10:00", SEOUL)

    assert p.start == datetime(2026, 11, 25, 22, 0, tzinfo=UTC)
    assert p.duration == timedelta(hours=3)
    assert p.shift is None and p.slug == "range-20261126T0700-20261126T1000"


def test_range_with_offset_keeps_the_offset() -> None:
    p = parse_range("2026-11-25T22:00Z", "2026-11-26T06:00+00:00", SEOUL, DEFAULT)

    assert p.shift_id == "2026-11-26T07"  # exactly one shift: named as such


def test_range_across_the_spring_dst_gap_counts_real_hours() -> None:
    p = parse_range("2026-03-29T00:00", "2026-03-29T06:00", BERLIN)

    assert p.duration == timedelta(hours=5)
    assert [h.hour for h in hours_in(p)] == [0, 1, 3, 4, 5]


@pytest.mark.parametrize(("start", "end"), [("2026-11-26T10:00", "2026-11-26T09:00"), ("2026-11-26T10:00", "2026-11-26T10:00"),
                                            ("nonsense", "2026-11-26T10:00"), ("2026-11-26T10:00", ""),
                                            ("2026-01-01T00:00", "2026-03-01T00:00")])
def test_bad_ranges_are_refused(start: str, end: str) -> None:
    with pytest.raises(ValidationError):
        parse_range(start, end, SEOUL)


def test_make_range_refuses_naive_times() -> None:
    with pytest.raises(ValidationError):
        make_range(datetime(2026, 1, 1), datetime(2026, 1, 2), SEOUL)


def test_half_hour_zone_hours_follow_the_local_clock() -> None:
    p = parse_range("2026-11-26T07:00", "2026-11-26T09:00", "Asia/Kolkata")

    assert [h.strftime("%H:%M") for h in hours_in(p)] == ["07:00", "08:00"]
    assert parse_instant("2026-11-26T07:00", "Asia/Kolkata") == datetime(2026, 11, 26, 1, 30, tzinfo=UTC)
