"""The root file system of ``make systemd-check``: Debian bookworm (minbase) with systemd 252,
dbus and python3, a venv at /opt/wdbot holding wdbot's dependencies, and the oneshot unit
that runs ``systemd_scenario`` at boot. Built once with debootstrap and cached outside the
repository, under a key hashed from everything it is made of; a second run reuses it.

The Debian mirror is the one apt uses on this machine (its sources list): no host name is
written here. pip inside the root file system reaches PyPI with the host's certificate
bundle bound in (the root file system's own lacks the authority the connections here are
signed by, see /work/shared/ENGINES.md); wdbot itself is installed offline at each run.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

SUITE = "bookworm"
PACKAGES = ("systemd", "systemd-sysv", "dbus", "python3", "python3-venv")
HOST_PACKAGES = {"systemd-nspawn": "systemd-container", "debootstrap": "debootstrap"}
HOST_CA = Path("/etc/ssl/certs/ca-certificates.crt")
CACHE = Path(os.environ.get("WDBOT_SYSTEMD_CACHE", "/var/cache/wdbot-systemd"))
REPO = Path(__file__).resolve().parent.parent
CHECK_DIR = "/wdbot-check"
"""Where the run's folder (scenario, wdbot's source, results) is bound inside."""
CHECK_UNIT = f"""[Unit]
Description=wdbot systemd-check scenario
ConditionPathExists={CHECK_DIR}/scenario.py

[Service]
Type=oneshot
ExecStart=/usr/bin/python3 {CHECK_DIR}/scenario.py {CHECK_DIR}
StandardOutput=append:{CHECK_DIR}/scenario.log
StandardError=append:{CHECK_DIR}/scenario.log
TimeoutStartSec=600

[Install]
WantedBy=multi-user.target
"""
NSPAWN = ("systemd-nspawn", "--register=no", "--keep-unit", "--console=pipe", "--quiet")
"""The host runs no systemd: no machined to register with, no unit of our own."""


class CannotRun(Exception):
    """The check cannot run on this machine; the message says why (a reason to skip)."""


def say(line: str) -> None:
    print(f"systemd-check: {line}", file=sys.stderr, flush=True)


def ensure_host_tools() -> None:
    """systemd-nspawn and debootstrap, installed with apt when missing (root only)."""
    missing = sorted({pkg for tool, pkg in HOST_PACKAGES.items() if shutil.which(tool) is None})
    if not missing:
        return
    if os.geteuid() != 0:
        raise CannotRun(f"{', '.join(missing)} missing and not root to install them")
    if shutil.which("apt-get") is None:
        raise CannotRun(f"{', '.join(missing)} missing and no apt-get to install them")
    say(f"installing {' '.join(missing)} with apt-get")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for argv in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", *missing]):
        done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=600, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} failed: {done.stderr.strip()[-800:]}")


def debian_mirror() -> str:
    """The URI of apt's own Debian archive (not the security one) on this machine, or the
    one ``WDBOT_SYSTEMD_MIRROR`` names."""
    if os.environ.get("WDBOT_SYSTEMD_MIRROR"):
        return os.environ["WDBOT_SYSTEMD_MIRROR"]
    stanzas = []
    for path in sorted(Path("/etc/apt/sources.list.d").glob("*.sources")):
        stanzas += path.read_text().split("\n\n")
    for stanza in stanzas:
        fields = dict(re.findall(r"^(\w[\w-]*):[ \t]*(.*)$", stanza, re.M))
        suites = fields.get("Suites", "").split()
        if any(s.endswith("-security") for s in suites) or not fields.get("URIs"):
            continue
        if "debian" in fields["URIs"]:
            return fields["URIs"].split()[0]
    for path in [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*.list"))]:
        text = path.read_text() if path.exists() else ""
        for uri, suite in re.findall(r"^deb\s+(?:\[[^]]*\]\s+)?(\S*debian\S*)\s+(\S+)", text, re.M):
            if not suite.endswith("-security"):
                return str(uri)
    raise CannotRun("no Debian archive in apt's sources list to debootstrap from "
                    "(set WDBOT_SYSTEMD_MIRROR to one)")


def dependencies() -> list[str]:
    """wdbot's own requirements, from the worktree's pyproject.toml."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    return [str(dep) for dep in project["dependencies"]]


def cache_key() -> str:
    """Changes whenever the root file system would come out different."""
    recipe = {"suite": SUITE, "packages": PACKAGES, "unit": CHECK_UNIT, "deps": dependencies(),
              "python": ["setuptools>=77"], "layout": 1}
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:16]


def ensure_rootfs(build: bool = True) -> Path:
    """The cached root file system, built first when missing (under a lock: one builder)."""
    key = cache_key()
    rootfs = CACHE / f"rootfs-{key}"
    if (rootfs / ".wdbot-check-ready").exists():
        return rootfs
    if not build:
        raise CannotRun(f"no root file system in {CACHE} (make systemd-rootfs builds it)")
    if os.geteuid() != 0:
        raise CannotRun("building the root file system (debootstrap) needs root")
    ensure_host_tools()
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a second builder waits, then finds it ready
        if not (rootfs / ".wdbot-check-ready").exists():
            _build(rootfs, key)
    return rootfs


def _build(rootfs: Path, key: str) -> None:
    """Built beside (``.new``) and renamed into place complete: a killed build is never used."""
    new = rootfs.with_name(rootfs.name + ".new")
    started = time.monotonic()
    if not (new / ".wdbot-debootstrapped").exists():  # else an earlier build's, complete: reused
        shutil.rmtree(new, ignore_errors=True)
        mirror = debian_mirror()
        say(f"building the root file system {rootfs} (debootstrap {SUITE} from {mirror}, about a minute)")
        _run(["debootstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}", SUITE, str(new),
              mirror], 900)
        (new / ".wdbot-debootstrapped").touch()
    (new / "etc/systemd/system/wdbot-check.service").write_text(CHECK_UNIT)
    wants = new / "etc/systemd/system/multi-user.target.wants"
    wants.mkdir(parents=True, exist_ok=True)
    (wants / "wdbot-check.service").unlink(missing_ok=True)
    (wants / "wdbot-check.service").symlink_to("/etc/systemd/system/wdbot-check.service")
    (new / "etc/hostname").write_text("wdbot-check\n")
    say("installing wdbot's dependencies in /opt/wdbot inside it (pip, from PyPI)")
    pip = "/opt/wdbot/bin/pip install --quiet --disable-pip-version-check"
    script = (f"python3 -m venv /opt/wdbot && {pip} --upgrade pip && {pip} 'setuptools>=77' "
              + " ".join(shlex.quote(dep) for dep in dependencies()))
    inside_ca = "/etc/ssl/certs/wdbot-host-ca.crt"
    ca = [f"--bind-ro={HOST_CA}:{inside_ca}", f"--setenv=PIP_CERT={inside_ca}"] if HOST_CA.exists() else []
    _run([*NSPAWN, "-D", str(new), *ca, "--", "/bin/sh", "-c", script], 900)
    (new / ".wdbot-check-ready").write_text(key + "\n")
    os.rename(new, rootfs)
    for old in CACHE.glob("rootfs-*"):  # earlier recipes: 300 MB each, unless a run is on one
        if old != rootfs and f"lowerdir={old}," not in Path("/proc/self/mountinfo").read_text():
            shutil.rmtree(old, ignore_errors=True)
    say(f"root file system ready in {time.monotonic() - started:.0f} s")


def _run(argv: list[str], timeout_s: float) -> None:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{argv[0]} failed (exit {done.returncode}): "
                           f"{(done.stderr or done.stdout).strip()[-1500:]}")
