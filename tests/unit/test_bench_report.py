"""``scripts/bench.py``'s report: the table, the ratios and the paragraphs on rows where an
anchor is ahead, from a fixed set of figures (the benchmark itself runs with ``make bench``)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))

import bench  # noqa: E402 - the scripts folder is not a package


def figures(wdbot_restart: float) -> dict[str, object]:
    def s(x: float) -> dict[str, float]:
        return {"median": x, "p95": x * 1.2, "n": 50}

    def tool(restart: float, rss: int, cpu: float) -> dict[str, object]:
        return {"restart": s(restart), "idle": {"rss_bytes": rss, "cpu_s": cpu, "control": s(0.15)}}

    tools = {"wdbot": tool(wdbot_restart, 30 << 20, 0.9), "supervisord": tool(1.0, 20 << 20, 0.03),
             "PM2": tool(0.05, 60 << 20, 0.04)}
    return {
        "run": "x", "at": "2026-11-23 18:00", "machine": "2 cores", "notes": [], "floor": s(0.03),
        "restart": {t: v["restart"] for t, v in tools.items()},
        "idle": {t: v["idle"] for t, v in tools.items()},
        "stop": {t: {"survivors": [0, 0, 0] if t != "supervisord" else [60, 60, 60], "stop": s(0.4)}
                 for t in tools},
        "memory": {"wdbot": {"peak_rss_bytes": [400 << 20] * 3},
                   "supervisord": {"peak_rss_bytes": [-(2 << 30)] * 3},
                   "PM2": {"peak_rss_bytes": [1400 << 20] * 3}},
        "wdbot_alone": {"autoinstall": ["repair 149 ms"],
                        "cold_start": {"wdbot": s(0.25), "bare_uv": s(0.1)}},
    }


def test_the_table_and_the_ratios() -> None:
    text = bench.report(figures(0.076))
    assert ("| crash to restart, median (p95) | 76 ms (p95 91) | 1000 ms (p95 1200) | 13x | "
            "50 ms (p95 60) | 0.66x |") in text
    assert "2.00G, no restart in 90 s" in text


def test_rows_where_an_anchor_is_ahead_are_explained() -> None:
    text = bench.report(figures(0.076))
    section = text.split("## Where wdbot is behind, and why")[1]
    assert "(Ahead here: PM2.)" in section and "(Ahead here: supervisord.)" in section
    assert "(Ahead here: supervisord, PM2.)" in section
    faster = bench.report(figures(0.04))
    assert "Crash to restart" not in faster.split("## Where wdbot is behind, and why")[1]


def test_a_half_written_log_line_is_skipped_not_a_crash() -> None:
    """Regression (issue 13): the PM2 row crashed on a line its writer had not finished."""
    text = "start 1.5\nexit 2.0\nstart\nexit 2.x5\nstart 3.25\nexit 4"
    assert bench.time_marks(text, ("start", "exit")) == [("start", 1.5), ("exit", 2.0), ("start", 3.25)]


def test_first_start_figures_side_by_side_and_hand_written_notes_kept() -> None:
    """Regression (issue 26): ``bench.py --only firststart`` rewrote docs/benchmarks.md from
    its figures and dropped the paragraphs written by hand under the table (issue 13's
    before and after); the first start, restart and ``uv run`` now share one table row."""
    r = figures(0.076)
    one = {"median": 5.0, "min": 4.5, "max": 5.5, "n": 3}
    r["first_start"] = {"first_start": one, "restart": {**one, "median": 0.9},
                        "uv_run": {**one, "median": 6.0}, "before_first_start": {**one, "median": 7.0},
                        "before_restart": one,
                        "before": "/tmp/main at abc1234"}
    fresh = bench.report(r)
    assert "| this one | 5.00 s (min 4.50, max 5.50, n=3) | 0.90 s (min 4.50, max 5.50, n=3) | 6.00 s" \
        in fresh
    assert "| before: /tmp/main at abc1234 | 7.00 s" in fresh
    lines = fresh.split("\n")
    floor = next(i for i, line in enumerate(lines) if line.startswith(bench.FLOOR_LINE))
    old = "\n".join(lines[:floor] + ["Issue 13, before and after: by hand.", ""] + lines[floor:])
    again = bench.keep_hand_written(bench.report(r), old)
    assert again == old
    assert bench.keep_hand_written(fresh, "no table here") == fresh
