"""The demo: a fortnight of fictional work, played through the service's own code.

Every NHS number is from the 999 test range, every mobile from 07400 1xxxxx and every
landline from 020 7946 0xxx (Ofcom's drama ranges), and the demo always runs the console
SMS backend, so nothing here can reach a real person.

The clinic list is imported a fortnight ago; then each day the invitations due are sent,
patients answer at the Newham pilot's rates (some stop part way), and on working days two
social prescribers claim, phone, refer, record sessions and close tasks, and services
answer referrals. Every step runs at its own moment on the clock, so the history, due
dates and the report read as a real fortnight does.
"""

from __future__ import annotations

import csv
import random
import secrets
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..config import Config
from ..core import constants as c
from ..core.clock import LONDON
from ..core.identifiers import normalise_nhs_number
from ..invitations.tokens import link_token, link_url
from ..models import ContactAttempt, Episode, Referral, StaffUser, SupportSession, TriageTask
from ..patient.assisted import start_assisted
from ..patient.links import record_opened
from ..patient.responses import save_answer, submit
from ..questionnaire import Questionnaire, evaluate
from ..questionnaire.engine import visible_items
from ..questionnaire.model import AnswerValue, Item, need_names
from ..referrals import answers
from ..staff.accounts import create_user
from ..triage import follow_ups, tasks
from ..triage.calls import to_call

DEMO_USERS = {
    "admin": "admin@demo.screening.invalid",
    "prescriber": "prescriber@demo.screening.invalid",
    "clinician": "clinician@demo.screening.invalid",
    "partner": "foodbank@demo.screening.invalid",
}
# The partner answers for the food bank (config/services.yaml); the other services answer
# the prescribers by phone.
PARTNER_SERVICE = "food-bank"
COLLEAGUE = "colleague@demo.screening.invalid"  # a second prescriber, for shared work
DEMO_NAMES = {
    DEMO_USERS["admin"]: "Alex Morgan",
    DEMO_USERS["prescriber"]: "Priya Shah",
    DEMO_USERS["clinician"]: "Dr Tom Reid",
    COLLEAGUE: "Jo Okafor",
    DEMO_USERS["partner"]: "Sam Carter",
}
# GP practices (SPEC §13): most patients at the practice config/practices.yaml lists, some
# at one it does not (their letters are only downloaded), a few not known.
_PRACTICES = ["DEMO01", "DEMO01", "DEMO01", "DEMO02", ""]
DEMO_PATIENTS = 320
FORTNIGHT = 14
# Appointments run from 10 days ago to 13 days ahead, so the fortnight's invitations
# (7 days before each) have been sent and some are still to come.
FIRST_DAY, LAST_DAY = -10, 13
_GIVEN = ["Amina", "Ben", "Chloe", "Dev", "Esther", "Farid", "Grace", "Hassan", "Ivy", "Jon"]
_FAMILY = ["Ahmed", "Brown", "Chowdhury", "Davies", "Evans", "Fernandes", "Green", "Hussain"]
# NHS Data Dictionary ETHNIC CATEGORY codes, roughly as an east London list has them.
_ETHNICITY = ["A", "A", "C", "H", "J", "K", "K", "L", "M", "N", "R", "Z", "99"]
_COLUMNS = [
    "appointment_id", "nhs_number", "given_name", "family_name", "date_of_birth", "mobile",
    "clinic_code", "appointment_at", "status", "sex", "ethnicity", "language", "imd_decile",
    "gp_practice",
]  # fmt: skip


def seed_users(session: Session) -> dict[str, str]:
    """One user per role and a second prescriber, each named, each with a fresh random
    password (printed, stored only hashed); the partner answers for the food bank."""
    roles = {email: role for role, email in DEMO_USERS.items()}
    passwords = {}
    for email, role in {**roles, COLLEAGUE: c.ROLE_PRESCRIBER}.items():
        passwords[email] = secrets.token_urlsafe(12)
        serves = [PARTNER_SERVICE] if role == c.ROLE_PARTNER else []
        create_user(
            session,
            email,
            passwords[email],
            role,
            name=DEMO_NAMES[email],
            services=serves,
            known_services=serves,
        )
    return passwords


def write_clinic_list(path: Path, today: date, clinic_codes: list[str], *, as_of: date) -> Path:
    """The trust's list as exported on `as_of`: appointments from 10 days before `today`
    to 13 after, with the awkward rows real lists have; those already held marked
    attended or not attended."""
    rng = random.Random(2024)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(_COLUMNS)
        for serial in range(1, DEMO_PATIENTS + 1):
            writer.writerow(_row(serial, today, clinic_codes, rng, as_of))
    return path


def _row(
    serial: int, today: date, clinic_codes: list[str], rng: random.Random, as_of: date
) -> list[str]:
    # Spread over the days; one patient in twelve is in today's clinic.
    day = today if serial % 12 == 0 else today + timedelta(days=FIRST_DAY + serial % 24)
    slot = time(9 + serial % 8, 30 if serial % 2 else 0)
    age = 15 if serial % 75 == 0 else rng.randint(30, 90)  # a few teenagers: phoned, not texted
    if serial % 19 == 0:
        mobile = ""  # no mobile on record: phoned
    elif serial % 37 == 0:
        mobile = f"020 7946 0{serial:03d}"  # a landline: phoned
    else:
        mobile = f"07400 1{serial:05d}"
    status = "cancelled" if serial % 31 == 0 else "booked"
    if status == "booked" and day < as_of:
        status = "dna" if serial % 9 == 0 else "attended"
    return [
        f"DEMO{serial:04d}",
        _test_nhs_number(serial),
        rng.choice(_GIVEN),
        rng.choice(_FAMILY),
        date(today.year - age, 1 + serial % 12, 1 + serial % 28).isoformat(),
        mobile,
        clinic_codes[(serial % 4 == 0) % len(clinic_codes)],  # a quarter in the second
        datetime.combine(day, slot, tzinfo=LONDON).isoformat(),
        status,
        rng.choice(["female", "male"]),
        rng.choice(_ETHNICITY),
        "bn" if serial % 7 == 0 else "ur" if serial % 11 == 0 else "en",
        str(rng.randint(1, 6)),
        _PRACTICES[serial % len(_PRACTICES)],
    ]


def _test_nhs_number(serial: int) -> str:
    """The first valid NHS number in the 999 test range at or after this serial."""
    for candidate in range(serial * 10, serial * 10 + 10):
        for check in range(10):
            number = f"999{candidate:06d}{check}"
            if normalise_nhs_number(number):
                return number
    raise ValueError(serial)


# --- the fortnight ------------------------------------------------------------------------

# The Newham pilot's rates (SPEC §1): 45% of those invited engaged, 50% of those completed,
# 56% of completers flagged a concern, 68% of those were in financial distress.
PILOT_ENGAGED = 0.45
PILOT_COMPLETED = 0.50
PILOT_FLAGGED = 0.56
PILOT_FINANCIAL = 0.68
# The demo's own choices, for a list that shows every state.
OTHER_DOMAIN = 0.25  # each other domain among the flagged
WANTS_HELP = 0.75
SAFETY_SHARE = 0.2  # of the flagged, who also feel unsafe: the queue has urgent tasks
ANSWER_DELAYS = (0, 0, 1, 2, 3)  # days from the text to opening the link
CALL_OUTCOMES = {"reached": 55, "no_answer": 25, "voicemail": 15, "declined_help": 5}
MORNING, AFTERNOON = time(10), time(15)


@dataclass
class Fortnight:
    """What the fortnight did, for the demo's summary."""

    opened: int = 0
    completed: int = 0
    tasks: int = 0
    claimed: int = 0
    calls: int = 0
    sessions: int = 0
    referrals: int = 0
    closed: int = 0
    follow_ups: int = 0
    follow_ups_sent: int = 0
    follow_up_task: int | None = None
    last_day: date = field(default_factory=date.today)  # the last morning played


def fortnight_start(now: datetime) -> datetime:
    """When the demo's list is first imported: 08:00 the day before the fortnight."""
    first = now.astimezone(LONDON).date() - timedelta(days=FORTNIGHT + 1)
    return datetime.combine(first, time(8), tzinfo=LONDON)


def days_of(now: datetime) -> Iterator[date]:
    today = now.astimezone(LONDON).date()
    for back in range(FORTNIGHT, -1, -1):
        yield today - timedelta(days=back)


def at(day: date, moment: time) -> datetime:
    return datetime.combine(day, moment, tzinfo=LONDON)


def patients_answer(
    session: Session,
    questionnaires: Mapping[str, Questionnaire],
    morning: datetime,
    fortnight: Fortnight,
) -> None:
    """The patients texted in the last few days who open their link this morning: some
    finish, some stop part way; follow-up questionnaires are answered the day they come."""
    waiting = session.scalars(
        select(Episode)
        .where(
            Episode.invited_at.is_not(None),
            Episode.invited_at <= morning,
            Episode.opened_at.is_(None),
            Episode.status != c.EPISODE_CANCELLED,
        )
        .order_by(Episode.id)
    ).all()
    for episode in waiting:
        questionnaire = questionnaires.get(episode.questionnaire_id)
        if questionnaire is None:
            continue
        if episode.follow_up_task_id is not None:
            _answer_follow_up(session, questionnaire, episode, morning, fortnight)
            continue
        rng = random.Random(episode.id)  # one patient's choices, whichever day is asked
        texted = episode.invited_at.astimezone(LONDON).date()
        if (morning.astimezone(LONDON).date() - texted).days != rng.choice(ANSWER_DELAYS):
            continue
        if episode.appointment_at is not None and episode.appointment_at <= morning:
            continue
        if rng.random() >= PILOT_ENGAGED:
            continue
        record_opened(episode, morning)
        fortnight.opened += 1
        finishes = rng.random() < PILOT_COMPLETED
        stop_after = None if finishes else rng.randint(0, 5)
        _answer(session, questionnaire, episode, rng, morning, stop_after=stop_after)
        if finishes:
            result = submit(session, questionnaire, episode, language="en", now=morning)
            fortnight.completed += 1
            fortnight.tasks += result.task is not None
        session.commit()


def _answer(
    session: Session,
    questionnaire: Questionnaire,
    episode: Episode,
    rng: random.Random,
    now: datetime,
    *,
    stop_after: int | None = None,
    entered_by: int | None = None,
) -> None:
    """Answers that raise the domains drawn for this patient, item by item as shown,
    stopping after `stop_after` answers if given."""
    domains = _needs(questionnaire, rng)
    consent = questionnaire.triage.consent_item
    evaluation = evaluate(questionnaire, {})
    answers: dict[str, AnswerValue] = {}
    while stop_after is None or len(answers) < stop_after:
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
            session,
            questionnaire,
            episode,
            item.id,
            answers[item.id],
            now=now,
            entered_by=entered_by,
        )


def _needs(questionnaire: Questionnaire, rng: random.Random) -> set[str]:
    if rng.random() >= PILOT_FLAGGED:
        return set()
    declared = list(questionnaire.domains)
    domains = {"financial"} if "financial" in declared and rng.random() < PILOT_FINANCIAL else set()
    others = [d for d in declared if d not in ("financial", "safety")]
    domains |= {d for d in others if rng.random() < OTHER_DOMAIN}
    if "safety" in declared and rng.random() < SAFETY_SHARE:
        domains.add("safety")
    return domains or {rng.choice(declared)}


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


def _answer_follow_up(
    session: Session,
    questionnaire: Questionnaire,
    episode: Episode,
    morning: datetime,
    fortnight: Fortnight,
) -> None:
    """A wellbeing questionnaire after support: the first a little low, the later better."""
    first = fortnight.follow_ups == 0
    record_opened(episode, morning)
    for item in questionnaire.items:
        if item.asks and item.type == "scale" and item.flag is not None:
            low = item.flag.at_most is not None  # a low score is the worry (not anxiety)
            value = ("4" if low else "7") if first else ("7" if low else "3")
            save_answer(session, questionnaire, episode, item.id, value, now=morning)
    submit(session, questionnaire, episode, language="en", now=morning)
    fortnight.follow_ups += 1
    session.commit()


@dataclass
class Team:
    """What a working afternoon needs: where it records, what it knows, what it counts."""

    session: Session
    config: Config
    questionnaires: Mapping[str, Questionnaire]
    fortnight: Fortnight
    partner: StaffUser

    @property
    def need_names(self) -> dict[str, str]:
        """Each flag domain by the need it names, for the letters to GP practices."""
        return need_names(self.questionnaires.values())


def staff_work(
    session: Session,
    config: Config,
    questionnaires: Mapping[str, Questionnaire],
    afternoon: datetime,
    fortnight: Fortnight,
) -> None:
    """A working afternoon: new tasks claimed (urgent ones by the lead), each held task
    moved on a step, a few patients on the to-call list phoned. The last day's new tasks
    are left for the person who opens the demo."""
    working = [DEMO_USERS["prescriber"], COLLEAGUE, DEMO_USERS["partner"]]
    people = {
        user.email: user
        for user in session.scalars(select(StaffUser).where(StaffUser.email.in_(working)))
    }
    lead, colleague = people[DEMO_USERS["prescriber"]], people[COLLEAGUE]
    team = Team(session, config, questionnaires, fortnight, people[DEMO_USERS["partner"]])
    today = afternoon.astimezone(LONDON).date()
    active = session.scalars(
        select(TriageTask)
        .where(TriageTask.status.in_(sorted(c.ACTIVE_TASK_STATUSES)))
        .order_by(TriageTask.id)
    ).all()
    for task in active:
        rng = random.Random(task.id * 1000 + today.toordinal())
        if task.assigned_to_user_id is None:
            if task.created_at.astimezone(LONDON).date() == fortnight.last_day:
                continue
            holder = lead if task.priority == c.PRIORITY_URGENT or task.id % 2 else colleague
            tasks.claim(session, task.id, tasks.Context(by=holder, now=afternoon))
            fortnight.claimed += 1
            continue
        holder = lead if task.assigned_to_user_id == lead.id else colleague
        _next_step(team, task, tasks.Context(by=holder, now=afternoon), rng)
    _phone_the_to_call_list(team, lead, afternoon)
    session.commit()


def _next_step(team: Team, task: TriageTask, ctx: tasks.Context, rng: random.Random) -> None:
    """Phone until the patient is reached; then support them; then see it through."""
    attempts = list(task.contact_attempts)
    if any(a.outcome == c.CONTACT_DECLINED for a in attempts):
        _close(team, task, ctx, "declined")
    elif not any(a.outcome in c.REACHED_OUTCOMES for a in attempts):
        _phone(team, task, ctx, rng, attempts)
    elif not task.referrals and not _has_sessions(team.session, task):
        _support(team, task, ctx, rng)
    elif _follow_up_due(task, ctx.now.astimezone(LONDON).date(), team.fortnight):
        _ask_wellbeing(team, task, ctx)
    else:
        _see_through(team, task, ctx)


def _phone(
    team: Team,
    task: TriageTask,
    ctx: tasks.Context,
    rng: random.Random,
    attempts: list[ContactAttempt],
) -> None:
    """Once a day until reached; closed once the unanswered calls allow it."""
    settings = team.config.settings
    today = ctx.now.astimezone(LONDON).date()
    if len(attempts) >= settings.unable_to_contact_after and (
        tasks.unable_to_contact_allowed(attempts, settings)
    ):
        _close(team, task, ctx, "unable_to_contact")
    elif all(a.attempted_at.astimezone(LONDON).date() < today for a in attempts):
        outcome = rng.choices(list(CALL_OUTCOMES), weights=list(CALL_OUTCOMES.values()))[0]
        tasks.log_contact(team.session, task.id, ctx, method="phone", outcome=outcome)
        team.fortnight.calls += 1


def _support(team: Team, task: TriageTask, ctx: tasks.Context, rng: random.Random) -> None:
    """Once the patient is reached: a session, and a referral for a need a service meets.
    A patient short of money is often sent to the food bank too (a voucher), so its
    partner has referrals to answer."""
    tasks.record_session(team.session, task.id, ctx, minutes=rng.choice((20, 30, 45)))
    team.fortnight.sessions += 1
    services = {domain: s.id for s in reversed(team.config.services) for domain in s.domains}
    flagged = [flag.domain for flag in task.response.flags] if task.response else []
    wanted = next((domain for domain in flagged if domain in services), None)
    if wanted is not None and rng.random() < 0.8:
        _refer(team, task, ctx, services[wanted], wanted)
        if services[wanted] != PARTNER_SERVICE and "financial" in flagged and rng.random() < 0.6:
            _refer(team, task, ctx, PARTNER_SERVICE, "financial")


def _refer(team: Team, task: TriageTask, ctx: tasks.Context, service: str, domain: str) -> None:
    tasks.refer(
        team.session,
        task.id,
        ctx,
        service=service,
        services=team.config.services,
        domains=list(team.questionnaires[task.episode.questionnaire_id].domains),
        domain=domain,
    )
    team.fortnight.referrals += 1


def _has_sessions(session: Session, task: TriageTask) -> bool:
    held = select(func.count()).where(SupportSession.task_id == task.id)
    return bool(session.scalar(held))


def _ask_wellbeing(team: Team, task: TriageTask, ctx: tasks.Context) -> None:
    tomorrow = ctx.now.astimezone(LONDON).date() + timedelta(days=1)
    follow_ups.schedule(
        team.session,
        task.id,
        ctx,
        questionnaire_id="ons4-wellbeing",
        day=tomorrow.isoformat(),
        questionnaires=dict(team.questionnaires),
        config=team.config,
    )
    team.fortnight.follow_up_task = task.id
    team.fortnight.follow_ups_sent += 1


def _see_through(team: Team, task: TriageTask, ctx: tasks.Context) -> None:
    """Services answer; once every referral is settled and the task is five days old, it
    is closed (the patient asked about their wellbeing twice stays open)."""
    _services_answer(team, task, ctx)
    settled = all(r.status in ("completed", "declined") for r in task.referrals)
    held_for = (ctx.now.astimezone(LONDON).date() - task.created_at.astimezone(LONDON).date()).days
    if settled and held_for >= 5 and task.id != team.fortnight.follow_up_task:
        _close(team, task, ctx, "referred" if task.referrals else "support_arranged")


def _services_answer(team: Team, task: TriageTask, ctx: tasks.Context) -> None:
    """A service answers a referral after two days (most accept) and most complete it
    three days later; one in six is still in hand. The food bank answers on its own page
    (its partner); the others by phone, recorded by the prescriber. The food bank's last
    three days of referrals wait for whoever opens the demo as its partner."""
    today = ctx.now.astimezone(LONDON).date()
    for referral in list(task.referrals):
        waited = (today - referral.referred_at.astimezone(LONDON).date()).days
        by_partner = referral.service_id == PARTNER_SERVICE
        answer = _service_answer(referral, waited)
        if answer is None or (by_partner and today > team.fortnight.last_day - timedelta(days=3)):
            continue
        who = team.partner if by_partner else ctx.by
        answers.respond(team.session, referral, tasks.Context(by=who, now=ctx.now), answer)


def _service_answer(referral: Referral, waited: int) -> answers.Answer | None:
    if referral.status == c.REFERRAL_MADE and waited >= 2:
        # The fortnight's first referral, and one in six after it, is declined.
        if referral.id % 6 == 1:
            return answers.Answer(c.REFERRAL_DECLINED, reason="no_capacity")
        return answers.Answer(c.REFERRAL_ACCEPTED)
    if referral.status == c.REFERRAL_ACCEPTED and waited >= 5 and referral.id % 6 != 3:
        outcome = ("partly_helped", "not_helped", "helped", "helped")[referral.id % 4]
        return answers.Answer(c.REFERRAL_COMPLETED, outcome=outcome)
    return None


def _follow_up_due(task: TriageTask, today: date, fortnight: Fortnight) -> bool:
    """One patient is asked the wellbeing questions early in their support and again in
    the fortnight's last days: the task page's scores over time."""
    if task.episode.patient.mobile is None:
        return False
    if fortnight.follow_up_task is None:
        return today <= fortnight.last_day - timedelta(days=8)
    near_the_end = today >= fortnight.last_day - timedelta(days=4)
    return task.id == fortnight.follow_up_task and near_the_end and fortnight.follow_ups_sent == 1


def _close(team: Team, task: TriageTask, ctx: tasks.Context, outcome: str) -> None:
    tasks.close(
        team.session,
        task.id,
        ctx,
        outcome=outcome,
        version=task.version,
        config=team.config,
        need_names=team.need_names,
    )
    team.fortnight.closed += 1


def _phone_the_to_call_list(team: Team, caller: StaffUser, now: datetime) -> None:
    """Two calls from the to-call list; a patient reached answers the questions by phone."""
    session, settings = team.session, team.config.settings
    ctx = tasks.Context(by=caller, now=now)
    entries = to_call(
        session,
        now=now,
        days_before=settings.to_call_days_before,
        unanswered_limit=settings.unable_to_contact_after,
    ).entries
    for entry in entries[:2]:
        episode = session.get(Episode, entry.episode_id)
        questionnaire = team.questionnaires.get(entry.questionnaire_id)
        assert episode is not None
        rng = random.Random(episode.id * 7 + now.toordinal())
        outcome = rng.choice(("no_answer", "voicemail", "reached"))
        tasks.record_contact(session, episode, ctx, method="phone", outcome=outcome, note="")
        team.fortnight.calls += 1
        if outcome == "reached" and questionnaire is not None:
            start_assisted(session, episode, mode=c.MODE_ASSISTED_PHONE, user_id=caller.id, now=now)
            _answer(session, questionnaire, episode, rng, now, entered_by=caller.id)
            result = submit(session, questionnaire, episode, language="en", now=now)
            team.fortnight.completed += 1
            team.fortnight.tasks += result.task is not None


def patient_links(session: Session, config: Config, now: datetime, count: int = 5) -> list[str]:
    """Links of patients texted who have not opened them, appointments still to come: what
    each patient's text message holds."""
    episodes = session.scalars(
        select(Episode)
        .where(
            Episode.invited_at.is_not(None),
            Episode.opened_at.is_(None),
            Episode.follow_up_task_id.is_(None),
            Episode.appointment_at > now,
            Episode.status == c.EPISODE_INVITED,
        )
        .order_by(Episode.appointment_at, Episode.id)
        .limit(count)
    ).all()
    return [
        link_url(config.public_base_url, link_token(config.secret_key, episode.public_id))
        for episode in episodes
    ]
