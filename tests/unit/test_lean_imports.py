"""Issue 29's lighter supervisor: the same digests without OpenSSL, the same median without
statistics, asyncio without ssl that still runs subprocesses and lets ssl be imported later."""

from __future__ import annotations

import hashlib
import statistics
import subprocess
import sys
from pathlib import Path

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


def test_uuid4_hex_is_a_version_4_uuid() -> None:
    """The run and mode ids made without ``uuid`` read back as uuid4's own (issue 29)."""
    import uuid

    from watchdog_runtime.common.randomid import uuid4_hex

    ids = {uuid4_hex() for _ in range(200)}
    assert len(ids) == 200
    for text in ids:
        parsed = uuid.UUID(hex=text)
        assert parsed.hex == text and parsed.version == 4 and parsed.variant == uuid.RFC_4122


def test_toml_on_first_use_parses_and_refuses_as_tomllib() -> None:
    """``tomlread``: tomllib's document, its error as TomlError (a ValueError)."""
    from watchdog_runtime.tomlread import TomlError, loads

    assert loads('a = 1\n[b]\nc = "d"\n') == {"a": 1, "b": {"c": "d"}}
    with pytest.raises(TomlError, match="line 1"):
        loads("a = = 1")


def test_shutil_without_compressors_still_lets_them_import() -> None:
    code = """
import sys
from watchdog_runtime.common.importwithout import import_without
assert import_without("shutil", ("bz2", "lzma"))
assert "bz2" not in sys.modules and "lzma" not in sys.modules and "_bz2" not in sys.modules
import shutil
assert shutil.which("sh") and "zip" in dict(shutil.get_archive_formats())
import bz2, lzma  # tarfile, zipfile, a later need: still there
assert bz2.decompress(bz2.compress(b"x")) == b"x" and lzma.decompress(lzma.compress(b"y")) == b"y"
assert not import_without("shutil", ("bz2",))  # already there: nothing to do
print("ok")
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "ok", done.stderr


def test_asyncio_with_lazy_tls_modules_loads_them_on_first_use() -> None:
    """``leanimports`` (issue 29): asyncio imported with ``sslproto`` and ``staggered`` made
    lazily; they are empty until used, and then work: a TCP connection race (staggered) runs,
    a refused TLS request still says why, dataclasses and asyncio's debug mode are unharmed."""
    code = """
import sys
from watchdog_runtime.supervisor.leanimports import import_asyncio_without_ssl
assert import_asyncio_without_ssl()
from watchdog_runtime.common.importlazily import deferred as _deferred
assert "ssl" not in sys.modules
assert _deferred(sys.modules["asyncio.sslproto"]) and _deferred(sys.modules["asyncio.staggered"])
import asyncio, dataclasses

@dataclasses.dataclass(frozen=True)
class Point:
    x: int

async def main():
    try:
        await asyncio.open_connection("localhost", 9, happy_eyeballs_delay=0.05)
    except OSError:
        pass
    await asyncio.sleep(0)

asyncio.run(main(), debug=True)
assert not _deferred(sys.modules["asyncio.staggered"])  # used: loaded
assert sys.modules["asyncio.staggered"].staggered_race and Point(1).x == 1
assert sys.modules["asyncio.sslproto"].SSLProtocol  # on first use
assert not import_asyncio_without_ssl()  # asyncio is there: nothing to do
print("ok")
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "ok", done.stderr


def test_pathlib_without_urllib_parse_still_makes_uris_and_lets_it_import() -> None:
    """Run with ``-S`` as the lean supervisor is (a ``site`` hook of an editable install
    imports pathlib first): pathlib comes without ``urllib.parse`` and ``ipaddress``; its
    one use of them (``as_uri``) still works, and so does a later ``import urllib.parse``."""
    code = """
import sys
sys.path.append(sys.argv[1])
from watchdog_runtime.supervisor.leanimports import import_pathlib_without_urllib
assert import_pathlib_without_urllib()
import pathlib
assert "urllib.parse" not in sys.modules and "ipaddress" not in sys.modules
assert pathlib.Path("/tmp/a b%").as_uri() == "file:///tmp/a%20b%25"
import urllib, urllib.parse
assert urllib.parse is sys.modules["urllib.parse"] and urllib.parse.urlparse("http://x/y").path == "/y"
assert urllib.parse.quote_from_bytes.__module__ == "urllib.parse"  # the real one, not ours
assert not import_pathlib_without_urllib()  # pathlib already there: nothing to do
print("ok")
"""
    root = str(Path(__file__).resolve().parents[2])
    done = subprocess.run([sys.executable, "-S", "-c", code, root], capture_output=True, text=True,
                          timeout=60)
    assert done.stdout.strip() == "ok", done.stderr


def test_asyncio_and_dataclasses_without_inspect_until_a_first_need() -> None:
    """Issue 29: asyncio and dataclasses come with a stand-in for ``inspect`` (with it ``dis``,
    ``ast``, ``opcode``: about 0.9 MiB of a supervisor's RSS); what the event loop asks of it
    (``to_thread``'s check, a task's repr with its callbacks, a signal handler taken over
    from ``asyncio.run``) and a class made by the lean decorator load none of them; any other
    use loads the real one, and a later ``import inspect`` is the real one."""
    code = """
import sys, functools, signal
from watchdog_runtime.supervisor.leanimports import import_asyncio_without_ssl
assert import_asyncio_without_ssl()
from watchdog_runtime.common.leandataclass import dataclass
import asyncio, dataclasses
INTROSPECTION = {"inspect", "dis", "ast", "opcode"}

@dataclass(frozen=True)
class Point:
    x: int

async def main():
    assert await asyncio.to_thread(functools.partial(sum, [1, 2])) == 3
    task = asyncio.ensure_future(asyncio.sleep(0.01))
    task.add_done_callback(lambda t: None)
    assert "<Task pending" in repr(task)
    asyncio.get_running_loop().add_signal_handler(signal.SIGINT, lambda: None)
    await task

asyncio.run(main())
assert Point(1) == Point(1) and dataclasses.fields(Point)[0].name == "x"
assert INTROSPECTION.isdisjoint(sys.modules), sorted(INTROSPECTION & set(sys.modules))
from asyncio import coroutines
assert coroutines.inspect.signature(Point).parameters["x"]  # another use: the real one, loaded
import inspect
assert inspect.getsource and "inspect" in sys.modules and inspect is sys.modules["inspect"]
print("ok")
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "ok", done.stderr


class _Caller:
    async def method(self) -> None: ...

    def plain(self) -> None: ...

    @classmethod
    async def klass(cls) -> None: ...

    def __call__(self) -> None: ...


async def _coro() -> None: ...


def _gen() -> object:
    yield 1


def test_the_stand_ins_answers_are_inspects(monkeypatch: pytest.MonkeyPatch) -> None:
    """``leanimports``'s answers for the ``inspect`` asyncio holds agree with ``inspect``'s,
    each asked while ``inspect`` is not loaded (what they answer themselves, or the real one
    loaded for them)."""
    import functools
    import inspect

    from watchdog_runtime.supervisor import leanimports

    caller = _Caller()
    wrapped = functools.wraps(_coro)(lambda: None)
    objects = [_coro, _gen, caller.method, caller.plain, _Caller.klass, caller, len, "".join,
               str.join, dict.fromkeys, object.__init__, caller.__call__, functools.partial(_coro),
               functools.partial(functools.partial(caller.method)), functools.partial(len),
               lambda: None, wrapped, 3, None, _Caller]
    for obj in objects:
        for answer in ("iscoroutinefunction", "isfunction", "unwrap"):
            monkeypatch.delitem(sys.modules, "inspect", raising=False)  # restored at the end
            ours = getattr(leanimports, answer)(obj)
            assert ours is getattr(inspect, answer)(obj), (answer, obj)


def test_asyncio_comes_without_ssl_when_inspect_is_loaded_already() -> None:
    """Regression (issue 29, found by a review): with ``inspect`` already imported (Python
    3.12's dataclasses import it for the first class), the stand-in had nothing to do and
    asyncio was left to a plain import later, with ssl and its libraries (+4.6 MiB)."""
    code = """
import sys, inspect
from watchdog_runtime.supervisor.leanimports import import_asyncio_without_ssl
from watchdog_runtime.common.importlazily import deferred
assert import_asyncio_without_ssl()
assert "asyncio" in sys.modules and "ssl" not in sys.modules
assert deferred(sys.modules["asyncio.sslproto"])
print("ok")
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "ok", done.stderr
