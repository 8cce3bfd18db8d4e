"""actuation: a command's cause (the alert and/or incident it was proposed from)

Revision ID: 0006_command_cause
Revises: 0003_actuation
Plain integer columns, not foreign keys: the alerts domain is optional (its own branch), and a
command must outlive an alerts table that is not installed. The service checks they exist.
"""
from alembic import op
import sqlalchemy as sa

revision = "0006_command_cause"
down_revision = "0003_actuation"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("commands", sa.Column("alert_id", sa.Integer(), nullable=True))
    op.add_column("commands", sa.Column("incident_id", sa.Integer(), nullable=True))
    op.create_index("ix_commands_alert_id", "commands", ["alert_id"])
    op.create_index("ix_commands_incident_id", "commands", ["incident_id"])


def downgrade() -> None:
    op.drop_index("ix_commands_incident_id", "commands")
    op.drop_index("ix_commands_alert_id", "commands")
    with op.batch_alter_table("commands") as batch:
        batch.drop_column("incident_id")
        batch.drop_column("alert_id")
