"""A one-way flag for one bot's lifecycle (a stop asked, a reload's wake), lighter than
``asyncio.Event``: an idle bot holds two of these, and an Event carries a deque (~760 bytes)
whether anyone waits or not (issue 29: what a bot costs the supervisor). The lifecycle waits on
:meth:`Flag.future` beside its process's exit, with no task of its own."""

from __future__ import annotations

import asyncio
from typing import Any


class Flag:
    """Set once, never cleared (a new lifecycle takes a new flag). Not thread-safe: the
    event loop's thread only, like ``asyncio.Event``."""

    __slots__ = ("_set", "_waiters")

    def __init__(self) -> None:
        self._set = False
        self._waiters: list[asyncio.Future[bool]] | None = None  # none until someone waits

    def is_set(self) -> bool:
        return self._set

    def set(self) -> None:
        """Set the flag and wake every waiter."""
        if self._set:
            return
        self._set = True
        waiters, self._waiters = self._waiters, None
        for future in waiters or ():
            if not future.done():
                future.set_result(True)

    def future(self) -> asyncio.Future[bool]:
        """A future resolved once the flag is set (at once if it is); cancelling it lets go
        of it, so a waiter that gave up leaves nothing behind."""
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        if self._set:
            future.set_result(True)
            return future
        if self._waiters is None:
            self._waiters = []
        self._waiters.append(future)
        future.add_done_callback(self._forget)
        return future

    async def wait(self) -> bool:
        """Wait until the flag is set (``asyncio.Event.wait``'s answer: True)."""
        return await self.future()

    def _forget(self, future: asyncio.Future[bool]) -> None:
        if self._waiters is not None and future in self._waiters:
            self._waiters.remove(future)
            if not self._waiters:
                self._waiters = None


def first_done(*futures: asyncio.Future[Any]) -> asyncio.Future[None]:
    """A future resolved once one of ``futures`` is done: ``asyncio.wait(FIRST_COMPLETED)``
    without its coroutine, its sets and its copies (~1.5 KiB a bot, held for the whole run by
    every supervised bot; issue 29). Its callbacks are taken off every future once it is done
    or cancelled, so nothing of it outlives the wait."""
    first: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    callback = _FirstDone(first, futures)
    for future in futures:
        future.add_done_callback(callback)  # one done already: called soon, as asyncio.wait does
    first.add_done_callback(callback)
    return first


class _FirstDone:
    """The one callback of :func:`first_done` (one small object, no closures)."""

    __slots__ = ("first", "futures")

    def __init__(self, first: asyncio.Future[None], futures: tuple[asyncio.Future[Any], ...]) -> None:
        self.first, self.futures = first, futures

    def __call__(self, done: asyncio.Future[Any]) -> None:
        if done is self.first:  # resolved or cancelled: let go of the others
            for future in self.futures:
                future.remove_done_callback(self)
        elif not self.first.done():
            self.first.set_result(None)
