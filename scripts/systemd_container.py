"""One run's container for ``make systemd-check``: the cached root file system as the lower
layer of an overlay whose upper layer is in the run folder (every run starts from the same
clean image and changes nothing in it, while its own changes outlive the container's
reboots), booted with systemd-nspawn and halted by pid.

A run folder holds ``check/`` (bound at /wdbot-check inside: the scenario, wdbot's source,
the verdicts, the logs) and ``fs/`` (the overlay's layers and its mount point).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from systemd_rootfs import CHECK_DIR, NSPAWN, CannotRun

HALT_BOUND_S = 60.0
REBOOTED = 133
"""systemd-nspawn's exit status when the container's systemd asked for a reboot."""
RUNS, RUN_PREFIX = Path("/var/tmp"), "wdbot-systemd-check-"
STALE_S = 120.0
"""Room for a container whose check was killed to halt (it gets SIGTERM then) before its
folder is swept."""


def mount_overlay(rootfs: Path, run_dir: Path) -> Path:
    """The run's root: ``rootfs`` read-only below, the run's writes above."""
    fs = run_dir / "fs"
    for part in ("upper", "work", "root"):
        (fs / part).mkdir(parents=True)
    options = f"lowerdir={rootfs},upperdir={fs / 'upper'},workdir={fs / 'work'}"
    done = subprocess.run(["mount", "-t", "overlay", "overlay", "-o", options, str(fs / "root")],
                          capture_output=True, text=True, timeout=30, check=False)
    if done.returncode != 0:
        raise CannotRun(f"cannot mount an overlay file system here: {done.stderr.strip()}")
    return fs / "root"



def unmount(root: Path) -> bool:
    """True once nothing is mounted at ``root`` (a lazy unmount when busy)."""
    for argv in (["umount", str(root)], ["umount", "-l", str(root)]):
        if not _mounted(root):
            return True
        subprocess.run(argv, capture_output=True, timeout=30, check=False)
    return not _mounted(root)


def _mounted(path: Path) -> bool:
    fields = (line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines())
    return str(path) in set(fields)


def remove_run(run_dir: Path) -> None:
    """The run folder, once its overlay is unmounted (never a walk into a mounted root)."""
    if unmount(run_dir / "fs" / "root"):
        shutil.rmtree(run_dir, ignore_errors=True)


def sweep_stale_runs() -> None:
    """Run folders of a check that was killed (its pid gone; ``STALE_S`` old)."""
    for old in RUNS.glob(f"{RUN_PREFIX}*"):
        pid = old.name[len(RUN_PREFIX):].split("-")[0]
        stale = time.time() - old.stat().st_mtime > STALE_S
        if pid.isdigit() and not Path(f"/proc/{pid}").exists() and stale:
            remove_run(old)


def boot(root: Path, check_dir: Path) -> subprocess.Popen[bytes]:
    """systemd-nspawn booting ``root``, its console appended to ``check/console.log``."""
    with open(check_dir / "console.log", "ab") as console:
        argv = [*NSPAWN, "-D", str(root), "-b", f"--bind={check_dir}:{CHECK_DIR}",
                "--machine", f"wdbot-check-{os.getpid()}"]
        return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=console, stderr=subprocess.STDOUT,
                                preexec_fn=_halt_with_parent)


def _halt_with_parent() -> None:
    """In the child before exec: SIGTERM (a clean halt) to systemd-nspawn should the check
    die without its clean-up (a SIGKILL, a test's timeout): no container outlives its check."""
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def leader_of(nspawn: subprocess.Popen[bytes]) -> int | None:
    """The container's init (the child of systemd-nspawn), to kill should the halt hang."""
    try:
        children = Path(f"/proc/{nspawn.pid}/task/{nspawn.pid}/children").read_text().split()
    except OSError:
        return None
    return int(children[0]) if children else None


def halt(nspawn: subprocess.Popen[bytes]) -> str:
    """SIGTERM to systemd-nspawn halts the container; bounded, then SIGKILL by pid."""
    if nspawn.poll() is not None:
        return f"container ended by itself (exit {nspawn.returncode})"
    leader = leader_of(nspawn)
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
