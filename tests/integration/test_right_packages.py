"""Issue 26: the right packages, not just some packages. Through the real CLI, real uv, and a
local mirror of tiny wheels that reproduces each trap met in real bots: an old release
without the dependency the newest needs (which ships only an sdist), a Python bound,
Windows-only names, a source build that lacks a C library."""

from __future__ import annotations

import tarfile
from pathlib import Path

import pytest

from tests.helpers import Wdbot, build_sdist, build_wheel, wait_until, write_bot

RUN_FOREVER = "import time\nprint('ok', flush=True)\ntime.sleep(600)\n"


def old_release_trap(folder: Path, dist: str, module: str) -> None:
    """lumibot's trap: the newest release needs a dependency that ships only an sdist; an
    ancient one declares no dependencies, so a wheels-only resolution backtracks to it."""
    build_wheel(folder, dist, "0.0.3", {f"{module}/__init__.py": "VERSION = '0.0.3'\n"})
    build_wheel(folder, dist, "4.6.30", {f"{module}/__init__.py": "VERSION = '4.6.30'\n"},
                f"Requires-Dist: {dist}-ibapi\n")
    build_sdist(folder, f"{dist}-ibapi", "9.81", f"{module.replace('-', '_')}_ibapi")


def version_line(wd: Wdbot, name: str) -> str:
    def seen() -> str | None:
        lines = [line for line in wd.stdout(name).splitlines() if line.startswith("version ")]
        return lines[-1] if lines else None
    return wait_until(seen, f"{name} to print its package's version")


def test_the_newest_release_is_installed_when_its_dependency_builds_from_source(
        wd: Wdbot, bots: Path, mirror: Path) -> None:
    """Regression (issue 26, lumibot 0.0.3): the wheels-only resolution settled silently for
    an ancient release and the source-allowed try never ran."""
    old_release_trap(mirror, "wdt-lumi", "wdt_lumi")
    wd("allow", "wdt_lumi=wdt-lumi")
    bot = write_bot(bots, "lumi.py", "import wdt_lumi\nprint('version', wdt_lumi.VERSION, flush=True)\n"
                    + RUN_FOREVER)
    wd("start", str(bot))
    assert version_line(wd, "lumi") == "version 4.6.30"
    [item] = wd.bot("lumi")["auto_installed"]
    assert item["version"] == "4.6.30" and item["from_source"] is True
    assert "wdt-lumi==4.6.30" in (wd.home / "bots" / "lumi" / "auto-requirements.txt").read_text()


def test_where_only_an_old_release_installs_the_event_status_and_record_say_why(
        wd: Wdbot, bots: Path, mirror: Path) -> None:
    """Regression (issue 26): an old release was pinned without a word. With source builds
    forbidden only 0.0.3 can install, and it says so; a Python bound names --python."""
    old_release_trap(mirror, "wdt-lumo", "wdt_lumo")
    build_wheel(mirror, "wdt-bound", "1.0", {"wdt_bound/__init__.py": "VERSION = '1.0'\n"})
    build_wheel(mirror, "wdt-bound", "2.0", {"wdt_bound/__init__.py": "VERSION = '2.0'\n"},
                "Requires-Python: >=3.99\n")
    wd.home.mkdir(exist_ok=True)
    (wd.home / "config.toml").write_text("[auto_install]\nallow_sdist = false\n")
    wd("allow", "wdt_lumo=wdt-lumo")
    wd("allow", "wdt_bound=wdt-bound")
    bot = write_bot(bots, "lumo.py", "import wdt_lumo, wdt_bound\n"
                    "print('version', wdt_lumo.VERSION, wdt_bound.VERSION, flush=True)\n" + RUN_FOREVER)
    wd("start", str(bot))
    assert version_line(wd, "lumo") == "version 0.0.3 1.0"
    notes = {i["package"]: i.get("note") for i in wd.bot("lumo")["auto_installed"]}
    assert notes["wdt-lumo"] == "wdt-lumo 0.0.3 instead of 4.6.30: wdt-lumo-ibapi has no wheel"
    assert notes["wdt-bound"] == "wdt-bound 1.0 instead of 2.0: it needs Python >=3.99 (--python 3.99)"
    events = {e["package"]: e.get("note") for e in wd.events("auto_install", "lumo")}
    assert events == notes, "the event says it too"
    record = (wd.home / "bots" / "lumo" / "auto-requirements.txt").read_text()
    assert "why=wdt-lumo 0.0.3 instead of 4.6.30: wdt-lumo-ibapi has no wheel" in record
    assert "0.0.3 instead of 4.6.30" in wd("status", "lumo").out


@pytest.mark.parametrize("module, words", [
    ("winsound", "'winsound' needs Windows: it exists only in Windows builds of Python"),
    ("msvcrt", "'msvcrt' needs Windows"),
    ("MetaTrader5", "'MetaTrader5' needs Windows: it exists only in Windows wheels; on Linux, use "
                    "the bridge mt5linux"),
])
def test_windows_only_names_say_needs_windows(wd: Wdbot, bots: Path, mirror: Path, module: str,
                                              words: str) -> None:
    """Regression (issue 26): winsound got "part of the standard library ... check --python",
    MetaTrader5 uv's first sentence cut short."""
    name = f"win{module.lower()}"
    bot = write_bot(bots, f"{name}.py", f"import {module}\n" + RUN_FOREVER)
    wd("start", str(bot), check=False)
    error = wd.wait_state(name, "errored")["last_exit"]["error"]
    assert words in error and "\n" not in error
    assert "standard library" not in error
    assert wd.events("auto_install_started", name) == [], "nothing is tried for Windows-only names"


def failing_sdist(folder: Path, dist: str, version: str, output: str) -> None:
    """An sdist whose build prints ``output`` and fails, as mysqlclient's does without
    pkg-config and the MySQL client library."""
    norm = dist.replace("-", "_")
    root = folder / "src" / f"{norm}-{version}"
    root.mkdir(parents=True)
    (root / "PKG-INFO").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    (root / "pyproject.toml").write_text(
        f'[project]\nname = "{dist}"\nversion = "{version}"\n\n[build-system]\nrequires = []\n'
        f'build-backend = "backend"\nbackend-path = ["."]\n')
    (root / "backend.py").write_text(
        f"import sys\n\ndef _fail(*args, **kwargs):\n    print({output!r}, file=sys.stderr)\n"
        f"    raise Exception('Can not find valid pkg-config name.')\n\n"
        f"get_requires_for_build_wheel = build_wheel = build_sdist = _fail\n")
    with tarfile.open(folder / f"{norm}-{version}.tar.gz", "w:gz") as tar:
        tar.add(root, arcname=root.name)


def test_a_failed_source_build_names_the_missing_library_and_its_package(
        wd: Wdbot, bots: Path, mirror: Path) -> None:
    """Regression (issue 26): mysqlclient's failed build said "Call to
    `setuptools.build_meta.get_requires_for_build_wheel` failed ... pin a version"."""
    failing_sdist(mirror, "wdt-mysql", "2.2.4",
                  "/bin/sh: 1: pkg-config: not found\nTrying pkg-config --exists mysqlclient\n"
                  "Specify MYSQLCLIENT_CFLAGS and MYSQLCLIENT_LDFLAGS env vars manually")
    wd("allow", "wdt_mysql=wdt-mysql")
    bot = write_bot(bots, "mysql.py", "import wdt_mysql\n" + RUN_FOREVER)
    assert wd("start", str(bot), check=False).code == 1
    status = wd.wait_state("mysql", "errored")
    error = status["last_exit"]["error"]
    assert "needs the MySQL client library and pkg-config: apt-get install " \
           "default-libmysqlclient-dev pkg-config" in error
    assert "MYSQLCLIENT_CFLAGS" in status["last_exit"]["detail"], "uv's whole text stays in detail"


def drift_trap(folder: Path) -> None:
    """web3's trap: 7 removed a name that 6 has; python-telegram-bot's: 20 removed a submodule."""
    build_wheel(folder, "wdt-web", "6.2.0", {"wdt_web/__init__.py": "VERSION = '6.2.0'\n",
                                             "wdt_web/middleware/__init__.py": "geth_poa = 'six'\n"})
    build_wheel(folder, "wdt-web", "7.1.0", {"wdt_web/__init__.py": "VERSION = '7.1.0'\n",
                                             "wdt_web/middleware/__init__.py": "other = 'seven'\n"})
    build_wheel(folder, "wdt-tg", "13.15", {"wdt_tg/__init__.py": "", "wdt_tg/ext/__init__.py": "",
                                            "wdt_tg/ext/dispatcher.py": "run_async = 13\n"})
    build_wheel(folder, "wdt-tg", "20.0", {"wdt_tg/__init__.py": "", "wdt_tg/ext/__init__.py": ""})


def test_a_name_removed_in_a_new_major_is_repaired_with_the_last_release_that_has_it(
        wd: Wdbot, bots: Path, mirror: Path) -> None:
    """Regression (issue 26, web3 7 / python-telegram-bot 20): the ImportError at import
    time crash-looped in backoff for good; 'No module named pkg.sub' named neither the
    distribution nor the version that would work."""
    drift_trap(mirror)
    wd("allow", "wdt_web=wdt-web")
    wd("allow", "wdt_tg=wdt-tg")
    bot = write_bot(bots, "drift.py", "from wdt_web.middleware import geth_poa\n"
                    "from wdt_tg.ext.dispatcher import run_async\n"
                    "print('version', geth_poa, run_async, flush=True)\n" + RUN_FOREVER)
    wd("start", str(bot), "--backoff-initial", "600", "--backoff-max", "600")
    assert version_line(wd, "drift") == "version six 13"
    status = wd.wait_state("drift", "running")
    installed = {i["package"]: i for i in status["auto_installed"]}
    assert installed["wdt-web"]["version"] == "6.2.0"
    assert installed["wdt-web"]["note"] == "wdt-web 6.2.0: 7.1.0 has no 'geth_poa' in wdt_web.middleware"
    assert installed["wdt-tg"]["note"] == "wdt-tg 13.15: 20.0 has no 'wdt_tg.ext.dispatcher'"
    record = (wd.home / "bots" / "drift" / "auto-requirements.txt").read_text()
    assert "wdt-web==6.2.0" in record and "wdt-tg==13.15" in record and "why=wdt-web 6.2.0" in record
    assert [e["source"] for e in wd.events("auto_install", "drift")].count("drift") == 2


def test_a_drift_nothing_repairs_ends_errored_in_one_line_not_a_crash_loop(
        wd: Wdbot, bots: Path, mirror: Path) -> None:
    """Regression (issue 26): an import-time ImportError of a dependency restarted forever."""
    build_wheel(mirror, "wdt-gone", "1.0", {"wdt_gone/__init__.py": "a = 1\n"})
    build_wheel(mirror, "wdt-gone", "2.0", {"wdt_gone/__init__.py": "b = 2\n"})
    wd("allow", "wdt_gone=wdt-gone")
    bot = write_bot(bots, "gone.py", "from wdt_gone import nowhere\n" + RUN_FOREVER)
    wd("start", str(bot), check=False)
    status = wd.wait_state("gone", "errored")
    error = status["last_exit"]["error"]
    assert "wdt-gone 2.0 has no 'nowhere' in wdt_gone (nor had 1.0)" in error and "\n" not in error
    assert status["restarts"] == 0


def test_a_pinned_dependency_is_not_changed_and_the_line_names_the_release_that_has_it(
        wd: Wdbot, bots: Path, mirror: Path) -> None:
    drift_trap(mirror)
    (bots / "requirements.txt").write_text("wdt-web==7.1.0\n")
    bot = write_bot(bots, "pinned.py", "from wdt_web.middleware import geth_poa\n" + RUN_FOREVER)
    wd("start", str(bot), check=False)
    error = wd.wait_state("pinned", "errored")["last_exit"]["error"]
    assert "wdt-web 7.1.0 has no 'geth_poa' in wdt_web.middleware; wdt-web 6.2.0 has it: pin " \
           "wdt-web==6.2.0 in the bot's dependencies" in error


def test_another_import_time_import_error_of_a_dependency_ends_errored(
        wd: Wdbot, bots: Path, mirror: Path) -> None:
    """Regression (issue 26): a dependency failing to import (a C library it loads is
    missing) crash-looped in backoff."""
    build_wheel(mirror, "wdt-native", "1.0", {"wdt_native/__init__.py": "raise ImportError("
                "'libwdt.so.0: cannot open shared object file: No such file or directory')\n"})
    wd("allow", "wdt_native=wdt-native")
    bot = write_bot(bots, "native.py", "import wdt_native\n" + RUN_FOREVER)
    wd("start", str(bot), check=False)
    status = wd.wait_state("native", "errored")
    assert "importing wdt-native 1.0 failed: libwdt.so.0: cannot open shared object file" \
        in status["last_exit"]["error"]
    assert status["restarts"] == 0


def binance_mirror(folder: Path) -> None:
    """Stand-ins for the three distributions that share ``binance`` (their real layouts,
    cut down): the same ``binance/__init__.py`` and ``binance/lib`` in two of them."""
    shared = {"binance/__init__.py": "", "binance/lib/__init__.py": "",
              "binance/lib/utils.py": "def config_logging(*a): pass\n",
              "binance/websocket/__init__.py": ""}
    build_wheel(folder, "python-binance", "1.0.19", {
        "binance/__init__.py": "from .client import Client\n", "binance/client.py": "Client = 'pb'\n"})
    build_wheel(folder, "binance-connector", "3.12.0", {
        **shared, "binance/spot/__init__.py": "Spot = 'spot'\n",
        "binance/websocket/spot/__init__.py": ""})
    build_wheel(folder, "binance-futures-connector", "4.1.0", {
        **shared, "binance/um_futures/__init__.py": "UMFutures = 'fut'\n",
        "binance/websocket/um_futures/__init__.py": "",
        "binance/websocket/um_futures/websocket_client.py": "UMFuturesWebsocketClient = 'ws'\n"})


def test_one_namespace_gets_the_one_distribution_its_deepest_submodules_name(
        wd: Wdbot, bots: Path, mirror: Path) -> None:
    """Regression (issue 26): a bot importing binance.lib.utils, binance.um_futures and
    binance.websocket.um_futures got python-binance, binance-connector and
    binance-futures-connector, whose files under binance/ overwrote each other."""
    binance_mirror(mirror)
    bot = write_bot(bots, "fut.py", "from binance.lib.utils import config_logging\n"
                    "from binance.um_futures import UMFutures\n"
                    "from binance.websocket.um_futures.websocket_client import UMFuturesWebsocketClient\n"
                    "print('version', UMFutures, UMFuturesWebsocketClient, flush=True)\n" + RUN_FOREVER)
    wd("start", str(bot))
    assert version_line(wd, "fut") == "version fut ws"
    assert [i["package"] for i in wd.bot("fut")["auto_installed"]] == ["binance-futures-connector"]
    record = (wd.home / "bots" / "fut" / "auto-requirements.txt").read_text()
    assert "python-binance" not in record and "binance-connector==" not in record


def test_two_distributions_that_write_the_same_files_are_never_both_installed(
        wd: Wdbot, bots: Path, mirror: Path) -> None:
    binance_mirror(mirror)
    bot = write_bot(bots, "both.py", "from binance.spot import Spot\n"
                    "from binance.um_futures import UMFutures\n" + RUN_FOREVER)
    wd("start", str(bot), check=False)
    status = wd.wait_state("both", "errored")
    assert len(status["auto_installed"]) == 1, "one of them, never both"
    error = status["last_exit"]["error"]
    assert ("binance.um_futures is in binance-futures-connector, not in the installed "
            "binance-connector 3.12.0 and would overwrite its files") in error and "\n" not in error


def test_a_dependency_declared_without_a_version_is_pinned_and_the_pin_stays(
        wd: Wdbot, bots: Path, mirror: Path) -> None:
    """A requirements.txt that says 'wdt-web' (no version) lets wdbot pin the release that
    has the name; the bot's own line does not drop that pin at the next start (it would
    crash again on the newest)."""
    drift_trap(mirror)
    (bots / "requirements.txt").write_text("wdt-web\n")
    bot = write_bot(bots, "bare.py", "from wdt_web.middleware import geth_poa\n"
                    "print('version', geth_poa, flush=True)\n" + RUN_FOREVER)
    wd("start", str(bot), "--backoff-initial", "600", "--backoff-max", "600")
    assert version_line(wd, "bare") == "version six"
    wd("restart", "bare")
    wd.wait_state("bare", "running")
    wait_until(lambda: wd.stdout("bare").count("version six") == 2, "the restarted bot's line")
    record = (wd.home / "bots" / "bare" / "auto-requirements.txt").read_text()
    assert "wdt-web==6.2.0" in record and not wd.events("auto_install_superseded", "bare")


def test_a_python_bound_names_the_version_to_pass_to_python(
        wd: Wdbot, bots: Path, mirror: Path) -> None:
    """Regression (issue 26): uv's 'X==2.0 requires Python >=3.99' got 'pin a version'."""
    build_wheel(mirror, "wdt-py", "2.0", {"wdt_py/__init__.py": ""}, "Requires-Python: >=3.99\n")
    wd("allow", "wdt_py=wdt-py")
    bot = write_bot(bots, "bound.py", "import wdt_py\n" + RUN_FOREVER)
    assert wd("start", str(bot), check=False).code == 1
    error = wd.wait_state("bound", "errored")["last_exit"]["error"]
    assert f"it needs Python >=3.99; start the bot on a Python it supports: 'wdbot start {bot} " \
           f"--python 3.99'" in error
