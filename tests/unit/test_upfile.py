"""``wdbot up`` files: the same typed spec as ``wdbot start`` builds, and errors that name the
file, the line and the key."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from watchdog_runtime.cli.upfile import UpFileError, load
from watchdog_runtime.spec import AutoInstall, BotSpec, RestartPolicy, add_spec_options, spec_options

GOOD = """
# two bots
[bots.grid]
path = "bots/grid.py"
args = ["--symbol", "BTC/USDT"]
restart = "always"
max_memory = "500M"
max_fds = 900
heartbeat_timeout = 60
stop_timeout = 2.5
env = { EXCHANGE = "binance", MODE = "paper" }
auto_install = "off"
watch = true
requirements = "bots/requirements.txt"

[bots.scalper]
path = "bots/scalper.py"
env = ["A=1"]
"""


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "bots").mkdir()
    for name in ("grid.py", "scalper.py"):
        (tmp_path / "bots" / name).write_text("print('hi')\n")
    (tmp_path / "bots" / "requirements.txt").write_text("")
    return tmp_path


def write(folder: Path, text: str) -> Path:
    path = folder / "wdbot.toml"
    path.write_text(text)
    return path


def test_a_file_maps_onto_the_same_spec_as_the_command_line(folder: Path) -> None:
    grid, scalper = load(write(folder, GOOD))
    parser = argparse.ArgumentParser()
    add_spec_options(parser)
    flags = parser.parse_args(["--restart", "always", "--max-memory", "500M", "--max-fds", "900",
                               "--heartbeat-timeout", "60", "--stop-timeout", "2.5", "--env",
                               "EXCHANGE=binance", "--env", "MODE=paper", "--no-auto-install",
                               "--watch", "--requirements", str(folder / "bots/requirements.txt")])
    options = spec_options(flags)
    from_cli = BotSpec(name="grid", path=str(folder / "bots/grid.py"), args=("--symbol", "BTC/USDT"),
                       **options)
    assert grid == from_cli
    assert grid.restart is RestartPolicy.ALWAYS and grid.auto_install is AutoInstall.OFF
    assert grid.max_memory_bytes == 500 * 1024**2 and grid.watch is True
    assert scalper == BotSpec(name="scalper", path=str(folder / "bots/scalper.py"), env=(("A", "1"),))


@pytest.mark.parametrize(("text", "expected"), [
    ('[bots.grid]\npath = "bots/grid.py"\nmax_memroy = "1G"\n',
     ":3: bots.grid.max_memroy: unknown key; known:"),
    ('[bots.grid]\npath = "bots/grid.py"\n\n\nmax_memory = "huge"\n',
     ":5: bots.grid.max_memory: bad size 'huge'"),
    ('[bots.grid]\npath = "bots/grid.py"\nrestart = "sometimes"\n',
     ":3: bots.grid.restart: bad --restart 'sometimes': choose one of on-failure, always, never"),
    ('[bots.grid]\npath = "bots/grid.py"\nmax_fds = true\n', ":3: bots.grid.max_fds: bad value True"),
    ('[bots.grid]\npath = "bots/grid.py"\nwatch = "yes"\n', ":3: bots.grid.watch: must be true or false"),
    ('[bots.grid]\npath = "bots/nope.py"\n', ":2: bots.grid.path: bots/nope.py: no such file"),
    ('[bots.grid]\nrestart = "always"\n', ":1: bots.grid: no path"),
    ('[bots."bad name"]\npath = "bots/grid.py"\n', ":1: bad bot name 'bad name'"),
    ('[bots.grid]\npath = "bots/grid.py"\nbackoff_initial = 10\nbackoff_max = 1\n',
     ":1: bots.grid: --backoff-max must not be below --backoff-initial"),
    ('[bots.grid]\npath = "bots/grid.py"\nargs = "--x"\n', ":3: bots.grid.args: must be a list of strings"),
    ('[bot.grid]\npath = "bots/grid.py"\n', ":1: unknown table or key 'bot'"),
    ("", "no bots"),
    ("[bots.grid\n", "not valid TOML"),
])
def test_errors_name_the_file_the_line_and_the_key(folder: Path, text: str, expected: str) -> None:
    path = write(folder, text)
    with pytest.raises(UpFileError) as caught:
        load(path)
    message = str(caught.value)
    assert message.startswith(str(path)) and expected in message, message
    assert "\n" not in message


def test_a_flag_set_to_false_reads_back_from_the_registry(folder: Path) -> None:
    """Regression (issue 29's ``warm_spare``): ``watch = false`` gave the field None, not False,
    and a registry holding that spec could not be read back (``watch must be true or false``)."""
    (folder / "up.toml").write_text('[bots.grid]\npath = "bots/grid.py"\nwatch = false\n'
                                     'warm_spare = false\ntimestamps = true\n')
    spec = load(folder / "up.toml")[0]
    assert (spec.watch, spec.warm_spare, spec.timestamps) == (False, False, True)
    assert BotSpec.from_json(spec.to_json()) == spec
    (folder / "up.toml").write_text('[bots.grid]\npath = "bots/grid.py"\nwarm_spare = true\n')
    assert load(folder / "up.toml")[0].warm_spare is True
