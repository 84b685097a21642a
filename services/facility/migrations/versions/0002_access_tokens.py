"""access tokens

Revision ID: 0002
Revises: 0001
"""

from alembic import op

from shared.access.store import create_access_tokens_table

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_access_tokens_table()


def downgrade() -> None:
    op.drop_table("access_tokens")
