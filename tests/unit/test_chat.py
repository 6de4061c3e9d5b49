"""The pure parts of wd.notify/wd.report and of ``wdbot telegram`` (issue 27): commands,
confirmations, one-time codes, which events alert, the event log's follower across a
rotation, the notes policy, the telegram unit, and a dispatcher over a fake backend."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any

import pytest

from watchdog_runtime.chat import commands, totp
from watchdog_runtime.chat.confirm import Confirmations
from watchdog_runtime.chat.dispatch import Dispatcher
from watchdog_runtime.chat.follow import EventFollower
from watchdog_runtime.chat.texts import alert_for
from watchdog_runtime.cli.service import ServiceSpec, launchd_plist, systemd_unit
from watchdog_runtime.supervisor.botnotes import BotNotes, NotePolicy


@pytest.mark.parametrize("text", ["hello", "/restart", "/restart a b", "/logs grid 500", "/bot ../x",
                                  "/halt all 12345", "/frobnicate grid"])
def test_bad_commands_are_one_clear_line(text: str) -> None:
    with pytest.raises(commands.CommandError) as caught:
        commands.parse(text)
    assert "\n" not in str(caught.value)


def test_guarded_commands() -> None:
    guarded = {t for t in ("/stop grid", "/halt all", "/resume all", "/halt grid", "/resume grid",
                           "/restart grid", "/reduce all") if commands.parse(t).guarded()}  # type: ignore[union-attr]
    assert guarded == {"/stop grid", "/halt all", "/resume all"}


def test_a_confirmation_expires() -> None:
    pending = Confirmations(ttl_s=10)
    token = pending.add(1, commands.Change("restart", "grid"), 0.0)
    assert pending.take(token, 1, 11.0) is None


@pytest.mark.parametrize(("epoch", "expected"), [(59, "287082"), (1111111109, "081804"),
                                                 (1234567890, "005924"), (20000000000, "353130")])
def test_totp_matches_rfc_6238(epoch: int, expected: str) -> None:
    secret = base64.b32encode(b"12345678901234567890").decode()
    assert totp.code(secret, epoch) == expected
    assert totp.verify(secret, expected, epoch + 30) and not totp.verify(secret, expected, epoch + 90)


def test_which_events_alert() -> None:
    crash = {"kind": "exit", "bot": "g", "reason": "crash", "error": "KeyError: 'bids'", "code": 1,
             "delay_s": 2.0, "next_state": "backoff"}
    alert = alert_for(crash)
    assert alert and alert.text.startswith("💥 g crashed") and "restarting in 2" in alert.text
    assert alert_for({"kind": "exit", "bot": "g", "reason": "stopped", "code": 0}) is None
    assert alert_for({"kind": "start", "bot": "g"}) is None
    mode = alert_for({"kind": "mode", "bot": "g", "mode": "halted", "reason": "news", "source": "cli"})
    assert mode and mode.text == "🛑 g is now halted (news), by cli"


def test_the_follower_reads_the_rest_of_a_rotated_log_then_the_new_one(tmp_path: Path) -> None:
    """Alerts are neither repeated nor lost across a rotation of events.jsonl."""
    log = tmp_path / "events.jsonl"
    log.write_text(json.dumps({"kind": "a"}) + "\n")
    follower = EventFollower(log, tmp_path / "pos.json")
    start = follower.load()  # the first run: from the end
    with open(log, "a") as f:
        f.write(json.dumps({"kind": "b"}) + "\n" + '{"kind": "half')
    seen = [e["kind"] for e, _ in follower.read(start)]
    assert seen == ["b"]
    *_, (_, after_b) = follower.read(start)
    follower.commit(after_b)
    with open(log, "a") as f:
        f.write('"}\n')
    os.replace(log, tmp_path / "events.jsonl.1")
    log.write_text(json.dumps({"kind": "c"}) + "\n")
    assert [e["kind"] for e, _ in follower.read(follower.load())] == ["half", "c"]


def test_notes_are_deduplicated_and_limited_per_bot() -> None:
    written: list[dict[str, Any]] = []
    now = [0.0]
    notes = BotNotes(lambda kind, bot, **f: written.append({"kind": kind, "bot": bot, **f}), lambda: now[0])
    notes.policy = NotePolicy(burst=2, refill_s=10, dedupe_s=100)
    for text in ("a", "a", "b", "c", "d"):
        notes.take("grid", "note", {"text": text, "level": "nonsense"})
    notes.take("other", "note", {"text": "a"})
    now[0] = 10.0
    notes.take("grid", "note", {"text": "e\x1b[31m"})
    assert [(w["bot"], w["text"], w["held"]) for w in written] == [
        ("grid", "a", None), ("grid", "b", 1), ("other", "a", None), ("grid", "e [31m", 2)]
    assert {w["level"] for w in written} == {"info"}
    notes.take("grid", "figures", {"balance": 1.5, "x" * 41: 1, "n": float("inf"), "s": "1"})
    assert notes.status("grid") == {"figures": {"balance": 1.5}, "figures_age_s": 0.0}


def test_the_telegram_unit(tmp_path: Path) -> None:
    spec = ServiceSpec(tmp_path, "0123456789abcdef", "/usr/bin/python3", metrics="127.0.0.1:9")
    unit = spec.telegram_unit()
    text = systemd_unit(unit)
    assert unit.name == "wdbot-01234567-telegram"
    assert "ExecStart=/usr/bin/python3 -m watchdog_runtime telegram\n" in text
    assert "RestartPreventExitStatus=2" in text and "Telegram chat control" in text
    assert b"telegram.log" in launchd_plist(unit)


class FakeBackend:
    home = Path("/nowhere")

    def status(self, name: str | None = None) -> dict[str, Any] | None:
        if name not in (None, "grid"):
            raise KeyError(name)
        return {"bots": [{"name": "grid", "state": "running", "uptime_s": 5, "restarts": 0}]}

    def act(self, op: str, name: str, origin: str) -> dict[str, Any]:
        return {"name": name, "state": "running", "pid": 7, "op": op, "origin": origin}


def test_the_dispatcher_answers_allowed_chats_only() -> None:
    chat = Dispatcher(FakeBackend(), frozenset({1}), None)  # type: ignore[arg-type]  # a fake
    assert chat.on_text(2, "/status") is None and chat.on_button(2, "s:grid") is None
    ask = chat.on_text(1, "/restart grid")
    assert ask is not None and ask.buttons[0][1].startswith("y:")
    assert chat.on_button(2, ask.buttons[0][1]) is None  # a stranger pressing it
    done = chat.on_button(1, ask.buttons[0][1])
    assert done is not None and done[0].text.startswith("restart grid: done")
    assert chat.on_text(1, "/restart nope") is not None
    pressed = chat.on_button(1, "s:nope")  # a forged button: an answer, never an exception
    assert pressed is not None and "no bot named" in pressed[0].text
