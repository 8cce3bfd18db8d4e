"""The approval queue as a pure state machine: no session, no Redis, no Flask.

    proposed → pending → approved → dispatching → executed | failed
                  ├──→ rejected (with a reason)
                  ├──→ expired  (nobody decided in time)
                  └──→ cancelled (by the proposer)

A command whose policy needs no approval goes proposed → approved at once. Every method checks
the allowed-transitions table, changes state and appends a past-tense event; an illegal move
raises `InvalidTransition`. The two-person rules (never the proposer, never the same person twice,
only the policy's roles) are checked here, so every caller (API, pages, tests) gets them.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from actuation.policy import Rule, check_may_propose
from store.errors import Conflict, InvalidTransition, NotAuthorized, ValidationError

PROPOSED, PENDING, APPROVED, DISPATCHING = "proposed", "pending", "approved", "dispatching"
EXECUTED, FAILED, REJECTED, EXPIRED, CANCELLED = "executed", "failed", "rejected", "expired", "cancelled"
STATES = (PROPOSED, PENDING, APPROVED, DISPATCHING, EXECUTED, FAILED, REJECTED, EXPIRED, CANCELLED)
FINAL = frozenset({EXECUTED, FAILED, REJECTED, EXPIRED, CANCELLED})

# (state, action) -> next state. Anything absent is refused.
TRANSITIONS: dict[tuple[str, str], str] = {
    (PROPOSED, "submit"): PENDING,
    (PROPOSED, "run_at_once"): APPROVED,
    (PROPOSED, "cancel"): CANCELLED,
    (PENDING, "approve"): PENDING,          # a first approval of a two-approver command
    (PENDING, "approve_final"): APPROVED,
    (PENDING, "reject"): REJECTED,
    (PENDING, "expire"): EXPIRED,
    (PENDING, "cancel"): CANCELLED,
    (APPROVED, "start_dispatch"): DISPATCHING,
    (DISPATCHING, "start_dispatch"): DISPATCHING,  # a retry or a re-claim after a crash
    (DISPATCHING, "execute"): EXECUTED,
    (DISPATCHING, "fail"): FAILED,
}


@dataclass(frozen=True)
class Context:
    """Who did it and what caused it; audit, outbox and live payloads carry its id."""

    user_id: str
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    parent_id: str | None = None

    def child(self, user_id: str | None = None) -> Context:
        return Context(user_id=user_id or self.user_id, parent_id=self.id)


# Imperative requests (what a user asks for).
@dataclass(frozen=True)
class Cause:
    """What a command was proposed from: an alert and/or an incident (ids checked by the service).

    Kept beside the params, not in them, because the params are what the field system receives
    and each type's form forbids keys it does not know."""

    alert_id: int | None = None
    incident_id: int | None = None

    def parent_id(self) -> str | None:
        """The context parent a proposal from this cause carries, so the audit log answers
        "what did alert 12 cause" with one query on ``parent_id = 'alert:12'``."""
        if self.alert_id is not None:
            return f"alert:{self.alert_id}"
        if self.incident_id is not None:
            return f"incident:{self.incident_id}"
        return None


@dataclass(frozen=True)
class ProposeCommand:
    type: str
    params: dict[str, Any]
    role: str
    context: Context
    cause: Cause = field(default_factory=Cause)


@dataclass(frozen=True)
class ApproveCommand:
    command_id: int
    role: str
    context: Context


@dataclass(frozen=True)
class RejectCommand:
    command_id: int
    role: str
    reason: str
    context: Context


@dataclass(frozen=True)
class CancelCommand:
    command_id: int
    role: str
    context: Context


# Past-tense events (what happened).
@dataclass(frozen=True)
class Event:
    command_id: int | None
    at: datetime
    actor: str
    context_id: str
    parent_id: str | None = None  # the context that caused it (an alert, the approval a dispatch carries out)

    @property
    def name(self) -> str:
        return type(self).__name__


@dataclass(frozen=True)
class CommandProposed(Event):
    type: str = ""
    alert_id: int | None = None
    incident_id: int | None = None


@dataclass(frozen=True)
class CommandSubmitted(Event):
    expires_at: datetime | None = None


@dataclass(frozen=True)
class CommandApproved(Event):
    role: str = ""
    final: bool = False  # the approval that completes the command: the outbox row goes with it


@dataclass(frozen=True)
class CommandRejected(Event):
    reason: str = ""


@dataclass(frozen=True)
class CommandExpired(Event):
    pass


@dataclass(frozen=True)
class CommandCancelled(Event):
    pass


@dataclass(frozen=True)
class CommandDispatchStarted(Event):
    attempt: int = 1


@dataclass(frozen=True)
class CommandExecuted(Event):
    result: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CommandFailed(Event):
    error: str = ""


@dataclass(frozen=True)
class Approval:
    user_id: str
    role: str
    at: datetime
    context_id: str


@dataclass
class Command:
    """One command and its approvals. `version` is what the store's guarded UPDATE checks."""

    id: int | None
    type: str
    params: dict[str, Any]
    proposer: str
    proposer_role: str
    state: str
    created_at: datetime
    approvals_needed: int
    approver_roles: frozenset[str]
    expires_at: datetime | None = None
    approvals: list[Approval] = field(default_factory=list)
    reason: str | None = None
    version: int = 0
    context_id: str = ""
    cause: Cause = field(default_factory=Cause)
    events: list[Event] = field(default_factory=list, repr=False)

    # -- creation ------------------------------------------------------------------------------
    @classmethod
    def propose(cls, rule: Rule, params: dict[str, Any], role: str, ctx: Context, now: datetime,
                default_expiry_minutes: float, cause: Cause | None = None) -> Command:
        """A new command: pending approval, or approved at once when the policy needs none."""
        check_may_propose(rule, role)
        cause = cause or Cause()
        cmd = cls(id=None, type=rule.type, params=params, proposer=ctx.user_id, proposer_role=role, state=PROPOSED,
                  created_at=now, approvals_needed=rule.approvals, approver_roles=rule.approver_roles,
                  context_id=ctx.id, cause=cause)
        cmd._emit(CommandProposed, ctx, now, type=rule.type, alert_id=cause.alert_id, incident_id=cause.incident_id)
        if rule.needs_approval:
            cmd._move("submit")
            cmd.expires_at = now + timedelta(minutes=rule.expiry(default_expiry_minutes))
            cmd._emit(CommandSubmitted, ctx, now, expires_at=cmd.expires_at)
        else:
            cmd._move("run_at_once")
            cmd._emit(CommandApproved, ctx, now, role=role, final=True)
        return cmd

    # -- decisions -----------------------------------------------------------------------------
    def approve(self, ctx: Context, role: str, now: datetime) -> None:
        self._require(PENDING, "approve")
        if self.is_overdue(now):
            raise InvalidTransition(f"command {self.id} expired at {self.expires_at:%H:%M:%S} UTC; propose it again")
        if ctx.user_id == self.proposer:
            raise NotAuthorized("the proposer may not approve their own command", key="own_command")
        if any(a.user_id == ctx.user_id for a in self.approvals):
            raise Conflict(f"{ctx.user_id} has already approved command {self.id}; a second approver must be someone else",
                           key="already_approved")
        if role not in self.approver_roles:
            raise NotAuthorized(f"the role {role!r} may not approve {self.type}")
        self.approvals.append(Approval(ctx.user_id, role, now, ctx.id))
        final = len(self.approvals) >= self.approvals_needed
        self._move("approve_final" if final else "approve")
        self._emit(CommandApproved, ctx, now, role=role, final=final)

    def reject(self, ctx: Context, role: str, reason: str, now: datetime) -> None:
        self._require(PENDING, "reject")
        if not reason or not reason.strip():
            raise ValidationError("a rejection needs a reason")
        if role not in self.approver_roles:
            raise NotAuthorized(f"the role {role!r} may not reject {self.type}")
        if ctx.user_id == self.proposer:
            raise NotAuthorized("the proposer cancels, not rejects, their own command", key="own_command")
        self._move("reject")
        self.reason = reason.strip()
        self._emit(CommandRejected, ctx, now, reason=self.reason)

    def cancel(self, ctx: Context, now: datetime) -> None:
        if ctx.user_id != self.proposer:
            raise NotAuthorized("only the proposer may cancel a command")
        self._require((PROPOSED, PENDING), "cancel")
        self._move("cancel")
        self._emit(CommandCancelled, ctx, now)

    def expire(self, ctx: Context, now: datetime) -> None:
        self._require(PENDING, "expire")
        if not self.is_overdue(now):
            raise InvalidTransition(f"command {self.id} is not due to expire before {self.expires_at}")
        self._move("expire")
        self._emit(CommandExpired, ctx, now)

    # -- dispatch ------------------------------------------------------------------------------
    def start_dispatch(self, ctx: Context, now: datetime, attempt: int) -> None:
        self._require((APPROVED, DISPATCHING), "start_dispatch")
        self._move("start_dispatch")
        self._emit(CommandDispatchStarted, ctx, now, attempt=attempt)

    def executed(self, ctx: Context, now: datetime, result: dict[str, Any]) -> None:
        self._require(DISPATCHING, "execute")
        self._move("execute")
        self._emit(CommandExecuted, ctx, now, result=result)

    def failed(self, ctx: Context, now: datetime, error: str) -> None:
        self._require(DISPATCHING, "fail")
        self._move("fail")
        self.reason = error
        self._emit(CommandFailed, ctx, now, error=error)

    # -- helpers -------------------------------------------------------------------------------
    def _emit(self, cls: type[Event], ctx: Context, now: datetime, **fields: Any) -> None:
        self.events.append(cls(self.id, now, ctx.user_id, ctx.id, parent_id=ctx.parent_id, **fields))

    def is_overdue(self, now: datetime) -> bool:
        return self.state == PENDING and self.expires_at is not None and now >= self.expires_at

    def distinct_approvers(self) -> set[str]:
        return {a.user_id for a in self.approvals}

    def _require(self, states: str | tuple[str, ...], action: str) -> None:
        allowed = (states,) if isinstance(states, str) else states
        if self.state not in allowed:
            raise InvalidTransition(f"command {self.id} is {self.state}; cannot {action.replace('_', ' ')}")

    def _move(self, action: str) -> None:
        nxt = TRANSITIONS.get((self.state, action))
        if nxt is None:
            raise InvalidTransition(f"command {self.id} is {self.state}; cannot {action.replace('_', ' ')}")
        self.state = nxt
