"""``make systemd-check``: wdbot under a REAL systemd (Debian 12's systemd 252), booted with
systemd-nspawn from a cached debootstrap root file system (``systemd_rootfs``).

It copies the worktree's wdbot into a run folder with the scenario (``systemd_scenario``),
boots the container with that folder bound in and the root file system as a volatile overlay
(every run starts from the same clean image, nothing it writes stays), lets the scenario's
oneshot unit drive the real ``wdbot`` inside, reads the verdicts from the run folder, then
halts the container (SIGTERM to systemd-nspawn; SIGKILL to it and to the container's init
if that is not enough) and removes the run folder.

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
from systemd_rootfs import CHECK_DIR, NSPAWN, REPO, CannotRun, ensure_rootfs, say  # noqa: E402

SCENARIO_BOUND_S = 300.0
"""The whole scenario; each of its own waits is bounded well inside this."""
HALT_BOUND_S = 60.0
RUNS, RUN_PREFIX = "/var/tmp", "wdbot-systemd-check-"


def nspawn_capable() -> None:
    """The reasons this machine cannot boot a container at all."""
    if sys.platform != "linux":
        raise CannotRun("systemd-nspawn needs Linux")
    if os.geteuid() != 0:
        raise CannotRun("booting a container with systemd-nspawn needs root")
    if shutil.which("apt-get") is None and shutil.which("systemd-nspawn") is None:
        raise CannotRun("no systemd-nspawn and no apt-get to install it")


def stage(run_dir: Path, source: Path) -> None:
    """The scenario and a copy of the package's tree (what ``pip install`` needs)."""
    shutil.copy2(Path(__file__).with_name("systemd_scenario.py"), run_dir / "scenario.py")
    src = run_dir / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(source / name, src / name)
    shutil.copytree(source / "watchdog_runtime", src / "watchdog_runtime",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


def boot(rootfs: Path, run_dir: Path) -> subprocess.Popen[bytes]:
    with open(run_dir / "console.log", "wb") as console:
        argv = [*NSPAWN, "-D", str(rootfs), "--volatile=overlay", "-b", f"--bind={run_dir}:{CHECK_DIR}",
                "--machine", f"wdbot-check-{os.getpid()}"]
        return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=console, stderr=subprocess.STDOUT,
                                preexec_fn=_halt_with_parent)


def _halt_with_parent() -> None:
    """In the child before exec: SIGTERM (a clean halt) to systemd-nspawn should this script
    die without its clean-up (a SIGKILL, a test's timeout): no container outlives its check."""
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def sweep_stale_runs() -> None:
    """Run folders left by a check that was killed (its pid gone, an hour old)."""
    for old in Path(RUNS).glob(f"{RUN_PREFIX}*"):
        pid = old.name[len(RUN_PREFIX):].split("-")[0]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists() and time.time() - old.stat().st_mtime > 3600:
            shutil.rmtree(old, ignore_errors=True)


def leader_of(nspawn: subprocess.Popen[bytes]) -> int | None:
    """The container's init (the child of systemd-nspawn), to kill should the halt hang."""
    try:
        children = Path(f"/proc/{nspawn.pid}/task/{nspawn.pid}/children").read_text().split()
    except OSError:
        return None
    return int(children[0]) if children else None


def wait_results(nspawn: subprocess.Popen[bytes], run_dir: Path, bound_s: float) -> tuple[dict[str, Any],
                                                                                        int | None]:
    """The scenario's results once done (or whatever it had when the bound or the container
    ended), and the container's init seen on the way."""
    deadline, leader, results = time.monotonic() + bound_s, None, {"steps": [], "done": False}
    while time.monotonic() < deadline and nspawn.poll() is None:
        leader = leader or leader_of(nspawn)
        try:
            results = json.loads((run_dir / "results.json").read_text())
        except (OSError, ValueError):
            pass
        if results.get("done"):
            break
        time.sleep(0.5)
    return results, leader


def halt(nspawn: subprocess.Popen[bytes], leader: int | None) -> str:
    """SIGTERM to systemd-nspawn halts the container; bounded, then SIGKILL by pid."""
    if nspawn.poll() is not None:
        return f"container ended by itself (exit {nspawn.returncode})"
    leader = leader or leader_of(nspawn)
    nspawn.send_signal(signal.SIGTERM)
    try:
        nspawn.wait(HALT_BOUND_S)
        return "container halted (SIGTERM to systemd-nspawn)"
    except subprocess.TimeoutExpired:
        for pid in (leader, nspawn.pid):  # the init first: its end ends every process inside
            if pid:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        nspawn.wait(30)
        return f"container did not halt within {HALT_BOUND_S:.0f} s: SIGKILL to its init and to nspawn"


def check(source: Path, keep: bool) -> dict[str, Any]:
    nspawn_capable()
    rootfs = ensure_rootfs()
    sweep_stale_runs()
    run_dir = Path(tempfile.mkdtemp(prefix=f"{RUN_PREFIX}{os.getpid()}-", dir=RUNS))
    try:
        stage(run_dir, source)
        started = time.monotonic()
        say(f"booting {rootfs.name} (systemd-nspawn, volatile overlay), run folder {run_dir}")
        nspawn = boot(rootfs, run_dir)
        try:
            results, _ = wait_results(nspawn, run_dir, SCENARIO_BOUND_S)
        finally:
            results_halt = halt(nspawn, None)
        if nspawn.returncode and not (run_dir / "results.json").exists():
            # The scenario never began: the container did not boot (a missing capability).
            raise CannotRun(f"systemd-nspawn could not boot the container (exit {nspawn.returncode}): "
                            + _tail(run_dir / "console.log", 600).strip())
        results["halt"] = results_halt
        results["seconds"] = round(time.monotonic() - started, 1)
        results["log"] = _tail(run_dir / "scenario.log") if not results.get("done") else ""
        if not results.get("done"):
            results["console"] = _tail(run_dir / "console.log")
        return results
    finally:
        if keep:
            say(f"kept the run folder {run_dir}")
        else:
            shutil.rmtree(run_dir, ignore_errors=True)


def _tail(path: Path, chars: int = 3000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return ""


def report(results: dict[str, Any]) -> int:
    for step in results["steps"]:
        print(f"{step['status'].upper():4}  {step['step']}\n      {step['evidence']}")
    print(f"{results.get('halt', '')}; {results.get('seconds', '?')} s from boot to halt")
    if not results.get("done"):
        print("the scenario did not finish:\n" + results.get("log", "") + results.get("console", ""))
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
