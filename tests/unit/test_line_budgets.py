"""The line budgets of issue 25, held over ``watchdog_runtime/`` by reading its syntax trees:
no module over 450 lines, no function over 50, and ``BotRunner`` (the heart of the
supervisor, 883 lines and 41 attributes when the issue was filed) at most 400 lines with at
most 15 attributes set in its ``__init__``.

A failure lists every offender with its size, so one run says all that is left to split.
The measures themselves are pinned first, on a small tree written for the purpose, so that
a budget cannot pass because nothing was measured.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "watchdog_runtime"

MODULE_MAX_LINES = 450
FUNCTION_MAX_LINES = 50
RUNNER_CLASS = "BotRunner"
RUNNER_MAX_LINES = 400
RUNNER_MAX_ATTRIBUTES = 15

Scope = ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef


# ------------------------------------------------------------------ measures
def sources(root: Path) -> list[Path]:
    """Every Python module under ``root``, in a stable order."""
    return sorted(p for p in root.rglob("*.py") if "__pycache__" not in p.parts)


def span(node: ast.stmt) -> int:
    """The lines of a definition, from its ``def``/``class`` line to its last (decorators not counted)."""
    assert node.end_lineno is not None
    return node.end_lineno - node.lineno + 1


def definitions(tree: ast.AST, prefix: str = "") -> Iterator[tuple[str, Scope]]:
    """Every function and class, nested ones too, with a qualified name (``Class.method``,
    ``outer.<locals>.inner``)."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            name = f"{prefix}{node.name}"
            yield name, node
            inner = f"{name}.<locals>." if not isinstance(node, ast.ClassDef) else f"{name}."
            yield from definitions(node, inner)
        else:
            yield from definitions(node, prefix)


def init_attributes(cls: ast.ClassDef) -> set[str]:
    """The names ``__init__`` sets on ``self`` (plain, annotated, augmented and unpacked)."""
    names: set[str] = set()
    for node in cls.body:
        if isinstance(node, ast.FunctionDef) and node.name == "__init__":
            for sub in ast.walk(node):
                targets: list[ast.expr] = []
                if isinstance(sub, ast.Assign):
                    targets = list(sub.targets)
                elif isinstance(sub, ast.AnnAssign | ast.AugAssign):
                    targets = [sub.target]
                for target in targets:
                    for leaf in ast.walk(target):
                        if (isinstance(leaf, ast.Attribute) and isinstance(leaf.value, ast.Name)
                                and leaf.value.id == "self"):
                            names.add(leaf.attr)
    return names


def over_budget(root: Path) -> dict[str, list[str]]:
    """Each budget's offenders under ``root``, one line each (``where: size``); and, under
    ``runner class``, a line when no ``BotRunner`` was found at all (renamed: update here)."""
    found: dict[str, list[str]] = {"modules": [], "functions": [], "runner class": []}
    runners = 0
    for path in sources(root):
        where = path.relative_to(root).as_posix()
        text = path.read_text(encoding="utf-8")
        if len(text.splitlines()) > MODULE_MAX_LINES:
            found["modules"].append(f"{where}: {len(text.splitlines())} lines (budget {MODULE_MAX_LINES})")
        for name, node in definitions(ast.parse(text, filename=str(path))):
            if not isinstance(node, ast.ClassDef) and span(node) > FUNCTION_MAX_LINES:
                found["functions"].append(f"{where}:{node.lineno} {name}: {span(node)} lines "
                                          f"(budget {FUNCTION_MAX_LINES})")
            if isinstance(node, ast.ClassDef) and node.name == RUNNER_CLASS:
                runners += 1
                found["runner class"] += _runner_offences(f"{where}:{node.lineno} {name}", node)
    if not runners:
        found["runner class"].append(f"no class {RUNNER_CLASS} under {root.name}/ "
                                     f"(renamed? update this test)")
    return found


def _runner_offences(where: str, cls: ast.ClassDef) -> list[str]:
    attributes = init_attributes(cls)
    offences = []
    if span(cls) > RUNNER_MAX_LINES:
        offences.append(f"{where}: {span(cls)} lines (budget {RUNNER_MAX_LINES})")
    if len(attributes) > RUNNER_MAX_ATTRIBUTES:
        offences.append(f"{where}: {len(attributes)} attributes set in __init__ (budget "
                        f"{RUNNER_MAX_ATTRIBUTES}): {', '.join(sorted(attributes))}")
    return offences


def report(what: str, offenders: list[str]) -> str:
    """The failure message: every offender on its own line, with its size."""
    return f"{what} over budget ({len(offenders)}):\n  " + "\n  ".join(offenders)


# ------------------------------------------------------- the measures pinned
def _function(name: str, body_lines: int, indent: str = "") -> str:
    body = "".join(f"{indent}    x{i} = {i}\n" for i in range(body_lines))
    return f"{indent}def {name}() -> None:\n{body}"


def test_the_measures_find_each_kind_of_offender(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "small.py").write_text(_function("fits", FUNCTION_MAX_LINES - 1))  # at the budget: fits
    (pkg / "sub" / "long.py").write_text("\n" * MODULE_MAX_LINES + "x = 1\n")
    attributes = {*(f"a{i}" for i in range(RUNNER_MAX_ATTRIBUTES - 2)), "u", "v", "w"}  # one too many
    head = ("class BotRunner:\n    def __init__(self) -> None:\n"
            + "".join(f"        self.a{i} = {i}\n" for i in range(RUNNER_MAX_ATTRIBUTES - 2))
            + "        self.u, (self.v, self.w) = 1, (2, 3)\n        self.a0 += 1\n        local = 1\n")
    big_at = len(head.splitlines()) + 1
    runner = (head + _function("big", FUNCTION_MAX_LINES, indent="    ")
              + "    async def outer(self) -> None:\n" + _function("inner", FUNCTION_MAX_LINES, "        "))
    outer_at = big_at + FUNCTION_MAX_LINES + 1
    runner += "    pass\n" * (RUNNER_MAX_LINES + 1 - len(runner.splitlines()))  # one line too many
    (pkg / "runner.py").write_text(runner)

    found = over_budget(pkg)

    assert found["modules"] == [f"sub/long.py: {MODULE_MAX_LINES + 1} lines (budget {MODULE_MAX_LINES})"]
    assert found["functions"] == [
        f"runner.py:{big_at} BotRunner.big: {FUNCTION_MAX_LINES + 1} lines (budget {FUNCTION_MAX_LINES})",
        f"runner.py:{outer_at} BotRunner.outer: {FUNCTION_MAX_LINES + 2} lines (budget {FUNCTION_MAX_LINES})",
        f"runner.py:{outer_at + 1} BotRunner.outer.<locals>.inner: {FUNCTION_MAX_LINES + 1} lines "
        f"(budget {FUNCTION_MAX_LINES})"]
    assert found["runner class"] == [
        f"runner.py:1 BotRunner: {RUNNER_MAX_LINES + 1} lines (budget {RUNNER_MAX_LINES})",
        f"runner.py:1 BotRunner: {RUNNER_MAX_ATTRIBUTES + 1} attributes set in __init__ (budget "
        f"{RUNNER_MAX_ATTRIBUTES}): {', '.join(sorted(attributes))}"]


def test_a_tree_without_the_runner_class_is_flagged(tmp_path: Path) -> None:
    (tmp_path / "empty.py").write_text("x = 1\n")
    assert over_budget(tmp_path) == {"modules": [], "functions": [], "runner class": [
        f"no class {RUNNER_CLASS} under {tmp_path.name}/ (renamed? update this test)"]}


# ----------------------------------------------------------- the budgets
def test_no_module_over_450_lines() -> None:
    offenders = over_budget(PACKAGE)["modules"]
    assert not offenders, report("modules", offenders)


def test_no_function_over_50_lines() -> None:
    offenders = over_budget(PACKAGE)["functions"]
    assert not offenders, report("functions", offenders)


def test_bot_runner_within_400_lines_and_15_attributes() -> None:
    offenders = over_budget(PACKAGE)["runner class"]
    assert not offenders, report(RUNNER_CLASS, offenders)
