"""The policy file: the seed's defaults, and a safety floor no edited file can lower."""
from __future__ import annotations

import json

import pytest

from actuation.policy import POLICY_FILE, load_policy, parse_policy
from store.errors import ValidationError


def test_shipped_policy_matches_the_seed() -> None:
    policy = load_policy()

    assert {t for t, r in policy.items() if r.safety_critical} == {"emergency_alert", "bridge_closure", "gas_shutoff"}
    assert policy["gas_shutoff"].approvals == policy["bridge_closure"].approvals == 2
    assert policy["emergency_alert"].approvals == 1
    assert all(policy[t].approvals == 0 for t in ("bus_reroute", "lighting_schedule", "signal_timing"))
    assert "operator" not in policy["gas_shutoff"].approver_roles


@pytest.mark.parametrize("type_,approvals", [("gas_shutoff", 1), ("bridge_closure", 0), ("emergency_alert", 0)])
def test_policy_file_cannot_lower_the_safety_floor(type_: str, approvals: int) -> None:
    raw = json.loads(POLICY_FILE.read_text())
    raw[type_]["approvals"] = approvals

    with pytest.raises(ValidationError, match=type_):
        parse_policy(raw)


def test_policy_naming_an_unknown_or_passive_role_is_refused() -> None:
    raw = json.loads(POLICY_FILE.read_text())
    raw["gas_shutoff"]["approver_roles"] = ["wall"]

    with pytest.raises(ValidationError, match="cannot act"):
        parse_policy(raw)


def test_policy_missing_a_type_is_refused() -> None:
    raw = json.loads(POLICY_FILE.read_text())
    del raw["signal_timing"]

    with pytest.raises(ValidationError, match="signal_timing"):
        parse_policy(raw)


def test_policy_may_tighten_a_rule() -> None:
    raw = json.loads(POLICY_FILE.read_text())
    raw["bus_reroute"].update(approvals=1, approver_roles=["supervisor"], expiry_minutes=5)

    rule = parse_policy(raw)["bus_reroute"]

    assert rule.needs_approval and rule.expiry(15) == 5
