"""Per-bot secrets: stored encrypted at rest (Fernet), handed to a bot only, fresh on each ask.

Layout, in the home: ``secrets/key`` (the Fernet key, 0600, made once), ``secrets/BOT.json``
(``{NAME: token}``, 0600, one encrypted token per value) and ``secrets/lock``. Names are
``CONNECTION.FIELD`` (``binance.apiKey``); a bot asks ``wd.connection("binance")`` and gets
``{"apiKey": ..., "secret": ...}`` through the supervisor's secrets socket, which learns the
asking process from the kernel (``SO_PEERCRED``) and answers only for the bot whose process
tree it belongs to. Values are read from disk on every ask: a rotated key needs no restart.

Concurrency: every read-modify-write of a bot's file, and the key's creation, hold an
exclusive ``flock`` on ``secrets/lock``, so two ``wdbot secret set`` at once both land. The
key is created once: written to a temporary file, then linked to ``key`` (an exclusive
create: it never replaces a key that values were encrypted under) and never rewritten.
Readers take no lock: every write is an atomic, fsynced rename.

Threat model, honestly: this keeps keys out of source code, out of the bot's folder (and so
out of git and of copies of it), out of argv, the environment, the status, events, alerts
and logs, and unreadable in a backup of the store without the key file. It does not stop
someone who runs as your user (or root): they can read the key file. Between bots of one
home it is a guard against mistakes, not a wall: all bots run as the same user.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .common.durable import atomic_write_json, fsync_dir, make_temp
from .common.leandataclass import dataclass

if TYPE_CHECKING:
    from cryptography.fernet import Fernet

CONNECTION_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
FIELD_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}\.[A-Za-z0-9_.-]{1,64}$")


class SecretError(Exception):
    """A secret operation that cannot be done; the message says what to do."""


@dataclass(frozen=True)
class Opened:
    """The fields of one connection as decrypted now: the readable ones, and for each one
    that is not, what to do about it (the others are never lost to it)."""

    values: dict[str, str] = field(default_factory=dict)
    unreadable: dict[str, str] = field(default_factory=dict)


class SecretStore:
    """The encrypted store of one home (``cryptography``'s Fernet)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    # ------------------------------------------------------------------ writing
    def set(self, bot: str, name: str, value: str) -> None:
        """Store one ``CONNECTION.FIELD`` value for ``bot``."""
        self.set_many(bot, {name: value})

    def set_many(self, bot: str, values: Mapping[str, str]) -> None:
        """Store several values for ``bot`` in one locked, atomic write: all or none."""
        plain = {name: _encoded(name, value) for name, value in values.items()}
        if not plain:
            raise SecretError("no value given: nothing stored")
        with self._locked():
            fernet = self._fernet(create=True)
            items = self._items(bot)
            items.update({name: fernet.encrypt(data).decode() for name, data in plain.items()})
            atomic_write_json(self._file(bot), items, mode=0o600)

    def remove(self, bot: str, name: str) -> list[str]:
        """Remove the secret ``name`` (``binance.apiKey``), or every field of the connection
        ``name`` (``binance``) when no secret has that exact name; the names removed."""
        with self._locked():
            items = self._items(bot)
            gone = [name] if name in items else sorted(k for k in items if k.startswith(f"{name}."))
            if not gone:
                raise SecretError(f"{bot} has no secret {name!r}; see 'wdbot secret list {bot}'")
            for key in gone:
                del items[key]
            atomic_write_json(self._file(bot), items, mode=0o600)
            return gone

    def purge(self, bot: str) -> bool:
        """Delete every secret of ``bot`` (``wdbot remove --purge``); True when it had any."""
        if not self._file(bot).exists():
            return False
        with self._locked():
            try:
                self._file(bot).unlink()
            except FileNotFoundError:
                return False
            fsync_dir(self.folder)
            return True

    # ------------------------------------------------------------------ reading
    def names(self, bot: str) -> list[str]:
        return sorted(self._items(bot))

    def bots(self) -> list[str]:
        return sorted(p.stem for p in self.folder.glob("*.json")) if self.folder.is_dir() else []

    def connection(self, bot: str, connection: str) -> Opened:
        """The fields of ``connection`` for ``bot``, decrypted now."""
        fernet = self._fernet(create=False)
        prefix = f"{connection}."
        opened = Opened()
        for name, token in self._items(bot).items():
            if name.startswith(prefix):
                value = _decrypt(fernet, token)
                if value is None:
                    opened.unreadable[name[len(prefix):]] = (
                        f"{name} of {bot} cannot be decrypted with this home's key (the key or the "
                        f"value was replaced); set it again: wdbot secret set {bot} {name}")
                else:
                    opened.values[name[len(prefix):]] = value
        return opened

    def unreadable(self, bot: str) -> list[str]:
        """The names of ``bot``'s values that this home's key cannot decrypt."""
        try:
            fernet = self._fernet(create=False)
        except SecretError:
            return self.names(bot)
        return sorted(n for n, t in self._items(bot).items() if _decrypt(fernet, t) is None)

    def all_values(self) -> list[str]:
        """Every readable value of every bot of the home (what redaction hides)."""
        try:
            fernet = self._fernet(create=False)
        except SecretError:
            return []
        found = []
        for bot in self.bots():
            with contextlib.suppress(SecretError):
                found += [v for t in self._items(bot).values() if (v := _decrypt(fernet, t))]
        return found

    # ----------------------------------------------------------------- the files
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

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Hold the store's exclusive lock (the folder is made private first if needed)."""
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        if self.folder.stat().st_mode & 0o077:
            self.folder.chmod(0o700)  # an older or hand-made folder: private from now on
        fd = os.open(self.folder / "lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing drops the lock

    def _fernet(self, create: bool) -> Fernet:
        """The home's key; made here, once, when ``create`` (the caller holds the lock)."""
        from cryptography.fernet import Fernet

        key_file = self.folder / "key"
        try:
            key = key_file.read_bytes().strip()
        except FileNotFoundError:
            if not create:
                raise SecretError("no secrets are stored in this home") from None
            key = _create_key(key_file, Fernet.generate_key())
        try:
            return Fernet(key)
        except ValueError:
            raise SecretError(f"{key_file} is damaged; restore it from a backup (without it the "
                              f"stored values cannot be read)") from None


def _create_key(key_file: Path, key: bytes) -> bytes:
    """Write ``key`` to ``key_file`` complete or not at all, and never over an existing key:
    a private temporary file (``O_EXCL``), fsynced, then hard-linked to its name (``link``
    fails if the name exists, like ``O_EXCL``). Returns the key that is now in place."""
    fd, tmp = make_temp(key_file.parent, key_file.name)  # not tempfile's: the supervisor runs without it
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(key)
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, key_file)
        except FileExistsError:
            return key_file.read_bytes().strip()  # made by an older wdbot that took no lock
    finally:
        os.unlink(tmp)
    fsync_dir(key_file.parent)
    return key


def _encoded(name: str, value: str) -> bytes:
    """``value`` as the bytes to encrypt; SecretError for a bad name or value (never quoted)."""
    check_name(name)
    if not value:
        raise SecretError(f"empty value for {name}: nothing stored")
    try:
        return value.encode()
    except UnicodeEncodeError:  # bytes that were not UTF-8, passed through by stdin's decoding
        raise SecretError(f"the value of {name} is not UTF-8 text: nothing stored") from None


def _decrypt(fernet: Fernet, token: str) -> str | None:
    from cryptography.fernet import InvalidToken

    try:
        return fernet.decrypt(token.encode()).decode()
    except (InvalidToken, UnicodeDecodeError):
        return None


def check_name(name: str) -> None:
    """Raise SecretError unless ``name`` is ``CONNECTION.FIELD``."""
    if not NAME_RE.fullmatch(name):
        raise SecretError(f"bad secret name {name!r}: use CONNECTION.FIELD, like binance.apiKey")


def parse_env(text: str, connection: str) -> dict[str, str]:
    """``KEY=VALUE`` lines (a ``.env`` file) as ``{CONNECTION.KEY: VALUE}``. Blank lines and
    ``#`` comments are skipped, ``export`` is allowed, one pair of matching quotes around a
    value is removed. Any malformed line rejects the whole text; an error never quotes a value.

    >>> parse_env("# binance\\napiKey=abc123\\nexport secret = 'x y z'\\n", "binance")
    {'binance.apiKey': 'abc123', 'binance.secret': 'x y z'}
    >>> parse_env("apiKey abc123", "binance")
    Traceback (most recent call last):
    ...
    watchdog_runtime.secretstore.SecretError: line 1 of stdin is not KEY=VALUE: nothing stored ...
    """
    if not CONNECTION_RE.fullmatch(connection):
        raise SecretError(f"bad connection name {connection!r}: use letters, digits, '_' or '-'")
    found: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export "):].lstrip()
        key, sep, value = line.partition("=")
        key, value = key.strip(), _unquote(value.strip())
        where = f"line {number} of stdin"
        if not sep or not FIELD_RE.fullmatch(key):
            raise SecretError(f"{where} is not KEY=VALUE: nothing stored (to set one field, "
                              f"name it CONNECTION.FIELD)")
        if not value:
            raise SecretError(f"{where}: {key} has an empty value: nothing stored")
        if f"{connection}.{key}" in found:
            raise SecretError(f"{where}: {key} is given twice: nothing stored")
        found[f"{connection}.{key}"] = value
    if not found:
        raise SecretError("no KEY=VALUE line on stdin: nothing stored "
                          "(wdbot secret set BOT CONNECTION < file.env)")
    return found


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value


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
