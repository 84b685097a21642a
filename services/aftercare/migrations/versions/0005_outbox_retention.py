"""outbox retention: published rows are kept, marked with when the broker acknowledged them, for a replay

Revision ID: 0005
Revises: 0004
"""

from shared.database import forget_published_outbox_rows, keep_published_outbox_rows

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    keep_published_outbox_rows()


def downgrade() -> None:
    forget_published_outbox_rows()
