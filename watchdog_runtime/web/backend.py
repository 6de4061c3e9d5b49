"""Everything the web process asks of the home, in one place: the supervisor through the
control socket (never launching one: a page view must not start a bot a person stopped),
the event log and the bots' log files as ``wdbot events``/``wdbot logs`` read them, and the
secret store as ``wdbot secret`` writes it. Blocking calls: the app runs them in threads.

What the web reads itself passes :meth:`Backend.redact` (the supervisor's replies are redacted
by the supervisor): the event log may predate a value, and the bots' log lines are theirs (a
traceback quoting a key); a page, ``--read-only`` ones included, never shows a stored secret
value. Every string shown is made encodable (:func:`mended`)."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from ..common.control import NoSupervisor, RequestFailed, request
from ..common.home import BotPaths, Home

if TYPE_CHECKING:
    from ..redaction import Redactor

ACTION_TIMEOUT_S = 600.0
"""A restart waits for the bot's graceful stop (its --stop-timeout) and a new start."""
LOG_LINES = 60
T = TypeVar("T")
MAX_LINE_CHARS = 2000
"""A longer log line is cut (with an ellipsis): one runaway line must not make a page huge."""


def shown_line(line: str) -> str:
    return line if len(line) <= MAX_LINE_CHARS else line[:MAX_LINE_CHARS] + " …"


def mended(obj: T) -> T:
    """``obj`` (JSON-like) with every string made encodable: a bot's error may carry a lone
    surrogate (a file name's undecodable byte, kept through JSON's ``\\udce9``), which no page
    or stream could encode; it is shown escaped, as ``\\udce9``.

    >>> mended({"error": ["caf\\udce9.csv", 1]})
    {'error': ['caf\\\\udce9.csv', 1]}
    """
    if isinstance(obj, str):
        try:
            obj.encode()
        except UnicodeEncodeError:
            return obj.encode("utf-8", "backslashreplace").decode()  # type: ignore[return-value]  # a str
        return obj
    if isinstance(obj, dict):
        return {k: mended(v) for k, v in obj.items()}  # type: ignore[return-value]  # same
    if isinstance(obj, (list, tuple)):
        return type(obj)(mended(v) for v in obj)
    return obj


class Unavailable(Exception):
    """The supervisor does not answer; the message says what to do."""


@dataclass(frozen=True)
class Backend:
    home: Home

    @functools.cached_property
    def redactor(self) -> Redactor:
        """Hides the home's secret values (re-read when the store changes)."""
        from ..redaction import Redactor

        return Redactor(self.home.secrets)

    def redact(self, obj: T) -> T:
        """``obj`` as a page may show it: no secret value, every string encodable."""
        return mended(self.redactor(obj))

    def status(self, name: str | None = None) -> dict[str, Any] | None:
        """The status document; None when no supervisor runs for the home."""
        try:
            doc: dict[str, Any] = request(self.home, "status", timeout_s=10.0,
                                          **({"name": name} if name else {}))
        except NoSupervisor:
            return None
        except RequestFailed as exc:
            if exc.usage:
                raise KeyError(name) from None  # no such bot
            raise Unavailable(str(exc)) from None
        return mended(doc)  # redacted by the supervisor already (every reply of its socket)

    def act(self, op: str, name: str, origin: str) -> dict[str, Any]:
        """``start``/``stop``/``restart`` one bot, recorded as an event naming ``origin``."""
        args: dict[str, Any] = {"name": name} if op == "start" else {"names": [name]}
        result = self._call(op, origin=origin, timeout_s=ACTION_TIMEOUT_S, **args)
        brief: dict[str, Any] = result[0] if isinstance(result, list) else result
        return brief

    def set_mode(self, names: list[str] | None, all: bool, mode: str, source: str) -> list[dict[str, Any]]:
        """A trading mode (issue 27), its ``source`` the browser's address."""
        reply: list[dict[str, Any]] = self._call("mode", names=names, all=all, mode=mode, source=source,
                                                 timeout_s=30.0)
        return reply

    def note(self, action: str, bot: str, item: str, origin: str) -> None:
        """Have the supervisor record an action done here (a secret set or removed)."""
        self._call("note", action=action, bot=bot, item=item, origin=origin, timeout_s=10.0)

    def _call(self, op: str, timeout_s: float, **args: Any) -> Any:
        try:
            return request(self.home, op, timeout_s=timeout_s, **args)
        except NoSupervisor:
            raise Unavailable(f"no supervisor is running for {self.home.root}: start it with "
                              f"'wdbot daemon' or the service") from None
        except RequestFailed as exc:
            raise Unavailable(str(exc)) from None

    def events(self, n: int, bot: str | None = None,
               kinds: frozenset[str] | None = None) -> list[dict[str, Any]]:
        from ..events import read_events

        return self.redact(read_events(self.home.events, n, bot=bot, kinds=kinds))

    def log_files(self, name: str) -> list[tuple[str, Any]]:
        paths = BotPaths(self.home.bot_dir(name))
        return [("stdout", paths.stdout_log), ("stderr", paths.stderr_log)]

    def log_tail(self, name: str, n: int = LOG_LINES) -> list[str]:
        """The last lines of the bot's stdout and stderr, stderr's marked."""
        from ..common.logfiles import tail_lines

        (_, stdout), (_, stderr) = self.log_files(name)
        lines = tail_lines(stdout, n) + ["! " + line for line in tail_lines(stderr, n // 3)]
        return [shown_line(line) for line in self.redact(lines[-n:])]

    def shown(self, lines: list[str]) -> list[str]:
        """New log lines as a page shows them: redacted, an overlong one cut."""
        return [shown_line(line) for line in self.redact(lines)]

    def registry_unreadable(self) -> str | None:
        """Why the registry file cannot be read (read here: said even with no supervisor)."""
        from ..registry import unreadable

        found = unreadable(self.home.registry)
        return found.message if found else None

    def spec(self, name: str) -> dict[str, Any] | None:
        from ..registry import read_only

        record = read_only(self.home.registry).get(name)
        return self.redact(record.spec.to_json()) if record else None

    def secret_names(self, bot: str) -> list[str]:
        from ..secretstore import SecretStore

        return SecretStore(self.home.secrets).names(bot)

    def set_secret(self, bot: str, name: str, value: str) -> None:
        from ..secretstore import SecretStore

        self.home.ensure()
        SecretStore(self.home.secrets).set(bot, name, value)

    def remove_secret(self, bot: str, name: str) -> None:
        from ..secretstore import SecretStore

        SecretStore(self.home.secrets).remove(bot, name)
