"""The shipped import-name table and how a name is resolved to a distribution."""

from __future__ import annotations

import pytest

from watchdog_runtime.installs.modmap import (
    Entry,
    ImportStmt,
    TableError,
    is_dist_name,
    is_import_name,
    pairs_to_entries,
    parse_import_line,
    parse_table,
    resolve,
    shipped_table,
)


def test_the_table_is_large_and_every_entry_is_valid() -> None:
    table = shipped_table()
    assert len(table) >= 300
    for entry in table:
        assert is_dist_name(entry.dist), entry
        assert is_import_name(entry.module), entry
        assert entry.name is None or is_import_name(entry.name), entry
    # A module several distributions provide has a line for each (the generated map's).
    assert len({(e.key, e.dist) for e in table}) == len(table), "no pair twice"


@pytest.mark.parametrize("module, dist", [
    ("ccxt", "ccxt"), ("pandas", "pandas"), ("numpy", "numpy"), ("requests", "requests"),
    ("aiohttp", "aiohttp"), ("httpx", "httpx"), ("websockets", "websockets"),
    ("websocket", "websocket-client"), ("yaml", "PyYAML"), ("dateutil", "python-dateutil"),
    ("dotenv", "python-dotenv"), ("jwt", "PyJWT"), ("Crypto", "pycryptodome"),
    ("telegram", "python-telegram-bot"), ("bs4", "beautifulsoup4"), ("sklearn", "scikit-learn"),
    ("cv2", "opencv-python"), ("PIL", "Pillow"),
])
def test_the_examples_of_the_issue(module: str, dist: str) -> None:
    assert resolve(shipped_table(), module).dist == dist


@pytest.mark.parametrize("line, dist", [
    ("from binance.client import Client", "python-binance"),
    ("from binance import Client", "python-binance"),
    ("from binance.spot import Spot", "binance-connector"),
    ("from binance.um_futures import UMFutures", "binance-futures-connector"),
    ("from kucoin.client import Client", "python-kucoin"),
    ("from kucoin.client import Market, Trade", "kucoin-python"),
    ("from coinbase.rest import RESTClient", "coinbase-advanced-py"),
    ("from coinbase.wallet.client import Client", "coinbase"),
    ("import binance.spot as spot", "binance-connector"),
])
def test_shared_import_names_are_resolved_from_the_failing_line(line: str, dist: str) -> None:
    top = line.split()[1].split(".")[0]
    assert resolve(shipped_table(), top, parse_import_line(line)).dist == dist


@pytest.mark.parametrize("line", [
    None, "import binance", "from binance import enums_that_do_not_exist",
    "from kucoin.client import Client, Market",  # both packages' names: no guess
    "importlib.import_module('binance')",
])
def test_shared_import_names_are_not_guessed(line: str | None) -> None:
    found = resolve(shipped_table(), "binance" if not line or "kucoin" not in line else "kucoin",
                    parse_import_line(line))
    assert found.dist is None and len(found.candidates) >= 2


def test_namespace_packages_resolve_by_their_dotted_path() -> None:
    table = shipped_table()
    # google is missing entirely: the import line decides
    def via(line: str) -> str | None:
        return resolve(table, "google", parse_import_line(line)).dist

    assert via("from google.protobuf import json_format") == "protobuf"
    assert via("from google.cloud import storage") == "google-cloud-storage"
    # google exists (another package's namespace) and google.protobuf is what is missing
    assert resolve(table, "google.protobuf").dist == "protobuf"
    assert resolve(table, "paho", parse_import_line("import paho.mqtt.client as mqtt")).dist == "paho-mqtt"


def test_unknown_names_resolve_to_nothing() -> None:
    assert resolve(shipped_table(), "wdtest_unknown") == resolve([], "x")
    assert resolve(shipped_table(), "wdtest_unknown").dist is None


def test_import_line_parsing() -> None:
    assert parse_import_line("import a.b as c, d") == (ImportStmt("a.b"), ImportStmt("d"))
    assert parse_import_line("from . import x") == (ImportStmt("", ("x",), 1),)
    assert parse_import_line("from ..pkg.mod import (") == (ImportStmt("pkg.mod", (), 2),)
    assert parse_import_line("from ccxt.pro import (") == (ImportStmt("ccxt.pro"),)
    assert parse_import_line("x = 1") == ()
    assert parse_import_line("") == ()


@pytest.mark.parametrize("name", ["yaml", "google.protobuf", "_private", "Crypto"])
def test_valid_import_names(name: str) -> None:
    assert is_import_name(name)


@pytest.mark.parametrize("name", ["", ".x", "x.", "a..b", "1abc", "--index-url=http://evil",
                                  "x;rm -rf ~", "$(id)", "a b", "class", "ünïcode", "x\n"])
def test_invalid_import_names(name: str) -> None:
    assert not is_import_name(name)


@pytest.mark.parametrize("name, ok", [
    ("PyYAML", True), ("python-dateutil", True), ("zope.interface", True), ("a", True),
    ("-r", False), ("x y", False), ("x;y", False), ("pkg>=1", False), ("pkg-", False),
    ("--index-url=http://evil", False), ("", False),
])
def test_distribution_names(name: str, ok: bool) -> None:
    assert is_dist_name(name) is ok


def test_bad_tables_and_pairs_are_rejected() -> None:
    with pytest.raises(TableError, match="twice"):
        parse_table("a b\na c\n")
    with pytest.raises(TableError, match="bad distribution"):
        parse_table("a b;c\n")
    with pytest.raises(TableError, match="KEY DISTRIBUTION"):
        parse_table("a\n")
    with pytest.raises(TableError, match="bad import name"):
        pairs_to_entries({"x-y": "dist"})
    assert pairs_to_entries({"mod": "my-dist"}) == (Entry("mod", None, "my-dist"),)
