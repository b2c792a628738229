"""A question's NHS.UK field, rendered once per distinct set of parameters.

The NHS.UK macros are most of a question page's rendering time: radios for three options
cost more than the rest of the page. A field is a pure function of its macro and its
parameters, and a questionnaire has few distinct ones (each item in each language, with
each option chosen, with or without an error), so each is rendered once per process.
A field that carries what a patient typed (a number or text) is never kept: patient text
does not outlive its request.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from flask import current_app
from jinja2 import Environment
from markupsafe import Markup

FIELD_TEMPLATE = "components/field.html"
KEPT_FIELDS = 2048  # a few questionnaires × languages × options × errors, with room


def render_field(macro_name: str, params: dict[str, Any]) -> Markup:
    environment = current_app.jinja_env
    if params.get("value") not in (None, ""):
        return _render(environment, macro_name, params)
    return _rendered(environment, macro_name, json.dumps(params, sort_keys=True))


@lru_cache(maxsize=KEPT_FIELDS)
def _rendered(environment: Environment, macro_name: str, params_json: str) -> Markup:
    return _render(environment, macro_name, json.loads(params_json))


def _render(environment: Environment, macro_name: str, params: dict[str, Any]) -> Markup:
    macro = environment.get_template(FIELD_TEMPLATE).module.nhsuk_field  # type: ignore[attr-defined]
    return Markup(macro(macro_name, params))
