"""The demo: fictional patients, one staff user per role, invitations on the console.

Every NHS number is from the 999 test range and every mobile from 07400 1xxxxx, and the
demo always runs the console SMS backend, so nothing here can reach a real person.
"""

from __future__ import annotations

import csv
import random
import secrets
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..config import Config
from ..core import constants as c
from ..core.clock import LONDON
from ..core.identifiers import normalise_nhs_number
from ..models import Episode, StaffUser, TriageTask
from ..patient.links import record_opened
from ..patient.responses import save_answer, submit
from ..questionnaire import Questionnaire, evaluate
from ..questionnaire.engine import visible_items
from ..questionnaire.model import AnswerValue, Item
from ..staff.accounts import create_user, hash_password
from ..triage import tasks
from ..triage.calls import to_call

DEMO_USERS = {
    "admin": "admin@demo.screening.invalid",
    "prescriber": "prescriber@demo.screening.invalid",
    "clinician": "clinician@demo.screening.invalid",
}
DEMO_PATIENTS = 150
_GIVEN = ["Amina", "Ben", "Chloe", "Dev", "Esther", "Farid", "Grace", "Hassan", "Ivy", "Jon"]
_FAMILY = ["Ahmed", "Brown", "Chowdhury", "Davies", "Evans", "Fernandes", "Green", "Hussain"]
# NHS Data Dictionary ETHNIC CATEGORY codes, roughly as an east London list has them.
_ETHNICITY = ["A", "A", "C", "H", "J", "K", "K", "L", "M", "N", "R", "Z", "99"]
_COLUMNS = [
    "appointment_id", "nhs_number", "given_name", "family_name", "date_of_birth", "mobile",
    "clinic_code", "appointment_at", "status", "sex", "ethnicity", "language", "imd_decile",
]  # fmt: skip


def seed_users(session: Session) -> dict[str, str]:
    """One user per role, each with a fresh random password (printed, stored only hashed)."""
    passwords = {}
    for role, email in DEMO_USERS.items():
        password = secrets.token_urlsafe(12)
        user = session.scalar(select(StaffUser).where(StaffUser.email == email))
        if user is None:
            create_user(session, email, password, role)
        else:
            user.password_hash = hash_password(password)
            user.failed_logins, user.locked_until = 0, None
        passwords[email] = password
    return passwords


def write_clinic_list(path: Path, today: date, clinic_codes: list[str]) -> Path:
    """A clinic list for the next fortnight, with the awkward rows real lists have."""
    rng = random.Random(2024)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(_COLUMNS)
        for serial in range(1, DEMO_PATIENTS + 1):
            writer.writerow(_row(serial, today, clinic_codes, rng))
    return path


def _row(serial: int, today: date, clinic_codes: list[str], rng: random.Random) -> list[str]:
    # Most appointments fall in the next fortnight; one in fifteen is today, for the clinic
    # day list (too late to text: those patients are seen in clinic).
    day = today if serial % 15 == 0 else today + timedelta(days=2 + serial % 12)
    slot = time(9 + serial % 8, 30 if serial % 2 else 0)
    age = 15 if serial % 75 == 0 else rng.randint(30, 90)  # two teenagers: phoned, not texted
    if serial % 19 == 0:
        mobile = ""  # no mobile on record: phoned
    elif serial % 37 == 0:
        mobile = f"020 7946 0{serial:03d}"  # a landline: phoned
    else:
        mobile = f"07400 1{serial:05d}"
    return [
        f"DEMO{serial:04d}",
        _test_nhs_number(serial),
        rng.choice(_GIVEN),
        rng.choice(_FAMILY),
        date(today.year - age, 1 + serial % 12, 1 + serial % 28).isoformat(),
        mobile,
        clinic_codes[(serial % 4 == 0) % len(clinic_codes)],  # a quarter in the second
        datetime.combine(day, slot, tzinfo=LONDON).isoformat(),
        "cancelled" if serial % 31 == 0 else "booked",
        rng.choice(["female", "male"]),
        rng.choice(_ETHNICITY),
        "bn" if serial % 7 == 0 else "ur" if serial % 11 == 0 else "en",
        str(rng.randint(1, 6)),
    ]


def _test_nhs_number(serial: int) -> str:
    """The first valid NHS number in the 999 test range at or after this serial."""
    for candidate in range(serial * 10, serial * 10 + 10):
        for check in range(10):
            number = f"999{candidate:06d}{check}"
            if normalise_nhs_number(number):
                return number
    raise ValueError(serial)


def send_time(now: datetime, quiet: bool) -> datetime:
    """When the demo 'runs' send-due: now, or 10:00 next morning during quiet hours."""
    if not quiet:
        return now
    local = now.astimezone(LONDON)
    day = local.date() if local.hour < 9 else local.date() + timedelta(days=1)
    return datetime.combine(day, time(10), tzinfo=LONDON)


# --- a living demo: patients answer, a prescriber has started the day ------------------------

# The Newham pilot's rates (SPEC §1): 45% of those invited engaged, 50% of those completed,
# 56% of completers flagged a concern, 68% of those were in financial distress.
PILOT_ENGAGED = 0.45
PILOT_COMPLETED = 0.50
PILOT_FLAGGED = 0.56
PILOT_FINANCIAL = 0.68
OTHER_DOMAIN = 0.25  # each other domain among the flagged: the demo's own choice
WANTS_HELP = 0.75
SAFETY_EVERY = 5  # one flagged patient in five feels unsafe: the queue opens with urgent tasks


@dataclass
class DemoDay:
    opened: int = 0
    completed: int = 0
    tasks: int = 0
    claimed: int = 0
    calls: int = 0
    referrals: int = 0


def simulate_day(
    session: Session, config: Config, questionnaires: Mapping[str, Questionnaire], now: datetime
) -> DemoDay:
    """Patients open their links and answer at the pilot's rates, through the same code the
    patient pages use; then the demo prescriber claims, calls and refers some of the tasks."""
    rng = random.Random(1964)
    day = DemoDay()
    flagged = iter(range(1_000_000))
    invited = session.scalars(
        select(Episode).where(Episode.invited_at.is_not(None)).order_by(Episode.id)
    ).all()
    for episode in invited:
        if rng.random() >= PILOT_ENGAGED:
            continue
        record_opened(episode, now)
        day.opened += 1
        questionnaire = questionnaires.get(episode.questionnaire_id)
        if questionnaire is None or rng.random() >= PILOT_COMPLETED:
            session.commit()
            continue
        _answer(session, questionnaire, episode, rng, now, flagged)
        result = submit(session, questionnaire, episode, language="en", now=now)
        day.completed += 1
        day.tasks += result.task is not None
    _prescriber_starts_work(session, config, questionnaires, now, rng, day)
    return day


def _answer(
    session: Session,
    questionnaire: Questionnaire,
    episode: Episode,
    rng: random.Random,
    now: datetime,
    flagged: Iterator[int],
) -> None:
    """Answers that raise the domains drawn for this patient, item by item as shown."""
    domains: set[str] = set()
    if rng.random() < PILOT_FLAGGED:
        declared = list(questionnaire.domains)
        if "financial" in declared and rng.random() < PILOT_FINANCIAL:
            domains.add("financial")
        others = [d for d in declared if d not in ("financial", "safety")]
        domains |= {d for d in others if rng.random() < OTHER_DOMAIN}
        if "safety" in declared and next(flagged) % SAFETY_EVERY == 0:
            domains.add("safety")
        domains = domains or {rng.choice(declared)}
    consent = questionnaire.triage.consent_item
    evaluation = evaluate(questionnaire, {})
    answers: dict[str, AnswerValue] = {}
    while True:
        pending = [
            item
            for item in visible_items(questionnaire, evaluation.answers)
            if item.asks and item.id not in answers and item.answers
        ]
        if not pending:
            return
        item = pending[0]
        answers[item.id] = _choose(item, domains, item.id == consent, questionnaire, rng)
        evaluation = save_answer(
            session, questionnaire, episode, item.id, answers[item.id], now=now
        )


def _choose(
    item: Item,
    domains: set[str],
    is_consent: bool,
    questionnaire: Questionnaire,
    rng: random.Random,
) -> str:
    values = list(item.values)
    if is_consent:
        contact = [v for v in values if v in questionnaire.triage.contact_values]
        others = [v for v in values if v not in contact]
        return contact[0] if contact and (rng.random() < WANTS_HELP or not others) else others[0]
    rule = item.flag
    if rule is not None and rule.when:
        if rule.domain in domains:
            return rule.when[0]
        calm = [v for v in values if v not in rule.when]
        # Now and then the patient would rather not say, as some do.
        if "decline" in calm and rng.random() < 0.04:
            return "decline"
        return next(v for v in calm if v != "decline")
    return values[0]


def _prescriber_starts_work(
    session: Session,
    config: Config,
    questionnaires: Mapping[str, Questionnaire],
    now: datetime,
    rng: random.Random,
    day: DemoDay,
) -> None:
    """The demo prescriber has claimed half the active tasks, phoned some, referred a few."""
    prescriber = session.scalar(
        select(StaffUser).where(StaffUser.email == DEMO_USERS["prescriber"])
    )
    assert prescriber is not None
    ctx = tasks.Context(by=prescriber, now=now)
    services = {domain: s for s in reversed(config.services) for domain in s.domains}
    active = session.scalars(
        select(TriageTask).where(TriageTask.status == c.TASK_OPEN).order_by(TriageTask.id)
    ).all()
    for index, task in enumerate(active):
        if index % 2:
            continue
        tasks.claim(session, task.id, ctx)
        day.claimed += 1
        if index % 4 == 0:
            tasks.log_contact(session, task.id, ctx, method="phone", outcome="no_answer")
            day.calls += 1
            continue
        tasks.log_contact(session, task.id, ctx, method="phone", outcome="reached")
        day.calls += 1
        flagged = [flag.domain for flag in task.response.flags] if task.response else []
        wanted = next((domain for domain in flagged if domain in services), None)
        if wanted is not None:
            declared = list(questionnaires[task.episode.questionnaire_id].domains)
            tasks.refer(
                session,
                task.id,
                ctx,
                service=services[wanted].id,
                services=config.services,
                domains=declared,
                domain=wanted,
            )
            day.referrals += 1
    for entry in to_call(
        session,
        now=now,
        days_before=config.settings.to_call_days_before,
        unanswered_limit=config.settings.unable_to_contact_after,
    ).entries[:3]:
        episode = session.get(Episode, entry.episode_id)
        assert episode is not None
        tasks.record_contact(session, episode, ctx, method="phone", outcome="voicemail", note="")
        day.calls += 1
    session.commit()
