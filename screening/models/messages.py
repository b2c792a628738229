"""The SMS outbox, opt-outs by number, and the shared pace of sending."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import CheckConstraint, Float, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..core import clock
from ..core import constants as c
from ..core.db import Base, UTCDateTime
from .base import Timestamped, one_of

if TYPE_CHECKING:
    from .episodes import Episode


class OutboundMessage(Timestamped, Base):
    """The outbox: persisted first, sent from a claimed row (STYLE: Outbox like Notify's).

    The body is rendered at send time (the token is derived, never stored), and the
    recipient is read from the patient then, so a corrected mobile applies to unsent mail.
    """

    __tablename__ = "outbound_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    episode_id: Mapped[int] = mapped_column(ForeignKey("episodes.id"))
    kind: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), default=c.MESSAGE_PENDING)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    valid_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    provider_sid: Mapped[str | None] = mapped_column(String(64), unique=True)
    provider_status: Mapped[str | None] = mapped_column(String(20))
    error_code: Mapped[int | None] = mapped_column(Integer)
    error_class: Mapped[str | None] = mapped_column(String(20))
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    final_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    episode: Mapped[Episode] = relationship()

    @classmethod
    def for_the_day(cls, episode_id: int, kind: str, due_at: datetime) -> OutboundMessage:
        """A text not about an appointment (a follow-up's invitation, the unable-to-contact
        text): valid at the provider for the day from when it is due (SPEC §11)."""
        return cls(
            episode_id=episode_id,
            kind=kind,
            status=c.MESSAGE_PENDING,
            due_at=due_at,
            valid_until=due_at + timedelta(seconds=c.DAY_VALIDITY_SECONDS),
        )

    __table_args__ = (
        # One invitation and one reminder per episode, whatever runs twice.
        UniqueConstraint("episode_id", "kind"),
        CheckConstraint(one_of("kind", c.MESSAGE_KINDS), name="kind_known"),
        CheckConstraint(one_of("status", c.MESSAGE_STATUSES), name="status_known"),
        # A claim walks the pending rows in id order and stops at its batch size. Indexed by
        # (status, next_attempt_at), every pending row would be read and sorted for each
        # claim (README, Benchmarks: design measurements).
        Index("ix_outbound_messages_ready", "status", "id"),
    )


class OptOut(Base):
    """Opt-outs belong to the phone number, not the patient (SPEC §6)."""

    __tablename__ = "opt_outs"

    phone: Mapped[str] = mapped_column(String(20), primary_key=True)  # E.164
    opted_out_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    source: Mapped[str] = mapped_column(String(20))
    lifted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class SmsPace(Base):
    """When the next SMS may leave, for every worker of this database (the shared cap on
    sending, `sms_rate_per_second`; see `screening.sms.pacing`)."""

    __tablename__ = "sms_pace"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    # Seconds since the epoch by the database's own clock: the one clock all workers share.
    next_slot: Mapped[float] = mapped_column(Float)
