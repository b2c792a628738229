"""The staff header's navigation (SPEC §8): the pages a role may open, in the order of a
working day, the page shown marked `aria-current="page"` and its section `"true"`."""

from __future__ import annotations

from typing import Any

from flask import Flask, request, url_for

from ..core import constants as c

TRIAGE = frozenset({c.ROLE_ADMIN, c.ROLE_PRESCRIBER})
REPORTS = TRIAGE | {c.ROLE_CLINICIAN}
ADMIN = frozenset({c.ROLE_ADMIN})
PARTNER = frozenset({c.ROLE_PARTNER})

PAGES = (
    ("staff.home", "Home", REPORTS),
    ("triage.queue", "Triage queue", TRIAGE),
    ("triage.to_call", "Patients to phone", TRIAGE),
    ("triage.clinic_day", "Clinic day", TRIAGE),
    ("reports.funnel", "Screening funnel", REPORTS),
    ("admin.users", "Staff accounts", ADMIN),
    ("admin.audit_trail", "Audit trail", ADMIN),
    ("referrals.referral_list", "Referrals", PARTNER),
)


def staff_navigation(role: str) -> list[dict[str, Any]]:
    """The NHS.UK header's `navigation.items` for `role` on the page being drawn."""
    items = [
        {"href": url_for(endpoint), "text": text}
        for endpoint, text, roles in PAGES
        if role in roles
    ]
    path = request.path
    # A page below one in the list (a task, below the queue) marks that one as its section;
    # a page in the list is only itself.
    below = [item for item in items if item["href"] != "/" and path.startswith(item["href"] + "/")]
    shown = any(item["href"] == path for item in items)
    section = None if shown else max(below, key=lambda item: len(item["href"]), default=None)
    for item in items:
        item["current"] = item["href"] == path
        item["active"] = item is section
    return items


def init_app(app: Flask) -> None:
    app.add_template_global(staff_navigation)
