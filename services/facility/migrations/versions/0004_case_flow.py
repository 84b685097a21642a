"""case flow: facility registry, stays and discharges, community episodes, parked events

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from shared.parking import create_parked_events_table

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "facilities",
        sa.Column("facility_id", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("unit", sa.Text(), nullable=False),
        sa.Column("capacity", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("facility_id"),
    )
    op.add_column("residents", sa.Column("discharged_on", sa.Date(), nullable=True))
    op.add_column("residents", sa.Column("outcome", sa.Text(), nullable=True))
    op.create_table(
        "stays",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("episode_id", sa.Text(), nullable=False),
        sa.Column("facility_id", sa.Text(), nullable=False),
        sa.Column("modality", sa.Text(), nullable=False),
        sa.Column("started_on", sa.Date(), nullable=False),
        sa.Column("ended_on", sa.Date(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_stays_episode_id", "stays", ["episode_id"])
    op.create_index("stays_by_facility", "stays", ["facility_id", "modality", "started_on"])
    # Residents admitted before this revision have been where they were admitted ever since.
    op.execute(
        "INSERT INTO stays (episode_id, facility_id, modality, started_on) "
        "SELECT episode_id, facility_id, modality, admitted_on FROM residents"
    )
    op.create_table(
        "community_episodes",
        sa.Column("episode_id", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("episode_id"),
    )
    create_parked_events_table()


def downgrade() -> None:
    op.drop_table("parked_events")
    op.drop_table("community_episodes")
    op.drop_table("stays")
    op.drop_column("residents", "outcome")
    op.drop_column("residents", "discharged_on")
    op.drop_table("facilities")
