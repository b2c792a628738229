"""Clinics and their appointments, as the hospital's lists give them."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..core import clock
from ..core import constants as c
from ..core.db import Base, UTCDateTime
from .base import Timestamped, one_of

if TYPE_CHECKING:
    from .episodes import Episode
    from .patients import Patient


class Clinic(Base):
    """A copy of `config/clinics.yaml`, kept so reports still name retired clinics."""

    __tablename__ = "clinics"

    code: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    hospital: Mapped[str] = mapped_column(String(200))
    questionnaire_id: Mapped[str] = mapped_column(String(100))
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class Appointment(Timestamped, Base):
    __tablename__ = "appointments"

    id: Mapped[int] = mapped_column(primary_key=True)
    # The CSV's `appointment_id`: re-imports are idempotent on it.
    external_id: Mapped[str] = mapped_column(String(100), unique=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    clinic_code: Mapped[str] = mapped_column(ForeignKey("clinics.code"))
    appointment_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(20), default=c.APPOINTMENT_BOOKED)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    # The episode this appointment belongs to: the one it created, or the one it attached
    # to inside the re-screen window. (use_alter: episodes also point back at appointments.)
    episode_id: Mapped[int | None] = mapped_column(
        ForeignKey("episodes.id", use_alter=True), index=True
    )

    patient: Mapped[Patient] = relationship(back_populates="appointments")
    episode: Mapped[Episode | None] = relationship(foreign_keys=[episode_id], post_update=True)

    __table_args__ = (
        CheckConstraint(one_of("status", c.APPOINTMENT_STATUSES), name="status_known"),
        Index("ix_appointments_clinic_at", "clinic_code", "appointment_at"),
        # The to-call list and the clinic day read appointments by time across clinics.
        Index("ix_appointments_at", "appointment_at"),
    )
