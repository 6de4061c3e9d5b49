"""Issue 29's lighter supervisor: the same digests without OpenSSL, the same median without
statistics, asyncio without ssl that still runs subprocesses and lets ssl be imported later."""

from __future__ import annotations

import hashlib
import statistics
import subprocess
import sys

import pytest

from watchdog_runtime.common.digest import sha256, sha256_hex
from watchdog_runtime.supervisor.trend import _median


@pytest.mark.parametrize("data", [b"", b"abc", b"x" * 100_000])
def test_sha256_is_hashlibs(data: bytes) -> None:
    assert sha256_hex(data) == hashlib.sha256(data).hexdigest()
    digest = sha256(data[:10])
    digest.update(data[10:])
    assert digest.hexdigest() == hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("values", [[1.0], [3.0, 1.0], [5.0, 1.0, 4.0], [2.0, 9.0, -1.0, 4.0, 4.0, 0.5]])
def test_median_is_statistics(values: list[float]) -> None:
    assert _median(values) == statistics.median(values)


def test_asyncio_without_ssl_runs_and_ssl_still_imports() -> None:
    code = """
import sys
from watchdog_runtime.supervisor.leanimports import import_asyncio_without_ssl
assert import_asyncio_without_ssl()
assert "ssl" not in sys.modules and "_ssl" not in sys.modules
import asyncio

async def main():
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", "print('hi')",
                                                stdout=asyncio.subprocess.PIPE)
    out, _ = await proc.communicate()
    return out
assert asyncio.run(main()) == b"hi\\n"
import ssl  # an alert sent later (apprise, requests) still has TLS
assert ssl.create_default_context() is not None
assert not import_asyncio_without_ssl()  # asyncio already there: nothing to do
print("ok")
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "ok", done.stderr
