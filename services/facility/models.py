"""The tables the facility service owns."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Date, DateTime, Identity, Index, MetaData, Text, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.access.store import access_tokens_table
from shared.audit import audit_log_table
from shared.inbox import inbox_table
from shared.outbox import outbox_table
from shared.parking import parked_events_table

metadata = MetaData()


class Base(DeclarativeBase):
    metadata = metadata


class Facility(Base):
    """A registered treatment facility (cơ sở cai nghiện ma túy): where it is, what it offers, how many places."""

    __tablename__ = "facilities"

    facility_id: Mapped[str] = mapped_column(Text, primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    unit: Mapped[str] = mapped_column(Text)
    capacity: Mapped[dict[str, int]] = mapped_column(JSONB)  # places per modality offered
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Resident(Base):
    """A person in residential treatment at a facility (học viên), one row per episode; `facility_id` is where
    they are now, `discharged_on` set once they left."""

    __tablename__ = "residents"

    episode_id: Mapped[str] = mapped_column(Text, primary_key=True)
    subject: Mapped[str] = mapped_column(Text)
    facility_id: Mapped[str] = mapped_column(Text)
    modality: Mapped[str] = mapped_column(Text)
    unit: Mapped[str] = mapped_column(Text)
    admitted_on: Mapped[date] = mapped_column(Date)
    discharged_on: Mapped[date | None] = mapped_column(Date)
    outcome: Mapped[str | None] = mapped_column(Text)


class Stay(Base):
    """The days a resident spent at one facility, from `started_on` up to, not including, `ended_on`: the census."""

    __tablename__ = "stays"
    __table_args__ = (Index("stays_by_facility", "facility_id", "modality", "started_on"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    episode_id: Mapped[str] = mapped_column(Text, index=True)
    facility_id: Mapped[str] = mapped_column(Text)
    modality: Mapped[str] = mapped_column(Text)
    started_on: Mapped[date] = mapped_column(Date)
    ended_on: Mapped[date | None] = mapped_column(Date)


class CommunityEpisode(Base):
    """An episode admitted outside any facility: its transfers and ends are not this service's to apply."""

    __tablename__ = "community_episodes"

    episode_id: Mapped[str] = mapped_column(Text, primary_key=True)


outbox = outbox_table(metadata)
inbox = inbox_table(metadata)
access_tokens = access_tokens_table(metadata)
audit_log = audit_log_table(metadata)
parked_events = parked_events_table(metadata)
