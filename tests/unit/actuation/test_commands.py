"""What each command type accepts and refuses."""
from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from actuation import gtfs
from actuation.commands import PARAMS, affected_population, validate_params
from actuation.samples import example_params
from store.errors import ValidationError

NOW = datetime(2026, 11, 26, 7, 0, tzinfo=UTC)


@pytest.mark.parametrize("type_", list(PARAMS))
def test_every_example_is_valid(type_: str) -> None:
    assert validate_params(type_, example_params(type_, NOW))


def test_type_names_are_the_six_of_the_contract() -> None:
    assert set(PARAMS) == {"bus_reroute", "emergency_alert", "lighting_schedule", "signal_timing", "bridge_closure", "gas_shutoff"}


def bad(type_: str, **changes: Any) -> dict[str, Any]:
    p = example_params(type_, NOW)
    for k, v in changes.items():
        if v is None:
            p.pop(k, None)
        else:
            p[k] = v
    return p


@pytest.mark.parametrize("type_,params,field", [
    ("bus_reroute", bad("bus_reroute", avoid_links=[]), "params"),
    ("bus_reroute", bad("bus_reroute", end=NOW.isoformat()), "params"),
    ("bus_reroute", bad("bus_reroute", detour=["L-0102"]), "params"),
    ("emergency_alert", bad("emergency_alert", districts=[]), "params"),
    ("emergency_alert", bad("emergency_alert", districts=["Atlantis"]), "districts"),
    ("emergency_alert", bad("emergency_alert", urgency="Soon"), "urgency"),
    ("emergency_alert", bad("emergency_alert", channels=["fax"]), "channels.0"),
    ("emergency_alert", bad("emergency_alert", headline_ko=None), "headline_ko"),
    ("emergency_alert", bad("emergency_alert", effective="2026-11-26T16:00:00"), "effective"),
    ("emergency_alert", bad("emergency_alert", districts=[], polygon=[[37.5, 127.0], [37.6, 127.0], [37.6, 127.1]]), "polygon"),
    ("emergency_alert", bad("emergency_alert", msg_type="Update"), "params"),
    ("lighting_schedule", bad("lighting_schedule", override={"level_pct": 20, "end": NOW.isoformat()}), "params"),
    ("lighting_schedule", bad("lighting_schedule", profile=[{"at": "18:00", "level_pct": 100}, {"at": "06:00", "level_pct": 40}]), "params"),
    ("lighting_schedule", bad("lighting_schedule", profile=[{"at": "18:00", "level_pct": 140}]), "profile.0.level_pct"),
    ("signal_timing", bad("signal_timing", plan={"cycle_s": 120, "green_s": {"ns": 80, "ew": 50}}), "plan"),
    ("signal_timing", bad("signal_timing", corridor="C-1"), "params"),
    ("bridge_closure", bad("bridge_closure", direction="upward"), "direction"),
    ("gas_shutoff", {"zone": "Jongno-gu"}, "reason"),
    ("gas_shutoff", {"zone": "not a valve!", "reason": "leak"}, "zone"),
    ("gas_shutoff", {"zone": "Jongno-gu", "reason": "leak", "force": True}, "force"),
])
def test_bad_params_are_refused_naming_the_field(type_: str, params: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as err:
        validate_params(type_, params)

    assert field in {d["field"] for d in err.value.details}


def test_unknown_type_and_non_object_params_are_refused() -> None:
    with pytest.raises(ValidationError, match="unknown command type"):
        validate_params("launch_missiles", {})
    with pytest.raises(ValidationError, match="object"):
        validate_params("gas_shutoff", ["Jongno-gu"])


def test_gas_shutoff_takes_a_district_in_korean_or_a_valve_id() -> None:
    assert validate_params("gas_shutoff", {"zone": "종로구", "reason": "leak"})["zone"] == "Jongno-gu"
    assert validate_params("gas_shutoff", {"zone": "GV-0042", "reason": "leak"})["zone"] == "GV-0042"


def test_affected_population_sums_the_districts() -> None:
    p = validate_params("emergency_alert", example_params("emergency_alert", NOW))

    assert affected_population("emergency_alert", p) > 200_000


def test_bus_reroute_becomes_a_gtfs_realtime_detour_alert() -> None:
    p = validate_params("bus_reroute", example_params("bus_reroute", NOW))

    feed = gtfs.detour_feed(7, p)
    decoded = type(feed)()
    decoded.ParseFromString(gtfs.to_bytes(gtfs.detour_alert(7, p)))

    alert = decoded.entity[0].alert
    assert alert.effect == alert.DETOUR
    assert alert.informed_entity[0].route_id == "R-143"
    assert alert.active_period[0].end - alert.active_period[0].start == 7200
