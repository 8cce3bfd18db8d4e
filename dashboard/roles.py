"""Who may do what: one table, checked on the server in every route and callback.

Hiding a button is a courtesy; these checks are the rule. Command-specific rules (who may
propose or approve which command type) live in actuation's policy file; this table gates the
screens and routes.
"""
from __future__ import annotations

from store.errors import NotAuthorized

CONSOLE = frozenset({"operator", "supervisor", "shift_lead", "admin"})
ACTORS = frozenset({"operator", "supervisor", "shift_lead"})

PERMISSIONS: dict[str, frozenset[str]] = {
    "view.live": CONSOLE | {"wall"},          # wall, traffic, air: read-only views
    "view.console": CONSOLE,                   # every page but the wall
    "quarantine.review": ACTORS | {"admin"},  # list and release quarantined values
    "alerts.act": ACTORS,                      # ack, assign, comment, resolve with verdict
    "commands.propose": ACTORS,
    "commands.approve": frozenset({"supervisor", "shift_lead"}),
    "reports.view": frozenset({"shift_lead", "supervisor", "admin"}),
    "reports.export": frozenset({"shift_lead", "admin"}),
    "handover.sign": frozenset({"shift_lead"}),
    "sensors.register": ACTORS | {"admin"},  # or an API key (field systems register their own)
    "admin": frozenset({"admin"}),
}


def allowed(role: str | None, permission: str) -> bool:
    return role is not None and role in PERMISSIONS[permission]


def check(role: str | None, permission: str) -> None:
    """Raise NotAuthorized unless `role` holds `permission`."""
    if not allowed(role, permission):
        raise NotAuthorized(f"the role {role or 'anonymous'!r} may not do this ({permission})", key="forbidden")
