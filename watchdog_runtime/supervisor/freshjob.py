"""The supervisor's side of ``installs.freshness``: once a bot whose venv was built from uv's
cache alone has been up a while, ask the index what a fresh resolution would install. Owned
by the bot's run, like the bytecode compile: cancelled (and uv killed) when the run ends, and
done again by the next run, since the mark stays until an answer came."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import shutil
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path

from ..events import EventLog
from ..installs import freshness
from ..installs.deps import Declared
from ..installs.uvtool import uv_bin, uv_env
from ..installs.venvs import requirement_files

log = logging.getLogger(__name__)

CHECK_TIMEOUT_S = 300.0
"""A check that takes longer is given up (and tried by the next run)."""

CHECK_AFTER_S = 30.0
"""How long a bot runs before the index is asked (less when ``--min-uptime`` is less): not
urgent, and uv's resolution must not take the CPU from the bot's own first imports."""


def wait_s(min_uptime_s: float) -> float:
    """The wait before the check: ``CHECK_AFTER_S``, or the bot's ``--min-uptime`` if shorter."""
    return max(0.0, min(CHECK_AFTER_S, min_uptime_s))


@functools.lru_cache(maxsize=1)
def lowest_priority() -> tuple[str, ...]:
    """``chrt --idle 0 nice -n 19`` where the machine has them (uv's threads inherit it)."""
    prefix: list[str] = []
    if chrt := shutil.which("chrt"):
        prefix += [chrt, "--idle", "0"]
    if nice := shutil.which("nice"):
        prefix += [nice, "-n", "19"]
    return tuple(prefix)


async def check_when_up(venv: Path, wait_s: float, name: str, declared: Callable[[], Declared],
                        index_args: Callable[[], Sequence[str]], events: EventLog) -> None:
    """After ``wait_s`` of the run: the check, if the venv is marked ``FROM_CACHE``."""
    await asyncio.sleep(wait_s)
    if not freshness.marked(venv, freshness.FROM_CACHE):
        return
    try:
        await _check(venv, name, declared(), list(index_args()), events)
    except Exception as exc:  # noqa: BLE001 - a config, a declaration or uv broke meanwhile: next run
        log.warning("%s: the check for newer releases waits for the next run: %s", name, exc)


async def _check(venv: Path, name: str, wanted: Declared, options: list[str], events: EventLog) -> None:
    with requirement_files(wanted) as files:
        answer = await _uv(freshness.check_args(venv / "bin" / "python", files, options))
    if answer is None:
        return
    found = freshness.changes(answer)
    if found:
        freshness.mark(venv, freshness.NEWER)
        text = freshness.message(name, found)
        events.write("newer_releases", name, packages=", ".join(str(c) for c in found), message=text)
        log.info("%s: %s", name, text)
    else:
        log.info("%s: the index has nothing newer than uv's cache installed", name)
    freshness.clear(venv, freshness.FROM_CACHE)


async def _uv(args: list[str]) -> str | None:
    """uv's output (its report is on stderr), or None when it failed (said in the log)."""
    argv = [*lowest_priority(), await asyncio.to_thread(uv_bin), "--no-config", *args]
    proc = await asyncio.create_subprocess_exec(
        *argv, env=uv_env(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        start_new_session=True)
    try:
        out, err = await asyncio.wait_for(proc.communicate(), CHECK_TIMEOUT_S)
    except asyncio.TimeoutError:
        log.warning("the check for newer releases took over %.0f s", CHECK_TIMEOUT_S)
        return None
    finally:
        if proc.returncode is None:  # the run ended first (or the bound): no orphan uv
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(proc.wait())
    if proc.returncode:
        log.warning("the check for newer releases failed: %s", err.decode(errors="replace").strip()[-300:])
        return None
    return out.decode(errors="replace") + err.decode(errors="replace")
