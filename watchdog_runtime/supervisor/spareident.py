"""What tells a warm spare (``--warm-spare``) from a bot's process, and where its cgroup leaf
is: all the supervisor needs of spares for a bot that has none (issue 29).

A bot without ``--warm-spare`` still has its write-ahead pid checked against a waiting spare
(an earlier supervisor may have made one) and its spare's leaf removed when it is forgotten;
``warmspare``, which makes and releases spares (with ``bot.spare``'s protocol and the import
scan), is loaded only by the first bot that has one.
"""

from __future__ import annotations

from pathlib import Path

from . import cgroups

SPARE = "import watchdog_runtime.bot.spare as s; s.main()"
"""The spare's first code (``-c``, as the bootstrap's)."""
PLACEHOLDER = "~"
"""Fills the marker and run id of a waiting spare (``bot.spare``): matches no bot."""
RUN_ID_LENGTH = 32
"""A run id is ``uuid4().hex``."""
LEAF_PREFIX = "spare-"


def remove_leaf(bot_cgroup: Path, name: str) -> None:
    """The bot is forgotten: its spare's (empty) leaf goes too."""
    cgroups.remove(bot_cgroup.with_name(f"{LEAF_PREFIX}{name}"))


def waiting_spare(pid: int, bot_file: str) -> bool:
    """``pid`` is a spare of ``bot_file`` not yet released (its run id still the placeholder),
    by its command line and environment: a write-ahead record's pid is adopted only so."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return False
    waiting = f"WDBOT_RUN_ID={PLACEHOLDER * RUN_ID_LENGTH}".encode()
    return argv[1:4] == [b"-c", SPARE.encode(), bot_file.encode()] and waiting in environ
