"""The warm spare's part of a bot's process layer (``botprocess.BotProcesses`` takes it on):
when a spare may be used, what it is keyed by, how it becomes the live process, and the next
one started (``warmspare`` holds the spare processes themselves). ``warmspare`` is imported
by the first bot that may have a spare (issue 29: with its protocol and the import scan, about
0.1 MiB a supervisor of bots without ``--warm-spare`` held for nothing)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from ..common.home import BotPaths
from ..registry import RunRecord
from ..spec import BotSpec
from ..states import StartReason
from . import logmarks, procs, scopes
from .botenv import Launch
from .identity import ProcessIdentity
from .runnerhost import ProcessHost
from .spareident import PLACEHOLDER, RUN_ID_LENGTH, waiting_spare

if TYPE_CHECKING:
    from .botprocess import LiveProcess
    from .warmspare import Spare, SpareKey, WarmSpares


def placeholder_launch() -> Launch:
    """What a waiting spare is started with: the run's own values come at its release."""
    return Launch(PLACEHOLDER * RUN_ID_LENGTH, "spare", 0, None, None)


class SpareLayer:
    """The warm spare's methods of the process layer."""

    host: ProcessHost
    paths: BotPaths
    _spares: WarmSpares | None = None
    """Made with the first spare this bot may have (:attr:`spares`)."""
    _cgroup: Path | None
    _environment: Callable[[Launch], dict[str, str]]
    _contained: Callable[[bool], None]
    mark: Callable[[str], None]

    @property
    def spec(self) -> BotSpec:
        raise NotImplementedError

    @property
    def spares(self) -> WarmSpares:
        """The bot's spares (``warmspare`` imported on first use)."""
        if self._spares is None:
            from .warmspare import WarmSpares

            self._spares = WarmSpares(self.spec.name)
        return self._spares

    def spare_status(self) -> dict[str, object]:
        """``warmspare.WarmSpares.status``: nothing for a bot that never had a spare."""
        return self._spares.status() if self._spares is not None else {}

    def drop_spares(self) -> None:
        """No spare outlives the bot's lifecycle (``warmspare.WarmSpares.drop``)."""
        if self._spares is not None:
            self._spares.drop()

    def take_spare(self) -> Spare | None:
        """For :meth:`new_run`: the waiting spare made for this start, taken (its pid written
        ahead), or None; a spare made for another start is dropped."""
        allowed = self._spare_allowed()
        if not allowed and self._spares is None:
            return None  # never had one
        return self.spares.take(self._spare_key(self._environment(placeholder_launch()))
                                if allowed else None)

    def spare_taken_for(self, ident: ProcessIdentity | None) -> Spare | None:
        """For the spawn: ``warmspare.WarmSpares.taken_for``."""
        return self._spares.taken_for(ident) if self._spares is not None else None

    def _spare_key(self, env: dict[str, str]) -> SpareKey:
        from .warmspare import key_for

        spec = self.spec
        return key_for(self.paths.python, spec.path, spec.args, env, spec.env, self.paths.venv)

    def _from_spare(self, spare: Spare, pending: RunRecord, reason: StartReason,
                    env: dict[str, str]) -> LiveProcess:
        """The warm spare taken by :meth:`new_run` (its pid written ahead) becomes the live
        process: moved into the bot's cgroup, then released with the run's environment."""
        from .warmspare import move_in

        pid = spare.ident.pid
        self._contained(self._cgroup is not None and move_in(self._cgroup, pid))
        self.mark(logmarks.start_mark(pending.started_at, pid, reason.value))
        self.spares.release(spare, env, str(Path(self.spec.path).parent))
        from .botprocess import LiveProcess

        return LiveProcess(spare.ident, spare.popen, pending, self.host.clock())

    def is_waiting_spare(self, ident: ProcessIdentity) -> bool:
        """``ident`` is a spare of this bot's file not yet released (a write-ahead record's pid
        is adopted only then, or when it carries the run's id: ``adoption.choose_own``)."""
        return waiting_spare(ident.pid, self.spec.path)

    def go(self, live: LiveProcess, next_spare: bool) -> None:
        """The live process runs (spawned, released or adopted): the next warm spare starts
        (``next_spare``: not on the way to a stop)."""
        if next_spare:
            self.start_spare()

    def start_spare(self) -> None:
        """A warm spare waits for the next start (``--warm-spare``; not in a systemd scope, nor
        with ``--max-memory`` under the memory controller)."""
        if not self._spare_allowed():
            self.drop_spares()
            return
        from .warmspare import leaf_for

        env = self._environment(placeholder_launch())
        self.spares.start(self._spare_key(env), env, procs.MARKER_ENV, leaf_for(self._cgroup, self.spec.name))

    def _spare_allowed(self) -> bool:
        """``--warm-spare``, and no limit the spare would escape: a systemd scope of its own,
        or the memory controller's reading (what it loaded stays charged to its leaf)."""
        spec, containment = self.spec, self.host.containment
        charged = containment is not None and containment.memory and spec.max_memory_bytes is not None
        return spec.warm_spare and not charged and not scopes.takes(containment, spec.max_memory_bytes)
