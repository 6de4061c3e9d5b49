"""The tasks of one bot's runner, owned in one place: its lifecycle task (at most one at a
time), the sweeps it starts beside it, the first spawn a ``start`` waits for, and the two
events the lifecycle obeys (a stop; a reload that ends a backoff early). Nothing here is
fire-and-forget: a task is kept until it is done, its failure logged, and :meth:`cancel`
ends them all."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from typing import Any

log = logging.getLogger(__name__)


class RunTasks:
    """One runner's tasks; ``name`` names the bot in task names and logs."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.lifecycle: asyncio.Task[None] | None = None
        self.stop = asyncio.Event()
        """Set to stop the bot: the lifecycle ends at its next step."""
        self.wake = asyncio.Event()
        """Set by a reload to end a backoff wait early."""
        self.first_spawn: asyncio.Future[None] | None = None
        self._sweeps: set[asyncio.Task[None]] = set()

    @property
    def active(self) -> bool:
        return self.lifecycle is not None and not self.lifecycle.done()

    def launch(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run a new lifecycle (the previous one is done), with a fresh stop request."""
        self.stop = asyncio.Event()
        self.lifecycle = asyncio.get_running_loop().create_task(coro, name=f"bot:{self.name}")

    def sweep(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run a stop of leftovers beside the lifecycle; kept until done."""
        task = asyncio.get_running_loop().create_task(coro, name=f"sweep:{self.name}")
        self._sweeps.add(task)
        task.add_done_callback(self._swept)

    def _swept(self, task: asyncio.Task[None]) -> None:
        self._sweeps.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("%s: stopping its leftovers failed", self.name, exc_info=task.exception())

    def expect_spawn(self) -> asyncio.Future[None]:
        """A start waits for the lifecycle's first spawn (or its failure)."""
        self.first_spawn = asyncio.get_running_loop().create_future()
        return self.first_spawn

    def spawned(self, error: Exception | None = None) -> None:
        """Answer the start waiting for the first spawn, once: done, or ``error``."""
        if self.first_spawn is not None and not self.first_spawn.done():
            if error is None:
                self.first_spawn.set_result(None)
            else:
                self.first_spawn.set_exception(error)

    async def wait_spawned(self, quiet: type[Exception]) -> None:
        """Wait until a start in progress has spawned or failed (with ``quiet``, not raised)."""
        if self.first_spawn is not None and not self.first_spawn.done():
            with contextlib.suppress(quiet):
                await asyncio.shield(self.first_spawn)

    async def settle(self) -> None:
        """Wait for a stop in progress to finish (a start asked meanwhile comes after it)."""
        while self.active and self.stop.is_set() and self.lifecycle is not None:
            await asyncio.shield(self.lifecycle)

    async def stop_and_wait(self) -> None:
        """Ask the lifecycle to stop, and wait until it has."""
        assert self.lifecycle is not None
        self.stop.set()
        await asyncio.shield(self.lifecycle)

    async def cancel(self) -> None:
        """End every task, the lifecycle and its sweeps, without stopping any process."""
        for task in [self.lifecycle, *self._sweeps]:
            if task is not None and not task.done():
                task.cancel()
                try:
                    await task
                except asyncio.CancelledError:
                    pass  # the cancellation we asked for: the process is left running on purpose

    async def wait_backoff(self, delay_s: float) -> None:
        """Wait ``delay_s``, or less if the bot is stopped or a reload wakes it meanwhile."""
        self.wake = asyncio.Event()
        if delay_s <= 0:
            return  # no wait, no turn of the loop, for an immediate restart
        waits = [asyncio.ensure_future(self.stop.wait()), asyncio.ensure_future(self.wake.wait())]
        try:
            await asyncio.wait(waits, timeout=delay_s, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for wait in waits:
                wait.cancel()
