"""Red team (rt3) of the unreadable registry, the daemon's probes, --up and --tee-logs, and the
stop's clean-up: each test pins a break found, through the real wdbot and real processes."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from tests.helpers import Wdbot, roots, wait_until, write_bot
from tests.integration.test_probes import daemon, free_port, get
from tests.integration.test_registry_unreadable import TICKER, break_registry, kill_supervisor


@pytest.mark.slow
def test_a_fix_older_than_a_running_bot_adopts_it_not_stops_it(wd: Wdbot, bots: Path) -> None:
    """A registry broken, its supervisor killed, then fixed by hand from a copy older than a
    bot that runs (its entry absent; the last good copy knows it and its live process)."""
    wd("start", str(write_bot(bots, "alpha.py", TICKER)))
    older = (wd.home / "registry.json").read_text()
    wd("start", str(write_bot(bots, "beta.py", TICKER)))
    beta = roots(wd.home, "beta")
    assert beta
    break_registry(wd)
    wait_until(lambda: wd.status()["supervisor"]["registry_unreadable"] is not None, "the break")
    kill_supervisor(wd)
    assert wd.status()["supervisor"]["registry_unreadable"] is not None  # a new one, waiting
    (wd.home / "registry.json").write_text(older)  # a hand fix from an older copy
    wait_until(lambda: wd.status()["supervisor"]["registry_unreadable"] is None, "the fix")
    assert wd.events("orphans_stopped") == [], "beta stopped as a stray"
    assert roots(wd.home, "beta") == beta


@pytest.mark.slow
def test_daemon_up_applied_once_a_broken_registry_is_restored(wd: Wdbot, bots: Path, tmp_path: Path) -> None:
    """daemon --up found the registry unreadable: its starts were refused and never tried
    again after the restore (the up-file's new bot never started, /readyz 503 for good)."""
    wd("start", str(write_bot(bots, "alpha.py", TICKER)))
    wd("shutdown", "--keep-bots")
    good = (wd.home / "registry.json").read_bytes()
    (wd.home / "registry.json").write_bytes(good.replace(b'"bots": [', b'"bots": [,', 1))
    write_bot(bots, "beta.py", TICKER)
    upfile = bots / "wdbot.toml"
    upfile.write_text('[bots.beta]\npath = "beta.py"\n')
    port = free_port()
    with daemon(wd, tmp_path / "daemon.log", "--metrics", f"127.0.0.1:{port}", "--up", str(upfile)):
        code, body = get(port, "/readyz")
        assert code == 503 and "registry.json unreadable" in body, body
        assert not roots(wd.home, "beta")
        shutil.copyfile(wd.home / "registry.json.last-good", wd.home / "registry.json")
        wait_until(lambda: wd.status()["supervisor"]["registry_unreadable"] is None, "the restore")
        wait_until(lambda: get(port, "/readyz")[0] == 200, "ready after the restore",
                   timeout_s=20)
        assert roots(wd.home, "beta")


@pytest.mark.parametrize("kind", ["folder", "fifo"])
def test_the_restore_command_it_gives_works_for_a_folder_or_a_fifo(wd: Wdbot, bots: Path, kind: str) -> None:
    """The message's restore, 'cp registry.json.last-good registry.json', copied the file
    into a folder put in the registry's place (it stayed unreadable), and hung on a FIFO."""
    wd("start", str(write_bot(bots, "alpha.py", TICKER)))
    before = roots(wd.home, "alpha")
    path = wd.home / "registry.json"
    path.unlink()
    if kind == "folder":
        path.mkdir()
    else:
        os.mkfifo(path)
    message = wait_until(lambda: (wd.status()["supervisor"]["registry_unreadable"] or {}).get("message"),
                         "the break")
    command = re.search(r"restore registry\.json\.last-good \((.*?)\);", message)
    assert command, message
    subprocess.run(["sh", "-c", command.group(1)], check=True, timeout=10, stdin=subprocess.DEVNULL)
    wait_until(lambda: wd.status()["supervisor"]["registry_unreadable"] is None, "the restore")
    assert wd.bot("alpha")["pid"] == before[0] and roots(wd.home, "alpha") == before


@pytest.mark.slow
def test_livez_answers_beside_idle_connections(wd: Wdbot, tmp_path: Path) -> None:
    """32 idle TCP connections to the --metrics listener (a scanner, a load balancer's pool,
    a slowloris) took every slot: /livez went unanswered while the supervisor was fine, so
    an orchestrator would restart the container and every bot with it. Now the oldest
    connection without a whole request gives its slot to the new one. Twice as many half-sent
    requests (a slowloris's headers, one line each) keep no probe out either."""
    port = free_port()
    with daemon(wd, tmp_path / "daemon.log", "--metrics", f"127.0.0.1:{port}"):
        assert get(port, "/livez")[0] == 200
        idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(32)]
        try:
            code, body = get(port, "/livez", timeout_s=5)
            assert code == 200, body
            for _ in range(64):
                half = socket.create_connection(("127.0.0.1", port))
                half.sendall(b"GET /livez HTTP/1.1\r\nHost: x\r\n")  # never the blank line
                idle.append(half)
            for path in ("/livez", "/readyz", "/metrics"):
                code, body = get(port, path, timeout_s=5)
                assert code in (200, 503) and body, (path, code, body)
            assert get(port, "/livez", timeout_s=5)[0] == 200
        finally:
            for sock in idle:
                sock.close()


@pytest.mark.slow
def test_a_shutdown_while_unreadable_holds_after_a_hand_fix(wd: Wdbot, bots: Path) -> None:
    """'wdbot shutdown' while the registry is unreadable writes its holds to the last good
    copy only; the comma then fixed by hand (a file without the holds): the next supervisor
    started every bot again."""
    wd("start", str(write_bot(bots, "alpha.py", TICKER)))
    break_registry(wd)
    wait_until(lambda: wd.status()["supervisor"]["registry_unreadable"] is not None, "the break")
    wd("shutdown")
    assert roots(wd.home, "alpha") == []
    path = wd.home / "registry.json"
    path.write_text(path.read_text().replace('"bots": [,', '"bots": [', 1))  # the comma, fixed by hand
    bot = wd.bot("alpha")  # launches a supervisor
    assert bot["state"] == "stopped" and roots(wd.home, "alpha") == [], bot


@pytest.mark.slow
def test_tee_logs_copies_the_bots_lines_while_the_registry_is_unreadable(
        wd: Wdbot, bots: Path, tmp_path: Path) -> None:
    """daemon --tee-logs started with the registry unreadable followed no bot (it knows none
    until the fix): the running bots' lines never reached its stdout (docker logs), for the
    whole episode."""
    wd("start", str(write_bot(bots, "alpha.py", TICKER)))
    wd("shutdown", "--keep-bots")
    break_registry(wd)
    log = tmp_path / "daemon.log"
    with daemon(wd, log, "--tee-logs"):
        assert wd.status()["supervisor"]["registry_unreadable"] is not None
        wait_until(lambda: "alpha | tick" in log.read_text(), "alpha's lines on the daemon's stdout")
