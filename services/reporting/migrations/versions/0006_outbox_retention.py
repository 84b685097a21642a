"""outbox retention: published rows are kept, marked with when the broker acknowledged them, for a replay

Revision ID: 0006
Revises: 0005
"""

from shared.database import forget_published_outbox_rows, keep_published_outbox_rows

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    keep_published_outbox_rows()


def downgrade() -> None:
    forget_published_outbox_rows()
