"""The tables the reporting service owns: the materialised views, the inbox and the outbox."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Date, MetaData, Table, Text

from shared.access import access_tokens_table
from shared.audit import audit_log_table
from shared.inbox import inbox_table
from shared.outbox import outbox_table

metadata = MetaData()

#: Monthly totals of every additive indicator, already rolled up to ward, province and VN.
indicator_totals = Table(
    "indicator_totals",
    metadata,
    Column("indicator_id", Text, primary_key=True),
    Column("unit", Text, primary_key=True),
    Column("month", Date, primary_key=True),
    Column("value", BigInteger, nullable=False),
)

outbox = outbox_table(metadata)
inbox = inbox_table(metadata)
access_tokens = access_tokens_table(metadata)
audit_log = audit_log_table(metadata)
