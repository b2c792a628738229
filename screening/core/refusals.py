"""A change the domain will not make, said so that a page can show it on its field.

Every step refuses the same way: `Refused` names the field at fault (or none, for the
whole form), the message says how to fix it, and `status` is what a page answers. One
refusal may carry several problems, so a form shows every mistake at once rather than
one per submit. A web form maps them onto its fields in one place
(`views.forms.StaffForm.refuse`); the command line prints them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    field: str | None
    message: str


class Refused(ValueError):
    """The change was not made; nothing was stored."""

    status = 400

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.problems: list[Problem] = [Problem(field, message)]

    @classmethod
    def of(cls, problems: Iterable[Problem]) -> Refused:
        """One refusal for several problems; the first one is its message."""
        found = list(problems)
        if not found:
            raise ValueError("a refusal needs at least one problem")
        refused = cls(found[0].message, field=found[0].field)
        refused.problems = found
        return refused


class NotFound(Refused):
    status = 404


class Conflict(Refused):
    """Someone else holds or changed the thing: 409, naming them."""

    status = 409


class Problems:
    """Collects a form's problems, then refuses them all at once."""

    def __init__(self) -> None:
        self.found: list[Problem] = []

    def add(self, field: str | None, message: str) -> None:
        self.found.append(Problem(field, message))

    def __bool__(self) -> bool:
        return bool(self.found)

    def refuse(self, kind: type[Refused] = Refused) -> None:
        """Raise every problem found, if there is one."""
        if self.found:
            raise kind.of(self.found)
