"""The tables the reporting service owns: the facts and materialised views, targets, inbox and outbox."""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, Date, DateTime, Index, Integer, MetaData, Table, Text, func

from services.reporting.catalogue import COUNTERS
from shared.access.store import access_tokens_table
from shared.audit import audit_log_table
from shared.events import Modality
from shared.inbox import inbox_table
from shared.outbox import outbox_table

metadata = MetaData()

#: What each row of `daily_totals` adds up, in column order: every counter of the catalogue, then the change in
#: residents of each modality (+1 admitted, -1 ended).
DAILY_FIGURES: tuple[str, ...] = (*COUNTERS, *(f"residents.{m}" for m in Modality))


def column_of(figure: str) -> str:
    """A figure of `DAILY_FIGURES` as a column name: `admissions.compulsory` -> `admissions_compulsory`."""
    return figure.replace(".", "_")


#: Everything the events of a day add to a unit (ward, province or VN), split by the date (in Vietnam) the events
#: were recorded on: counters over a period sum its days, the census on D sums the residents' changes of days <= D,
#: `as_of` reads the rows known up to it. One wide row rather than a row per figure: an event adds to one row at
#: each level of the roll-up whatever the figures it feeds (an admission: its modality, its substance, a resident).
daily_totals = Table(
    "daily_totals",
    metadata,
    Column("unit", Text, primary_key=True),
    Column("day", Date, primary_key=True),
    Column("known_on", Date, primary_key=True),
    *(Column(column_of(figure), Integer, nullable=False) for figure in DAILY_FIGURES),
)

#: One row per treatment episode, filled by whichever of its admitted and completed events comes first.
episodes = Table(
    "episodes",
    metadata,
    Column("episode_id", Text, primary_key=True),
    Column("subject", Text),
    Column("ward", Text),
    Column("province", Text),
    Column("modality", Text),
    Column("facility_id", Text),
    Column("admitted_on", Date),
    Column("admitted_known", Date),
    Column("completed_on", Date),
    Column("outcome", Text),
    Column("vocational", Boolean),
    Column("completed_known", Date),
    # Few indexes, each what a read needs: every admission writes an entry in each. Found by ward (a province's
    # episodes by its wards), by subject (hashed: a short entry for a long pseudonym) and by facility; none on the
    # end's columns, so recording an end changes no index and rewrites the row in its own page (a HOT update),
    # with room left there for it.
    Index("episodes_subject", "subject", postgresql_using="hash"),
    Index("episodes_ward_admitted", "ward", "admitted_on"),
    Index("episodes_facility", "facility_id"),
    postgresql_with={"fillfactor": "50"},
)

#: Every transfer between facilities, for the census of a facility on a date.
transfers = Table(
    "transfers",
    metadata,
    Column("event_id", Text, primary_key=True),
    Column("episode_id", Text, nullable=False),
    Column("transferred_on", Date, nullable=False),
    Column("from_facility_id", Text, nullable=False),
    Column("to_facility_id", Text, nullable=False),
    Column("known_on", Date, nullable=False),
    Index("transfers_episode", "episode_id", "transferred_on"),
    Index("transfers_to_facility", "to_facility_id"),
)

#: Plan targets, every version kept: a read uses the newest one set on or before its `as_of`.
targets = Table(
    "targets",
    metadata,
    Column("indicator_id", Text, primary_key=True),
    Column("unit", Text, primary_key=True),
    Column("period", Text, primary_key=True),
    Column("set_at", DateTime(timezone=True), primary_key=True, server_default=func.now()),
    Column("value", BigInteger, nullable=False),
    Column("source_document", Text, nullable=False),
    Column("agency", Text, nullable=False),
)

outbox = outbox_table(metadata)
inbox = inbox_table(metadata)
access_tokens = access_tokens_table(metadata)
audit_log = audit_log_table(metadata)

#: The tables a rebuild refills from the topics and swaps in; targets, tokens and the audit log stay.
REBUILT = (
    "inbox",
    "daily_totals",
    "episodes",
    "transfers",
)
