"""scripts/build_modmap.py against real wheels built locally (issue 26): a sample of the
shipped generated map is reproduced from tiny wheels of the same layout."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from tests.helpers import build_wheel
from watchdog_runtime.installs.modmap import (
    Resolution,
    conflicting,
    parse_generated,
    parse_import_line,
    resolve,
    shipped_table,
)

ROOT = Path(__file__).resolve().parents[2]


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("build_modmap", ROOT / "scripts" / "build_modmap.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["build_modmap"] = module
    spec.loader.exec_module(module)
    return module


SAMPLE = {  # distribution -> the files of its wheel that matter here
    "binance-connector": ["binance/__init__.py", "binance/lib/__init__.py", "binance/lib/utils.py",
                          "binance/spot/__init__.py", "binance/websocket/__init__.py",
                          "binance/websocket/spot/__init__.py"],
    "binance-futures-connector": ["binance/__init__.py", "binance/lib/__init__.py",
                                  "binance/lib/utils.py", "binance/um_futures/__init__.py",
                                  "binance/websocket/__init__.py",
                                  "binance/websocket/um_futures/__init__.py"],
    "python-binance": ["binance/__init__.py", "binance/client.py"],
    "rel": ["rel/__init__.py", "rel/rel.py"],
    "protobuf": ["google/protobuf/__init__.py", "google/protobuf/message.py"],
    "lumibot": ["lumibot/__init__.py", "lumibot/strategies/__init__.py", "tests/test_x.py"],
}


def test_the_script_reproduces_a_sample_of_the_shipped_map_from_wheels(tmp_path: Path) -> None:
    for dist, files in SAMPLE.items():
        build_wheel(tmp_path / "wheels", dist, "1.0", {f: "X = 1\n" for f in files})
    out = tmp_path / "provides.txt"
    assert load_script().main(["--wheels", str(tmp_path / "wheels"), "--out", str(out)]) == 0
    entries, conflicts = parse_generated(out.read_text())
    made = {(e.module, e.dist) for e in entries}
    shipped = (ROOT / "watchdog_runtime" / "installs" / "data" / "provides.txt").read_text()
    shipped_pairs = {(e.module, e.dist) for e in parse_generated(shipped)[0]}
    sample = {("binance.um_futures", "binance-futures-connector"), ("binance.spot", "binance-connector"),
              ("binance.lib", "binance-connector"), ("binance.lib", "binance-futures-connector"),
              ("binance.websocket.um_futures", "binance-futures-connector"),
              ("binance.client", "python-binance"), ("rel", "rel"), ("lumibot", "lumibot"),
              ("google.protobuf", "protobuf")}
    assert sample <= made, "the script finds them in the wheels"
    assert sample <= shipped_pairs, "and the shipped map has them, read from the real wheels"
    assert ("google", "protobuf") not in made, "a namespace is never one distribution's"
    assert not any(m.startswith("tests") for m, _ in made), "a wheel's stray tests/ is no import name"
    assert ("binance-connector", "binance-futures-connector") in conflicts
    assert ("binance", "python-binance") not in made, "a shared top-level is named by its submodules"


def test_the_shipped_map_resolves_a_shared_namespace_by_the_deepest_submodule() -> None:
    table = shipped_table()

    def of(line: str, module: str, preferred: tuple[str, ...] = ()) -> Resolution:
        return resolve(table, module, parse_import_line(line), preferred)

    assert of("from binance.um_futures import UMFutures", "binance.um_futures").dist == \
        "binance-futures-connector"
    assert of("from binance.websocket.um_futures.websocket_client import UMFuturesWebsocketClient",
              "binance.websocket.um_futures.websocket_client").dist == "binance-futures-connector"
    lib = of("from binance.lib.utils import config_logging", "binance.lib.utils")
    assert lib.dist is None and set(lib.candidates) == {"binance-connector", "binance-futures-connector"}
    assert of("from binance.lib.utils import config_logging", "binance.lib.utils",
              ("binance-futures-connector",)).dist == "binance-futures-connector"
    assert of("from binance.client import Client", "binance.client").dist == "python-binance"
    assert conflicting("binance-futures-connector", "binance-connector")
    assert resolve(table, "pkg_resources").spec == "<81"
    assert resolve(table, "rel").dist == "rel" and resolve(table, "lumibot").dist == "lumibot"
