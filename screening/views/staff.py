"""The staff home page: who is signed in, and what this service has loaded."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, render_template
from flask_login import current_user

from ..config import Clinic
from ..config.loaded import state
from ..core.constants import ROLES
from ..core.extensions import db
from ..questionnaire.model import Questionnaire
from ..triage.alerts import alert_status
from .auth import require_role

bp = Blueprint("staff", __name__)
bp.before_request(require_role(*ROLES))


@bp.get("/")
def home() -> str:
    loaded = state()
    questionnaires = sorted(loaded.questionnaires.questionnaires.values(), key=lambda q: q.id)
    clinics = sorted(loaded.config.clinics.values(), key=lambda c: c.code)
    return render_template(
        "staff/home.html",
        user=current_user,
        alerts=alert_status(db.session(), loaded.config),
        questionnaire_rows=[questionnaire_row(q) for q in questionnaires],
        clinic_rows=[clinic_row(c, loaded.questionnaires.questionnaires) for c in clinics],
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
