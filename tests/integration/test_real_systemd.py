"""wdbot under a REAL systemd (Debian 12's systemd 252 booted with systemd-nspawn): the
harness of ``make systemd-check`` (scripts/systemd_check.py) runs once per test session and
each test reads the verdict of its step, with the evidence the scenario gathered inside.

Issue 23, point 11: under that systemd the installed service adopted a bot after a
``kill -9`` of its supervisor, but ``wdbot shutdown`` did not stay a shutdown (point 1:
``Restart=always`` started a supervisor that started every held bot two seconds later) and
``wdbot service install`` ended by calling the service's own supervisor one "outside the
service"; across a reboot, the unit's supervisor started at boot ran the bot ``wdbot
shutdown`` held. These three tests fail on the code before the fix.

The root file system is built (debootstrap, about two minutes, cached in
/var/cache/wdbot-systemd) by ``make test``'s ``systemd-rootfs`` step; the run itself (three
boots of the container) takes under a minute. Skipped, with the reason, only where it cannot
run (not root, neither systemd-nspawn nor apt-get, a container that cannot boot); in CI
(``CI`` set) it must run.
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]

# One worker takes every test of the module under make test's --dist loadgroup (no worker
# waits on the lock below while the other runs the check).
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900), pytest.mark.xdist_group("real_systemd")]


def _run_check(out: Path) -> dict[str, Any]:
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "systemd_check.py"), "--json", str(out)],
                          capture_output=True, text=True, timeout=840, check=False)
    try:
        results: dict[str, Any] = json.loads(out.read_text())
    except (OSError, ValueError):
        results = {}
    results["output"] = f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return results


@pytest.fixture(scope="session")
def verdicts(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> dict[str, Any]:
    """The harness's results, run once per session: with xdist the first worker runs it under
    a lock in the folder the workers share and the other reads its file."""
    if worker_id == "master":
        results = _run_check(tmp_path_factory.mktemp("systemd") / "results.json")
    else:
        shared = tmp_path_factory.getbasetemp().parent / "systemd-check.json"
        with open(shared.with_suffix(".lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if shared.exists():
                results = json.loads(shared.read_text())
            else:
                results = _run_check(tmp_path_factory.mktemp("systemd") / "results.json")
                shared.write_text(json.dumps(results))
    if "cannot_run" in results:
        if os.environ.get("CI"):
            pytest.fail(f"the real-systemd check must run in CI: {results['cannot_run']}")
        pytest.skip(f"no real systemd here: {results['cannot_run']}")
    return results


def step(verdicts: dict[str, Any], key: str) -> dict[str, str]:
    """The step's verdict (absent: the scenario stopped before it, the output says why)."""
    found = {s["key"]: s for s in verdicts.get("steps", [])}
    assert key in found, (f"the scenario never reached {key!r}: "
                          f"{[(k, s['status']) for k, s in found.items()]}\n{verdicts.get('output', '')}")
    return found[key]


def test_point_11_service_install_does_not_call_its_supervisor_an_outsider(
        verdicts: dict[str, Any]) -> None:
    """Issue 23 point 11: ``service install --system`` ended with "a supervisor already runs
    for this home outside the service" about the supervisor it had just started."""
    got = step(verdicts, "service_install")
    assert got["status"] == "pass", got["evidence"]


def test_the_bot_runs_under_the_services_supervisor(verdicts: dict[str, Any]) -> None:
    got = step(verdicts, "start")
    assert got["status"] == "pass", got["evidence"]


def test_a_supervisor_killed_by_systemctl_kill_is_restarted_and_adopts_the_bot(
        verdicts: dict[str, Any]) -> None:
    got = step(verdicts, "kill_supervisor")
    assert got["status"] == "pass", got["evidence"]


def test_point_1_shutdown_stays_a_shutdown_under_systemd(verdicts: dict[str, Any]) -> None:
    """Issue 23 point 1 under systemd 252: after ``wdbot shutdown`` ``Restart=always`` started
    ``wdbot daemon`` again and it started the held bot 2.6 s later. Sampled for six times
    ``RestartSec``: the bot must never run again."""
    got = step(verdicts, "shutdown")
    assert got["status"] == "pass", got["evidence"]


def test_start_brings_the_held_bot_back_under_the_unit(verdicts: dict[str, Any]) -> None:
    """After ``wdbot shutdown`` stopped the unit, ``wdbot start BOT`` starts the unit, whose
    supervisor runs the bot (a supervisor launched outside the unit left the unit failing to
    start, in a restart loop, on an earlier state of the fix)."""
    got = step(verdicts, "start_again")
    assert got["status"] == "pass", got["evidence"]


def test_systemctl_restart_runs_the_bot_again(verdicts: dict[str, Any]) -> None:
    """After shutdown and ``start``, ``systemctl restart`` brings the unit up and its
    supervisor runs the bot (not a unit in a restart loop beside a supervisor outside it)."""
    got = step(verdicts, "systemctl_restart")
    assert got["status"] == "pass", got["evidence"]


def test_shutdown_keep_bots_hands_the_bot_over_to_the_units_next_supervisor(
        verdicts: dict[str, Any]) -> None:
    got = step(verdicts, "keep_bots")
    assert got["status"] == "pass", got["evidence"]


def test_a_reboot_brings_back_the_bot_that_ran_and_not_the_stopped_one(verdicts: dict[str, Any]) -> None:
    """The container rebooted (``systemctl reboot``): the enabled unit starts at boot, its
    supervisor starts the bot that ran when the machine went down, not the one a person stopped."""
    got = step(verdicts, "reboot")
    assert got["status"] == "pass", got["evidence"]


def test_point_1_a_hold_outlives_a_reboot(verdicts: dict[str, Any]) -> None:
    """Issue 23 point 1 across a reboot: after ``wdbot shutdown`` and a reboot the unit's
    supervisor, started at boot, started the held bot at once on the code before the fix."""
    got = step(verdicts, "reboot_after_shutdown")
    assert got["status"] == "pass", got["evidence"]


def test_max_memory_is_enforced(verdicts: dict[str, Any]) -> None:
    """Through the delegated cgroup where the memory controller is there; skipped (with what
    was seen) where it stays on cgroup v1, but the limit must hold all the same."""
    got = step(verdicts, "max_memory")
    if got["status"] == "skip":
        pytest.skip(got["evidence"])
    assert got["status"] == "pass", got["evidence"]


def test_issue_28_max_memory_under_systemd_252_is_a_scope_with_memorymax(verdicts: dict[str, Any]) -> None:
    """Issue 28: systemd < 254 gave the bots no kernel memory limit (no controller in the
    unit's cgroup); a bot with --max-memory now runs in a transient scope of its own with
    MemoryMax= set by systemd (applied by the kernel where the memory controller is writable:
    the evidence says whether it was here)."""
    got = step(verdicts, "max_memory")
    assert got["status"] == "pass" and ".scope" in got["evidence"], got["evidence"]
    assert f"MemoryMax={96 << 20}" in got["evidence"] or "memory controller: yes" in got["evidence"]
    assert step(verdicts, "scope_gone")["status"] == "pass"


def test_issue_28_a_scoped_bot_is_adopted_after_systemctl_kill(verdicts: dict[str, Any]) -> None:
    """Issue 28: the scope moves the bot out of the unit's cgroup; adoption must not suffer."""
    got = step(verdicts, "scope_adopted")
    assert got["status"] == "pass", got["evidence"]


def test_issue_28_the_kernel_enforces_a_scopes_memorymax(verdicts: dict[str, Any]) -> None:
    """Issue 28: systemd writes the scope's MemoryMax= where it may write the memory controller
    (here, the v1 hierarchy made writable inside the container) and the kernel kills the bot."""
    got = step(verdicts, "scope_kernel")
    if got["status"] == "skip":
        pytest.skip(got["evidence"])
    assert got["status"] == "pass", got["evidence"]


def test_issue_28_the_unit_has_no_key_the_hosts_systemd_does_not_know(verdicts: dict[str, Any]) -> None:
    """Issue 28: systemd 252 warned "Unknown key name 'DelegateSubgroup'" at every daemon-reload."""
    got = step(verdicts, "unit_keys")
    assert got["status"] == "pass", got["evidence"]


def test_the_journal_has_the_supervisors_lines(verdicts: dict[str, Any]) -> None:
    got = step(verdicts, "journal")
    assert got["status"] == "pass", got["evidence"]


def test_the_scenario_ran_to_its_end_and_the_container_was_halted(verdicts: dict[str, Any]) -> None:
    assert verdicts.get("done"), verdicts.get("output")
    broke = [s["evidence"] for s in verdicts["steps"] if s["key"] == "scenario"]
    assert not broke, broke
    assert verdicts["halt"].startswith("container halted"), verdicts["halt"]
