"""The unit of work: one transaction around one decision.

    with UnitOfWork(rt) as uow:
        cmd = uow.commands.get(command_id)
        cmd.approve(ctx, role, now)
        uow.commit()

`commit` writes each changed command with a guarded ``UPDATE … WHERE id = :id AND version = :v``
(a lost race is a Conflict, never a silent overwrite), adds new approvals (unique per person in
the database too), appends one audit entry per event, and, for the event that completes a
command, writes its outbox row — all in the same transaction. Leaving without commit rolls back.
"""
from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from types import TracebackType
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from actuation.model import Approval, Cause, Command, CommandApproved, Event
from store import audit
from store.errors import Conflict, NotFound, Unavailable
from store.models.actuation import ApprovalRow, CommandRow, OutboxRow
from store.runtime import Runtime

log = logging.getLogger(__name__)
PayloadBuilder = Callable[[Session, Command], dict[str, Any]]


def _action(event: Event) -> str:
    """CommandApproved → command.approved: the audit log's action names."""
    name = event.name.removeprefix("Command")
    snake = "".join("_" + c.lower() if c.isupper() else c for c in name).lstrip("_")
    return f"command.{snake}"


def _event_payload(event: Event) -> dict[str, Any]:
    skip = {"command_id", "at", "actor", "context_id"}
    return {k: v for k, v in vars(event).items() if k not in skip}


class CommandRepository:
    """Loads commands as domain objects and remembers the version each was read at."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.seen: dict[int, tuple[Command, int, int]] = {}  # id -> (command, version read, approvals read)
        self.new: list[Command] = []

    def get(self, command_id: int, *, lock: bool = False) -> Command:
        stmt = select(CommandRow).where(CommandRow.id == command_id)
        if lock and self.session.get_bind().dialect.name == "postgresql":
            stmt = stmt.with_for_update()
        row = self.session.scalars(stmt).first()
        if row is None:
            raise NotFound(f"no command {command_id}")
        approvals = self.session.scalars(select(ApprovalRow).where(ApprovalRow.command_id == command_id)
                                         .order_by(ApprovalRow.id)).all()
        cmd = to_domain(row, approvals)
        self.seen[command_id] = (cmd, row.version, len(cmd.approvals))
        return cmd

    def add(self, cmd: Command) -> None:
        self.new.append(cmd)


def to_domain(row: CommandRow, approvals: Any) -> Command:
    return Command(id=row.id, type=row.type, params=row.params, proposer=row.proposer, proposer_role=row.proposer_role,
                   state=row.state, created_at=row.created_at, approvals_needed=row.approvals_needed,
                   approver_roles=frozenset(row.approver_roles), expires_at=row.expires_at,
                   approvals=[Approval(a.user_id, a.role, a.at, a.context_id) for a in approvals],
                   reason=row.reason, version=row.version, context_id=row.context_id,
                   cause=Cause(row.alert_id, row.incident_id))


class UnitOfWork:
    def __init__(self, rt: Runtime, payload_builder: PayloadBuilder | None = None) -> None:
        self.rt = rt
        self.payload_builder = payload_builder
        self.session: Session
        self.commands: CommandRepository
        self.committed_events: list[Event] = []
        self.outbox_written: list[int] = []

    def __enter__(self) -> UnitOfWork:
        self.session = self.rt.sessions()
        self.commands = CommandRepository(self.session)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        try:
            self.session.rollback()  # a no-op after commit; undoes everything otherwise
        finally:
            self.session.close()

    def commit(self) -> None:
        try:
            self._flush_all()
            self.session.commit()
        except IntegrityError as exc:
            self.session.rollback()
            log.warning("actuation commit refused by a constraint: %s", exc.orig)
            raise Conflict("someone else changed this command at the same time; reload and try again") from None
        except OperationalError as exc:
            self.session.rollback()
            log.error("database unavailable: %s", exc.orig)
            raise Unavailable("the database is unavailable; nothing was written") from exc

    # -- writing -------------------------------------------------------------------------------
    def _flush_all(self) -> None:
        now = self.rt.clock.now()
        for cmd in self.commands.new:
            row = CommandRow(type=cmd.type, params=cmd.params, state=cmd.state, proposer=cmd.proposer,
                             proposer_role=cmd.proposer_role, approvals_needed=cmd.approvals_needed,
                             approver_roles=sorted(cmd.approver_roles), created_at=cmd.created_at, updated_at=now,
                             expires_at=cmd.expires_at, reason=cmd.reason, context_id=cmd.context_id, version=1,
                             alert_id=cmd.cause.alert_id, incident_id=cmd.cause.incident_id)
            self.session.add(row)
            self.session.flush()
            cmd.id, cmd.version = row.id, 1
            self._after(cmd, 0, now)
        for cmd_id, (cmd, version, n_approvals) in self.commands.seen.items():
            if not cmd.events:
                continue
            result = self.session.execute(
                update(CommandRow).where(CommandRow.id == cmd_id, CommandRow.version == version)
                .values(state=cmd.state, reason=cmd.reason, updated_at=now, version=version + 1)
                .execution_options(synchronize_session=False))
            if result.rowcount != 1:
                log.warning("command %s: version %s is stale; the change was refused", cmd_id, version)
                raise Conflict(f"command {cmd_id} was changed by someone else meanwhile; reload and try again")
            cmd.version = version + 1
            self._after(cmd, n_approvals, now)

    def _after(self, cmd: Command, n_approvals_before: int, now: Any) -> None:
        assert cmd.id is not None
        for a in cmd.approvals[n_approvals_before:]:
            self.session.add(ApprovalRow(command_id=cmd.id, user_id=a.user_id, role=a.role, at=a.at, context_id=a.context_id))
        for event in cmd.events:
            audit.append(self.session, at=event.at, actor=event.actor, action=_action(event), subject_type="command",
                         subject_id=cmd.id, payload={"type": cmd.type, "state": cmd.state, **_event_payload(event)},
                         context_id=event.context_id)
            if isinstance(event, CommandApproved) and event.final:
                self._write_outbox(cmd, event, now)
        self.session.flush()
        self.committed_events.extend(cmd.events)
        cmd.events.clear()

    def _write_outbox(self, cmd: Command, event: CommandApproved, now: Any) -> None:
        assert cmd.id is not None
        payload = {"command_id": cmd.id, "type": cmd.type, "params": cmd.params}
        if self.payload_builder is not None:
            payload.update(self.payload_builder(self.session, cmd))
        row = OutboxRow(command_id=cmd.id, idempotency_key=f"cmd-{cmd.id}-{uuid.uuid4().hex}", type=cmd.type,
                        payload=payload, context_id=event.context_id, state="pending", attempts=0,
                        available_at=now, created_at=now)
        self.session.add(row)
        self.session.flush()
        self.outbox_written.append(cmd.id)
