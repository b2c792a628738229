"""Reports for cardiology teams and commissioners: the screening funnel (SPEC §7).

- queries: the SQL passes, each reading one covering index
- funnel: the passes folded into the report, one JSON-shaped dict
- outcomes: what the services said of the referrals, and wellbeing before and after
- statistics: rounding, Wilson intervals, funnel limits, disclosure control
- groups: the patient groups and their order
- filters: the report's filters, parsed and checked
- exports: the CSV tables and the command line's table

`build_report` is what the command line and the page call, with what the service loaded.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..models import Clinic
from .filters import BadFilter, Filters, parse_filters
from .funnel import funnel_report, stages_only

__all__ = ["BadFilter", "Filters", "build_report", "parse_report_filters", "stages_only"]


def _known(session: Session, loaded: Any) -> tuple[dict[str, str], set[str]]:
    """Clinics and questionnaires a report can name: those configured and loaded now, and
    retired ones still on record (`clinics` keeps every clinic the service has had)."""
    names = {row.code: row.name for row in session.scalars(select(Clinic))}
    names.update({code: clinic.name for code, clinic in loaded.config.clinics.items()})
    questionnaires = set(loaded.questionnaires.questionnaires)
    questionnaires |= set(session.scalars(select(Clinic.questionnaire_id)))
    return names, questionnaires


def parse_report_filters(session: Session, loaded: Any, values: Any) -> Filters:
    names, questionnaires = _known(session, loaded)
    return parse_filters(values, clinics=set(names), questionnaires=questionnaires)


def build_report(
    session: Session, loaded: Any, filters: Filters, *, suppress: bool = False
) -> dict[str, Any]:
    names, _ = _known(session, loaded)
    return funnel_report(
        session,
        filters,
        questionnaires=loaded.questionnaires.questionnaires,
        clinic_names=names,
        reference_rates=loaded.config.settings.reference_rates,
        referral_response_working_days=loaded.config.settings.referral_response_working_days,
        suppress=suppress,
    )
