"""The one wrapper for every uv call.

uv is the binary shipped in the ``uv`` package (``uv.find_uv_bin()``), run without a shell,
with ``--no-config`` (no stray ``uv.toml`` changes what a bot gets), a cleaned environment
(no ``VIRTUAL_ENV`` or ``PYTHONPATH`` of whoever started the supervisor) and
``UV_PYTHON_DOWNLOADS=never`` (a missing interpreter is an error, not a download).
"""

from __future__ import annotations

import functools
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from ..common.leandataclass import dataclass
from .bytecode import mark_pending

log = logging.getLogger(__name__)

# uv settings a user may legitimately give the supervisor's environment: where the cache
# lives and where packages come from (a private index, a wheel folder, offline mode).
_PASS_THROUGH = frozenset({
    "UV_CACHE_DIR", "UV_INDEX_URL", "UV_DEFAULT_INDEX", "UV_EXTRA_INDEX_URL", "UV_INDEX",
    "UV_FIND_LINKS", "UV_NO_INDEX", "UV_OFFLINE", "UV_NATIVE_TLS", "UV_HTTP_TIMEOUT",
    "UV_INDEX_STRATEGY", "UV_KEYRING_PROVIDER",
})
_DROP = frozenset({"VIRTUAL_ENV", "CONDA_PREFIX", "PYTHONPATH", "PYTHONHOME"})


@dataclass
class UvError(Exception):
    """A uv command failed; ``detail`` is uv's own last error lines."""

    args_: tuple[str, ...]
    returncode: int | None
    detail: str

    def __str__(self) -> str:
        return self.detail or f"uv {' '.join(self.args_)} failed ({self.returncode})"


_bin_lock = threading.Lock()


def uv_bin() -> str:
    """The uv binary of the installed ``uv`` package, checked to run once per process.

    Locked: venvs are prepared in worker threads, and the binary is looked up once.
    """
    with _bin_lock:
        return _find_uv_bin()


_LOCATE = ("import sys\nif sys.path[:1] == ['']:\n    del sys.path[0]  # not a uv.py of the folder it is in\n"
           "import uv\nprint(uv.find_uv_bin())")
"""The look-up, in a child of this interpreter: the ``uv`` package reads ``sysconfig`` (and
its data module) to find its binary, about 0.2 MiB the supervisor would hold for life for
one look-up (issue 29); in a child, neither is imported here (nor ``sysconfig``'s lazy set-up
raced by worker threads, which returned None)."""


@functools.lru_cache(maxsize=1)
def _find_uv_bin() -> str:
    # The package's first place to look (``sysconfig``'s scripts folder of this Python: its
    # venv's ``bin``), taken here without a child: the common case costs no extra process.
    scripts = os.path.join(sys.prefix, "Scripts" if os.name == "nt" else "bin")
    beside = os.path.join(scripts, "uv.exe" if os.name == "nt" else "uv")
    path = beside if os.access(beside, os.X_OK) else _locate_uv_bin()
    try:
        subprocess.run([path, "--version"], check=True, capture_output=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as exc:
        raise UvError(("--version",), None, f"the uv binary at {path} does not run: {exc}") from exc
    return str(path)


def _locate_uv_bin() -> str:
    """``uv.find_uv_bin()``, asked of a child of this interpreter (``_LOCATE``)."""
    try:
        found = subprocess.run([sys.executable, "-c", _LOCATE], check=True, capture_output=True,
                               text=True, timeout=30)
    except subprocess.CalledProcessError as exc:
        lines = exc.stderr.strip().splitlines()
        raise UvError(("--version",), exc.returncode,
                      f"the uv package found no uv binary: {lines[-1] if lines else exc}") from None
    except (OSError, subprocess.SubprocessError) as exc:
        raise UvError(("--version",), None, f"cannot look for the uv binary: {exc}") from None
    lines = found.stdout.strip().splitlines()
    return lines[-1] if lines else ""  # its last line: a sitecustomize may print before it


def uv_env(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment uv runs in: ``base`` (default ``os.environ``) cleaned."""
    source = os.environ if base is None else base
    env = {
        k: v for k, v in source.items()
        if k not in _DROP and (not k.startswith("UV_") or k in _PASS_THROUGH)
    }
    env["UV_PYTHON_DOWNLOADS"] = "never"
    env["NO_COLOR"] = "1"
    return env


def run_uv(args: Sequence[str], *, timeout_s: float = 900.0) -> str:
    """Run ``uv --no-config ARGS`` and return its stdout; raise :class:`UvError` on failure."""
    argv = [uv_bin(), "--no-config", *args]
    started = time.monotonic()
    try:
        done = subprocess.run(argv, env=uv_env(), capture_output=True, text=True,
                              timeout=timeout_s, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise UvError(tuple(args), None, f"uv {args[0]} took longer than {timeout_s:.0f} s") from None
    log.info("uv %s: exit %d in %.3f s", " ".join(args), done.returncode, time.monotonic() - started)
    if done.returncode != 0:
        raise UvError(tuple(args), done.returncode, _last_error(done.stderr))
    return done.stdout


MAX_ERROR_CHARS = 4000
"""uv's whole error is kept (its cause and its hint come last); this bounds a runaway one."""


def _last_error(stderr: str) -> str:
    """uv's error, without the warnings and progress it printed first."""
    text = stderr.strip().splitlines()
    start = next((i for i, line in enumerate(text) if line.startswith(("error", "×"))), 0)
    kept = "\n".join(line.rstrip() for line in text[start:]).strip()
    return kept if len(kept) <= MAX_ERROR_CHARS else kept[:MAX_ERROR_CHARS] + " [...]"


def pip_install(python: Path, *, requirements: Sequence[str] = (), requirement_files: Sequence[str] = (),
                options: Sequence[str] = (), timeout_s: float = 900.0) -> None:
    """``uv pip install`` into the venv of ``python``. Requirements come after ``--``, so a
    name can never be read as an option. No ``--compile-bytecode`` (it cost a first start
    seconds per large package): the venv is marked, and the supervisor compiles its packages
    at low priority once the bot is up (``bytecode``), so that a restart still imports them
    from ``.pyc`` files even when its environment says ``PYTHONDONTWRITEBYTECODE=1``.

    ``UV_NO_INDEX`` in the supervisor's environment means ``--no-index``: uv's pip commands do
    not read that variable themselves, and an air-gapped user who set it must not have uv ask
    the public index behind their back.
    """
    no_index = os.environ.get("UV_NO_INDEX", "").lower() in ("1", "true", "yes", "on")
    args = ["pip", "install", "--quiet", "--python", str(python), *options,
            *(["--no-index"] if no_index and "--no-index" not in options else [])]
    for name in requirement_files:
        args += ["-r", name]
    if requirements:
        args += ["--", *requirements]
    run_uv(args, timeout_s=timeout_s)
    mark_pending(python)
