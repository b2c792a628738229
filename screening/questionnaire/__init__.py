"""Questionnaires (SPEC §3): YAML shapes, the loader with `FILE:LINE`, the pure engine.

- schema: the YAML's shapes (pydantic, strict), before any rule is checked
- loader: files and folders into a `Collection`, every problem as `FILE:LINE: message`
- checker: one file's rules, in order: header, languages, domains, answer sets, items
- item_rules, condition_rules, triage_rules: one rule family each
- rules: item types and which answers each takes
- examples: running a file's `examples` through the engine
- model: the normal form the engine reads
- engine: visibility, flags and the triage rule, as pure functions
- forms: a question's NHS.UK field parameters and answer parsing
- frozen: versions frozen once answered, stored in the database
- answers: the answers an episode holds, as the engine reads them
"""

from .engine import Evaluation, RaisedFlag, TaskDecision, evaluate, triage_decision, visible_items
from .loader import Collection, load_file, load_paths, load_text, run_examples
from .model import Item, Questionnaire

__all__ = [
    "Collection",
    "Evaluation",
    "Item",
    "Questionnaire",
    "RaisedFlag",
    "TaskDecision",
    "evaluate",
    "load_file",
    "load_paths",
    "load_text",
    "run_examples",
    "triage_decision",
    "visible_items",
]
