"""The funnel report's pages (SPEC §8): `/reports/funnel` and its CSV downloads.

Clinicians, prescribers and admins. The report holds counts, not patients; who looked at
or downloaded which figures is still recorded, as a trust's information governance asks.
"""

from __future__ import annotations

from datetime import date
from typing import Any, NoReturn

from flask import Blueprint, Response, abort, make_response, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from wtforms import Field, StringField
from wtforms.validators import ValidationError

from ..config.loaded import State, state
from ..core import constants as c
from ..core.extensions import db, remote_addr
from ..core.names import CLOSE_NAMES, DECLINE_REASON_NAMES
from ..reports import Filters, build_report, parse_report_filters
from ..reports.exports import TABLES, csv_table
from ..reports.groups import DIMENSIONS
from ..reports.headline import headline, references_of_invited
from ..reports.statistics import DISCLOSURE_RULE, INTERVAL_METHOD
from ..staff import audit
from .auth import require_role
from .forms import DayField, FilterForm

bp = Blueprint("reports", __name__, url_prefix="/reports")
bp.before_request(require_role(c.ROLE_ADMIN, c.ROLE_PRESCRIBER, c.ROLE_CLINICIAN))

STAGE_NAMES = {
    "invited": "Invited",
    "delivered": "Text delivered",
    "engaged": "Opened the link",
    "completed": "Completed",
    "flagged": "Flagged a need",
    "wants_help": "Wants help",
    "contacted": "Reached by prescriber",
    "referred": "Referred onward",
    "helped": "Helped by a service",
}
MODE_NAMES = {
    c.MODE_SMS: "By text message link",
    c.MODE_ASSISTED_IN_PERSON: "With staff, in person",
    c.MODE_ASSISTED_PHONE: "With staff, by phone",
}


class ReportFilterForm(FilterForm):
    unlinked = frozenset({"suppress", "table"})
    clinic = StringField("Clinic")
    questionnaire = StringField("Questionnaire")
    from_ = DayField("Start date", name="from")
    to = DayField("End date")
    suppress = StringField("For publication")


class ReportDownloadForm(ReportFilterForm):
    table = StringField("Table")

    def validate_table(self, field: Field) -> None:
        if field.data and field.data not in TABLES:
            raise ValidationError(
                f"'{field.data}' is not a table of the report: {', '.join(TABLES)}"
            )


def _published(value: str | None) -> bool:
    return (value or "").lower() in ("1", "yes", "true", "on")


@bp.get("/funnel")
def funnel() -> ResponseReturnValue:
    form = ReportFilterForm()
    filters, report, _ = _report(form, c.AUDIT_VIEW_REPORT)
    return _page(state(), form, filters, report)


def _report(
    form: ReportFilterForm, action: str, **detail: object
) -> tuple[Filters, dict[str, Any], bool]:
    """The report the query string asks for, audited; a bad filter ends the request with
    the report's form saying what to fix."""
    loaded = state()
    session = db.session()
    filters = form.read(lambda args: parse_report_filters(session, loaded, args))
    if filters is None:
        _refuse(form)
    suppress = _published(form.value("suppress"))
    report = build_report(session, loaded, filters, suppress=suppress)
    _audit(action, filters, suppress=suppress, **detail)
    session.commit()
    return filters, report, suppress


def _refuse(form: ReportFilterForm) -> NoReturn:
    abort(make_response(_page(state(), form, Filters(), None)))


def _page(
    loaded: State,
    form: ReportFilterForm,
    filters: Filters,
    report: dict[str, Any] | None,
) -> ResponseReturnValue:
    clinics = sorted(loaded.config.clinics.values(), key=lambda clinic: clinic.code)
    return (
        render_template(
            "reports/funnel.html",
            report=report,
            filters=filters,
            form=form,
            clinics=clinics,
            questionnaires=sorted(loaded.questionnaires.questionnaires),
            period=period(filters),
            stage_names=STAGE_NAMES,
            mode_names=MODE_NAMES,
            dimensions=DIMENSIONS,
            headline=headline(report) if report else [],
            references=references_of_invited(report) if report else {},
            close_names=CLOSE_NAMES,
            reason_names=DECLINE_REASON_NAMES,
            service_names=service_names(loaded),
            response_working_days=loaded.config.settings.referral_response_working_days,
            disclosure_rule=DISCLOSURE_RULE,
            interval_method=INTERVAL_METHOD,
            download=lambda table, publish=False: url_for(
                ".funnel_csv",
                table=table,
                **filters.as_params(),
                **({"suppress": "yes"} if publish else {}),
            ),
        ),
        form.http_status,
    )


@bp.get("/funnel.csv")
def funnel_csv() -> ResponseReturnValue:
    form = ReportDownloadForm()
    table = form.value("table") or "stages"
    # A download link with a bad filter answers the report's form with what to fix, as the
    # report itself does: a person followed it, and a script still sees the 400.
    _, report, suppress = _report(form, c.AUDIT_EXPORT_REPORT, table=table)
    name = f"funnel-{table}{'-for-publication' if suppress else ''}.csv"
    return Response(
        csv_table(report, table),
        mimetype="text/csv",
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            # The file's header row is a contract; the rule it was made under travels here.
            "X-Disclosure-Control": report["disclosure"],
        },
    )


def _audit(action: str, filters: Filters, **detail: object) -> None:
    audit.record(
        db.session(),
        action,
        actor=current_user,
        subject_type="report",
        subject_id="funnel",
        remote_addr=remote_addr(),
        detail={**filters.as_params(), **{k: v for k, v in detail.items() if v}},
    )


def service_names(loaded: State) -> dict[str, str]:
    """Services by the name the directory gives them now; a retired one keeps its id."""
    names = {service.id: service.name for service in loaded.config.services}
    names.setdefault(c.SERVICE_OTHER, "Other services, named by the prescriber")
    return names


def period(filters: Filters) -> str:
    """The period a table covers, in words, for its footer."""

    def day(value: date) -> str:
        return value.strftime("%-d %B %Y")

    if filters.date_from and filters.date_to:
        span = f"appointments from {day(filters.date_from)} to {day(filters.date_to)}"
    elif filters.date_from:
        span = f"appointments from {day(filters.date_from)}"
    elif filters.date_to:
        span = f"appointments up to {day(filters.date_to)}"
    else:
        span = "all appointments"
    where = f"clinic {filters.clinic}" if filters.clinic else "all clinics"
    questionnaire = f", questionnaire {filters.questionnaire}" if filters.questionnaire else ""
    return f"{span.capitalize()}, {where}{questionnaire}"
