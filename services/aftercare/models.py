"""The tables the aftercare service owns."""

from __future__ import annotations

from datetime import date

from sqlalchemy import BigInteger, Date, Identity, MetaData, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.access.store import access_tokens_table
from shared.audit import audit_log_table
from shared.inbox import inbox_table
from shared.outbox import outbox_table
from shared.parking import parked_events_table

metadata = MetaData()


class Base(DeclarativeBase):
    metadata = metadata


class Episode(Base):
    """A treatment episode as admitted, and how it ended: what decides whether management follows."""

    __tablename__ = "episodes"

    episode_id: Mapped[str] = mapped_column(Text, primary_key=True)
    subject: Mapped[str] = mapped_column(Text)
    modality: Mapped[str] = mapped_column(Text)
    unit: Mapped[str] = mapped_column(Text)
    admitted_on: Mapped[date] = mapped_column(Date)
    ended_on: Mapped[date | None] = mapped_column(Date)
    outcome: Mapped[str | None] = mapped_column(Text)


class AftercareCase(Base):
    """Post-treatment management of one person after one episode, at their place of residence."""

    __tablename__ = "aftercare_cases"

    episode_id: Mapped[str] = mapped_column(Text, primary_key=True)
    subject: Mapped[str] = mapped_column(Text)
    unit: Mapped[str] = mapped_column(Text)
    opened_on: Mapped[date] = mapped_column(Date)
    closed_on: Mapped[date | None] = mapped_column(Date)
    closed_reason: Mapped[str | None] = mapped_column(Text)  # "relapsed"


class Support(Base):
    """Employment or loan support given during management (hỗ trợ vốn, tạo việc làm)."""

    __tablename__ = "supports"
    __table_args__ = (UniqueConstraint("episode_id", "support", "employed_on", name="supports_natural_key"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    episode_id: Mapped[str] = mapped_column(Text)
    support: Mapped[str] = mapped_column(Text)
    employed_on: Mapped[date] = mapped_column(Date)
    unit: Mapped[str] = mapped_column(Text)


outbox = outbox_table(metadata)
inbox = inbox_table(metadata)
access_tokens = access_tokens_table(metadata)
audit_log = audit_log_table(metadata)
parked_events = parked_events_table(metadata)
