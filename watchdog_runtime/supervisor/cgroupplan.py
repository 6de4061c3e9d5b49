"""Where a supervisor's bots get their cgroups v2 (pure: ``cgroups`` reads the facts and
makes what this decides).

Our own cgroup when it was delegated to us (systemd's ``Delegate=yes``; controllers are
enabled for the bots only when systemd started us in the leaf ``supervisor``, as
``DelegateSubgroup=`` does, because a cgroup with controllers enabled for its children may
hold no process itself, and an older systemd puts a restarted service at the top of its
cgroup); else, when we are root in the root cgroup, ``wdbot/<home id>`` under the mount's
root; else none, and the supervisor keeps the process marker walk (``procs.members``). Each
bot gets ``bot-<name>`` under that base: the prefix keeps a bot name from ever meeting an
interface file (``memory.max``) or the supervisor's leaf.
"""

from __future__ import annotations

import enum
from pathlib import Path

from ..common.leandataclass import dataclass

SUPERVISOR_LEAF = "supervisor"
BOT_PREFIX = "bot-"
MARKER_WALK = "process marker walk (no delegated cgroup v2)"


class Layout(enum.Enum):
    """Where the bots' cgroups live."""

    DELEGATED = "delegated"
    """Inside our own cgroup, handed to our uid (a systemd unit with ``Delegate=yes``)."""
    ROOT = "root"
    """In a ``wdbot/<home id>`` subtree we create under the mount's root (we are root)."""


@dataclass(frozen=True)
class Containment:
    """The cgroup v2 containment this supervisor can give its bots."""

    mount: Path
    base: Path
    """The folder that holds one cgroup per bot."""
    layout: Layout
    memory: bool
    """The memory controller is (or can be) enabled for the bots' cgroups."""
    controllers: bool = True
    """We may enable controllers for the bots' cgroups. Not in a delegated cgroup that
    systemd started us at the top of: it puts the next supervisor there after a restart,
    which the kernel refuses (EBUSY) once controllers are enabled for its children. Only
    systemd >= 254 honours the unit's ``DelegateSubgroup=supervisor`` and starts us in the
    leaf."""
    scopes: bool = False
    """Without the memory controller here, a bot with ``--max-memory`` gets its kernel limit
    from a transient systemd scope of its own (``scopes``): a trial scope worked."""

    @property
    def description(self) -> str:
        """One line for ``status NAME``."""
        scoped = "; --max-memory: a systemd scope per bot (MemoryMax=)" if self.scopes else ""
        return f"cgroup v2 at {self.base}, memory controller: {'yes' if self.memory else 'no'}{scoped}"

    def bot(self, name: str) -> Path:
        """The cgroup folder of bot ``name`` (``create`` makes it)."""
        return self.base / f"{BOT_PREFIX}{name}"


def describe(containment: Containment | None) -> str:
    """What a bot is contained by, for people."""
    return containment.description if containment is not None else MARKER_WALK


def cgroup2_mount(mountinfo: str) -> tuple[Path, str] | None:
    """The first cgroup2 mount in ``/proc/self/mountinfo`` text: (mount point, root in the
    hierarchy). Fields are space separated, spaces inside paths escaped as octal."""
    for line in mountinfo.splitlines():
        before, sep, after = line.partition(" - ")
        fields = before.split()
        if sep and after.split()[:1] == ["cgroup2"] and len(fields) >= 5:
            return Path(_unescape(fields[4])), _unescape(fields[3])
    return None


def _unescape(field: str) -> str:
    return field.encode().decode("unicode_escape") if "\\" in field else field


def own_cgroup(proc_cgroup: str) -> str | None:
    """Our path in the v2 hierarchy, from ``/proc/self/cgroup`` text (the ``0::`` line)."""
    for line in proc_cgroup.splitlines():
        if line.startswith("0::"):
            return line[3:].strip() or None
    return None


@dataclass(frozen=True)
class Facts:
    """What ``plan`` decides from, read by ``detect`` (tests make them up)."""

    mount: Path
    mount_root: str
    own: str
    """Our cgroup, as ``/proc/self/cgroup`` names it."""
    euid: int
    own_uid: int | None
    """Owner of our cgroup's folder (None: unreadable)."""
    own_writable: bool
    """We may write its ``cgroup.procs`` and ``cgroup.subtree_control`` and make folders."""
    controllers: frozenset[str]
    """Controllers available where the bots' base would enable them."""


def plan(facts: Facts, home_id: str) -> Containment | None:
    """Where this supervisor's bots get their cgroups, or None (no containment to be had)."""
    parts = base_parts(facts.own, facts.mount_root)
    if parts is None:
        return None
    memory = "memory" in facts.controllers
    if parts and facts.own_writable and facts.own_uid == facts.euid:
        in_leaf = facts.own.rstrip("/").endswith("/" + SUPERVISOR_LEAF)
        return Containment(facts.mount, facts.mount.joinpath(*parts), Layout.DELEGATED,
                           memory and in_leaf, controllers=in_leaf)
    if facts.euid == 0 and not parts and facts.own_writable:
        return Containment(facts.mount, facts.mount / "wdbot" / home_id, Layout.ROOT, memory)
    return None


def base_parts(own: str, mount_root: str) -> list[str] | None:
    """Our cgroup's path below the mount, as parts (empty: the mount's root); a restarted
    supervisor that already sits in the ``supervisor`` leaf counts as its parent. None when
    our cgroup is outside what is mounted here."""
    root = mount_root.rstrip("/")
    if own != mount_root and not own.startswith(root + "/"):
        return None
    parts = [p for p in own[len(root):].split("/") if p]
    return parts[:-1] if parts and parts[-1] == SUPERVISOR_LEAF else parts
