"""The proposal forms derived from the command models: every type round-trips through its form."""
from __future__ import annotations

from datetime import UTC, datetime

import pytest

from actuation.commands import PARAMS, validate_params
from actuation.forms import form_fields, from_form, to_form
from actuation.samples import example_params

NOW = datetime(2026, 11, 26, 7, 0, tzinfo=UTC)


def instants(p: dict) -> dict:
    return {k: (datetime.fromisoformat(v) if isinstance(v, str) and v[:2] == "20" and "T" in v else v) for k, v in p.items()}


@pytest.mark.parametrize("type_", list(PARAMS))
def test_each_type_round_trips_through_its_form(type_: str) -> None:
    params = validate_params(type_, example_params(type_, NOW))

    back = validate_params(type_, from_form(type_, to_form(type_, params, "Asia/Seoul"), "Asia/Seoul"))

    assert instants(back) == instants(params)


def test_form_shows_local_time_and_widgets_by_kind() -> None:
    values = to_form("bridge_closure", example_params("bridge_closure", NOW), "Asia/Seoul")
    kinds = {f.name: f.kind for f in form_fields("emergency_alert")}

    assert values["start"] == "2026-11-26T16:00"
    assert kinds["districts"] == "multi" and kinds["urgency"] == "choice" and kinds["polygon"] == "json"
    assert {f.name: f.kind for f in form_fields("gas_shutoff")} == {"zone": "text", "reason": "textarea"}


def test_unparseable_json_field_is_named_by_validation() -> None:
    from store.errors import ValidationError

    values = to_form("signal_timing", example_params("signal_timing", NOW), "Asia/Seoul") | {"plan": "{not json"}

    with pytest.raises(ValidationError) as err:
        validate_params("signal_timing", from_form("signal_timing", values, "Asia/Seoul"))
    assert "plan" in {d["field"] for d in err.value.details}
