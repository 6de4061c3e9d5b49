"""Secrets end to end: stored encrypted, handed to their own bot only (the kernel says who
asks), read fresh after a rotation, and never written anywhere in clear."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

from tests.helpers import Wdbot, wait_until, write_bot

VALUE = "sk-live-7f3c9e1d5b2a4680-THE-SECRET"
ROTATED = "sk-live-0000aaaabbbbcccc-ROTATED"

READER = """
import json, os, time
import watchdog_runtime as wd
HERE = os.path.dirname(os.path.abspath(__file__))
while True:
    if os.path.exists(os.path.join(HERE, "ask")):
        os.remove(os.path.join(HERE, "ask"))
        try:
            got = wd.connection("binance")
        except wd.ConnectionUnavailable as exc:
            got = {"error": str(exc)}
        with open(os.path.join(HERE, "{name}.got.tmp"), "w") as fh:
            json.dump(got, fh)
        os.replace(os.path.join(HERE, "{name}.got.tmp"), os.path.join(HERE, "{name}.got"))
    time.sleep(0.05)
"""


def ask(folder: Path, name: str) -> dict[str, str]:
    got = folder / f"{name}.got"
    got.unlink(missing_ok=True)
    (folder / "ask").touch()
    wait_until(got.exists, f"{name} to ask for its secrets")
    data: dict[str, str] = json.loads(got.read_text())
    return data


def test_a_bot_gets_its_own_secrets_fresh_and_nothing_leaks(wd: Wdbot, bots: Path) -> None:
    assert wd("secret", "set", "trader", "binance.apiKey", "--force", input=VALUE + "\n").out.startswith(
        "trader: stored binance.apiKey")
    wd("secret", "set", "trader", "binance.secret", "--force", input="s3cr3t-part-two\n")
    wd("secret", "set", "other", "binance.apiKey", "--force", input="someone-elses-key\n")
    assert wd("secret", "list").out.splitlines() == [
        "other binance.apiKey", "trader binance.apiKey", "trader binance.secret"]
    store = wd.home / "secrets"
    assert oct(store.stat().st_mode & 0o777) == "0o700"
    assert {oct(p.stat().st_mode & 0o777) for p in store.iterdir()} == {"0o600"}

    trader = bots / "trader"
    wd("start", str(write_bot(trader, "trader.py", READER.replace("{name}", "trader"))))
    assert ask(trader, "trader") == {"apiKey": VALUE, "secret": "s3cr3t-part-two"}
    wd("secret", "set", "trader", "binance.apiKey", "--force", input=ROTATED + "\n")  # rotated: no restart
    assert ask(trader, "trader")["apiKey"] == ROTATED
    assert wd.bot("trader")["restarts"] == 0

    wd("secret", "rm", "trader", "binance.secret")
    assert ask(trader, "trader") == {"apiKey": ROTATED}

    # Nothing in clear anywhere: the store, the registry, events, logs, status, alerts' input.
    status = wd("status", "--json").out + wd("status").out + wd("events", "-n", "500").out
    for secret in (VALUE, ROTATED, "s3cr3t-part-two"):
        assert secret not in status
        for path in wd.home.rglob("*"):
            if path.is_file() and not path.is_socket():
                assert secret.encode() not in path.read_bytes(), path


def test_a_process_outside_the_bots_gets_nothing(wd: Wdbot, bots: Path) -> None:
    wd("secret", "set", "trader", "binance.apiKey", "--force", input=VALUE + "\n")
    wd("start", str(write_bot(bots, "idle.py", "import time\ntime.sleep(600)\n")))
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:  # this test is no bot
        sock.settimeout(10)
        sock.connect(str(wd.home / "secrets.sock"))
        sock.sendall(b'{"connection": "binance"}\n')
        reply = json.loads(sock.makefile().readline())
    assert reply == {"ok": False, "error": "secrets go to wdbot's bots only, from their own processes"}
    # ... and a bot gets only its own: idle has none.
    code = "import watchdog_runtime as wd; print(wd.connection('binance'))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30,
                          env={**os.environ, "WDBOT_SECRETS_SOCKET": str(wd.home / "secrets.sock")})
    assert "secrets go to wdbot's bots only" in done.stderr


def test_values_never_come_from_argv_and_bad_input_is_one_line(wd: Wdbot) -> None:
    extra = wd("secret", "set", "trader", "binance.apiKey", VALUE, "--force", check=False)
    assert extra.code == 2 and "never comes from the command line" in extra.err
    assert VALUE not in extra.err + extra.out, "a secret typed by mistake is not echoed back"
    assert not (wd.home / "secrets" / "trader.json").exists()
    bad = wd("secret", "set", "trader", "apikey", "--force", input="x\n", check=False)
    assert bad.code == 2 and bad.err.count("\n") == 1 and "CONNECTION.FIELD" in bad.err
    gone = wd("secret", "rm", "trader", "binance.nothing", check=False)
    assert gone.code == 2 and "has no secret" in gone.err
