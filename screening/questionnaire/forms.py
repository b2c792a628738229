"""WTForms built from questionnaire items, each able to render itself as NHS.UK markup.

One form class per item type; the field's name is the item id and each option's value is
the answer value (SPEC §8). `nhsuk_macro` and `nhsuk_params()` tell the generic question
template which nhsuk-frontend-jinja macro to call and with what (in the spirit of GOV.UK
Notify's `govuk_frontend_field`), so templates never switch on item types themselves.
"""

from __future__ import annotations

from typing import Any

from flask_babel import gettext as _
from flask_wtf import FlaskForm
from wtforms import Field, RadioField, SelectMultipleField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import ValidationError

from .model import AnswerValue, Item, Texts
from .rules import answer_problem


def text_in(texts: Texts | None, language: str) -> str:
    if not texts:
        return ""
    return texts.get(language) or next(iter(texts.values()))


class QuestionForm(FlaskForm):
    """A form with one field named by the item id (none for an info item)."""

    item: Item
    language: str

    def answer(self) -> AnswerValue | None:
        field = self.answer_field
        if field is None:
            return None
        value = field.data
        if isinstance(value, list):
            return value or None
        value = (value or "").strip()
        return value or None

    @property
    def answer_field(self) -> Field | None:
        return getattr(self, self.item.id, None)


def form_for(
    item: Item, language: str, *, formdata: Any = None, answer: Any = None
) -> QuestionForm:
    fields: dict[str, Any] = {}
    if item.asks:
        fields[item.id] = _field(item, language)
    form_class = type(f"Question_{item.id}", (QuestionForm,), fields)
    form = form_class(formdata=formdata, data={item.id: answer} if answer is not None else None)
    form.item, form.language = item, language
    return form


# --- fields -------------------------------------------------------------------------------


class _ItemRule:
    """Validate with the same rule the loader uses for examples (`answer_problem`)."""

    def __init__(self, item: Item, missing: str, invalid: str):
        self.item, self.missing, self.invalid = item, missing, invalid

    def __call__(self, form: QuestionForm, field: Field) -> None:
        value = form.answer()
        if value is None:
            if self.item.required:
                raise ValidationError(self.missing)
            return
        if answer_problem(self.item, value) is not None:
            raise ValidationError(self.invalid)


class NhsRadioField(RadioField):
    nhsuk_macro = "radios"

    def pre_validate(self, form: Any) -> None:
        pass  # the item rule says what is wrong, in words a patient understands


class NhsCheckboxesField(SelectMultipleField):
    nhsuk_macro = "checkboxes"

    def pre_validate(self, form: Any) -> None:
        pass


class NhsNumberField(StringField):
    nhsuk_macro = "input"


class NhsTextareaField(TextAreaField):
    nhsuk_macro = "textarea"


def _field(item: Item, language: str) -> Field:
    if item.type in ("choice", "scale"):
        choices = _choices(item, language)
        missing = _("Select an answer") if item.type == "choice" else _("Select a number")
        return NhsRadioField(choices=choices, validators=[_ItemRule(item, missing, missing)])
    if item.type == "multi":
        return NhsCheckboxesField(
            choices=_choices(item, language),
            validators=[
                _ItemRule(item, _("Select at least one answer"), _("Select from the list"))
            ],
        )
    if item.type == "number":
        return NhsNumberField(validators=[_ItemRule(item, _("Enter a number"), _range_words(item))])
    limit = item.max_length or 500
    too_long = _("Your answer must be %(limit)s characters or fewer", limit=limit)
    return NhsTextareaField(validators=[_ItemRule(item, _("Enter your answer"), too_long)])


def _choices(item: Item, language: str) -> list[SelectChoice]:
    if item.type == "scale":
        assert item.min is not None and item.max is not None
        return [SelectChoice(str(n), str(n)) for n in range(item.min, item.max + 1)]
    return [SelectChoice(answer.value, text_in(answer.label, language)) for answer in item.answers]


def _range_words(item: Item) -> str:
    if item.min is not None and item.max is not None:
        return _("Enter a number between %(low)s and %(high)s", low=item.min, high=item.max)
    if item.min is not None:
        return _("Enter a number of %(low)s or more", low=item.min)
    if item.max is not None:
        return _("Enter a number of %(high)s or less", high=item.max)
    return _("Enter a number")


# --- NHS.UK macro parameters --------------------------------------------------------------


def nhsuk_params(form: QuestionForm, *, hint_id: str = "") -> dict[str, Any]:
    """The parameters of the field's NHS.UK macro, with the question as the page heading."""
    item, language, field = form.item, form.language, form.answer_field
    assert field is not None
    question = text_in(item.text, language)
    hint = text_in(item.hint, language) or None
    error = {"text": field.errors[0]} if field.errors else None
    if field.nhsuk_macro in ("radios", "checkboxes"):
        chosen = field.data if isinstance(field.data, list) else [field.data]
        return {
            "name": item.id,
            "idPrefix": item.id,
            "fieldset": {
                "legend": {"text": question, "isPageHeading": True, "size": "l"},
            },
            "hint": {"text": _scale_hint(item, language, hint)}
            if _scale_hint(item, language, hint)
            else None,
            "errorMessage": error,
            "items": [
                {"value": choice.value, "text": choice.label, "checked": choice.value in chosen}
                for choice in field.choices
            ],
        }
    params: dict[str, Any] = {
        "label": {"text": question, "isPageHeading": True, "size": "l"},
        "id": item.id,
        "name": item.id,
        "hint": {"text": hint} if hint else None,
        "errorMessage": error,
        "value": field.data or "",
    }
    if field.nhsuk_macro == "input":
        params.update({"inputmode": "decimal", "classes": "nhsuk-input--width-5"})
    return params


def _scale_hint(item: Item, language: str, hint: str | None) -> str | None:
    if item.type != "scale":
        return hint
    ends = (
        _("%(number)s is %(label)s", number=item.min, label=text_in(item.min_label, language))
        if item.min_label
        else "",
        _("%(number)s is %(label)s", number=item.max, label=text_in(item.max_label, language))
        if item.max_label
        else "",
    )
    words = ", ".join(part for part in ends if part)
    return " ".join(part for part in (hint, words) if part) or None
