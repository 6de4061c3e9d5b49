"""A bot's text cannot bend the live pages' event streams (issue 23, point 6): a bot dies with
every line end in its error, one of them followed by ``event: bot``; the streams, read as a
browser reads them (WHATWG: a bare CR ends a line too), still carry one event of the right
type per update, the text in it whole."""

from __future__ import annotations

import re
from pathlib import Path

from tests.helpers import Wdbot, wait_until, write_bot
from tests.integration.test_web_routes import login, make_client

HOSTILE = "feed died\\rcr\\r\\ncrlf\\nlf\\revent: bot\\rdata: injected\\r\\rid: 7\\rretry: 1"
HOSTILE_BOT = f"""
import os, time
if os.environ["WDBOT_START_REASON"] == "first_start":
    raise RuntimeError("{HOSTILE}")
print("up again", flush=True)
time.sleep(600)
"""
AS_READ = "feed died\ncr\ncrlf\nlf\nevent: bot\ndata: injected\n\nid: 7\nretry: 1"
"""The error's lines, each line end a line feed (HTML reads a CR as one anyway)."""
ONE_LINE = " ".join(line for line in AS_READ.split("\n") if line)
"""The same as an exit's one-line error (issue 26's red team: every exit's error is one line),
which is what the table and the event list show."""


def browser_events(raw: bytes) -> list[tuple[str, str]]:
    """The events of a stream as a browser dispatches them (WHATWG HTML, "Interpreting an
    event stream"): lines end at CRLF, LF or a bare CR; a blank line dispatches; ``event``
    names the type (``message`` without one), ``data`` lines are joined with LF."""
    text = raw.decode("utf-8").removeprefix("\ufeff")
    events: list[tuple[str, str]] = []
    kind, data = "", []
    for line in re.split(r"\r\n|\r|\n", text)[:-1]:  # the last piece is no complete line
        if not line:
            if data:
                events.append((kind or "message", "\n".join(data)))
            kind, data = "", []
            continue
        field, colon, value = line.partition(":")
        value = value[1:] if colon and value.startswith(" ") else value
        if field == "event":
            kind = value
        elif field == "data":
            data.append(value)
    return events


def test_a_bots_line_ends_never_rename_or_split_an_event(wd: Wdbot, bots: Path) -> None:
    """Regression: a bare CR in an error went raw into the stream; a browser ends a line
    there, so ``\\revent: bot`` renamed the overview's event and the page stopped updating."""
    wd("start", str(write_bot(bots, "hostile.py", HOSTILE_BOT)), "--backoff-initial", "0.2")
    # Its second run (the first one, seen running before it raised, has no last exit yet).
    wait_until(lambda: "up again" in wd.own_lines("hostile"), "the run after the hostile error")
    wd.wait_state("hostile", "running")
    assert "event: bot" in wd.bot("hostile")["last_exit"]["error"], "the error kept its line ends"
    with make_client(wd.home) as client:
        login(client, wd.home)
        overview = browser_events(client.get("/live/overview?n=3").content)
        bot = browser_events(client.get("/live/bot/hostile?n=2").content)
    assert [kind for kind, _ in overview] == ["overview"] * 3, overview
    assert all(ONE_LINE in data for _, data in overview), "the text whole, in the last exit and the events"
    assert [kind for kind, _ in bot if kind != "log"] == ["logreset", "bot", "bot"], bot
    assert all(ONE_LINE in data for kind, data in bot if kind == "bot")


UNDECODABLE_BOT = """
import os, time
if os.environ["WDBOT_START_REASON"] == "first_start":
    raise RuntimeError("bad file name " + os.fsdecode(b"caf\\xe9.csv"))  # a lone surrogate
print("up again", flush=True)
time.sleep(600)
"""


def test_an_undecodable_byte_in_an_error_breaks_no_page(wd: Wdbot, bots: Path) -> None:
    """Regression: a file name's undecodable byte in an error reached the web as a lone
    surrogate, which no response can encode: the overview, the bot page and their streams
    failed (500, or a stream cut at once, reopened and cut again) while the error was listed."""
    wd("start", str(write_bot(bots, "odd.py", UNDECODABLE_BOT)), "--backoff-initial", "0.2")
    wd.wait_state("odd", "running")
    with make_client(wd.home) as client:
        login(client, wd.home)
        for path in ("/", "/bot/odd", "/live/overview?n=1", "/live/bot/odd?n=1"):
            reply = client.get(path)
            assert reply.status_code == 200 and "bad file name caf\\udce9.csv" in reply.text, path
