"""The runner stays readable (issue 25): its line budgets, and no task it starts left unowned.

Scoped to the runner and the modules split from it; the whole package's budget is its own test.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SUPERVISOR = Path(__file__).resolve().parents[2] / "watchdog_runtime" / "supervisor"
RUNNER_MODULES = ["runner", "runnerhost", "runtasks", "botprocess", "botfacts", "botjournal", "botstatus",
                  "livewatch", "sigterms", "exitread", "lifecycle"]


def _tree(name: str) -> ast.Module:
    return ast.parse((SUPERVISOR / f"{name}.py").read_text())


def _bot_runner() -> ast.ClassDef:
    found = [n for n in _tree("runner").body if isinstance(n, ast.ClassDef) and n.name == "BotRunner"]
    assert len(found) == 1
    return found[0]


@pytest.mark.parametrize("name", RUNNER_MODULES)
def test_each_module_keeps_its_budget(name: str) -> None:
    """No module over 450 lines, no function over 50."""
    assert (SUPERVISOR / f"{name}.py").read_text().count("\n") <= 450
    long = [f"{n.name}: {n.end_lineno - n.lineno + 1}" for n in ast.walk(_tree(name))  # type: ignore[operator]
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.end_lineno - n.lineno >= 50]  # type: ignore[operator]
    assert long == []


def test_bot_runner_keeps_its_budget() -> None:
    """``BotRunner``: at most 400 lines and 15 attributes set in ``__init__``."""
    runner = _bot_runner()
    assert runner.end_lineno is not None and runner.end_lineno - runner.lineno + 1 <= 400
    init = next(n for n in runner.body if isinstance(n, ast.FunctionDef) and n.name == "__init__")
    targets = [t for n in ast.walk(init) if isinstance(n, (ast.Assign, ast.AnnAssign))
               for t in (n.targets if isinstance(n, ast.Assign) else [n.target])]
    attributes = {t.attr for t in targets if isinstance(t, ast.Attribute)
                  and isinstance(t.value, ast.Name) and t.value.id == "self"}
    assert 0 < len(attributes) <= 15, sorted(attributes)


@pytest.mark.parametrize("name", RUNNER_MODULES)
def test_no_task_is_fire_and_forget(name: str) -> None:
    """A task started and dropped (``create_task`` as a statement) has no owner to await or
    cancel it: its failure is lost, and it outlives what started it (issue 25)."""
    dropped = [n.lineno for n in ast.walk(_tree(name)) if isinstance(n, ast.Expr)
               and isinstance(n.value, ast.Call) and isinstance(n.value.func, ast.Attribute)
               and n.value.func.attr in ("create_task", "ensure_future")]
    assert dropped == []
