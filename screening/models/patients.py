"""The patient: the only table with identifiable data."""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING

from sqlalchemy import CheckConstraint, Date, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..core import clock
from ..core.db import Base, UTCDateTime
from .base import Timestamped

if TYPE_CHECKING:
    from .appointments import Appointment
    from .episodes import Episode


class Patient(Timestamped, Base):
    """The only table with identifiable data; the latest appointment row updates it."""

    __tablename__ = "patients"

    id: Mapped[int] = mapped_column(primary_key=True)
    nhs_number: Mapped[str | None] = mapped_column(String(10), unique=True)
    given_name: Mapped[str | None] = mapped_column(String(200))
    family_name: Mapped[str | None] = mapped_column(String(200))
    date_of_birth: Mapped[date | None] = mapped_column(Date)
    mobile: Mapped[str | None] = mapped_column(String(20))  # E.164
    # Another number to call (E.164): the list's `phone`, or a landline given as `mobile`.
    phone: Mapped[str | None] = mapped_column(String(20))
    postcode: Mapped[str | None] = mapped_column(String(10))
    sex: Mapped[str | None] = mapped_column(String(40))
    ethnicity: Mapped[str | None] = mapped_column(String(80))
    language: Mapped[str | None] = mapped_column(String(12))
    imd_decile: Mapped[int | None] = mapped_column(Integer)
    # The ODS code of the registered GP practice (SPEC §4, §13), as the latest list gave it.
    gp_practice: Mapped[str | None] = mapped_column(String(10))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    # Set when a retention purge blanked the identifiable fields above.
    purged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    appointments: Mapped[list[Appointment]] = relationship(back_populates="patient")
    episodes: Mapped[list[Episode]] = relationship(back_populates="patient")

    __table_args__ = (CheckConstraint("imd_decile BETWEEN 1 AND 10", name="imd_decile_range"),)
