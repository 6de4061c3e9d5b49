"""``wdbot run BOT.py [-- ARGS]``: a bot in the foreground, for trying it before handing it to
the supervisor. Its venv is prepared as a start prepares it (the bot's own venv, its declared
dependencies, auto-install's round before a start) and it runs under the same bootstrap
(``recover``, the SDK, every stop running its clean-up), on this terminal: Ctrl-C is a stop.

The bot's process replaces this one (``exec``): the terminal's signals reach it directly and
its exit status is the command's. It carries no supervisor marker, so no supervisor adopts
or stops it as a stray; its state folder is the registered bot's, which is why a bot that
runs under the supervisor is refused.
"""

from __future__ import annotations

import os
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

from ..common.home import BotPaths, Home
from ..spec import BotSpec

RUNNING_STATES = frozenset({"starting", "recovering", "running", "backoff", "stopping", "installing"})
"""States in which the supervisor runs the bot, or is about to."""

DROPPED_ENV = ("WDBOT_STDOUT_LOG", "WDBOT_STDERR_LOG", "WDBOT_EXIT_RECORD", "WDBOT_NOTIFY_SOCKET")
"""What ties a process to the supervisor's run: its log files (the terminal is the output
here), its exit record and its heartbeats (no run of the supervisor's to report to)."""


class RunRefused(Exception):
    """The bot cannot be run here now; the message says why and what to do."""


def refuse_if_supervised(home: Home, spec: BotSpec, state: str | None) -> None:
    """One copy of a bot: refused when the supervisor runs it (``state``), or when processes
    of it run without a supervisor (after ``shutdown --keep-bots``)."""
    if state in RUNNING_STATES:
        raise RunRefused(f"{spec.name} runs under the supervisor ({state}); 'wdbot stop {spec.name}' "
                         f"first, or run it under another name (--name)")
    from ..supervisor.procs import marked_processes

    if marked_processes(f"{home.id}:{spec.name}").get(f"{home.id}:{spec.name}"):
        raise RunRefused(f"processes of {spec.name} run, left by a supervisor; 'wdbot stop {spec.name}' "
                         f"first, or run it under another name (--name)")


def prepare(home: Home, spec: BotSpec, say: Callable[[str], None]) -> BotPaths:
    """The bot's venv, as a start builds it; raises RunRefused with the reason on a failure."""
    from ..config import ConfigError, load_config, operator_pairs
    from ..installs.autoinstall import Budget
    from ..installs.repair import AutoInstaller
    from ..installs.venvs import VenvError, ensure_venv, refresh_sdk_link

    paths = BotPaths(home.bot_dir(spec.name))
    home.ensure()
    paths.ensure()
    try:  # a syntax error is the bootstrap's to say, as 'python BOT.py' would
        config = load_config(home.config)
        refresh_sdk_link(home.sdk_dir)
        installer = AutoInstaller(_Host(home, config, operator_pairs(config, home.allowed)), paths)
        if ensure_venv(paths.venv, spec.python, installer.declared(spec), home.sdk_dir,
                       config.index.uv_args):
            say(f"{spec.name}: venv built in {paths.venv}")
        outcome = installer.before_start(spec, Budget())
    except (ConfigError, VenvError) as exc:
        raise RunRefused(str(exc)) from None
    if outcome.refused is not None:
        raise RunRefused(outcome.refused)
    return paths


def exec_bot(home: Home, spec: BotSpec, paths: BotPaths) -> NoReturn:
    """Replace this process with the bot under the supervisor's bootstrap."""
    from ..common.logrotate import RotationPolicy
    from ..supervisor.botenv import Launch, bot_environment
    from ..supervisor.procs import MARKER_ENV
    from ..supervisor.runner import BOOTSTRAP

    launch = Launch(uuid.uuid4().hex, "first_start", 0, None, None)
    env = bot_environment(os.environ, spec, paths, home, launch, "", RotationPolicy())
    for key in (MARKER_ENV, *DROPPED_ENV):
        env.pop(key, None)
    os.chdir(Path(spec.path).parent)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(paths.python, [str(paths.python), "-c", BOOTSTRAP, spec.path, *spec.args], env)


class _Host:
    """What auto-install needs of a supervisor, for one run: the home's config and pairs,
    and its event log (an install for a tried bot is an install all the same)."""

    def __init__(self, home: Home, config: Any, pairs: dict[str, str]) -> None:
        from ..events import EventLog

        self.events = EventLog(home.events)
        self.clock: Callable[[], float] = time.monotonic
        self._config, self._pairs = config, pairs

    def settings(self) -> Any:
        return self._config

    def allowed_pairs(self) -> dict[str, str]:
        return self._pairs
