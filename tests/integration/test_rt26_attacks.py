"""Red team of issue 26 (the right packages): the drift repair and the causes, attacked
through the real CLI, real uv and a local mirror of tiny wheels (never the network)."""

from __future__ import annotations

import os
import signal
import tarfile
import threading
from pathlib import Path

import pytest

from tests.helpers import Wdbot, build_wheel, wait_until, write_bot
from tests.integration.test_right_packages import RUN_FOREVER, drift_trap, failing_sdist, version_line


def installed_version(wd: Wdbot, name: str, dist: str) -> str | None:
    """The version of ``dist`` in the bot's venv, read from its dist-info folder."""
    norm = dist.replace("-", "_")
    found = sorted((wd.home / "bots" / name / "venv").glob(f"lib/python*/site-packages/{norm}-*.dist-info"))
    return found[0].name[len(norm) + 1:-len(".dist-info")] if found else None


def test_a_package_the_bots_own_folder_shadows_is_not_downgraded_for_a_drift(
        wd: Wdbot, bots: Path, mirror: Path) -> None:
    """Regression (red team, issue 26): the bot's own folder 'wdt_tg/' shadows the installed
    distribution; 'No module named wdt_tg.ext' was taken for a drift of the installed
    wdt-tg, which was downgraded to 13.15 and pinned, for nothing (the bot still imports its
    own folder). The bot's own module is named instead, and nothing is installed."""
    drift_trap(mirror)
    (bots / "requirements.txt").write_text("wdt-tg\n")
    (bots / "wdt_tg").mkdir()
    (bots / "wdt_tg" / "__init__.py").write_text("MINE = 1\n")
    bot = write_bot(bots, "shadow.py", "from wdt_tg.ext.dispatcher import run_async\n" + RUN_FOREVER)
    wd("start", str(bot), check=False)
    status = wd.wait_state("shadow", "errored")
    error = status["last_exit"]["error"]
    assert "'wdt_tg' is a file or folder beside the bot" in error and "\n" not in error
    assert installed_version(wd, "shadow", "wdt-tg") == "20.0", "the user's package is left alone"
    assert wd.events("auto_install_started", "shadow") == []
    record = wd.home / "bots" / "shadow" / "auto-requirements.txt"
    assert not record.exists() or "wdt-tg" not in record.read_text()


def test_a_drift_repair_never_changes_a_version_the_bot_pins(
        wd: Wdbot, bots: Path, mirror: Path) -> None:
    """Regression (red team, issue 26): the release the drift repair installs needs an older
    release of another dependency; uv downgraded the bot's own pin 'wdt-dep==2.0' to 1.0 to
    make room. The user's pins are constraints of every auto-install: the repair fails in
    one line instead."""
    build_wheel(mirror, "wdt-dep", "1.0", {"wdt_dep/__init__.py": "VERSION = '1.0'\n"})
    build_wheel(mirror, "wdt-dep", "2.0", {"wdt_dep/__init__.py": "VERSION = '2.0'\n"})
    build_wheel(mirror, "wdt-old", "1.0", {"wdt_old/__init__.py": "old_name = 1\n"},
                "Requires-Dist: wdt-dep<2\n")
    build_wheel(mirror, "wdt-old", "2.0", {"wdt_old/__init__.py": "new_name = 2\n"})
    (bots / "requirements.txt").write_text("wdt-old\nwdt-dep==2.0\n")
    bot = write_bot(bots, "pins.py", "import wdt_dep\nprint('version', wdt_dep.VERSION, flush=True)\n"
                    "from wdt_old import old_name\n" + RUN_FOREVER)
    wd("start", str(bot), check=False)
    wait_until(lambda: "version" in wd.stdout("pins") and wd.bot("pins")["state"] in ("errored", "running")
               and wd.bot("pins")["state"] == "errored" or "version 1.0" in wd.stdout("pins"), "pins to end")
    status = wd.bot("pins")
    assert installed_version(wd, "pins", "wdt-dep") == "2.0", "the bot's pin holds"
    error = status["last_exit"]["error"]
    assert "wdt-old==1.0" in error and "\n" not in error
    assert "version 1.0" not in wd.stdout("pins")


def test_a_later_install_does_not_undo_a_drift_repairs_pin(
        wd: Wdbot, bots: Path, mirror: Path) -> None:
    """Regression (red team, issue 26), the drift loop: the drift repair pinned wdt-web 6.2.0;
    the next round installed wdt-plug, whose newest needs wdt-web>=7, and uv upgraded wdt-web
    back to 7.1.0 under the pin: the bot died of the same drift again and ended errored
    with its budget spent. What auto-install recorded is a constraint of its later rounds."""
    drift_trap(mirror)
    build_wheel(mirror, "wdt-plug", "1.0", {"wdt_plug/__init__.py": "VERSION = '1.0'\n"})
    build_wheel(mirror, "wdt-plug", "2.0", {"wdt_plug/__init__.py": "VERSION = '2.0'\n"},
                "Requires-Dist: wdt-web>=7\n")
    wd("allow", "wdt_web=wdt-web")
    wd("allow", "wdt_plug=wdt-plug")
    # Imported by a name the scan cannot see: installed by the crash path, after the drift.
    bot = write_bot(bots, "loop.py", "from wdt_web.middleware import geth_poa\n"
                    "plug = __import__('wdt_' + 'plug')\n"
                    "print('version', geth_poa, plug.VERSION, flush=True)\n" + RUN_FOREVER)
    wd("start", str(bot), "--backoff-initial", "600", "--backoff-max", "600", check=False)
    wait_until(lambda: wd.bot("loop")["state"] == "errored" or "version" in wd.stdout("loop"),
               "loop to run or end")
    status = wd.bot("loop")
    assert status["state"] != "errored", status["last_exit"]["error"]
    assert version_line(wd, "loop") == "version six 1.0"
    notes = {i["package"]: i.get("note") for i in wd.bot("loop")["auto_installed"]}
    assert notes["wdt-plug"].startswith("wdt-plug 1.0 instead of 2.0")


def test_a_compile_error_is_not_called_a_missing_compiler(
        wd: Wdbot, bots: Path, mirror: Path) -> None:
    """Regression (red team, issue 26): "command 'gcc' failed with exit code 1" means gcc ran
    and the compile failed (here for want of portaudio.h); the line said "needs a C compiler:
    apt-get install build-essential", the wrong package. It names the missing header now."""
    failing_sdist(mirror, "wdt-audio", "0.2.14",
                  "src/pyaudio/device_api.c:9:10: fatal error: portaudio.h: No such file or "
                  "directory\ncompilation terminated.\n"
                  "error: command 'x86_64-linux-gnu-gcc' failed with exit code 1")
    wd("allow", "wdt_audio=wdt-audio")
    bot = write_bot(bots, "audio.py", "import wdt_audio\n" + RUN_FOREVER)
    wd("start", str(bot), check=False)
    error = wd.wait_state("audio", "errored")["last_exit"]["error"]
    assert "build-essential" not in error and "C compiler" not in error
    assert "portaudio.h" in error and "portaudio19-dev" in error


_STALLING_BACKEND = '''
import base64, hashlib, os, sys, time, zipfile

GATE = {gate!r}


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    if not os.path.exists(GATE + ".go"):
        with open(GATE + ".pid", "w") as fh:
            fh.write(str(os.getpid()))
        time.sleep(120)  # the test kills the supervisor and this build meanwhile
        sys.exit(1)
    info = "wdt_stall_dep-1.0.dist-info"
    files = {{"wdt_stall_dep/__init__.py": "", info + "/METADATA":
             "Metadata-Version: 2.1\\nName: wdt-stall-dep\\nVersion: 1.0\\n",
             info + "/WHEEL": "Wheel-Version: 1.0\\nGenerator: t\\nRoot-Is-Purelib: true\\n"
                              "Tag: py3-none-any\\n"}}
    digest = {{p: base64.urlsafe_b64encode(hashlib.sha256(t.encode()).digest()).rstrip(b"=").decode()
              for p, t in files.items()}}
    rows = [f"{{p}},sha256={{digest[p]}},{{len(t.encode())}}" for p, t in files.items()]
    files[info + "/RECORD"] = "\\n".join(rows + [info + "/RECORD,,"]) + "\\n"
    name = "wdt_stall_dep-1.0-py3-none-any.whl"
    with zipfile.ZipFile(os.path.join(wheel_directory, name), "w") as zf:
        for path, text in files.items():
            zf.writestr(path, text)
    return name


def get_requires_for_build_wheel(config_settings=None):
    return []
'''


def stalling_sdist(folder: Path, gate: Path) -> None:
    """An sdist whose build writes its pid beside ``gate`` and stalls, until ``gate``.go exists."""
    root = folder / "src" / "wdt_stall_dep-1.0"
    root.mkdir(parents=True)
    (root / "PKG-INFO").write_text("Metadata-Version: 2.1\nName: wdt-stall-dep\nVersion: 1.0\n")
    (root / "pyproject.toml").write_text(
        '[project]\nname = "wdt-stall-dep"\nversion = "1.0"\n\n[build-system]\nrequires = []\n'
        'build-backend = "backend"\nbackend-path = ["."]\n')
    (root / "backend.py").write_text(_STALLING_BACKEND.format(gate=str(gate)))
    with tarfile.open(folder / "wdt_stall_dep-1.0.tar.gz", "w:gz") as tar:
        tar.add(root, arcname=root.name)


@pytest.mark.slow
def test_a_supervisor_killed_in_the_middle_of_an_install_leaves_no_old_release_behind(
        wd: Wdbot, bots: Path, mirror: Path, tmp_path: Path) -> None:
    """Regression (red team, issue 26): kill -9 of the supervisor while it replaced an old
    release by the newest (the newest's dependency building from source) left the old
    release in the venv, unrecorded, and a venv marked current: the next start ran the bot
    on wdt-stall 0.0.3 without a word. A venv being installed into is marked so; one left
    so is rebuilt at the next start."""
    gate = tmp_path / "gate"
    build_wheel(mirror, "wdt-stall", "0.0.3", {"wdt_stall/__init__.py": "VERSION = '0.0.3'\n"})
    build_wheel(mirror, "wdt-stall", "4.6.30", {"wdt_stall/__init__.py": "VERSION = '4.6.30'\n"},
                "Requires-Dist: wdt-stall-dep\n")
    stalling_sdist(mirror, gate)
    wd("allow", "wdt_stall=wdt-stall")
    bot = write_bot(bots, "stall.py", "import wdt_stall\nprint('version', wdt_stall.VERSION, flush=True)\n"
                    + RUN_FOREVER)
    starting = threading.Thread(target=wd, args=("start", str(bot)), kwargs={"check": False})
    starting.start()
    builder = int(wait_until(lambda: gate.with_suffix(".pid").exists()
                             and gate.with_suffix(".pid").read_text(), "the source build to stall"))
    supervisor = wd.supervisor_pid()
    assert supervisor is not None
    os.kill(supervisor, signal.SIGKILL)
    os.kill(builder, signal.SIGKILL)  # uv, its parent, then fails and exits
    starting.join(60)
    gate.with_suffix(".go").write_text("")
    wd("start", str(bot), check=False)
    assert version_line(wd, "stall") == "version 4.6.30"


def test_a_drift_probe_uv_cannot_run_is_not_called_no_older_release(
        wd: Wdbot, bots: Path, mirror: Path) -> None:
    """Regression (red team, issue 26): when uv could not look at all (its package source
    gone: an index down, a wheel folder removed), the line said "(no older release to look
    at): the bot was written for another package", which is false, and the user has no
    reason to retry. It says wdbot could not look, and why, in uv's words."""
    build_wheel(mirror, "wdt-gone", "1.0", {"wdt_gone/__init__.py": "nowhere = 1\n"})
    build_wheel(mirror, "wdt-gone", "2.0", {"wdt_gone/__init__.py": "b = 2\n"})
    wd("allow", "wdt_gone=wdt-gone")
    # The bot removes the wheel folder once wdt-gone is installed: the probes find no source.
    bot = write_bot(bots, "blind.py", f"import shutil\nshutil.rmtree({str(mirror)!r})\n"
                    "from wdt_gone import nowhere\n" + RUN_FOREVER)
    wd("start", str(bot), check=False)
    status = wd.wait_state("blind", "errored")
    error = status["last_exit"]["error"]
    assert "no older release" not in error and "written for another package" not in error
    assert "wdt-gone 2.0 has no 'nowhere' in wdt_gone; wdbot could not look for an older release" \
        in error and "Failed to read `--find-links` directory" in error and "\n" not in error


def test_a_dependencys_import_error_in_several_lines_ends_errored_not_in_a_crash_loop(
        wd: Wdbot, bots: Path, mirror: Path) -> None:
    """Regression (red team, issue 26): pandas says "Unable to import required dependencies:"
    then one line per dependency, numpy its "IMPORTANT: PLEASE READ THIS..." block; a
    message in several lines did not end the traceback in one line, so it was not read and
    the bot crash-looped in backoff for good. It ends errored, in one line."""
    build_wheel(mirror, "wdt-pandas", "1.0", {"wdt_pandas/__init__.py": "raise ImportError("
                "'Unable to import required dependencies:\\nnumpy: No module named numpy.core')\n"})
    wd("allow", "wdt_pandas=wdt-pandas")
    bot = write_bot(bots, "multi.py", "import wdt_pandas\n" + RUN_FOREVER)
    wd("start", str(bot), "--backoff-initial", "0.2", "--backoff-max", "0.2", check=False)
    status = wd.wait_state("multi", "errored")
    error = status["last_exit"]["error"]
    assert "importing wdt-pandas 1.0 failed: Unable to import required dependencies:" in error
    assert "\n" not in error and status["restarts"] == 0


def test_a_file_of_the_bot_that_shadows_a_package_a_dependency_imports_is_named(
        wd: Wdbot, bots: Path, mirror: Path) -> None:
    """Regression (red team, issue 26): the bot's own 'wdt_req.py' (a helper named like the
    package, as bots name theirs telegram.py or binance.py) shadows the wdt-req that
    wdt-client imports; the line said "importing wdt-client failed ...: fix the install or
    pin another version", which no install or pin fixes. It names the bot's file."""
    build_wheel(mirror, "wdt-req", "1.0", {"wdt_req/__init__.py": "Session = 1\n"})
    build_wheel(mirror, "wdt-client", "1.0", {"wdt_client/__init__.py": "from wdt_req import Session\n"},
                "Requires-Dist: wdt-req\n")
    (bots / "requirements.txt").write_text("wdt-client\n")
    (bots / "wdt_req.py").write_text("HELPER = 1\n")
    bot = write_bot(bots, "shadowed.py", "import wdt_client\n" + RUN_FOREVER)
    wd("start", str(bot), check=False)
    status = wd.wait_state("shadowed", "errored")
    error = status["last_exit"]["error"]
    assert f"the bot's own {bots / 'wdt_req.py'} shadows the package 'wdt_req'" in error
    assert "pin another version" not in error and "\n" not in error and status["restarts"] == 0


def test_a_name_only_mentioned_in_an_old_releases_comment_is_not_taken_for_it(
        wd: Wdbot, bots: Path, mirror: Path) -> None:
    """Regression (red team, issue 26): the probe looked for the imported name as a word
    anywhere in the module's source; a release that only mentions it in a comment or a
    docstring was installed and pinned, the bot failed again on it, and the wrong pin
    stayed in auto-requirements.txt. Only a name the module binds counts."""
    build_wheel(mirror, "wdt-word", "1.0", {"wdt_word/__init__.py":
                '"""Says nowhere in its docstring."""\n# nowhere: a word in a comment\nother = 1\n'})
    build_wheel(mirror, "wdt-word", "2.0", {"wdt_word/__init__.py": "b = 2\n"})
    wd("allow", "wdt_word=wdt-word")
    bot = write_bot(bots, "word.py", "from wdt_word import nowhere\n" + RUN_FOREVER)
    wd("start", str(bot), check=False)
    status = wd.wait_state("word", "errored")
    assert "wdt-word 2.0 has no 'nowhere' in wdt_word (nor had 1.0)" in status["last_exit"]["error"]
    assert [e for e in wd.events("auto_install", "word") if e.get("source") == "drift"] == []
    assert "wdt-word==1.0" not in (wd.home / "bots" / "word" / "auto-requirements.txt").read_text()
