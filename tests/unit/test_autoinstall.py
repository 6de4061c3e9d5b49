"""The auto-install policy: what is installed, what is refused, and the one-line reasons."""

from __future__ import annotations

from typing import Any

import pytest

from watchdog_runtime.installs.autoinstall import (
    MAX_ATTEMPTS,
    Budget,
    Facts,
    Install,
    Installed,
    Refuse,
    format_record,
    parse_record,
    plan,
    requirement_name,
)
from watchdog_runtime.installs.modmap import pairs_to_entries, shipped_table
from watchdog_runtime.spec import AutoInstall
from watchdog_runtime.supervisor.tracebacks import MissingModule

CLEAN = Facts(stdlib=False, local=False, parent_installed=False)


def decide(name: str, line: str | None = None, **kw: Any) -> Install | Refuse:
    args: dict[str, Any] = {"bot": "grid", "policy": AutoInstall.ALLOWLIST, "facts": CLEAN,
                            "table": shipped_table()}
    args.update(kw)
    return plan(MissingModule(name, line or f"import {name}", "/bots/grid.py"), **args)


def refused(result: Install | Refuse) -> str:
    assert isinstance(result, Refuse), result
    return result.message


def test_a_table_entry_is_installed_by_its_distribution_name() -> None:
    assert decide("yaml") == Install("yaml", "PyYAML", "PyYAML", "table")
    assert decide("binance", "from binance.client import Client").dist == "python-binance"  # type: ignore[union-attr]


def test_a_declared_dependency_is_installed_as_declared() -> None:
    # its own name, with the bot's version constraint
    assert decide("wdtest_mod", declared=["wdtest-mod>=1.2"]) == \
        Install("wdtest_mod", "wdtest-mod", "wdtest-mod>=1.2", "declared")  # as declared
    # the table's name for it, as the bot pinned it
    assert decide("yaml", declared=["pyyaml==6.0.1"]).requirement == "pyyaml==6.0.1"  # type: ignore[union-attr]
    # an ambiguous name is settled by what the bot declared
    assert decide("binance", declared=["binance-connector"]).dist == "binance-connector"  # type: ignore[union-attr]


def test_the_operators_pair_wins() -> None:
    allowed = pairs_to_entries({"binance": "binance-connector", "wdtest_mod_a": "wdtest-dist-a"})
    assert decide("wdtest_mod_a", allowed=allowed) == \
        Install("wdtest_mod_a", "wdtest-dist-a", "wdtest-dist-a", "allowed")
    assert decide("binance", "from binance.client import Client", allowed=allowed).dist == "binance-connector"  # type: ignore[union-attr]


def test_a_name_outside_the_allowlist_is_refused_with_the_exact_fix() -> None:
    message = refused(decide("wdtest_evil"))
    assert "not in the auto-install allowlist" in message
    assert "wdbot allow wdtest_evil=DIST" in message and "wdbot restart grid" in message


def test_any_installs_an_unknown_name_under_its_own_name_but_never_the_unsafe_cases() -> None:
    assert decide("wdtest_x", policy=AutoInstall.ANY) == Install("wdtest_x", "wdtest_x", "wdtest_x", "any")
    assert "standard library" in refused(decide("tomllib", policy=AutoInstall.ANY,
                                                facts=Facts(True, False, False)))
    assert "beside the bot" in refused(decide("strategy", policy=AutoInstall.ANY,
                                              facts=Facts(False, True, False)))


def test_off_installs_nothing() -> None:
    assert "auto-install is off for grid" in refused(decide("yaml", policy=AutoInstall.OFF))


@pytest.mark.parametrize("name", ["--index-url=http://evil", "x; curl evil | sh", "$(id)",
                                  "yaml\x00", "-e.", "../../etc"])
def test_hostile_names_are_refused_before_anything_runs(name: str) -> None:
    for policy in AutoInstall:
        if policy is not AutoInstall.OFF:
            assert "not a valid import name" in refused(decide(name, policy=policy))


def test_relative_imports_and_submodules_of_installed_packages_are_refused() -> None:
    assert "relative import" in refused(decide("mypkg.helpers", "from .helpers import x"))
    message = refused(decide("numpy.linalg_x", facts=Facts(False, False, True)))
    assert "broken install" in message and "'numpy'" in message


def test_an_ambiguous_name_is_not_guessed() -> None:
    message = refused(decide("binance", "import binance"))
    assert "several packages" in message and "python-binance" in message and "binance-connector" in message
    assert "wdbot allow binance=DIST" in message


def test_at_most_three_install_rounds_and_never_the_same_module_twice() -> None:
    # The cap counts rounds (uv calls), not modules: five modules in two rounds leave one.
    assert isinstance(decide("yaml", installed_before=["a", "b", "c", "d", "e"], rounds=2), Install)
    message = refused(decide("yaml", installed_before=["a", "b", "c"], rounds=MAX_ATTEMPTS))
    assert f"after {MAX_ATTEMPTS} install rounds (wdbot installed a, b, c)" in message
    assert "'wdbot restart grid'" in message
    assert "still missing after wdbot installed" in refused(decide("yaml", installed_before=["yaml"]))


def test_the_budget_is_kept_across_restarts_unless_the_dependencies_change() -> None:
    spent = Budget().rebased("deps-1").spent(["ccxt", "pandas"]).spent(["ta"])
    assert (spent.rounds, spent.modules, spent.exhausted) == (2, ("ccxt", "pandas", "ta"), False)
    assert spent.spent([]).exhausted, "a round that installed nothing still counts"
    assert spent.rebased("deps-1") is spent, "a plain restart keeps what was spent"
    assert spent.rebased("deps-2") == Budget(basis="deps-2"), "new dependencies or an allow"
    assert spent.healthy() == Budget(basis="deps-1")


def test_a_declared_requirement_that_looks_like_an_option_is_refused() -> None:
    assert "not one" in refused(decide("evil", declared=["evil\n--index-url=x"]))


def test_requirement_names() -> None:
    assert requirement_name("foo[bar]>=1; python_version>'3'") == "foo"
    assert requirement_name("-r other.txt") is None


def test_the_record_round_trips_and_skips_foreign_lines() -> None:
    items = [Installed("yaml", "PyYAML", "6.0.2", "2026-11-23T04:17:00+0000"),
             Installed("wdtest_mod_a", "wdtest-dist-a", "1.0", "t")]
    text = format_record(items)
    assert "PyYAML==6.0.2  # module=yaml" in text
    assert parse_record(text + "garbage line\n# comment\n\n") == items


def test_a_submodule_the_map_gives_to_another_distribution_of_a_shared_namespace() -> None:
    """Issue 26: google.cloud.storage beside an installed google.cloud (another of Google's
    distributions) is that distribution's, not a broken install."""
    found = decide("google.cloud.storage", "from google.cloud import storage",
                   facts=Facts(False, False, True))
    assert isinstance(found, Install) and found.dist == "google-cloud-storage"
