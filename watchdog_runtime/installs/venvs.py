"""A bot's own venv: created with uv, holding only what the bot declares, plus a path entry
that makes the stdlib-only ``watchdog_runtime`` SDK importable.

A venv is reused across restarts and rebuilt only when what it was built from changes (the
interpreter request or the declared dependencies), recorded in a marker written last. It is
replaced, never destroyed first: the new one is built beside it (``venv.new``, relocatable,
so it may be renamed) and swapped in only when complete; a failed build leaves the working
venv as it was.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from ..common.durable import atomic_write_json, fsync_dir
from . import freshness
from .deps import Declared
from .uvtool import UvError, pip_install, run_uv

log = logging.getLogger(__name__)

MARKER = ".wdbot-venv.json"
LAYOUT = 1  # bump when the venv layout wdbot relies on changes


class VenvError(Exception):
    """The venv could not be prepared; the message is for the user. ``permanent``: no retry
    can heal it (an interpreter that does not exist, a malformed requirement, a bad setting);
    otherwise (a download, an index that is down) the bot backs off and tries again."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


def ensure_venv(venv: Path, python: str | None, declared: Declared, sdk_dir: Path,
                index_args: Callable[[], Sequence[str]] = tuple) -> bool:
    """Make ``venv`` match the request; return True when it was (re)built.

    ``index_args`` gives uv's options of where to find packages (``--find-links``, ...); it
    is called only when the venv must be built, so a current venv needs no settings.
    """
    recover_swap(venv)
    wanted = _wanted(python, declared)
    if _current(venv) == wanted:
        return False
    try:
        return _build(venv, python, wanted, declared, sdk_dir, index_args)
    except VenvError as exc:
        if _current(venv, newer_ok=True) != wanted:
            raise
        # Rebuilt only for newer releases (``freshness``): the venv it has still runs the bot,
        # and the index is asked again once it is up (no retry at every start meanwhile).
        log.warning("%s: newer releases not installed, the venv as it was runs the bot: %s", venv, exc)
        freshness.clear(venv, freshness.NEWER)
        freshness.mark(venv, freshness.FROM_CACHE)
        return False


def _build(venv: Path, python: str | None, wanted: dict[str, object], declared: Declared,
           sdk_dir: Path, index_args: Callable[[], Sequence[str]]) -> bool:
    options = list(index_args())  # before anything is built: a bad setting changes nothing
    new = venv.with_name(venv.name + ".new")
    shutil.rmtree(new, ignore_errors=True)  # an interrupted earlier build
    try:
        run_uv(["venv", "--quiet", "--relocatable", "--python", str(wanted["python"]), str(new)])
    except UvError as exc:
        shutil.rmtree(new, ignore_errors=True)
        raise VenvError(_python_message(python, exc),
                        permanent="No interpreter found" in exc.detail) from None
    try:
        _install(new, declared, options, cache_first=freshness.cache_first(options))
        _link_sdk(new, sdk_dir)
        atomic_write_json(new / MARKER, wanted)
    except BaseException:
        shutil.rmtree(new, ignore_errors=True)
        raise
    _swap_in(new, venv)
    return True


def _swap_in(new: Path, venv: Path) -> None:
    """Put the complete ``new`` venv in the place of ``venv``. Two renames: a kill between them
    leaves the old venv as ``venv.old``, which :func:`recover_swap` puts back."""
    old = venv.with_name(venv.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if venv.exists():
        os.rename(venv, old)
    os.rename(new, venv)
    fsync_dir(venv.parent)
    shutil.rmtree(old, ignore_errors=True)


def recover_swap(venv: Path) -> None:
    """A swap cut short (the supervisor killed between its renames): the old venv returns."""
    old = venv.with_name(venv.name + ".old")
    if not venv.exists() and (old / MARKER).exists():
        os.rename(old, venv)


def install_in_place(venv: Path, python: str | None, declared: Declared,
                     index_args: Callable[[], Sequence[str]] = tuple) -> bool:
    """Add what ``declared`` lists to the live venv, while the bot still runs from it (a
    reload installs before it stops the bot). True when something was installed; False when
    nothing changed or the venv must be rebuilt anyway (another interpreter), which the
    restart does. Raises VenvError with uv's message when the install fails."""
    current = _current(venv)
    wanted = _wanted(python, declared)
    if current is None or current == wanted or current.get("python") != wanted["python"]:
        return False
    _install(venv, declared, list(index_args()))
    atomic_write_json(venv / MARKER, wanted)
    return True


def mark_current(venv: Path, python: str | None, declared: Declared) -> None:
    """Record that ``venv`` now holds ``declared`` (after installing into it in place), so the
    next start does not rebuild it. Only a venv built for the same interpreter is marked."""
    current = _current(venv)
    wanted = _wanted(python, declared)
    if current is not None and current.get("python") == wanted["python"]:
        atomic_write_json(venv / MARKER, wanted)


@contextlib.contextmanager
def installing(venv: Path) -> Iterator[None]:
    """Around an install into the live venv: its marker says so meanwhile, so a supervisor
    killed in the middle (a half-installed package, an old release not yet replaced nor
    recorded) leaves a venv the next start rebuilds, never one taken for current. The
    marker comes back as it was when the block ends and nothing marked the venv since;
    an exception leaves it for the rebuild."""
    before = _current(venv)
    if before is None:
        yield
        return
    atomic_write_json(venv / MARKER, {**before, "deps": _INSTALLING})
    yield
    if (_current(venv) or {}).get("deps") == _INSTALLING:
        atomic_write_json(venv / MARKER, before)


_INSTALLING = "(an install into it was cut short)"


def _wanted(python: str | None, declared: Declared) -> dict[str, object]:
    return {"layout": LAYOUT, "python": python or default_python(), "deps": declared.fingerprint()}


def site_packages(venv: Path) -> Path | None:
    """The venv's site-packages folder."""
    found = sorted(venv.glob("lib/python*/site-packages"))
    return found[0] if found else None


def default_python() -> str:
    """The supervisor's own interpreter: it exists, and it is at least 3.10."""
    return sys.executable


def _current(venv: Path, newer_ok: bool = False) -> dict[str, object] | None:
    try:
        data: dict[str, object] = json.loads((venv / MARKER).read_text())
    except (OSError, ValueError):
        return None
    # A venv whose interpreter vanished (an upgraded Python) must be rebuilt, and one the
    # index has newer releases for (``freshness``).
    if not (venv / "bin" / "python").exists() or (
            not newer_ok and freshness.marked(venv, freshness.NEWER)):
        return None
    return data


@contextlib.contextmanager
def requirement_files(declared: Declared) -> Iterator[list[str]]:
    """The files that list ``declared`` for uv, for the block's duration."""
    import tempfile  # here: it brings random into the supervisor, which seldom installs (issue 29)

    files = list(declared.requirement_files)
    with tempfile.TemporaryDirectory() as tmp:
        if declared.requirements:
            # A file, not argv: a declared string is a requirement, never an option.
            listed = Path(tmp) / "requirements.txt"
            listed.write_text("\n".join(declared.requirements) + "\n")
            files.insert(0, str(listed))
        yield files


def _install(venv: Path, declared: Declared, index_args: Sequence[str], cache_first: bool = False) -> None:
    """Install ``declared``; with ``cache_first``, from uv's cache alone when it has it all
    (marked ``FROM_CACHE``: the index is asked once the bot is up), else as before."""
    if not declared.requirements and not declared.requirement_files:
        return
    python = venv / "bin" / "python"
    with requirement_files(declared) as files:
        if cache_first:
            try:
                pip_install(python, requirement_files=files, options=[*index_args, *freshness.OFFLINE])
                freshness.mark(venv, freshness.FROM_CACHE)
                return
            except UvError:
                pass  # something not in the cache (or not resolvable): the online install says
        try:
            pip_install(python, requirement_files=files, options=index_args)
        except UvError as exc:
            raise VenvError(f"installing the bot's dependencies failed: {exc}",
                            permanent=_malformed(exc.detail)) from None


def _link_sdk(venv: Path, sdk_dir: Path) -> None:
    """A .pth line puts ``sdk_dir`` (which holds only the SDK package) on the bot's path."""
    for site in venv.glob("lib/python*/site-packages"):
        (site / "_wdbot_sdk.pth").write_text(f"{sdk_dir}\n")


def _malformed(detail: str) -> bool:
    """uv could not even read a requirement: a typo in a declaration, not a network fault."""
    return any(s in detail for s in ("Failed to parse", "Couldn't parse", "Expected", "is not a valid"))


def _python_message(python: str | None, exc: UvError) -> str:
    if python and "No interpreter found" in exc.detail:
        return (f"Python {python} is not installed here: install it, or pick another with "
                f"--python (uv: {exc.detail.splitlines()[0]})")
    return f"creating the bot's venv failed: {exc}"


def refresh_sdk_link(sdk_dir: Path) -> None:
    """Point ``sdk_dir/watchdog_runtime`` at this installation's package (after an upgrade too)."""
    package = Path(__file__).resolve().parent.parent  # watchdog_runtime/, not installs/
    sdk_dir.mkdir(parents=True, exist_ok=True)
    link = sdk_dir / "watchdog_runtime"
    if link.is_symlink() and link.resolve() == package:
        return
    tmp = sdk_dir / ".watchdog_runtime.new"
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    tmp.symlink_to(package, target_is_directory=True)
    tmp.replace(link)  # atomic: a bot starting right now sees the old or the new link
