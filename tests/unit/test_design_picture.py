"""docs/design.md's picture of a bot's lifecycle (issue 25) draws exactly the edges of
``states.TRANSITIONS``: an edge added to the table and not to the picture (or drawn and not
allowed) fails here, so the picture a newcomer reads first is the machine the code runs."""

from __future__ import annotations

import re
from pathlib import Path

from watchdog_runtime.states import TRANSITIONS

DESIGN = Path(__file__).resolve().parents[2] / "docs" / "design.md"


def picture_edges() -> set[tuple[str, str, str]]:
    text = DESIGN.read_text(encoding="utf-8")
    start = text.index("```mermaid\nstateDiagram-v2")
    block = text[start:text.index("\n```", start + 10)]
    return set(re.findall(r"^\s+(\w+) --> (\w+): (\w+)", block, re.M))


def test_the_lifecycle_picture_draws_every_transition_and_no_other() -> None:
    table = {(state.value, target.value, event.name) for (state, event), target in TRANSITIONS.items()}
    drawn = picture_edges()
    assert drawn - table == set(), "drawn but not allowed by states.TRANSITIONS"
    assert table - drawn == set(), "allowed by states.TRANSITIONS but not drawn"
