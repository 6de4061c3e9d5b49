"""Issue 28: a bot's kernel memory limit through a transient systemd scope where the
supervisor's delegated cgroup has no memory controller (systemd < 254, a hybrid layout):
what goes before the bot's argv, and when (pure; the real systemd runs it in
scripts/systemd_scenario.py, ``make systemd-check``)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from watchdog_runtime.supervisor import scopes
from watchdog_runtime.supervisor.cgroupplan import Containment, Layout

UNIT = Path("/sys/fs/cgroup/unified/system.slice/wdbot-0123abcd.service")
SCOPED = Containment(Path("/sys/fs/cgroup/unified"), UNIT, Layout.DELEGATED, False, controllers=False,
                     scopes=True)


def test_a_bot_with_max_memory_starts_through_systemd_run_scope() -> None:
    argv = scopes.prefix(SCOPED, "grid", 96 << 20, "f00dfeed" + "0" * 24, euid=0)
    assert argv == ["systemd-run", "--scope", "--quiet", "--collect",
                    "--unit=wdbot-0123abcd-grid-f00dfeed.scope",
                    f"--property=MemoryMax={96 << 20}", "--property=After=wdbot-0123abcd.service", "--"]
    assert scopes.takes(SCOPED, 96 << 20)


def test_a_user_units_supervisor_asks_its_user_manager() -> None:
    assert scopes.prefix(SCOPED, "grid", 1 << 30, "ab" * 16, euid=1000)[:2] == ["systemd-run", "--user"]


def test_no_scope_without_a_limit_or_without_scopes() -> None:
    """Bots without --max-memory keep their cgroup beside the supervisor (the exact
    membership); no scope where the trial failed or the memory controller is ours."""
    assert scopes.prefix(SCOPED, "grid", None, "ab" * 16) == [] and not scopes.takes(SCOPED, None)
    own = Containment(SCOPED.mount, UNIT, Layout.DELEGATED, True)
    assert scopes.prefix(own, "grid", 1 << 30, "ab" * 16) == [] and not scopes.takes(own, 1 << 30)
    assert scopes.prefix(None, "grid", 1 << 30, "ab" * 16) == []


def test_no_trial_outside_a_systemd_unit() -> None:
    assert not scopes.available(environ={})


def test_status_says_where_the_limit_comes_from() -> None:
    """The scope the live process was seen in, not the one it was meant for: a bot that
    systemd-run did not move (the manager failed, or the pid was adopted from elsewhere) is
    said to be held by the RSS watch alone."""
    assert "a systemd scope per bot (MemoryMax=)" in SCOPED.description
    assert scopes.describe(SCOPED, 1 << 30, "wdbot-0123abcd-grid-f00dfeed.scope").startswith(
        "a systemd scope of its own (wdbot-0123abcd-grid-f00dfeed.scope, MemoryMax=1073741824)")
    assert scopes.describe(SCOPED, 1 << 30).startswith("no systemd scope (systemd-run did not move it")
    assert scopes.describe(SCOPED, None) == scopes.describe(None, 1 << 30) == "process marker walk (no " \
        "delegated cgroup v2)"


def test_waiting_for_the_scope_is_bounded_and_ends_with_the_process() -> None:
    """``settled``: False at once when the process is gone, False past the bound (a manager
    that never answers), never a wait without end. Our own process is in no such scope."""
    ticks = iter(range(100))
    assert not asyncio.run(scopes.settled(os.getpid(), "x.scope", lambda: False))
    assert not asyncio.run(scopes.settled(os.getpid(), "x.scope", lambda: True, bound_s=3.0,
                                          clock=lambda: float(next(ticks))))
    assert next(ticks) < 10


def test_an_adopted_bot_is_in_its_own_scope_or_in_none() -> None:
    """Another unit's scope (the login session a supervisor was started from) is never
    taken for the bot's own."""
    assert scopes.own_scope(SCOPED, "grid", 1 << 30, os.getpid()) is None
    assert scopes.own_scope(None, "grid", 1 << 30, os.getpid()) is None
