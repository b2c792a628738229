"""Staff accounts."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ColumnElement,
    ForeignKey,
    Integer,
    String,
    func,
)
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..core import constants as c
from ..core.db import Base, UTCDateTime
from .base import Timestamped, one_of

NAME_MAX = 200


class StaffUser(Timestamped, Base):
    __tablename__ = "staff_users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    # How colleagues see this person (SPEC §8); the email where none is known.
    display_name: Mapped[str | None] = mapped_column(String(NAME_MAX))
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Per-account throttling (SPEC §9): consecutive failures and a short lock.
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Part of every session's identity: bumped when the account is disabled or its password
    # reset, which ends every session signed in before.
    session_generation: Mapped[int] = mapped_column(Integer, default=1)
    # "{issuer}|{sub}": who this account is at the trust's identity provider, once it has
    # signed in through it (single sign-on). The email may change there; this does not.
    sso_subject: Mapped[str | None] = mapped_column(String(400), unique=True)

    # A partner's services (SPEC §13): the only referrals they see.
    services: Mapped[list[StaffService]] = relationship(
        cascade="all, delete-orphan", order_by="StaffService.service_id"
    )

    __table_args__ = (CheckConstraint(one_of("role", c.ROLES), name="role_known"),)

    @property
    def service_ids(self) -> tuple[str, ...]:
        return tuple(entry.service_id for entry in self.services)

    @hybrid_property
    def shown_name(self) -> str:
        return self.display_name or self.email

    @shown_name.inplace.expression
    @classmethod
    def _shown_name(cls) -> ColumnElement[str]:
        return func.coalesce(cls.display_name, cls.email)


class StaffService(Base):
    """A service of `config/services.yaml` that a partner user answers referrals for."""

    __tablename__ = "staff_services"

    user_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id"), primary_key=True)
    service_id: Mapped[str] = mapped_column(String(100), primary_key=True)
