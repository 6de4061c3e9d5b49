"""Where wdbot keeps things: one home folder per supervisor, laid out in one place.

``$WDBOT_HOME`` when set, otherwise the platformdirs user state folder of ``wdbot``.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from pathlib import Path

from .digest import sha256_hex
from .leandataclass import dataclass

# sun_path is 108 bytes on Linux and 104 on macOS, terminating NUL included.
SOCKET_PATH_MAX = 100
BOT_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class HomeError(Exception):
    """The home folder cannot be used (a file in its place, no permission, ...)."""


@dataclass(frozen=True)
class Home:
    """The paths of one wdbot home. Creating the object touches nothing on disk."""

    root: Path

    @classmethod
    def from_env(cls) -> Home:
        env = os.environ.get("WDBOT_HOME")
        if env:
            # resolve(): one home has one id (its bots' marker), however its path is spelt
            return cls(Path(env).expanduser().resolve())
        import platformdirs  # only when no home is given: keeps the CLI start cheap

        return cls(Path(platformdirs.user_state_dir("wdbot")))

    @property
    def id(self) -> str:
        """A short stable tag of this home, used to mark its processes and name its socket."""
        return sha256_hex(str(self.root).encode())[:16]

    @property
    def registry(self) -> Path:
        return self.root / "registry.json"

    @property
    def lock(self) -> Path:
        """Held (flock) by the one live supervisor of this home."""
        return self.root / "supervisor.lock"

    @property
    def spawn_lock(self) -> Path:
        """Serialises clients that race to start the supervisor."""
        return self.root / "spawn.lock"

    @property
    def supervisor_log(self) -> Path:
        return self.root / "supervisor.log"

    @property
    def events(self) -> Path:
        return self.root / "events.jsonl"

    @property
    def config(self) -> Path:
        """Global settings (``config.toml``), read when used."""
        return self.root / "config.toml"

    @property
    def allowed(self) -> Path:
        """The operator's auto-install pairs (``wdbot allow``)."""
        return self.root / "allow.json"

    @property
    def sdk_dir(self) -> Path:
        """Put on every bot venv's path: it holds only a link to the ``watchdog_runtime`` package."""
        return self.root / "sdk"

    @property
    def socket(self) -> Path:
        """The control socket."""
        return self._socket_path("wdbot.sock", f"{self.id}.sock")

    @property
    def notify_socket(self) -> Path:
        """The datagram socket bots send heartbeats and recovery progress to (``notify``)."""
        return self._socket_path("notify.sock", f"{self.id}.notify.sock")

    @property
    def secrets_socket(self) -> Path:
        """Where bots ask for their secrets (``wd.connection``)."""
        return self._socket_path("secrets.sock", f"{self.id}.secrets.sock")

    @property
    def secrets(self) -> Path:
        """The encrypted secret store (``secretstore``), mode 0700."""
        return self.root / "secrets"

    def _socket_path(self, name: str, short_name: str) -> Path:
        """``name`` in the home, or ``short_name`` in a short per-user temp folder when the
        home is too deep for a socket path."""
        inside = self.root / name
        if len(os.fsencode(inside)) <= SOCKET_PATH_MAX:
            return inside
        return short_socket_dir() / short_name

    def bot_dir(self, name: str) -> Path:
        return self.root / "bots" / name

    def ensure(self) -> None:
        """Create the home (mode 0700) if needed."""
        try:
            self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
            (self.root / "bots").mkdir(exist_ok=True, mode=0o700)
        except (FileExistsError, NotADirectoryError) as exc:
            raise HomeError(f"home {self.root} is not a folder; set WDBOT_HOME to a folder") from exc
        except PermissionError as exc:
            raise HomeError(f"cannot create home {self.root}: permission denied; set WDBOT_HOME") from exc


@dataclass(frozen=True)
class BotPaths:
    """The files of one bot inside the home."""

    root: Path

    @property
    def venv(self) -> Path:
        return self.root / "venv"

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def stdout_log(self) -> Path:
        return self.logs / "stdout.log"

    @property
    def stderr_log(self) -> Path:
        return self.logs / "stderr.log"

    @property
    def state(self) -> Path:
        """The bot's durable state folder (``wd.State`` lives here)."""
        return self.root / "state"

    @property
    def run(self) -> Path:
        """Per-run records the bootstrap leaves for the supervisor (exit and crash)."""
        return self.root / "run"

    @property
    def exit_record(self) -> Path:
        return self.run / "exit.json"

    @property
    def code_cache(self) -> Path:
        """The bot file's compiled entry plan, kept by the bootstrap (``bot.codecache``)."""
        return self.run / "entry.cache"

    @property
    def sigterms(self) -> Path:
        """The processes of the bot that have had their SIGTERM (``supervisor.sentmarks``)."""
        return self.run / "sigterms"

    @property
    def auto_requirements(self) -> Path:
        """What auto-install added, as requirements a rebuilt venv installs up front."""
        return self.root / "auto-requirements.txt"

    def ensure(self) -> None:
        for folder in (self.root, self.logs, self.state, self.run):
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)


@contextlib.contextmanager
def private_socket(path: Path) -> Iterator[None]:
    """Create a Unix socket at ``path`` inside this block: a stale one of a dead supervisor
    is removed first (the caller holds the home lock), and the new one is made mode 0600,
    never readable by others, even briefly."""
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    old = os.umask(0o177)
    try:
        yield
    finally:
        os.umask(old)


def short_socket_dir() -> Path:
    """A per-user folder (mode 0700) for sockets of homes whose path is too long."""
    from .tempdir import temp_dir  # not tempfile: it brings shutil, random into every process (issue 29)

    folder = temp_dir() / f"wdbot-{os.getuid()}"
    if len(os.fsencode(folder)) > SOCKET_PATH_MAX - 24:
        folder = Path("/tmp") / f"wdbot-{os.getuid()}"
    folder.mkdir(mode=0o700, exist_ok=True)
    st = folder.stat()
    if st.st_uid != os.getuid() or st.st_mode & 0o077:
        raise HomeError(f"{folder} is not private to this user; remove it and retry")
    return folder
