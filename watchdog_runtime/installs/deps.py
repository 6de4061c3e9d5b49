"""What a bot declares it needs: a PEP 723 ``# /// script`` block, ``--requirements``, or a
``requirements.txt`` beside it. Pure parsing plus reading the bot's own files."""

from __future__ import annotations

import json
import re
from pathlib import Path

from ..common.digest import sha256
from ..common.leandataclass import dataclass
from ..tomlread import TomlError
from ..tomlread import loads as toml_loads

# The reference regular expression of PEP 723.
_BLOCK_RE = re.compile(
    r"(?m)^# /// (?P<type>[a-zA-Z0-9-]+)$\s(?P<content>(^#(| .*)$\s)+)^# ///$"
)


class DependencyError(ValueError):
    """The bot's dependency declaration cannot be read; the message says where and why."""


@dataclass(frozen=True)
class Declared:
    """A bot's declared dependencies."""

    requirements: tuple[str, ...] = ()
    """Requirement strings from the PEP 723 block."""
    requirement_files: tuple[str, ...] = ()
    """Absolute paths of requirements files."""

    def fingerprint(self) -> str:
        """Changes whenever what would be installed changes (a file's content included)."""
        digest = sha256(json.dumps(sorted(self.requirements)).encode())
        for name in self.requirement_files:
            digest.update(name.encode())
            digest.update(Path(name).read_bytes())
        return digest.hexdigest()


    def listed(self) -> tuple[str, ...]:
        """Every requirement string, the files' lines included (options and comments skipped)."""
        out = list(self.requirements)
        for name in self.requirement_files:
            try:
                lines = Path(name).read_text(encoding="utf-8", errors="replace").splitlines()
            except OSError:
                continue
            for line in lines:
                line = line.split(" #", 1)[0].strip()
                if line and not line.startswith(("#", "-")):
                    out.append(line)
        return tuple(out)

    def plus(self, requirements: tuple[str, ...]) -> Declared:
        """These declarations with ``requirements`` added (what auto-install recorded)."""
        return Declared(self.requirements + requirements, self.requirement_files)


def script_metadata(source: str) -> dict[str, object] | None:
    """The TOML of the ``script`` block of a PEP 723 file, or None when there is none.

    >>> script_metadata('# /// script\\n# dependencies = ["requests"]\\n# ///\\n')
    {'dependencies': ['requests']}
    """
    blocks = [m for m in _BLOCK_RE.finditer(source) if m.group("type") == "script"]
    if not blocks:
        return None
    if len(blocks) > 1:
        raise DependencyError("more than one '# /// script' block; keep one")
    content = "".join(
        line[2:] if line.startswith("# ") else line[1:]
        for line in blocks[0].group("content").splitlines(keepends=True)
    )
    try:
        data: dict[str, object] = toml_loads(content)
    except TomlError as exc:
        raise DependencyError(f"the '# /// script' block is not valid TOML: {exc}") from None
    return data


def declared_dependencies(bot_path: Path, requirements: str | None) -> Declared:
    """Collect what ``bot_path`` declares; ``requirements`` is the ``--requirements`` file."""
    try:
        meta = script_metadata(bot_path.read_text(encoding="utf-8", errors="replace"))
    except DependencyError as exc:
        raise DependencyError(f"{bot_path}: {exc}") from None
    deps = (meta or {}).get("dependencies", [])
    if not isinstance(deps, list) or not all(isinstance(d, str) for d in deps):
        raise DependencyError(f"{bot_path}: 'dependencies' must be a list of strings")
    files: list[str] = []
    if requirements:
        files.append(str(Path(requirements).absolute()))
    elif (bot_path.parent / "requirements.txt").is_file():
        files.append(str(bot_path.parent / "requirements.txt"))
    return Declared(requirements=tuple(deps), requirement_files=tuple(files))
