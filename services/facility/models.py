"""The tables the facility service owns."""

from __future__ import annotations

from datetime import date

from sqlalchemy import Date, MetaData, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.access import access_tokens_table
from shared.audit import audit_log_table
from shared.inbox import inbox_table
from shared.outbox import outbox_table

metadata = MetaData()


class Base(DeclarativeBase):
    metadata = metadata


class Resident(Base):
    """A person in residential treatment at a facility (học viên), one row per episode."""

    __tablename__ = "residents"

    episode_id: Mapped[str] = mapped_column(Text, primary_key=True)
    subject: Mapped[str] = mapped_column(Text)
    facility_id: Mapped[str] = mapped_column(Text)
    modality: Mapped[str] = mapped_column(Text)
    unit: Mapped[str] = mapped_column(Text)
    admitted_on: Mapped[date] = mapped_column(Date)


outbox = outbox_table(metadata)
inbox = inbox_table(metadata)
access_tokens = access_tokens_table(metadata)
audit_log = audit_log_table(metadata)
