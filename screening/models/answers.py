"""What a patient answered: answers saved page by page, the submitted response, its
flags, and the questionnaire versions responses were given against."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..core import clock
from ..core import constants as c
from ..core.db import Base, UTCDateTime
from .base import one_of

if TYPE_CHECKING:
    from .episodes import Episode


class Answer(Base):
    """An answer as the patient gives it, saved page by page before submission."""

    __tablename__ = "answers"

    id: Mapped[int] = mapped_column(primary_key=True)
    episode_id: Mapped[int] = mapped_column(ForeignKey("episodes.id", ondelete="CASCADE"))
    item_id: Mapped[str] = mapped_column(String(100))
    # A string, or a list of strings for `multi` items.
    value: Mapped[Any] = mapped_column(JSON)
    answered_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    entered_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))

    episode: Mapped[Episode] = relationship(back_populates="answers")

    __table_args__ = (
        UniqueConstraint("episode_id", "item_id"),
        # The funnel's answers pass reads episode, item and value from this alone. SQLite
        # only: PostgreSQL's json has no ordering to index, and hashes the join instead.
        Index("ix_answers_episode_value", "episode_id", "item_id", "value").ddl_if(
            dialect="sqlite"
        ),
    )


class Response(Base):
    """A submitted questionnaire. Unique per episode: resubmission is a no-op."""

    __tablename__ = "responses"

    id: Mapped[int] = mapped_column(primary_key=True)
    episode_id: Mapped[int] = mapped_column(ForeignKey("episodes.id"), unique=True)
    questionnaire_id: Mapped[str] = mapped_column(String(100))
    questionnaire_version: Mapped[int] = mapped_column(Integer)
    mode: Mapped[str] = mapped_column(String(24))
    language: Mapped[str] = mapped_column(String(12))
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    submitted_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))

    episode: Mapped[Episode] = relationship(back_populates="response")
    flags: Mapped[list[Flag]] = relationship(back_populates="response")

    __table_args__ = (
        Index("ix_responses_questionnaire", "questionnaire_id", "questionnaire_version"),
    )


class Flag(Base):
    __tablename__ = "flags"

    id: Mapped[int] = mapped_column(primary_key=True)
    response_id: Mapped[int] = mapped_column(ForeignKey("responses.id"), index=True)
    item_id: Mapped[str] = mapped_column(String(100))
    domain: Mapped[str] = mapped_column(String(100))
    priority: Mapped[str] = mapped_column(String(10))
    always_triage: Mapped[bool] = mapped_column(Boolean, default=False)

    response: Mapped[Response] = relationship(back_populates="flags")

    __table_args__ = (CheckConstraint(one_of("priority", c.PRIORITIES), name="priority_known"),)


class QuestionnaireVersion(Base):
    """A frozen questionnaire version: its normalised content, as first submitted against.

    Kept so old responses stay readable and a silent edit under the same version is caught.
    """

    __tablename__ = "questionnaire_versions"

    questionnaire_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    content: Mapped[str] = mapped_column(Text)  # canonical JSON
    content_sha256: Mapped[str] = mapped_column(String(64))
    frozen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
