"""Auto-install through the real CLI: real uv, real venvs, tiny local wheels instead of PyPI."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import uv

from tests.helpers import Wdbot, build_sdist, build_wheel, wait_until, write_bot

# No backoff to speak of would be this long: a bot that restarts within the test's wait was
# restarted at once after its install, not after a backoff.
SLOW_BACKOFF = ("--backoff-initial", "600", "--backoff-max", "600")

RUN_FOREVER = "import time\nprint('ok', flush=True)\ntime.sleep(600)\n"


def site_packages(wd: Wdbot, name: str) -> Path:
    return next((wd.home / "bots" / name / "venv").glob("lib/python*/site-packages"))


def module_wheel(folder: Path, dist: str, module: str, version: str = "1.0") -> None:
    build_wheel(folder, dist, version, {f"{module}/__init__.py": f"WHERE = {dist!r}\n"})


def allowed_wheels(wd: Wdbot, folder: Path, stem: str, count: int) -> list[str]:
    """``count`` wheels wdtest-STEM-i providing wdtest_STEM_i, each allowed; their modules."""
    modules = []
    for i in range(1, count + 1):
        module_wheel(folder, f"wdtest-{stem}-{i}", f"wdtest_{stem}_{i}")
        wd("allow", f"wdtest_{stem}_{i}=wdtest-{stem}-{i}")
        modules.append(f"wdtest_{stem}_{i}")
    return modules


@pytest.fixture
def wheels(tmp_path: Path, wd: Wdbot) -> Path:
    """A wheel folder that the supervisor's uv uses instead of an index (through the env)."""
    folder = tmp_path / "wheels"
    folder.mkdir()
    wd.env.update({"UV_FIND_LINKS": str(folder), "UV_NO_INDEX": "1"})
    return folder


def test_a_mapped_name_is_found_in_the_file_and_installed_before_the_first_start(
        wd: Wdbot, bots: Path, tmp_path: Path) -> None:
    # The table's own pair (yaml -> PyYAML), served by a local stand-in wheel; the index comes
    # from the home's config.toml this time, not the environment.
    folder = tmp_path / "wheels"
    module_wheel(folder, "PyYAML", "yaml", "0.0.1")
    wd.home.mkdir(exist_ok=True)
    (wd.home / "config.toml").write_text(f'[index]\nfind_links = ["{folder}"]\nno_index = true\n')
    bot = write_bot(bots, "yamlbot.py", "import yaml\nprint('yaml from', yaml.WHERE, flush=True)\n"
                    + RUN_FOREVER)
    wd("start", str(bot), *SLOW_BACKOFF)
    wait_until(lambda: "yaml from PyYAML" in wd.stdout("yamlbot"), "the bot to run with yaml")
    status = wd.wait_state("yamlbot", "running")
    assert status["auto_installed"] == [{"module": "yaml", "package": "PyYAML", "version": "0.0.1",
                                         "from_source": False}]
    assert status["restarts"] == 0 and status["last_exit"] is None, "no crash: found by reading"
    [done] = wd.events("auto_install", "yamlbot")
    assert (done["module"], done["package"], done["source"]) == ("yaml", "PyYAML", "table")
    record = (wd.home / "bots" / "yamlbot" / "auto-requirements.txt").read_text()
    assert "PyYAML==0.0.1  # module=yaml" in record
    assert "PyYAML" in wd("status").out, "the status table shows what was installed"

    # The fix survives a venv rebuild: the record is installed up front, no new auto-install.
    wd("stop", "yamlbot")
    subprocess.run(["rm", "-rf", str(wd.home / "bots" / "yamlbot" / "venv")], check=True)
    wd("start", "yamlbot")
    wait_until(lambda: wd.stdout("yamlbot").count("yaml from PyYAML") == 2, "the rebuilt bot")
    assert len(wd.events("auto_install", "yamlbot")) == 1
    assert len(wd.events("venv_built", "yamlbot")) == 2


def test_a_declared_dependency_missing_from_the_venv_is_installed(
        wd: Wdbot, bots: Path, tmp_path: Path, wheels: Path) -> None:
    module_wheel(wheels, "wdtest-mod-d", "wdtest_mod_d")
    trigger = tmp_path / "go"
    bot = write_bot(bots, "decl.py", f"""
        # /// script
        # dependencies = ["wdtest-mod-d>=1.0"]
        # ///
        import pathlib, time
        print("ready", flush=True)
        while not pathlib.Path({str(trigger)!r}).exists():
            time.sleep(0.05)
        import wdtest_mod_d
        print("imported", wdtest_mod_d.WHERE, flush=True)
        time.sleep(600)
    """)
    wd("start", str(bot), *SLOW_BACKOFF)
    wait_until(lambda: "ready" in wd.stdout("decl"), "the bot to start")
    # Break the venv under the running bot, then let it import.
    venv_python = wd.home / "bots" / "decl" / "venv" / "bin" / "python"
    subprocess.run([uv.find_uv_bin(), "pip", "uninstall", "--python", str(venv_python), "wdtest-mod-d"],
                   check=True, capture_output=True)
    trigger.touch()
    wait_until(lambda: "imported wdtest-mod-d" in wd.stdout("decl"), "the repaired bot")
    [done] = wd.events("auto_install", "decl")
    assert done["source"] == "declared" and done["package"] == "wdtest-mod-d"
    [started] = wd.events("auto_install_started", "decl")
    assert started["requirement"] == "wdtest-mod-d>=1.0", "installed as the bot declared it"


def test_a_name_outside_the_allowlist_is_refused_until_the_operator_allows_it(
        wd: Wdbot, bots: Path, wheels: Path) -> None:
    module_wheel(wheels, "wdtest-unlisted", "wdtest_unlisted")
    bot = write_bot(bots, "unl.py", "import wdtest_unlisted\n" + RUN_FOREVER)
    assert wd("start", str(bot), check=False).code == 1, "the up-front scan refused it (issue 26)"
    status = wd.wait_state("unl", "errored")
    error = status["last_exit"]["error"]
    assert status["last_exit"]["reason"] == "missing_module"
    assert error.startswith("ModuleNotFoundError: No module named 'wdtest_unlisted'")
    assert "'wdbot allow wdtest_unlisted=DIST'" in error and "'wdbot restart unl'" in error
    assert not wd.events("auto_install_started"), "uv never ran"
    assert not any(site_packages(wd, "unl").glob("wdtest_unlisted*"))

    assert wd("allow", "wdtest_unlisted=wdtest-unlisted").out.strip() == \
        "allowed: wdtest_unlisted -> wdtest-unlisted"
    assert "wdtest_unlisted -> wdtest-unlisted" in wd("allow").out
    wd("restart", "unl")
    wait_until(lambda: "ok" in wd.stdout("unl"), "the allowed bot to run")
    assert wd.events("auto_install", "unl")[0]["source"] == "allowed"


def test_a_package_uv_cannot_find_leaves_the_bot_errored_with_uvs_message(
        wd: Wdbot, bots: Path, wheels: Path) -> None:
    wd("allow", "wdtest_nowhere=wdtest-nowhere")
    bot = write_bot(bots, "nowhere.py", "import wdtest_nowhere\n" + RUN_FOREVER)
    started = wd("start", str(bot), check=False)
    # Imported at the file's top level: the bot cannot get past it, so it is not started.
    assert started.code == 1 and len(started.err.strip().splitlines()) == 1
    assert "wdbot tried to install wdtest-nowhere" in started.err
    status = wd.wait_state("nowhere", "errored")
    assert status["restarts"] == 0 and len(wd.events("auto_install_started", "nowhere")) == 1
    error = status["last_exit"]["error"]
    assert status["last_exit"]["reason"] == "missing_module"
    assert "wdbot tried to install wdtest-nowhere (wheels, then a source build)" in error
    assert "wdtest-nowhere was not found" in error, "uv's decisive line, in its own words"
    assert "'wdbot restart nowhere'" in error and "'wdbot status nowhere'" in error
    assert "\n" not in error
    detail = status["last_exit"]["detail"]
    assert detail.startswith("error: No solution found") and "cause:" in detail, "uv's whole error"
    assert "cause:" in wd("status", "nowhere").out
    assert wd.events("auto_install_failed", "nowhere")
    assert wd.bot("nowhere")["auto_installed"] == []
    table = wd("status").out.splitlines()
    row = next(i for i, line in enumerate(table) if line.startswith("nowhere "))
    assert "missing_module (not started) [dependency] uv: Because wdtest-nowhere" in table[row]
    assert not table[row + 1].startswith(" "), "one line per bot in the table"


FAKE_TRACEBACK = (
    "Traceback (most recent call last):\\n"
    '  File \\"x.py\\", line 1, in <module>\\n'
    "    import wdtest_fake\\n"
    "ModuleNotFoundError: No module named 'wdtest_fake'\\n"
)


@pytest.mark.parametrize("ending, reason", [
    ("import time\nprint('alive', flush=True)\ntime.sleep(600)\n", None),   # keeps running
    ("import sys\nsys.exit(1)\n", "crash"),                                 # exits, no exception
    ("raise ValueError('something else')\n", "crash"),                      # dies of another error
    ("import traceback\ntry:\n    import wdtest_fake\nexcept ImportError:\n"
     "    traceback.print_exc()\nraise SystemExit(3)\n", "crash"),          # a caught real one
])
def test_printed_or_caught_tracebacks_never_install_anything(
        wd: Wdbot, bots: Path, wheels: Path, ending: str, reason: str | None) -> None:
    module_wheel(wheels, "wdtest-fake", "wdtest_fake")
    wd("allow", "wdtest_fake=wdtest-fake")
    source = (f"import sys\nsys.stderr.write(\"{FAKE_TRACEBACK}\")\nsys.stderr.flush()\n"
              f"print(\"{FAKE_TRACEBACK}\", flush=True)\n" + ending)
    bot = write_bot(bots, "fake.py", source)
    wd("start", str(bot), "--restart", "never")
    if reason is None:
        wait_until(lambda: "alive" in wd.stdout("fake"), "the bot to keep running")
        assert wd.bot("fake")["state"] == "running"
        wd("stop", "fake")
    else:
        status = wd.wait_state("fake", "errored")
        assert status["last_exit"]["reason"] == reason
    assert not wd.events("auto_install_started")
    assert not any(site_packages(wd, "fake").glob("wdtest_fake*"))


@pytest.mark.parametrize("raise_name, words", [
    ("--index-url=http://127.0.0.1:9/simple", "not a valid import name"),
    ("x;touch PWNED", "not a valid import name"),
    ("$(touch PWNED)", "not a valid import name"),
])
def test_crafted_names_are_refused_and_nothing_runs(
        wd: Wdbot, bots: Path, wheels: Path, raise_name: str, words: str) -> None:
    bot = write_bot(bots, "crafted.py",
                    f"raise ModuleNotFoundError({'No module named ' + repr(raise_name)!r}, "
                    f"name={raise_name!r})\n")
    wd("start", str(bot), "--auto-install", "any")
    status = wd.wait_state("crafted", "errored")
    assert status["last_exit"]["reason"] == "missing_module"
    assert words in status["last_exit"]["error"]
    assert not wd.events("auto_install_started")
    assert not (bots / "PWNED").exists() and not (wd.home / "PWNED").exists()


def test_local_modules_and_submodules_of_installed_packages_are_never_installed(
        wd: Wdbot, bots: Path, wheels: Path) -> None:
    module_wheel(wheels, "wdtiny", "wdtiny")
    (bots / "strategy").mkdir()
    (bots / "strategy" / "grid.py").write_text("X = 1\n")
    local = write_bot(bots, "local.py", "import strategy.gird\n" + RUN_FOREVER)
    sub = write_bot(bots, "sub.py", "# /// script\n# dependencies = ['wdtiny']\n# ///\n"
                    "import wdtiny.nothere\n" + RUN_FOREVER)
    wd("start", str(local), "--auto-install", "any")
    wd("start", str(sub), "--auto-install", "any", check=False)  # refused up front (issue 26)
    assert "beside the bot" in wd.wait_state("local", "errored")["last_exit"]["error"]
    # Issue 26: the line names the distribution and its version (nothing older to look at).
    assert "wdtiny 1.0 has no 'wdtiny.nothere'" in wd.wait_state("sub", "errored")["last_exit"]["error"]
    assert not wd.events("auto_install_started")


def dynamic_imports(modules: list[str]) -> str:
    """Imports that no reading of the file can see: only the crash path finds them."""
    return "import importlib\n" + "".join(f"importlib.import_module({m!r})\n" for m in modules)


def test_every_import_of_the_file_and_its_own_modules_in_one_round(
        wd: Wdbot, bots: Path, wheels: Path) -> None:
    modules = allowed_wheels(wd, wheels, "one", 4)
    (bots / "helpers.py").write_text(f"import {modules[3]}\n")
    bot = write_bot(bots, "many.py", f"""
        import {modules[0]}, helpers
        from {modules[1]} import WHERE
        def main():
            import {modules[2]}
            print("ok", flush=True)
            import time
            time.sleep(600)
        try:
            import wdtest_optional_never_installed
        except ImportError:
            pass
        main()
    """)
    wd("start", str(bot), *SLOW_BACKOFF)
    wait_until(lambda: "ok" in wd.stdout("many"), "the bot past its imports")
    status = wd.bot("many")
    assert sorted(i["module"] for i in status["auto_installed"]) == modules
    assert status["restarts"] == 0 and status["last_exit"] is None, "never crashed"
    [started] = wd.events("auto_install_started", "many")
    assert started["round"] == 1 and started["requirement"].count("wdtest-one-") == 4


@pytest.mark.slow
def test_the_third_install_round_is_the_last_and_a_restart_keeps_the_count(
        wd: Wdbot, bots: Path, wheels: Path) -> None:
    modules = allowed_wheels(wd, wheels, "mod", 4)
    bot = write_bot(bots, "greedy.py", dynamic_imports(modules) + RUN_FOREVER)
    wd("start", str(bot), *SLOW_BACKOFF)
    status = wd.wait_state("greedy", "errored", timeout_s=90)
    assert [i["module"] for i in status["auto_installed"]] == modules[:3]
    assert status["restarts"] == 0, "repairs are not restarts (issue 26)"
    assert status["last_exit"]["reason"] == "missing_module"
    error = status["last_exit"]["error"]
    assert "No module named 'wdtest_mod_4'" in error
    assert "still missing after 3 install rounds (wdbot installed wdtest_mod_1" in error
    assert len(wd.events("auto_install_started", "greedy")) == 3
    # A plain restart does not hand out three fresh rounds ...
    wd("restart", "greedy")
    status = wd.wait_state("greedy", "errored", timeout_s=60)
    assert "after 3 install rounds" in status["last_exit"]["error"]
    assert len(wd.events("auto_install_started", "greedy")) == 3
    # ... but an operator's allow does (the budget was spent against other settings).
    wd("allow", "wdtest_other=wdtest-other")
    wd("restart", "greedy")
    wait_until(lambda: "ok" in wd.stdout("greedy"), "the bot with its fourth module", 60)
    assert len(wd.events("auto_install_started", "greedy")) == 4


def test_an_allowlisted_name_with_no_wheel_is_built_from_source_unless_forbidden(
        wd: Wdbot, bots: Path, wheels: Path) -> None:
    build_sdist(wheels, "wdtest-sdist", "1.0", "wdtest_sdist")
    wd("allow", "wdtest_sdist=wdtest-sdist")
    bot = write_bot(bots, "sdist.py", "import wdtest_sdist\n" + RUN_FOREVER)
    wd("start", str(bot))
    wait_until(lambda: "ok" in wd.stdout("sdist"), "the bot with its source-built package")
    [item] = wd.bot("sdist")["auto_installed"]
    assert item["package"] == "wdtest-sdist" and item["from_source"] is True, "said in status"
    [done] = wd.events("auto_install", "sdist")
    assert done["from_source"] is True, "said in the event"
    assert "built=source" in (wd.home / "bots" / "sdist" / "auto-requirements.txt").read_text()

    # A source build runs the package's own code at install time: an operator can forbid it.
    (wd.home / "config.toml").write_text("[auto_install]\nallow_sdist = false\n")
    other = write_bot(bots, "nosdist.py", "import wdtest_sdist\n" + RUN_FOREVER)
    assert wd("start", str(other), check=False).code == 1  # not started: it could not import
    error = wd.wait_state("nosdist", "errored")["last_exit"]["error"]
    assert "wdbot tried to install wdtest-sdist (wheels only)" in error and "no usable wheels" in error


def test_installed_packages_are_compiled_whatever_the_environment_says(
        wd: Wdbot, bots: Path, wheels: Path) -> None:
    # The tests' own environment sets PYTHONDONTWRITEBYTECODE=1, as many containers do.
    assert wd.env["PYTHONDONTWRITEBYTECODE"] == "1"
    build_wheel(wheels, "wdtest-pyc", "1.0", {"wdtest_pyc/__init__.py": "X = 1\n",
                                              "wdtest_pyc/core.py": "Y = 2\n"})
    wd("allow", "wdtest_pyc=wdtest-pyc")
    bot = write_bot(bots, "pyc.py", "import wdtest_pyc.core\n" + RUN_FOREVER)
    wd("start", str(bot), "--min-uptime", "0.5")
    wait_until(lambda: "ok" in wd.stdout("pyc"), "the bot past its imports")
    # Compiled once the bot is up (issue 26), not before its first start.
    venv = wd.home / "bots" / "pyc" / "venv"
    wait_until(lambda: not (venv / ".wdbot-bytecode-pending").exists(), "the compile after the start")
    cached = sorted(p.name.split(".")[0] for p in
                    (site_packages(wd, "pyc") / "wdtest_pyc" / "__pycache__").glob("*.pyc"))
    assert cached == ["__init__", "core"]


def test_the_home_policy_and_a_bots_own_policy(wd: Wdbot, bots: Path, wheels: Path) -> None:
    module_wheel(wheels, "wdtest-pol", "wdtest_pol")
    wd("allow", "wdtest_pol=wdtest-pol")
    (wd.home / "config.toml").write_text('[auto_install]\npolicy = "off"\n')
    bot = write_bot(bots, "pol.py", "import wdtest_pol\n" + RUN_FOREVER)
    wd("start", str(bot))
    assert "auto-install is off for pol" in wd.wait_state("pol", "errored")["last_exit"]["error"]
    assert not wd.events("auto_install_started")
    # The bot's own option wins over the home's; --no-auto-install turns it off again.
    wd("remove", "pol")
    wd("start", str(bot), "--auto-install", "allowlist")
    wait_until(lambda: "ok" in wd.stdout("pol"), "the bot allowed to install")
    other = write_bot(bots, "pol2.py", "import wdtest_pol2\n" + RUN_FOREVER)
    (wd.home / "config.toml").write_text('[auto_install]\npolicy = "any"\n')
    wd("start", str(other), "--no-auto-install")
    assert "auto-install is off for pol2" in wd.wait_state("pol2", "errored")["last_exit"]["error"]


def test_a_bad_config_refuses_installs_but_not_the_bots(
        wd: Wdbot, bots: Path, wheels: Path, tmp_path: Path) -> None:
    module_wheel(wheels, "wdtest-cfg", "wdtest_cfg")
    wd("allow", "wdtest_cfg=wdtest-cfg")
    trigger = tmp_path / "go"
    healthy = write_bot(bots, "healthy.py", RUN_FOREVER)
    late = write_bot(bots, "cfg.py", f"""
        import pathlib, time
        print("ready", flush=True)
        while not pathlib.Path({str(trigger)!r}).exists():
            time.sleep(0.05)
        __import__("wdtest_cfg")  # not seen by reading the file: the crash path's job
    """)
    wd("start", str(healthy))
    wd("start", str(late))
    wait_until(lambda: "ready" in wd.stdout("cfg"), "the bot to start")
    (wd.home / "config.toml").write_text("[auto_install\n")
    trigger.touch()
    error = wd.wait_state("cfg", "errored")["last_exit"]["error"]
    assert "auto-install cannot read its settings" in error and "config.toml" in error
    assert not wd.events("auto_install_started")
    assert wd.bot("healthy")["state"] == "running", "running bots are not touched"
    # A new venv needs the index settings: the start fails in one line, registering nothing.
    new = wd("start", str(write_bot(bots, "new.py", RUN_FOREVER)), check=False)
    assert new.code == 1 and "config.toml: not valid TOML" in new.err
    assert "new" not in [b["name"] for b in wd.status()["bots"]]


def test_allow_rejects_bad_pairs_in_one_line_and_changes_nothing(wd: Wdbot) -> None:
    wd("allow", "good=good-dist")
    for bad in ("x;rm=y", "nodist=", "=dist", "mod=bad dist", "mod=--index-url=http://x", "plain"):
        result = wd("allow", bad, check=False)
        assert result.code == 2, bad
        assert len(result.err.strip().splitlines()) == 1 and "MODULE=DIST" in result.err, bad
    assert wd("allow", "--list").out.strip() == "good -> good-dist"
    assert wd("allow", "--remove", "good").out.strip() == "removed: good"
    gone = wd("allow", "--remove", "good", check=False)
    assert gone.code == 1 and "not in the allow list" in gone.err
    assert "no pairs added" in wd("allow").out


@pytest.mark.slow
def test_a_healthy_run_gives_back_the_three_attempts(wd: Wdbot, bots: Path, wheels: Path) -> None:
    allowed_wheels(wd, wheels, "heal", 4)
    # Three installs in a row, then a run that stays up past --min-uptime before the fourth.
    bot = write_bot(bots, "heal.py", "import time, wdtest_heal_1, wdtest_heal_2, wdtest_heal_3\n"
                    "print('three', flush=True)\ntime.sleep(1.5)\nimport wdtest_heal_4\n" + RUN_FOREVER)
    wd("start", str(bot), "--min-uptime", "1", *SLOW_BACKOFF)
    wait_until(lambda: "ok" in wd.stdout("heal"), "the fourth install after a healthy run", 90)
    assert len(wd.bot("heal")["auto_installed"]) == 4


def test_a_pin_of_the_users_replaces_what_auto_install_chose(
        wd: Wdbot, bots: Path, wheels: Path) -> None:
    # Regression (issue 14): pinning the package in requirements.txt after auto-install chose
    # another version failed with "you require ==2.0 and ==1.0"; only remove --purge got out.
    for version in ("1.0", "2.0"):
        build_wheel(wheels, "wdtest-pin", version,
                    {"wdtest_pin/__init__.py": f"VERSION = {version!r}\n"})
    wd("allow", "wdtest_pin=wdtest-pin")
    bot = write_bot(bots, "pin.py", "import wdtest_pin\nprint('version', wdtest_pin.VERSION, flush=True)\n"
                    + RUN_FOREVER)
    wd("start", str(bot))
    wait_until(lambda: "version 2.0" in wd.stdout("pin"), "the auto-installed latest")
    (bots / "requirements.txt").write_text("wdtest-pin==1.0\n")
    wd("restart", "pin")
    wait_until(lambda: "version 1.0" in wd.stdout("pin"), "the bot with the user's pin")
    assert wd.bot("pin")["auto_installed"] == []
    [note] = wd.events("auto_install_superseded", "pin")
    assert note["packages"] == "wdtest-pin==2.0"
    assert str(bots / "requirements.txt") in note["message"], "the message names the file"
    assert "wdtest-pin" not in (wd.home / "bots" / "pin" / "auto-requirements.txt").read_text()
