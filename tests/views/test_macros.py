"""Every NHS.UK macro the templates use escapes what it is given as text: a probe in each of
its text parameters comes back as text, never as markup (the `.jinja` macros autoescape)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from screening import create_app
from tests.conftest import ROOT, app_overrides


def probe(where: str) -> str:
    """Markup that would open an element named after its parameter if it were not escaped."""
    return f'\'"><b data-probe="{where}">p</b>'


def field(name: str) -> dict[str, Any]:
    """The label, hint and error parameters every form field shares."""
    return {
        "name": name, "id": name, "value": probe("value"),
        "label": {"text": probe("label.text")}, "hint": {"text": probe("hint.text")},
        "errorMessage": {"text": probe("errorMessage.text")},
    }  # fmt: skip


def choices(name: str) -> dict[str, Any]:
    return {
        "name": name, "idPrefix": name,
        "fieldset": {"legend": {"text": probe("fieldset.legend.text")}},
        "hint": {"text": probe("hint.text")}, "errorMessage": {"text": probe("errorMessage.text")},
        "items": [{"value": probe("items.value"), "text": probe("items.text"),
                   "hint": {"text": probe("items.hint.text")}}],
    }  # fmt: skip


# Each macro the templates import, with every text parameter holding its own probe.
TEXT_PARAMETERS: dict[str, dict[str, Any]] = {
    "backLink": {"href": probe("href"), "text": probe("text")},
    "button": {"text": probe("text"), "value": probe("value"), "name": "b"},
    "checkboxes": choices("c"),
    "contentsList": {
        "items": [
            {"href": probe("items.href"), "text": probe("items.text")},
            {"text": probe("items.current.text"), "current": True},
        ]
    },
    "dateInput": {
        **choices("d"),
        "id": "d",
        "namePrefix": "d",
        "items": [{"name": "day", "value": probe("items.value")}],
    },
    "details": {"summary": probe("summary"), "text": probe("text")},
    "errorSummary": {
        "titleText": probe("titleText"),
        "descriptionText": probe("descriptionText"),
        "errorList": [
            {"text": probe("errorList.text"), "href": probe("errorList.href")},
            {"text": probe("errorList.unlinked.text")},
        ],
    },
    "footer": {
        "meta": {"items": [{"href": "/a", "text": probe("meta.items.text")}]},
        "copyright": {"text": probe("copyright.text")},
    },
    "header": {
        "service": {"text": probe("service.text"), "href": "/"},
        "navigation": {"items": [{"href": "/", "text": probe("navigation.items.text")}]},
        "account": {"items": [{"text": probe("account.items.text")}]},
    },
    "input": field("i"),
    "insetText": {"text": probe("text")},
    "pagination": {
        "previous": {"href": probe("previous.href"), "labelText": probe("previous.labelText")},
        "next": {"href": probe("next.href"), "labelText": probe("next.labelText")},
    },
    "panel": {"titleText": probe("titleText"), "text": probe("text")},
    "radios": choices("r"),
    "select": {
        **field("s"),
        "value": None,
        "items": [{"value": probe("items.value"), "text": probe("items.text")}],
    },
    "skipLink": {"href": probe("href"), "text": probe("text")},
    "summaryList": {
        "rows": [
            {
                "key": {"text": probe("rows.key.text")},
                "value": {"text": probe("rows.value.text")},
                "actions": {
                    "items": [
                        {
                            "href": probe("rows.actions.href"),
                            "text": probe("rows.actions.text"),
                            "visuallyHiddenText": probe("rows.actions.visuallyHiddenText"),
                        }
                    ]
                },
            }
        ]
    },  # fmt: skip
    "table": {
        "caption": probe("caption"),
        "responsive": True,
        "head": [{"text": probe("head.text")}],
        "rows": [[{"text": probe("rows.text")}]],
    },
    "textarea": field("t"),
    "warningCallout": {"heading": probe("heading"), "text": probe("text")},
}
IMPORT = re.compile(r'\{% from "(nhsuk/components/[\w-]+/macro\.jinja)" import (\w+)')


def macros_the_templates_use() -> dict[str, str]:
    found = {}
    for template in (ROOT / "templates").rglob("*.html"):
        for path, name in IMPORT.findall(template.read_text()):
            found[name] = path
    return found


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Flask:
    instance: Path = tmp_path_factory.mktemp("instance")
    return create_app(app_overrides("sqlite://", instance))


def test_the_probe_table_covers_every_macro_the_templates_import() -> None:
    used = macros_the_templates_use()
    assert len(used) > 15 and set(used) <= set(TEXT_PARAMETERS), set(used) - set(TEXT_PARAMETERS)


@pytest.mark.parametrize("name", sorted(macros_the_templates_use()))
def test_each_text_parameter_of_a_macro_comes_back_escaped(app: Flask, name: str) -> None:
    path = macros_the_templates_use()[name]
    params = TEXT_PARAMETERS[name]
    template = app.jinja_env.from_string(f'{{% from "{path}" import {name} %}}{{{{ {name}(p) }}}}')
    with app.test_request_context():
        rendered = template.render(p=params)
    assert "<b data-probe" not in rendered, rendered
    probed = set(re.findall(r'data-probe="([\w.]+)"', str(params)))
    shown = set(re.findall(r"&lt;b data-probe=&#34;([\w.]+)&#34;&gt;", rendered))
    assert probed - shown == set(), f"{name} did not render {probed - shown}"
