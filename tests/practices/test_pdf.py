"""The letter to a GP practice as a PDF (SPEC §13), read back as a practice's system would:
the words on the page, the page numbers, where the text sits, and the file's metadata."""

from __future__ import annotations

import dataclasses
import io
from datetime import UTC, date, datetime
from typing import Any

import pytest
from fpdf import FPDF
from pypdf import PageObject, PdfReader

from screening.practices import pdf
from screening.practices.content import (
    REFERRAL_TO_SOCIAL_PRESCRIBING,
    SOCIAL_PRESCRIBING_DECLINED,
    LetterContent,
    LetterPatient,
    LetterReferral,
)

HEADINGS = (
    "Patient",
    "Sent by",
    "Needs identified",
    "What was done",
    "Outcome",
    "SNOMED CT code to file",
)
A4_WIDTH, A4_HEIGHT = 595.28, 841.89  # points
MM = 72 / 25.4


def make_referral(
    *,
    service: str = "Citizens Advice Manchester",
    need: str | None = "Money and debt",
    referred_on: date = date(2026, 3, 4),
    status: str = "Accepted",
) -> LetterReferral:
    return LetterReferral(service=service, need=need, referred_on=referred_on, status=status)


def make_letter(
    *,
    name: str = "Łukasz Nowak",
    date_of_birth: date | None = date(1950, 2, 3),
    nhs_number: str | None = "4857773456",
    **changes: Any,
) -> LetterContent:
    letter = LetterContent(
        practice_name="The Limes Surgery",
        practice_code="A81001",
        patient=LetterPatient(name=name, date_of_birth=date_of_birth, nhs_number=nhs_number),
        sender="Social prescribing team, Royal Example Hospital",
        hospital="Royal Example Hospital",
        written_on=date(2026, 3, 20),
        task_opened_on=date(2026, 3, 2),
        task_closed_on=date(2026, 3, 19),
        needs=("Money and debt", "Loneliness and isolation"),
        contacts=3,
        contacts_reached=2,
        sessions=2,
        session_minutes=95,
        referrals=(
            make_referral(),
            make_referral(
                service="Age UK Salford befriending",
                need="Loneliness and isolation",
                referred_on=date(2026, 3, 6),
                status="Declined: no capacity",
            ),
        ),
        outcome="Support completed: the patient was helped",
        snomed=REFERRAL_TO_SOCIAL_PRESCRIBING,
        made_at=datetime(2026, 3, 20, 9, 30, tzinfo=UTC),
    )
    return dataclasses.replace(letter, **changes)


def read(data: bytes) -> PdfReader:
    return PdfReader(io.BytesIO(data))


def words(page: PageObject) -> str:
    """A page's text with every run of whitespace as one space, as a reader would say it."""
    return " ".join(page.extract_text().split())


def text_of(data: bytes) -> str:
    return " ".join(words(page) for page in read(data).pages)


def test_the_letter_names_the_patient_the_practice_and_who_sent_it() -> None:
    text = text_of(pdf.render(make_letter()))

    assert "Name Łukasz Nowak" in text
    assert "Date of birth 3 February 1950" in text
    assert "NHS number 485 777 3456" in text
    assert "4857773456" not in text
    assert "To: The Limes Surgery" in text
    assert "ODS code: A81001" in text
    assert "Social prescribing team, Royal Example Hospital" in text
    assert "Written on 20 March 2026" in text
    assert "Social prescribing: message back to the GP practice" in text


@pytest.mark.parametrize(
    "name",
    ["Łukasz Nowak", "Zoë Ní Bhriain", "Siobhán Ó Súilleabháin", "Ярослава Ковальчук"],
)
def test_names_outside_latin_1_are_printed_as_written(name: str) -> None:
    assert f"Name {name}" in text_of(pdf.render(make_letter(name=name)))


def test_every_part_of_the_message_back_has_its_heading_in_order() -> None:
    text = text_of(pdf.render(make_letter()))

    places = [text.find(heading) for heading in HEADINGS]
    assert -1 not in places, dict(zip(HEADINGS, places, strict=True))
    assert places == sorted(places)


def test_the_needs_and_what_was_done_are_spelt_out() -> None:
    text = text_of(pdf.render(make_letter()))

    assert "• Money and debt" in text
    assert "• Loneliness and isolation" in text
    assert "From 2 March 2026 to 19 March 2026" in text
    assert "Contact attempts 3 (2 reached the patient)" in text
    assert "Sessions 2 (95 minutes in total)" in text


def test_each_referral_shows_its_service_need_date_and_current_status() -> None:
    text = text_of(pdf.render(make_letter()))

    assert "Service Need Date referred Current status" in text
    assert "Citizens Advice Manchester Money and debt 4 Mar 2026 Accepted" in text
    assert (
        "Age UK Salford befriending Loneliness and isolation 6 Mar 2026 Declined: no capacity"
        in (text)
    )


def test_the_outcome_and_the_snomed_code_to_file() -> None:
    text = text_of(pdf.render(make_letter()))

    assert "Outcome Support completed: the patient was helped" in text
    assert "Code 871731000000106" in text
    assert "Term Referral to social prescribing service" in text
    assert "871711000000103" not in text


def test_a_declined_letter_files_the_declined_code() -> None:
    letter = make_letter(
        outcome="The patient declined support",
        snomed=SOCIAL_PRESCRIBING_DECLINED,
        referrals=(),
        sessions=0,
        session_minutes=0,
    )
    text = text_of(pdf.render(letter))

    assert "Code 871711000000103" in text
    assert "Term Social prescribing declined" in text
    assert "871731000000106" not in text
    assert "Outcome The patient declined support" in text


def test_what_is_not_known_or_not_done_is_said_rather_than_left_blank() -> None:
    letter = make_letter(
        date_of_birth=None,
        nhs_number=None,
        needs=(),
        contacts=0,
        contacts_reached=0,
        sessions=0,
        session_minutes=0,
        referrals=(make_referral(need=None),),
    )
    text = text_of(pdf.render(letter))

    assert "Date of birth Not known" in text
    assert "NHS number Not known" in text
    assert "No needs were recorded." in text
    assert "Contact attempts None" in text
    assert "Sessions None" in text
    assert "Citizens Advice Manchester Not recorded 4 Mar 2026" in text


def test_a_letter_without_referrals_says_none_were_made() -> None:
    text = text_of(pdf.render(make_letter(referrals=())))

    assert "No referrals were made." in text
    assert "Current status" not in text


def long_letter() -> LetterContent:
    services = [
        f"Greater Manchester Combined Authority community wellbeing service, team {n}"
        for n in range(1, 8)
    ]
    # A name with no space to break at must still wrap inside its column.
    services.append("Wellbeingandsocialconnectionscommunityhubforolderadultsinnorthmanchester")
    statuses = ["Made", "Accepted", "Declined: no capacity", "Completed: helped"] * 2
    referrals = tuple(
        make_referral(
            service=service,
            need="Housing that keeps you well",
            referred_on=date(2026, 3, day),
            status=status,
        )
        for day, (service, status) in enumerate(zip(services, statuses, strict=True), start=2)
    )
    return make_letter(referrals=referrals, outcome="Support completed after eight referrals")


def test_a_long_letter_runs_onto_numbered_pages_and_loses_no_referral() -> None:
    letter = long_letter()
    pages = read(pdf.render(letter)).pages
    count = len(pages)

    assert count >= 2
    for number, page in enumerate(pages, start=1):
        assert f"Page {number} of {count}" in words(page)
        # Every page says whose letter it is, so a loose page files against the right record.
        assert "Łukasz Nowak, NHS number 485 777 3456" in words(page)
    # Wrapped names break inside words, so compare without any whitespace.
    squeezed = "".join("".join(page.extract_text().split()) for page in pages)
    for referral in letter.referrals:
        assert "".join(referral.service.split()) in squeezed
        assert "".join(f"{referral.referred_on.day}Mar2026{referral.status}".split()) in squeezed
    rest = " ".join(words(page) for page in pages)
    assert "Outcome Support completed after eight referrals" in rest
    assert "Code 871731000000106" in words(pages[-1])


def test_nothing_is_drawn_outside_the_margins_even_with_long_service_names() -> None:
    measure = FPDF(unit="pt")
    measure.add_font("DejaVu", "", str(pdf.FONT_DIR / "DejaVuSans.ttf"))
    measure.add_font("DejaVu", "B", str(pdf.FONT_DIR / "DejaVuSans-Bold.ttf"))
    margin = 20 * MM
    runs = 0
    for page in read(pdf.render(long_letter())).pages:
        for x, y, text, bold, size in text_runs(page):
            measure.set_font("DejaVu", "B" if bold else "", size)
            width = measure.get_string_width(text)
            assert x >= margin - 0.5, text
            assert x + width <= A4_WIDTH - margin + 0.5, text
            # The page number sits in the bottom margin, never off the paper.
            assert 10 * MM <= y <= A4_HEIGHT - margin, text
            runs += 1
    assert runs > 50  # the visitor really saw the letter


def text_runs(page: PageObject) -> list[tuple[float, float, str, bool, float]]:
    """Each piece of text drawn: its start, its words, whether bold, and its size."""
    runs: list[tuple[float, float, str, bool, float]] = []

    def visit(text: str, cm: Any, tm: Any, font: Any, size: float) -> None:
        if text.strip():
            x = tm[4] * cm[0] + cm[4]
            y = tm[5] * cm[3] + cm[5]
            runs.append((x, y, text.strip(), "Bold" in str(font["/BaseFont"]), size))

    page.extract_text(visitor_text=visit)
    return runs


def test_the_metadata_has_the_title_and_names_no_patient() -> None:
    reader = read(pdf.render(make_letter()))
    metadata = reader.metadata

    assert metadata is not None
    assert metadata.title == "Social prescribing: message back to the GP practice"
    assert metadata.creation_date == datetime(2026, 3, 20, 9, 30, tzinfo=UTC)
    told = " ".join(str(value) for value in metadata.values())
    for detail in ("Łukasz", "Nowak", "4857773456", "485 777 3456", "1950", "Limes"):
        assert detail not in told
    assert reader.xmp_metadata is None


def test_the_same_letter_makes_the_same_bytes() -> None:
    letter = make_letter()
    assert pdf.render(letter) == pdf.render(letter)
    assert pdf.render(letter) != pdf.render(dataclasses.replace(letter, outcome="Other"))
