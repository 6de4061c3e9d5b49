"""The supervisor's own code loaded lean (issue 29): ``-OO`` drops the docstrings and asserts
of every module it imports, ``-X no_debug_ranges`` the column tables of their code, about
1 MiB of a long-lived process's RSS. The bots it starts are never run so.

Python names the bytecode of ``-OO`` apart (``*.opt-2.pyc``), and a process that finds none
compiles every module from source at each start: slower, and heavier, not lighter. So the
supervisor runs lean only once a cache of its own holds that bytecode: the first supervisor,
once it has been up a while, fills the cache in a low-priority child (``fill_argv``), and
from the next one on ``wdbot daemon`` starts as ``python -OO -X no_debug_ranges`` with
``sys.pycache_prefix`` on the cache (``lean_argv``; a ``wdbot daemon`` started plainly, by a
service manager or a container, re-executes itself so: the same pid). The prefix is set by
the first line of the process, not by ``PYTHONPYCACHEPREFIX``: the bots' environment stays
theirs, and so does their bytecode.

The cache is ``cache/bytecode`` in the home (``WDBOT_BYTECODE_CACHE`` moves it, for homes
that share one), one folder per interpreter; ``WDBOT_LEAN_BYTECODE=0`` keeps
the supervisor plain. A module changed since it was compiled is compiled again on import, as
ever, into the same cache.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from .digest import sha256_hex
from .importlazily import deferred
from .lowpriority import LOWEST_PRIORITY

OFF_ENV = "WDBOT_LEAN_BYTECODE"
"""``0``: the supervisor runs plain, its cache neither used nor filled."""
CACHE_ENV = "WDBOT_BYTECODE_CACHE"
"""Where the caches are, instead of ``cache/bytecode`` in the home."""
FILL_AFTER_ENV = "WDBOT_BYTECODE_FILL_AFTER_S"
"""How long a supervisor runs before it fills a missing cache (``FILL_AFTER_S``; tests)."""
FILL_AFTER_S = 120.0
"""A supervisor fills the cache once it has been up this long: its bots' starts come first."""
SUPERVISOR_ENV = frozenset({OFF_ENV, CACHE_ENV, FILL_AFTER_ENV})
"""What a launched supervisor keeps of the launching command's ``WDBOT_`` environment."""
READY = "READY"
"""In a cache folder: every module the supervisor had loaded was compiled there."""
FLAGS = ("-OO", "-X", "no_debug_ranges")
LEAN_FLAGS = (*FLAGS, "-S")
"""The supervisor's own: no ``site`` either (its ``.pth`` hooks: an editable install's finder
imports pathlib, and with it ``urllib.parse``, before anything of ours runs), the launching
command's module search path given instead (``search_path``)."""

_BOOT = """
import os, sys
sys.pycache_prefix = sys.argv.pop(1)
if sys.path[:1] == [""]:
    del sys.path[0]  # the folder it was started in: its signal.py or queue.py is not ours
count = int(sys.argv.pop(1))
for entry in sys.argv[1:1 + count]:
    if entry not in sys.path:
        sys.path.append(entry)
del sys.argv[1:1 + count]
sys.dont_write_bytecode = False
import importlib._bootstrap_external as external
get_code = external.SourceLoader.get_code


def get_code_repaired(self, fullname):
    try:
        return get_code(self, fullname)
    except (EOFError, ValueError, TypeError) as exc:
        last = exc.__traceback__
        while last.tb_next is not None:
            last = last.tb_next
        if last.tb_frame.f_code.co_name != "_compile_bytecode":
            raise  # not a .pyc of the cache that cannot be loaded
        source = self.get_filename(fullname)
        cached = external.cache_from_source(source)
        print(f"wdbot: {cached} of the lean bytecode cache is damaged ({exc!r}): compiled again",
              file=sys.stderr, flush=True)
        try:
            os.unlink(cached)
            return get_code(self, fullname)  # from the source, and written again
        except OSError:
            return self.source_to_code(self.get_data(source), source)


external.SourceLoader.get_code = get_code_repaired
from watchdog_runtime.supervisor.leanimports import import_pathlib_without_urllib
import_pathlib_without_urllib()
from watchdog_runtime.cli.main import main
sys.exit(main())
"""
"""The lean process's first lines: the launching command's module search path (``-S`` left
the standard library's only), its bytecode from the cache (and into it, whatever
``PYTHONDONTWRITEBYTECODE`` says: the cache is wdbot's, and a module missing there, new since
the fill, would be compiled again at every start), then the ``wdbot`` command. A ``.pyc`` of
the cache that cannot be loaded (cut short: Python does not fall back to the source for it),
whenever it is imported (at the start, or at a first need long after: ``--watch``'s module),
is said in the supervisor's log, removed and compiled again from its source (into the cache;
from the source alone where the cache cannot be written)."""

_FILL = LOWEST_PRIORITY + """
import os, py_compile, sys
parent = os.getppid()
prefix = sys.pycache_prefix = sys.argv[1]
for path in sys.argv[2:]:
    if os.getppid() != parent:
        sys.exit(3)  # the supervisor is gone (killed): no orphan compiles on, no READY
    try:
        py_compile.compile(path, doraise=True)
    except (OSError, py_compile.PyCompileError):
        continue  # gone, or not Python 3: imported from source, as ever
os.makedirs(prefix, exist_ok=True)
temp = os.path.join(prefix, f".READY.{os.getpid()}")
with open(temp, "w") as fh:
    fh.write(sys.version + "\\n")
os.replace(temp, os.path.join(prefix, "READY"))
"""
"""Compiles each file given (``-OO``, no column tables: the interpreter's own flags) into the
cache, at the lowest priority, then marks the cache ready; stops if its supervisor dies."""


def enabled() -> bool:
    """Lean bytecode is not turned off (``WDBOT_LEAN_BYTECODE=0``)."""
    return os.environ.get(OFF_ENV, "1").strip() != "0"


def cache_dir(home_root: Path) -> Path:
    """This interpreter's cache folder (its ``READY`` is this interpreter's: the ``.pyc`` files
    carry their sources' times and sizes, so an upgraded wdbot's changes are compiled again)."""
    base = os.environ.get(CACHE_ENV)
    root = Path(base).expanduser().resolve() if base else home_root / "cache" / "bytecode"
    key = sha256_hex(f"{sys.version}\0{sys.executable}".encode())[:16]
    return root / key


def lean_argv(home_root: Path, args: list[str]) -> list[str] | None:
    """The command line that runs ``wdbot ARGS`` lean, or None: turned off, already lean,
    or the cache not filled yet."""
    cache = _ready(home_root)
    if cache is None or sys.flags.optimize >= 2:
        return None
    path = search_path()  # one argument each: an entry may hold os.pathsep (a checkout's "a:b")
    return [sys.executable, *LEAN_FLAGS, "-c", _BOOT, str(cache), str(len(path)), *path, *args]


def search_path() -> list[str]:
    """Where this process finds modules, for a lean supervisor that runs no ``site``: the
    folder holding ``watchdog_runtime`` (an editable install finds it by a ``site`` hook), then
    ``sys.path`` without the folder it was started in (``''``, the working directory: a bot's
    folder, whose ``signal.py`` would stand in for the standard library's)."""
    ours, here = str(Path(__file__).resolve().parent.parent.parent), os.getcwd()
    entries = [ours, *(entry for entry in sys.path if entry and entry != here)]
    return [entry for i, entry in enumerate(entries) if entry not in entries[:i]]


def needs_fill(home_root: Path) -> bool:
    """This supervisor should fill the cache: turned on, and not ready yet."""
    return enabled() and _ready(home_root) is None


def _ready(home_root: Path) -> Path | None:
    """The cache folder when lean bytecode is on and the folder is filled."""
    cache = cache_dir(home_root)
    return cache if enabled() and (cache / READY).is_file() else None


def fill_argv(home_root: Path) -> list[str]:
    """The low-priority child that compiles every module this process has loaded, and every
    module of wdbot (those it loads later), into the cache."""
    cache = cache_dir(home_root)
    files = {path for module in list(sys.modules.values()) if not deferred(module)  # else loaded now
             and isinstance(path := getattr(module, "__file__", None), str) and path.endswith(".py")}
    package = Path(__file__).resolve().parent.parent
    files.update(str(path) for path in package.rglob("*.py"))
    return [sys.executable, *FLAGS, "-I", "-c", _FILL, str(cache), *sorted(files)]


def fill_after_s() -> float:
    """``FILL_AFTER_S``, or ``WDBOT_BYTECODE_FILL_AFTER_S`` when set to a number."""
    try:
        return max(0.0, float(os.environ.get(FILL_AFTER_ENV, FILL_AFTER_S)))
    except ValueError:
        return FILL_AFTER_S
