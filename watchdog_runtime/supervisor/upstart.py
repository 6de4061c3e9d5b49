"""``wdbot daemon --up FILE``: the bots of an up-file, applied by the daemon itself once it
serves, so a container needs no ``postStart`` hook racing the supervisor's start.

Each bot goes through the ``start`` operation with ``update``, exactly what ``wdbot up``
sends: a bot the home does not know is registered and started, a running one with the same
options is left alone (a daemon restarted with the same file restarts nothing), and one
whose options changed is restarted with the new ones. What a person decided stands: a
registered bot that is not meant to run (stopped by a person, held by ``wdbot shutdown``,
given up or finished) is left as it is, and said so; ``wdbot start NAME`` or ``wdbot up
FILE``, a person's commands, run it. The file was checked before the daemon did anything
(``wdbot daemon`` refuses a bad one with exit 2).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Container, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..spec import BotSpec
from .request_error import RequestError

log = logging.getLogger(__name__)

ORIGIN = "daemon --up"
Start = Callable[..., Awaitable[Any]]


class UpFile:
    """One up-file's bots and how far applying them got (for ``/readyz``)."""

    def __init__(self, path: Path, specs: Sequence[BotSpec]) -> None:
        self.path = path
        self.specs = tuple(specs)
        self.left = len(self.specs)
        self.failed: dict[str, str] = {}
        """Bots of the file whose start failed, and why (they may not be registered at all)."""

    def pending(self, registered: Container[str]) -> list[str]:
        """What keeps the daemon from being ready on this file's account, one line each."""
        lines = [f"up-file {self.path}: being applied ({self.left} of {len(self.specs)} bot(s) to go)"
                 ] if self.left else []
        return lines + [f"{name}: not started from {self.path}: {why}"
                        for name, why in self.failed.items() if name not in registered]

    async def apply(self, runners: Mapping[str, Any], start: Start) -> None:
        """Every bot of the file, one after the other, each said in the supervisor's log."""
        for spec in self.specs:
            try:
                await self._one(spec, runners, start)
            finally:
                self.left -= 1

    async def _one(self, spec: BotSpec, runners: Mapping[str, Any], start: Start) -> None:
        runner = runners.get(spec.name)
        if runner is not None and not runner.should_run:
            why = "held by 'wdbot shutdown'" if runner.held else runner.state.value
            log.info("up %s: %s left as it is (%s): 'wdbot start %s' or 'wdbot up %s' runs it",
                     self.path, spec.name, why, spec.name, self.path)
            return
        try:
            result = await start(spec=spec.to_json(), update=True, origin=ORIGIN)
        except Exception as exc:  # noqa: BLE001 - one bot's failure must not stop the others
            if not isinstance(exc, RequestError):
                log.exception("up %s: starting %s failed", self.path, spec.name)
            self.failed[spec.name] = str(exc)
            log.error("up %s: %s: not started: %s", self.path, spec.name, exc)
            return
        self.failed.pop(spec.name, None)
        how = ("unchanged" if result.get("already") else
               "updated and restarted" if result.get("updated") else "started")
        log.info("up %s: %s: %s, pid %s, %s", self.path, spec.name, how, result.get("pid"),
                 result.get("state"))
