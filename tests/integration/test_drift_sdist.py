"""Issue 26, version drift reaching a source-only release: pybit 5.17 has no top-level
``HTTP`` (it moved to ``pybit.unified_trading``) and every release that has it (2.4.1 the
last) exists only as an sdist. Through the real CLI and real uv, on a local mirror."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import Wdbot, build_sdist, build_wheel, wait_until, write_bot
from tests.integration.test_right_packages import RUN_FOREVER


def test_a_drift_is_repaired_with_a_release_that_exists_only_as_an_sdist(
        wd: Wdbot, bots: Path, mirror: Path) -> None:
    """Regression (issue 26, pybit): the probe read wheels only, so 'from pybit import HTTP'
    ended with "pybit 5.17.0 has no 'HTTP' in pybit (nor had 5.16.1, 5.15.0)" although the
    sdist-only 2.4.1 has it."""
    build_wheel(mirror, "wdt-pyb", "5.17.0", {"wdt_pyb/__init__.py": "VERSION = '5.17.0'\n"})
    build_wheel(mirror, "wdt-pyb", "5.16.1", {"wdt_pyb/__init__.py": "VERSION = '5.16.1'\n"})
    build_sdist(mirror, "wdt-pyb", "2.4.1", "wdt_pyb", "class HTTP:\n    WHICH = 'two'\n")
    build_sdist(mirror, "wdt-pyb", "1.0.0", "wdt_pyb", "class HTTP:\n    WHICH = 'one'\n")
    wd("allow", "wdt_pyb=wdt-pyb")
    bot = write_bot(bots, "pyb.py", "from wdt_pyb import HTTP\nprint('version', HTTP.WHICH, flush=True)\n"
                    + RUN_FOREVER)
    wd("start", str(bot), "--backoff-initial", "600", "--backoff-max", "600")

    def seen() -> str | None:
        lines = [line for line in wd.stdout("pyb").splitlines() if line.startswith("version ")]
        return lines[-1] if lines else None

    assert wait_until(seen, "pyb to print its package's version") == "version two"
    status = wd.wait_state("pyb", "running")
    [item] = [i for i in status["auto_installed"] if i["package"] == "wdt-pyb"]
    assert item["version"] == "2.4.1" and item["from_source"] is True
    assert item["note"] == "wdt-pyb 2.4.1: 5.17.0 has no 'HTTP' in wdt_pyb"
    record = (wd.home / "bots" / "pyb" / "auto-requirements.txt").read_text()
    assert "wdt-pyb==2.4.1" in record and "why=wdt-pyb 2.4.1" in record


def test_a_source_only_release_of_a_name_not_allowlisted_is_named_not_built(
        wd: Wdbot, bots: Path, mirror: Path) -> None:
    """A source build runs the package's code: under ``--auto-install any`` a name on no
    allowlist gets wheels only, so the sdist-only release that has the name is not built;
    the bot ends errored in one line, never a crash loop."""
    build_wheel(mirror, "wdt-zzq", "3.1.0", {"wdt_zzq/__init__.py": "VERSION = '3.1.0'\n"})
    build_sdist(mirror, "wdt-zzq", "2.0.0", "wdt_zzq", "HTTP = 'two'\n")
    bot = write_bot(bots, "zzq.py", "from wdt_zzq import HTTP\nprint('version', HTTP, flush=True)\n"
                    + RUN_FOREVER)
    wd("start", str(bot), "--auto-install", "any", "--backoff-initial", "600", "--backoff-max", "600")
    status = wd.wait_state("zzq", "errored")
    assert status["last_exit"]["diagnosis"]["hint"] == (
        "wdt-zzq 3.1.0 has no 'HTTP' in wdt_zzq; wdt-zzq 2.0.0 has it but ships only an sdist, and "
        "building it runs its code: allow the name ('wdbot allow wdt_zzq=wdt-zzq') or pin "
        "wdt-zzq==2.0.0 in the bot's dependencies, then 'wdbot restart zzq'")
    assert "no usable wheels" in status["last_exit"]["detail"]
    assert "version two" not in wd.stdout("zzq") and status["restarts"] == 0
    assert "wdt-zzq==2.0.0" not in (wd.home / "bots" / "zzq" / "auto-requirements.txt").read_text()
