"""``make chaos``: a reproducible fault run against one fresh wdbot home.

Starts a few healthy bots, a few crash loopers and one bot whose helpers escape its tree
(``scripts/chaos_bots.py``), then inflicts supervisor ``kill -9``s (half of them in the spawn
window), clock steps both ways, a full disk for a while, a stop and start of a healthy
bot, and ``registry.json`` made unreadable (a stray comma) for a few kills, then restored from
``registry.json.last-good``; between faults it checks the promise (``scripts/chaos_invariants.py``), and after
``wdbot shutdown`` that nothing of the home is left and that a ``wdbot daemon`` started at
once (a simulated service manager) runs none of the held bots. The fault schedule comes from ``--seed``
alone (``--warm-spare``: every bot with a warm spare, issue 29). Prints a table, ``--json PATH``
writes the figures, ``--write-doc`` writes
``docs/reliability.md``. Exit status 0 when every violation column is zero, 1 otherwise.

    sudo .venv/bin/python scripts/chaos.py [--seed 13] [--kills 100] [--label before]
        [--json PATH] [--write-doc] [--grace 10] [--max-minutes 15] [--keep DIR] [--warm-spare]

As root it unshares a mount namespace of its own first (clock steps and the tmpfs home are
never seen outside it); without root those faults are skipped with the reason printed.
Cleans up whatever happens (Ctrl-C included): the supervisor's group and every process of
the home killed by pid, mounts undone, temp folders removed.
"""

from __future__ import annotations

import argparse
import collections
import enum
import os
import random
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import chaos_bots  # noqa: E402 - the scripts folder is not a package
import chaos_report  # noqa: E402
from chaos_invariants import Checker, UnreadableEpisodes  # noqa: E402
from chaos_lab import Lab  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "reliability.md"
DOC_JSON = ROOT / "docs" / "reliability.json"
PROVOKE_AFTER_S = 2.5
"""A spawn-window kill waits this long for a spawn before it asks for one (``wdbot restart``)."""
WINDOW_WAIT_S = 10.0
MID_STOP_WAIT_S = 10.0
"""How long a stop of the sleeper may take to deliver its SIGTERM before the kill."""
SERVICE_WATCH_S = 5.0
"""How long the supervisor a simulated service manager starts right after ``wdbot shutdown``
is watched once it serves (a held bot would be started within its first second)."""
SLEEPER_CYCLES = ((0.25, 0.3), (0.4, 0.45), (0.5, 0.6), (0.8, 0.85))
"""When the sleeper is stopped (a supervisor kill in the middle of each stop) and started
again, as fractions of the run. The schedule of kills does not depend on them."""
REGISTRY_PERIODS = ((0.08, 0.13), (0.9, 0.97))
"""When ``registry.json`` is made unreadable and restored, as fractions of the run: apart
from the sleeper's stops (a refused stop is no stop) and the full disk (no room to restore)."""


class Action(enum.Enum):
    """A fault or an operator's act between two kills."""

    CLOCK = "clock"
    """Step the clock to the offset (seconds) given."""
    DISK_FULL = "disk_full"
    DISK_FREE = "disk_free"
    STOP = "stop"
    """``wdbot stop`` the sleeper bot: it must stay stopped through every kill."""
    START = "start"
    REGISTRY_BREAK = "registry_break"
    """A stray comma in ``registry.json``, as a hand edit leaves it; made right after the
    step's kill, so the next supervisor starts on it (the issue's case: one launched by a
    command used to move the file aside and stop every bot it no longer knew)."""
    REGISTRY_FIX = "registry_fix"
    """``registry.json.last-good`` copied over it, as the status says to."""


@dataclass(frozen=True)
class Step:
    """One supervisor kill and what comes before it."""

    window: bool
    """Aim at the spawn window; else kill ``delay_s`` after the supervisor came up."""
    delay_s: float
    actions: tuple[tuple[Action, int], ...] = ()


def plan(seed: int, kills: int, clock_steps: int = 6, disk_periods: int = 2,
         disk_kills: int = 3) -> list[Step]:
    """The whole fault schedule, from the seed alone: half the kills in the spawn window
    (shuffled), clock steps alternating forward and back and ending at the real time, disk
    periods of ``disk_kills`` kills, and the sleeper's stops and starts (``SLEEPER_CYCLES``)."""
    rng = random.Random(seed)
    window = [True] * (kills // 2) + [False] * (kills - kills // 2)
    rng.shuffle(window)
    actions: dict[int, list[tuple[Action, int]]] = {}

    def at(index: int, action: Action, value: int = 0) -> None:
        actions.setdefault(min(max(index, 0), kills - 1), []).append((action, value))

    for broke, fixed in REGISTRY_PERIODS:  # first in their steps: a restore before a disk fills
        at(round(kills * broke), Action.REGISTRY_BREAK)
        at(max(round(kills * fixed), round(kills * broke) + 1), Action.REGISTRY_FIX)

    for j in range(clock_steps):
        offset = 0 if j == clock_steps - 1 else (1 if j % 2 == 0 else -1) * rng.randint(2, 30)
        at(round((j + 1) * kills / (clock_steps + 1)), Action.CLOCK, offset)
    for j in range(disk_periods):
        start = round((j + 0.3) * kills / disk_periods)
        at(start, Action.DISK_FULL)
        at(start + disk_kills, Action.DISK_FREE)
    for stop, start in SLEEPER_CYCLES:
        at(round(kills * stop), Action.STOP)
        at(round(kills * start), Action.START)
    return [Step(window[i], round(rng.uniform(0.0, 1.2), 3), tuple(actions.get(i, ())))
            for i in range(kills)]


@dataclass
class Tally:
    kills: int = 0
    window_kills: int = 0
    window_aimed: int = 0
    window_late: int = 0
    """Spawns seen whose pid the registry held by the time the supervisor was frozen."""
    window_none: int = 0
    clock_steps: int = 0
    disk_full_periods: int = 0
    stops: int = 0
    stop_kills: int = 0
    """Stops of the sleeper whose supervisor was killed after the SIGTERM, mid-stop."""
    registry_kills: int = 0
    """Supervisor kills while the registry could not be read."""


def apply(lab: Lab, action: Action, value: int, checker: Checker, tally: Tally,
          unreadable: UnreadableEpisodes) -> None:
    if action is Action.REGISTRY_BREAK and lab.break_registry():
        unreadable.broken(lab.snapshot())
        checker.paused = True
    elif action is Action.REGISTRY_FIX and lab.restore_registry():
        end_unreadable(checker, unreadable)
    elif action is Action.CLOCK and lab.clock is not None:
        lab.clock.step_to(value)
        tally.clock_steps += 1
    elif action is Action.DISK_FULL and lab.disk is not None:
        written = lab.disk.fill()
        checker.disk_full = True
        tally.disk_full_periods += 1
        unreadable.hold()
        free = os.statvfs(lab.disk.mountpoint)
        lab.notes.append(f"disk-full period {tally.disk_full_periods}: {written >> 20} MB of "
                         f"ballast, {free.f_bavail * free.f_frsize} bytes left")
    elif action is Action.DISK_FREE and lab.disk is not None:
        lab.disk.free()
        checker.disk_full = False
        checker.excuse(time.monotonic())
        unreadable.excuse(time.monotonic())
    elif action is Action.STOP:
        tally.stops += 1
        tally.stop_kills += lab.stop_sleeper_midway(MID_STOP_WAIT_S)
        checker.forget(lab.SLEEPER)
        unreadable.forget(lab.SLEEPER)
    elif action is Action.START:
        lab.toggle_sleeper(run=True)
        checker.forget(lab.SLEEPER)
        unreadable.forget(lab.SLEEPER)


def end_unreadable(checker: Checker, unreadable: UnreadableEpisodes) -> None:
    """The registry is restored: bots down meanwhile (nothing restarts one) count from now."""
    now = time.monotonic()
    unreadable.fixed(now)
    checker.paused = False
    checker.excuse(now)


def kill_one(lab: Lab, step: Step, index: int, tally: Tally) -> None:
    """One supervisor kill as the step says; a kill that found no supervisor is not counted."""
    sup = lab.supervisor_up()
    if sup is None:
        return
    landed = None
    if step.window:
        tally.window_aimed += 1
        landed = lab.kill_at_spawn(sup, PROVOKE_AFTER_S, WINDOW_WAIT_S, index)
        tally.window_none += landed is None
        tally.window_late += landed is False
    if landed is None:  # a plain kill (or no spawn came: fall back to one)
        time.sleep(step.delay_s)
        landed = False
        if not lab.kill(sup):
            return
    tally.kills += 1
    tally.window_kills += int(landed)
    tally.registry_kills += int(lab.registry_broken)


def settle(lab: Lab, checker: Checker, unreadable: UnreadableEpisodes, seconds: float) -> None:
    """Keep looking, with a supervisor up, until every suspicion has had its grace period."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        lab.supervisor_up()
        observe(lab, checker, unreadable)
        time.sleep(1.0)


def observe(lab: Lab, checker: Checker, unreadable: UnreadableEpisodes) -> None:
    snap = lab.snapshot()
    checker.observe(snap)
    unreadable.observe(snap)


def run(args: argparse.Namespace) -> chaos_report.Figures:
    started = time.monotonic()
    steps = plan(args.seed, args.kills)
    budget_end = started + args.max_minutes * 60
    with Lab(life_s=args.max_minutes * 60 + 120, warm_spare=args.warm_spare) as lab:
        lab.register()
        plans = {b.name: b for b in lab.plans}
        checker = Checker(plans, args.grace)
        unreadable = UnreadableEpisodes(plans, args.grace)
        tally = Tally()
        checker.observe(lab.snapshot())
        for index, step in enumerate(steps):
            if time.monotonic() > budget_end:
                lab.notes.append(f"stopped after {index} steps: --max-minutes {args.max_minutes}")
                break
            checker.step(index, time.monotonic())
            for action, value in step.actions:
                if action is not Action.REGISTRY_BREAK:
                    apply(lab, action, value, checker, tally, unreadable)
            kill_one(lab, step, index, tally)
            for action, value in step.actions:  # with no supervisor up: the next one reads it
                if action is Action.REGISTRY_BREAK:
                    apply(lab, action, value, checker, tally, unreadable)
            lab.reap_clients()
            lab.supervisor_up()
            observe(lab, checker, unreadable)
            if (index + 1) % 10 == 0:
                print(f"chaos: {index + 1}/{len(steps)} steps, {tally.kills} kills "
                      f"({tally.window_kills} in the spawn window)", file=sys.stderr, flush=True)
        tally.clock_steps += int(lab.undo_faults())
        checker.disk_full = False
        if lab.restore_registry():
            end_unreadable(checker, unreadable)
        checker.excuse(time.monotonic())
        settle(lab, checker, unreadable, args.grace + max(p.max_down_s for p in plans.values()) + 2)
        survivors = lab.shutdown()
        lab.restart_as_a_service(SERVICE_WATCH_S, lambda snap, started: checker.observe_held(snap, started))
        if args.keep:
            lab.keep(Path(args.keep))
        return figures(args, lab, checker, tally, survivors, time.monotonic() - started, unreadable)


def summary(what: str, kinds: list[str]) -> list[str]:
    """One line counting ``kinds``, most frequent first (empty when there are none)."""
    if not kinds:
        return []
    counts = collections.Counter(kinds).most_common()
    return [f"{what}: " + ", ".join(f"{kind} {n}" for kind, n in counts)]


def figures(args: argparse.Namespace, lab: Lab, checker: Checker, tally: Tally,
            survivors: list[str], wall_s: float, unreadable: UnreadableEpisodes) -> chaos_report.Figures:
    def first(lines: list[str], what: str, n: int = 3) -> list[str]:
        more = [f"{what}: ... and {len(lines) - n} more"] if len(lines) > n else []
        return [f"{what}: {line}" for line in lines[:n]] + more

    dups = sorted(checker.duplicates)
    orphans = list(checker.orphans.values())
    findings = (summary("duplicates by bot", [bot for bot, _ in dups])
                + first([f"{bot}: second copy pid {ident.pid}" for bot, ident in dups], "duplicate")
                + summary("orphans by kind", [o.kind for o in orphans])
                + first([o.text for o in orphans], "orphan")
                + summary("healthy restarts by bot", [r.split(":")[0] for r in checker.restarts])
                + first(checker.restarts, "healthy restarted") + first(checker.lost, "lost", 10)
                + first(survivors, "left after shutdown")
                + first(lab.second_sigterms(), "second SIGTERM")
                + first([f"{bot}: ran under the supervisor restarted right after 'wdbot shutdown'"
                         for bot in sorted(checker.held_ran)], "run after shutdown")
                + first([f.text for f in unreadable.findings], "registry unreadable"))
    notes = [*lab.notes, f"{tally.window_aimed} kills aimed at the spawn window: "
             f"{tally.window_kills} landed in it, {tally.window_late} found the pid already "
             f"recorded, {tally.window_none} saw no spawn within {WINDOW_WAIT_S:.0f} s",
             f"{tally.stops} stops of the sleeper, {tally.stop_kills} with the supervisor killed "
             f"mid-stop (after the SIGTERM, during the bot's {chaos_bots.CLEANUP_S:.0f} s clean-up)",
             f"registry.json made unreadable {unreadable.episodes} times (a stray comma), "
             f"{tally.registry_kills} supervisor kills meanwhile, each restored from "
             f"registry.json.last-good"]
    return chaos_report.Figures(
        label=args.label, at=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), seed=args.seed,
        kills_planned=args.kills, duplicates=len(checker.duplicates), orphans=len(checker.orphans),
        healthy_restarted=len(checker.restarts), lost=len(checker.lost),
        left_after_shutdown=len(survivors), second_sigterms=len(lab.second_sigterms()),
        held_ran=len(checker.held_ran),
        registry_unreadable=len(unreadable.findings), registry_breaks=unreadable.episodes,
        kills=tally.kills, window_kills=tally.window_kills,
        clock_steps=tally.clock_steps, disk_full_periods=tally.disk_full_periods,
        wall_s=round(wall_s, 1), bots=tuple(p.name for p in lab.plans), skipped=tuple(lab.skipped),
        findings=tuple(findings), failed_commands=lab.failed_commands, notes=tuple(notes),
        code=code_commit())


def code_commit() -> str:
    """The last commit that changed the package (and "+changes" when it has uncommitted ones)."""
    def git(*args: str) -> str:
        try:
            done = subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True,
                                  timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            return ""
        return done.stdout.strip() if done.returncode == 0 else ""

    commit = git("log", "-1", "--format=%h", "--", "watchdog_runtime")
    dirty = git("status", "--porcelain", "--", "watchdog_runtime")
    return commit + ("+changes" if commit and dirty else "")


def write_outputs(args: argparse.Namespace, fig: chaos_report.Figures) -> None:
    if args.json:
        Path(args.json).write_text(chaos_report.rows_to_json([fig]))
    if args.write_doc:
        rows = chaos_report.rows_from_json(DOC_JSON.read_text()) if DOC_JSON.exists() else []
        rows = chaos_report.merge_rows(rows, fig)
        DOC_JSON.write_text(chaos_report.rows_to_json(rows))
        DOC.write_text(chaos_report.doc(rows))


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="chaos.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=13, help="the fault schedule's seed (13)")
    parser.add_argument("--kills", type=int, default=100, help="supervisor kill -9s (100)")
    parser.add_argument("--label", default="current", help="the row's name in the doc")
    parser.add_argument("--json", metavar="PATH", help="write the figures here")
    parser.add_argument("--write-doc", action="store_true", help="write docs/reliability.md")
    parser.add_argument("--grace", type=float, default=10.0,
                        help="seconds a suspicion must last to count (10)")
    parser.add_argument("--max-minutes", type=float, default=15.0, help="bound of the run (15)")
    parser.add_argument("--warm-spare", action="store_true",
                        help="start every bot with --warm-spare (the row's label says so)")
    parser.add_argument("--keep", metavar="DIR",
                        help="copy the home's logs, events and registry here at the end")
    args = parser.parse_args(argv)
    if args.warm_spare and "warm spare" not in args.label:
        args.label = f"{args.label}, warm spares"
    if args.kills < 2 or args.grace <= 0 or args.max_minutes <= 0:
        parser.error("--kills must be at least 2, --grace and --max-minutes above 0")
    if args.json and not Path(args.json).absolute().parent.is_dir():
        parser.error(f"--json {args.json}: no such folder; give a path in an existing folder")
    keep = Path(args.keep) if args.keep else None
    if keep is not None and keep.exists() and (not keep.is_dir() or any(keep.iterdir())):
        parser.error(f"--keep {args.keep}: not an empty folder; give a new or empty one")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    try:
        fig = run(args)
    except KeyboardInterrupt:
        print("chaos: interrupted; everything it started was stopped", file=sys.stderr)
        return 130
    except RuntimeError as exc:
        print(f"chaos: {exc}", file=sys.stderr)
        return 1
    write_outputs(args, fig)  # first: a closed stdout must not lose the figures
    print(chaos_report.table(fig))
    return 0 if fig.clean else 1


if __name__ == "__main__":
    sys.exit(main())
