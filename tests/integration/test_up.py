"""``wdbot up FILE.toml`` through the real CLI: starts, leaves unchanged, updates, refuses."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import Wdbot, write_bot


def test_up_starts_updates_and_refuses_a_bad_file(wd: Wdbot, bots: Path) -> None:
    write_bot(bots, "one.py", "import time\ntime.sleep(600)\n")
    write_bot(bots, "two.py", "import time\ntime.sleep(600)\n")
    upfile = bots / "wdbot.toml"
    upfile.write_text('[bots.one]\npath = "one.py"\n\n[bots.two]\npath = "two.py"\nstop_timeout = 3\n')
    out = wd("up", str(upfile)).out.splitlines()
    assert out[0].startswith("one: started, pid") and out[1].startswith("two: started, pid")
    first_pid = wd.bot("two")["pid"]

    again = wd("up", str(upfile)).out.splitlines()
    assert [line.split(",")[0] for line in again] == ["one: unchanged", "two: unchanged"]

    upfile.write_text('[bots.one]\npath = "one.py"\n\n[bots.two]\npath = "two.py"\nstop_timeout = 4\n')
    updated = wd("up", str(upfile)).out.splitlines()
    assert updated[1].startswith("two: updated and restarted")
    status = wd.bot("two")
    assert status["pid"] != first_pid and status["state"] == "running"
    assert status["start_reason"] == "restart"

    upfile.write_text('[bots.one]\npath = "one.py"\nmax_memory = "lots"\n')
    bad = wd("up", str(upfile), check=False)
    assert bad.code == 2 and bad.err.count("\n") == 1
    assert f"{upfile}:3: bots.one.max_memory: bad size 'lots'" in bad.err
    assert wd.bot("two")["pid"] == status["pid"], "a bad file changes nothing"
