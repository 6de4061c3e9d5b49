"""Causes a user can act on, read from a module's name or uv's own output. Pure.

uv's whole text stays in the bot's ``detail``; these give the one line its decisive words:
a module or package that exists only on Windows, a source build that lacks a tool or a C
library (and the Debian/Ubuntu package that provides it), a Python bound (and the version to
pass to ``--python``), a dependency that has no wheel.
"""

from __future__ import annotations

import re

WINDOWS_MODULES = frozenset({
    "winsound", "msvcrt", "winreg", "_winapi", "_winreg", "nt", "win32api", "win32con",
    "win32gui", "win32com", "win32process", "win32event", "win32file", "win32clipboard",
    "pythoncom", "pywintypes", "wmi", "MetaTrader5", "comtypes", "winrt", "pywinauto",
})
"""Top-level import names that exist only on Windows (the standard library's own among them:
``sys.stdlib_module_names`` lists them on every platform, but no Linux Python has them)."""

WINDOWS_DISTS = frozenset({"metatrader5", "pywin32", "pypiwin32", "wmi", "comtypes", "pywinauto",
                           "winrt", "winsdk"})
"""Distributions (normalised names) that publish Windows wheels only."""

LINUX_BRIDGES = {
    "MetaTrader5": "mt5linux (MetaTrader 5 and its Python package under Wine, reached over RPyC)",
    "metatrader5": "mt5linux (MetaTrader 5 and its Python package under Wine, reached over RPyC)",
}
"""The known way to run a Windows-only package's code from Linux."""


def needs_windows(top: str, dist: str | None = None, wheels_say: bool = False) -> str | None:
    """The line for a Windows-only module or distribution (or one whose only wheels are for
    Windows: ``wheels_say``, from uv's hint); None for any other.

    >>> needs_windows("winsound")
    "'winsound' needs Windows: it exists only in Windows builds of Python; run this bot on Windows"
    >>> needs_windows("MetaTrader5").split(";")[1].strip()[:31]
    'on Linux, use the bridge mt5lin'
    """
    dist_key = re.sub(r"[-_.]+", "-", dist).lower() if dist else ""
    if top not in WINDOWS_MODULES and dist_key not in WINDOWS_DISTS and not wheels_say:
        return None
    what = "Windows builds of Python" if top in _WINDOWS_STDLIB else "Windows wheels"
    bridge = LINUX_BRIDGES.get(top) or LINUX_BRIDGES.get(dist_key)
    then = f"on Linux, use the bridge {bridge}" if bridge else "run this bot on Windows"
    return f"{top!r} needs Windows: it exists only in {what}; {then}"


_WINDOWS_STDLIB = frozenset({"winsound", "msvcrt", "winreg", "_winapi", "_winreg", "nt"})

# Debian and Ubuntu package no TA-Lib: its own project publishes the .deb, and TA-Lib's
# Python wheels from 0.6 on bundle the library (an older pin is what forces the build).
_TA_LIB = ("install the .deb from github.com/ta-lib/ta-lib/releases (Debian and Ubuntu have no "
           "package), or allow TA-Lib 0.6 or later, whose wheels bundle it")

# (what uv's build output says, the missing thing, the Debian/Ubuntu package that provides it,
# or the whole advice where no apt package does)
_BUILD_NEEDS: tuple[tuple[re.Pattern[str], str, str], ...] = tuple(
    (re.compile(pattern, re.IGNORECASE), what, package) for pattern, what, package in (
        (r"mysql_config|MYSQLCLIENT_CFLAGS|pkg-config --exists (?:mysqlclient|mariadb)|"
         r"mysql\.h: No such file", "the MySQL client library", "default-libmysqlclient-dev"),
        (r"pg_config executable not found|libpq-fe\.h", "the PostgreSQL client library", "libpq-dev"),
        (r"ta[-_]lib/ta_libc\.h|ta_libc\.h|-lta[-_]lib|ta-lib.*not found", "the TA-Lib C library",
         _TA_LIB),
        (r"pkg-config: not found|pkg-config.*No such file|command 'pkg-config'|"
         r"`pkg-config` (?:is )?not (?:found|installed)|pkg-config is (?:required|not installed)",
         "pkg-config", "pkg-config"),
        (r"Python\.h: No such file", "the Python headers", "python3-dev"),
        (r"ffi\.h: No such file", "libffi's headers", "libffi-dev"),
        (r"openssl/\w+\.h: No such file", "OpenSSL's headers", "libssl-dev"),
        (r"libxml/\w+\.h: No such file|xml2-config", "libxml2's headers", "libxml2-dev"),
        (r"hdf5\.h|HDF5 library", "the HDF5 library", "libhdf5-dev"),
        (r"gmp\.h: No such file", "GMP's headers", "libgmp-dev"),
        (r"secp256k1\.h", "libsecp256k1", "libsecp256k1-dev"),
        (r"\bcargo\b.*not found|can't find Rust compiler|rustc.*not (?:found|installed)",
         "a Rust compiler", "cargo (or rustup)"),
        (r"portaudio\.h: No such file", "PortAudio's headers (portaudio.h)", "portaudio19-dev"),
        # Only where gcc itself is missing: "command 'gcc' failed with exit code 1" means it
        # ran and the compile failed (a header, read below).
        (r"command '(?:[\w/.-]*/)?(?:x86_64-linux-gnu-)?gcc' failed: No such file|"
         r"gcc: (?:command )?not found|\bcc: not found|unable to execute '(?:x86_64-linux-gnu-)?gcc'|"
         r"No such file or directory: '(?:x86_64-linux-gnu-)?gcc'",
         "a C compiler", "build-essential"),
        (r"g\+\+: not found|command 'g\+\+' failed", "a C++ compiler", "g++"),
    ))


def build_needs(error: str) -> str | None:
    """What a failed source build lacks, from uv's output, with the package to install.

    >>> build_needs("  /bin/sh: 1: pkg-config: not found\\n  Exception: Can not find valid "
    ...             "pkg-config name.\\n  Specify MYSQLCLIENT_CFLAGS")[:75]
    'its source build needs the MySQL client library and pkg-config: apt-get ins'
    """
    if not re.search(r"build|compil|setup\.py|pkg-config|\.h: No such file", error, re.IGNORECASE):
        return None
    found = [(what, package) for pattern, what, package in _BUILD_NEEDS if pattern.search(error)]
    if not found:
        return _unknown_header(error)
    # A tool and the library it looks for (pkg-config and MySQL): name both.
    if len(found) > 1 and found[1][0] == "pkg-config":
        (what, package), (_, tool) = found[0], found[1]
        return f"its source build needs {what} and pkg-config: apt-get install {package} {tool}"
    what, package = found[0]
    how = package if package is _TA_LIB else f"apt-get install {package}"
    return f"its source build needs {what}: {how}"


_HEADER = re.compile(r"fatal error: ([\w./+-]{1,80}\.h): No such file")


def _unknown_header(error: str) -> str | None:
    """A C header the table does not know: named, with the way to find its package.

    >>> _unknown_header("x.c:1:10: fatal error: sndfile.h: No such file or directory")
    "its source build needs the C header sndfile.h: 'apt-file search sndfile.h' names the -dev package"
    """
    found = _HEADER.search(error)
    if found is None:
        return None
    return (f"its source build needs the C header {found.group(1)}: 'apt-file search "
            f"{found.group(1)}' names the -dev package")


_PYTHON_BOUND = re.compile(
    r"(?:depends? on Python|requires Python|Requires-Python)\s*(>=|>|==|~=|<=|<)\s*(\d+(?:\.\d+)?)")


def python_bound(error: str) -> tuple[str, str] | None:
    """(the bound, the version to pass to ``--python``) when uv refused for a Python bound.

    >>> python_bound("Because all versions of pandas-ta depend on Python>=3.12 ...")
    ('>=3.12', '3.12')
    >>> python_bound("Because x==2.0 requires Python >=3.99 and you require x==2.0")
    ('>=3.99', '3.99')
    """
    found = _PYTHON_BOUND.search(error)
    if found is None:
        return None
    op, version = found.groups()
    if op in ("<", "<="):
        # An upper bound: an older Python; '<3.12' means 3.11 at most.
        major, _, minor = version.partition(".")
        older = f"{major}.{int(minor) - 1}" if op == "<" and minor.isdigit() and int(minor) > 0 else version
        return f"{op}{version}", older
    return f"{op}{version}", version


_NO_WHEEL = re.compile(r"Because (?:only )?(?:all versions of )?([A-Za-z0-9][\w.-]*?)(?:==[\w.]+)? "
                       r"(?:has|have) no (?:usable )?wheels")
_NO_PLATFORM = re.compile(r"([A-Za-z0-9][\w.-]*?)(?:==[\w.]+)? has no wheels with a matching "
                          r"(?:platform|Python ABI|Python implementation)")


def why_not(error: str, python: str | None = None) -> str:
    """A short cause of uv's failure to install a release, for 'X 0.0.3 instead of 4.6.30: ...'.

    >>> why_not("cause: Because wdt-dep==1.0 has no usable wheels and only wdt-dep==1.0 is "
    ...         "available, we can conclude that all versions of wdt-dep cannot be used.")
    'wdt-dep has no wheel'
    """
    platform_only = _platform_only(error)
    if platform_only and (windows := needs_windows(platform_only, platform_only,
                                                   _windows_wheels(error))) is not None:
        return windows
    if (needs := build_needs(error)) is not None:
        return needs.replace("its source build", "a source build")
    if (bound := python_bound(error)) is not None:
        return f"it needs Python {bound[0]} (--python {bound[1]})"
    if (found := _NO_WHEEL.search(error)) is not None:
        return f"{found.group(1)} has no wheel"
    if (found := _NO_PLATFORM.search(error)) is not None:
        return f"{found.group(1)} has no wheel for this platform"
    lines = [line.strip() for line in error.splitlines() if line.strip()]
    return lines[0][:160] if lines else "uv could not install it"


def _platform_only(error: str) -> str | None:
    found = _NO_PLATFORM.search(error)
    return found.group(1) if found else None


def failed_line(bot: str, path: str, requirement: str, tried: str, error: str) -> str:
    """The one line of a failed install: what was tried, the cause a user can act on (uv's
    decisive line when none is recognised), and the one command that moves forward.

    >>> failed_line("b", "/b.py", "mysqlclient", "wheels, then a source build",
    ...             "  /bin/sh: 1: pkg-config: not found\\n  mysql_config not found")[66:]
    "its source build needs the MySQL client library and pkg-config: apt-get install \
default-libmysqlclient-dev pkg-config, then 'wdbot restart b' (uv's whole error: 'wdbot status b')"
    """
    tried_text = f"wdbot tried to install {requirement} ({tried})"
    whole = f"(uv's whole error: 'wdbot status {bot}')"
    name = requirement.split("=")[0].split("<")[0].split(">")[0].split("[")[0].strip()
    if (windows := needs_windows(name, _platform_only(error) or name,
                                 _windows_wheels(error))) is not None:
        return f"{tried_text}: {windows} {whole}"
    if (needs := build_needs(error)) is not None:
        return f"{tried_text}: {needs}, then 'wdbot restart {bot}' {whole}"
    if (bound := python_bound(error)) is not None:
        return (f"{tried_text} and uv failed: it needs Python {bound[0]}; start the bot on a Python "
                f"it supports: 'wdbot start {path} --python {bound[1]}' {whole}")
    return (f"{tried_text} and uv failed: {uv_decisive_line(error)}; pin a version that installs "
            f"on this Python in the bot's dependencies, then 'wdbot restart {bot}' {whole}")


_WIN_HINT = re.compile(r"Wheels are available for `[^`]+`[^:]*on the following platforms?: (.*)")


def _windows_wheels(error: str) -> bool:
    """uv's hint lists only Windows platforms for the wheels that exist."""
    found = _WIN_HINT.search(error)
    return found is not None and all("win" in tag for tag in re.findall(r"`([^`]+)`", found.group(1)))


def uv_decisive_line(error: str) -> str:
    """The one line of a uv error that names the cause: its deepest ``cause:``, else the
    ``error:`` line itself.

    >>> uv_decisive_line("error: No solution found\\n  cause: Because ta has no usable wheels ...\\n"
    ...                  "hint: Wheels are required")
    'Because ta has no usable wheels ...'
    """
    lines = [line.strip() for line in error.splitlines() if line.strip()]
    causes = [line.split(":", 1)[1].strip() for line in lines
              if line.lower().startswith(("cause:", "caused by:", "╰─▶"))]
    if causes:
        return causes[-1]
    first = lines[0] if lines else error
    return first.split(":", 1)[1].strip() if first.startswith("error:") else first
