"""The environment a bot process starts with: the supervisor's, cleaned, plus the bot's own
``--env`` pairs and what the runtime tells it (``WDBOT_*``). Pure: values in, a dict out."""

from __future__ import annotations

import os
from collections.abc import Mapping

from ..bot.startcontext import encode_context
from ..common.home import BotPaths, Home
from ..common.leandataclass import dataclass
from ..common.logrotate import RotationPolicy
from ..spec import BotSpec
from .procs import MARKER_ENV

DROPPED = ("PYTHONPATH", "PYTHONHOME", "NOTIFY_SOCKET")
"""Never passed on. NOTIFY_SOCKET is the supervisor's own (systemd): a bot pinging it would
keep a hung supervisor looking alive."""


@dataclass(frozen=True)
class Launch:
    """What one start tells the bot about itself (``WDBOT_*``, and ``ctx`` in recover)."""

    run_id: str
    reason: str
    restarts: int
    last_exit: Mapping[str, object] | None
    downtime_s: float | None


def bot_environment(base: Mapping[str, str], spec: BotSpec, paths: BotPaths, home: Home,
                    launch: Launch, marker: str, logs: RotationPolicy) -> dict[str, str]:
    """The environment of one bot process.

    >>> from pathlib import Path
    >>> env = bot_environment({"PATH": "/usr/bin", "PYTHONPATH": "/x", "WDBOT_OLD": "1"},
    ...     BotSpec(name="grid", path="/bots/grid.py", env=(("MODE", "paper"),)),
    ...     BotPaths(Path("/h/bots/grid")), Home(Path("/h")),
    ...     Launch("r1", "crash", 2, None, 1.5), "home:grid", RotationPolicy())
    >>> env["PATH"], env["MODE"], env["WDBOT_START_REASON"], "PYTHONPATH" in env, "WDBOT_OLD" in env
    ('/h/bots/grid/venv/bin:/usr/bin', 'paper', 'crash', False, False)
    """
    env = {k: v for k, v in base.items() if k not in DROPPED and not k.startswith("WDBOT_")}
    env.update(spec.env_map)
    venv = str(paths.venv)
    env.update({
        "PYTHONUNBUFFERED": "1",
        "VIRTUAL_ENV": venv,
        "PATH": f"{venv}/bin{os.pathsep}{env.get('PATH', os.defpath)}",
        "WDBOT_HOME": str(home.root),
        "WDBOT_BOT_NAME": spec.name,
        "WDBOT_STATE_DIR": str(paths.state),
        "WDBOT_EXIT_RECORD": str(paths.exit_record),
        "WDBOT_CODE_CACHE": str(paths.code_cache),
        "WDBOT_RUN_ID": launch.run_id,
        "WDBOT_START_REASON": launch.reason,
        "WDBOT_RESTARTS": str(launch.restarts),
        "WDBOT_CONTEXT": encode_context(launch.reason, launch.restarts, launch.last_exit,
                                        launch.downtime_s),
        "WDBOT_NOTIFY_SOCKET": str(home.notify_socket),
        "WDBOT_SECRETS_SOCKET": str(home.secrets_socket),
        "WDBOT_STDOUT_LOG": str(paths.stdout_log),
        "WDBOT_STDERR_LOG": str(paths.stderr_log),
        "WDBOT_STOP_SIGNAL": spec.stop_signal.value,  # the bootstrap handles it (bot.shutdown)
        **logs.to_env(),
        MARKER_ENV: marker,
    })
    if spec.timestamps:
        env["WDBOT_TIMESTAMPS"] = "1"
    return env
