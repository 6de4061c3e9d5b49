"""The invariants ``scripts/chaos.py`` checks between faults, as pure functions of snapshots.

A snapshot is what one look at the machine saw: the processes that carry the home's marker
(``WDBOT_BOT_ID``), the helpers that recorded themselves in pid files, and the registry.
:class:`Checker` keeps what must persist across looks (when a process first looked orphaned,
since when a bot is down) on the snapshots' own monotonic times, so tests drive it with
synthetic snapshots and no clock.

The promise checked: never two copies of a bot, nothing left running that nobody manages,
no healthy bot restarted for no reason, no bot left down that should run; and while the
registry file cannot be read (:class:`UnreadableEpisodes`), no bot stopped, started twice or
lost because of it.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True, order=True)
class Ident:
    """A process as pid plus start time in clock ticks since boot (``/proc/PID/stat`` field
    22): unlike psutil's ``create_time`` it does not move when the wall clock is stepped."""

    pid: int
    ticks: int


@dataclass(frozen=True)
class Proc:
    """A live (not zombie) process that carries a bot's marker."""

    ident: Ident
    ppid: int
    bot: str
    main: bool
    """The bot's own process (the bootstrap running its file), not something it started."""


@dataclass(frozen=True)
class Helper:
    """A live helper that an escaping bot started, from the pid file the helper wrote (some
    helpers clear their environment, so no marker finds them)."""

    ident: Ident
    owner: Ident
    """The bot process that started it."""
    kind: str


@dataclass(frozen=True)
class Finding:
    """A violation: its kind (for the summary) and what was seen."""

    kind: str
    text: str


@dataclass(frozen=True)
class BotEntry:
    """One bot as the registry has it."""

    should_run: bool
    state: str
    run_pid: int | None


@dataclass(frozen=True)
class BotPlan:
    """What the chaos run expects of one bot."""

    name: str
    healthy: bool
    """A healthy bot runs for the whole run: its process must never change by itself."""
    max_down_s: float
    """How long it may be without a process while it should run (a crash looper's backoff)."""


@dataclass(frozen=True)
class Snapshot:
    at: float
    """Monotonic seconds."""
    procs: tuple[Proc, ...]
    helpers: tuple[Helper, ...]
    registry: Mapping[str, BotEntry]
    wanted: frozenset[str]
    """The bots the run means to be running (all but those it stopped on purpose)."""


def main_roots(procs: Iterable[Proc]) -> dict[str, list[Proc]]:
    """Per bot, its main processes whose parent is not another process of the same bot: the
    tree roots. One per bot is the promise; a helper that double-forked is a root too, but
    not a main, so it is no copy of the bot."""
    members: dict[str, set[int]] = {}
    procs = list(procs)
    for proc in procs:
        members.setdefault(proc.bot, set()).add(proc.ident.pid)
    roots: dict[str, list[Proc]] = {}
    for proc in procs:
        if proc.main and proc.ppid not in members[proc.bot]:
            roots.setdefault(proc.bot, []).append(proc)
    for found in roots.values():
        found.sort(key=lambda p: p.ident.ticks)
    return roots


def managed(roots: list[Proc], entry: BotEntry | None) -> Proc | None:
    """The copy the registry holds, else the oldest one (the one a careful supervisor keeps)."""
    if not roots:
        return None
    held = [p for p in roots if entry is not None and p.ident.pid == entry.run_pid]
    return held[0] if held else roots[0]


def extra_copies(snap: Snapshot) -> set[tuple[str, Ident]]:
    """Every main root beyond the one copy a bot may have."""
    out: set[tuple[str, Ident]] = set()
    for bot, roots in main_roots(snap.procs).items():
        keep = managed(roots, snap.registry.get(bot))
        out.update((bot, p.ident) for p in roots if p is not keep)
    return out


def orphan_suspects(snap: Snapshot) -> dict[Ident, Finding]:
    """Processes that nobody manages right now, each with why. Only those that stay so for a
    grace period are orphans (a stop takes its timeout; a spawn is recorded a moment later)."""
    out: dict[Ident, Finding] = {}
    roots = main_roots(snap.procs)
    for proc in snap.procs:
        entry = snap.registry.get(proc.bot)
        if proc.bot not in snap.wanted or entry is None or not entry.should_run:
            out[proc.ident] = Finding("process of a stopped bot",
                                      f"{proc.bot}: pid {proc.ident.pid} runs although the bot "
                                      f"is stopped")
    for bot, found in roots.items():
        entry = snap.registry.get(bot)
        for proc in found:
            if entry is None or proc.ident.pid != entry.run_pid:
                out.setdefault(proc.ident, Finding(
                    "copy the registry does not hold",
                    f"{bot}: pid {proc.ident.pid} runs, the registry does not hold it"))
    alive = {p.ident for p in snap.procs}
    for helper in snap.helpers:
        if helper.owner not in alive:
            out[helper.ident] = Finding(f"{helper.kind} helper outlived its bot",
                                        f"{helper.kind} helper pid {helper.ident.pid} outlived "
                                        f"its bot process {helper.owner.pid}")
    return out


def down_bots(snap: Snapshot) -> set[str]:
    """The bots that should run and have no process."""
    up = {bot for bot, roots in main_roots(snap.procs).items() if roots}
    return set(snap.wanted) - up


def held_runs(procs: Iterable[Proc], started: Iterable[str]) -> set[str]:
    """The bots that ran while every bot was held by ``wdbot shutdown``: a bot process seen,
    or a ``start`` event written, while the supervisor that a simulated service manager
    started right after the shutdown served (issue 23, point 1). Helpers do not count: a
    leftover is the "left after shutdown" column's."""
    return {p.bot for p in procs if p.main} | set(started)


@dataclass
class Checker:
    """Counts each violation once, across snapshots."""

    plans: Mapping[str, BotPlan]
    grace_s: float
    duplicates: set[tuple[str, Ident]] = field(default_factory=set)
    orphans: dict[Ident, Finding] = field(default_factory=dict)
    restarts: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    held_ran: set[str] = field(default_factory=set)
    """Bots run by the supervisor a service manager restarted right after the shutdown."""
    _suspects: dict[Ident, float] = field(default_factory=dict)
    _down_since: dict[str, float] = field(default_factory=dict)
    _lost_open: set[str] = field(default_factory=set)
    _mains: dict[str, set[Ident]] = field(default_factory=dict)
    _steps: list[tuple[float, int]] = field(default_factory=list)
    _runs: dict[str, int | None] = field(default_factory=dict)
    paused: bool = False
    """While set (the registry cannot be read: the supervisor starts, stops and cleans up
    nothing, on purpose) no bot counts as lost and no orphan's grace runs; both count again
    from the restore (:class:`UnreadableEpisodes` judges what the episode did)."""
    disk_full: bool = False
    """While set (the home's disk is full: no run can be written ahead, so no bot can start)
    no bot counts as lost; orphans and copies are judged as ever. Being down counts again
    from the disk's freeing (:meth:`excuse`). Without it, a full-disk period longer than a
    bot's allowance (spawn-window steps each wait up to 10 s for a spawn that cannot come)
    was judged while it lasted, against :meth:`excuse`'s own rule."""

    def step(self, index: int, at: float) -> None:
        """The run's step ``index`` began at ``at``: findings name the step they began in,
        so a finding can be matched with the fault that caused it (``--keep`` logs)."""
        self._steps.append((at, index))

    def _began(self, since: float) -> str:
        at = bisect.bisect_right(self._steps, (since, float("inf"))) - 1
        return f", began in step {self._steps[at][1]}" if at >= 0 else ", began before the faults"

    def observe(self, snap: Snapshot) -> None:
        """Take one snapshot into the counts."""
        self.duplicates |= extra_copies(snap)
        self._orphans(snap)
        self._restarts(snap)
        self._lost(snap)

    def observe_held(self, snap: Snapshot, started: Iterable[str] = ()) -> None:
        """One look while every bot must stay down (after ``wdbot shutdown``, under the
        supervisor a service manager restarted): ``started``, the bots the event log says
        that supervisor started."""
        self.held_ran |= held_runs(snap.procs, started)

    def excuse(self, until: float) -> None:
        """Nothing counts as lost for being down before ``until`` (a full disk may keep a bot
        from starting: it must come back once the disk has room, not during)."""
        for bot, since in self._down_since.items():
            self._down_since[bot] = max(since, until)

    def forget(self, bot: str) -> None:
        """The run stopped or started ``bot`` on purpose: its next process is no restart."""
        self._mains.pop(bot, None)
        self._down_since.pop(bot, None)
        self._lost_open.discard(bot)

    def _orphans(self, snap: Snapshot) -> None:
        now = orphan_suspects(snap)
        if self.paused:
            self._suspects = {i: snap.at for i in now}
            return
        self._suspects = {i: self._suspects.get(i, snap.at) for i in now}
        for ident, since in self._suspects.items():
            if snap.at - since >= self.grace_s and ident not in self.orphans:
                found = now[ident]
                self.orphans[ident] = Finding(found.kind, f"{found.text} ({snap.at - since:.0f} s"
                                                          f"{self._began(since)})")

    def _restarts(self, snap: Snapshot) -> None:
        """Every new process of a healthy bot is a restart (a copy beside the old one too:
        nothing asked for either), except the first one after the run started it."""
        roots = main_roots(snap.procs)
        for name, plan in self.plans.items():
            if not plan.healthy or name not in snap.wanted:
                continue
            known = self._mains.setdefault(name, set())
            for proc in roots.get(name, []):
                if known and proc.ident not in known:
                    self.restarts.append(f"{name}: new process pid {proc.ident.pid} "
                                         f"(was {', '.join(str(i.pid) for i in sorted(known))})")
                known.add(proc.ident)

    def _lost(self, snap: Snapshot) -> None:
        """A bot is lost when it has had no process for long. Snapshots come a few seconds
        apart, so a crash looper seen down in two of them may have run in between: a new
        run pid in the registry says it did (its down time starts again)."""
        down = down_bots(snap)
        runs = {name: entry.run_pid for name, entry in snap.registry.items()}
        for name in list(self._down_since):
            ran = name in runs and runs[name] != self._runs.get(name, runs[name])
            if name not in down or ran:
                del self._down_since[name]
                self._lost_open.discard(name)
        self._runs.update(runs)
        for name in down:
            since = self._down_since.setdefault(name, snap.at)
            plan = self.plans.get(name)
            limit = (plan.max_down_s if plan else 0.0) + self.grace_s
            judged = not (self.paused or self.disk_full)
            if snap.at - since >= limit and name not in self._lost_open and judged:
                self._lost_open.add(name)
                self.lost.append(f"{name}: no process for {snap.at - since:.0f} s although it "
                                 f"should run{self._began(since)}")


@dataclass
class _Episode:
    broke_at: float
    healthy: dict[str, Ident]
    """Each healthy bot's process when the registry broke: it must outlive the episode."""
    fixed_at: float | None = None
    held: bool = False
    """A full disk: no bot can start, so none is judged lost until it is freed."""
    came_back: set[str] = field(default_factory=set)
    """Bots seen with a process after the restore, or with a new run in the registry (a
    crash looper may run and crash between two looks)."""
    runs: dict[str, int | None] = field(default_factory=dict)


@dataclass
class UnreadableEpisodes:
    """The registry made unreadable mid-run, then restored from its last good copy. A
    violation is a bot stopped (a healthy bot's process of the break gone before the episode
    is judged), started twice (a second copy from the break on) or lost (never seen running
    from the restore until it has had its grace and the bot its backoff) because of it; each
    counted once."""

    plans: Mapping[str, BotPlan]
    grace_s: float
    findings: list[Finding] = field(default_factory=list)
    episodes: int = 0
    _open: _Episode | None = None
    _seen: set[object] = field(default_factory=set)

    def broken(self, snap: Snapshot) -> None:
        """The run has just made the registry unreadable; ``snap`` is what ran then."""
        roots = main_roots(snap.procs)
        healthy = {name: roots[name][0].ident for name, plan in self.plans.items()
                   if plan.healthy and name in snap.wanted and roots.get(name)}
        self._open = _Episode(snap.at, healthy)
        self.episodes += 1

    def fixed(self, at: float) -> None:
        """The run has restored the registry at ``at``."""
        if self._open is not None:
            self._open.fixed_at = at

    def forget(self, bot: str) -> None:
        """The run stopped or started ``bot`` on purpose: its process may change."""
        if self._open is not None:
            self._open.healthy.pop(bot, None)

    def hold(self) -> None:
        """The disk is full: no bot is judged lost until :meth:`excuse`."""
        if self._open is not None:
            self._open.held = True

    def excuse(self, until: float) -> None:
        """The disk has room again at ``until``: the restore's grace counts from then."""
        ep = self._open
        if ep is not None:
            ep.held = False
            if ep.fixed_at is not None:
                ep.fixed_at = max(ep.fixed_at, until)

    @property
    def active(self) -> bool:
        """An episode is under way (broken, or restored but not yet judged)."""
        return self._open is not None

    def observe(self, snap: Snapshot) -> None:
        ep = self._open
        if ep is None:
            return
        alive = {p.ident for p in snap.procs}
        for name, ident in ep.healthy.items():
            if ident not in alive and name in snap.wanted:
                self._find(("stopped", ident), f"{name}: pid {ident.pid} was stopped while the "
                                               f"registry was unreadable or at its restore")
        for name, ident in extra_copies(snap):
            self._find(("twice", ident), f"{name}: a second copy, pid {ident.pid}, with the "
                                         f"registry unreadable or just restored")
        self._came_back(ep, snap)
        longest = max((p.max_down_s for p in self.plans.values()), default=0.0)
        if ep.fixed_at is not None and not ep.held and snap.at >= ep.fixed_at + self.grace_s + longest:
            for name in sorted(set(snap.wanted) - ep.came_back):
                self._find(("lost", name, ep.broke_at), f"{name}: no process "
                                                         f"{snap.at - ep.fixed_at:.0f} s after "
                                                         f"the registry was restored")
            self._open = None

    @staticmethod
    def _came_back(ep: _Episode, snap: Snapshot) -> None:
        runs = {name: entry.run_pid for name, entry in snap.registry.items()}
        if ep.fixed_at is not None and snap.at >= ep.fixed_at:
            ep.came_back |= {name for name, roots in main_roots(snap.procs).items() if roots}
            ep.came_back |= {name for name, run in runs.items()
                             if name in ep.runs and run is not None and run != ep.runs[name]}
        ep.runs.update(runs)

    def _find(self, key: object, text: str) -> None:
        if key not in self._seen:
            self._seen.add(key)
            self.findings.append(Finding("registry unreadable", text))
