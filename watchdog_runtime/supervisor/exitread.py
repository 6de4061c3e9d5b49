"""What a bot's exit means, read from what its run left behind: the bootstrap's exit record,
the end of its stderr, its last memory reading, the kernel's OOM count (``lifecycle`` turns
it into an ``ExitInfo``, ``diagnosis`` into a pattern and its fix)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from ..common.home import BotPaths
from ..common.leandataclass import dataclass
from ..events import wall_iso
from ..records import Diagnosis
from ..registry import RunRecord
from ..spec import BotSpec
from .lifecycle import ExitInfo, classify_exit
from .livewatch import LiveWatch
from .nativecrash import NATIVE_SIGNALS, crashed_module
from .runfiles import exit_record, stderr_tail
from .tracebacks import MissingModule, final_traceback, missing_module


@dataclass(frozen=True)
class Context:
    """Around the exit: how much the machine slept, whether the OOM killer struck."""

    slept_s: float | None
    oom_killed: bool | None


def read_exit(spec: BotSpec, paths: BotPaths, run: RunRecord, returncode: int | None, recovering: bool,
              watch: LiveWatch, context: Context) -> tuple[ExitInfo, MissingModule | None]:
    """How ``run`` ended (``returncode``: None when it was not our child), and the module it
    died for, if that is what it died of."""
    record = exit_record(paths.exit_record, run)
    missing = missing_module(lambda: stderr_tail(paths.stderr_log, run), record)
    info = classify_exit(returncode, record, Path(spec.path).parent, wall_iso(),
                         missing_module=missing is not None, recovering=recovering)
    return replace(info, diagnosis=_diagnose(spec, paths, info, record, run, watch, context)), missing


def _diagnose(spec: BotSpec, paths: BotPaths, info: ExitInfo, record: dict[str, Any] | None,
              run: RunRecord, watch: LiveWatch, context: Context) -> Diagnosis | None:
    """The crash pattern of an exit (pure ``diagnosis``), from the exit record, else the
    final traceback of this run's stderr, and the last memory reading."""
    exc_line, tail = None, ""
    if info.signal is None and record is None:
        # No record of ours (an adopted bot): the final traceback on stderr is all there is.
        # With a record, its absent exception means a plain exit: nothing to read.
        tail = stderr_tail(paths.stderr_log, run)
        found = final_traceback(tail)
        exc_line = found.exc_line if found else None
    native = None
    if info.signal in NATIVE_SIGNALS:  # faulthandler's dump names the crashing package
        native = crashed_module(stderr_tail(paths.stderr_log, run))
    last, limits = watch.readings.last, watch.limits
    from .diagnosis import diagnose, failure_of  # its tables only once an exit is explained (issue 29)

    return diagnose(info.reason, info.code, info.signal, failure_of(record, exc_line, tail),
                    last.rss_bytes if last else None, limits.machine_memory_bytes if limits else None,
                    slept_s=context.slept_s, native_module=native, bot=spec.name,
                    oom_killed=context.oom_killed)
