"""rollup entries already applied (exactly-once history)

Revision ID: 0005_feeds
Revises: 0001_core
"""
from alembic import op
import sqlalchemy as sa

revision = "0005_feeds"
down_revision = "0001_core"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rollup_entries",
        sa.Column("stream", sa.String(length=40), nullable=False),
        sa.Column("entry_id", sa.String(length=40), nullable=False),
        sa.Column("applied_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("stream", "entry_id"),
    )
    op.create_index("ix_rollup_entries_applied", "rollup_entries", ["applied_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_rollup_entries_applied", table_name="rollup_entries")
    op.drop_table("rollup_entries")
