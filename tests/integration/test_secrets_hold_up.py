"""Secrets that hold up (issue 15), through the real command: a bot reads its secrets while it
stops (a stop, a memory-limit restart, a reload); concurrent ``secret set``s lose nothing; a
bot that raises its own key leaks it nowhere the supervisor writes or shows; another local
user reads nothing in the home."""

from __future__ import annotations

import json
import os
import pwd
import shutil
import stat
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import pytest

from tests.helpers import Wdbot, wait_until, write_bot
from tests.integration.test_alerts_live import Receiver, receiver  # noqa: F401 - the fixture
from watchdog_runtime.secretstore import SecretStore

KEY = "SK-live-4f1e9a07c3b2d5e6-OWN-KEY"

# On its first start the bot leaks memory until its limit restarts it; on every stop its
# on_shutdown reads the key (as a bot cancelling its orders would) and notes what it got.
CLEANER = """
import os, time
import watchdog_runtime as wd
HERE = os.path.dirname(os.path.abspath(__file__))
reason = os.environ["WDBOT_START_REASON"]

@wd.on_shutdown
def cancel_orders():
    try:
        got = wd.connection("binance")["apiKey"]
    except Exception as exc:
        got = f"refused: {exc}"
    with open(os.path.join(HERE, "shutdowns.txt"), "a") as fh:
        fh.write(f"{reason}: {got}\\n")

print("started", reason, flush=True)
blocks = []
while True:
    if reason == "first_start":
        blocks.append(b"\\x01" * (8 << 20))
    time.sleep(0.05)
"""


def shutdowns(folder: Path) -> list[str]:
    path = folder / "shutdowns.txt"
    return path.read_text().splitlines() if path.exists() else []


def test_on_shutdown_reads_a_secret_in_a_stop_a_limit_restart_and_a_reload(wd: Wdbot, bots: Path) -> None:
    wd.home.mkdir(exist_ok=True)
    (wd.home / "config.toml").write_text("[resources]\ninterval = 0.2\nconsecutive = 2\n")
    wd("secret", "set", "cleaner", "binance.apiKey", "--force", input=KEY + "\n")
    bot = write_bot(bots, "cleaner.py", CLEANER)
    wd("start", str(bot), "--max-memory", "120M", "--watch")

    wait_until(lambda: "started memory_limit" in wd.stdout("cleaner"), "the memory-limit restart")
    assert shutdowns(bots) == [f"first_start: {KEY}"]
    assert wd.wait_state("cleaner", "running")["last_exit"]["reason"] == "memory_limit"

    bot.write_text(CLEANER + "# edited\n")
    wait_until(lambda: "started reload" in wd.stdout("cleaner"), "the reload")
    assert shutdowns(bots) == [f"first_start: {KEY}", f"memory_limit: {KEY}"]

    wd("stop", "cleaner")
    assert shutdowns(bots) == [f"first_start: {KEY}", f"memory_limit: {KEY}", f"reload: {KEY}"]


HUNG = CLEANER.replace("""    if reason == "first_start":
        blocks.append(b"\\x01" * (8 << 20))""", """    if reason != "first_start":
        wd.heartbeat()  # the first run never beats: a hang""")


def test_on_shutdown_reads_a_secret_in_the_stop_of_a_hang_restart(wd: Wdbot, bots: Path) -> None:
    assert "wd.heartbeat()" in HUNG
    wd("secret", "set", "hung", "binance.apiKey", "--force", input=KEY + "\n")
    wd("start", str(write_bot(bots, "hung.py", HUNG)), "--heartbeat-timeout", "1")
    wait_until(lambda: "started hang" in wd.stdout("hung"), "the hang restart")
    assert shutdowns(bots) == [f"first_start: {KEY}"]


def test_concurrent_sets_lose_nothing(uv_cache: Path) -> None:
    """Regression: without a lock, parallel sets lost fields, or replaced the key that
    another's value was encrypted under (InvalidToken)."""
    for round_ in range(20):
        with tempfile.TemporaryDirectory(prefix="wdh-") as folder:
            cli = Wdbot(Path(folder), uv_cache)
            values = {f"f{i}": f"value-{round_}-{i}-{uuid.uuid4().hex}" for i in range(4)}
            procs = []
            for i, (field, value) in enumerate(values.items()):
                # Two of each form: one field at a time, and the bulk KEY=VALUE form.
                args = ["binance." + field] if i % 2 else ["binance"]
                stdin = Path(folder) / f"in{i}.txt"
                stdin.write_text(value if i % 2 else f"# from a .env file\n{field}={value}\n")
                with open(stdin) as fh:  # all four start at once, their input ready
                    procs.append(subprocess.Popen(
                        [sys.executable, "-m", "watchdog_runtime", "secret", "set", "bot", *args, "--force"],
                        env=cli.env, stdin=fh, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
            for proc in procs:
                _, err = proc.communicate(timeout=60)
                assert proc.returncode == 0, err
            opened = SecretStore(Path(folder) / "secrets").connection("bot", "binance")
            assert opened.values == values and not opened.unreadable, f"round {round_}"
            assert "cannot be decrypted" not in cli("secret", "list", "bot").out


RAISER = """
import watchdog_runtime as wd
key = wd.connection("binance")["apiKey"]
raise PermissionError(f"401 Unauthorized: exchange rejected api key {key} (repr {key!r})")
"""


def test_a_bot_raising_its_own_key_leaks_it_nowhere(wd: Wdbot, bots: Path, receiver: Receiver) -> None:  # noqa: F811
    wd.home.mkdir(exist_ok=True)
    (wd.home / "config.toml").write_text(f'[alerts]\nurls = ["json://127.0.0.1:{receiver.port}/hook"]\n')
    wd("secret", "set", "raiser", "binance", "--force", input=f"apiKey={KEY}\nsecret=short\n")
    wd("start", str(write_bot(bots, "raiser.py", RAISER)), "--restart", "never", check=False)
    status = wd.wait_state("raiser", "errored")
    wait_until(lambda: receiver.titles() == ["wdbot: raiser gave up (errored)"], "the alert")

    own_logs = wd.home / "bots" / "raiser" / "logs"
    assert KEY in (own_logs / "stderr.log").read_text(), "the bot did quote it: the test means it"
    assert status["last_exit"]["error"].startswith("PermissionError: 401 Unauthorized: exchange "
                                                   "rejected api key *** (repr '***')")
    assert status["last_exit"]["diagnosis"]["pattern"] == "credentials"
    shown = "\n".join([
        wd("status", "--json").out, wd("status").out, wd("status", "raiser").out,
        wd("status", "raiser", "--json").out, wd("events", "-n", "500").out,
        wd("events", "--json", "-n", "500").out, json.dumps(receiver.got)])
    assert "rejected api key ***" in shown and KEY not in shown
    for path in wd.home.rglob("*"):
        if path.is_file() and not path.is_relative_to(own_logs):
            assert KEY.encode() not in path.read_bytes(), path


def other_user() -> str:
    """A fresh local user for this test (root only); the caller removes it."""
    if os.geteuid() != 0 or not shutil.which("useradd") or not shutil.which("userdel"):
        pytest.skip("needs root and useradd to create a second local user")
    name = f"wdt{uuid.uuid4().hex[:8]}"
    done = subprocess.run(["useradd", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
                          capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        pytest.skip(f"useradd refused ({done.stderr.strip()})")
    return name


PROBE = """
import json, os, socket, sys
got = []
for path in json.load(sys.stdin):
    try:
        if os.path.isdir(path):
            os.listdir(path)
        elif path.endswith(".sock"):
            with socket.socket(socket.AF_UNIX) as s:
                s.connect(path)
        else:
            open(path, "rb").read(1)
        got.append(path)
    except OSError:
        pass
print(json.dumps(got))
"""


def test_another_local_user_reads_nothing_in_the_home(wd: Wdbot, bots: Path) -> None:
    if not Path("/usr/bin/python3").exists():
        pytest.skip("no /usr/bin/python3 for the other user to run (ours may sit in a private folder)")
    user = other_user()
    # A file the other user can read: the probe's empty answer about the home then means something.
    control = Path(tempfile.mkdtemp(prefix="wdt-open-")) / "readable.txt"
    control.write_text("anyone\n")
    control.chmod(0o644)
    control.parent.chmod(0o755)
    try:
        probe_home(wd, bots, user, control)
    finally:
        subprocess.run(["userdel", user], capture_output=True, timeout=60)
        shutil.rmtree(control.parent)


def probe_home(wd: Wdbot, bots: Path, user: str, control: Path) -> None:
    wd.home.chmod(0o755)  # a home made open by hand (or by an older wdbot) ...
    (wd.home / "events.jsonl").write_text("")
    (wd.home / "events.jsonl").chmod(0o644)
    wd("secret", "set", "idle", "binance.apiKey", "--force", input=KEY + "\n")
    wd("start", str(write_bot(bots, "idle.py", "import time\nprint('up', flush=True)\n"
                                               "time.sleep(600)\n")))
    wait_until(lambda: "up" in wd.stdout("idle"), "the bot to write its log")
    log = (wd.home / "supervisor.log").read_text()
    assert log.count("made private") == 1, "... is tightened at start, and the log says so once"

    everything = [wd.home, *wd.home.rglob("*")]
    open_to_others = [p for p in everything if not p.is_symlink()
                      and stat.S_IMODE(p.lstat().st_mode) & 0o077]
    assert open_to_others == [], "every file and folder is private (0600/0700)"
    probe = subprocess.run(["/usr/bin/python3", "-I", "-c", PROBE], user=pwd.getpwnam(user).pw_uid,
                           group=pwd.getpwnam(user).pw_gid, extra_groups=[], cwd="/",
                           input=json.dumps([str(control), *map(str, everything)]), capture_output=True,
                           text=True, timeout=60, env={"PATH": "/usr/bin:/bin"})
    assert probe.returncode == 0, probe.stderr
    assert json.loads(probe.stdout) == [str(control)], "another user read or listed nothing"


def test_the_bulk_form_is_all_or_nothing_and_purge_forgets(wd: Wdbot, bots: Path) -> None:
    done = wd("secret", "set", "keeper", "binance", "--force",
              input="apiKey=first-api-key\n# note\n\nsecret='first-secret'\n")
    assert done.out.startswith("keeper: stored binance.apiKey, binance.secret")
    bad = wd("secret", "set", "keeper", "binance", "--force",
             input="apiKey=second-api-key\nsecret second-secret\n",
             check=False)
    assert bad.code == 2 and bad.err.count("\n") == 1 and "line 2 of stdin is not KEY=VALUE" in bad.err
    assert "second" not in bad.err + bad.out, "a malformed line is never echoed"
    store = SecretStore(wd.home / "secrets")
    assert store.connection("keeper", "binance").values == {"apiKey": "first-api-key",
                                                             "secret": "first-secret"}, "nothing changed"

    wd("secret", "set", "keeper", "binance.apiKey", "--force",
       input="rotated-api-key\n")  # the one-field form
    assert store.connection("keeper", "binance").values["apiKey"] == "rotated-api-key"
    wd("start", str(write_bot(bots, "keeper.py", "import time\ntime.sleep(600)\n")))
    wd("remove", "keeper")
    assert store.names("keeper") == ["binance.apiKey", "binance.secret"], "a plain remove keeps them"
    wd("start", str(bots / "keeper.py"))
    wd("remove", "keeper", "--purge")
    assert wd("secret", "list").out == "" and not (wd.home / "secrets" / "keeper.json").exists()


def test_an_undecryptable_value_fails_alone_in_the_bot(wd: Wdbot, bots: Path) -> None:
    from tests.integration.test_secrets import READER, ask

    wd("secret", "set", "trader", "binance", "--force", input=f"apiKey={KEY}\nsecret=good-secret\n")
    elsewhere = SecretStore(bots / "elsewhere")  # a value encrypted under another home's key
    elsewhere.set("trader", "binance.secret", "from-another-home")
    mine = wd.home / "secrets" / "trader.json"
    items = json.loads(mine.read_text())
    items["binance.secret"] = json.loads((bots / "elsewhere" / "trader.json").read_text())["binance.secret"]
    mine.write_text(json.dumps(items))
    assert "trader binance.secret (cannot be decrypted: set it again)" in wd("secret", "list").out

    trader = bots / "trader"
    wd("start", str(write_bot(trader, "trader.py", READER.replace("{name}", "trader"))))
    assert ask(trader, "trader") == {"apiKey": KEY}, "the readable field is still given"
    stderr = (wd.home / "bots" / "trader" / "logs" / "stderr.log").read_text()
    assert "binance.secret of trader cannot be decrypted" in stderr and "wdbot secret set trader" in stderr
    wd("secret", "set", "trader", "binance.secret", "--force", input="mended-secret\n")
    assert ask(trader, "trader") == {"apiKey": KEY, "secret": "mended-secret"}
