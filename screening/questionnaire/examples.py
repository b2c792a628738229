"""The file's own safety net: running its `examples` through the engine (SPEC §3)."""

from __future__ import annotations

from dataclasses import dataclass

from ..core.yamlsource import Problem
from . import engine
from .model import Example, Questionnaire


@dataclass(frozen=True)
class ExampleResult:
    questionnaire: Questionnaire
    example: Example
    problems: tuple[str, ...]

    @property
    def passed(self) -> bool:
        return not self.problems


def run_examples(questionnaire: Questionnaire) -> list[ExampleResult]:
    """Run each `examples:` entry through the engine and compare flags and task."""
    results = []
    for example in questionnaire.examples:
        evaluation = engine.evaluate(questionnaire, example.answers)
        problems = []
        raised = sorted(set(evaluation.domains))
        expected = sorted(set(example.flags))
        if raised != expected:
            problems.append(
                f"expected flags [{', '.join(expected)}] but the answers raise "
                f"[{', '.join(raised)}]"
            )
        decision = engine.triage_decision(questionnaire, evaluation)
        actual = None if decision is None else (decision.status, decision.priority)
        wanted = None if example.task is None else (example.task.status, example.task.priority)
        if actual != wanted:
            problems.append(f"expected task {_task_words(wanted)} but got {_task_words(actual)}")
        results.append(ExampleResult(questionnaire, example, tuple(problems)))
    return results


def _task_words(task: tuple[str, str] | None) -> str:
    return "none" if task is None else f"{{status: {task[0]}, priority: {task[1]}}}"


def example_problems(questionnaire: Questionnaire) -> list[Problem]:
    file = questionnaire.source_file or questionnaire.id
    return [
        Problem(file, result.example.line, f"example '{result.example.name}': {message}")
        for result in run_examples(questionnaire)
        for message in result.problems
    ]
