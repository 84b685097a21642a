"""indicator views: revisions for as_of, census, episode facts, transfers, persons, targets

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "indicator_revisions",
        sa.Column("indicator_id", sa.Text(), nullable=False),
        sa.Column("unit", sa.Text(), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("known_on", sa.Date(), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("indicator_id", "unit", "month", "known_on"),
    )
    for table in ("census_changes", "census_revisions"):
        op.create_table(
            table,
            sa.Column("unit", sa.Text(), nullable=False),
            sa.Column("modality", sa.Text(), nullable=False),
            sa.Column("day", sa.Date(), nullable=False),
            *([sa.Column("known_on", sa.Date(), nullable=False)] if table == "census_revisions" else []),
            sa.Column("value", sa.BigInteger(), nullable=False),
            sa.PrimaryKeyConstraint("unit", "modality", "day", *(["known_on"] if table == "census_revisions" else [])),
        )
    op.create_table(
        "episodes",
        sa.Column("episode_id", sa.Text(), nullable=False),
        sa.Column("subject", sa.Text(), nullable=True),
        sa.Column("ward", sa.Text(), nullable=True),
        sa.Column("province", sa.Text(), nullable=True),
        sa.Column("modality", sa.Text(), nullable=True),
        sa.Column("facility_id", sa.Text(), nullable=True),
        sa.Column("admitted_on", sa.Date(), nullable=True),
        sa.Column("admitted_known", sa.Date(), nullable=True),
        sa.Column("completed_on", sa.Date(), nullable=True),
        sa.Column("outcome", sa.Text(), nullable=True),
        sa.Column("vocational", sa.Boolean(), nullable=True),
        sa.Column("completed_known", sa.Date(), nullable=True),
        sa.PrimaryKeyConstraint("episode_id"),
    )
    op.create_index("episodes_subject", "episodes", ["subject", "admitted_on"])
    op.create_index("episodes_province_admitted", "episodes", ["province", "admitted_on"])
    op.create_index("episodes_ward_admitted", "episodes", ["ward", "admitted_on"])
    op.create_index("episodes_province_completed", "episodes", ["province", "completed_on"])
    op.create_index("episodes_ward_completed", "episodes", ["ward", "completed_on"])
    op.create_index("episodes_facility", "episodes", ["facility_id"])
    op.create_table(
        "transfers",
        sa.Column("event_id", sa.Text(), nullable=False),
        sa.Column("episode_id", sa.Text(), nullable=False),
        sa.Column("transferred_on", sa.Date(), nullable=False),
        sa.Column("from_facility_id", sa.Text(), nullable=False),
        sa.Column("to_facility_id", sa.Text(), nullable=False),
        sa.Column("known_on", sa.Date(), nullable=False),
        sa.PrimaryKeyConstraint("event_id"),
    )
    op.create_index("transfers_episode", "transfers", ["episode_id", "transferred_on"])
    op.create_index("transfers_to_facility", "transfers", ["to_facility_id"])
    op.create_table(
        "person_months",
        sa.Column("unit", sa.Text(), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("known_on", sa.Date(), nullable=False),
        sa.PrimaryKeyConstraint("unit", "month", "subject"),
    )
    op.create_table(
        "targets",
        sa.Column("indicator_id", sa.Text(), nullable=False),
        sa.Column("unit", sa.Text(), nullable=False),
        sa.Column("period", sa.Text(), nullable=False),
        sa.Column("set_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.Column("source_document", sa.Text(), nullable=False),
        sa.Column("agency", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("indicator_id", "unit", "period", "set_at"),
    )


def downgrade() -> None:
    for table in (
        "targets",
        "person_months",
        "transfers",
        "episodes",
        "census_revisions",
        "census_changes",
        "indicator_revisions",
    ):
        op.drop_table(table)
