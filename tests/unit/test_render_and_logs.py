from __future__ import annotations

import io
import threading
from pathlib import Path

from rich.console import Console

from watchdog_runtime import logs
from watchdog_runtime.render import status_renderable

DOC = {
    "supervisor": {"pid": 42, "version": "0.1.0", "home": "/h", "uptime_s": 3725.0, "warnings": []},
    "bots": [
        {"name": "alpha", "state": "running", "pid": 100, "uptime_s": 65.0, "restarts": 0,
         "next_start_in_s": None, "last_exit": None},
        {"name": "beta", "state": "backoff", "pid": None, "uptime_s": None, "restarts": 4,
         "next_start_in_s": 7.2, "last_exit": {"code": 1, "signal": None, "reason": "crash",
                                               "error": "ValueError: x", "at": "t"}},
    ],
}


def render(doc: dict[str, object], width: int = 120) -> str:
    console = Console(file=io.StringIO(), width=width, color_system=None, force_terminal=False)
    console.print(status_renderable(doc))  # type: ignore[arg-type]
    return console.file.getvalue()  # type: ignore[attr-defined]


def test_table_shows_what_matters() -> None:
    text = render(DOC)
    assert "supervisor pid 42" in text and "up 1h02m" in text and "1/2 running" in text
    alpha = next(line for line in text.splitlines() if line.startswith("alpha"))
    assert alpha.split()[:5] == ["alpha", "running", "100", "1m05s", "0"]
    beta = next(line for line in text.splitlines() if line.startswith("beta"))
    assert "in 7s" in beta and "crash (exit 1) ValueError: x" in beta


def test_auto_installed_packages_get_a_column_only_when_there_are_some() -> None:
    assert "AUTO-INSTALLED" not in render(DOC)
    bots = [dict(DOC["bots"][0], auto_installed=[{"module": "yaml", "package": "PyYAML",  # type: ignore[call-overload]
                                                   "version": "6.0.2"}]), DOC["bots"][1]]
    text = render({**DOC, "bots": bots}, width=160)
    assert "AUTO-INSTALLED" in text
    alpha = next(line for line in text.splitlines() if line.startswith("alpha"))
    assert alpha.rstrip().endswith("PyYAML 6.0.2 (yaml)")


def test_resources_and_a_suspected_leak_are_shown() -> None:
    alpha = dict(DOC["bots"][0], rss_bytes=152 * 1024**2, num_fds=12, cpu_percent=3.4,  # type: ignore[call-overload]
                 leak={"resource": "memory", "detail": "RSS rising", "rate_per_hour": 600 * 1024**2})
    text = render({**DOC, "bots": [alpha, DOC["bots"][1]]}, width=160)
    row = next(line for line in text.splitlines() if line.startswith("alpha")).split()
    assert row[5:10] == ["152M", "↑600M/h", "leak", "12", "3%"]
    beta = next(line for line in text.splitlines() if line.startswith("beta")).split()
    assert beta[5:8] == ["-", "-", "-"], "no readings while it is not running"


def test_empty_and_warnings() -> None:
    doc = {"supervisor": {**DOC["supervisor"], "warnings": ["registry was corrupt"]}, "bots": []}
    text = render(doc)
    assert "no bots" in text and "warning: registry was corrupt" in text


def test_tail_reads_only_the_end(tmp_path: Path) -> None:
    path = tmp_path / "out.log"
    path.write_text("".join(f"line {i}\n" for i in range(100_000)))
    assert logs.tail_lines(path, 3) == ["line 99997", "line 99998", "line 99999"]
    assert logs.tail_lines(tmp_path / "missing.log", 3) == []


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
    assert "old" not in out.getvalue() and "partial" not in out.getvalue()
