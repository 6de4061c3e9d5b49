"""What ``scripts/chaos.py`` reports: its figures, the table on stdout, and
``docs/reliability.md`` built from every labelled run kept in ``docs/reliability.json``
(a rerun replaces the row of its own label, so the "before" row stays beside "after").
Pure: text in, text out."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Figures:
    """One chaos run. The first five counts and ``second_sigterms`` are violations: the
    target is zero in each."""

    label: str
    at: str
    seed: int
    kills_planned: int
    duplicates: int
    orphans: int
    healthy_restarted: int
    lost: int
    left_after_shutdown: int
    kills: int
    window_kills: int
    clock_steps: int
    disk_full_periods: int
    wall_s: float
    bots: tuple[str, ...] = ()
    skipped: tuple[str, ...] = ()
    """Faults not inflicted, each with why."""
    findings: tuple[str, ...] = ()
    """What was seen, a line each (the first ones of each kind)."""
    code: str = ""
    """The last commit that changed ``watchdog_runtime/`` when the run was made."""
    failed_commands: int = 0
    """``wdbot`` commands of the run that exited non-zero (a full disk may cause some)."""
    notes: tuple[str, ...] = field(default_factory=tuple)
    second_sigterms: int | None = None
    """Processes sent SIGTERM more than once (None: a run from before it was counted)."""
    held_ran: int | None = None
    """Bots run by a supervisor that a simulated service manager started right after
    ``wdbot shutdown`` (None: a run from before it was counted)."""
    registry_unreadable: int | None = None
    """Bots stopped, started twice or lost because the registry was made unreadable mid-run
    (None: a run from before that step existed)."""
    registry_breaks: int = 0

    @property
    def clean(self) -> bool:
        return not (self.duplicates or self.orphans or self.healthy_restarted or self.lost
                    or self.left_after_shutdown or self.second_sigterms or self.held_ran
                    or self.registry_unreadable)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Figures:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        for key in ("bots", "skipped", "findings", "notes"):
            known[key] = tuple(known.get(key, ()))
        return cls(**known)


COLUMNS: tuple[tuple[str, str], ...] = (
    ("duplicates seen", "duplicates"),
    ("orphans left", "orphans"),
    ("healthy restarted", "healthy_restarted"),
    ("bots lost", "lost"),
    ("left after shutdown", "left_after_shutdown"),
    ("second SIGTERMs", "second_sigterms"),
    ("run after shutdown", "held_ran"),
    ("registry unreadable", "registry_unreadable"),
    ("kills done", "kills"),
    ("in spawn window", "window_kills"),
    ("clock steps", "clock_steps"),
    ("disk-full periods", "disk_full_periods"),
    ("wall time", "wall_s"),
)


def _cell(fig: Figures, key: str) -> str:
    value = getattr(fig, key)
    if value is None:
        return "not counted"
    return f"{value:.0f} s" if key == "wall_s" else str(value)


def table(fig: Figures, max_findings: int = 12) -> str:
    """The run as a two-column text table for the terminal."""
    width = max(len(name) for name, _ in COLUMNS)
    lines = [f"chaos run {fig.label!r}: seed {fig.seed}, {fig.kills_planned} kills planned"]
    lines += [f"  {name:<{width}}  {_cell(fig, key)}" for name, key in COLUMNS]
    lines += [f"  skipped: {reason}" for reason in fig.skipped]
    lines += [f"  found: {line}" for line in fig.findings[:max_findings]]
    lines.append("  verdict: " + ("clean (zero in every column)" if fig.clean else "VIOLATIONS"))
    return "\n".join(lines)


def merge_rows(rows: Sequence[Figures], new: Figures) -> list[Figures]:
    """``rows`` with ``new`` in place of the row of the same label (or appended)."""
    out = [new if row.label == new.label else row for row in rows]
    return out if any(row.label == new.label for row in rows) else [*out, new]


def rows_from_json(text: str) -> list[Figures]:
    return [Figures.from_json(item) for item in json.loads(text)["runs"]]


def rows_to_json(rows: Sequence[Figures]) -> str:
    return json.dumps({"runs": [row.to_json() for row in rows]}, indent=2) + "\n"


def _row_name(row: Figures) -> str:
    code = f", code {row.code}" if row.code else ""
    return f"{row.label} ({row.at}, seed {row.seed}{code})"


def doc(rows: Sequence[Figures]) -> str:
    """``docs/reliability.md``: what was run, the figures of each labelled run, how to rerun."""
    head = "| run | " + " | ".join(name for name, _ in COLUMNS) + " |"
    rule = "|---" * (len(COLUMNS) + 1) + "|"
    body = [f"| {_row_name(r)} | " + " | ".join(_cell(r, k) for _, k in COLUMNS) + " |"
            for r in rows]
    parts = [_INTRO, head, rule, *body, "", _COLUMNS_TEXT]
    for row in rows:
        parts.append(f"### {row.label}\n")
        parts.append(f"Bots: {', '.join(row.bots) or 'none'}. {row.kills} of {row.kills_planned} "
                     f"planned kills done, {row.failed_commands} `wdbot` commands failed.\n")
        parts += [f"- skipped: {reason}" for reason in row.skipped]
        parts += [f"- note: {note}" for note in row.notes]
        parts += [f"- {line}" for line in row.findings] or ["- nothing found"]
        parts.append("")
    parts.append(_RERUN)
    return "\n".join(parts)


_INTRO = """\
# Reliability: the chaos run

wdbot promises one thing above all: **never two copies of a bot trading at once, never a bot
trading after the user stopped it, never a bot left down by a failure that would have
healed.** `make chaos` (`scripts/chaos.py`) tries to break that promise on purpose, against
one fresh home with a few crash-looping bots, a few healthy ones, and one bot whose helpers
escape its process tree in every way we know (own session, double fork with `setsid`, a
cleared environment, a helper that ignores SIGTERM, one that renames itself, and one that
does all of it). It inflicts:

- supervisor `kill -9`s, half of them in the *spawn window*: the run watches the
  supervisor's children against `registry.json`, and when a child appears whose pid the
  registry does not hold yet it freezes the supervisor (SIGSTOP) and kills it. After each
  kill, `wdbot status --json` brings up the next supervisor, which must adopt what runs;
- clock steps both ways (`/proc/stat`'s `btime` shifted by a bind mount in a private mount
  namespace, which is what an NTP step does to process start times);
- a full disk for a while (the home on a small tmpfs, filled with a ballast file, then freed);
- a healthy bot stopped with `wdbot stop` and started again later, four times, the
  supervisor killed in the middle of each stop (after the bot's SIGTERM, while it cleans up
  for 4 s as a bot cancelling its orders would);
- the supervisor restarted by a simulated service manager right after `wdbot shutdown`: a
  `wdbot daemon` started at once, as `Restart=always`, a container restart policy or a
  reboot would, and watched for a few seconds (every bot is held by the shutdown).
- `registry.json` made unreadable mid-run (a stray comma, written in place as an editor
  does, right after a supervisor kill, so the next supervisor starts on it) twice, for a few
  supervisor kills each, then restored with `cp registry.json.last-good registry.json`, as
  `wdbot status` says to.

Between faults it checks the promise, and after `wdbot shutdown` it checks that nothing of
the home is left. The target is zero in the first eight columns. The `before` row is the code
before the fixes of issue 13 (write-ahead spawn, clock-proof identity, cgroup containment,
SIGKILL deadlines that outlive a supervisor, ...), and `before one SIGTERM` the code before
a stop noted whom it had signalled (each kill in the middle of a stop then cost the bot a
second SIGTERM): that the run finds its failures is what shows it can fail. Each finding
names the step of the run it began in, and `--keep DIR`
keeps the home's logs, so a finding can be traced to the fault that caused it.
"""

_COLUMNS_TEXT = """\
What the columns count (each process or episode once; "for long" is the run's grace
period, 10 s by default, so a stop or a spawn in flight is no violation):

- **duplicates seen**: a second live copy of a bot (two processes running the bot's file,
  carrying its `WDBOT_BOT_ID` marker, neither started by the other).
- **orphans left**: a process nobody manages, for long: a process of a stopped bot, a copy
  the registry does not hold, or a helper alive after the bot process that started it died.
- **healthy restarted**: a new process of a healthy bot appeared (in its place, or as a copy
  beside it) although nothing asked for it.
- **bots lost**: a bot that should run had no process for long (beyond its backoff).
- **left after shutdown**: processes of the home still alive after `wdbot shutdown` (the run
  kills them by pid and lists them).
- **second SIGTERMs**: healthy bot processes that were sent SIGTERM more than once (a second
  one means "exit now" to many bots, cutting their clean-up short); "not counted" in rows
  run before the column existed.
- **run after shutdown**: bots that ran (a process seen, or a `start`
  event) under the `wdbot daemon` started right after `wdbot shutdown`, as a service manager
  would: a shutdown holds every bot until `wdbot start`, whatever restarts the supervisor;
  "not counted" in rows run before the column existed.
- **registry unreadable**: bots stopped, started twice or lost because the registry
  could not be read: a healthy bot's process of the moment the file broke gone before the
  restore was judged, a second copy of a bot from the break on, or a bot without a process
  once the restore has had its grace and the bot its backoff. While the file is broken, the
  run reads the last good copy as the registry (it is what the supervisor keeps, and what a
  restore brings back), and neither a bot down nor a process unmanaged counts against the
  other columns (the supervisor starts, stops and cleans up nothing then, on purpose): both
  count again from the restore. "not counted" in rows run before the step existed.
"""

_RERUN = """\
## Rerun it

    make chaos                                        # seed 13, 100 kills, prints the table
    sudo .venv/bin/python scripts/chaos.py --seed 13 --kills 100 --label after --write-doc

Run it as root: the clock steps and the full disk need a private mount namespace (the run
unshares its own, so nothing it mounts is seen outside it); without root those two faults
are skipped with the reason printed. `--json PATH` writes the figures; `--write-doc` puts
them in `docs/reliability.json` under `--label` and writes this page from every row kept
there; `--keep DIR` copies the home's supervisor log, event log, registry and bot logs
to DIR at the end. The run takes a few minutes on 2 cores; `--kills` scales it, `--max-minutes` bounds it.
It exits 1 while any violation column is above zero (so `make chaos` fails), 0 when clean.
If the run itself is killed, a reaper process it started kills what it left and removes its
temp folder.
"""
