"""alerts, alert history and comments, incidents

Revision ID: 0002_alerts
Revises: 0001_core
"""
from alembic import op
import sqlalchemy as sa

revision = "0002_alerts"
down_revision = "0001_core"
branch_labels = None
depends_on = None


def _ts(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "incidents",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(200), nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("family", sa.String(40), nullable=True),
        sa.Column("group_hint", sa.String(200), nullable=True),
        sa.Column("district", sa.String(40), nullable=True),
        sa.Column("lat", sa.Float(), nullable=True),
        sa.Column("lon", sa.Float(), nullable=True),
        _ts("opened_at"),
        sa.Column("opened_by", sa.String(80), nullable=False),
        _ts("last_seen"),
        _ts("resolved_at", True),
        sa.Column("resolved_by", sa.String(80), nullable=True),
        sa.Column("verdict", sa.String(20), nullable=True),
        sa.UniqueConstraint("group_hint", name="uq_incidents_group_hint"),
    )
    op.create_index("ix_incidents_state", "incidents", ["state"])
    op.create_table(
        "alerts",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("fold_key", sa.String(300), nullable=True),
        sa.Column("dedup_key", sa.String(300), nullable=False),
        sa.Column("category", sa.String(40), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("rule", sa.String(40), nullable=False),
        sa.Column("source", sa.String(80), nullable=False),
        sa.Column("place", sa.String(80), nullable=False),
        sa.Column("district", sa.String(40), nullable=True),
        sa.Column("lat", sa.Float(), nullable=True),
        sa.Column("lon", sa.Float(), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        _ts("first_seen"),
        _ts("last_seen"),
        _ts("opened_at"),
        _ts("critical_since", True),
        _ts("acknowledged_at", True),
        sa.Column("acknowledged_by", sa.String(80), nullable=True),
        sa.Column("assignee", sa.String(80), nullable=True),
        _ts("resolved_at", True),
        sa.Column("resolved_by", sa.String(80), nullable=True),
        sa.Column("verdict", sa.String(20), nullable=True),
        sa.Column("incident_id", sa.Integer(), sa.ForeignKey("incidents.id"), nullable=True),
        _ts("escalated_at", True),
        sa.Column("reminders", sa.Integer(), nullable=False),
        _ts("last_reminder_at", True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.UniqueConstraint("fold_key", name="uq_alerts_fold_key"),
    )
    op.create_index("ix_alerts_dedup_key", "alerts", ["dedup_key"])
    op.create_index("ix_alerts_incident_id", "alerts", ["incident_id"])
    op.create_index("ix_alerts_state_severity", "alerts", ["state", "severity"])
    op.create_index("ix_alerts_category_resolved", "alerts", ["category", "resolved_at"])
    op.create_index("ix_alerts_last_seen", "alerts", ["last_seen"])
    op.create_table(
        "alert_events",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("alert_id", sa.Integer(), sa.ForeignKey("alerts.id"), nullable=False),
        _ts("at"),
        sa.Column("actor", sa.String(80), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
    )
    op.create_index("ix_alert_events_alert_id", "alert_events", ["alert_id"])
    op.create_table(
        "alert_comments",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("alert_id", sa.Integer(), sa.ForeignKey("alerts.id"), nullable=False),
        _ts("at"),
        sa.Column("author", sa.String(80), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
    )
    op.create_index("ix_alert_comments_alert_id", "alert_comments", ["alert_id"])


def downgrade() -> None:
    op.drop_table("alert_comments")
    op.drop_table("alert_events")
    op.drop_table("alerts")
    op.drop_table("incidents")
