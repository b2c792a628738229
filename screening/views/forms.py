"""One way to write a staff form (README, "Staff forms").

Every staff form is a `StaffForm`: WTForms through Flask-WTF, one class per form, its
fields named as SPEC names the parameters. The rules live in the domain: an action raises
`Refused` with every problem it found (`core.refusals`), and `submit` puts each on its
field, so the NHS error summary lists every mistake of the form at once. Field
validators hold only what no step of the pathway checks (the shape of a filter).

A page with several forms gives each a `key`: its `<form id>` and the start of its
fields' ids (`contacts-note`), which the error summary links to. A `FilterForm` is read
from the query string (a GET form changes nothing, so it has no CSRF token) and answers
its problems the same way.
"""

from __future__ import annotations

from collections import ChainMap
from collections.abc import Callable, Mapping
from datetime import date
from typing import Any, ClassVar, TypeVar

from flask import abort, request
from flask_wtf import FlaskForm
from wtforms import Field, StringField
from wtforms.fields.core import UnboundField
from wtforms.utils import unset_value
from wtforms.validators import ValidationError

from ..core.dates import PARTS, read_date
from ..core.extensions import db
from ..core.refusals import Refused

T = TypeVar("T")


def _is_field(value: object) -> bool:
    return isinstance(value, UnboundField | Field)


class StaffForm(FlaskForm):
    key: ClassVar[str] = ""  # the form's id on its page; its fields' ids start with it
    # Fields read from the request that the page has no input for (a download link's
    # `table`): the error summary names their problems without a link that leads nowhere.
    unlinked: ClassVar[frozenset[str]] = frozenset()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # A field named like one of these would be hidden by it (`status`, on a form
        # with a `status` field, would be the answer's status, not the field).
        taken = {name for name in dir(StaffForm) if not name.startswith("_")} | {
            "anchor",
            "http_status",
        }
        clashes = taken & {name for name, value in vars(cls).items() if _is_field(value)}
        if clashes:
            raise TypeError(f"{cls.__name__}: rename the field {', '.join(sorted(clashes))}")

    def __init__(self, *args: Any, key: str | None = None, **kwargs: Any) -> None:
        # Only the form's own fields: not a JSON body or a file that Flask-WTF would read.
        kwargs.setdefault("formdata", request.form if request.method == "POST" else None)
        super().__init__(*args, **kwargs)
        self.key = key if key is not None else type(self).key
        self.anchor = self.key  # where a problem about the whole form is linked
        self.http_status = 200
        for field in self:
            field.id = f"{self.key}-{field.short_name}" if self.key else field.short_name

    @classmethod
    def blank(cls, **kwargs: Any) -> StaffForm:
        """The form as a page first shows it, whatever the request carried."""
        return cls(formdata=None, **kwargs)

    def submit(self, action: Callable[[], object]) -> bool:
        """Check the form, then run the domain's action; if either refuses, each problem
        lands on its field, the status says why (400, or 409 for a colleague's change),
        and the session keeps nothing of the attempt."""
        if not self.validate_on_submit():
            self.http_status = 400
            return False
        try:
            action()
        except Refused as refused:
            db.session.rollback()
            if refused.status == 404:
                abort(404)
            self.refuse(refused)
            return False
        return True

    def refuse(self, refused: Refused) -> None:
        """The one place a domain refusal becomes the form's errors."""
        for problem in refused.problems:
            self.add_error(problem.field, problem.message)
        self.http_status = refused.status

    def field(self, name: str) -> Field | None:
        """A field by the name it has in the request (`from`, not `from_`)."""
        return next((field for field in self if field.short_name == name), None)

    def add_error(self, name: str | None, message: str) -> None:
        field = self.field(name) if name else None
        if field is None:  # about the whole form, or a field the page does not show
            self.form_errors.append(message)
        else:
            field.errors = [*field.errors, message]
        self.http_status = max(self.http_status, 400)

    @property
    def error_list(self) -> list[dict[str, str]]:
        """Every error, in the order of the form, for the NHS error summary."""
        link = {"href": f"#{self.anchor}"} if self.anchor else {}  # no id on the page: no link
        found = [{"text": text, **link} for text in self.form_errors]
        for field in self:
            anchor = f"#{field.id}{getattr(field, 'anchor_suffix', '')}"
            link = {} if field.short_name in self.unlinked else {"href": anchor}
            found += [{"text": text, **link} for text in field.errors]
        return found

    def message_for(self, name: str) -> dict[str, str] | None:
        """A field's NHS.UK `errorMessage`, or none."""
        errors = self._named(name).errors
        return {"text": " ".join(errors)} if errors else None

    def value(self, name: str) -> str:
        """What the field shows: what was sent, or its default, as text; never None."""
        data = self._named(name).data
        return "" if data is None else str(data)

    def values(self, name: str) -> list[str]:
        """Every value a field of many (`ManyField`) was sent, in order."""
        data = self._named(name).data
        return [str(value) for value in data] if isinstance(data, list) else []

    def _named(self, name: str) -> Field:
        field = self.field(name)
        if field is None:  # a template's typo must fail, not show an empty field
            raise KeyError(f"{type(self).__name__} has no field {name!r}")
        return field


class FilterForm(StaffForm):
    """Filters in the query string. Always checked: a mistyped bookmark must say so."""

    class Meta:
        csrf = False  # a GET form changes nothing, and its address is bookmarked

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("formdata", request.args)
        super().__init__(**kwargs)

    def check(self) -> bool:
        """Are the filters usable? If not, every problem is on the form."""
        if self.validate():
            return True
        self.http_status = 400
        return False

    def read(self, parse: Callable[[Mapping[str, str]], T]) -> T | None:
        """What `parse` (the domain's) makes of the query string, or None with every
        problem on the form: the form's own and the domain's together."""
        valid = self.check()
        # The step reads dates as ISO 8601: a date typed in three boxes is given it so.
        dates = {field.short_name: field.data for field in self if isinstance(field, DayField)}
        try:
            parsed = parse(ChainMap(dates, request.args))
        except Refused as refused:
            self.refuse(refused)
            return None
        return parsed if valid else None


class DayField(StringField):
    """A date in the NHS date input (`{name}-day`, `{name}-month`, `{name}-year`), or one
    ISO 8601 parameter `{name}` from a link, which wins when both come (SPEC §8). `data`
    is the date in ISO 8601, or empty; `parts` what the three boxes show."""

    anchor_suffix = "-day"  # the error summary leads to the first box

    def process(self, formdata: Any, data: Any = unset_value, extra_filters: Any = None) -> None:
        super().process(formdata, data, extra_filters)
        typed = {part: _text(formdata, f"{self.name}-{part}") for part in PARTS}
        self.typed = read_date(self.data or "", **typed, label=self.label.text)
        shown = self.typed.day
        self.parts = (
            {"day": str(shown.day), "month": str(shown.month), "year": str(shown.year)}
            if shown and (self.data or "").strip()
            else typed
        )
        self.data = shown.isoformat() if shown else ""

    @property
    def day(self) -> date | None:
        return self.typed.day

    def pre_validate(self, form: Any) -> None:
        if self.typed.problem:
            raise ValidationError(self.typed.problem)


class ManyField(Field):
    """Every value sent under one name, as checkboxes send them; the domain checks them."""

    def process_formdata(self, valuelist: list[Any]) -> None:
        self.data = list(valuelist)


def _text(formdata: Any, name: str) -> str:
    return str(formdata.get(name, "")) if formdata is not None else ""
