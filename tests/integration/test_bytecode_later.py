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
