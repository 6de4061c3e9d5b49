"""Service units: golden text, systemd-analyze's verdict, the plist, and the install steps
driven with a scripted service manager."""

from __future__ import annotations

import plistlib
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest

from watchdog_runtime.cli import service
from watchdog_runtime.cli.service import ServiceError, ServiceSpec

SPEC = ServiceSpec(Path("/srv/my bots"), "0123456789abcdef", "/usr/bin/python3")

USER_UNIT = """\
[Unit]
Description=wdbot supervisor for /srv/my bots
Documentation=https://github.com/wdbot/wdbot#readme
After=network-online.target
Wants=network-online.target

[Service]
Type=notify
NotifyAccess=main
ExecStart=/usr/bin/python3 -m watchdog_runtime daemon
Environment="WDBOT_HOME=/srv/my bots"
# Restarted whenever it exits: a crash, kill -9, the watchdog, a hand-over
# ('shutdown --keep-bots', exit 75, no failure) and 'wdbot shutdown' too, whose held
# bots no supervisor starts again (only wdbot start/restart/up); systemctl stop stops it.
Restart=always
SuccessExitStatus=75
RestartSec=2
# Bots outlive a supervisor restart; the next supervisor adopts them.
KillMode=process
# One cgroup per bot, made by the supervisor inside the unit's: stop kills exactly the bot.
# systemd >= 254 starts the supervisor in a leaf, so it may enable the memory controller
# for the bots and still be restarted (older versions ignore the key, and it does not).
Delegate=yes
DelegateSubgroup=supervisor
TimeoutStopSec=120
WatchdogSec=60

[Install]
WantedBy=default.target
"""


def test_the_user_unit_golden_text() -> None:
    assert service.systemd_unit(SPEC) == USER_UNIT


def test_the_system_unit_runs_as_the_user() -> None:
    system = ServiceSpec(SPEC.home, SPEC.home_id, SPEC.python, system=True, user="trader")
    text = service.systemd_unit(system)
    assert text == USER_UNIT.replace("WatchdogSec=60\n", "WatchdogSec=60\nUser=trader\n").replace(
        "WantedBy=default.target", "WantedBy=multi-user.target")


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze on this machine")
def test_systemd_analyze_verifies_the_unit(tmp_path: Path) -> None:
    import sys

    spec = ServiceSpec(tmp_path / "home dir", "0123456789abcdef", sys.executable)
    unit = tmp_path / f"{spec.name}.service"
    unit.write_text(service.systemd_unit(spec))
    done = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    # No complaint about our unit, but that systemd < 254 does not know DelegateSubgroup yet.
    complaints = [line for line in done.stderr.splitlines()
                  if "wdbot" in line and "Unknown key 'DelegateSubgroup'" not in line]
    assert complaints == []


def test_the_launchd_job() -> None:
    job = plistlib.loads(service.launchd_plist(SPEC))
    assert job == {
        "Label": "io.wdbot.01234567",
        "ProgramArguments": ["/usr/bin/python3", "-m", "watchdog_runtime", "daemon"],
        "EnvironmentVariables": {"WDBOT_HOME": "/srv/my bots"}, "RunAtLoad": True,
        "KeepAlive": True,
        "AbandonProcessGroup": True, "ExitTimeOut": 120, "ProcessType": "Background",
        "StandardOutPath": "/srv/my bots/supervisor.log", "StandardErrorPath": "/srv/my bots/supervisor.log",
    }
    system = plistlib.loads(service.launchd_plist(ServiceSpec(SPEC.home, SPEC.home_id, SPEC.python,
                                                              system=True, user="trader")))
    assert system["UserName"] == "trader"


def test_metrics_reach_the_daemons_command_line() -> None:
    spec = ServiceSpec(SPEC.home, SPEC.home_id, SPEC.python, metrics="0.0.0.0:9464")
    assert "ExecStart=/usr/bin/python3 -m watchdog_runtime daemon --metrics 0.0.0.0:9464" in \
        service.systemd_unit(spec)


def test_where_units_go() -> None:
    home, config = Path("/home/me"), Path("/home/me/.config")
    assert service.unit_path(SPEC, "linux", home, config) == config / "systemd/user/wdbot-01234567.service"
    system = ServiceSpec(SPEC.home, SPEC.home_id, SPEC.python, system=True, user="x")
    assert service.unit_path(system, "linux", home, config) == \
        Path("/etc/systemd/system/wdbot-01234567.service")
    assert service.unit_path(SPEC, "darwin", home, config) == \
        home / "Library/LaunchAgents/io.wdbot.01234567.plist"


class Manager:
    """A scripted systemctl: answers and records."""

    def __init__(self, state: str = "running", fail: str | None = None, version: str = "") -> None:
        self.state, self.fail, self.ran, self.version = state, fail, [], version

    def __call__(self, argv: Sequence[str]) -> subprocess.CompletedProcess[str]:
        self.ran.append(list(argv))
        if "--version" in argv:
            return subprocess.CompletedProcess(argv, 0, self.version, "")
        if "is-system-running" in argv:
            return subprocess.CompletedProcess(argv, 0, self.state + "\n", "")
        code = 1 if self.fail and self.fail in argv else 0
        return subprocess.CompletedProcess(argv, code, "", "Failed to connect to bus" if code else "")


def test_install_loads_the_unit_when_systemd_runs(tmp_path: Path) -> None:
    path = tmp_path / "systemd/user/wdbot-01234567.service"
    manager = Manager()
    lines = service.install(SPEC, "linux", path, 1000, manager)
    assert path.read_text() == USER_UNIT and oct(path.stat().st_mode & 0o777) == "0o644"
    assert manager.ran[2:] == [["systemctl", "--user", "daemon-reload"],
                               ["systemctl", "--user", "enable", "--now", "wdbot-01234567.service"]]
    assert lines[1:3] == ["ran: systemctl --user daemon-reload (exit 0)",
                          "ran: systemctl --user enable --now wdbot-01234567.service (exit 0)"]
    assert "loginctl enable-linger" in lines[-1]
    lines = service.uninstall(SPEC, "linux", path, 1000, manager)
    assert not path.exists() and lines[-1] == f"removed {path}"
    assert ["systemctl", "--user", "disable", "--now", "wdbot-01234567.service"] in manager.ran


@pytest.mark.parametrize(("version", "subgroup"), [
    ("systemd 252 (252.39-1~deb12u2)\n+PAM +AUDIT\n", False),  # Debian 12
    ("systemd 249 (249.11-0ubuntu3.12)\n", False),            # Ubuntu 22.04
    ("systemd 254 (254.5-1)\n", True),
    ("systemd 257 (257.4-1)\n", True),
    ("", True),  # unknown: every key
])
def test_install_writes_only_keys_the_hosts_systemd_knows(tmp_path: Path, version: str,
                                                          subgroup: bool) -> None:
    """Issue 28: systemd < 254 warned 'Unknown key name DelegateSubgroup' at every
    daemon-reload; the unit now carries the key only where systemd knows it."""
    path = tmp_path / "wdbot.service"
    manager = Manager(version=version)
    service.install(SPEC, "linux", path, 1000, manager)
    text = path.read_text()
    assert ("DelegateSubgroup=supervisor" in text) is subgroup
    assert "Delegate=yes" in text and manager.ran[0] == ["systemctl", "--version"]
    if not subgroup and version:
        assert "systemd-run --scope" in text  # the comment says where the memory limit comes from


def test_without_systemd_install_says_what_to_run(tmp_path: Path) -> None:
    path = tmp_path / "wdbot.service"
    lines = service.install(SPEC, "linux", path, 1000, Manager(state="offline"))
    assert path.exists()
    assert lines[1].startswith("not started: systemd user manager is not running here")
    assert lines[2:4] == ["  systemctl --user daemon-reload",
                          "  systemctl --user enable --now wdbot-01234567.service"]


def test_a_failing_systemctl_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ServiceError, match="enable --now wdbot-01234567.service failed: Failed to connect"):
        service.install(SPEC, "linux", tmp_path / "u.service", 1000, Manager(fail="enable"))
    with pytest.raises(ServiceError, match="nothing to uninstall"):
        service.uninstall(SPEC, "linux", tmp_path / "none.service", 1000, Manager())


SYSTEMD_CGROUP = "0::/user.slice/user-0.slice/user@0.service/app.slice/wdbot-01234567.service/supervisor\n"


@pytest.mark.parametrize(("cgroup", "env", "parent", "unit"), [
    (SYSTEMD_CGROUP, {"INVOCATION_ID": "9f"}, "systemd\n", "wdbot-01234567.service"),
    # systemd < 254 (no DelegateSubgroup): the unit's own cgroup
    ("0::/system.slice/wdbot-01234567.service\n", {"INVOCATION_ID": "9f"}, "systemd",
     "wdbot-01234567.service"),
    # a hybrid layout: v1's systemd tree names the unit
    ("12:memory:/x\n1:name=systemd:/system.slice/wdbot-01234567.service\n0::/\n",
     {"INVOCATION_ID": "9f"}, "systemd", "wdbot-01234567.service"),
    # a shell's 'wdbot daemon' inside a service's cgroup, INVOCATION_ID inherited: not a unit
    ("0::/user.slice/user@0.service/app.slice/gnome-terminal-server.service\n",
     {"INVOCATION_ID": "9f"}, "bash", None),
    (SYSTEMD_CGROUP, {}, "systemd", None),  # no INVOCATION_ID: systemd did not start it
    ("0::/user.slice/user-0.slice/session-3.scope\n", {"INVOCATION_ID": "9f"}, "systemd", None),
])
def test_the_supervisor_knows_the_unit_it_runs_as(cgroup: str, env: dict[str, str], parent: str,
                                                  unit: str | None) -> None:
    from watchdog_runtime.common.manager import systemd_unit

    assert systemd_unit(cgroup, env, parent) == unit


def test_install_does_not_call_the_services_own_supervisor_outside() -> None:
    """Regression (issue 23, point 11): under a real systemd, 'wdbot service install' ended
    with "a supervisor already runs for this home outside the service" about the supervisor
    the unit had just started. The note is for a supervisor that is not the unit's only."""
    own = {"pid": 40, "manager": {"kind": "systemd", "unit": "wdbot-01234567.service"}}
    assert service.running_note(SPEC, "linux", own) is None
    assert service.running_note(SPEC, "linux", None) is None
    for outside in ({"pid": 41, "manager": {"kind": "none", "unit": None}},
                    {"pid": 42},  # an older supervisor says nothing of its manager
                    {"pid": 43, "manager": {"kind": "systemd", "unit": "wdbot-fedcba98.service"}}):
        note = service.running_note(SPEC, "linux", outside)
        assert note is not None and "outside the service" in note and f"pid {outside['pid']}" in note
        assert "systemctl --user restart wdbot-01234567.service" in note
    darwin = {"pid": 44, "manager": {"kind": "launchd", "unit": "io.wdbot.01234567"}}
    assert service.running_note(SPEC, "darwin", darwin) is None
    assert "launchctl kickstart -k" in (service.running_note(SPEC, "darwin", {"pid": 45}) or "")
