"""indicator and census totals kept only by the date they were known on: one upsert per cell, not two; distinct
persons counted from episodes, without a table of their own

Revision ID: 0005
Revises: 0004
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

#: (table kept, table whose rows it replaces, key without known_on)
_MERGED = (
    ("indicator_totals", "indicator_revisions", "indicator_id, unit, month"),
    ("census_changes", "census_revisions", "unit, modality, day"),
)


def upgrade() -> None:
    for kept, revisions, _ in _MERGED:
        op.drop_table(kept)
        op.rename_table(revisions, kept)
        op.execute(f"ALTER INDEX {revisions}_pkey RENAME TO {kept}_pkey")
    op.drop_table("person_months")


def downgrade() -> None:
    op.execute(
        """
        CREATE TABLE person_months (unit text, month date, subject text, known_on date NOT NULL,
                                    PRIMARY KEY (unit, month, subject));
        INSERT INTO person_months
        SELECT unit, date_trunc('month', admitted_on)::date, subject, min(admitted_known)
        FROM episodes, unnest(ARRAY[ward, province, 'VN']) AS unit
        WHERE admitted_on IS NOT NULL GROUP BY 1, 2, 3
        """
    )
    for kept, revisions, key in _MERGED:
        op.rename_table(kept, revisions)
        op.execute(f"ALTER INDEX {kept}_pkey RENAME TO {revisions}_pkey")
        op.execute(
            f"CREATE TABLE {kept} AS SELECT {key}, sum(value)::bigint AS value FROM {revisions} GROUP BY {key}"  # noqa: S608
        )
        op.execute(f"ALTER TABLE {kept} ADD PRIMARY KEY ({key})")
