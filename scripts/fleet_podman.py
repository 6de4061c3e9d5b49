"""``make fleet-check``'s container part: deploy/container/Containerfile built and run with a
REAL podman (Debian's), as ENGINES.md found it runs here: runc (crun refuses a hybrid cgroup
layout), the cgroupfs manager, vfs storage, ``default_ulimits = []`` (no CAP_SYS_RESOURCE),
no network (no registry to pull a base from: the base image is imported from the cached
debootstrap root file system of ``make systemd-rootfs``, whose /opt/wdbot venv holds wdbot's
dependencies, so the build installs with ``--no-deps --no-index``).

Then, with the home on a named volume and ``BOTS`` bots of an up-file mounted from outside:
boot to every bot running (each bot writes a file at start, the handshake), ``kill -9`` of
the supervisor inside (PID 1, the init, starts the next, which adopts the bots: same pids),
``podman stop`` (every bot's ``wd.on_shutdown`` runs, after the stop signal, before the
container ends), ``podman logs`` (the bots' lines, prefixed with their names).

    python scripts/fleet_podman.py [--bots N] [--json FILE] [--keep]

Exit 0 when every step held, 1 when one failed, 3 when it cannot run here, 2 on bad usage.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parent))
from systemd_rootfs import REPO, CannotRun, ensure_rootfs  # noqa: E402

T = TypeVar("T")
WORK = Path(os.environ.get("WDBOT_PODMAN_DIR", "/var/tmp/wdbot-podman"))
NAME = "wdbot-fleet-check"
STOP_GRACE_S = 60
BOT = """\
import sys
from pathlib import Path

import watchdog_runtime as wd

name, out = sys.argv[1], Path("/out")
wd.on_shutdown(lambda: (out / f"{name}.shutdown").write_text(f"stopping={wd.stopping()}"))
(out / f"{name}.started").write_text("up")
tick = 0
while not wd.wait(1.0):
    tick += 1
    print(f"{name} tick {tick}", flush=True)
"""


def say(line: str) -> None:
    print(f"fleet-check: {line}", file=sys.stderr, flush=True)


def podman(*args: str, timeout: float = 120, check: bool = True,
           stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
    """One podman call, with the engine settings that work here."""
    env = {**os.environ, "CONTAINERS_STORAGE_CONF": str(WORK / "storage.conf"),
           "CONTAINERS_CONF": str(WORK / "containers.conf")}
    argv = ["podman", "--runtime", "runc", "--cgroup-manager", "cgroupfs", *args]
    done = subprocess.run(argv, input=stdin, capture_output=True, timeout=timeout, env=env, check=False)
    result = subprocess.CompletedProcess(argv, done.returncode, done.stdout.decode(errors="replace"),
                                         done.stderr.decode(errors="replace"))
    if check and done.returncode != 0:
        raise RuntimeError(f"podman {' '.join(args[:3])}: exit {done.returncode}: {result.stderr[-800:]}")
    return result


def prepare() -> None:
    """podman and runc from apt when missing, and the configs of a scratch storage."""
    if os.geteuid() != 0:
        raise CannotRun("podman here needs root (no user namespaces set up for a rootless one)")
    if not (shutil.which("podman") and shutil.which("runc")):
        if shutil.which("apt-get") is None:
            raise CannotRun("no podman and no apt-get to install it")
        say("installing podman and runc (apt)")
        subprocess.run(["apt-get", "install", "-y", "-qq", "podman", "runc"], check=True, timeout=600,
                       env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"}, capture_output=True)
    WORK.mkdir(parents=True, exist_ok=True)
    (WORK / "storage.conf").write_text(
        f'[storage]\ndriver = "vfs"\nrunroot = "{WORK}/run"\ngraphroot = "{WORK}/graph"\n')
    (WORK / "containers.conf").write_text("[containers]\ndefault_ulimits = []\n")


def base_image() -> str:
    """The debootstrap root file system as a local image (imported once per cache key)."""
    rootfs = ensure_rootfs()
    tag = f"localhost/wdbot-base:{rootfs.name.removeprefix('rootfs-')}"
    if podman("image", "exists", tag, check=False).returncode != 0:
        say(f"importing {rootfs} as {tag}")
        tar = subprocess.run(["tar", "-C", str(rootfs), "-c", "."], capture_output=True, check=True,
                             timeout=300)
        podman("import", "-", tag, stdin=tar.stdout, timeout=300)
    return tag


def build(base: str, source: Path) -> tuple[str, float]:
    """The image from the Containerfile (a staged context: the package only)."""
    with tempfile.TemporaryDirectory(prefix="wdbot-image-") as ctx:
        for name in ("pyproject.toml", "README.md", "LICENSE"):
            shutil.copy2(source / name, Path(ctx) / name)
        shutil.copytree(source / "watchdog_runtime", Path(ctx) / "watchdog_runtime",
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        started = time.monotonic()
        podman("build", "--format", "docker", "--network", "none", "--build-arg", f"BASE={base}",
               "--build-arg", "PIP_ARGS=--no-deps --no-index", "-f",
               str(source / "deploy/container/Containerfile"), "-t", "localhost/wdbot:fleet-check", ctx,
               timeout=600)
    return "localhost/wdbot:fleet-check", time.monotonic() - started


def stage_bots(folder: Path, count: int) -> list[str]:
    """The bots and the up-file mounted at /bots, and the folder they write to (/out)."""
    (folder / "bots").mkdir(parents=True)
    (folder / "out").mkdir()
    os.chmod(folder / "out", 0o777)  # the image's user (uid 10001) writes there
    (folder / "bots" / "ticker.py").write_text(BOT)
    names = [f"b{i:02d}" for i in range(count)]
    (folder / "bots" / "wdbot.toml").write_text("".join(
        f'[bots.{n}]\npath = "ticker.py"\nargs = ["{n}"]\n\n' for n in names))
    return names


def wait_for(probe: Callable[[], T | None], bound_s: float, every_s: float = 0.1) -> T | None:
    """``probe()`` once it is truthy, or None after ``bound_s``."""
    end = time.monotonic() + bound_s
    while True:
        found = probe()
        if found or time.monotonic() > end:
            return found or None
        time.sleep(every_s)


STATUS = """
import json
from watchdog_runtime.cli.client import ask_quietly
from watchdog_runtime.common.home import Home
print(json.dumps(ask_quietly(Home.from_env(), "status", timeout_s=20.0) or {}))
"""
"""The supervisor's status, never launching one: ``wdbot status`` starts a supervisor when
none answers, and one it started (no --tee-logs, not PID 1's) stood in for the one PID 1
starts again after the kill (the run of 2026-12-02 timed that one's adoption)."""


def status() -> dict[str, Any]:
    done = podman("exec", NAME, "python3", "-c", STATUS, check=False, timeout=30)
    try:
        return dict(json.loads(done.stdout))
    except ValueError:
        return {}


def parent_of(pid: int) -> str:
    """The parent pid of a process inside the container, from its /proc."""
    done = podman("exec", NAME, "python3", "-c", f"print(open('/proc/{pid}/stat').read().rsplit(')', 1)[1]"
                  ".split()[1])", check=False, timeout=30)
    return done.stdout.strip() or "?"


def pids_of(snapshot: dict[str, Any]) -> dict[str, int]:
    return {b["name"]: b["pid"] for b in snapshot.get("bots", []) if b.get("state") == "running"}


def verdict(steps: list[dict[str, Any]], step: str, ok: bool, evidence: str) -> bool:
    steps.append({"step": step, "status": "pass" if ok else "fail", "evidence": evidence})
    say(f"{'PASS' if ok else 'FAIL'} {step}: {evidence[:300]}")
    return ok


def boot(steps: list[dict[str, Any]], image: str, folder: Path, names: list[str]) -> float | None:
    """``podman run``: seconds until every bot wrote its start file."""
    started = time.monotonic()
    podman("run", "-d", "--name", NAME, "--network", "none", "-v", f"{NAME}-home:/var/lib/wdbot",
           "-v", f"{NAME}-uv:/var/cache/uv", "-v", f"{folder / 'bots'}:/bots:ro",
           "-v", f"{folder / 'out'}:/out", image, "--up", "/bots/wdbot.toml", "--tee-logs")
    out = folder / "out"
    up = wait_for(lambda: all((out / f"{n}.started").exists() for n in names), 240, 0.05)
    took = time.monotonic() - started
    snap = status()
    user = podman("exec", NAME, "id", "-un", check=False).stdout.strip()
    running = pids_of(snap)
    ok = bool(up) and len(running) == len(names) and user == "wdbot"
    verdict(steps, "boot", ok, f"{len(running)}/{len(names)} bots running {took:.1f} s after podman run "
            f"(every bot's start file: {bool(up)}); supervisor pid "
            f"{(snap.get('supervisor') or {}).get('pid')}"
            f" as user {user!r}")
    return took if ok else None


def kill_supervisor(steps: list[dict[str, Any]], names: list[str]) -> float | None:
    """kill -9 of the supervisor: the init (PID 1) starts the next, which adopts every bot."""
    before = status()
    old, bots = (before.get("supervisor") or {}).get("pid"), pids_of(before)
    started = time.monotonic()
    podman("exec", NAME, "python3", "-c", f"import os, signal; os.kill({old}, signal.SIGKILL)")
    snap = wait_for(lambda: (s := status()) and (s.get("supervisor") or {}).get("pid") not in (None, old)
                    and pids_of(s) == bots and s, 60, 0.2)
    took = time.monotonic() - started
    new = (snap or {}).get("supervisor", {}).get("pid")
    parent = parent_of(int(new)) if new else "?"
    ok = snap is not None and len(bots) == len(names) and parent == "1"
    verdict(steps, "kill_supervisor", ok,
            f"supervisor {old} killed (SIGKILL); {new}, started by pid {parent} (PID 1: the init), "
            f"adopted {len(pids_of(snap or {}))}/{len(bots)} bots with the same pids, {took:.1f} s after "
            "the kill (PID 1 waits 1 s before it starts the next)")
    return took if ok else None


def stop(steps: list[dict[str, Any]], folder: Path, names: list[str]) -> float | None:
    """podman stop: every bot's on_shutdown ran, after the stop signal, before the end."""
    started = time.monotonic()
    podman("stop", "-t", str(STOP_GRACE_S), NAME, timeout=STOP_GRACE_S + 30)
    took = time.monotonic() - started
    state = json.loads(podman("inspect", NAME).stdout)[0]["State"]
    notes = {n: folder / "out" / f"{n}.shutdown" for n in names}
    said = {n: note.read_text() if note.exists() else None for n, note in notes.items()}
    clean = [n for n, text in said.items() if text == "stopping=True"]
    ok = len(clean) == len(names) and not state.get("Running") and state.get("ExitCode") in (0, 143)
    verdict(steps, "podman_stop", ok,
            f"podman stop took {took:.1f} s; container exit {state.get('ExitCode')} (OOMKilled "
            f"{state.get('OOMKilled')}); on_shutdown ran after the stop signal in {len(clean)}/{len(names)}"
            f" bots{'' if ok else f': {said}'}")
    return took if ok else None


def logs(steps: list[dict[str, Any]], names: list[str]) -> None:
    """Every tick line a bot wrote to its log file (in the home's volume) is in ``podman
    logs``, as ``NAME | line``: also those written while no supervisor ran (the kill)."""
    done = podman("logs", NAME, check=False)
    lines = (done.stdout + done.stderr).splitlines()
    seen = {n for n in names if any(line.startswith(f"{n} | {n} tick") for line in lines)}
    home = Path(podman("volume", "inspect", f"{NAME}-home", "--format", "{{.Mountpoint}}").stdout.strip())
    teed, written, missing = set(lines), 0, []
    for n in names:
        try:
            ticks = [x for x in (home / "bots" / n / "logs" / "stdout.log").read_text().splitlines()
                     if x.startswith(f"{n} tick")]
        except OSError:
            ticks = []
        written += len(ticks)
        missing += [f"{n} | {x}" for x in ticks if f"{n} | {x}" not in teed]
    twice = sum(1 for x in lines if " tick " in x) - (written - len(missing))
    example = next((line for line in lines if " tick " in line), "")
    verdict(steps, "podman_logs", len(seen) == len(names) and written > 0 and not missing,
            f"{len(seen)}/{len(names)} bots' lines in podman logs ({len(lines)} lines), e.g. {example!r}; "
            f"of the {written} tick lines in the bots' log files, {len(missing)} missing there"
            f"{f' (e.g. {missing[:3]})' if missing else ''}, {twice} teed twice (after the kill -9)")


def clean_up(image: bool = False) -> None:
    """The check's container and volumes (a killed check's too, at the next start); the
    image at the end (vfs keeps whole copies of every layer: gigabytes)."""
    podman("rm", "-f", "-t", "0", NAME, check=False)
    podman("volume", "rm", "-f", f"{NAME}-home", f"{NAME}-uv", check=False)
    if image:
        podman("rmi", "-f", "localhost/wdbot:fleet-check", check=False)


def check(source: Path, count: int, keep: bool) -> dict[str, Any]:
    prepare()
    clean_up()
    steps: list[dict[str, Any]] = []
    folder = Path(tempfile.mkdtemp(prefix="run-", dir=WORK))
    figures: dict[str, Any] = {"bots": count}
    try:
        image, figures["build_s"] = build(base_image(), source)
        labels = podman("inspect", image).stdout.count("org.opencontainers")
        verdict(steps, "build", True, f"{image} built from deploy/container/Containerfile in "
                f"{figures['build_s']:.0f} s: {labels} OCI label lines")
        names = stage_bots(folder, count)
        figures["boot_to_running_s"] = boot(steps, image, folder, names)
        if figures["boot_to_running_s"] is not None:
            figures["adoption_s"] = kill_supervisor(steps, names)
            figures["stop_s"] = stop(steps, folder, names)
            logs(steps, names)
    except (RuntimeError, subprocess.SubprocessError) as exc:
        verdict(steps, "podman", False, str(exc))
    finally:
        if not keep:
            clean_up(image=True)
            shutil.rmtree(folder, ignore_errors=True)
    return {"steps": steps, "figures": figures}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bots", type=int, default=20, help="bots in the up-file (default 20)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the verdicts there")
    parser.add_argument("--keep", action="store_true", help="keep the container and run folder")
    ns = parser.parse_args(argv)
    if not 1 <= ns.bots <= 200:
        say(f"--bots {ns.bots}: give 1 to 200")
        return 2
    try:
        results = check(REPO, ns.bots, ns.keep)
    except CannotRun as exc:
        say(f"cannot run here: {exc}")
        if ns.json:
            ns.json.write_text(json.dumps({"cannot_run": str(exc)}))
        return 3
    if ns.json:
        ns.json.write_text(json.dumps(results, indent=1))
    return 1 if any(s["status"] == "fail" for s in results["steps"]) else 0


if __name__ == "__main__":
    sys.exit(main())
