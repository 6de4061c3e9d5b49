"""A local package mirror that reproduces the traps real bots meet (issue 26), for
tests/integration/test_corpus_personal.py: tiny wheels and sdists built in a temp folder, no
network. Each distribution is named after the real one and holds the module paths the
corpus imports; where the real world sets a trap, the mirror sets the same one:

- an old release without the dependency the newest needs (lumibot 4 needs ibapi, which
  ships only an sdist; oandapyV20 0.7.2 is an sdist, 0.7.1 a wheel);
- several distributions sharing one namespace (``binance``: python-binance,
  binance-connector, binance-futures-connector; ``coinbase``; ``websocket``);
- a name removed in a new major (web3 7 has no ``geth_poa_middleware``, pybit 5 no ``HTTP``,
  python-telegram-bot 20 no ``telegram.ext.dispatcher``);
- Windows-only wheels (MetaTrader5), source builds that need a C library and its tools
  (mysqlclient: pkg-config; TA-Lib: ta-lib's headers), a Python bound (pandas-ta).
"""

from __future__ import annotations

import base64
import hashlib
import json
import sys
import tarfile
import zipfile
from collections.abc import Iterable
from pathlib import Path

# Any name imported from a stand-in module exists (PEP 562), as in tests/integration/test_corpus.py.
STAND_IN = "def __getattr__(name):\n    return type(name, (), {})\n"
NEXT_PYTHON = f"3.{sys.version_info.minor + 1}"
"""A Python bound this interpreter does not meet (pandas-ta's, as on PyPI for 3.11)."""


def package(*paths: str, overrides: dict[str, str] | None = None) -> dict[str, str]:
    """Files for the module ``paths`` (every level a package of stand-ins), some overridden."""
    files: dict[str, str] = {}
    for path in paths:
        parts = path.split(".")
        for depth in range(1, len(parts) + 1):
            files["/".join(parts[:depth]) + "/__init__.py"] = STAND_IN
    for path, text in (overrides or {}).items():
        files[path.replace(".", "/") + "/__init__.py"] = text
    return files


def _metadata(dist: str, version: str, requires: Iterable[str], requires_python: str | None) -> str:
    lines = ["Metadata-Version: 2.1", f"Name: {dist}", f"Version: {version}"]
    lines += [f"Requires-Python: {requires_python}"] if requires_python else []
    lines += [f"Requires-Dist: {r}" for r in requires]
    return "\n".join(lines) + "\n"


def wheel(folder: Path, dist: str, version: str, files: dict[str, str], *, requires: Iterable[str] = (),
          requires_python: str | None = None, tag: str = "py3-none-any") -> Path:
    """A valid wheel built without a build backend (``tests.helpers.build_wheel`` plus
    dependencies, a Python bound and a platform tag)."""
    folder.mkdir(parents=True, exist_ok=True)
    norm = dist.replace("-", "_")
    info = f"{norm}-{version}.dist-info"
    contents = dict(files)
    contents[f"{info}/METADATA"] = _metadata(dist, version, requires, requires_python)
    contents[f"{info}/WHEEL"] = (f"Wheel-Version: 1.0\nGenerator: wdbot-tests\nRoot-Is-Purelib: "
                                 f"{'true' if tag.endswith('-any') else 'false'}\nTag: {tag}\n")
    rows = []
    for name, text in contents.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=")
        rows.append(f"{name},sha256={digest.decode()},{len(text.encode())}")
    contents[f"{info}/RECORD"] = "\n".join([*rows, f"{info}/RECORD,,"]) + "\n"
    path = folder / f"{norm}-{version}-{tag}.whl"
    with zipfile.ZipFile(path, "w") as zf:
        for name, text in contents.items():
            zf.writestr(name, text)
    return path


# An in-tree PEP 517 backend: builds the wheel from FILES, or fails the way the real package's
# build fails on a machine without its C library and tools (FAIL: the step and its output).
_BACKEND = '''
import base64, hashlib, json, os, sys, zipfile

NAME, VERSION, FILES, FAIL = {name!r}, {version!r}, json.loads({files!r}), {fail!r}


def _fail(step):
    if FAIL and FAIL[0] == step:
        sys.stderr.write(FAIL[1])
        raise SystemExit(1)


def get_requires_for_build_wheel(config_settings=None):
    _fail("get_requires_for_build_wheel")
    return []


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    _fail("build_wheel")
    norm = NAME.replace("-", "_")
    info = f"{{norm}}-{{VERSION}}.dist-info"
    files = dict(FILES)
    files[f"{{info}}/METADATA"] = f"Metadata-Version: 2.1\\nName: {{NAME}}\\nVersion: {{VERSION}}\\n"
    files[f"{{info}}/WHEEL"] = ("Wheel-Version: 1.0\\nGenerator: t\\nRoot-Is-Purelib: true\\n"
                               "Tag: py3-none-any\\n")
    rows = []
    for path, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=")
        rows.append(f"{{path}},sha256={{digest.decode()}},{{len(text.encode())}}")
    files[f"{{info}}/RECORD"] = "\\n".join(rows + [f"{{info}}/RECORD,,"]) + "\\n"
    wheel = f"{{norm}}-{{VERSION}}-py3-none-any.whl"
    with zipfile.ZipFile(os.path.join(wheel_directory, wheel), "w") as zf:
        for path, text in files.items():
            zf.writestr(path, text)
    return wheel
'''


def sdist(folder: Path, dist: str, version: str, files: dict[str, str],
          fail: tuple[str, str] | None = None) -> Path:
    """A source-only distribution; ``fail`` = (build step, what the real build prints)."""
    norm = dist.replace("-", "_")
    root = folder / "src" / f"{norm}-{version}"
    root.mkdir(parents=True)
    (root / "PKG-INFO").write_text(_metadata(dist, version, (), None))
    (root / "pyproject.toml").write_text(
        f'[project]\nname = "{dist}"\nversion = "{version}"\n\n[build-system]\nrequires = []\n'
        f'build-backend = "backend"\nbackend-path = ["."]\n')
    (root / "backend.py").write_text(_BACKEND.format(name=dist, version=version, files=json.dumps(files),
                                                     fail=fail))
    path = folder / f"{norm}-{version}.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        tar.add(root, arcname=root.name)
    return path


MYSQLCLIENT_BUILD = (
    "/bin/sh: 1: pkg-config: not found\nTrying pkg-config --exists mysqlclient\n"
    "Command 'pkg-config --exists mysqlclient' returned non-zero exit status 127.\n"
    "Trying pkg-config --exists mariadb\n"
    "Command 'pkg-config --exists mariadb' returned non-zero exit status 127.\n"
    "Exception: Can not find valid pkg-config name.\n"
    "Specify MYSQLCLIENT_CFLAGS and MYSQLCLIENT_LDFLAGS env vars manually\n")
TALIB_BUILD = (
    "talib/_ta_lib.c:1229:10: fatal error: ta-lib/ta_defs.h: No such file or directory\n"
    " 1229 | #include \"ta-lib/ta_defs.h\"\ncompilation terminated.\n"
    "error: command '/usr/bin/x86_64-linux-gnu-gcc' failed with exit code 1\n")


def build(folder: Path) -> None:
    """Every distribution the corpus needs, each trap as the real index sets it."""
    for dist, version, paths in (
            ("ta", "0.11.0", ["ta"]), ("ccxt", "4.5.0", ["ccxt"]), ("pandas", "2.2.3", ["pandas"]),
            ("numpy", "2.1.0", ["numpy"]), ("pytz", "2025.1", ["pytz"]),
            ("requests", "2.32.3", ["requests"]), ("python-dotenv", "1.0.1", ["dotenv"]),
            ("schedule", "1.2.2", ["schedule"]), ("yfinance", "0.2.50", ["yfinance"]),
            ("matplotlib", "3.9.2", ["matplotlib.pyplot"]),
            ("plotly", "5.24.1", ["plotly.express", "plotly.graph_objects"]),
            ("eth-account", "0.13.4", ["eth_account.signers.local"]),
            ("ib-insync", "0.9.86", ["ib_insync"]), ("pyTelegramBotAPI", "4.23.0", ["telebot"]),
            ("progress", "1.6", ["progress.spinner"]), ("googletrans", "4.0.0", ["googletrans"]),
            ("alpaca-trade-api", "3.2.0", ["alpaca_trade_api"]),
            ("websocket-client", "1.8.0", ["websocket"]), ("websocket", "0.2.1", ["websocket"]),
            ("coinbase-advanced-py", "1.8.2", ["coinbase.rest", "coinbase.websocket"]),
            ("coinbase", "2.1.0", ["coinbase.wallet"])):
        wheel(folder, dist, version, package(*paths))
    wheel(folder, "hyperliquid-python-sdk", "0.9.0",
          package("hyperliquid.exchange", "hyperliquid.info", "hyperliquid.utils"), requires=["eth-account"])
    _namespaces(folder)
    _drift(folder)
    _old_releases(folder)
    _causes(folder)


def _namespaces(folder: Path) -> None:
    """``binance``: three distributions, the same top-level package, files over each other."""
    wheel(folder, "python-binance", "1.0.21",
          package("binance.client", "binance.enums", "binance.exceptions"))
    wheel(folder, "binance-connector", "3.10.0",
          package("binance.spot", "binance.websocket.spot", "binance.lib.utils", "binance.error"))
    wheel(folder, "binance-futures-connector", "4.1.0",
          package("binance.um_futures", "binance.cm_futures", "binance.websocket.um_futures.websocket_client",
                  "binance.lib.utils", "binance.error"))


def _drift(folder: Path) -> None:
    """A name removed in the newest major; the last release before it still has it."""
    # The old releases name what the new ones dropped (the drift probe reads their source, as
    # it would read web3 6.20's 'def geth_poa_middleware').
    wheel(folder, "web3", "6.20.0", package("web3.middleware", overrides={
        "web3.middleware": "def geth_poa_middleware(make_request, w3):\n    return make_request\n"}))
    wheel(folder, "web3", "7.6.0", package("web3.middleware", overrides={
        "web3.middleware": "class ExtraDataToPOAMiddleware:\n    pass\n"}))
    wheel(folder, "pybit", "2.4.1", package("pybit", overrides={"pybit": "class HTTP:\n    pass\n"}))
    wheel(folder, "pybit", "5.8.0", package("pybit.unified_trading", overrides={"pybit": ""}))
    wheel(folder, "python-telegram-bot", "13.15",
          package("telegram.ext.dispatcher", "telegram.error"))
    wheel(folder, "python-telegram-bot", "21.4", package("telegram.ext", "telegram.error"))


def _old_releases(folder: Path) -> None:
    """The newest needs what only a source build gives; an ancient release needs nothing."""
    lumibot = package("lumibot.brokers", "lumibot.backtesting", "lumibot.strategies.strategy",
                      "lumibot.traders")
    wheel(folder, "lumibot", "0.0.3", lumibot)
    wheel(folder, "lumibot", "4.2.0", lumibot, requires=["ibapi"])
    sdist(folder, "ibapi", "9.81.1", package("ibapi"))
    oanda = package("oandapyV20.exceptions", *(f"oandapyV20.endpoints.{m}" for m in
                                              ("pricing", "orders", "instruments", "accounts", "positions")))
    wheel(folder, "oandapyV20", "0.7.1", oanda)
    sdist(folder, "oandapyV20", "0.7.2", oanda)


def _causes(folder: Path) -> None:
    """What cannot run here, for a reason a user can act on."""
    wheel(folder, "MetaTrader5", "5.0.4874", package("MetaTrader5"), tag="py3-none-win_amd64")
    sdist(folder, "mysqlclient", "2.2.7", package("MySQLdb"),
          fail=("get_requires_for_build_wheel", MYSQLCLIENT_BUILD))
    sdist(folder, "TA-Lib", "0.5.1", package("talib"), fail=("build_wheel", TALIB_BUILD))
    wheel(folder, "pandas-ta", "0.4.67", package("pandas_ta"), requires_python=f">={NEXT_PYTHON}")
