"""The temporary directory without the ``tempfile`` module (issue 29): importing it brings
``random`` and ``shutil`` into the supervisor for life, to learn one folder's name at start
(the scratch sweep) or for a long home's socket."""

from __future__ import annotations

import os
from pathlib import Path

_ENV = ("TMPDIR", "TEMP", "TMP")
_FOLDERS = ("/tmp", "/var/tmp", "/usr/tmp")


def temp_dir() -> Path:
    """The folder ``tempfile.gettempdir()`` picks, read afresh: the first of ``$TMPDIR``,
    ``$TEMP``, ``$TMP``, /tmp, /var/tmp, /usr/tmp that is a folder this process may write in,
    else the current one.

    >>> import tempfile
    >>> str(temp_dir()) == tempfile.gettempdir()
    True
    """
    candidates = [os.environ[name] for name in _ENV if os.environ.get(name)]
    for folder in [*candidates, *_FOLDERS]:
        path = os.path.abspath(folder)
        if os.path.isdir(path) and os.access(path, os.W_OK | os.X_OK):
            return Path(path)
    return Path(os.getcwd())
