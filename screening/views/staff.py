"""The staff home page (SPEC §8): the signed-in person's work at a glance.

Prescribers and admins see counts first, each linking to exactly the list it counts; then
everyone sees the last 90 days' funnel, a line per stage; admins see the set-up below.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from flask import Blueprint, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user

from ..config import Clinic
from ..config.loaded import state
from ..core import clock
from ..core import constants as c
from ..core.extensions import db
from ..mail import outbox
from ..questionnaire.model import Questionnaire
from ..reports import Filters, stages_only
from ..triage import counts
from ..triage.alerts import alert_status
from ..triage.queue import Viewer
from ..triage.service_levels import today
from .auth import require_role
from .navigation import TRIAGE
from .reports import STAGE_NAMES

bp = Blueprint("staff", __name__)
bp.before_request(require_role(*c.ROLES))

FUNNEL_DAYS = 90
MAIL_NAMES = {
    c.MAIL_URGENT_ALERT: "Urgent alerts",
    c.MAIL_REFERRAL_NOTICE: "Notices to services of a new referral",
    c.MAIL_REFERRAL_REMINDER: "Reminders to services of an overdue referral",
    c.MAIL_GP_LETTER: "Letters to GP practices",
}
# Each count: its SPEC §8 name, what it counts (one, many), and the list it opens.
COUNTS = (
    ("urgent_unclaimed", "urgent task nobody holds", "urgent tasks nobody holds"),
    ("overdue", "task past its due date", "tasks past their due date"),
    ("mine", "task you hold", "tasks you hold"),
    ("to_call", "patient to phone", "patients to phone"),
    ("clinic_today", "patient to see in clinic today", "patients to see in clinic today"),
    (
        "referrals_overdue",
        "task with a referral waiting too long for an answer",
        "tasks with a referral waiting too long for an answer",
    ),
)


def _count_links() -> dict[str, str]:
    return {
        "urgent_unclaimed": url_for("triage.queue", **counts.URGENT_UNCLAIMED.as_params()),
        "overdue": url_for("triage.queue", **counts.OVERDUE.as_params()),
        "mine": url_for("triage.queue", **counts.MINE.as_params()),
        "to_call": url_for("triage.to_call"),
        "clinic_today": url_for("triage.clinic_day"),
        "referrals_overdue": url_for("triage.queue", **counts.REFERRALS_OVERDUE.as_params()),
    }


@bp.get("/")
def home() -> ResponseReturnValue:
    if current_user.role == c.ROLE_PARTNER:
        return redirect(url_for("referrals.referral_list"), code=303)
    loaded = state()
    session = db.session()
    day = today()
    since = day - timedelta(days=FUNNEL_DAYS)
    work = None
    if current_user.role in TRIAGE:
        settings = loaded.config.settings
        viewer = Viewer(
            current_user.id,
            day,
            settings.triage_sla_working_days,
            settings.referral_response_working_days,
        )
        work = counts.home_counts(session, viewer, now=clock.now(), settings=loaded.config.settings)
    is_admin = current_user.role == c.ROLE_ADMIN
    questionnaires = sorted(loaded.questionnaires.questionnaires.values(), key=lambda q: q.id)
    clinics = sorted(loaded.config.clinics.values(), key=lambda clinic: clinic.code)
    return render_template(
        "staff/home.html",
        work=work,
        count_names=COUNTS,
        count_links=_count_links(),
        # Upcoming appointments too: their invitations are the newest part of the funnel.
        stages=stages_only(session, Filters(date_from=since)),
        stage_names=STAGE_NAMES,
        since=since,
        days=FUNNEL_DAYS,
        alerts=alert_status(session, loaded.config) if work is not None else None,
        mail_waiting=outbox.waiting(session) if is_admin else [],
        mail_names=MAIL_NAMES,
        is_admin=is_admin,
        questionnaire_rows=[questionnaire_row(q) for q in questionnaires] if is_admin else [],
        clinic_rows=(
            [clinic_row(clinic, loaded.questionnaires.questionnaires) for clinic in clinics]
            if is_admin
            else []
        ),
    )


# Rows of text cells for the NHS.UK table macro, which only takes strings.


def questionnaire_row(questionnaire: Questionnaire) -> list[str]:
    source = Path(questionnaire.source_file).name if questionnaire.source_file else ""
    return [
        questionnaire.id,
        str(questionnaire.version),
        questionnaire.title[questionnaire.default_language],
        str(len(questionnaire.items)),
        source,
    ]


def clinic_row(clinic: Clinic, questionnaires: dict[str, Questionnaire]) -> list[str]:
    # A clinic naming a questionnaire that failed to load is worth seeing at a glance.
    known = clinic.questionnaire in questionnaires
    return [
        clinic.code,
        clinic.name,
        clinic.hospital,
        clinic.questionnaire if known else f"{clinic.questionnaire} (not loaded)",
    ]
