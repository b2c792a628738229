"""The screening episode: one patient × questionnaire × re-screen window."""

from __future__ import annotations

import secrets
import time
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import CheckConstraint, Computed, ForeignKey, Index, Integer, String
from sqlalchemy import text as sql_text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..core import constants as c
from ..core.db import Base, UTCDateTime
from .base import Timestamped, one_of
from .funnel_indexes import funnel_indexes, stages_reached

if TYPE_CHECKING:
    from .answers import Answer, Response
    from .appointments import Appointment
    from .patients import Patient


def _public_id() -> str:
    """30 characters: the creation second in 8 hex digits, then 128 random bits (base64url).

    The random part keeps it unguessable, so the link token made from it carries the 128
    bits SPEC §8 asks for; the leading time makes new ids sort last, so their unique index
    grows at one edge. Wholly random ids land on pages all over the index, each a page to
    write, and slow the import (README, Benchmarks: design measurements).
    """
    return f"{int(time.time()):08x}{secrets.token_urlsafe(16)}"


class Episode(Timestamped, Base):
    """One patient × questionnaire × re-screen window (SPEC §6).

    One timestamp per funnel stage, so the funnel is a single pass of conditional counts.
    The patient-group columns are a snapshot taken at creation (coded, not identifying) so
    the equity breakdowns survive a purge of the patient row.
    """

    __tablename__ = "episodes"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Random and never shown: the link token is derived from it (HMAC with the secret key).
    public_id: Mapped[str] = mapped_column(String(32), unique=True, default=_public_id)
    # Indexed by ix_episodes_patient_questionnaire, which leads with it: an index of its own
    # would serve no query that one does not, and cost every new episode another insert.
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"))
    appointment_id: Mapped[int | None] = mapped_column(ForeignKey("appointments.id"))
    clinic_code: Mapped[str | None] = mapped_column(ForeignKey("clinics.code"))
    # The owning appointment's time, copied (and kept) so the funnel filters its dates from
    # the episode's own index instead of joining a million appointments.
    appointment_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    questionnaire_id: Mapped[str] = mapped_column(String(100))
    # Fixed when the patient starts, so a new version never changes a half-done form.
    questionnaire_version: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20), default=c.EPISODE_SCHEDULED)
    mode: Mapped[str] = mapped_column(String(24), default=c.MODE_SMS)
    needs_call_reason: Mapped[str | None] = mapped_column(String(24))
    window_ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    # The link: only a SHA-256 of the token is stored (SPEC §8).
    token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    token_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    dob_failures: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    language: Mapped[str | None] = mapped_column(String(12))
    entered_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    # A follow-up questionnaire (SPEC §11) scheduled from this task: no appointment, no
    # re-screen window, and not a screening episode (the funnel leaves it out).
    # Indexed for follow-ups only (ix_episodes_follow_ups): an index of every episode here
    # would tempt SQLite to read the screening episodes through it, row by row.
    follow_up_task_id: Mapped[int | None] = mapped_column(
        ForeignKey("triage_tasks.id", use_alter=True)
    )

    # Funnel stages (SPEC §7).
    invited_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    opened_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    flagged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    wants_help_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    contacted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    referred_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # A service said the patient got help (SPEC §7 `helped`, §13).
    helped_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Where an unfinished questionnaire stands (SPEC §7 `dropoff`): the first question it
    # would show next, or `check`; none before an answer is saved (`start`). Kept as each
    # answer is saved, so the report counts it without running the engine per episode.
    stands_at: Mapped[str | None] = mapped_column(String(100))
    # Side exits.
    opted_out_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    # Patient group at creation, for the equity breakdowns.
    age_band: Mapped[str | None] = mapped_column(String(10))
    sex: Mapped[str | None] = mapped_column(String(40))
    ethnicity: Mapped[str | None] = mapped_column(String(80))
    imd_decile: Mapped[int | None] = mapped_column(Integer)
    # Computed by the database from the stage timestamps: never written.
    stages_reached: Mapped[int] = mapped_column(Integer, Computed(stages_reached()))

    patient: Mapped[Patient] = relationship(back_populates="episodes")
    appointment: Mapped[Appointment | None] = relationship(foreign_keys=[appointment_id])
    answers: Mapped[list[Answer]] = relationship(back_populates="episode")
    response: Mapped[Response | None] = relationship(back_populates="episode")

    __table_args__ = (
        CheckConstraint(one_of("status", c.EPISODE_STATUSES), name="status_known"),
        CheckConstraint(one_of("mode", c.MODES), name="mode_known"),
        Index("ix_episodes_patient_questionnaire", "patient_id", "questionnaire_id"),
        Index(
            "ix_episodes_follow_ups",
            "follow_up_task_id",
            sqlite_where=sql_text("follow_up_task_id IS NOT NULL"),
            postgresql_where=sql_text("follow_up_task_id IS NOT NULL"),
        ),
        *funnel_indexes(),
    )
