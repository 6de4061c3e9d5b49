"""What starts the supervisor again when it exits: a service manager (systemd, launchd), the
init of ``wdbot daemon`` as a container's PID 1, or nothing (a person, a launching command).

The supervisor works it out once at start (:func:`detect`) and says it in ``ping`` and
``shutdown`` replies, so that ``wdbot service install`` can tell the service's own
supervisor from one outside it, and ``shutdown --keep-bots`` says who adopts the bots.

How systemd is recognised, explicitly (each alone is not enough): systemd sets
``INVOCATION_ID`` in a service's environment, but a shell started by a service (an old
terminal server) inherits it; a service's processes live under ``…/NAME.service`` in the
cgroup tree, but so do that shell's. The main process of a unit is a child of the manager
itself, so the third test is that the parent is ``systemd`` (PID 1, or ``systemd --user``).
launchd: ``XPC_SERVICE_NAME`` is the job's label, and the parent is launchd (PID 1).

Stdlib only, pure functions apart from :func:`detect`.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from enum import Enum

from .leandataclass import dataclass

HANDOVER_EXIT = 75
"""The daemon's exit status after ``wdbot shutdown --keep-bots`` (EX_TEMPFAIL): "start the
next supervisor now, it adopts the bots". The container init restarts at once on it (and
ends the container on a clean exit 0); the rendered systemd unit (``Restart=always``,
``SuccessExitStatus=75``: no failure) and launchd job (``KeepAlive``) restart any exit."""


class ManagerKind(Enum):
    """Who runs ``wdbot daemon``."""

    NONE = "none"
    INIT = "init"
    SYSTEMD = "systemd"
    LAUNCHD = "launchd"


@dataclass(frozen=True)
class Manager:
    """The supervisor's manager, and the unit (systemd) or label (launchd) it runs under."""

    kind: ManagerKind = ManagerKind.NONE
    unit: str | None = None

    @property
    def successor(self) -> str | None:
        """Who starts the next supervisor after a hand-over, for people; None: nobody does.

        >>> Manager(ManagerKind.SYSTEMD, "wdbot-0123abcd.service").successor
        'systemd (wdbot-0123abcd.service)'
        >>> Manager().successor is None
        True
        """
        if self.kind is ManagerKind.INIT:
            return "the container's init"
        if self.kind is ManagerKind.NONE:
            return None
        return f"{self.kind.value} ({self.unit})"

    def describe(self) -> dict[str, str | None]:
        """As the control socket carries it."""
        return {"kind": self.kind.value, "unit": self.unit}


def systemd_unit(cgroup_text: str, env: Mapping[str, str], parent_comm: str) -> str | None:
    """The systemd service whose main process this is (``/proc/self/cgroup``'s text, the
    environment, the parent's ``comm``), or None: the innermost ``NAME.service`` of the
    cgroup path, when ``INVOCATION_ID`` is set and the parent is systemd (see the module).

    >>> text = "0::/user.slice/user-0.slice/user@0.service/app.slice/wdbot-0123abcd.service/supervisor\\n"
    >>> systemd_unit(text, {"INVOCATION_ID": "x"}, "systemd")
    'wdbot-0123abcd.service'
    >>> systemd_unit(text, {}, "systemd") is None, systemd_unit(text, {"INVOCATION_ID": "x"}, "bash") is None
    (True, True)
    """
    if not env.get("INVOCATION_ID") or parent_comm.strip() != "systemd":
        return None
    for line in cgroup_text.splitlines():
        hierarchy, _, path = line.partition(":")[2].partition(":")
        if hierarchy not in ("", "name=systemd"):  # v2's line, or v1's systemd tree
            continue
        units = [part for part in path.split("/") if part.endswith(".service")]
        if units:
            return units[-1]
    return None


def launchd_label(env: Mapping[str, str], parent_pid: int) -> str | None:
    """The launchd job this process is (``XPC_SERVICE_NAME``, launchd its parent), or None.

    >>> launchd_label({"XPC_SERVICE_NAME": "io.wdbot.0123abcd"}, 1)
    'io.wdbot.0123abcd'
    >>> launchd_label({"XPC_SERVICE_NAME": "0"}, 1) is None
    True
    """
    label = env.get("XPC_SERVICE_NAME", "")
    return label if parent_pid == 1 and label not in ("", "0") else None


def detect(under_init: bool) -> Manager:
    """This process's manager (``under_init``: forked by the PID-1 init of ``pid1``)."""
    if under_init:
        return Manager(ManagerKind.INIT)
    if sys.platform == "darwin":
        label = launchd_label(os.environ, os.getppid())
        return Manager(ManagerKind.LAUNCHD, label) if label else Manager()
    try:
        with open("/proc/self/cgroup") as fh:
            cgroup_text = fh.read()
        with open(f"/proc/{os.getppid()}/comm") as fh:
            parent = fh.read()
    except OSError:
        return Manager()
    unit = systemd_unit(cgroup_text, os.environ, parent)
    return Manager(ManagerKind.SYSTEMD, unit) if unit else Manager()


def own_unit(reply: Mapping[str, object], expected: str) -> bool:
    """Whether a supervisor's ``ping`` reply says it runs as the unit (or launchd label)
    ``expected``. A supervisor of an older version says nothing: not the unit's.

    >>> own_unit({"pid": 7, "manager": {"kind": "systemd", "unit": "wdbot-0123abcd.service"}},
    ...          "wdbot-0123abcd.service")
    True
    >>> own_unit({"pid": 7}, "wdbot-0123abcd.service")
    False
    """
    manager = reply.get("manager")
    return isinstance(manager, Mapping) and manager.get("unit") == expected
