"""Use cases of the approval queue: load → call the model → commit, one transaction each.

The REST API, the pages and the tests all call these, so the policy and the two-person rules are
enforced in one place. Each returns the command's view (`queries.command_view`).
"""
from __future__ import annotations

import dataclasses
import importlib
import logging
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from actuation import cap, gtfs
from actuation.commands import validate_params
from actuation.model import (
    PENDING,
    ApproveCommand,
    CancelCommand,
    Cause,
    Command,
    Context,
    ProposeCommand,
    RejectCommand,
)
from actuation.policy import Policy, load_policy, rule_for
from actuation.queries import command_view
from actuation.uow import UnitOfWork
from store.errors import NotFound, ValidationError
from store.models.actuation import CommandRow
from store.runtime import Runtime

log = logging.getLogger(__name__)


def build_payload(session: Session, cmd: Command) -> dict[str, Any]:
    """What the field system receives, fixed at the moment of approval (what was approved is sent)."""
    assert cmd.id is not None
    if cmd.type == "emergency_alert":
        refs = []
        for ref_id in cmd.params.get("references") or []:
            row = session.get(CommandRow, ref_id)
            if row is None or row.type != "emergency_alert":
                raise ValidationError(f"reference {ref_id} is not an emergency alert command")
            refs.append(cap.Reference(cap.SENDER, cap.identifier(ref_id), row.created_at))
        return {"cap_xml": cap.render(cmd.id, cmd.params, cmd.created_at, references=refs).decode()}
    if cmd.type == "bus_reroute":
        return {"gtfs_rt": gtfs.detour_alert(cmd.id, cmd.params)}
    return {}


def _uow(rt: Runtime) -> UnitOfWork:
    return UnitOfWork(rt, payload_builder=build_payload)


def _check_times(type_: str, params: dict[str, Any], now: datetime) -> None:
    """Rules that need the clock: nothing may end in the past."""
    ends = {"emergency_alert": "expires", "bus_reroute": "end", "bridge_closure": "end"}
    key = ends.get(type_)
    end = params.get(key) if key else (params.get("override") or {}).get("end") if type_ == "lighting_schedule" else None
    if end and datetime.fromisoformat(end) <= now:
        raise ValidationError(f"{key or 'override.end'} is in the past")


def propose(rt: Runtime, req: ProposeCommand, policy: Policy | None = None) -> dict[str, Any]:
    policy = policy or load_policy()
    rule = rule_for(policy, req.type)
    params = validate_params(req.type, req.params)
    now = rt.clock.now()
    _check_times(req.type, params, now)
    if req.type == "emergency_alert" and params.get("msg_type") != "Alert":
        _check_references(rt, params["references"])
    ctx = req.context
    if req.cause.alert_id is not None or req.cause.incident_id is not None:
        _check_cause(rt, req.cause)
        if ctx.parent_id is None:
            ctx = dataclasses.replace(ctx, parent_id=req.cause.parent_id())
    with _uow(rt) as uow:
        cmd = Command.propose(rule, params, req.role, ctx, now, rt.settings.approval_expiry_minutes, cause=req.cause)
        uow.commands.add(cmd)
        uow.commit()
    log.info("command %s %s proposed by %s: %s [ctx %s]", cmd.id, cmd.type, cmd.proposer, cmd.state, req.context.id)
    _publish(rt, cmd)
    assert cmd.id is not None
    return command_view(rt, cmd.id)


def _check_cause(rt: Runtime, cause: Cause) -> None:
    """The alert and incident a command names must exist (404 otherwise), and an alert already
    grouped into another incident cannot be named with this one (400): a report would place the
    command in two timelines. Read through the store's models: actuation never imports `alerts`."""
    try:
        m = importlib.import_module("store.models.alerts")
    except ModuleNotFoundError:
        raise ValidationError("a command cannot name an alert or incident: the alerts domain is not installed") from None
    with rt.session() as s:
        alert = s.get(m.Alert, cause.alert_id) if cause.alert_id is not None else None
        if cause.alert_id is not None and alert is None:
            raise NotFound(f"no alert {cause.alert_id}", key="no_alert")
        if cause.incident_id is not None and s.get(m.Incident, cause.incident_id) is None:
            raise NotFound(f"no incident {cause.incident_id}", key="no_incident")
        if alert is not None and cause.incident_id is not None and alert.incident_id not in (None, cause.incident_id):
            raise ValidationError(f"alert {cause.alert_id} belongs to incident {alert.incident_id}, not {cause.incident_id}")


def _check_references(rt: Runtime, ids: list[int]) -> None:
    with rt.session() as s:
        for ref in ids:
            row = s.get(CommandRow, ref)
            if row is None or row.type != "emergency_alert" or row.state != "executed":
                raise ValidationError(f"command {ref} is not a sent emergency alert; only those can be updated or cancelled")


def approve(rt: Runtime, req: ApproveCommand) -> dict[str, Any]:
    with _uow(rt) as uow:
        cmd = uow.commands.get(req.command_id, lock=True)
        cmd.approve(req.context, req.role, rt.clock.now())
        uow.commit()
    log.info("command %s approved by %s (%d/%d) -> %s [ctx %s]", cmd.id, req.context.user_id, len(cmd.approvals),
             cmd.approvals_needed, cmd.state, req.context.id)
    _publish(rt, cmd)
    return command_view(rt, req.command_id)


def reject(rt: Runtime, req: RejectCommand) -> dict[str, Any]:
    with _uow(rt) as uow:
        cmd = uow.commands.get(req.command_id, lock=True)
        cmd.reject(req.context, req.role, req.reason, rt.clock.now())
        uow.commit()
    log.info("command %s rejected by %s [ctx %s]", cmd.id, req.context.user_id, req.context.id)
    _publish(rt, cmd)
    return command_view(rt, req.command_id)


def cancel(rt: Runtime, req: CancelCommand) -> dict[str, Any]:
    with _uow(rt) as uow:
        cmd = uow.commands.get(req.command_id, lock=True)
        cmd.cancel(req.context, rt.clock.now())
        uow.commit()
    log.info("command %s cancelled by %s [ctx %s]", cmd.id, req.context.user_id, req.context.id)
    _publish(rt, cmd)
    return command_view(rt, req.command_id)


def expire_due(rt: Runtime) -> int:
    """Expire every pending command past its time; each in its own transaction. Returns how many."""
    now = rt.clock.now()
    with rt.session() as s:
        due = s.scalars(select(CommandRow.id).where(CommandRow.state == PENDING, CommandRow.expires_at <= now)).all()
    done = 0
    ctx = Context(user_id="system:expiry")
    for cid in due:
        try:
            with _uow(rt) as uow:
                cmd = uow.commands.get(cid, lock=True)
                if not cmd.is_overdue(now):
                    continue  # decided meanwhile
                cmd.expire(ctx, now)
                uow.commit()
            done += 1
            _publish(rt, cmd)
        except Exception as exc:  # noqa: BLE001 - one command's race must not stop the others
            log.warning("expiry of command %s skipped: %s", cid, exc)
    if done:
        log.info("expired %d pending command(s)", done)
    return done


def run_expiry(rt: Runtime, stop: Any) -> None:
    """Scheduler service: expire overdue approval requests every few seconds."""
    while not stop.is_set():
        try:
            expire_due(rt)
        except Exception:  # noqa: BLE001
            log.exception("expiry pass failed")
        stop.wait(5)


def _publish(rt: Runtime, cmd: Command) -> None:
    assert cmd.id is not None
    publish_state(rt, cmd.id, cmd.state, cmd.type)


def publish_state(rt: Runtime, command_id: int, state: str, type_: str) -> None:
    """Tell the pages (live channel `commands`) after the commit; a UI hint only (pages also poll),
    so Redis being down is not an error."""
    try:
        rt.redis.publish("commands", {"domain": "commands", "sent_at": rt.clock.now().isoformat(),
                                      "changes": {str(command_id): {"state": state, "type": type_}}})
    except Exception as exc:  # noqa: BLE001
        log.debug("live publish skipped: %s", exc)
