"""The tables the intake service owns."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import ARRAY, Date, DateTime, Integer, MetaData, Text, UniqueConstraint, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.access.store import access_tokens_table
from shared.audit import audit_log_table
from shared.inbox import inbox_table
from shared.outbox import outbox_table
from shared.parking import parked_events_table

metadata = MetaData()


class Base(DeclarativeBase):
    metadata = metadata


class Person(Base):
    """A registered person, known only by the pseudonym of their national ID."""

    __tablename__ = "persons"

    subject: Mapped[str] = mapped_column(Text, primary_key=True)
    sex: Mapped[str] = mapped_column(Text)
    birth_year: Mapped[int] = mapped_column(Integer)
    residence_unit: Mapped[str] = mapped_column(Text)
    registered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Episode(Base):
    """A treatment episode: opened by an admission here or published by an agency, ended by `completed`."""

    __tablename__ = "episodes"
    __table_args__ = (UniqueConstraint("subject", "modality", "admitted_on", name="episodes_natural_key"),)

    episode_id: Mapped[str] = mapped_column(Text, primary_key=True)
    subject: Mapped[str] = mapped_column(Text)  # not always registered here: agencies may publish admissions
    modality: Mapped[str] = mapped_column(Text)
    admitted_on: Mapped[date] = mapped_column(Date)
    unit: Mapped[str] = mapped_column(Text)
    facility_id: Mapped[str | None] = mapped_column(Text)
    substances: Mapped[list[str]] = mapped_column(ARRAY(Text))
    legal_basis: Mapped[str | None] = mapped_column(Text)
    service_point_id: Mapped[str | None] = mapped_column(Text)
    previous_episode_id: Mapped[str | None] = mapped_column(Text)
    recorded_by: Mapped[str] = mapped_column(Text)
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    ended_on: Mapped[date | None] = mapped_column(Date)
    outcome: Mapped[str | None] = mapped_column(Text)
    relapsed_on: Mapped[date | None] = mapped_column(Date)


class Facility(Base):
    """A registered facility as the facility service announced it: what admissions may name."""

    __tablename__ = "facilities"

    facility_id: Mapped[str] = mapped_column(Text, primary_key=True)
    unit: Mapped[str] = mapped_column(Text)
    modalities: Mapped[list[str]] = mapped_column(ARRAY(Text))
    announced_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))  # the event's time: newest wins


outbox = outbox_table(metadata)
inbox = inbox_table(metadata)
access_tokens = access_tokens_table(metadata)
audit_log = audit_log_table(metadata)
parked_events = parked_events_table(metadata)
