"""Opt-outs belong to the phone number, not the patient (SPEC §6).

A STOP reply, Twilio's error 21610, or the start page's "stop texts" records one; a
START reply lifts it. No SMS goes to an opted-out number: the outbox checks before every
send, and episodes not yet invited wait as `opted_out`.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..core import constants as c
from ..models import Episode, OptOut, Patient

STOP_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "END", "CANCEL", "QUIT"})
START_WORDS = frozenset({"START", "UNSTOP"})


def keyword(body: str) -> str:
    """The reply's first word, as carriers read it ("Stop." and " stop " are STOP)."""
    words = body.strip().split()
    return words[0].strip(".!,;:").upper() if words else ""


def record_opt_out(session: Session, phone: str, *, source: str, now: datetime) -> None:
    row = session.get(OptOut, phone)
    if row is None:
        session.add(OptOut(phone=phone, source=source, opted_out_at=now))
    elif row.lifted_at is not None:
        row.lifted_at, row.opted_out_at, row.source = None, now, source
    for episode in _open_episodes(session, phone):
        episode.opted_out_at = episode.opted_out_at or now
        # Not yet invited: wait as opted_out. Already invited: the link keeps working (the
        # patient stopped texts, not care); the outbox sends nothing more.
        if episode.status == c.EPISODE_SCHEDULED:
            episode.status = c.EPISODE_OPTED_OUT


def lift_opt_out(session: Session, phone: str, *, now: datetime) -> None:
    row = session.get(OptOut, phone)
    if row is None or row.lifted_at is not None:
        return
    row.lifted_at = now
    for episode in _open_episodes(session, phone):
        if episode.status == c.EPISODE_OPTED_OUT:
            episode.status = c.EPISODE_SCHEDULED


def is_opted_out(session: Session, phone: str | None) -> bool:
    if phone is None:
        return False
    row = session.get(OptOut, phone)
    return row is not None and row.lifted_at is None


def _open_episodes(session: Session, phone: str) -> list[Episode]:
    return list(
        session.scalars(
            select(Episode)
            .join(Patient, Episode.patient_id == Patient.id)
            .where(
                Patient.mobile == phone,
                Episode.status.not_in((c.EPISODE_COMPLETED, c.EPISODE_CANCELLED)),
            )
        )
    )
