"""``wd.State``: a bot's durable JSON mapping. Stdlib only (it runs inside every bot).

A save never leaves a torn file: the new version is written to a temporary file in the same
folder, flushed and fsynced; the version it replaces is kept as ``NAME.prev`` (a hard link,
so keeping it costs no copy); ``os.replace`` swaps the new one in and the folder is fsynced.
A kill at any instant leaves ``NAME`` holding either the old or the new version. Should the
file still be unreadable (a disk fault, a hand edit gone wrong, a non-atomic copy), loading
falls back to ``NAME.prev`` with a warning, never silently to an empty state.

One writer per file: the bot that owns it.
"""

from __future__ import annotations

import json
import os
import time
import warnings
from collections.abc import Iterator, MutableMapping
from pathlib import Path
from typing import Any

from ..common.durable import fsync_dir, make_temp
from . import crashpoints

DEFAULT_NAME = "state.json"


class StateCorrupt(Exception):
    """Neither the state file nor its previous version could be read. Nothing was changed;
    the message names the files to inspect.

    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "state.json"
    >>> _ = path.write_text('{"positions": {"BTC'), path.with_name("state.json.prev").write_text("")
    >>> State(path)
    Traceback (most recent call last):
    ...
    watchdog_runtime.bot.store.StateCorrupt: the state file ... and so is its previous version ...
    """


class StateWarning(UserWarning):
    """The state file was unreadable and its previous version was loaded instead.

    >>> import tempfile, pathlib, warnings
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "state.json"
    >>> state = State(path); state["n"] = 1; state.save(); state["n"] = 2; state.save()
    >>> _ = path.write_text('{"n": 3, "torn')  # a disk fault, say
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     State(path)["n"], caught[0].category.__name__
    (1, 'StateWarning')
    """


class State(MutableMapping[str, Any]):
    """A durable dict of JSON values, saved atomically with :meth:`save`.

    ``path`` defaults to ``state.json`` in the bot's state folder (``wd.state_dir()``); a
    bare name like ``"orders.json"`` is put in that folder too.

    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> state = State(folder / "state.json")
    >>> state["positions"] = {"BTC/USDT": {"amount": 0.01, "stop": 61000.0}}
    >>> state.save()
    >>> State(folder / "state.json")["positions"]["BTC/USDT"]["stop"]
    61000.0

    Values must be JSON values (dicts, lists, strings, numbers, booleans, None); ``save``
    checks them all before writing anything.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = _resolve(path)
        self.previous = self.path.with_name(self.path.name + ".prev")
        self.loaded_from: Path | None = None
        """The file the data came from: ``path``, ``previous`` (after a fallback), or None."""
        self._data: dict[str, Any] = self._load()

    # ----------------------------------------------------------------- mapping
    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self._data[key] = value

    def __delitem__(self, key: str) -> None:
        del self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        return f"State({str(self.path)!r}, {self._data!r})"

    # -------------------------------------------------------------------- I/O
    def save(self) -> None:
        """Write the whole mapping atomically and durably (see the module's docstring).

        >>> import tempfile, pathlib
        >>> state = State(pathlib.Path(tempfile.mkdtemp()) / "s.json")
        >>> state["bad"] = object()
        >>> state.save()
        Traceback (most recent call last):
        ...
        TypeError: Object of type object is not JSON serializable
        """
        data = json.dumps(self._data, indent=1, sort_keys=True, allow_nan=False).encode() + b"\n"
        folder = self.path.parent
        fd, tmp = make_temp(folder, self.path.name)  # not tempfile's: it imports random, shutil
        try:
            with os.fdopen(fd, "wb") as fh:
                half = len(data) // 2
                fh.write(data[:half])
                crashpoints.crash_point("mid_save")  # a test may kill the bot here: a torn temp file
                fh.write(data[half:])
                fh.flush()
                os.fsync(fh.fileno())
            if self.path.exists():
                self._keep_previous()
            os.replace(tmp, self.path)
        except BaseException:
            _unlink(tmp)
            raise
        fsync_dir(folder)
        self.loaded_from = self.path

    def _keep_previous(self) -> None:
        """Make ``NAME.prev`` the version about to be replaced (atomically, without a copy)."""
        link = self.previous.with_name(f".{self.previous.name}.{os.getpid()}.link")
        _unlink(link)
        try:
            os.link(self.path, link)
        except OSError:
            return  # a file system without hard links: the atomic replace still protects NAME
        os.replace(link, self.previous)

    def _load(self) -> dict[str, Any]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._remove_stale_temporaries()
        if not self.path.exists() and not self.previous.exists():
            return {}  # a first start
        problem = _read(self.path)
        if isinstance(problem, dict):
            self.loaded_from = self.path
            return problem
        fallback = _read(self.previous)
        if not isinstance(fallback, dict):
            raise StateCorrupt(
                f"the state file {self.path} is unreadable ({problem}) and so is its previous "
                f"version {self.previous} ({fallback}); fix or remove them, then start again")
        moved = self._move_aside()
        warnings.warn(
            f"the state file {self.path} is unreadable ({problem}); loaded its previous version "
            f"{self.previous}" + (f"; the unreadable file was moved to {moved}" if moved else ""),
            StateWarning, stacklevel=3)
        self.loaded_from = self.previous
        return fallback

    def _move_aside(self) -> Path | None:
        """Keep an unreadable file for inspection, and out of the way of the next save (which
        would otherwise make it the previous version)."""
        if not self.path.exists():
            return None
        aside = self.path.with_name(f"{self.path.name}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}")
        os.replace(self.path, aside)
        return aside

    def _remove_stale_temporaries(self) -> None:
        # Left by a writer killed mid-save; never valid data (one writer per file).
        for stale in self.path.parent.glob(f".{self.path.name}.*.tmp"):
            _unlink(stale)


def _resolve(path: str | os.PathLike[str] | None) -> Path:
    if path is None:
        path = DEFAULT_NAME
    candidate = Path(path)
    if candidate.is_absolute() or candidate.parent != Path("."):
        return candidate.absolute()
    from .. import state_dir

    return state_dir() / candidate


def _read(path: Path) -> dict[str, Any] | str:
    """The mapping in ``path``, or a few words on why there is none."""
    try:
        data = json.loads(path.read_bytes())
    except FileNotFoundError:
        return "missing"
    except (OSError, ValueError) as exc:
        return f"{type(exc).__name__}: {exc}"
    if not isinstance(data, dict):
        return f"holds a {type(data).__name__}, not an object"
    return data


def _unlink(path: str | os.PathLike[str]) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass  # already gone: what we wanted
