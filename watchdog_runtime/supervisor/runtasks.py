"""The tasks of one bot's runner, owned in one place: its lifecycle task (at most one at a
time), the sweeps it starts beside it, the first spawn a ``start`` waits for, and the two
events the lifecycle obeys (a stop; a reload that ends a backoff early). Nothing here is
fire-and-forget: a task is kept until it is done, its failure logged, and :meth:`cancel`
ends them all."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from .flag import Flag

log = logging.getLogger(__name__)

Jobs = Callable[[], list[tuple[float, Callable[[], Coroutine[Any, Any, None]]]]]
"""The run's side jobs: (seconds into the run, what to start then)."""


class RunTasks:
    """One runner's tasks; ``name`` names the bot in task names and logs."""

    __slots__ = ("name", "lifecycle", "stop", "wake", "first_spawn", "_sweeps", "_jobs")

    def __init__(self, name: str) -> None:
        self.name = name
        self.lifecycle: asyncio.Task[None] | None = None
        self.stop = Flag()
        """Set to stop the bot: the lifecycle ends at its next step."""
        self.wake = Flag()
        """Set by a reload to end a backoff wait early."""
        self.first_spawn: asyncio.Future[None] | None = None
        self._sweeps: set[asyncio.Task[None]] | None = None  # a set only while sweeps run
        self._jobs: list[asyncio.TimerHandle | asyncio.Task[None]] | None = None

    @property
    def active(self) -> bool:
        return self.lifecycle is not None and not self.lifecycle.done()

    def launch(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run a new lifecycle (the previous one is done), with a fresh stop request."""
        self.stop = Flag()
        self.lifecycle = asyncio.get_running_loop().create_task(coro, name=f"bot:{self.name}")

    def sweep(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run a stop of leftovers beside the lifecycle; kept until done."""
        task = asyncio.get_running_loop().create_task(coro, name=f"sweep:{self.name}")
        if self._sweeps is None:
            self._sweeps = set()
        self._sweeps.add(task)
        task.add_done_callback(self._swept)

    def start_jobs(self, jobs: Jobs) -> None:
        """The live process's side jobs (``later_jobs``), each a task once due, held only while
        it runs; until then one timer, and ``jobs`` asked again when it fires (issue 29: no
        task, frame or closure waiting for each bot)."""
        self._jobs = []
        self._arm(jobs, asyncio.get_running_loop().time(), -1.0)

    def _arm(self, jobs: Jobs, started: float, done_s: float) -> None:
        """The timer for the next job due after ``done_s`` seconds of the run, if any."""
        later = [delay_s for delay_s, _ in jobs() if delay_s > done_s]
        if later and self._jobs is not None:
            loop = asyncio.get_running_loop()
            wait_s = max(0.0, started + min(later) - loop.time())
            self._jobs.append(loop.call_later(wait_s, self._due, jobs, started, done_s))

    def _due(self, jobs: Jobs, started: float, done_s: float) -> None:
        if self._jobs is None:
            return
        self._jobs = [job for job in self._jobs if isinstance(job, asyncio.Task)]  # this timer fired
        now_s = min((delay_s for delay_s, _ in jobs() if delay_s > done_s), default=done_s)
        for delay_s, make in jobs():
            if done_s < delay_s <= now_s:
                job = asyncio.get_running_loop().create_task(make(), name=f"job:{self.name}")
                self._jobs.append(job)
                job.add_done_callback(self._job_done)
        self._arm(jobs, started, now_s)

    def _job_done(self, job: asyncio.Task[None]) -> None:
        if self._jobs is not None and job in self._jobs:
            self._jobs = [j for j in self._jobs if j is not job]
        if not job.cancelled() and job.exception() is not None:
            log.error("%s: a job of its run failed", self.name, exc_info=job.exception())

    async def end_jobs(self) -> None:
        """Cancel the side jobs not done (timers and tasks), and wait for the tasks (their
        children killed, reaped)."""
        jobs, self._jobs = self._jobs or [], None
        for job in jobs:
            job.cancel()
        await asyncio.gather(*(j for j in jobs if isinstance(j, asyncio.Task)), return_exceptions=True)

    def _swept(self, task: asyncio.Task[None]) -> None:
        if self._sweeps is not None:
            self._sweeps.discard(task)
            if not self._sweeps:
                self._sweeps = None
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
        for task in [self.lifecycle, *(self._sweeps or ())]:
            if task is not None and not task.done():
                task.cancel()
                try:
                    await task
                except asyncio.CancelledError:
                    pass  # the cancellation we asked for: the process is left running on purpose

    async def wait_backoff(self, delay_s: float) -> None:
        """Wait ``delay_s``, or less if the bot is stopped or a reload wakes it meanwhile."""
        self.wake = Flag()
        if delay_s <= 0:
            return  # no wait, no turn of the loop, for an immediate restart
        waits = [self.stop.future(), self.wake.future()]  # futures, no task each (issue 29)
        try:
            await asyncio.wait(waits, timeout=delay_s, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for wait in waits:
                wait.cancel()
