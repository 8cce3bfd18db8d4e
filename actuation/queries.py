"""Read models of the approval queue for pages, the REST API and the wall's tile."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from actuation.commands import affected_districts, affected_population
from actuation.model import PENDING
from actuation.policy import load_policy
from store.errors import NotFound
from store.models.actuation import ApprovalRow, CommandRow, DispatchResultRow, OutboxRow
from store.runtime import Runtime


def _iso(dt: datetime | None) -> str | None:
    return dt.isoformat() if dt else None


def delivery(detail: dict[str, Any] | None) -> dict[str, Any] | None:
    """What the field system reported, shortened for lists: for an alert, reach and channels."""
    if detail is None:
        return None
    if "reach_curve" in detail:
        pop = detail.get("population") or 0
        return {"population": pop, "reached_people": detail.get("reached_people", 0),
                "share_pct": round(100 * detail["reach_curve"][-1][1], 1) if detail["reach_curve"] else 0.0,
                "reached_98_at_s": detail.get("reached_98_at_s"), "target_met": detail.get("target_met"),
                "channels": {ch: c["status"] for ch, c in detail.get("channels", {}).items()}}
    return {"confirmed": True}


def _view(row: CommandRow, approvals: list[ApprovalRow], now: datetime, outbox: OutboxRow | None = None,
          results: list[DispatchResultRow] | None = None, ok_detail: dict[str, Any] | None = None) -> dict[str, Any]:
    rule = load_policy().get(row.type)
    left = (row.expires_at - now).total_seconds() if row.expires_at and row.state == PENDING else None
    view: dict[str, Any] = {
        "id": row.id, "type": row.type, "state": row.state, "params": row.params,
        "proposer": row.proposer, "proposer_role": row.proposer_role,
        "created_at": _iso(row.created_at), "updated_at": _iso(row.updated_at), "expires_at": _iso(row.expires_at),
        "age_s": round((now - row.created_at).total_seconds(), 1),
        "time_left_s": None if left is None else round(max(left, 0.0), 1),
        "approvals_needed": row.approvals_needed, "approver_roles": row.approver_roles,
        "approvals": [{"user": a.user_id, "role": a.role, "at": _iso(a.at)} for a in approvals],
        "safety_critical": bool(rule and rule.safety_critical), "revertible": bool(rule and rule.revertible),
        "reason": row.reason, "version": row.version, "context_id": row.context_id,
        "alert_id": row.alert_id, "incident_id": row.incident_id,
        "districts": affected_districts(row.type, row.params),
        "affected_population": affected_population(row.type, row.params),
    }
    if results is not None:
        ok_detail = next((r.detail for r in results if r.ok), None)
    view["delivery"] = delivery(ok_detail)
    if outbox is not None:
        view["dispatch"] = {"state": outbox.state, "attempts": outbox.attempts, "last_error": outbox.last_error,
                            "done_at": _iso(outbox.done_at)}
    if results is not None:
        view["results"] = [{"attempt": r.attempt, "ok": r.ok, "at": _iso(r.finished_at), "latency_ms": round(r.latency_ms, 1),
                            "detail": r.detail, "error": r.error} for r in results]
    return view


def command_view(rt: Runtime, command_id: int) -> dict[str, Any]:
    """Everything about one command: state, approvals, dispatch attempts and delivery reports."""
    with rt.session() as s:
        row = s.get(CommandRow, command_id)
        if row is None:
            raise NotFound(f"no command {command_id}")
        approvals = list(s.scalars(select(ApprovalRow).where(ApprovalRow.command_id == command_id).order_by(ApprovalRow.id)))
        outbox = s.scalars(select(OutboxRow).where(OutboxRow.command_id == command_id)).first()
        results = list(s.scalars(select(DispatchResultRow).where(DispatchResultRow.command_id == command_id)
                                 .order_by(DispatchResultRow.id)))
        return _view(row, approvals, rt.clock.now(), outbox, results)


def list_commands(rt: Runtime, *, proposer: str | None = None, state: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    """Newest first; `proposer` for "my commands", `state="pending"` for the approval queue."""
    with rt.session() as s:
        stmt = select(CommandRow).order_by(CommandRow.id.desc()).limit(limit)
        if proposer:
            stmt = stmt.where(CommandRow.proposer == proposer)
        if state:
            stmt = stmt.where(CommandRow.state == state)
        rows = list(s.scalars(stmt))
        ids = [r.id for r in rows]
        approvals: dict[int, list[ApprovalRow]] = {i: [] for i in ids}
        if ids:
            for a in s.scalars(select(ApprovalRow).where(ApprovalRow.command_id.in_(ids)).order_by(ApprovalRow.id)):
                approvals[a.command_id].append(a)
        details: dict[int, dict[str, Any]] = {}
        executed = [r.id for r in rows if r.state == "executed"]
        if executed:
            for d in s.scalars(select(DispatchResultRow).where(DispatchResultRow.command_id.in_(executed), DispatchResultRow.ok)):
                details[d.command_id] = d.detail
        now = rt.clock.now()
        return [_view(r, approvals[r.id], now, ok_detail=details.get(r.id)) for r in rows]


def pending_for(rt: Runtime, user: str) -> list[dict[str, Any]]:
    """Pending commands this user could decide: not their own, not already approved by them."""
    return [c for c in list_commands(rt, state=PENDING, limit=500)
            if c["proposer"] != user and user not in {a["user"] for a in c["approvals"]}]


def pending_count(rt: Runtime) -> int:
    """How many commands wait for an approval: the wall's pending-approvals tile."""
    with rt.session() as s:
        return int(s.scalar(select(func.count()).select_from(CommandRow).where(CommandRow.state == PENDING)) or 0)


def cap_xml(rt: Runtime, command_id: int) -> bytes:
    """The CAP 1.2 message of an emergency alert: what was sent once approved, else a preview."""
    from actuation import cap

    with rt.session() as s:
        row = s.get(CommandRow, command_id)
        if row is None:
            raise NotFound(f"no command {command_id}")
        if row.type != "emergency_alert":
            raise NotFound(f"command {command_id} is a {row.type}, which has no CAP message")
        sent = s.scalars(select(OutboxRow.payload).where(OutboxRow.command_id == command_id)).first()
        if sent and sent.get("cap_xml"):
            return str(sent["cap_xml"]).encode()
        refs = []
        for ref_id in row.params.get("references") or []:
            ref = s.get(CommandRow, ref_id)
            if ref is not None:
                refs.append(cap.Reference(cap.SENDER, cap.identifier(ref_id), ref.created_at))
        if row.params.get("msg_type", "Alert") != "Alert" and not refs:
            raise NotFound(f"command {command_id} references no known alert")
        return cap.render(command_id, row.params, row.created_at, tz=rt.settings.timezone, references=refs)
