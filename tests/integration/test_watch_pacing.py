"""The resource watch's pacing through the real CLI (issue 29): an idle bot far from every
limit is read once per trend bucket, not at every interval, and one that starts leaking
after a flat spell is still read at the interval, its leak suspected. The home's config
scales the watch down (an interval of 0.2 s, buckets of 1 s) to keep the tests short."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.helpers import Wdbot, wait_until, write_bot

SCALED = "[resources]\ninterval = 0.2\nwindow = 60\nmin_span = 4\n"
"""Buckets of 1 s (60 buckets over the window): a flat bot is read every 1 s, not 0.2 s."""

IDLE = """
import time
print("idle", flush=True)
time.sleep(600)
"""


@pytest.fixture
def scaled(wd: Wdbot) -> Wdbot:
    wd.home.mkdir(exist_ok=True)
    (wd.home / "config.toml").write_text(SCALED)
    return wd


def readings(wd: Wdbot, name: str) -> int:
    return len(wd.bot(name)["rss_history"])


@pytest.mark.slow
def test_an_idle_bot_far_from_every_limit_is_read_once_per_bucket(scaled: Wdbot, bots: Path) -> None:
    """Issue 29: the watch read every bot's whole tree at every interval whatever it saw
    (0.34 s of the supervisor's CPU a minute for 50 idle bots). A flat bot far from every
    limit is now read once per trend bucket: over 3 s, 3 or 4 readings, not 15."""
    scaled("start", str(write_bot(bots, "idle.py", IDLE)))
    wait_until(lambda: readings(scaled, "idle") >= 8, "the young readings to pass")
    before, started = readings(scaled, "idle"), time.monotonic()
    # The span measured, not a wait for a condition: how many readings fall in 3 s.
    time.sleep(3.0)
    count = readings(scaled, "idle") - before
    spent = time.monotonic() - started
    assert count <= spent / 1.0 + 2, f"{count} readings in {spent:.1f} s: read at every interval"


LATE_LEAK = """
import os, time
print("idle", flush=True)
trigger = TRIGGER
while not os.path.exists(trigger):
    time.sleep(0.05)
blocks = []
print("leaking", flush=True)
for _ in range(400):                     # 1 MB every 0.1 s, on until seen (at most 40 s)
    if os.path.exists(trigger + ".seen"):
        break
    blocks.append(b"\\x01" * (1 << 20))
    time.sleep(0.1)
print("steady", flush=True)
time.sleep(600)
"""


@pytest.mark.slow
def test_a_flat_bot_that_starts_leaking_is_read_again_and_its_leak_suspected(
        scaled: Wdbot, bots: Path, tmp_path: Path) -> None:
    """Issue 29: a bot read once per bucket while flat is read at the interval again as soon
    as a reading moves, so a leak that starts late is suspected as before. The leak goes on
    until it is seen: a leak of a few seconds then steady is suspected only while the rise
    outweighs the flat spell before it in the window (each half of the window must rise), and a
    slow machine made that spell longer (CI). A rise goes on: it is seen after about twice the
    flat spell."""
    trigger = tmp_path / "leak-now"
    bot = write_bot(bots, "late.py", LATE_LEAK.replace("TRIGGER", repr(str(trigger))))
    scaled("start", str(bot))
    wait_until(lambda: readings(scaled, "late") >= 8, "a flat spell past the young readings")
    trigger.write_text("")
    wait_until(lambda: "leaking" in scaled.stdout("late"), "the leak to start")
    try:
        wait_until(lambda: scaled.events("leak_suspected", "late"), "the leak to be suspected", 60)
    finally:
        (tmp_path / "leak-now.seen").write_text("")
    [event] = scaled.events("leak_suspected", "late")
    assert event["resource"] == "memory" and "RSS rising" in event["detail"]


@pytest.mark.slow
def test_a_bot_flat_for_long_is_read_every_few_buckets(scaled: Wdbot, bots: Path) -> None:
    """Issue 29: an idle fleet still cost the supervisor one reading per bot per bucket for
    as long as it ran (150 readings a minute for 50 bots). A bot flat for six readings in a
    row is now read every third bucket: over 6 s of 1 s buckets, 3 readings at most, not 6."""
    scaled("start", str(write_bot(bots, "idle.py", IDLE)))
    # 5 young readings (1 s), then 6 flat ones a bucket apart, then a stretched one or two.
    wait_until(lambda: readings(scaled, "idle") >= 13, "six flat readings past the young ones", 60)
    before, started = readings(scaled, "idle"), time.monotonic()
    # The span measured, not a wait for a condition: how many readings fall in 6 s.
    time.sleep(6.0)
    count = readings(scaled, "idle") - before
    spent = time.monotonic() - started
    assert count <= spent / 3.0 + 1, f"{count} readings in {spent:.1f} s: read at every bucket"
    assert count >= 1, "a bot flat for long is still read"
