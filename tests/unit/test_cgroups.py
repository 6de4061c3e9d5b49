"""cgroupplan, the pure part of the cgroups: reading mountinfo and /proc/self/cgroup, and
where the bots' cgroups go on each layout (hybrid root, systemd delegation, started in the
leaf, none)."""

from __future__ import annotations

from pathlib import Path

import pytest

from watchdog_runtime.supervisor import cgroupplan as cgroups
from watchdog_runtime.supervisor.cgroupplan import Containment, Facts, Layout

HYBRID_MOUNTINFO = """\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
"""
PURE_V2_MOUNTINFO = """\
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
28 22 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate
"""
MEMORY_V1_ONLY = "4:memory:/some/where\n0::/\n"


def test_the_cgroup2_mount_is_found_by_its_type_not_its_place() -> None:
    assert cgroups.cgroup2_mount(HYBRID_MOUNTINFO) == (Path("/sys/fs/cgroup/unified"), "/")
    assert cgroups.cgroup2_mount(PURE_V2_MOUNTINFO) == (Path("/sys/fs/cgroup"), "/")
    assert cgroups.cgroup2_mount(HYBRID_MOUNTINFO.replace("cgroup2 cgroup2", "tmpfs tmpfs")) is None


def test_an_escaped_mount_point_and_a_mount_of_a_subtree() -> None:
    text = "50 22 0:40 /lxc/box /mnt/my\\040cgroups rw - cgroup2 cgroup2 rw\n"
    assert cgroups.cgroup2_mount(text) == (Path("/mnt/my cgroups"), "/lxc/box")


def test_own_cgroup_is_the_v2_line() -> None:
    assert cgroups.own_cgroup(MEMORY_V1_ONLY) == "/"
    assert cgroups.own_cgroup("0::/system.slice/wdbot.service\n") == "/system.slice/wdbot.service"
    assert cgroups.own_cgroup("4:memory:/x\n") is None


def facts(own: str, *, euid: int = 0, own_uid: int | None = 0, writable: bool = True,
          controllers: str = "cpu memory pids", mount_root: str = "/") -> Facts:
    return Facts(Path("/sys/fs/cgroup"), mount_root, own, euid, own_uid, writable,
                 frozenset(controllers.split()))


def test_root_in_the_root_cgroup_gets_a_subtree_per_home() -> None:
    # This machine's layout: hybrid, no memory controller on the v2 side, we are root at "/".
    got = cgroups.plan(facts("/", controllers="hugetlb"), "0123abcd")
    assert got == Containment(Path("/sys/fs/cgroup"), Path("/sys/fs/cgroup/wdbot/0123abcd"),
                              Layout.ROOT, memory=False)
    assert got.description == "cgroup v2 at /sys/fs/cgroup/wdbot/0123abcd, memory controller: no"
    assert got.bot("memory.max") == Path("/sys/fs/cgroup/wdbot/0123abcd/bot-memory.max")


def test_a_delegated_unit_cgroup_owned_by_us_is_the_base() -> None:
    own = "/user.slice/user-1000.slice/user@1000.service/app.slice/wdbot-01234567.service"
    got = cgroups.plan(facts(own, euid=1000, own_uid=1000), "0123abcd")
    assert got is not None and got.layout is Layout.DELEGATED
    assert got.base == Path("/sys/fs/cgroup") / own.lstrip("/")
    # Started at the top of the unit's cgroup (systemd < 254): no controllers for the bots,
    # or systemd could not put the next supervisor there after a restart (EBUSY).
    assert (got.controllers, got.memory) == (False, False)


def test_started_in_the_leaf_the_controllers_may_be_enabled() -> None:
    # systemd >= 254 with DelegateSubgroup=supervisor, or a supervisor already moved there
    got = cgroups.plan(facts("/system.slice/wdbot.service/supervisor"), "0123abcd")
    assert got is not None and got.base == Path("/sys/fs/cgroup/system.slice/wdbot.service")
    assert (got.layout, got.controllers, got.memory) == (Layout.DELEGATED, True, True)


@pytest.mark.parametrize("case", [
    facts("/user.slice/session-3.scope", euid=1000, own_uid=0, writable=False),  # not delegated
    facts("/user.slice/session-3.scope", euid=1000, own_uid=1000, writable=False),
    facts("/", euid=1000),  # not root, at the top
    facts("/", writable=False),  # root, but a read-only mount (a container)
    facts("/elsewhere", mount_root="/lxc/box"),  # our cgroup is not under this mount
])
def test_no_containment_falls_back_to_the_marker_walk(case: Facts) -> None:
    assert cgroups.plan(case, "0123abcd") is None
    assert cgroups.describe(None) == "process marker walk (no delegated cgroup v2)"


def test_a_mount_of_a_subtree_maps_our_path_below_it() -> None:
    got = cgroups.plan(facts("/lxc/box/wdbot", mount_root="/lxc/box"), "0123abcd")
    assert got is not None and got.base == Path("/sys/fs/cgroup/wdbot")
    assert cgroups.base_parts("/lxc/boxer", "/lxc/box") is None
