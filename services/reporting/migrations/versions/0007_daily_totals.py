"""daily totals: one wide row per unit, day and known date for every counter and the residents' changes, instead
of a row per indicator and month and a row per modality and day; episodes keep fewer, shorter index entries (none
on an episode's end or its province, the subject hashed)

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

#: The modalities and the catalogue's counters when this revision was written, each counter a column (frozen: a new
#: counter is a new revision).
MODALITIES = (
    "compulsory",
    "voluntary_facility",
    "voluntary_community",
    "methadone",
    "temporary_stay",
    "status_determination",
)
COUNTERS = (
    *(f"admissions.{m}" for m in MODALITIES),
    *(f"admissions.primary_{s}" for s in ("ats", "opioid", "cannabis", "other")),
    *(f"{kind}.{m}" for m in MODALITIES for kind in ("discharges", "completions")),
    *(f"discharges.outcome_{o}" for o in ("completed", "absconded", "terminated", "died")),
    "vocational_trained",
    "aftercare_intake",
    *(f"employment_supported.{s}" for s in ("job_placement", "self_employment", "loan")),
    "relapses",
)
RESIDENTS = tuple(f"residents.{m}" for m in MODALITIES)
#: Indexes an admission or an end had to write and no read needs: a province's episodes are found by its wards.
_DROPPED = {
    "episodes_province_completed": ["province", "completed_on"],
    "episodes_ward_completed": ["ward", "completed_on"],
    "episodes_province_admitted": ["province", "admitted_on"],
}


def _column(figure: str) -> str:
    return figure.replace(".", "_")


def upgrade() -> None:
    op.create_table(
        "daily_totals",
        sa.Column("unit", sa.Text(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("known_on", sa.Date(), nullable=False),
        *(sa.Column(_column(f), sa.Integer(), nullable=False) for f in (*COUNTERS, *RESIDENTS)),
        sa.PrimaryKeyConstraint("unit", "day", "known_on"),
    )
    # The monthly counters go to the first day of their month (a period is whole months, so every read sums the
    # same), the census changes to their own day.
    counters = ", ".join(
        f"COALESCE(sum(value) FILTER (WHERE figure = '{f}'), 0)::integer" for f in (*COUNTERS, *RESIDENTS)
    )
    op.execute(
        f"""
        INSERT INTO daily_totals
        SELECT unit, day, known_on, {counters}
        FROM (SELECT unit, month AS day, known_on, indicator_id AS figure, value FROM indicator_totals
              UNION ALL
              SELECT unit, day, known_on, 'residents.' || modality, value FROM census_changes) AS cells
        GROUP BY unit, day, known_on
        """  # noqa: S608 - only the frozen figures above are interpolated
    )
    op.drop_table("indicator_totals")
    op.drop_table("census_changes")
    for index in _DROPPED:
        op.drop_index(index, "episodes")
    op.drop_index("episodes_subject", "episodes")  # (subject, admitted_on): a long key in every entry
    op.create_index("episodes_subject", "episodes", ["subject"], postgresql_using="hash")
    op.execute("ALTER TABLE episodes SET (fillfactor = 50)")  # room in its page for every end


def downgrade() -> None:
    op.execute("ALTER TABLE episodes RESET (fillfactor)")
    op.drop_index("episodes_subject", "episodes")
    op.create_index("episodes_subject", "episodes", ["subject", "admitted_on"])
    for index, columns in _DROPPED.items():
        op.create_index(index, "episodes", columns)
    cells = ", ".join(f"('{f}', {_column(f)})" for f in (*COUNTERS, *RESIDENTS))
    op.execute(
        f"""
        CREATE TEMPORARY TABLE cells ON COMMIT DROP AS
        SELECT unit, day, known_on, figure, value FROM daily_totals
        CROSS JOIN LATERAL (VALUES {cells}) AS figures (figure, value) WHERE value <> 0
        """  # noqa: S608
    )
    op.execute(
        """
        CREATE TABLE indicator_totals AS
        SELECT figure AS indicator_id, unit, date_trunc('month', day)::date AS month, known_on,
               sum(value)::bigint AS value
        FROM cells WHERE figure NOT LIKE 'residents.%' GROUP BY 1, 2, 3, 4
        """
    )
    op.execute("ALTER TABLE indicator_totals ADD PRIMARY KEY (indicator_id, unit, month, known_on)")
    op.execute(
        """
        CREATE TABLE census_changes AS
        SELECT unit, substr(figure, 11) AS modality, day, known_on, sum(value)::bigint AS value
        FROM cells WHERE figure LIKE 'residents.%' GROUP BY 1, 2, 3, 4
        """
    )
    op.execute("ALTER TABLE census_changes ADD PRIMARY KEY (unit, modality, day, known_on)")
    op.drop_table("daily_totals")
