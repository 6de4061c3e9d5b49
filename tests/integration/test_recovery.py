"""``recover(ctx)`` through the real supervisor: called first, on every start, with the right
context; the ``recovering`` state; failures, backoff and ``errored``. The bots write what
they see to files beside them, which are the handshakes the tests wait on."""

from __future__ import annotations

import json
from pathlib import Path

from tests.helpers import Wdbot, wait_until, write_bot

FAST = ("--backoff-initial", "0.01", "--backoff-max", "0.05")


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


RECORDING = """
import json, os
HERE = os.path.dirname(os.path.abspath(__file__))

def note(line):
    with open(os.path.join(HERE, "order.txt"), "a") as fh:
        fh.write(line + "\\n")

note("body")

def recover(ctx):
    ctx.state["recoveries"] = ctx.state.get("recoveries", 0) + 1
    ctx.state.save()
    last = ctx.last_exit and {"code": ctx.last_exit.code, "signal": ctx.last_exit.signal,
                              "reason": ctx.last_exit.reason, "error": ctx.last_exit.error}
    seen = {"name": ctx.name, "reason": ctx.reason, "restarts": ctx.restarts,
            "last_exit": last, "downtime_s": ctx.downtime_s, "state_dir": str(ctx.state_dir),
            "recoveries": ctx.state["recoveries"]}
    with open(os.path.join(HERE, "contexts.jsonl"), "a") as fh:
        fh.write(json.dumps(seen) + "\\n")
    note("recover")

def main():
    note("main")
    if len(open(os.path.join(HERE, "contexts.jsonl")).readlines()) == 1:
        raise RuntimeError("exchange websocket closed")
    import time
    time.sleep(600)
"""


def test_recover_runs_first_on_every_start_with_its_context(wd: Wdbot, bots: Path) -> None:
    bot = write_bot(bots, "careful.py", RECORDING)
    wd("start", str(bot), *FAST)
    wait_until(lambda: len(lines(bots / "contexts.jsonl")) >= 2, "two recoveries")
    wd.wait_state("careful", "running")
    assert lines(bots / "order.txt") == ["body", "recover", "main", "body", "recover", "main"]
    first, second = (json.loads(x) for x in lines(bots / "contexts.jsonl"))
    state_dir = str(wd.home / "bots" / "careful" / "state")
    assert first == {"name": "careful", "reason": "first_start", "restarts": 0, "last_exit": None,
                     "downtime_s": None, "state_dir": state_dir, "recoveries": 1}
    assert second["reason"] == "crash" and second["restarts"] == 1
    assert second["last_exit"] == {"code": 1, "signal": None, "reason": "crash",
                                   "error": "RuntimeError: exchange websocket closed"}
    assert 0 <= second["downtime_s"] < 30
    assert second["recoveries"] == 2  # ctx.state is the durable state of the previous run
    assert [e["bot"] for e in wd.events("recovered", "careful")] == ["careful", "careful"]


def test_the_status_is_recovering_while_recover_runs(wd: Wdbot, bots: Path) -> None:
    bot = write_bot(bots, "slowrecover.py", """
        import os, time
        HERE = os.path.dirname(os.path.abspath(__file__))
        def recover(ctx):
            open(os.path.join(HERE, "in-recover"), "w").close()
            deadline = time.monotonic() + 60
            while not os.path.exists(os.path.join(HERE, "go")) and time.monotonic() < deadline:
                time.sleep(0.02)
        def main():
            open(os.path.join(HERE, "trading"), "w").close()
            time.sleep(600)
    """)
    wd("start", str(bot))
    wait_until(lambda: (bots / "in-recover").exists(), "recover to begin")
    status = wd.bot("slowrecover")
    assert status["state"] == "recovering" and status["pid"] is not None
    assert not (bots / "trading").exists()
    (bots / "go").touch()
    wd.wait_state("slowrecover", "running")
    wait_until(lambda: (bots / "trading").exists(), "trading code after recovery")


def test_a_failing_recover_blocks_trading_and_ends_errored(wd: Wdbot, bots: Path) -> None:
    source = """
        import os
        HERE = os.path.dirname(os.path.abspath(__file__))
        def recover(ctx):
            raise ConnectionError("cannot reach the exchange to reconcile")
        def main():
            open(os.path.join(HERE, "{name}.traded"), "w").close()
    """
    default = write_bot(bots, "norecover.py", source.format(name="norecover"))
    three = write_bot(bots, "threetries.py", source.format(name="threetries"))
    wd("start", str(default), *FAST)
    wd("start", str(three), *FAST, "--max-recovery-failures", "3")
    for name, tries in (("norecover", 5), ("threetries", 3)):
        status = wd.wait_state(name, "errored")
        assert status["last_exit"]["reason"] == "recovery_failed"
        assert status["last_exit"]["error"] == "ConnectionError: cannot reach the exchange to reconcile"
        assert status["restarts"] == tries - 1 and status["recovery_failures"] == tries
        exits = wd.events("exit", name)
        assert [e["next_state"] for e in exits] == ["backoff"] * (tries - 1) + ["errored"]
        assert not (bots / f"{name}.traded").exists()


def test_a_recovery_that_succeeds_resets_the_failure_count(wd: Wdbot, bots: Path) -> None:
    bot = write_bot(bots, "flakyrecover.py", """
        import os, time
        HERE = os.path.dirname(os.path.abspath(__file__))
        def recover(ctx):
            if ctx.restarts < 2:
                raise TimeoutError("positions request timed out")
        def main():
            open(os.path.join(HERE, "trading"), "w").close()
            time.sleep(600)
    """)
    wd("start", str(bot), *FAST)
    wait_until(lambda: (bots / "trading").exists(), "trading after two failed recoveries")
    status = wd.wait_state("flakyrecover", "running")
    assert status["restarts"] == 2 and status["recovery_failures"] == 0


def test_a_kill_during_recovery_is_a_failed_recovery(wd: Wdbot, bots: Path) -> None:
    bot = write_bot(bots, "killedrecover.py", """
        import os, signal
        def recover(ctx):
            if ctx.restarts == 0:
                os.kill(os.getpid(), signal.SIGKILL)
        def main():
            import time
            time.sleep(600)
    """)
    wd("start", str(bot), *FAST)
    wait_until(lambda: wd.bot("killedrecover")["restarts"] >= 1
               and wd.bot("killedrecover")["state"] == "running", "a recovery after the kill")
    exit_event = wd.events("exit", "killedrecover")[0]
    assert exit_event["reason"] == "recovery_failed" and exit_event["signal"] == 9


def test_async_recover_and_main_and_a_main_without_guard(wd: Wdbot, bots: Path) -> None:
    bot = write_bot(bots, "asyncbot.py", """
        import asyncio, os
        HERE = os.path.dirname(os.path.abspath(__file__))
        async def recover(ctx):
            await asyncio.sleep(0)
            open(os.path.join(HERE, "recovered"), "w").close()
        async def main():
            assert os.path.exists(os.path.join(HERE, "recovered"))
            open(os.path.join(HERE, "main-ran"), "w").close()
    """)
    wd("start", str(bot))
    status = wd.wait_state("asyncbot", "exited")
    assert status["last_exit"]["reason"] == "clean_exit"
    assert (bots / "recovered").exists() and (bots / "main-ran").exists()


def test_a_plain_script_without_recover_runs_as_main(wd: Wdbot, bots: Path) -> None:
    bot = write_bot(bots, "plain.py", """
        import os
        HERE = os.path.dirname(os.path.abspath(__file__))
        def main():
            open(os.path.join(HERE, "via-main"), "w").close()
        if __name__ == "__main__":
            with open(os.path.join(HERE, "guard"), "w") as fh:
                fh.write(__name__)
            main()
    """)
    wd("start", str(bot))
    wd.wait_state("plain", "exited")
    assert (bots / "guard").read_text() == "__main__" and (bots / "via-main").exists()
