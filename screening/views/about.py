"""Pages about the service, for everyone: the accessibility statement that public sector
websites must publish, and the footer's links to it and to the trust's privacy notice."""

from __future__ import annotations

from flask import Blueprint, Flask, render_template, url_for
from flask_babel import gettext as _

from ..config.loaded import state

bp = Blueprint("about", __name__)


@bp.get("/accessibility")
def accessibility() -> str:
    return render_template("about/accessibility.html", hospital=state().config.hospital)


def footer_links() -> list[dict[str, str]]:
    """The footer's links on every page, patient and staff, in the page's language."""
    settings = state().config.settings
    links = [
        {
            "href": settings.accessibility_statement_url or url_for("about.accessibility"),
            "text": _("Accessibility statement"),
        }
    ]
    if settings.privacy_notice_url:
        links.append({"href": settings.privacy_notice_url, "text": _("Privacy notice")})
    return links


def init_app(app: Flask) -> None:
    app.add_template_global(footer_links)
