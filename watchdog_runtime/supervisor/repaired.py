"""What a successful repair (auto-install after a missing module) leaves in a bot's status.

A bot that died of ``ModuleNotFoundError`` and was repaired is healthy: its table row shows
what was installed, its start reason is ``repaired``, and neither the old ``No module named``
line (as LAST EXIT) nor a counted restart makes it look like a crashing bot (issue 26).
Pure: the record before and after the install in, the status entry out.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..common.leandataclass import dataclass
from ..events import wall_iso
from ..installs.autoinstall import Installed


@dataclass(frozen=True)
class Repaired:
    """The last repair: the module the bot died of and what was installed for it."""

    module: str
    installed: tuple[str, ...]
    """``PyYAML 6.0.2``, one per distribution installed in that round."""
    at: str

    @classmethod
    def after(cls, module: str, before: Sequence[Installed], after: Sequence[Installed],
              at: str | None = None) -> Repaired:
        """The repair of ``module``: what ``after`` (the record now) has that ``before`` lacked.

        >>> y = Installed("yaml", "PyYAML", "6.0.2")
        >>> Repaired.after("yaml", [], [y], at="t").line()
        "repaired: installed PyYAML 6.0.2 for 'yaml'"
        """
        new = tuple(f"{i.package} {i.version}".strip() for i in after if i not in before)
        return cls(module, new, at or wall_iso())

    def line(self) -> str:
        """The table's one line (LAST EXIT of a repaired bot)."""
        what = ", ".join(self.installed) or "what it lacked"
        return f"repaired: installed {what} for {self.module!r}"

    def to_json(self) -> dict[str, object]:
        return {"module": self.module, "installed": list(self.installed), "at": self.at,
                "text": self.line()}
