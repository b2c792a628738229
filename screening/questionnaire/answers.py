"""The answers an episode holds, as the engine reads them: for the form that resumes them
and the task page that shows them."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..models import Answer, Episode
from .model import AnswerValue


def stored_answers(session: Session, episode: Episode) -> dict[str, AnswerValue]:
    rows = session.execute(
        select(Answer.item_id, Answer.value).where(Answer.episode_id == episode.id)
    )
    return {item_id: value for item_id, value in rows}
