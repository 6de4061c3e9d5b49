"""The home's config.toml and the operator's allow list."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from watchdog_runtime.config import (
    Config,
    ConfigError,
    IndexOptions,
    load_allowed,
    load_config,
    update_allowed,
)
from watchdog_runtime.installs.modmap import TableError
from watchdog_runtime.spec import AutoInstall


def test_defaults_without_a_file(tmp_path: Path) -> None:
    assert load_config(tmp_path / "config.toml") == Config()
    assert Config().auto_install is AutoInstall.ALLOWLIST and not Config().allow_sdist


def test_a_full_config(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[auto_install]\npolicy = "any"\nallow_sdist = true\ntimeout = 60\n'
                    '[auto_install.allow]\nmymod = "my-dist"\n'
                    '[index]\nurl = "https://idx/simple"\nfind_links = ["/w"]\nno_index = true\n')
    config = load_config(path)
    assert config.auto_install is AutoInstall.ANY and config.allow_sdist
    assert config.install_timeout_s == 60 and config.allow == {"mymod": "my-dist"}
    assert config.index.uv_args() == ["--index-url", "https://idx/simple", "--find-links", "/w",
                                      "--no-index"]
    assert IndexOptions().uv_args() == []


def test_log_rotation_settings(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[logs]\nmax_size = "2M"\nbackups = 3\n')
    logs = load_config(path).logs
    assert (logs.max_bytes, logs.backups) == (2 * 1024 * 1024, 3)
    assert load_config(tmp_path / "none.toml").logs.max_bytes == 10 * 1024 * 1024


@pytest.mark.parametrize("text, words", [
    ("[auto_install\n", "not valid TOML"),
    ("[autoinstall]\npolicy='any'\n", "unknown section [autoinstall]"),
    ("[auto_install]\npolicy='sometimes'\n", "allowlist, any, off"),
    ("[auto_install]\npolcy='any'\n", "unknown key auto_install.polcy"),
    ("[auto_install]\ntimeout='soon'\n", "auto_install.timeout"),
    ("[auto_install]\ntimeout=0\n", "auto_install.timeout"),
    # TOML spells inf and nan: a period of either made the uptime ping's grid (ticks) fail.
    ("[uptime]\ninterval=nan\n", "uptime.interval must be a positive, finite number (nan)"),
    ("[uptime]\ninterval=inf\n", "uptime.interval must be a positive, finite number (inf)"),
    ("[resources]\ninterval=-inf\n", "resources.interval must be a positive, finite number"),
    ("[auto_install.allow]\n'x;y'='dist'\n", "bad import name"),
    ("[index]\nfind_links='/w'\n", "list of strings"),
    ("[logs]\nmax_size='huge'\n", "logs.max_size: bad size"),
    ("[logs]\nbackups=0\n", "logs.backups must be a whole number, at least 1"),
    ("[logs]\nbackups=2.5\n", "logs.backups"),
    ("[logs]\nkeep=3\n", "unknown key logs.keep"),
])
def test_bad_configs_say_where_and_what(tmp_path: Path, text: str, words: str) -> None:
    path = tmp_path / "config.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=None) as info:
        load_config(path)
    assert words in str(info.value) and str(path) in str(info.value)


def test_allow_list_add_remove_and_validation(tmp_path: Path) -> None:
    path = tmp_path / "allow.json"
    assert load_allowed(path) == {}
    assert update_allowed(path, {"mymod": "my-dist"}) == {"mymod": "my-dist"}
    assert update_allowed(path, {"b": "bee"}, ("mymod",)) == {"b": "bee"}
    with pytest.raises(ConfigError, match="not in the allow list"):
        update_allowed(path, remove=("nope",))
    with pytest.raises(TableError):
        update_allowed(path, {"ok": "bad dist"})
    assert load_allowed(path) == {"b": "bee"}, "a failed update changes nothing"
    path.write_text("{torn")
    with pytest.raises(ConfigError, match="unreadable"):
        load_allowed(path)


def test_concurrent_additions_all_land(tmp_path: Path) -> None:
    path = tmp_path / "allow.json"
    threads = [threading.Thread(target=update_allowed, args=(path, {f"m{i}": f"d{i}"})) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert load_allowed(path) == {f"m{i}": f"d{i}" for i in range(16)}
