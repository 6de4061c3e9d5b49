"""The daemon's own tasks (``serving._Tasks``): one that ends on an error says so in the log.

The loop holds them for the daemon's life, so asyncio's "exception was never retrieved"
(said when a failed task is collected) never comes: a housekeeping loop that raised used to
end in silence (a helper found it with an uptime interval the grid could not handle)."""

from __future__ import annotations

import asyncio
import logging

import pytest

from watchdog_runtime.supervisor.serving import _Tasks


def test_a_task_that_raises_is_logged_one_cancelled_or_done_is_not(caplog: pytest.LogCaptureFixture) -> None:
    async def broken() -> None:
        raise ValueError("interval too small")

    async def fine() -> None:
        return None

    async def main() -> None:
        tasks = _Tasks()
        tasks.start("uptime-ping", broken())
        tasks.start("scratch-sweep", fine())
        tasks.start("sampler", asyncio.sleep(3600))
        await asyncio.sleep(0)
        tasks.cancel_all()
        await asyncio.sleep(0)
        await asyncio.sleep(0)

    with caplog.at_level(logging.ERROR, logger="watchdog_runtime.supervisor.serving"):
        asyncio.run(main())
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    said = "uptime-ping ended on an error, the supervisor goes on without it"
    assert [r.getMessage() for r in errors] == [said]
    assert errors[0].exc_info is not None and isinstance(errors[0].exc_info[1], ValueError)
