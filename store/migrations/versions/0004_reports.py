"""handover notes and sign-offs

Revision ID: 0004_reports
Revises: 0001_core
"""
from alembic import op
import sqlalchemy as sa

revision = "0004_reports"
down_revision = "0001_core"
branch_labels = None
depends_on = None


def _ts(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "handover_notes",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("shift_id", sa.String(40), nullable=False),
        _ts("shift_start"),
        _ts("shift_end"),
        sa.Column("author", sa.String(80), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        _ts("created_at"),
    )
    op.create_index("ix_handover_notes_shift", "handover_notes", ["shift_start"])
    op.create_table(
        "handover_signoffs",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("shift_id", sa.String(40), nullable=False),
        _ts("shift_start"),
        _ts("shift_end"),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("username", sa.String(80), nullable=False),
        _ts("signed_at"),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.UniqueConstraint("shift_start", "role", name="uq_handover_signoff_role"),
    )


def downgrade() -> None:
    op.drop_table("handover_signoffs")
    op.drop_index("ix_handover_notes_shift", table_name="handover_notes")
    op.drop_table("handover_notes")
