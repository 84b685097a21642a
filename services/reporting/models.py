"""The tables the reporting service owns: the facts and materialised views, targets, inbox and outbox."""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, Date, DateTime, Index, MetaData, Table, Text, func

from shared.access import access_tokens_table
from shared.audit import audit_log_table
from shared.inbox import inbox_table
from shared.outbox import outbox_table

metadata = MetaData()

#: Monthly totals of every counter of the catalogue, rolled up to ward, province and VN, split by the date (in
#: Vietnam) the events were recorded on: reads sum the dates, `as_of` reads those up to it. One table, not a total
#: and its revisions, so a batch writes each cell once.
indicator_totals = Table(
    "indicator_totals",
    metadata,
    Column("indicator_id", Text, primary_key=True),
    Column("unit", Text, primary_key=True),
    Column("month", Date, primary_key=True),
    Column("known_on", Date, primary_key=True),
    Column("value", BigInteger, nullable=False),
)

#: Residents by modality as daily changes (+1 admitted, -1 ended), rolled up and split by the date they were
#: recorded on: the census on D sums days <= D.
census_changes = Table(
    "census_changes",
    metadata,
    Column("unit", Text, primary_key=True),
    Column("modality", Text, primary_key=True),
    Column("day", Date, primary_key=True),
    Column("known_on", Date, primary_key=True),
    Column("value", BigInteger, nullable=False),
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
    Index("episodes_subject", "subject", "admitted_on"),
    Index("episodes_province_admitted", "province", "admitted_on"),
    Index("episodes_ward_admitted", "ward", "admitted_on"),
    Index("episodes_province_completed", "province", "completed_on"),
    Index("episodes_ward_completed", "ward", "completed_on"),
    Index("episodes_facility", "facility_id"),
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
    "indicator_totals",
    "census_changes",
    "episodes",
    "transfers",
)
