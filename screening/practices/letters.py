"""When a GP practice hears back (SPEC §13), and the mail that carries the letter.

A letter is made as a task first closes with any outcome but `not_needed`, and again only
when a later closing changed its outcome or its referrals: the practice files one update
per change, not one per click. It is kept as made (the PDF), so the task page offers the
same letter to download; it is mailed only to a practice of `config/practices.yaml` with a
mailbox, and only over an encrypted relay in production. A code that is not listed is
never mailed, nor matched to a practice that looks close (hazard log: a letter to the
wrong practice).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..config import Config
from ..config.schema import RawPractice
from ..core import clock
from ..core import constants as c
from ..core.names import CLOSE_NAMES, referral_answer
from ..mail import outbox
from ..models import GpLetter, Mail, SupportSession, TriageTask
from . import pdf
from .content import (
    REFERRAL_TO_SOCIAL_PRESCRIBING,
    SOCIAL_PRESCRIBING_DECLINED,
    LetterContent,
    LetterPatient,
    LetterReferral,
)

SUBJECT = "Social prescribing: message back to the GP practice"


def on_closed(
    session: Session,
    task: TriageTask,
    config: Config,
    need_names: Mapping[str, str],
    now: datetime,
) -> GpLetter | None:
    """Make (and queue) the practice's letter for a task closing now, in its transaction;
    None when no letter is due."""
    if task.outcome == c.OUTCOME_NOT_NEEDED:
        return None
    code = task.episode.patient.gp_practice
    practice = config.practices.get(code or "")
    mailed = mailable(config, code)
    fingerprint = _fingerprint(task, code, mailed)
    if fingerprint == _last_fingerprint(session, task.id):
        return None  # nothing the practice has not heard
    content = gather(session, task, code, practice, config, need_names, now)
    letter = GpLetter(
        task_id=task.id,
        practice_code=code,
        made_at=now,
        fingerprint=fingerprint,
        pdf=pdf.render(content),
    )
    session.add(letter)
    session.flush()
    if mailed:
        assert practice is not None and practice.email
        outbox.queue(
            session, c.MAIL_GP_LETTER, now, task_id=task.id, letter_id=letter.id, to=practice.email
        )
    return letter


@dataclass(frozen=True)
class LetterMade:
    """A letter as the task page lists it."""

    id: int
    made_at: datetime
    practice_code: str | None
    mailed: str | None  # the mail's status (pending, sending, sent), or None: not mailed
    sent_at: datetime | None
    kept: bool  # the PDF is still held (the retention purge blanks it)


def of_task(session: Session, task_id: int) -> list[LetterMade]:
    """The task's letters, newest first, each with how it went (mailed or not)."""
    rows = session.execute(
        select(GpLetter.id, GpLetter.made_at, GpLetter.practice_code, Mail.status, Mail.sent_at)
        .add_columns(GpLetter.pdf.is_not(None))
        .outerjoin(Mail, Mail.letter_id == GpLetter.id)
        .where(GpLetter.task_id == task_id)
        .order_by(GpLetter.id.desc())
    ).all()
    return [LetterMade(*row) for row in rows]


def mailable(config: Config, code: str | None) -> bool:
    """Whether this practice's letters are mailed, rather than only downloaded."""
    practice = config.practices.get(code or "")
    return bool(practice and practice.email and outbox.may_carry_patient_detail(config))


def kept_letter(session: Session, task_id: int, letter_id: int) -> GpLetter | None:
    """The task's letter, while its PDF is kept (the retention purge blanks it)."""
    return session.scalar(
        select(GpLetter).where(
            GpLetter.id == letter_id, GpLetter.task_id == task_id, GpLetter.pdf.is_not(None)
        )
    )


def latest(session: Session, task_id: int) -> GpLetter | None:
    return session.scalar(
        select(GpLetter).where(GpLetter.task_id == task_id).order_by(GpLetter.id.desc()).limit(1)
    )


def file_name(letter: GpLetter) -> str:
    """Names no patient (SPEC §13): the task and the letter's number."""
    return f"gp-letter-task-{letter.task_id}-{letter.id}.pdf"


def compose(session: Session, config: Config, mail: Mail) -> outbox.Composed:
    letter = session.get(GpLetter, mail.letter_id)
    if letter is None or letter.pdf is None:
        return outbox.Composed(to=None, subject=SUBJECT, body="")  # purged: never sent
    return outbox.Composed(
        to=mail.to_address,
        subject=SUBJECT,
        body=(
            f"Please find attached an update from the social prescribing team at "
            f"{config.hospital or 'the hospital'} about one of your registered patients, "
            "with the SNOMED CT code to file.\n"
        ),
        attachment=outbox.Attachment(filename=file_name(letter), content=letter.pdf),
    )


def gather(
    session: Session,
    task: TriageTask,
    code: str | None,
    practice: RawPractice | None,
    config: Config,
    need_names: Mapping[str, str],
    now: datetime,
) -> LetterContent:
    patient = task.episode.patient
    name = " ".join(part for part in (patient.given_name, patient.family_name) if part)
    attempts = task.contact_attempts
    sessions = _sessions(session, task)
    return LetterContent(
        practice_name=practice.name if practice else "The patient's GP practice",
        practice_code=code or "not known",
        patient=LetterPatient(name, patient.date_of_birth, patient.nhs_number),
        sender=f"Social prescribing team, {config.hospital}"
        if config.hospital
        else "Social prescribing team",
        hospital=config.hospital,
        written_on=_day(now),
        task_opened_on=_day(task.created_at),
        task_closed_on=_day(task.closed_at or now),
        needs=tuple(need_names.get(d, d) for d in (task.domains or "").split()),
        contacts=len(attempts),
        contacts_reached=sum(a.outcome in c.REACHED_OUTCOMES for a in attempts),
        sessions=len(sessions),
        session_minutes=sum(s.minutes or 0 for s in sessions),
        referrals=tuple(
            LetterReferral(
                service=r.service_name or r.service_id,
                need=need_names.get(r.domain, r.domain) if r.domain else None,
                referred_on=_day(r.referred_at),
                status=referral_answer(r.status, r.reason, r.outcome),
            )
            for r in task.referrals
        ),
        outcome=CLOSE_NAMES.get(task.outcome or "", task.outcome or ""),
        snomed=SOCIAL_PRESCRIBING_DECLINED
        if task.outcome == c.OUTCOME_DECLINED
        else REFERRAL_TO_SOCIAL_PRESCRIBING,
        made_at=now,
    )


def _sessions(session: Session, task: TriageTask) -> list[SupportSession]:
    return list(session.scalars(select(SupportSession).where(SupportSession.task_id == task.id)))


def _fingerprint(task: TriageTask, code: str | None, mailed: bool) -> str:
    """What the practice was told, and whether it could be: the task's outcome and its
    referrals as they stand, the practice, and whether the letter goes by mail (a letter
    only downloaded, for a practice not known then, is mailed at a later closing once the
    practice is known)."""
    facts = {
        "outcome": task.outcome,
        "referrals": [[r.id, r.status, r.reason, r.outcome] for r in task.referrals],
        "practice": code,
        "mailed": mailed,
    }
    return hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()


def _last_fingerprint(session: Session, task_id: int) -> str | None:
    letter = latest(session, task_id)
    return letter.fingerprint if letter else None


def _day(moment: datetime) -> date:
    return moment.astimezone(clock.LONDON).date()
