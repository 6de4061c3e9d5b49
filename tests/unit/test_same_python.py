"""The supervisor answers for a venv of its own interpreter (issue 26: no Python started
before the bot's first line for what it can see itself): the same answers as the venv's."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from watchdog_runtime.installs import venvprobe
from watchdog_runtime.installs.samepython import same_as_ours
from watchdog_runtime.installs.uvtool import run_uv
from watchdog_runtime.supervisor.botfile import _COMPILE, BotFileError, check_bot_file


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A uv venv of this Python with a regular package, a namespace portion, a module, an
    extension-less ``.pth`` folder and a module only an ``import`` line of a ``.pth`` adds."""
    root = tmp_path_factory.mktemp("same")
    run_uv(["venv", "--quiet", "--relocatable", "--python", sys.executable, str(root / "venv")])
    site = next((root / "venv").glob("lib/python*/site-packages"))
    (site / "regular").mkdir()
    (site / "regular" / "__init__.py").write_text("")
    (site / "regular" / "sub.py").write_text("")
    (site / "nspace" / "part").mkdir(parents=True)
    (site / "nspace" / "part" / "__init__.py").write_text("")
    (site / "single.py").write_text("")
    (root / "extra").mkdir()
    (root / "extra" / "viapth.py").write_text("")
    (root / "hooked").mkdir()
    (root / "hooked" / "hookmod.py").write_text("")
    (site / "extra.pth").write_text(f"{root / 'extra'}\n")
    (site / "hook.pth").write_text(f"import sys; sys.path.append({str(root / 'hooked')!r})\n")
    return root / "venv"


NAMES = ["", ".x", "os", "sys", "json", "_json", "sqlite3", "time", "regular", "regular.sub", "regular.nope",
         "nspace", "nspace.part", "nspace.gone", "single", "viapth", "hookmod", "absent",
         "absent.sub", "tkinter"]


def _asked(python: Path, name: str) -> bool:
    """The venv's own answer: ``name`` is missing."""
    done = subprocess.run([str(python), "-I", "-c", venvprobe._PROBE], input=json.dumps([name]),
                          capture_output=True, text=True, check=True, timeout=60)
    return name in json.loads(done.stdout)


def test_a_uv_venv_of_this_python_is_ours_and_another_is_not(venv: Path, tmp_path: Path) -> None:
    assert same_as_ours(venv / "bin" / "python")
    other = tmp_path / "other" / "bin"
    other.mkdir(parents=True)
    (other.parent / "pyvenv.cfg").write_text((venv / "pyvenv.cfg").read_text().replace(
        "version_info = ", "version_info = 2.7.18\nignored = "))
    assert not same_as_ours(other / "python")
    assert not same_as_ours(tmp_path / "nothing" / "bin" / "python")


@pytest.mark.parametrize("name", NAMES)
def test_what_the_supervisor_finds_itself_the_venv_finds_too(venv: Path, name: str) -> None:
    """Found plainly implies not missing; never the other way round (then the venv is asked)."""
    python = venv / "bin" / "python"
    if venvprobe._plainly_there(python, name):
        assert not _asked(python, name)
    assert (name in venvprobe.missing_modules(python, [name])) == _asked(python, name)


def _unstartable(venv: Path, tmp_path: Path) -> Path:
    """The venv's files, with a ``bin/python`` that cannot run: what needs it fails."""
    broken = tmp_path / "broken"
    (broken / "bin").mkdir(parents=True)
    (broken / "pyvenv.cfg").write_text((venv / "pyvenv.cfg").read_text())
    (broken / "lib").symlink_to(venv / "lib")
    (broken / "bin" / "python").write_text("#!/bin/sh\nexit 7\n")
    (broken / "bin" / "python").chmod(0o755)
    return broken / "bin" / "python"


def test_nothing_missing_is_answered_without_starting_the_venvs_python(venv: Path, tmp_path: Path) -> None:
    """Regression (issue 26, first start no slower than 'uv run'): every start asked the
    venv's Python what it lacks, a Python started before the bot's first line even when
    all its imports are plainly there. Anything else still asks it (and says it could not)."""
    python = _unstartable(venv, tmp_path)
    assert venvprobe.missing_modules(python, ["os", "regular.sub", "single", "viapth"]) == set()
    with pytest.raises(venvprobe.ProbeError):
        venvprobe.missing_modules(python, ["os", "absent"])


def test_a_syntax_error_is_found_without_starting_the_venvs_python(venv: Path, tmp_path: Path) -> None:
    """Regression (issue 26): the file check before a start started the venv's Python to
    compile the bot's file, even when that Python is the supervisor's own."""
    bot = tmp_path / "bot.py"
    bot.write_text("def f(:\n    pass\n")
    with pytest.raises(BotFileError, match=r"bot\.py:1: SyntaxError: "):
        check_bot_file(bot, "b", _unstartable(venv, tmp_path))


@pytest.mark.parametrize("source", ["def f(:\n    pass\n", "if True:\nx = 1\n", "x = 1\0\n",
                                    "if 1:\n\tx = 1\n        y = 2\n", "x = 1\n"])
def test_the_file_check_says_what_the_venvs_python_says(venv: Path, tmp_path: Path, source: str) -> None:
    """Compiled here (the supervisor's own Python) or by the venv's: the same one line."""
    bot = tmp_path / "bot.py"
    bot.write_bytes(source.encode())
    python = venv / "bin" / "python"
    assert same_as_ours(python)
    done = subprocess.run([str(python), "-I", "-c", _COMPILE, str(bot)], capture_output=True,
                          text=True, timeout=60)
    try:
        check_bot_file(bot, "b", python)
        here = None
    except BotFileError as exc:
        here = exc.message
    child = None if done.returncode != 3 else json.loads(done.stdout)
    if child is None:
        assert here is None
    else:
        where = f"{bot}:{child['line']}" if child.get("line") else str(bot)
        assert here == f"{where}: {child['type']}: {child['msg']}; fix it, then 'wdbot start b'"
