"""The letter to a GP practice as a PDF (SPEC §13): A4, the PRSB Social Prescribing
Standard's message back to the GP in the order the SPEC lists it, as text a practice's
document workflow can read back and file.

fpdf2 draws it in pure Python. Its built-in fonts only print Latin-1, and patients are
called Łukasz and Siobhán, so the letter is set in DejaVu Sans, shipped beside this module
(`fonts/`, with its licence) so that closing a task never depends on what a server has
installed: fpdf2 embeds the subset it uses, so the reader needs no font.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from pathlib import Path

from fpdf import FPDF
from fpdf.enums import TableBordersLayout, XPos, YPos
from fpdf.fonts import FontFace

from ..core import clock
from .content import LetterContent, LetterReferral

TITLE = "Social prescribing: message back to the GP practice"
FONT_DIR = Path(__file__).parent / "fonts"
_FONT = "DejaVu"
_FONT_FILES = {"": "DejaVuSans.ttf", "B": "DejaVuSans-Bold.ttf"}

# Millimetres and points. Text is ranged left, never justified (the NHS style: even word
# spacing reads faster). 12 pt body text is the minimum of the RNIB's clear print
# guidance; 20 mm margins leave room for a practice's scanning stamp.
_MARGIN = 20.0
_FOOTER_SPACE = 20.0
_BODY = 12
_HEADING = 14
_TITLE_SIZE = 16
_SMALL = 10
_LINE = 6.5
_LABEL_WIDTH = 50.0
# Service, need, date referred, status: the service names are the longest.
_REFERRAL_COLUMNS = (58, 40, 34, 38)
_NOT_KNOWN = "Not known"


def render(letter: LetterContent) -> bytes:
    pdf = _new_document(letter)
    pdf.add_page()
    _sender(pdf, letter)
    _addressee(pdf, letter)
    _title(pdf)
    _patient(pdf, letter)
    _sent_by(pdf, letter)
    _needs(pdf, letter)
    _what_was_done(pdf, letter)
    _outcome(pdf, letter)
    _snomed(pdf, letter)
    return bytes(pdf.output())


class _Letter(FPDF):
    """fpdf2 draws footers through a subclass's `footer()`; it runs on every page."""

    def __init__(self, identifies: str) -> None:
        super().__init__(orientation="portrait", unit="mm", format="A4")
        self._identifies = identifies

    def footer(self) -> None:
        # The patient on every page: a scanned page that comes loose still files against
        # the right record. `{nb}` becomes the page count when the document closes.
        self.set_y(-_MARGIN + 5)
        self.set_font(_FONT, "", _SMALL)
        self.cell(0, 5, self._identifies, new_x=XPos.LMARGIN)
        self.cell(0, 5, f"Page {self.page_no()} of {{nb}}", align="R")


def _new_document(letter: LetterContent) -> _Letter:
    pdf = _Letter(_identifies(letter))
    _add_fonts(pdf)
    pdf.set_margins(_MARGIN, _MARGIN, _MARGIN)
    pdf.set_auto_page_break(auto=True, margin=_FOOTER_SPACE)
    # Metadata is read by anything that indexes the file, so it names no patient.
    pdf.set_title(TITLE)
    pdf.set_author(letter.sender)
    pdf.set_creator("Social-needs screening service")
    pdf.set_lang("en-GB")
    # The letter's own time, not the clock's, so the same letter makes the same bytes;
    # naive times in this service mean London.
    pdf.set_creation_date(clock.as_aware(letter.made_at))
    return pdf


def _add_fonts(pdf: FPDF) -> None:
    for style, file_name in _FONT_FILES.items():
        pdf.add_font(_FONT, style, str(FONT_DIR / file_name))


def _identifies(letter: LetterContent) -> str:
    patient = letter.patient
    if patient.nhs_number:
        return f"{patient.name}, NHS number {nhs_number(patient.nhs_number)}"
    return patient.name


def _sender(pdf: FPDF, letter: LetterContent) -> None:
    pdf.set_font(_FONT, "B", _BODY)
    _line(pdf, letter.sender)
    pdf.set_font(_FONT, "", _BODY)
    # The sender names the hospital already when it follows the usual wording.
    if letter.hospital not in letter.sender:
        _line(pdf, letter.hospital)
    _line(pdf, f"Written on {long_date(letter.written_on)}")
    pdf.ln(_LINE)


def _addressee(pdf: FPDF, letter: LetterContent) -> None:
    pdf.set_font(_FONT, "", _BODY)
    _line(pdf, f"To: {letter.practice_name}")
    _line(pdf, f"ODS code: {letter.practice_code}")
    pdf.ln(_LINE)


def _title(pdf: FPDF) -> None:
    pdf.set_font(_FONT, "B", _TITLE_SIZE)
    pdf.multi_cell(0, _LINE + 2, TITLE, align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(2)
    pdf.set_font(_FONT, "", _BODY)
    _line(
        pdf,
        "This is the hospital social prescribing team's message back to you about your "
        "patient: the needs identified, what was done, the outcome and the code to file.",
    )


def _patient(pdf: FPDF, letter: LetterContent) -> None:
    patient = letter.patient
    _heading(pdf, "Patient")
    _field(pdf, "Name", patient.name)
    _field(pdf, "Date of birth", long_date(patient.date_of_birth))
    _field(pdf, "NHS number", nhs_number(patient.nhs_number) or _NOT_KNOWN)


def _sent_by(pdf: FPDF, letter: LetterContent) -> None:
    _heading(pdf, "Sent by")
    _field(pdf, "Team", letter.sender)
    _field(pdf, "Hospital", letter.hospital)


def _needs(pdf: FPDF, letter: LetterContent) -> None:
    _heading(pdf, "Needs identified")
    if not letter.needs:
        _line(pdf, "No needs were recorded.")
        return
    _bullets(pdf, letter.needs)


def _what_was_done(pdf: FPDF, letter: LetterContent) -> None:
    _heading(pdf, "What was done")
    _field(
        pdf,
        "Support",
        f"From {long_date(letter.task_opened_on)} to {long_date(letter.task_closed_on)}",
    )
    _field(pdf, "Contact attempts", _contacts(letter))
    _field(pdf, "Sessions", _sessions(letter))
    _subheading(pdf, "Referrals")
    if not letter.referrals:
        _line(pdf, "No referrals were made.")
        return
    _referral_table(pdf, letter.referrals)


def _contacts(letter: LetterContent) -> str:
    if not letter.contacts:
        return "None"
    return f"{letter.contacts} ({letter.contacts_reached} reached the patient)"


def _sessions(letter: LetterContent) -> str:
    if not letter.sessions:
        return "None"
    return f"{letter.sessions} ({_count(letter.session_minutes, 'minute')} in total)"


def _referral_table(pdf: FPDF, referrals: Iterable[LetterReferral]) -> None:
    pdf.set_font(_FONT, "", _BODY)
    # A table rather than a list: a practice reads down the status column. Its heading
    # row repeats on each page the table runs onto, and long names wrap in their cell.
    with pdf.table(
        col_widths=_REFERRAL_COLUMNS,
        width=sum(_REFERRAL_COLUMNS),
        align="LEFT",
        text_align="LEFT",
        v_align="TOP",
        line_height=_LINE,
        padding=1.5,
        borders_layout=TableBordersLayout.HORIZONTAL_LINES,
        headings_style=FontFace(emphasis="BOLD"),
        repeat_headings=1,
    ) as table:
        table.row(("Service", "Need", "Date referred", "Current status"))
        for referral in referrals:
            table.row(
                (
                    referral.service,
                    referral.need or "Not recorded",
                    short_date(referral.referred_on),
                    referral.status,
                )
            )


def _outcome(pdf: FPDF, letter: LetterContent) -> None:
    _heading(pdf, "Outcome")
    _line(pdf, letter.outcome)


def _snomed(pdf: FPDF, letter: LetterContent) -> None:
    code, term = letter.snomed
    _heading(pdf, "SNOMED CT code to file")
    _field(pdf, "Code", code)
    _field(pdf, "Term", term)


def _heading(pdf: FPDF, text: str) -> None:
    pdf.ln(_LINE / 2)
    # A heading alone at the foot of a page reads as lost: start it on the next page.
    if pdf.will_page_break(3 * _LINE):
        pdf.add_page()
    pdf.set_font(_FONT, "B", _HEADING)
    pdf.multi_cell(0, _LINE + 1, text, align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(1)
    pdf.set_font(_FONT, "", _BODY)


def _subheading(pdf: FPDF, text: str) -> None:
    pdf.ln(2)
    if pdf.will_page_break(3 * _LINE):
        pdf.add_page()
    pdf.set_font(_FONT, "B", _BODY)
    _line(pdf, text)
    pdf.set_font(_FONT, "", _BODY)


def _field(pdf: FPDF, label: str, value: str) -> None:
    """A label and its value side by side; a long value wraps under itself."""
    pdf.set_font(_FONT, "B", _BODY)
    pdf.cell(_LABEL_WIDTH, _LINE, label)
    pdf.set_font(_FONT, "", _BODY)
    pdf.multi_cell(0, _LINE, value, align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)


def _bullets(pdf: FPDF, items: Iterable[str]) -> None:
    for item in items:
        pdf.cell(6, _LINE, "•")
        pdf.multi_cell(0, _LINE, item, align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)


def _line(pdf: FPDF, text: str) -> None:
    pdf.multi_cell(0, _LINE, text, align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def nhs_number(value: str | None) -> str:
    """485 777 3456: three groups, as the NHS style has it. The staff pages' filter lives
    in views, which this package must not import."""
    if not value or len(value) != 10:
        return value or ""
    return f"{value[:3]} {value[3:6]} {value[6:]}"


def long_date(day: date | None) -> str:
    """20 April 2024, as the NHS style guide writes a date in running text."""
    return f"{day.day} {day:%B %Y}" if day else _NOT_KNOWN


def short_date(day: date) -> str:
    """20 Apr 2024: the style guide's short form, for a table column."""
    return f"{day.day} {day:%b %Y}"
