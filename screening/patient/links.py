"""Opening a personal link, and checking the date of birth (SPEC §8, §9).

A link is found by the SHA-256 of its token. On the first visit it is exchanged for the
episode's public id in the session cookie and a redirect to a clean URL, so the token does
not linger in history or referrers. Three wrong dates of birth lock the link for 30
minutes and put the episode on the phone-call list: the hospital's record may be wrong.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import Enum

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..core import constants as c
from ..invitations.tokens import token_hash
from ..models import Episode

DOB_ATTEMPTS = 3
DOB_LOCK = timedelta(minutes=30)
# Tokens are 43 base64url characters; anything far from that is not worth a query.
TOKEN_LENGTHS = range(40, 50)


class LinkState(Enum):
    UNKNOWN = "unknown"
    EXPIRED = "expired"
    COMPLETE = "complete"
    OPEN = "open"


@dataclass(frozen=True)
class Opened:
    state: LinkState
    episode: Episode | None = None


def find_by_token(session: Session, token: str) -> Episode | None:
    if len(token) not in TOKEN_LENGTHS:
        return None
    return session.scalar(select(Episode).where(Episode.token_hash == token_hash(token)))


def state_of(episode: Episode | None, now: datetime) -> LinkState:
    if episode is None:
        return LinkState.UNKNOWN
    if episode.completed_at is not None:
        return LinkState.COMPLETE
    if episode.status == c.EPISODE_CANCELLED:
        return LinkState.EXPIRED
    if episode.token_expires_at is not None and episode.token_expires_at <= now:
        return LinkState.EXPIRED
    return LinkState.OPEN


def open_link(session: Session, token: str, now: datetime) -> Opened:
    """Resolve a token; record the first opening (the funnel's `engaged`)."""
    episode = find_by_token(session, token)
    state = state_of(episode, now)
    if state is LinkState.OPEN and episode is not None:
        record_opened(episode, now)
        session.commit()
    return Opened(state, episode)


def record_opened(episode: Episode, now: datetime) -> None:
    episode.opened_at = episode.opened_at or now
    if episode.status in (c.EPISODE_SCHEDULED, c.EPISODE_INVITED, c.EPISODE_SEND_FAILED):
        episode.status = c.EPISODE_OPENED


# --- date of birth -------------------------------------------------------------------------


def is_locked(episode: Episode, now: datetime) -> bool:
    return episode.locked_until is not None and episode.locked_until > now


def check_date_of_birth(session: Session, episode: Episode, given: date, now: datetime) -> bool:
    """True when it matches. Wrong answers count; the third locks the link for a while."""
    if is_locked(episode, now):
        return False
    if episode.patient.date_of_birth == given:
        episode.dob_failures = 0
        session.commit()
        return True
    episode.dob_failures += 1
    if episode.dob_failures >= DOB_ATTEMPTS:
        episode.locked_until = now + DOB_LOCK
        episode.dob_failures = 0
        # The record may be what is wrong: a person should call instead.
        episode.status = c.EPISODE_NEEDS_CALL
        episode.needs_call_reason = c.NEEDS_CALL_DOB_LOCKED
    session.commit()
    return False
