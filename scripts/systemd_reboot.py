"""The reboot steps of ``make systemd-check``'s scenario (inside the container): a hold must
outlive a reboot of the machine, the service started at boot by systemd included.

First reboot: one bot running and one stopped by a person; after the boot the running one is
back (under the unit's supervisor, started at boot) and the stopped one stays down. Second
reboot, right after ``wdbot shutdown``: after the boot the unit's supervisor runs, and the
held bot stays down for six times ``RestartSec``. The container's file system persists
across these boots (an overlay whose upper layer is in the run folder, see
``systemd_check``); ``PHASE`` says which boot this is.
"""

from __future__ import annotations

import json
import time
from typing import Any

from systemd_scenario_tools import (
    BOTS,
    PHASE,
    TICKER,
    WDBOT,
    bot_of,
    bot_pids,
    journal_tail,
    run,
    running_under_service,
    said,
    seconds,
    serving_main,
    status,
    unit_show,
    verdict,
    wait_for,
)


def reboot(state: dict[str, Any]) -> bool:
    """Note what the next boot checks, then ask systemd to reboot (the host boots it again)."""
    PHASE.write_text(json.dumps(state))
    done = run("systemctl", "--no-block", "reboot")
    return done.returncode == 0 or verdict("reboot", "systemctl reboot", "fail", said(done))


def prepare_reboot(unit: str) -> bool:
    """After the first boot's steps: ``paused`` stopped by a person, ``ticker`` running."""
    (BOTS / "paused.py").write_text(TICKER)
    started = run(WDBOT, "start", str(BOTS / "paused.py"), "--name", "paused", timeout=120)
    ran = wait_for(lambda: bot_pids("paused"), 60)
    stopped = run(WDBOT, "stop", "paused", timeout=60)
    ticker = bot_pids("ticker")
    if not (ran and stopped.returncode == 0 and ticker) or bot_pids("paused"):
        return verdict("reboot", "before the reboot: ticker running, paused stopped", "fail",
                       f"{said(started)} | {said(stopped)} | ticker {ticker}, paused {bot_pids('paused')}")
    return reboot({"phase": 2, "unit": unit, "ticker": ticker})


def after_reboot(state: dict[str, Any]) -> bool:
    """The checks of a later boot; True when it reboots again."""
    if state["phase"] == 2:
        return _second_boot(state["unit"], state["ticker"])
    _third_boot(state["unit"])
    return False


def _second_boot(unit: str, before: list[int]) -> bool:
    found = running_under_service(unit, "ticker", 90)
    paused = _stays_down("paused", 4.0)
    held = bot_of(status(), "paused") if found else {}
    ok = bool(found) and found is not None and [found[0]] != before and not paused
    verdict("reboot", "a reboot: the bot that ran comes back under the unit, the stopped one stays down",
            "pass" if ok else "fail",
            f"ticker {before} -> {found[0] if found else 'not under the unit'} (supervisor "
            f"{found[1] if found else '-'} started at boot); paused ran again: {paused or 'never'} "
            f"(state {held.get('state')}, held {held.get('held')}); {unit_show(unit)}"
            + ("" if ok else journal_tail(unit, 12)))
    done = run(WDBOT, "shutdown", timeout=150)
    if done.returncode != 0 or bot_pids("ticker"):
        return verdict("reboot_after_shutdown", "wdbot shutdown before the second reboot", "fail",
                       f"{said(done)} | ticker {bot_pids('ticker')}")
    return reboot({"phase": 3, "unit": unit, "shutdown": said(done)})


def _third_boot(unit: str) -> None:
    """Point 1 across a reboot: the unit, enabled, starts at boot; the held bot stays down."""
    up = wait_for(lambda: _serving(unit), 90, 0.5)
    window = max(6 * seconds(unit_show(unit).get("RestartUSec", ""), 2.0), 10.0)
    ran = _stays_down("ticker", window)
    ticker = bot_of(status(), "ticker") if up else {}
    verdict("reboot_after_shutdown", "point 1 across a reboot: the bot wdbot shutdown held stays down",
            "pass" if up and not ran else "fail",
            f"unit started at boot: {bool(up)}; sampled {window:.0f} s after its supervisor answered: "
            f"ticker ran again: {ran or 'never'} (state {ticker.get('state')}, held {ticker.get('held')}, "
            f"held_by {ticker.get('held_by')}); {unit_show(unit)}"
            + ("" if up and not ran else journal_tail(unit, 12)))


def _serving(unit: str) -> bool:
    """The unit is active and its main process is the supervisor that answers."""
    main = serving_main(unit)
    doc = status() if main else None  # never the command that launches a supervisor itself
    return bool(doc) and doc is not None and doc["supervisor"]["pid"] == main


def _stays_down(name: str, window_s: float) -> list[Any]:
    """Sampled every 0.5 s for ``window_s``: [seconds, pids] the first time the bot ran, or []."""
    end = time.monotonic() + window_s
    while time.monotonic() < end:
        pids = bot_pids(name)
        if pids:
            return [round(window_s - (end - time.monotonic()), 1), pids]
        time.sleep(0.5)
    return []
