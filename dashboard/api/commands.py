"""Commands and approvals over REST: the same actuation services the pages call.

Roles are checked twice on purpose: `require()` gates the route by permission, and the
actuation model applies the command policy (who may propose or approve which type, never the
proposer, never the same person twice) whatever the caller.
"""
from __future__ import annotations

import logging
from typing import Any, Literal

from flask import Response, jsonify, request
from pydantic import BaseModel, ConfigDict, Field

from actuation import cap, queries, service
from actuation.model import ApproveCommand, CancelCommand, Cause, Context, ProposeCommand, RejectCommand
from dashboard.api import current_role, endpoint, parse_body, require, runtime
from store.errors import ValidationError

log = logging.getLogger(__name__)
CommandType = Literal["bus_reroute", "emergency_alert", "lighting_schedule", "signal_timing", "bridge_closure", "gas_shutoff"]


class CommandIn(BaseModel):
    """What POST /commands takes; what POST /cap/import returns fits it as it is (extra keys ignored)."""

    model_config = ConfigDict(extra="ignore")
    type: CommandType
    params: dict[str, Any]
    parent_context_id: str | None = Field(None, max_length=40, description="context of what caused it (an alert)")
    alert_id: int | None = Field(None, ge=1, description="the alert it is proposed from (must exist: 404)")
    incident_id: int | None = Field(None, ge=1, description="the incident it is proposed for (must exist: 404)")


class ApprovalOut(BaseModel):
    user: str
    role: str
    at: str


class CommandOut(BaseModel):
    id: int
    type: str
    state: str
    params: dict[str, Any]
    proposer: str
    approvals: list[ApprovalOut]
    approvals_needed: int
    expires_at: str | None
    time_left_s: float | None
    reason: str | None
    affected_population: int
    alert_id: int | None
    incident_id: int | None


class CommandList(BaseModel):
    commands: list[CommandOut]


class RejectIn(BaseModel):
    reason: str = Field(min_length=3, max_length=500)


class CapDraft(BaseModel):
    type: Literal["emergency_alert"]
    params: dict[str, Any]
    notes: list[str]
    source: dict[str, str]


def _ctx(user: str) -> Context:
    return Context(user_id=user, parent_id=request.headers.get("X-Context-Id"))


@endpoint("/commands", "POST", summary="Propose a command", tag="commands", body=CommandIn, response=CommandOut,
          permission="commands.propose", responses={400: "invalid type or params, or an alert of another incident",
                                                    403: "role may not propose this type", 404: "no such alert or incident"})
def propose_command() -> Any:
    user = require("commands.propose")
    body: CommandIn = parse_body(CommandIn)
    ctx = Context(user_id=user, parent_id=body.parent_context_id)
    cause = Cause(body.alert_id, body.incident_id)
    view = service.propose(runtime(), ProposeCommand(body.type, body.params, current_role() or "", ctx, cause))
    return jsonify(view), 201


@endpoint("/commands", "GET", summary="List commands: mine, by state, or those I may decide", tag="commands",
          response=CommandList, permission="view.console", params=[
              {"name": "mine", "in": "query", "schema": {"type": "boolean"}},
              {"name": "state", "in": "query", "schema": {"type": "string"}},
              {"name": "decide", "in": "query", "schema": {"type": "boolean"}, "description": "pending ones I may approve"}])
def list_commands() -> Any:
    user = require("view.console")
    rt = runtime()
    state = request.args.get("state") or None
    if state and state not in ("proposed", "pending", "approved", "dispatching", "executed", "failed", "rejected", "expired", "cancelled"):
        raise ValidationError(f"unknown state {state!r}")
    if request.args.get("decide") in ("1", "true"):
        return jsonify({"commands": queries.pending_for(rt, user)})
    mine = request.args.get("mine") in ("1", "true")
    return jsonify({"commands": queries.list_commands(rt, proposer=user if mine else None, state=state)})


@endpoint("/commands/<int:command_id>", "GET", summary="One command with approvals, dispatch and delivery",
          tag="commands", response=CommandOut, permission="view.console", responses={404: "no such command"})
def get_command(command_id: int) -> Any:
    require("view.console")
    return jsonify(queries.command_view(runtime(), command_id))


@endpoint("/commands/<int:command_id>/approve", "POST", summary="Approve (never your own; two-approver types need two people)",
          tag="commands", response=CommandOut, permission="commands.approve",
          responses={404: "no such command", 409: "not pending, expired, already approved by you, or changed meanwhile"})
def approve_command(command_id: int) -> Any:
    user = require("commands.approve")
    return jsonify(service.approve(runtime(), ApproveCommand(command_id, current_role() or "", _ctx(user))))


@endpoint("/commands/<int:command_id>/reject", "POST", summary="Reject with a reason", tag="commands", body=RejectIn,
          response=CommandOut, permission="commands.approve", responses={400: "no reason", 404: "no such command", 409: "not pending"})
def reject_command(command_id: int) -> Any:
    user = require("commands.approve")
    body: RejectIn = parse_body(RejectIn)
    return jsonify(service.reject(runtime(), RejectCommand(command_id, current_role() or "", body.reason, _ctx(user))))


@endpoint("/commands/<int:command_id>/cancel", "POST", summary="Withdraw your own command before it is approved",
          tag="commands", response=CommandOut, permission="commands.propose",
          responses={404: "no such command", 409: "already decided"})
def cancel_command(command_id: int) -> Any:
    user = require("commands.propose")
    return jsonify(service.cancel(runtime(), CancelCommand(command_id, current_role() or "", _ctx(user))))


@endpoint("/commands/<int:command_id>/cap.xml", "GET", summary="The CAP 1.2 XML of an emergency alert (sent, or a preview)",
          tag="commands", permission="view.console", responses={404: "no such command or not an emergency alert"})
def command_cap(command_id: int) -> Any:
    require("view.console")
    return Response(queries.cap_xml(runtime(), command_id), mimetype="application/cap+xml")


@endpoint("/cap/import", "POST", summary="A CAP 1.2 file in, a draft emergency_alert out (postable to /commands)",
          tag="commands", response=CapDraft, permission="commands.propose", content_type="application/xml",
          responses={400: "not XML, not CAP 1.2 (e.g. CAP 1.1), hostile XML or schema-invalid", 413: "too large"})
def import_cap() -> Any:
    require("commands.propose")
    data = request.get_data(cache=False)
    draft = cap.parse(data, runtime().clock.now())
    log.info("CAP file %s from %s imported as a draft", draft["source"].get("identifier"), draft["source"].get("sender"))
    return jsonify(draft)


class RuleOut(BaseModel):
    type: str
    safety_critical: bool
    proposers: list[str]
    approvals: int
    approver_roles: list[str]
    expiry_minutes: float
    revertible: bool


class PolicyOut(BaseModel):
    rules: list[RuleOut]
    source: str


@endpoint("/commands/policy", "GET", summary="The command policy in force (actuation/policy.json with the safety floor)",
          tag="commands", response=PolicyOut, permission="view.console")
def command_policy() -> Any:
    require("view.console")
    from actuation.policy import POLICY_FILE, load_policy

    default = runtime().settings.approval_expiry_minutes
    rules = [{"type": r.type, "safety_critical": r.safety_critical, "proposers": sorted(r.proposers), "approvals": r.approvals,
              "approver_roles": sorted(r.approver_roles), "expiry_minutes": r.expiry(default), "revertible": r.revertible}
             for r in load_policy().values()]
    return jsonify({"rules": rules, "source": POLICY_FILE.name})
