"""``scripts/chaos.py``'s pure parts: the invariants on synthetic process lists, the fault
schedule from a seed, and the report (the chaos run itself is ``make chaos``, as root)."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))

import chaos  # noqa: E402 - the scripts folder is not a package
import chaos_report  # noqa: E402
from chaos_invariants import (  # noqa: E402
    BotEntry,
    BotPlan,
    Checker,
    Helper,
    Ident,
    Proc,
    Snapshot,
    UnreadableEpisodes,
    extra_copies,
    main_roots,
    orphan_suspects,
)

PLANS = {"h": BotPlan("h", healthy=True, max_down_s=0.0),
         "c": BotPlan("c", healthy=False, max_down_s=3.0)}
SUPERVISOR = 100


def proc(pid: int, bot: str = "h", ppid: int = SUPERVISOR, main: bool = True) -> Proc:
    return Proc(Ident(pid, pid * 10), ppid, bot, main)


def snap(at: float, procs: list[Proc], registry: dict[str, int | None] | None = None,
         helpers: tuple[Helper, ...] = (), wanted: frozenset[str] = frozenset({"h", "c"}),
         stopped: frozenset[str] = frozenset()) -> Snapshot:
    registry = {"h": None, "c": None} if registry is None else registry
    entries = {bot: BotEntry(bot not in stopped, "running" if pid else "backoff", pid)
               for bot, pid in registry.items()}
    return Snapshot(at, tuple(procs), helpers, entries, wanted)


def test_a_bots_children_and_escaped_helpers_are_no_copies() -> None:
    procs = [proc(1), proc(2, ppid=1, main=False), proc(3, ppid=1, main=True),  # a fork of the bot
             proc(4, ppid=1, main=False), proc(5, ppid=1234, main=False)]  # a double-forked helper
    assert [p.ident.pid for p in main_roots(procs)["h"]] == [1]
    assert extra_copies(snap(0, procs, {"h": 1, "c": None})) == set()


def test_two_roots_of_one_bot_are_a_duplicate_and_the_registrys_copy_is_kept() -> None:
    procs = [proc(1), proc(7, ppid=1), proc(5), proc(9, bot="c")]
    assert extra_copies(snap(0, procs, {"h": 5, "c": 9})) == {("h", Ident(1, 10))}
    # the registry holds neither: the oldest is the one copy, the younger the duplicate
    assert extra_copies(snap(0, procs, {"h": None, "c": 9})) == {("h", Ident(5, 50))}


def test_a_process_the_registry_does_not_hold_is_an_orphan_only_after_the_grace() -> None:
    checker = Checker(PLANS, grace_s=10.0)
    checker.observe(snap(0, [proc(1)], {"h": 2, "c": None}))
    checker.observe(snap(9, [proc(1)], {"h": 2, "c": None}))
    assert checker.orphans == {}
    checker.observe(snap(10, [proc(1)], {"h": 2, "c": None}))
    assert list(checker.orphans) == [Ident(1, 10)]


def test_a_finding_names_the_step_it_began_in() -> None:
    checker = Checker(PLANS, grace_s=10.0)
    checker.observe(snap(0, [proc(1)], {"h": 1, "c": None}))
    checker.step(0, 1.0)
    checker.step(1, 4.0)
    checker.observe(snap(4.5, [proc(1)], {"h": 2, "c": None}))  # suspect from step 1 on
    checker.step(2, 8.0)
    checker.observe(snap(15, [proc(1)], {"h": 2, "c": None}))
    assert [f.text for f in checker.orphans.values()] == [
        "h: pid 1 runs, the registry does not hold it (10 s, began in step 1)"]
    early = Checker(PLANS, grace_s=1.0)
    early.observe(snap(0, [], {"h": None, "c": None}))
    early.observe(snap(2, [], {"h": None, "c": None}))
    assert early.lost == ["h: no process for 2 s although it should run, began before the faults"]


def test_a_suspect_that_is_managed_again_starts_its_grace_anew() -> None:
    checker = Checker(PLANS, grace_s=10.0)
    checker.observe(snap(0, [proc(1)], {"h": None, "c": None}))  # the spawn, not yet recorded
    checker.observe(snap(5, [proc(1)], {"h": 1, "c": None}))
    checker.observe(snap(12, [proc(1)], {"h": None, "c": None}))
    assert checker.orphans == {}


def test_processes_of_a_stopped_bot_are_orphans() -> None:
    procs = [proc(1), proc(2, ppid=1, main=False)]
    stopped = snap(0, procs, {"h": 1, "c": None}, wanted=frozenset({"c"}), stopped=frozenset({"h"}))
    assert set(orphan_suspects(stopped)) == {Ident(1, 10), Ident(2, 20)}
    registry_says_stopped = snap(0, procs, {"h": 1, "c": None}, stopped=frozenset({"h"}))
    assert set(orphan_suspects(registry_says_stopped)) == {Ident(1, 10), Ident(2, 20)}


def test_a_helper_is_an_orphan_once_its_bot_process_died() -> None:
    helper = Helper(Ident(50, 500), owner=Ident(1, 10), kind="noenv")
    with_owner = snap(0, [proc(1)], {"h": 1, "c": None}, helpers=(helper,))
    assert orphan_suspects(with_owner) == {}
    recycled_owner = snap(0, [Proc(Ident(1, 99), SUPERVISOR, "h", True)], {"h": 1, "c": None},
                          helpers=(helper,))
    assert list(orphan_suspects(recycled_owner)) == [Ident(50, 500)]


def test_a_healthy_bots_new_process_is_a_restart_unless_the_run_asked_for_it() -> None:
    checker = Checker(PLANS, grace_s=10.0)
    checker.observe(snap(0, [proc(1)], {"h": 1, "c": None}))
    checker.observe(snap(1, [proc(1), proc(2)], {"h": 2, "c": None}))  # a copy beside it
    checker.observe(snap(2, [proc(3)], {"h": 3, "c": None}))  # replaced
    assert len(checker.restarts) == 2
    checker.forget("h")
    checker.observe(snap(3, [proc(4)], {"h": 4, "c": None}))
    assert len(checker.restarts) == 2


def test_a_crash_loopers_process_may_change() -> None:
    checker = Checker(PLANS, grace_s=10.0)
    for at, pid in enumerate((11, 12, 13)):
        checker.observe(snap(at, [proc(1), proc(pid, bot="c")], {"h": 1, "c": pid}))
    assert checker.restarts == [] and checker.duplicates == set() and checker.orphans == {}


def test_a_bot_down_past_its_backoff_and_the_grace_is_lost_once_per_episode() -> None:
    checker = Checker(PLANS, grace_s=10.0)
    up = [proc(1)]
    checker.observe(snap(0, up, {"h": 1, "c": None}))  # c is down (backoff): fine for 13 s
    checker.observe(snap(12, up, {"h": 1, "c": None}))
    assert checker.lost == []
    checker.observe(snap(13, up, {"h": 1, "c": None}))
    checker.observe(snap(30, up, {"h": 1, "c": None}))
    assert len(checker.lost) == 1
    checker.observe(snap(31, [*up, proc(5, bot="c")], {"h": 1, "c": 5}))  # back up
    checker.observe(snap(32, up, {"h": 1, "c": None}))
    checker.observe(snap(46, up, {"h": 1, "c": None}))
    assert len(checker.lost) == 2


def test_a_crash_looper_that_ran_between_two_snapshots_was_not_down_throughout() -> None:
    checker = Checker(PLANS, grace_s=10.0)
    up = [proc(1)]
    for at, run in ((0, 7), (6, 8), (12, 9), (18, 10)):  # down at each look, a new run each time
        checker.observe(snap(at, up, {"h": 1, "c": run}))
    assert checker.lost == []
    for at in (24, 30, 38):  # the same dead run: no process since 18 s
        checker.observe(snap(at, up, {"h": 1, "c": 10}))
    assert len(checker.lost) == 1 and "no process for 20 s" in checker.lost[0]


def test_a_full_disk_excuses_being_down_until_it_is_freed() -> None:
    checker = Checker(PLANS, grace_s=10.0)
    checker.observe(snap(0, [], {"h": 1, "c": None}, wanted=frozenset({"h"})))
    checker.excuse(until=8.0)
    checker.observe(snap(17, [], {"h": 1, "c": None}, wanted=frozenset({"h"})))
    assert checker.lost == []
    checker.observe(snap(18, [], {"h": 1, "c": None}, wanted=frozenset({"h"})))
    assert len(checker.lost) == 1


def test_a_full_disk_longer_than_the_allowance_judges_no_bot_lost_while_it_lasts() -> None:
    """A disk full for 22 s (spawn-window steps waiting for a spawn that cannot come) judged
    the crash loopers lost while it lasted, though no bot can start on a full disk: 'lost'
    in seed 13 once the preparation stopped starting a Python of its own (issue 26)."""
    checker = Checker(PLANS, grace_s=10.0)
    checker.disk_full = True
    checker.observe(snap(0, [], {"h": 1, "c": None}, wanted=frozenset({"h"})))
    checker.observe(snap(22, [], {"h": 1, "c": None}, wanted=frozenset({"h"})))
    assert checker.lost == []
    checker.disk_full = False
    checker.excuse(until=22.0)
    checker.observe(snap(31, [], {"h": 1, "c": None}, wanted=frozenset({"h"})))
    assert checker.lost == []
    checker.observe(snap(32, [], {"h": 1, "c": None}, wanted=frozenset({"h"})))
    assert len(checker.lost) == 1, "down 10 s after the disk was freed: lost"


def test_the_fault_schedule_comes_from_the_seed_alone() -> None:
    steps = chaos.plan(13, 100)
    assert steps == chaos.plan(13, 100) and steps != chaos.plan(14, 100)
    assert len(steps) == 100 and sum(s.window for s in steps) == 50
    actions = [a for s in steps for a in s.actions]
    offsets = [value for action, value in actions if action is chaos.Action.CLOCK]
    assert offsets[-1] == 0 and min(offsets) < 0 < max(offsets)
    kinds = [action for action, _ in actions]
    assert kinds.count(chaos.Action.DISK_FULL) == kinds.count(chaos.Action.DISK_FREE) == 2
    stops = [i for i, s in enumerate(steps) for a, _ in s.actions if a is chaos.Action.STOP]
    starts = [i for i, s in enumerate(steps) for a, _ in s.actions if a is chaos.Action.START]
    assert len(stops) == len(starts) == len(chaos.SLEEPER_CYCLES)
    assert all(stop < start for stop, start in zip(stops, starts, strict=True))  # each before its start
    assert all(start < stop for start, stop in zip(starts, stops[1:], strict=False))


def figures(label: str, duplicates: int = 0) -> chaos_report.Figures:
    return chaos_report.Figures(label=label, at="2026-12-01 09:00 UTC", seed=13, kills_planned=100,
                                duplicates=duplicates, orphans=0, healthy_restarted=0, lost=0,
                                left_after_shutdown=0, kills=100, window_kills=50, clock_steps=6,
                                disk_full_periods=2, wall_s=200.0, findings=("duplicate: h",))


def test_the_report_keeps_the_before_row_when_after_is_written() -> None:
    rows = chaos_report.merge_rows([], figures("before", duplicates=3))
    rows = chaos_report.merge_rows(rows, figures("after"))
    rows = chaos_report.merge_rows(rows, replace(figures("after"), second_sigterms=0))
    assert [r.label for r in rows] == ["before", "after"]
    again = chaos_report.rows_from_json(chaos_report.rows_to_json(rows))
    assert again == rows
    text = chaos_report.doc(rows)
    # A row from before the column existed says so, rather than a zero it never counted.
    assert ("| before (2026-12-01 09:00 UTC, seed 13) | 3 | 0 | 0 | 0 | 0 | not counted | not counted | "
            "not counted | 100 | 50 | 6 | 2 | 200 s |") in text
    assert ("| after (2026-12-01 09:00 UTC, seed 13) | 0 | 0 | 0 | 0 | 0 | 0 | not counted | not counted | "
            "100 |") in text
    counted = chaos_report.doc([replace(figures("after"), second_sigterms=0, held_ran=0,
                                        registry_unreadable=0)])
    assert "| after (2026-12-01 09:00 UTC, seed 13) | 0 | 0 | 0 | 0 | 0 | 0 | 0 | 0 | 100 |" in counted
    assert "make chaos" in text


def test_the_table_says_whether_the_run_was_clean() -> None:
    assert "verdict: clean" in chaos_report.table(figures("after"))
    dirty = chaos_report.table(figures("before", duplicates=1))
    assert "duplicates seen      1" in dirty and "VIOLATIONS" in dirty
    assert "VIOLATIONS" in chaos_report.table(replace(figures("after"), second_sigterms=1))


def test_a_bot_run_by_the_supervisor_restarted_after_the_shutdown_is_counted_once() -> None:
    """The column of issue 23, point 1: after 'wdbot shutdown' every bot is held; a service
    manager's 'wdbot daemon' that runs one (a process seen, or a start event) violates it."""
    checker = Checker(PLANS, grace_s=10.0)
    checker.observe_held(snap(0, [], wanted=frozenset()))
    checker.observe_held(snap(0.2, [proc(2, bot="c", ppid=1, main=False)], wanted=frozenset()))
    assert checker.held_ran == set()  # nothing, or a leftover helper (another column's)
    checker.observe_held(snap(0.4, [], wanted=frozenset()), started=["c"])  # started, already gone
    checker.observe_held(snap(0.6, [proc(1)], wanted=frozenset()), started=["c"])
    checker.observe_held(snap(0.8, [proc(1)], wanted=frozenset()))
    assert checker.held_ran == {"c", "h"}
    fig = replace(chaos_report.Figures("x", "t", 13, 10, 0, 0, 0, 0, 0, 10, 5, 0, 0, 1.0), held_ran=2)
    assert not fig.clean and "run after shutdown   2" in chaos_report.table(fig)
    assert replace(fig, held_ran=0).clean and replace(fig, held_ran=None).clean  # an older row

    assert "VIOLATIONS" in chaos_report.table(replace(figures("after"), registry_unreadable=1))


# ------------------------------------------------ the registry made unreadable mid-run
def test_a_registry_episode_where_nothing_is_stopped_doubled_or_lost_is_clean() -> None:
    """The safe state: the healthy bot runs on, the crash looper (nothing restarts it while
    the file is broken) is down but not lost, and comes back after the restore."""
    checker, episodes = Checker(PLANS, grace_s=10.0), UnreadableEpisodes(PLANS, grace_s=10.0)
    checker.observe(snap(0, [proc(1), proc(5, bot="c")], {"h": 1, "c": 5}))
    episodes.broken(snap(1, [proc(1), proc(5, bot="c")], {"h": 1, "c": 5}))
    checker.paused = True
    for at in (2, 20, 40):  # c crashed and stays down: no supervisor restarts it meanwhile
        for look in (checker, episodes):
            look.observe(snap(at, [proc(1)], {"h": 1, "c": 5}))
    episodes.fixed(41)
    checker.paused = False
    checker.excuse(41)
    for at, procs in ((42, [proc(1)]), (45, [proc(1), proc(6, bot="c")]), (60, [proc(1), proc(6, bot="c")])):
        for look in (checker, episodes):
            look.observe(snap(at, procs, {"h": 1, "c": 6 if len(procs) > 1 else 5}))
    assert episodes.findings == [] and checker.lost == [] and not episodes.active
    assert episodes.episodes == 1


def test_a_bot_stopped_started_twice_or_lost_because_of_it_is_a_violation_once() -> None:
    episodes = UnreadableEpisodes(PLANS, grace_s=10.0)
    episodes.broken(snap(0, [proc(1), proc(5, bot="c")], {"h": 1, "c": 5}))
    for at in (1, 2):  # h's process stopped, and a second copy of c
        episodes.observe(snap(at, [proc(5, bot="c"), proc(7, bot="c")], {"h": 1, "c": 5}))
    episodes.fixed(3)
    episodes.observe(snap(10, [], {"h": 1, "c": 5}))
    assert len(episodes.findings) == 2 and episodes.active, "the restore's grace runs"
    episodes.observe(snap(16, [], {"h": 1, "c": 5}))  # 3 s backoff + 10 s grace after the fix
    texts = [f.text for f in episodes.findings]
    assert texts[0] == "h: pid 1 was stopped while the registry was unreadable or at its restore"
    assert texts[1].startswith("c: a second copy, pid 7")
    assert sorted(t.split(":")[0] for t in texts[2:]) == ["c", "h"] and "restored" in texts[2]
    assert not episodes.active
    episodes.observe(snap(30, [], {"h": 1, "c": 5}))
    assert len(episodes.findings) == 4, "each counted once"


def test_a_paused_checker_counts_no_bot_lost_and_no_orphan_until_the_grace_after() -> None:
    checker = Checker(PLANS, grace_s=1.0)
    checker.paused = True
    helper = Helper(Ident(50, 500), owner=Ident(9, 90), kind="noenv")  # its bot crashed
    checker.observe(snap(0, [], {"h": None, "c": None}, helpers=(helper,)))
    checker.observe(snap(50, [], {"h": None, "c": None}, helpers=(helper,)))
    assert checker.lost == [] and checker.orphans == {}
    checker.paused = False
    checker.excuse(50)
    checker.observe(snap(50.5, [proc(1)], {"h": 1, "c": None}, helpers=(helper,)))
    assert checker.orphans == {}
    checker.observe(snap(51, [proc(1)], {"h": 1, "c": None}, helpers=(helper,)))
    assert list(checker.orphans) == [Ident(50, 500)], "still there a grace after the restore"


def test_registry_periods_keep_apart_from_the_sleeper_and_the_disk() -> None:
    for kills in (20, 100):
        steps = chaos.plan(13, kills)
        breaks = [i for i, s in enumerate(steps) for a, _ in s.actions if a is chaos.Action.REGISTRY_BREAK]
        fixes = [i for i, s in enumerate(steps) for a, _ in s.actions if a is chaos.Action.REGISTRY_FIX]
        assert len(breaks) == len(fixes) == len(chaos.REGISTRY_PERIODS)
        for broke, fixed in zip(breaks, fixes, strict=True):
            assert broke < fixed
            inside = [a for s in steps[broke:fixed + 1] for a, _ in s.actions]
            assert not {chaos.Action.STOP, chaos.Action.START, chaos.Action.DISK_FULL} & set(
                inside[:inside.index(chaos.Action.REGISTRY_FIX)]), (kills, inside)


def test_a_full_disk_after_the_restore_holds_the_judgement_and_a_stop_on_purpose_is_none() -> None:
    episodes = UnreadableEpisodes(PLANS, grace_s=10.0)
    episodes.broken(snap(0, [proc(1), proc(5, bot="c")], {"h": 1, "c": 5}))
    episodes.fixed(2)
    episodes.hold()  # the disk fills: c cannot start again
    episodes.observe(snap(30, [proc(1)], {"h": 1, "c": 5}))
    assert episodes.findings == [] and episodes.active
    episodes.excuse(31)
    episodes.forget("h")  # then the run stops h on purpose
    episodes.observe(snap(40, [proc(6, bot="c")], {"h": 1, "c": 6}, wanted=frozenset({"c"})))
    episodes.observe(snap(45, [proc(6, bot="c")], {"h": 1, "c": 6}, wanted=frozenset({"c"})))
    assert episodes.findings == [] and not episodes.active


def test_a_crash_looper_that_ran_between_two_looks_after_the_restore_came_back() -> None:
    episodes = UnreadableEpisodes(PLANS, grace_s=10.0)
    episodes.broken(snap(0, [proc(1)], {"h": 1, "c": 5}))
    episodes.fixed(2)
    for at, run in ((3, 5), (8, 6), (16, 6)):  # c is down at every look, but ran (pid 6)
        episodes.observe(snap(at, [proc(1)], {"h": 1, "c": run}))
    assert episodes.findings == [] and not episodes.active
