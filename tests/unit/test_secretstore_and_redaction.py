"""The secret store's rules (one key, per-field failures, the bulk form) and redaction (what
is hidden, what is not, kept in step with the store), on real files in a temporary folder."""

from __future__ import annotations

import json
import logging
import os
import stat
import sys
from pathlib import Path

import pytest

from watchdog_runtime.common.home import HomeError
from watchdog_runtime.common.privacy import tighten
from watchdog_runtime.redaction import MIN_CHARS, LogFilter, Redactor, of, rewrite_json, scrub
from watchdog_runtime.secretstore import SecretError, SecretStore, parse_env

KEY = "SK-abcdef0123456789"


def test_a_value_under_another_key_fails_alone(tmp_path: Path) -> None:
    store = SecretStore(tmp_path / "secrets")
    store.set_many("bot", {"binance.apiKey": KEY, "binance.secret": "s3cr3t-value"})
    key = (tmp_path / "secrets" / "key").read_bytes()
    # A value encrypted under another key (a store restored from a backup of another home, say).
    other = SecretStore(tmp_path / "other")
    other.set("bot", "binance.secret", "from-elsewhere")
    items = json.loads((tmp_path / "secrets" / "bot.json").read_text())
    items["binance.secret"] = json.loads((tmp_path / "other" / "bot.json").read_text())["binance.secret"]
    (tmp_path / "secrets" / "bot.json").write_text(json.dumps(items))

    opened = store.connection("bot", "binance")
    assert opened.values == {"apiKey": KEY}
    assert list(opened.unreadable) == ["secret"]
    assert "set it again: wdbot secret set bot binance.secret" in opened.unreadable["secret"]
    assert store.unreadable("bot") == ["binance.secret"]
    store.set("bot", "binance.secret", "mended")  # a set never needs the others readable
    assert store.connection("bot", "binance").values == {"apiKey": KEY, "secret": "mended"}
    assert (tmp_path / "secrets" / "key").read_bytes() == key, "the key is never replaced"


def test_files_are_private_and_purge_removes_a_bots_secrets(tmp_path: Path) -> None:
    folder = tmp_path / "secrets"
    folder.mkdir(mode=0o755)
    folder.chmod(0o755)
    store = SecretStore(folder)
    store.set("bot", "binance.apiKey", KEY)
    store.set("other", "binance.apiKey", "another-value")
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700, "an open folder is tightened at the first write"
    assert {stat.S_IMODE(p.stat().st_mode) for p in folder.iterdir()} == {0o600}
    assert store.purge("bot") and not store.purge("bot")
    assert store.bots() == ["other"]


def test_an_empty_store_and_bad_names(tmp_path: Path) -> None:
    store = SecretStore(tmp_path / "secrets")
    with pytest.raises(SecretError, match="no secrets are stored"):
        store.connection("bot", "binance")
    assert store.all_values() == [] and store.unreadable("bot") == []
    with pytest.raises(SecretError, match="CONNECTION.FIELD"):
        store.set("bot", "apikey", KEY)
    with pytest.raises(SecretError, match="empty value"):
        store.set_many("bot", {"binance.apiKey": KEY, "binance.secret": ""})
    assert not (tmp_path / "secrets" / "bot.json").exists(), "all or nothing"


def test_env_lines() -> None:
    text = '\n# exported from the exchange\n\nexport apiKey = "a b c=d"\nsecret=x\n'
    assert parse_env(text, "binance") == {"binance.apiKey": "a b c=d", "binance.secret": "x"}


@pytest.mark.parametrize("text, problem", [
    ("apiKey=one\nthis line has no equals sign SECRET-VALUE\n", "line 2 of stdin is not KEY=VALUE"),
    ("apiKey=one\nbad key=SECRET-VALUE\n", "line 2 of stdin is not KEY=VALUE"),
    ("apiKey=SECRET-VALUE\napiKey=SECRET-VALUE\n", "line 2 of stdin: apiKey is given twice"),
    ("apiKey=\n", "line 1 of stdin: apiKey has an empty value"),
    ("# only a comment\n\n", "no KEY=VALUE line"),
])
def test_a_malformed_env_is_named_without_its_value(text: str, problem: str) -> None:
    with pytest.raises(SecretError) as caught:
        parse_env(text, "binance")
    assert problem in str(caught.value) and "SECRET-VALUE" not in str(caught.value)


def test_what_is_hidden_and_what_is_not() -> None:
    mask = of([KEY, "12345", 'pa"ss\nword-line'])
    assert scrub(f"rejected {KEY}", mask) == "rejected ***"
    assert scrub(f"repr {KEY!r}, json {json.dumps(KEY)}", mask) == "repr '***', json \"***\""
    assert scrub("pin 12345", mask) == "pin 12345", f"values under {MIN_CHARS} characters are kept"
    assert scrub(json.dumps({"e": 'pa"ss\nword-line'}), mask) == '{"e": "***"}'
    assert scrub("the second line: word-line", mask) == "the second line: ***"
    assert scrub(f"cut at 200 chars: {KEY[:9]}", mask) == "cut at 200 chars: ***"
    assert scrub(f"{KEY[:9]} in the middle is no value", mask) == f"{KEY[:9]} in the middle is no value"
    assert scrub(("a", [f"x{KEY}y", 3, None], {"k": KEY}), mask) == ("a", ["x***y", 3, None], {"k": "***"})
    assert of(["123", ""]) is None


def test_the_redactor_follows_the_store(tmp_path: Path) -> None:
    store = SecretStore(tmp_path / "secrets")
    loads: list[int] = []

    def load() -> list[str]:
        loads.append(1)
        return store.all_values()

    redact = Redactor(tmp_path / "secrets", load)
    assert redact(f"key {KEY}") == f"key {KEY}" and loads == [], "no store: nothing to decrypt"
    store.set("bot", "binance.apiKey", KEY)
    assert redact(f"key {KEY}") == "key ***"
    assert redact(f"again {KEY}") == "again ***" and len(loads) == 1, "decrypted once per change"
    store.set("bot", "binance.apiKey", "rotated-value")
    assert redact("rotated-value") == "***" and len(loads) == 2
    # A replaced or removed value stays hidden: a running bot may still quote it (rt1).
    assert redact(f"old {KEY}") == "old ***"
    store.purge("bot")
    assert redact("rotated-value") == "***" and redact(f"old {KEY}") == "old ***"


def test_log_records_and_kept_files_are_redacted(tmp_path: Path) -> None:
    SecretStore(tmp_path / "secrets").set("bot", "binance.apiKey", KEY)
    redact = Redactor(tmp_path / "secrets")
    try:
        raise RuntimeError(f"exchange said {KEY}")
    except RuntimeError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "bot %s failed: %s", ("b", KEY),
                                   exc_info=sys.exc_info())
    assert LogFilter(redact).filter(record)
    text = logging.Formatter().format(record)
    assert "bot b failed: ***" in text and "RuntimeError: exchange said ***" in text and KEY not in text

    kept = tmp_path / "exit.json"
    kept.write_text(json.dumps({"message": f"bad {KEY}", "code": 1}))
    before = kept.stat().st_ino
    rewrite_json(kept, redact)
    assert json.loads(kept.read_text()) == {"message": "bad ***", "code": 1}
    assert kept.stat().st_ino != before, "replaced atomically, not rewritten in place"
    rewrite_json(tmp_path / "absent.json", redact)  # nothing there: nothing done


def test_an_open_home_is_tightened_once(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / "bots").mkdir(parents=True)
    (home / "events.jsonl").write_text("")
    os.symlink("/etc", home / "link")  # a link is never followed
    home.chmod(0o755)
    (home / "bots").chmod(0o755)
    (home / "events.jsonl").chmod(0o644)
    said = tighten(home)
    assert said and "was open to others (mode 755)" in said and "2 entries" in said
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    assert stat.S_IMODE((home / "events.jsonl").stat().st_mode) == 0o600
    assert stat.S_IMODE(Path("/etc").stat().st_mode) & 0o005, "what a link points to is left alone"
    assert tighten(home) is None, "private already: nothing to say"


def test_a_shared_folder_is_no_home(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    with pytest.raises(HomeError, match="shared folder"):
        tighten(shared)
    assert stat.S_IMODE(shared.stat().st_mode) == 0o1777, "left as it was"


GUARDED = """
import logging, sys, threading, warnings
from pathlib import Path
from watchdog_runtime.redaction import Redactor, guard_logging
logging.basicConfig(stream=sys.stderr)
guard_logging(Redactor(Path(sys.argv[1])))
guard_logging(Redactor(Path(sys.argv[1])))  # twice: one wrapper
key = sys.argv[2]
logging.getLogger("x").error("logged %s", key)
warnings.warn(f"warned {key}")
def boom():
    raise RuntimeError(key)
thread = threading.Thread(target=boom)
thread.start()
thread.join()
raise SystemExit(f"exit {key}")
"""


def test_the_supervisors_stderr_is_redacted_outside_logging_too(tmp_path: Path) -> None:
    """What Python writes to the supervisor's stderr (its log) itself, past every log filter:
    a thread's uncaught exception, a warning, an exit message."""
    import subprocess

    SecretStore(tmp_path / "secrets").set("bot", "binance.apiKey", KEY)
    done = subprocess.run([sys.executable, "-c", GUARDED, str(tmp_path / "secrets"), KEY],
                          capture_output=True, text=True, timeout=60)
    assert done.stderr.count("***") >= 4 and KEY not in done.stderr, done.stderr
    assert "RuntimeError: ***" in done.stderr and "exit ***" in done.stderr
