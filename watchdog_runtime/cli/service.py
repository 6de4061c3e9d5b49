"""``wdbot service``: the supervisor of a home as a systemd unit (Linux) or a launchd job
(macOS). Rendering is pure (a :class:`ServiceSpec` in, ``(path, text)`` out); writing the
file and asking systemctl or launchctl to load it are a separate step that says exactly
what it ran, or what the user should run.

The unit runs ``wdbot daemon`` for the home: restarted always (a crash, a hand-over by
``shutdown --keep-bots``, ``wdbot shutdown``: the bots a shutdown held stay down at every
later start, ``states.Hold``, and commands keep finding the unit's supervisor rather than
launching one outside its cgroup), ``Type=notify`` (the daemon
sends READY and WATCHDOG pings), and ``KillMode=process`` (launchd: ``AbandonProcessGroup``)
so that a restarted supervisor adopts the bots the old one left running; ``systemctl stop``
still stops the bots, through the daemon's own graceful shutdown. ``Delegate=yes`` hands the
unit's cgroup to the supervisor, which gives each bot a cgroup of its own (``cgroups``).
"""

from __future__ import annotations

import os
import plistlib
import shlex
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from ..common.manager import HANDOVER_EXIT, own_unit

WATCHDOG_S = 60
"""systemd kills and restarts a supervisor that stops pinging for this long."""
STOP_TIMEOUT_S = 120
"""Room for the daemon to stop every bot gracefully before systemd's SIGKILL."""


@dataclass(frozen=True)
class ServiceSpec:
    """Everything a unit file depends on; the renderers read nothing else."""

    home: Path
    home_id: str
    python: str
    system: bool = False
    user: str | None = None
    """The account a system unit runs as (``--system``)."""
    metrics: str | None = None
    """``HOST:PORT`` for the daemon's Prometheus endpoint, or None."""
    web: str | None = None
    """Set (``HOST:PORT``): this is the unit of ``wdbot web`` for the home, not the daemon's."""
    systemd_version: int | None = None
    """The host's systemd (``service install`` asks it); None: unknown, every key written."""
    telegram: bool = False
    """This is the unit of ``wdbot telegram`` for the home (issue 27)."""

    @property
    def companion(self) -> str | None:
        """``web`` or ``telegram`` for a unit of its own beside the supervisor's, else None."""
        return "web" if self.web else "telegram" if self.telegram else None

    @property
    def name(self) -> str:
        return f"wdbot-{self.home_id[:8]}{'-' + self.companion if self.companion else ''}"

    @property
    def label(self) -> str:
        """launchd's name for the job."""
        return f"io.wdbot.{self.home_id[:8]}{'.' + self.companion if self.companion else ''}"

    @property
    def command(self) -> list[str]:
        if self.telegram:
            return [self.python, "-m", "watchdog_runtime", "telegram"]
        if self.web:
            return [self.python, "-m", "watchdog_runtime", "web", "--listen", self.web]
        return [self.python, "-m", "watchdog_runtime", "daemon",
                *(["--metrics", self.metrics] if self.metrics else [])]

    def web_unit(self, listen: str) -> ServiceSpec:
        """The spec of the dashboard's own unit beside this supervisor's."""
        from dataclasses import replace

        return replace(self, metrics=None, web=listen)

    def telegram_unit(self) -> ServiceSpec:
        """The spec of ``wdbot telegram``'s own unit beside this supervisor's."""
        from dataclasses import replace

        return replace(self, metrics=None, web=None, telegram=True)


def systemd_unit(spec: ServiceSpec) -> str:
    """The unit file's text.

    >>> text = systemd_unit(ServiceSpec(Path("/srv/bots"), "0123456789abcdef", "/usr/bin/python3"))
    >>> "KillMode=process" in text and "ExecStart=/usr/bin/python3 -m watchdog_runtime daemon" in text
    True
    """
    if spec.companion:
        return _systemd_web_unit(spec)
    lines = [
        "[Unit]",
        f"Description=wdbot supervisor for {spec.home}",
        "Documentation=https://github.com/wdbot/wdbot#readme",
        "After=network-online.target",
        "Wants=network-online.target",
        "",
        "[Service]",
        "Type=notify",
        "NotifyAccess=main",
        f"ExecStart={' '.join(_systemd_quote(arg) for arg in spec.command)}",
        "Environment=" + _systemd_quote(f"WDBOT_HOME={spec.home}"),
        "# Restarted whenever it exits: a crash, kill -9, the watchdog, a hand-over",
        "# ('shutdown --keep-bots', exit 75, no failure) and 'wdbot shutdown' too, whose held",
        "# bots no supervisor starts again (only wdbot start/restart/up); systemctl stop stops it.",
        "Restart=always",
        f"SuccessExitStatus={HANDOVER_EXIT}",
        "RestartSec=2",
        "# Bots outlive a supervisor restart; the next supervisor adopts them.",
        "KillMode=process",
        "# One cgroup per bot, made by the supervisor inside the unit's: stop kills exactly the bot.",
        *_delegation(spec.systemd_version),
        f"TimeoutStopSec={STOP_TIMEOUT_S}",
        f"WatchdogSec={WATCHDOG_S}",
    ]
    if spec.system:
        lines.append(f"User={spec.user}")
    lines += ["", "[Install]", f"WantedBy={'multi-user.target' if spec.system else 'default.target'}", ""]
    return "\n".join(lines)


SUBGROUP_SINCE = 254
"""The first systemd that knows ``DelegateSubgroup=`` (older ones warn at every daemon-reload)."""


def _delegation(version: int | None) -> list[str]:
    """The unit's delegation keys, only those the host's systemd knows."""
    if version is not None and version < SUBGROUP_SINCE:
        return ["# systemd < 254 starts the supervisor at the top of its cgroup: it enables no",
                "# controllers there (a restarted service would be refused), and a bot's",
                "# --max-memory is a transient systemd scope of its own (systemd-run --scope).",
                "Delegate=yes"]
    return ["# systemd >= 254 starts the supervisor in a leaf, so it may enable the memory controller",
            "# for the bots and still be restarted (older versions ignore the key, and it does not).",
            "Delegate=yes",
            "DelegateSubgroup=supervisor"]


def systemd_version(runner: Runner) -> int | None:
    """The running systemd's version (``systemctl --version``: "systemd 252 (252.39-1)"), or None."""
    try:
        first = runner(["systemctl", "--version"]).stdout.split("\n", 1)[0].split()
    except (OSError, subprocess.SubprocessError):
        return None
    return int(first[1]) if len(first) > 1 and first[0] == "systemd" and first[1].isdigit() else None


def _systemd_web_unit(spec: ServiceSpec) -> str:
    """``wdbot web`` (or ``wdbot telegram``) as a plain service: its own process, restarted
    always, after the supervisor's unit (it only talks to it; either runs without the other).
    A usage error (exit 2: no chat allowed, say) is not restarted: it needs a person."""
    supervisor = f"wdbot-{spec.home_id[:8]}.service"
    what = "Telegram chat control" if spec.telegram else "web dashboard"
    lines = [
        "[Unit]",
        f"Description=wdbot {what} for {spec.home}",
        f"After={supervisor}",
        "",
        "[Service]",
        "Type=simple",
        f"ExecStart={' '.join(_systemd_quote(arg) for arg in spec.command)}",
        "Environment=" + _systemd_quote(f"WDBOT_HOME={spec.home}"),
        "Restart=always",
        "RestartSec=2",
        *(["RestartPreventExitStatus=2"] if spec.telegram else []),
        *([f"User={spec.user}"] if spec.system else []),
        "",
        "[Install]",
        f"WantedBy={'multi-user.target' if spec.system else 'default.target'}",
        "",
    ]
    return "\n".join(lines)


def _systemd_quote(arg: str) -> str:
    return f'"{arg}"' if any(c in arg for c in ' "\\') else arg


def launchd_plist(spec: ServiceSpec) -> bytes:
    """The launchd job (rendered with plistlib).

    >>> spec = ServiceSpec(Path("/Users/me/bots"), "0123456789abcdef", "/usr/bin/python3")
    >>> job = plistlib.loads(launchd_plist(spec))
    >>> job["Label"], job["KeepAlive"], job["AbandonProcessGroup"]
    ('io.wdbot.01234567', True, True)
    """
    log = str(spec.home / (f"{spec.companion}.log" if spec.companion else "supervisor.log"))
    job: dict[str, object] = {
        "Label": spec.label,
        "ProgramArguments": spec.command,
        "EnvironmentVariables": {"WDBOT_HOME": str(spec.home)},
        "RunAtLoad": True,
        "KeepAlive": True,  # like Restart=always: a held bot stays down at any start anyway
        "AbandonProcessGroup": not spec.companion,  # bots outlive a supervisor restart, like KillMode=process
        "ExitTimeOut": STOP_TIMEOUT_S,
        "ProcessType": "Background",
        "StandardOutPath": log,
        "StandardErrorPath": log,
    }
    if spec.system:
        job["UserName"] = spec.user
    return plistlib.dumps(job, sort_keys=True)


def unit_path(spec: ServiceSpec, platform: str, user_home: Path, config_home: Path) -> Path:
    """Where the unit goes for this platform and scope."""
    if platform == "darwin":
        folder = Path("/Library/LaunchDaemons") if spec.system else user_home / "Library/LaunchAgents"
        return folder / f"{spec.label}.plist"
    folder = Path("/etc/systemd/system") if spec.system else config_home / "systemd/user"
    return folder / f"{spec.name}.service"


def render(spec: ServiceSpec, platform: str) -> bytes:
    return launchd_plist(spec) if platform == "darwin" else systemd_unit(spec).encode()


# ------------------------------------------------------------ loading it
Runner = Callable[[Sequence[str]], "subprocess.CompletedProcess[str]"]


def run(argv: Sequence[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=60, check=False)


def activation(spec: ServiceSpec, platform: str, path: Path, uid: int) -> list[list[str]]:
    """The commands that load and start the installed unit."""
    if platform == "darwin":
        domain = "system" if spec.system else f"gui/{uid}"
        return [["launchctl", "bootstrap", domain, str(path)]]
    scope = [] if spec.system else ["--user"]
    return [["systemctl", *scope, "daemon-reload"],
            ["systemctl", *scope, "enable", "--now", f"{spec.name}.service"]]


def deactivation(spec: ServiceSpec, platform: str, path: Path, uid: int) -> list[list[str]]:
    if platform == "darwin":
        domain = "system" if spec.system else f"gui/{uid}"
        return [["launchctl", "bootout", domain, str(path)]]
    scope = [] if spec.system else ["--user"]
    return [["systemctl", *scope, "disable", "--now", f"{spec.name}.service"],
            ["systemctl", *scope, "daemon-reload"]]


def manager_available(spec: ServiceSpec, platform: str, runner: Runner = run) -> str | None:
    """None when the service manager can take the unit now; else why not, for people."""
    if platform == "darwin":
        try:
            return None if runner(["launchctl", "version"]).returncode == 0 else "launchctl does not answer"
        except (OSError, subprocess.SubprocessError):
            return "launchctl was not found"
    scope = [] if spec.system else ["--user"]
    try:
        state = runner(["systemctl", *scope, "is-system-running"]).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "systemctl was not found (no systemd here, as in most containers)"
    if state in ("", "offline", "unknown"):
        which = "systemctl" if spec.system else "systemctl --user"
        return (f"systemd {'' if spec.system else 'user manager '}is not running here "
                f"({which} is-system-running: {state or 'no answer'})")
    return None


class ServiceError(Exception):
    """The unit could not be written or removed; the message says what to do."""


def install(spec: ServiceSpec, platform: str, path: Path, uid: int, runner: Runner = run) -> list[str]:
    """Write the unit and load it when the service manager is there; the lines to print
    (what was done, or exactly what to run)."""
    from ..common.durable import atomic_write_bytes

    if platform != "darwin" and spec.systemd_version is None:
        spec = replace(spec, systemd_version=systemd_version(runner))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, render(spec, platform), mode=0o644)
    except PermissionError:
        raise ServiceError(f"cannot write {path}: permission denied; a --system unit needs root "
                           f"(sudo wdbot service install --system)") from None
    lines = [f"wrote {path}"]
    commands = activation(spec, platform, path, uid)
    why_not = manager_available(spec, platform, runner)
    if why_not is None:
        for argv in commands:
            done = runner(argv)
            lines.append(f"ran: {shell_line(argv)} (exit {done.returncode})")
            if done.returncode != 0:
                raise ServiceError(f"{shell_line(argv)} failed: {(done.stderr or done.stdout).strip()}")
    else:
        lines.append(f"not started: {why_not}. To start it where the service manager runs:")
        lines += [f"  {shell_line(argv)}" for argv in commands]
    if platform != "darwin" and not spec.system:
        lines.append("so that it starts at boot and survives logging out: loginctl enable-linger "
                     + (spec.user or "$USER"))
    return lines


def uninstall(spec: ServiceSpec, platform: str, path: Path, uid: int, runner: Runner = run) -> list[str]:
    """Stop and remove the unit; the lines to print."""
    if not path.exists():
        raise ServiceError(f"no unit at {path}: nothing to uninstall")
    lines = []
    if manager_available(spec, platform, runner) is None:
        for argv in deactivation(spec, platform, path, uid):
            lines.append(f"ran: {shell_line(argv)} (exit {runner(argv).returncode})")
    try:
        path.unlink()
    except PermissionError:
        raise ServiceError(f"cannot remove {path}: permission denied; use sudo") from None
    lines.append(f"removed {path}")
    return lines


def running_note(spec: ServiceSpec, platform: str, ping: Mapping[str, object] | None) -> str | None:
    """What ``service install`` says about the supervisor that answers once the unit is
    loaded (its ``ping`` reply, or None): nothing when it is the unit's own, which the
    install has just started (issue 23, point 11: it was called "outside the service").
    The supervisor says which unit it runs as (``common.manager``: ``INVOCATION_ID``, its
    cgroup's ``NAME.service``, systemd its parent; launchd's label); one that does not
    (an older version, a shell's ``wdbot daemon``) is outside.

    >>> spec = ServiceSpec(Path("/srv/bots"), "0123456789abcdef", "/usr/bin/python3")
    >>> running_note(spec, "linux", {"pid": 9, "manager": {"kind": "systemd",
    ...                                                   "unit": "wdbot-01234567.service"}}) is None
    True
    >>> running_note(spec, "linux", {"pid": 9, "manager": {"kind": "none", "unit": None}})[:40]
    'a supervisor (pid 9) already runs for th'
    """
    if ping is None:
        return None
    expected = spec.label if platform == "darwin" else f"{spec.name}.service"
    if own_unit(ping, expected):
        return None
    return (f"a supervisor (pid {ping.get('pid')}) already runs for this home outside the service, "
            f"so the service's cannot start: run 'wdbot shutdown --keep-bots', then "
            f"'{shell_line(restart_command(spec, platform, os.getuid()))}' (its supervisor adopts the bots)")


def restart_command(spec: ServiceSpec, platform: str, uid: int) -> list[str]:
    """The command that (re)starts the installed unit now."""
    if platform == "darwin":
        domain = "system" if spec.system else f"gui/{uid}"
        return ["launchctl", "kickstart", "-k", f"{domain}/{spec.label}"]
    return ["systemctl", *([] if spec.system else ["--user"]), "restart", f"{spec.name}.service"]


def shell_line(argv: Sequence[str]) -> str:
    return " ".join(shlex.quote(a) for a in argv)
