from __future__ import annotations

import io
import threading
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from watchdog_runtime.cli import logs
from watchdog_runtime.cli.render import bot_detail, dashboard
from watchdog_runtime.common import logfiles

DOC: dict[str, Any] = {
    "supervisor": {"pid": 42, "version": "0.1.0", "home": "/h", "uptime_s": 3725.0, "warnings": []},
    "bots": [
        {"name": "alpha", "state": "running", "pid": 100, "uptime_s": 65.0, "restarts": 0,
         "next_start_in_s": None, "last_exit": None, "rss_bytes": 152 * 1024**2,
         "rss_history": [100 * 1024**2, 120 * 1024**2, 152 * 1024**2], "num_fds": 12,
         "cpu_percent": 3.4, "heartbeat_age_s": 2.0},
        {"name": "beta", "state": "backoff", "pid": None, "uptime_s": None, "restarts": 4,
         "next_start_in_s": 7.2, "last_exit": {
             "code": 1, "signal": None, "reason": "crash", "error": "KeyError: 'bids'", "at": "t",
             "diagnosis": {"pattern": "payload", "seen": "KeyError: 'bids'",
                           "hint": "read fields with wd.num/wd.get and handle None"}}},
    ],
}
EVENTS = [
    {"at": "2026-11-23T16:40:01+0000", "kind": "start", "bot": "alpha", "pid": 100, "reason": "first_start"},
    {"at": "2026-11-23T16:40:09+0000", "kind": "exit", "bot": "beta", "code": 1, "signal": None,
     "reason": "crash", "error": "KeyError: 'bids'", "delay_s": 7.2, "next_state": "backoff",
     "diagnosis": {"pattern": "payload", "seen": "x", "hint": "y"}},
]


def capture(renderable: Any, width: int) -> str:
    console = Console(file=io.StringIO(), width=width, color_system=None, force_terminal=False)
    console.print(renderable)
    return console.file.getvalue()  # type: ignore[attr-defined]


def render(doc: dict[str, Any], width: int = 160, events: list[dict[str, Any]] | None = None) -> str:
    return capture(dashboard(doc, events or [], width), width)


def row(text: str, name: str) -> list[str]:
    return next(line for line in text.splitlines() if line.startswith(name)).split()


def test_the_dashboard_at_full_width() -> None:
    text = render(DOC, 160, EVENTS)
    assert "supervisor pid 42" in text and "up 1h02m" in text and "1/2 running" in text
    assert row(text, "NAME") == ["NAME", "STATE", "PID", "UPTIME", "RESTARTS", "RSS", "FDS", "CPU",
                                 "HEARTBEAT", "NEXT", "START", "LAST", "EXIT"]
    assert row(text, "alpha") == ["alpha", "running", "100", "1m05s", "0", "152M", "▁▄█", "12", "3%",
                                  "2s", "-", "-"]
    beta = " ".join(row(text, "beta"))
    assert "in 7s" in beta and "crash (exit 1) [payload] KeyError: 'bids'" in beta
    assert "  beta: payload: read fields with wd.num/wd.get and handle None" in text
    assert "16:40:09 beta     exit crash (exit 1) [payload] KeyError: 'bids', backoff 7s" in text


@pytest.mark.parametrize(("width", "absent", "present"), [
    (120, ["FDS", "HEARTBEAT"], ["PID", "RSS", "CPU"]),
    (80, ["PID", "RSS", "CPU", "FDS", "HEARTBEAT"], ["NAME", "STATE", "RESTARTS", "LAST"]),
])
def test_narrow_terminals_drop_the_least_useful_columns(width: int, absent: list[str],
                                                         present: list[str]) -> None:
    text = render(DOC, width)
    headers = row(text, "NAME")
    assert not set(absent) & set(headers) and set(present) <= set(headers)
    assert all(len(line) <= width for line in text.splitlines())


def test_off_a_terminal_the_output_is_plain_text() -> None:
    console = Console(file=io.StringIO(), width=100)  # a file, not a TTY: rich's own detection
    console.print(dashboard(DOC, EVENTS, 100))
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert "\x1b[" not in text and "alpha" in text


def test_auto_installed_packages_get_a_column_only_when_there_are_some() -> None:
    assert "AUTO-INSTALLED" not in render(DOC)
    alpha = dict(DOC["bots"][0], auto_installed=[{"module": "yaml", "package": "PyYAML", "version": "6.0.2"}])
    text = render({**DOC, "bots": [alpha, DOC["bots"][1]]}, width=180)
    assert "AUTO-INSTALLED" in text
    assert " ".join(row(text, "alpha")).endswith("PyYAML 6.0.2 (yaml)")


def test_a_suspected_leak_and_a_flag_that_needs_a_person() -> None:
    alpha = dict(DOC["bots"][0], leak={"resource": "memory", "detail": "RSS rising",
                                       "rate_per_hour": 600 * 1024**2})
    beta = dict(DOC["bots"][1], attention="credentials rejected (HTTP 401): check the API key")
    text = render({**DOC, "bots": [alpha, beta]}, width=160)
    assert row(text, "alpha")[5:9] == ["152M", "▁▄█", "↑600M/h", "leak"]
    assert row(text, "beta")[5:8] == ["-", "-", "-"], "no readings while it is not running"
    assert "needs a look" in text and "  beta: credentials rejected (HTTP 401): check the API key" in text


def test_empty_and_warnings() -> None:
    doc = {"supervisor": {**DOC["supervisor"], "warnings": ["registry was corrupt"]}, "bots": []}
    text = render(doc)
    assert "no bots" in text and "warning: registry was corrupt" in text


def test_one_bot_in_detail() -> None:
    beta = dict(DOC["bots"][1], path="/bots/beta.py", venv="/h/bots/beta/venv", restart_policy="on-failure",
                limits={"max_memory_bytes": 500 * 1024**2, "max_fds": 900, "heartbeat_timeout_s": 30},
                logs={"stdout": "/h/bots/beta/logs/stdout.log", "stderr": "/h/bots/beta/logs/stderr.log"},
                recovery_failures=0, start_reason="crash",
                containment="cgroup v2 at /sys/fs/cgroup/wdbot/0123, memory controller: no")
    text = capture(bot_detail(beta, EVENTS[1:], ["Traceback (most recent call last):", "KeyError: 'bids'"]),
                   120)
    lines = [line.rstrip() for line in text.splitlines()]
    assert lines[0] == "beta"
    for expected in ("next start      in 7s", "limits          memory 500M, fds 900, heartbeat timeout 30s",
                     "venv            /h/bots/beta/venv", "path            /bots/beta.py",
                     "logs            stdout /h/bots/beta/logs/stdout.log",
                     "diagnosis       payload: read fields with wd.num/wd.get and handle None",
                     "  16:40:09 beta     exit crash (exit 1) [payload] KeyError: 'bids', backoff 7s",
                     "  KeyError: 'bids'",
                     "containment     cgroup v2 at /sys/fs/cgroup/wdbot/0123, memory controller: no"):
        assert expected in lines, expected
    assert lines.index("recent exits") < lines.index("stderr (last lines)")


def test_tail_reads_only_the_end(tmp_path: Path) -> None:
    path = tmp_path / "out.log"
    path.write_text("".join(f"line {i}\n" for i in range(100_000)))
    assert logfiles.tail_lines(path, 3) == ["line 99997", "line 99998", "line 99999"]
    assert logfiles.tail_lines(tmp_path / "missing.log", 3) == []


def test_a_38_mb_line_is_cut_with_the_mark_not_read_whole(tmp_path: Path) -> None:
    """Issue 23 point 9: one long line (a tqdm bar) made the tail read quadratic (12.5 s for
    ``status NAME`` on 38 MB); the tail now reads a bounded end and cuts the line, marked."""
    path = tmp_path / "stderr.log"
    with open(path, "wb") as fh:
        fh.write(b"first\n" + b"x" * (38 << 20) + b"END\n" + b"after\n")
    lines = logfiles.tail_lines(path, 10)
    assert lines[-1] == "after" and lines[-2].endswith("xEND")
    assert lines[-2].startswith(logfiles.CUT_MARK)
    assert len(lines[-2]) == len(logfiles.CUT_MARK) + logfiles.LINE_CAP
    assert sum(map(len, lines)) < 11 * (logfiles.LINE_CAP + len(logfiles.CUT_MARK))
    only = tmp_path / "bar.log"
    with open(only, "wb") as fh:
        fh.write(b"y" * (38 << 20))  # no newline at all
    assert logfiles.tail_lines(only, 3) == [logfiles.CUT_MARK + "y" * logfiles.LINE_CAP]
    assert logfiles.tail_lines(tmp_path / "short.log", 3) == []


def test_short_lines_keep_their_blank_lines_and_carriage_returns(tmp_path: Path) -> None:
    path = tmp_path / "out.log"
    path.write_bytes(b"a\n\nb\r50%\rdone\nlast")
    assert logfiles.tail_lines(path, 10) == ["a", "", "b", "50%", "done", "last"]
    assert logfiles.tail_lines(path, 2) == ["done", "last"]


def test_a_followed_endless_line_is_held_bounded_and_cut(tmp_path: Path) -> None:
    path = tmp_path / "out.log"
    path.write_bytes(b"")
    tail = logfiles.Tail(path)
    try:
        with open(path, "ab") as fh:
            for _ in range(8):
                fh.write(b"z" * (1 << 20))
                fh.flush()
                assert tail.poll() == []
                assert len(tail.pending) <= logfiles.LINE_CAP + len(logfiles.CUT_MARK)
            fh.write(b"!\nnext\n")
        assert tail.poll() == [logfiles.CUT_MARK + "z" * (logfiles.LINE_CAP - 1) + "!", "next"]
    finally:
        tail.close()


def test_follow_prints_appended_lines_and_survives_rotation(tmp_path: Path) -> None:
    path = tmp_path / "out.log"
    path.write_text("old\n")
    out, stop, ready = io.StringIO(), threading.Event(), threading.Event()
    worker = threading.Thread(target=logs.follow, args=([("stdout", path)], out, stop, ready))
    worker.start()
    try:
        assert ready.wait(10)
        with open(path, "a") as fh:
            fh.write("new 1\npartial")
        from tests.helpers import wait_until

        wait_until(lambda: "new 1" in out.getvalue(), "the appended line")
        path.rename(tmp_path / "out.log.1")  # rotated: a new file takes its place
        path.write_text("after rotation\n")
        wait_until(lambda: "after rotation" in out.getvalue(), "the line after rotation")
    finally:
        stop.set()
        worker.join(5)
    # The rotated file was read to its end: its unfinished last line too, then the new file.
    assert out.getvalue() == "new 1\npartial\nafter rotation\n"
