"""Version drift (issue 26): which ImportErrors are a dependency's drift, read from the exit
record and the final traceback, and what a release must hold to count as having the name."""

from __future__ import annotations

from pathlib import Path

from watchdog_runtime.installs.drift import Drift, find_drift, has_it, pin_note, refusal
from watchdog_runtime.supervisor.tracebacks import MissingModule, missing_module

SITE = "/h/bots/b/venv/lib/python3.11/site-packages"
MESSAGE = (f"cannot import name 'geth_poa_middleware' from 'web3.middleware' "
           f"({SITE}/web3/middleware/__init__.py)")


def traceback(func: str, message: str = MESSAGE, file: str = "/bots/b.py") -> str:
    return (f'Traceback (most recent call last):\n  File "{file}", line 1, in {func}\n'
            f"    from web3.middleware import geth_poa_middleware\nImportError: {message}\n")


def record(message: str = MESSAGE) -> dict[str, object]:
    return {"type": "ImportError", "message": message}


def test_an_import_time_drift_of_an_installed_package_is_read() -> None:
    found = missing_module(lambda: traceback("<module>"), record())
    assert found == MissingModule("web3.middleware", "from web3.middleware import geth_poa_middleware",
                                  "/bots/b.py", imported="geth_poa_middleware")


def test_an_import_error_raised_while_running_is_a_crash_like_any_other() -> None:
    assert missing_module(lambda: traceback("main"), record()) is None


def test_the_bots_own_module_is_its_own_bug() -> None:
    own = "cannot import name 'x' from 'helpers' (/bots/helpers.py)"
    assert missing_module(lambda: traceback("<module>", own), record(own)) is None


def test_the_record_and_the_traceback_must_agree() -> None:
    assert missing_module(lambda: traceback("<module>"), record("something else")) is None
    assert missing_module(lambda: "ImportError: " + MESSAGE, record()) is None


def test_crafted_names_never_become_paths(tmp_path: Path) -> None:
    crafted = MissingModule("../../etc", None, None, imported="x")
    assert find_drift(tmp_path, crafted, False) is None
    assert find_drift(tmp_path, MissingModule("web3", None, None, imported="a b"), False) is None


def test_a_release_has_the_name_when_its_module_defines_or_holds_it(tmp_path: Path) -> None:
    (tmp_path / "web3" / "middleware").mkdir(parents=True)
    init = tmp_path / "web3" / "middleware" / "__init__.py"
    init.write_text("from .geth_poa import geth_poa_middleware\n")
    drift = Drift("web3", "7.5.0", "web3.middleware", "geth_poa_middleware")
    assert has_it(tmp_path, drift)
    init.write_text("from .other import other\n")
    assert not has_it(tmp_path, drift)
    assert has_it(tmp_path, Drift("web3", "7", "web3.middleware", None)), "the submodule itself"
    assert not has_it(tmp_path, Drift("web3", "7", "web3.dispatcher", None))


def test_the_lines() -> None:
    drift = Drift("python-telegram-bot", "21.0", "telegram.ext.dispatcher", None)
    assert pin_note(drift, "13.15") == "python-telegram-bot 13.15: 21.0 has no 'telegram.ext.dispatcher'"
    assert refusal(drift, None, ["20.8", "13.15"], True, "b").startswith(
        "python-telegram-bot 21.0 has no 'telegram.ext.dispatcher' (nor had 20.8, 13.15)")
