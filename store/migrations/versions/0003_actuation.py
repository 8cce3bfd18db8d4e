"""actuation: commands, approvals, outbox, dispatch results, field ledger, lighting levels

Revision ID: 0003_actuation
Revises: 0001_core
Hand-written: each domain branches from the core revision (`store.db.migrate` upgrades all heads).
"""
from alembic import op
import sqlalchemy as sa

revision = "0003_actuation"
down_revision = "0001_core"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "commands",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("type", sa.String(40), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("proposer", sa.String(80), nullable=False),
        sa.Column("proposer_role", sa.String(40), nullable=False),
        sa.Column("approvals_needed", sa.Integer(), nullable=False),
        sa.Column("approver_roles", sa.JSON(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("context_id", sa.String(40), nullable=False),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
    )
    op.create_index("ix_commands_state", "commands", ["state"])
    op.create_index("ix_commands_proposer", "commands", ["proposer"])
    op.create_index("ix_commands_expires_at", "commands", ["expires_at"])
    op.create_table(
        "command_approvals",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("command_id", sa.Integer(), sa.ForeignKey("commands.id"), nullable=False),
        sa.Column("user_id", sa.String(80), nullable=False),
        sa.Column("role", sa.String(40), nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("context_id", sa.String(40), nullable=False),
        sa.UniqueConstraint("command_id", "user_id", name="uq_approval_once_per_person"),
    )
    op.create_index("ix_command_approvals_command_id", "command_approvals", ["command_id"])
    op.create_table(
        "command_outbox",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("command_id", sa.Integer(), sa.ForeignKey("commands.id"), nullable=False, unique=True),
        sa.Column("idempotency_key", sa.String(64), nullable=False, unique=True),
        sa.Column("type", sa.String(40), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("context_id", sa.String(40), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("available_at", TS, nullable=False),
        sa.Column("claimed_by", sa.String(80), nullable=True),
        sa.Column("claimed_until", TS, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("done_at", TS, nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
    )
    op.create_index("ix_outbox_due", "command_outbox", ["state", "available_at"])
    op.create_table(
        "dispatch_results",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("command_id", sa.Integer(), sa.ForeignKey("commands.id"), nullable=False),
        sa.Column("outbox_id", sa.Integer(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("worker", sa.String(80), nullable=False),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("finished_at", TS, nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("latency_ms", sa.Float(), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
    )
    op.create_index("ix_dispatch_results_command_id", "dispatch_results", ["command_id"])
    op.create_table(
        "field_ledger",
        sa.Column("idempotency_key", sa.String(64), primary_key=True),
        sa.Column("system", sa.String(40), nullable=False),
        sa.Column("received_at", TS, nullable=False),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.Column("calls", sa.Integer(), nullable=False),
    )
    op.create_table(
        "lighting_levels",
        sa.Column("district", sa.String(40), primary_key=True),
        sa.Column("level_pct", sa.Integer(), nullable=False),
        sa.Column("command_id", sa.Integer(), nullable=True),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("since", TS, nullable=False),
    )
    # APScheduler's persistent job store (lighting schedules, signal reverts). Its own layout,
    # made here so that concurrent dispatchers never race to create it.
    op.create_table(
        "scheduler_jobs",
        sa.Column("id", sa.Unicode(191), primary_key=True),
        sa.Column("next_run_time", sa.Float(25), nullable=True),
        sa.Column("job_state", sa.LargeBinary(), nullable=False),
    )
    op.create_index("ix_scheduler_jobs_next_run_time", "scheduler_jobs", ["next_run_time"])


def downgrade() -> None:
    op.drop_index("ix_scheduler_jobs_next_run_time", "scheduler_jobs")
    op.drop_table("scheduler_jobs")
    op.drop_table("lighting_levels")
    op.drop_table("field_ledger")
    op.drop_index("ix_dispatch_results_command_id", "dispatch_results")
    op.drop_table("dispatch_results")
    op.drop_index("ix_outbox_due", "command_outbox")
    op.drop_table("command_outbox")
    op.drop_index("ix_command_approvals_command_id", "command_approvals")
    op.drop_table("command_approvals")
    op.drop_index("ix_commands_expires_at", "commands")
    op.drop_index("ix_commands_proposer", "commands")
    op.drop_index("ix_commands_state", "commands")
    op.drop_table("commands")
