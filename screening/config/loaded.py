"""What the app loaded at start-up, for the views: the configuration and the questionnaires.

The app factory puts it on the app once; every view reads it through `state()`, so nothing
but the entry points imports the factory.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, current_app

from ..questionnaire.loader import Collection
from .model import Config


@dataclass(frozen=True)
class State:
    """What the app loaded at start-up: configuration and questionnaires."""

    config: Config
    questionnaires: Collection


KEY = "screening"  # the app's extensions entry that holds it


def install(app: Flask, loaded: State) -> None:
    app.extensions[KEY] = loaded


def loaded_by(app: Flask) -> State:
    """What `app` loaded: for commands, which hold the app rather than a request."""
    return app.extensions[KEY]


def state() -> State:
    """What the current app loaded: for views and what they call."""
    return loaded_by(current_app)
