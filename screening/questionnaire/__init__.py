"""Questionnaires: YAML shapes, the loader and validator, and the pure engine."""

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
