"""Causes a user can act on (issue 26): pure readings of names and of uv's output."""

from __future__ import annotations

import pytest

from watchdog_runtime.installs.causes import build_needs, failed_line, needs_windows, python_bound, why_not
from watchdog_runtime.installs.drift import probe_bounds
from watchdog_runtime.installs.modmap import parse_table

MT5 = ("error: No solution found when resolving dependencies:\n  cause: Because metatrader5==5.0.5120 "
       "has no wheels with a matching platform tag (e.g., `manylinux_2_39_x86_64`) and you require "
       "metatrader5, we can conclude that your requirements are unsatisfiable.\n\n  hint: Wheels are "
       "available for `metatrader5` (v5.0.5120) on the following platforms: `win32`, `win_amd64`")


@pytest.mark.parametrize("module", ["winsound", "msvcrt", "winreg", "win32api", "MetaTrader5"])
def test_windows_only_names(module: str) -> None:
    assert "needs Windows" in (needs_windows(module) or "")


def test_no_other_name_needs_windows() -> None:
    assert needs_windows("os") is None and needs_windows("ccxt", "ccxt") is None


def test_a_windows_only_wheel_in_uvs_words() -> None:
    line = failed_line("b", "/b.py", "MetaTrader5", "wheels only", MT5)
    assert "'MetaTrader5' needs Windows" in line and "mt5linux" in line


@pytest.mark.parametrize("output, package", [
    ("/bin/sh: 1: pkg-config: not found\nerror: subprocess-exited-with-error building wheel", "pkg-config"),
    ("Error: pg_config executable not found.\n building psycopg2", "libpq-dev"),
    ("fatal error: Python.h: No such file or directory", "python3-dev"),
    ("error: command 'gcc' failed: No such file or directory (building)", "build-essential"),
])
def test_a_failed_build_names_the_package(output: str, package: str) -> None:
    assert f"apt-get install {package}" in (build_needs(output) or "")


def test_ta_lib_is_not_sent_to_an_apt_package_that_does_not_exist() -> None:
    """The TA-Lib line said 'apt-get install libta-lib-dev (not in Debian …)': no such
    package in Debian or Ubuntu. It names the project's .deb and the wheels that bundle it."""
    line = build_needs("talib/_ta_lib.c:1227:10: fatal error: ta-lib/ta_libc.h: No such file or "
                       "directory\nbuild failed") or ""
    assert line.startswith("its source build needs the TA-Lib C library: install the .deb from "
                           "github.com/ta-lib/ta-lib/releases"), line
    assert "apt-get" not in line and "0.6 or later" in line


def test_a_python_bound_names_the_version_for_python() -> None:
    assert python_bound("Because all versions of x depend on Python>=3.12") == (">=3.12", "3.12")
    assert python_bound("Because x==1.0 requires Python <3.11") == ("<3.11", "3.10")
    assert python_bound("no bound here") is None
    assert "--python 3.12" in failed_line("b", "/b.py", "x", "wheels only",
                                          "Because all versions of x depend on Python>=3.12")


def test_why_an_old_release_in_a_few_words() -> None:
    assert why_not("Because ibapi==9.81.1 has no usable wheels and you require ibapi") == "ibapi has no wheel"


def test_the_drift_probes_are_bounded() -> None:
    assert len(probe_bounds("40.12.3")) == 6 and probe_bounds("not-a-version") == []


def test_a_bound_in_the_table_is_validated() -> None:
    assert parse_table("pkg_resources setuptools <81\n")[0].spec == "<81"
    with pytest.raises(ValueError):
        parse_table("pkg_resources setuptools ;rm\n")


def test_the_diagnosis_of_a_windows_only_module_says_needs_windows() -> None:
    """Regression (issue 26): winsound got 'declare it … or let auto-install add it'."""
    from watchdog_runtime.states import ExitReason
    from watchdog_runtime.supervisor.diagnosis import Failure, diagnose

    line = "ModuleNotFoundError: No module named 'winsound'"
    found = diagnose(ExitReason.CRASH, 1, None, Failure.from_line(line))
    assert found is not None and found.hint.startswith("'winsound' needs Windows")


def test_only_windows_wheels_in_uvs_hint_is_windows_whatever_the_name() -> None:
    text = MT5.replace("metatrader5", "wdt-winonly")
    assert why_not(text).startswith("'wdt-winonly' needs Windows: it exists only in Windows wheels")
    assert why_not(MT5).startswith("'metatrader5' needs Windows") and "mt5linux" in why_not(MT5)
    assert "needs Windows" not in why_not(text.replace("`win32`, `win_amd64`", "`macosx_11_0_arm64`"))


@pytest.mark.parametrize("output, words", [
    ("fatal error: portaudio.h: No such file or directory\n"
     "error: command 'x86_64-linux-gnu-gcc' failed with exit code 1", "apt-get install portaudio19-dev"),
    ("fatal error: sndfile.h: No such file or directory\nerror: command 'gcc' failed with exit code 1",
     "needs the C header sndfile.h: 'apt-file search sndfile.h'"),
    ("building 'x' extension\nerror: command 'gcc' failed: No such file or directory",
     "apt-get install build-essential"),
])
def test_a_compile_that_failed_is_not_a_missing_compiler(output: str, words: str) -> None:
    """Regression (red team, issue 26): "command 'gcc' failed with exit code 1" (gcc ran, a
    header was missing) was read as "needs a C compiler: apt-get install build-essential"."""
    line = build_needs(output)
    assert line is not None and words in line
    assert "build-essential" not in line or "No such file or directory\n" not in output
