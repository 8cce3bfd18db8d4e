"""The latest-state rule (`feeds.latest.merge_state`) and the idempotency decision, pure."""
from __future__ import annotations

import pytest

from feeds import idempotency
from feeds.latest import is_full, merge_state
from store.errors import Conflict, ValidationError

T1, T2, T3 = "2026-11-26T10:01:00+00:00", "2026-11-26T10:02:00+00:00", "2026-11-26T10:02:00.500000+00:00"


def state(t: str, qa: dict[str, str] | None = None, **v: float) -> dict[str, object]:
    return {"t": t, "v": v, "qa": qa or dict.fromkeys(v, "ok"), "d": "Jung-gu"}


def test_newer_observation_replaces_the_values_it_carries() -> None:
    merged = merge_state(state(T1, pm25=10, pm10=20), state(T2, pm25=11))

    assert merged == {"t": T2, "v": {"pm25": 11, "pm10": 20}, "qa": {"pm25": "ok", "pm10": "ok"}, "d": "Jung-gu",
                      "tq": {"pm10": T1}}


def test_older_observation_changes_nothing() -> None:
    assert merge_state(state(T2, pm25=11, pm10=21), state(T1, pm25=99, pm10=98)) is None


def test_late_quantity_reported_separately_still_updates_its_own_value() -> None:
    stored = merge_state(state(T1, pm25=10, no2=0.01), state(T3, pm25=12))  # no2 last seen at T1

    merged = merge_state(stored, state(T2, no2=0.02))  # older than t, newer than no2's own time

    assert merged is not None
    assert merged["v"] == {"pm25": 12, "no2": 0.02}
    assert (merged["t"], merged["tq"]) == (T3, {"no2": T2})


def test_sub_second_times_order_after_the_whole_second() -> None:
    merged = merge_state(state(T3, pm25=5), state(T2, pm25=6))  # 10:02:00 is older than 10:02:00.5

    assert merged is None


def test_newer_quarantined_value_keeps_the_last_good_value_and_marks_it() -> None:
    merged = merge_state(state(T1, pm25=10), {"t": T2, "v": {}, "qa": {"pm25": "quarantined"}, "d": "Jung-gu"})

    assert merged == {"t": T2, "v": {"pm25": 10}, "qa": {"pm25": "quarantined"}, "d": "Jung-gu"}


def test_a_state_is_full_only_with_every_quantity_at_one_time_and_none_quarantined() -> None:
    assert is_full(state(T1, pm25=1, pm10=2), 2)
    assert not is_full(state(T1, pm25=1), 2)
    assert not is_full(state(T1, {"pm25": "quarantined", "pm10": "ok"}, pm25=1, pm10=2), 2)
    assert not is_full({**state(T2, pm25=1, pm10=2), "tq": {"pm10": T1}}, 2)


def test_same_body_after_the_first_request_finished_gets_its_answer() -> None:
    claim = idempotency.Claim("k", "pending", "fp1")

    replay = idempotency.decide(claim.done_record(200, {"accepted": 3}), "fp1")

    assert replay == idempotency.Replay(200, {"accepted": 3})


@pytest.mark.parametrize(("record", "fp", "key"), [
    (b'{"state": "done", "fp": "fp1", "status": 200, "body": {}}', "fp2", "idempotency_mismatch"),
    (b'{"state": "pending", "fp": "fp1", "token": "x"}', "fp2", "idempotency_mismatch"),
    (b'{"state": "pending", "fp": "fp1", "token": "x"}', "fp1", "idempotency_in_progress"),
    (b"not json", "fp1", "idempotency_mismatch"),
])
def test_reused_key_is_a_conflict_naming_why(record: bytes, fp: str, key: str) -> None:
    with pytest.raises(Conflict) as err:
        idempotency.decide(record, fp)

    assert err.value.key == key
    assert err.value.status == 409


@pytest.mark.parametrize("raw", ["", "x" * 201, "caf\u00e9", "a\tb"])
def test_unusable_idempotency_keys_are_refused(raw: str) -> None:
    with pytest.raises(ValidationError, match="Idempotency-Key"):
        idempotency.check_key(raw)
