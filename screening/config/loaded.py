"""What the app loaded at start-up, for the views: the configuration and the questionnaires.

The app factory puts it on the app once; every view reads it through `state()`, so nothing
but the entry points imports the factory.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app

from ..questionnaire.loader import Collection
from .model import Config


@dataclass(frozen=True)
class State:
    """What the app loaded at start-up: configuration and questionnaires."""

    config: Config
    questionnaires: Collection


def state() -> State:
    return current_app.extensions["screening"]
