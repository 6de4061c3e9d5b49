"""``common.leanbytecode``'s parts on real processes and files: when a supervisor runs lean,
what the fill compiles and marks, and that a fill whose supervisor dies ends unmarked."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.helpers import wait_until
from watchdog_runtime.common import leanbytecode
from watchdog_runtime.common.leanbytecode import CACHE_ENV, OFF_ENV, READY


@pytest.fixture(autouse=True)
def _private(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(CACHE_ENV, raising=False)
    monkeypatch.delenv(OFF_ENV, raising=False)


def test_lean_only_once_the_cache_is_ready_and_never_when_turned_off(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert leanbytecode.lean_argv(tmp_path, ["daemon"]) is None
    assert leanbytecode.needs_fill(tmp_path)
    cache = leanbytecode.cache_dir(tmp_path)
    assert cache.parent == tmp_path / "cache" / "bytecode"
    cache.mkdir(parents=True)
    (cache / READY).write_text("")
    argv = leanbytecode.lean_argv(tmp_path, ["daemon", "--ready-fd", "5"])
    assert argv is not None and argv[:5] == [sys.executable, "-OO", "-X", "no_debug_ranges", "-S"]
    at = argv.index(str(cache))
    count = int(argv[at + 1])
    path = argv[at + 2:at + 2 + count]
    assert argv[at + 2 + count:] == ["daemon", "--ready-fd", "5"]
    # No site (-S): the launcher's search path instead, the package's folder first.
    package_parent = str(Path(leanbytecode.__file__).resolve().parents[2])
    assert path[0] == package_parent
    assert set(sys.path) - {"", os.getcwd()} <= set(path)
    assert not leanbytecode.needs_fill(tmp_path)
    monkeypatch.setenv(OFF_ENV, "0")
    assert leanbytecode.lean_argv(tmp_path, ["daemon"]) is None
    assert not leanbytecode.needs_fill(tmp_path)
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "shared"))
    assert leanbytecode.cache_dir(tmp_path).parent == tmp_path / "shared"


def test_the_fill_compiles_lean_bytecode_into_the_cache_then_marks_it(tmp_path: Path) -> None:
    argv = leanbytecode.fill_argv(tmp_path / "home")
    subprocess.run(argv, check=True, timeout=300)
    cache = leanbytecode.cache_dir(tmp_path / "home")
    assert (cache / READY).is_file()
    this = Path(leanbytecode.__file__).resolve()
    compiled = cache / this.parent.relative_to("/")  # a prefix tree has no __pycache__ folders
    assert list(compiled.glob("leanbytecode.*.opt-2.pyc")), sorted(compiled.iterdir())


def test_a_fill_whose_supervisor_dies_stops_and_never_marks_the_cache(tmp_path: Path) -> None:
    """A supervisor killed (-9) mid-fill leaves no compiler running on as an orphan, and no
    ``READY`` over a half-filled cache."""
    sources = tmp_path / "src"
    sources.mkdir()
    body = "".join(f"def f{i}(x):\n    return [x * {i} for _ in range(3)]\n" for i in range(3000))
    for n in range(200):  # slow enough to be caught in the middle
        (sources / f"m{n}.py").write_text(body)
    cache = tmp_path / "cache"
    parent = textwrap.dedent(f"""
        import os, subprocess, sys, time
        from watchdog_runtime.common import leanbytecode
        argv = leanbytecode.fill_argv(__import__('pathlib').Path({str(tmp_path / 'home')!r}))
        child = subprocess.Popen(argv[:argv.index({str(leanbytecode.cache_dir(tmp_path / 'home'))!r})]
                                 + [{str(cache)!r}] + sorted(str(p) for p in
                                 __import__("pathlib").Path({str(sources)!r}).glob("*.py")))
        print(child.pid, flush=True)
        time.sleep(600)
    """)
    proc = subprocess.Popen([sys.executable, "-c", parent], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])})
    assert proc.stdout is not None
    child = int(proc.stdout.readline())
    wait_until(lambda: any(cache.rglob("*.pyc")), "the fill to start compiling")
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    proc.stdout.close()
    wait_until(lambda: not Path(f"/proc/{child}").exists() or _zombie(child), "the orphaned fill to stop", 60)
    assert not (cache / READY).exists()
    assert len(list(cache.rglob("*.pyc"))) < 200


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def test_a_search_path_entry_holding_the_path_separator_reaches_the_lean_process(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A checkout (or site-packages) at ``/srv/bots:v2``: ``-S`` leaves no ``site`` to find
    it, so the entry must arrive whole, not split or dropped (the lean supervisor could not
    import wdbot at all: every start failed once the cache was filled; red team rt37)."""
    odd = tmp_path / f"a{os.pathsep}b"
    (odd / "oddmod").mkdir(parents=True)
    (odd / "oddmod" / "__init__.py").write_text("WHERE = 'odd'\n")
    monkeypatch.syspath_prepend(str(odd))
    cache = leanbytecode.cache_dir(tmp_path)
    cache.mkdir(parents=True)
    (cache / READY).write_text("")
    argv = leanbytecode.lean_argv(tmp_path, ["--version"])
    assert argv is not None and str(odd) in argv
    boot = argv.index("-c") + 1
    argv[boot] = argv[boot].replace("from watchdog_runtime.cli.main import main",
                                    "import oddmod; print(oddmod.WHERE, sys.argv[1:]); main = lambda: 0")
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "odd ['--version']"
