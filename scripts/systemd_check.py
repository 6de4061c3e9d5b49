"""``make systemd-check``: wdbot under a REAL systemd (Debian 12's systemd 252), booted with
systemd-nspawn from a cached debootstrap root file system (``systemd_rootfs``).

It copies the worktree's wdbot into a run folder with the scenario (``systemd_scenario``),
boots the container (``systemd_container``: the cached root file system below an overlay
whose writes go to the run folder, so every run starts from the same clean image and the
container's own reboots keep its state) with that folder bound in, lets the scenario's
oneshot unit drive the real ``wdbot`` inside, boots it again each time it reboots, reads the
verdicts from the run folder, then halts the container (SIGTERM to systemd-nspawn; SIGKILL
to it and to the container's init if that is not enough) and removes the run folder.

    python scripts/systemd_check.py [--json FILE] [--keep] [--source DIR]   # build if needed, run
    python scripts/systemd_check.py --prepare                # only install tools, build the cache

Exit 0 when every step passed or was skipped with its reason, 1 when one failed, 3 when the
check cannot run here (the reason on stderr), 2 on bad usage.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import systemd_container as container  # noqa: E402
from systemd_rootfs import REPO, CannotRun, ensure_rootfs, say  # noqa: E402

SCENARIO_BOUND_S = 420.0
"""The whole scenario, every boot; each of its own waits is bounded well inside this."""
MAX_BOOTS = 3


def nspawn_capable() -> None:
    """The reasons this machine cannot boot a container at all."""
    if sys.platform != "linux":
        raise CannotRun("systemd-nspawn needs Linux")
    if os.geteuid() != 0:
        raise CannotRun("booting a container with systemd-nspawn needs root")
    if shutil.which("apt-get") is None and shutil.which("systemd-nspawn") is None:
        raise CannotRun("no systemd-nspawn and no apt-get to install it")


def stage(check_dir: Path, source: Path) -> None:
    """The scenario and a copy of the package's tree (what ``pip install`` needs)."""
    here = Path(__file__).parent
    src = check_dir / "src"
    src.mkdir(parents=True)
    shutil.copy2(here / "systemd_scenario.py", check_dir / "scenario.py")  # what the unit runs
    for name in ("systemd_scenario_tools.py", "systemd_reboot.py", "systemd_scenario_scopes.py"):
        shutil.copy2(here / name, check_dir / name)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(source / name, src / name)
    shutil.copytree(source / "watchdog_runtime", src / "watchdog_runtime",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


def wait_results(nspawn: subprocess.Popen[bytes], check_dir: Path, deadline: float) -> dict[str, Any]:
    """The scenario's results once done, or whatever it had when the container ended (a
    reboot, say) or the deadline passed."""
    results: dict[str, Any] = {"steps": [], "done": False}
    while time.monotonic() < deadline and nspawn.poll() is None:
        try:
            results = json.loads((check_dir / "results.json").read_text())
        except (OSError, ValueError):
            pass
        if results.get("done"):
            break
        time.sleep(0.5)
    return results


def boots(root: Path, check_dir: Path) -> dict[str, Any]:
    """Boot the container until the scenario is done, again each time it reboots (at most
    ``MAX_BOOTS``), all within ``SCENARIO_BOUND_S``; the verdicts, and how it ended."""
    deadline, count = time.monotonic() + SCENARIO_BOUND_S, 0
    while count < MAX_BOOTS:
        count += 1
        nspawn = container.boot(root, check_dir)
        try:
            results = wait_results(nspawn, check_dir, deadline)
        finally:
            ended = container.halt(nspawn)
        if nspawn.returncode and not (check_dir / "results.json").exists():
            # The scenario never began: the container did not boot (a missing capability).
            raise CannotRun(f"systemd-nspawn could not boot the container (exit {nspawn.returncode}): "
                            + _tail(check_dir / "console.log", 600).strip())
        if results.get("done") or nspawn.returncode != container.REBOOTED:
            break
    results.update(halt=ended, boots=count)
    return results


def check(source: Path, keep: bool) -> dict[str, Any]:
    nspawn_capable()
    rootfs = ensure_rootfs()
    container.sweep_stale_runs()
    run_dir = Path(tempfile.mkdtemp(prefix=f"{container.RUN_PREFIX}{os.getpid()}-", dir=container.RUNS))
    try:
        check_dir = run_dir / "check"
        stage(check_dir, source)
        started = time.monotonic()
        root = container.mount_overlay(rootfs, run_dir)
        say(f"booting {rootfs.name} (systemd-nspawn on an overlay), run folder {run_dir}")
        results = boots(root, check_dir)
        results["seconds"] = round(time.monotonic() - started, 1)
        if not results.get("done"):
            results["log"] = _tail(check_dir / "scenario.log") + _tail(check_dir / "console.log")
        return results
    finally:
        if keep:
            container.unmount(run_dir / "fs" / "root")
            say(f"kept the run folder {run_dir}")
        else:
            container.remove_run(run_dir)


def _tail(path: Path, chars: int = 3000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return ""


def report(results: dict[str, Any]) -> int:
    for step in results["steps"]:
        print(f"{step['status'].upper():4}  {step['step']}\n      {step['evidence']}")
    print(f"{results.get('halt', '')}; {results.get('boots', '?')} boot(s), "
          f"{results.get('seconds', '?')} s from the first boot to the halt")
    if not results.get("done"):
        print("the scenario did not finish:\n" + results.get("log", ""))
        return 1
    return 1 if any(s["status"] == "fail" for s in results["steps"]) else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prepare", action="store_true", help="install the tools and build the cache only")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the verdicts there")
    parser.add_argument("--source", type=Path, default=REPO, metavar="DIR",
                        help="the wdbot tree to install inside (default: this one)")
    parser.add_argument("--keep", action="store_true", help="keep the run folder (logs) for a look")
    ns = parser.parse_args(argv)
    if not ((ns.source / "pyproject.toml").is_file() and (ns.source / "watchdog_runtime").is_dir()):
        say(f"--source {ns.source}: not a wdbot tree (no pyproject.toml and watchdog_runtime/ there)")
        return 2
    # A SIGTERM ends the check through its clean-up (the container halted, the folder removed).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        if ns.prepare:
            nspawn_capable()
            say(f"root file system ready: {ensure_rootfs()}")
            return 0
        results = check(ns.source.resolve(), ns.keep)
    except CannotRun as exc:
        say(f"cannot run here: {exc}")
        if ns.prepare and not os.environ.get("CI"):
            return 0  # make test goes on; the test skips with the same reason
        if ns.json:
            ns.json.write_text(json.dumps({"cannot_run": str(exc)}))
        return 3
    if ns.json:
        ns.json.write_text(json.dumps(results, indent=1))
    return report(results)


if __name__ == "__main__":
    sys.exit(main())
