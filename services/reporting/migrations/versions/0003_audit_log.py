"""audit log

Revision ID: 0003
Revises: 0002
"""

from alembic import op

from shared.audit import create_audit_log_table

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_audit_log_table()


def downgrade() -> None:
    op.drop_table("audit_log")
