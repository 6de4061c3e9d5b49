"""A live process's exit as a future resolved by the event loop's reader on its pidfd, with
no task and no coroutine frames waiting for it (issue 29: ``procs.wait_exit`` in a task held
a task, two frames, a closure and a future for every running bot, ~1.2 KiB each). Where there
is no pidfd (not Linux, an old kernel), ``procs.wait_exit`` runs in a task, as before."""

from __future__ import annotations

import asyncio
import os
import subprocess

from . import procs


def exit_future(ident: procs.ProcessIdentity,
                popen: subprocess.Popen[bytes] | None) -> asyncio.Future[int | None]:
    """Resolved once ``ident`` has exited: its return code (negative for a signal) when
    ``popen`` is our child, else None. Cancelling it lets go of the pidfd."""
    if not hasattr(os, "pidfd_open"):
        return asyncio.ensure_future(procs.wait_exit(ident, popen))
    loop = asyncio.get_running_loop()
    try:
        fd = os.pidfd_open(ident.pid)
    except ProcessLookupError:
        fd = -1  # already gone: resolved at once
    except OSError:  # a kernel without pidfd
        return asyncio.ensure_future(procs.wait_exit(ident, popen))
    done: asyncio.Future[int | None] = loop.create_future()
    watch = _ExitWatch(loop, fd, popen, done)
    if fd >= 0:
        loop.add_reader(fd, watch.exited)
    done.add_done_callback(watch.close)
    if fd < 0 or not procs.is_alive(ident):  # checked after the fd pins the pid: no recycling race
        watch.exited()
    return done


class _ExitWatch:
    """The reader's callback and the pidfd's owner (one small object a bot)."""

    __slots__ = ("loop", "fd", "popen", "done")

    def __init__(self, loop: asyncio.AbstractEventLoop, fd: int, popen: subprocess.Popen[bytes] | None,
                 done: asyncio.Future[int | None]) -> None:
        self.loop, self.fd, self.popen, self.done = loop, fd, popen, done

    def exited(self) -> None:
        if self.done.done():
            return
        try:
            code = self.popen.wait() if self.popen is not None else None  # exited: reaped at once
        except Exception as exc:  # noqa: BLE001 - said to whoever awaits the exit
            self.done.set_exception(exc)
            return
        self.done.set_result(code)

    def close(self, _: asyncio.Future[int | None]) -> None:
        if self.fd >= 0:
            self.loop.remove_reader(self.fd)
            os.close(self.fd)
            self.fd = -1
