"""Everything the supervisor writes goes through redaction (issue 23, point 5), through the
real ``wdbot``: a bot that dies quoting its own key leaves it nowhere but in its own stderr.

The bot's own lines are the bot's (its traceback quotes the key, as it wrote it); what the
supervisor writes (its marks in the bot's ``stdout.log``, events, the registry, its log, the
exit records, the next run's ``WDBOT_CONTEXT``) and everything the web shows must not.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers import Wdbot, wait_until, write_bot
from tests.integration.test_web_routes import login, make_client

KEY = "SK-live-9d2c4b7a1e6f3058-MARK-KEY"

# The first run dies quoting its key; the run after it stays up (its environment is read).
RAISER = """
import os, time
import watchdog_runtime as wd
if os.environ["WDBOT_START_REASON"] == "first_start":
    key = wd.connection("binance")["apiKey"]
    raise PermissionError(f"401 Unauthorized: exchange rejected api key {key}")
print("second run up", flush=True)
time.sleep(600)
"""


def environ_of(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    pairs = (item.partition(b"=") for item in raw.split(b"\0") if item)
    return {k.decode(errors="replace"): v.decode(errors="replace") for k, _, v in pairs}


def web_views(wd: Wdbot, name: str) -> str:
    """Every page and stream of the dashboard about the bot, as served (read-only too)."""
    seen = []
    for read_only in (False, True):
        with make_client(wd.home, read_only=read_only) as client:
            login(client, wd.home)
            for path in ("/", f"/bot/{name}", "/live/overview?n=2", f"/live/bot/{name}?n=3"):
                reply = client.get(path)
                assert reply.status_code == 200, (path, reply.status_code)
                seen.append(reply.text)
    return "\n".join(seen)


@pytest.mark.slow
def test_the_exit_mark_the_next_context_and_the_web_never_show_a_secret(wd: Wdbot, bots: Path) -> None:
    """Regression: the ``--- wdbot ... exited: ...`` line the supervisor appends to the bot's
    stdout.log quoted the exception unredacted (in ``wdbot logs`` and the web's log view,
    ``--read-only`` included), and ``WDBOT_CONTEXT`` gave it to the next run's environment."""
    wd("secret", "set", "raiser", "binance", "--force", input=f"apiKey={KEY}\nsecret=short\n")
    wd("start", str(write_bot(bots, "raiser.py", RAISER)), "--backoff-initial", "0.2",
       "--backoff-max", "0.5", check=False)  # rejected credentials wait the cap
    wait_until(lambda: "second run up" in wd.stdout("raiser"), "the run after the crash")
    bot = wd.wait_state("raiser", "running")

    env = environ_of(bot["pid"])
    context = json.loads(env["WDBOT_CONTEXT"])
    assert context["last_exit"]["error"].startswith("PermissionError: 401 Unauthorized: exchange "
                                                    "rejected api key ***"), context
    assert KEY not in "\0".join(f"{k}={v}" for k, v in env.items()), "the next run's environment"

    wd("stop", "raiser")  # a second mark, ``stopped``
    own_logs = wd.home / "bots" / "raiser" / "logs"
    assert KEY in (own_logs / "stderr.log").read_text(), "the bot did quote it: the test means it"
    marks = [line for line in wd.stdout("raiser").splitlines() if line.startswith("--- wdbot")]
    assert any("exited: crash (exit 1): PermissionError: 401 Unauthorized: exchange rejected api key ***"
               in line for line in marks), marks
    assert "exited: stopped" in marks[-1]

    shown = "\n".join([wd("logs", "raiser", "--stdout", "-n", "100").out, wd("status", "raiser").out,
                       wd("status", "--json").out, wd("events", "--json", "-n", "500").out,
                       web_views(wd, "raiser")])
    assert "rejected api key ***" in shown
    assert KEY not in shown, "a command, a page or a stream showed the key"

    # Every file of the home, whatever it is, but the bot's own stderr (binary-safe).
    searched = 0
    for path in wd.home.rglob("*"):
        if path.is_file() and not path.is_symlink() and not path.name.startswith("stderr.log"):
            searched += 1
            assert KEY.encode() not in path.read_bytes(), path
    assert searched > 10 and (own_logs / "stdout.log").exists() and (wd.home / "supervisor.log").exists()
