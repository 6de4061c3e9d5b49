"""A first start no slower than ``uv run`` (issue 26): the bot's packages are installed
without compiling their bytecode, and compiled at low priority once the bot is up."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import Wdbot, build_wheel, wait_until, write_bot


def test_packages_are_compiled_after_the_bot_is_up_not_before_it_starts(
        wd: Wdbot, bots: Path, tmp_path: Path) -> None:
    """Regression (issue 26): every module of every package was compiled before the first
    start (``--compile-bytecode``: ccxt and pandas took 11.7 s to past the imports against
    3.5-4.5 s for 'uv run'). The bot reports what it finds at its first line; the compile
    waits for the bot to be up (--min-uptime 5: five seconds, a bound, not a guess)."""
    assert wd.env["PYTHONDONTWRITEBYTECODE"] == "1", "the bot itself writes no .pyc"
    wheels = tmp_path / "wheels"
    build_wheel(wheels, "wdtest-lazy", "1.0", {"wdtest_lazy/__init__.py": "X = 1\n",
                                                "wdtest_lazy/unused.py": "Y = 2\n"})
    wd.env.update({"UV_FIND_LINKS": str(wheels), "UV_NO_INDEX": "1"})
    bot = write_bot(bots, "lazy.py", """
        # /// script
        # dependencies = ["wdtest-lazy"]
        # ///
        import importlib.util, pathlib, sys, time
        spec = importlib.util.find_spec("wdtest_lazy")
        cache = pathlib.Path(spec.origin).parent / "__pycache__"
        print("compiled at start:", sorted(p.name.split(".")[0] for p in cache.glob("*.pyc")), flush=True)
        time.sleep(600)
    """)
    wd("start", str(bot), "--min-uptime", "5")
    wait_until(lambda: "compiled at start:" in wd.stdout("lazy"), "the bot's first line")
    assert "compiled at start: []" in wd.stdout("lazy"), "nothing compiled before the start"
    venv = wd.home / "bots" / "lazy" / "venv"
    cache = next(venv.glob("lib/python*/site-packages")) / "wdtest_lazy" / "__pycache__"
    # Then, the bot up, everything is compiled (what it did not import too) and the marker goes.
    wait_until(lambda: not (venv / ".wdbot-bytecode-pending").exists(), "the compile after the start", 60)
    assert sorted(p.name.split(".")[0] for p in cache.glob("*.pyc")) == ["__init__", "unused"]
    assert wd.bot("lazy")["state"] == "running" and wd.bot("lazy")["restarts"] == 0


def test_a_first_start_writes_no_bytecode_of_its_own_the_compile_after_it_does(
        wd: Wdbot, bots: Path, tmp_path: Path) -> None:
    """Regression (issue 26, first start no slower than 'uv run'): the bot's first imports
    wrote a .pyc for every module they compiled (ccxt and pandas: about 0.5 s of CPU before
    its first useful line), while the low-priority compile after the start writes them all
    anyway. The first start now writes none; once the compile is done, a restart imports
    from the compiled bytecode and writes its own again, as Python does."""
    del wd.env["PYTHONDONTWRITEBYTECODE"]  # as a user's shell: Python writes .pyc by default
    wheels = tmp_path / "wheels"
    build_wheel(wheels, "wdtest-own", "1.0", {"wdtest_own/__init__.py": "X = 1\n",
                                               "wdtest_own/unused.py": "Y = 2\n"})
    wd.env.update({"UV_FIND_LINKS": str(wheels), "UV_NO_INDEX": "1"})
    bot = write_bot(bots, "own.py", """
        # /// script
        # dependencies = ["wdtest-own"]
        # ///
        import os, pathlib, sys, time
        import wdtest_own
        cache = pathlib.Path(wdtest_own.__file__).parent / "__pycache__"
        print("written by the bot:", sorted(p.name.split(".")[0] for p in cache.glob("*.pyc")),
              "writes:", not sys.dont_write_bytecode, "env:", "WDBOT_BYTECODE_LATER" in os.environ,
              flush=True)
        time.sleep(600)
    """)
    wd("start", str(bot), "--min-uptime", "5")
    wait_until(lambda: "written by the bot:" in wd.stdout("own"), "the bot's first line")
    assert "written by the bot: [] writes: False env: False" in wd.stdout("own"), wd.stdout("own")
    venv = wd.home / "bots" / "own" / "venv"
    wait_until(lambda: not (venv / ".wdbot-bytecode-pending").exists(), "the compile after the start", 60)
    cache = next(venv.glob("lib/python*/site-packages")) / "wdtest_own" / "__pycache__"
    assert sorted(p.name.split(".")[0] for p in cache.glob("*.pyc")) == ["__init__", "unused"]
    wd("restart", "own")
    wait_until(lambda: wd.stdout("own").count("written by the bot:") == 2, "the restart's first line")
    assert "written by the bot: ['__init__', 'unused'] writes: True env: False" in wd.stdout("own")
