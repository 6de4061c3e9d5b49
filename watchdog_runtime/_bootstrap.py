"""The first code of every bot process: ``python -m watchdog_runtime._bootstrap BOT.py ARGS``.

Stdlib only (it runs inside the bot's venv). It runs the bot file as ``__main__`` exactly as
``python BOT.py`` would, and leaves a structured exit record for the supervisor, so the
supervisor learns how the bot ended (exception type, message, whether the file failed to
compile) without trusting text the bot printed, and even when the supervisor that started
it is gone and cannot collect the exit status.
"""

from __future__ import annotations

import os
import sys
import traceback
import types
from typing import Any, NoReturn

from watchdog_runtime.durable import atomic_write_json


def _record(**fields: Any) -> None:
    path = os.environ.get("WDBOT_EXIT_RECORD")
    if not path:
        return
    fields["run_id"] = os.environ.get("WDBOT_RUN_ID")
    try:
        atomic_write_json(path, fields)
    except OSError as exc:  # a full disk must not change how the bot exits
        print(f"wdbot: cannot write exit record: {exc}", file=sys.stderr)


def _exception_fields(exc: BaseException, phase: str) -> dict[str, Any]:
    last = traceback.extract_tb(exc.__traceback__)[-1:] if exc.__traceback__ else []
    fields: dict[str, Any] = {
        "type": type(exc).__name__,
        "message": str(exc)[:2000],
        "phase": phase,
        "filename": getattr(exc, "filename", None) or (last[0].filename if last else None),
        # The failing statement, which tells apart distributions sharing an import name.
        "line": (last[0].line or None) if last else None,
        "lineno": last[0].lineno if last else None,
    }
    if isinstance(exc, ModuleNotFoundError):
        fields["name"] = exc.name
    return fields


def _exit_code(exc: SystemExit) -> int:
    if exc.code is None:
        return 0
    return exc.code if isinstance(exc.code, int) else 1


def run(path: str, args: list[str]) -> NoReturn:
    """Run the bot file at ``path`` as ``__main__`` with ``args`` and exit as it would."""
    path = os.path.abspath(path)
    sys.argv = [path, *args]
    sys.path[0] = os.path.dirname(path)
    try:
        with open(path, "rb") as fh:
            code = compile(fh.read(), path, "exec")
    except SyntaxError as exc:
        _record(code=1, **_exception_fields(exc, "compile"))
        traceback.print_exception(type(exc), exc, None)
        sys.exit(1)
    module = types.ModuleType("__main__")
    module.__file__ = path
    module.__builtins__ = __builtins__  # type: ignore[attr-defined]  # as runpy does
    sys.modules["__main__"] = module
    try:
        exec(code, module.__dict__)
    except SystemExit as exc:
        _record(code=_exit_code(exc))
        raise
    except KeyboardInterrupt:
        _record(code=-2, type="KeyboardInterrupt", message="", phase="run")
        raise
    except BaseException as exc:
        _record(code=1, **_exception_fields(exc, "run"))
        # Print as Python would, minus this bootstrap's own frame.
        traceback.print_exception(type(exc), exc, exc.__traceback__.tb_next if exc.__traceback__ else None)
        sys.exit(1)
    _record(code=0)
    sys.exit(0)


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: python -m watchdog_runtime._bootstrap BOT.py [ARGS...]")
    run(sys.argv[1], sys.argv[2:])
