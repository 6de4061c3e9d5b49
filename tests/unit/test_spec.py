from __future__ import annotations

import argparse

import pytest

from watchdog_runtime.spec import (
    AutoInstall,
    BotSpec,
    RestartPolicy,
    SpecError,
    add_spec_options,
    cli_fields,
    parse_seconds,
    parse_size,
    spec_options,
)


@pytest.mark.parametrize("text, expected", [
    ("500M", 500 * 1024**2), ("2G", 2 * 1024**3), ("1.5GiB", int(1.5 * 1024**3)),
    ("64k", 65536), ("1048576", 1048576), ("512mb", 512 * 1024**2),
])
def test_sizes(text: str, expected: int) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["lots", "5X", "-1G", "", "G"])
def test_bad_sizes_name_the_fix(text: str) -> None:
    with pytest.raises(SpecError, match="500M"):
        parse_size(text)
    with pytest.raises(SpecError, match="more than zero"):
        parse_size("0")


def test_durations() -> None:
    assert [parse_seconds(t) for t in ("10", "0.5", "5m", "1h")] == [10, 0.5, 300, 3600]
    with pytest.raises(SpecError):
        parse_seconds("soon")


def test_cli_is_generated_from_the_spec_and_parses_into_it() -> None:
    parser = argparse.ArgumentParser()
    add_spec_options(parser)
    ns = parser.parse_args(["--max-memory", "2G", "--restart", "always", "--env", "A=1",
                            "--env", "B=x=y", "--no-auto-install", "--stop-timeout", "3"])
    spec = BotSpec(name="b", path="/b.py", **spec_options(ns))
    assert spec.max_memory_bytes == 2 * 1024**3
    assert spec.restart is RestartPolicy.ALWAYS
    assert spec.env == (("A", "1"), ("B", "x=y"))
    assert spec.auto_install is AutoInstall.OFF and spec.stop_timeout_s == 3.0
    flags = {opt.flag for _, opt in cli_fields()} | {
        alias[0] for _, opt in cli_fields() for alias in opt.aliases}
    assert {"--auto-install", "--python", "--requirements", "--max-memory", "--max-fds", "--restart",
            "--no-auto-install", "--watch", "--env", "--stop-timeout", "--heartbeat-timeout"} <= flags


def test_auto_install_policy_flag_and_the_last_flag_wins() -> None:
    parser = argparse.ArgumentParser()
    add_spec_options(parser)
    assert spec_options(parser.parse_args([])) == {}
    ns = parser.parse_args(["--no-auto-install", "--auto-install", "any"])
    assert spec_options(ns) == {"auto_install": AutoInstall.ANY}
    with pytest.raises(SpecError, match="allowlist, any, off"):
        spec_options(parser.parse_args(["--auto-install", "some"]))


def test_spec_json_round_trip() -> None:
    spec = BotSpec(name="b", path="/b.py", args=("--x", "1"), env=(("K", "V"),),
                   restart=RestartPolicy.NEVER, max_fds=100, auto_install=AutoInstall.ANY)
    assert BotSpec.from_json(spec.to_json()) == spec
    # the boolean of registries written before the three-way policy still loads
    assert BotSpec.from_json({**spec.to_json(), "auto_install": False}).auto_install is AutoInstall.OFF
    assert BotSpec.from_json({**spec.to_json(), "auto_install": True}).auto_install is None
    # a field written by a newer wdbot is ignored, not fatal
    assert BotSpec.from_json({**spec.to_json(), "future_option": 1}) == spec


def test_backoff_bounds_are_checked() -> None:
    with pytest.raises(SpecError, match="backoff"):
        BotSpec(name="b", path="/b.py", backoff_initial_s=10, backoff_max_s=1)
