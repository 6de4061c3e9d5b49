"""Per-bot secrets: stored encrypted at rest (Fernet), handed to a bot only, fresh on each ask.

Layout, in the home: ``secrets/key`` (the Fernet key, 0600, made on first use) and
``secrets/BOT.json`` (``{NAME: token}``, 0600, one encrypted token per value). Names are
``CONNECTION.FIELD`` (``binance.apiKey``); a bot asks ``wd.connection("binance")`` and gets
``{"apiKey": ..., "secret": ...}`` through the supervisor's secrets socket, which learns the
asking process from the kernel (``SO_PEERCRED``) and answers only for the bot whose process
tree it belongs to. Values are read from disk on every ask: a rotated key needs no restart.

Threat model, honestly: this keeps keys out of source code, out of the bot's folder (and so
out of git and of copies of it), out of argv, the environment, the status, events, alerts
and logs, and unreadable in a backup of the store without the key file. It does not stop
someone who runs as your user (or root): they can read the key file. Between bots of one
home it is a guard against mistakes, not a wall: all bots run as the same user.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .durable import atomic_write_bytes, atomic_write_json

if TYPE_CHECKING:
    from cryptography.fernet import Fernet

NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}\.[A-Za-z0-9_.-]{1,64}$")


class SecretError(Exception):
    """A secret operation that cannot be done; the message says what to do."""


class SecretStore:
    """The encrypted store of one home (``cryptography``'s Fernet)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def set(self, bot: str, name: str, value: str) -> None:
        if not NAME_RE.match(name):
            raise SecretError(f"bad secret name {name!r}: use CONNECTION.FIELD, like binance.apiKey")
        if not value:
            raise SecretError("empty value: nothing stored")
        items = self._items(bot)
        items[name] = self._fernet().encrypt(value.encode()).decode()
        atomic_write_json(self._file(bot), items, mode=0o600)

    def names(self, bot: str) -> list[str]:
        return sorted(self._items(bot))

    def bots(self) -> list[str]:
        return sorted(p.stem for p in self.folder.glob("*.json")) if self.folder.is_dir() else []

    def remove(self, bot: str, name: str) -> None:
        items = self._items(bot)
        if name not in items:
            raise SecretError(f"{bot} has no secret {name!r}; see 'wdbot secret list {bot}'")
        del items[name]
        atomic_write_json(self._file(bot), items, mode=0o600)

    def connection(self, bot: str, connection: str) -> dict[str, str]:
        """The fields of ``connection`` for ``bot``, decrypted now."""
        fernet = self._fernet(create=False)
        prefix = f"{connection}."
        return {name[len(prefix):]: fernet.decrypt(token.encode()).decode()
                for name, token in self._items(bot).items() if name.startswith(prefix)}

    def _items(self, bot: str) -> dict[str, str]:
        try:
            data = json.loads(self._file(bot).read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise SecretError(f"{self._file(bot)} is unreadable ({exc}); restore it from a backup") from None
        return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}

    def _file(self, bot: str) -> Path:
        return self.folder / f"{bot}.json"

    def _fernet(self, create: bool = True) -> Fernet:
        from cryptography.fernet import Fernet

        key_file = self.folder / "key"
        if not key_file.exists():
            if not create:
                raise SecretError("no secrets are stored in this home")
            self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            atomic_write_bytes(key_file, Fernet.generate_key(), mode=0o600)
        return Fernet(key_file.read_bytes().strip())


def peer_pid(sock: Any) -> int | None:
    """The pid of the process at the other end of a Unix socket (Linux, macOS); ``sock`` is a
    socket or asyncio's wrapper of one (anything with ``getsockopt``)."""
    import socket
    import struct
    import sys

    if hasattr(socket, "SO_PEERCRED"):
        data = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        return int(struct.unpack("3i", data)[0])
    if sys.platform == "darwin":
        local_peerpid = 0x002  # <sys/un.h>: LOCAL_PEERPID, at level SOL_LOCAL (0)
        return int(struct.unpack("i", sock.getsockopt(0, local_peerpid, 4))[0])
    return None
