"""Command policy: who may propose each command type, how many distinct approvers it needs and
of which roles, when a pending request expires, and whether it can be reverted.

The rules are data (`actuation/policy.json`, readable by the admin) turned into frozen rows; the
functions here are pure. The seed's safety floor is in code, not in the file, so that an edited
file can tighten the rules but never let an emergency alert, bridge closure or gas shut-off run
without its approvers.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from store.errors import NotAuthorized, ValidationError

POLICY_FILE = Path(__file__).parent / "policy.json"
COMMAND_TYPES = ("bus_reroute", "emergency_alert", "lighting_schedule", "signal_timing", "bridge_closure", "gas_shutoff")
ACTING_ROLES = frozenset({"operator", "supervisor", "shift_lead"})
# The seed's minimums: no policy file may lower them.
SAFETY_FLOOR: dict[str, int] = {"emergency_alert": 1, "bridge_closure": 2, "gas_shutoff": 2}


@dataclass(frozen=True)
class Rule:
    type: str
    safety_critical: bool
    proposers: frozenset[str]
    approvals: int
    approver_roles: frozenset[str]
    expiry_minutes: float | None
    revertible: bool

    @property
    def needs_approval(self) -> bool:
        return self.approvals > 0

    def expiry(self, default_minutes: float) -> float:
        return self.expiry_minutes if self.expiry_minutes is not None else default_minutes


Policy = dict[str, Rule]


def parse_policy(raw: dict[str, Any]) -> Policy:
    """Rows from the file's JSON; ValidationError naming the bad entry otherwise."""
    rules: Policy = {}
    for type_ in COMMAND_TYPES:
        entry = raw.get(type_)
        if not isinstance(entry, dict):
            raise ValidationError(f"policy: no entry for command type {type_!r}")
        try:
            rule = Rule(type=type_, safety_critical=bool(entry["safety_critical"]),
                        proposers=frozenset(entry["proposers"]), approvals=int(entry["approvals"]),
                        approver_roles=frozenset(entry["approver_roles"]),
                        expiry_minutes=None if entry.get("expiry_minutes") is None else float(entry["expiry_minutes"]),
                        revertible=bool(entry["revertible"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValidationError(f"policy: entry {type_!r} is malformed ({exc!r})") from None
        unknown = (rule.proposers | rule.approver_roles) - ACTING_ROLES
        if unknown:
            raise ValidationError(f"policy: {type_!r} names roles that cannot act: {sorted(unknown)}")
        floor = SAFETY_FLOOR.get(type_, 0)
        if rule.approvals < floor or (floor and not rule.safety_critical):
            raise ValidationError(f"policy: {type_!r} is safety-critical and needs at least {floor} approver(s)")
        if rule.approvals and not rule.approver_roles:
            raise ValidationError(f"policy: {type_!r} needs approvals but names no approver role")
        if rule.expiry_minutes is not None and rule.expiry_minutes <= 0:
            raise ValidationError(f"policy: {type_!r} expiry must be positive")
        rules[type_] = rule
    extra = set(raw) - set(COMMAND_TYPES) - {"_comment"}
    if extra:
        raise ValidationError(f"policy: unknown command types {sorted(extra)}")
    return rules


@cache
def load_policy(path: Path = POLICY_FILE) -> Policy:
    return parse_policy(json.loads(path.read_text(encoding="utf-8")))


def rule_for(policy: Policy, type_: str) -> Rule:
    try:
        return policy[type_]
    except KeyError:
        raise ValidationError(f"unknown command type {type_!r}; one of {', '.join(COMMAND_TYPES)}") from None


def check_may_propose(rule: Rule, role: str | None) -> None:
    if role not in rule.proposers:
        raise NotAuthorized(f"the role {role or 'anonymous'!r} may not propose {rule.type}")


def check_may_approve(rule: Rule, role: str | None) -> None:
    if role not in rule.approver_roles:
        raise NotAuthorized(f"the role {role or 'anonymous'!r} may not approve {rule.type}")
