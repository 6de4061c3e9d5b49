"""supervisor.argcheck: a request's keyword arguments judged as ``inspect`` judges them."""

from __future__ import annotations

import functools
import inspect
import itertools
from typing import Any

import pytest

from watchdog_runtime.supervisor.argcheck import bind_error


def locked(op: Any) -> Any:
    """A decorator an operation method may get (a lock, a timer): ``functools.wraps``."""
    @functools.wraps(op)
    async def run(*args: Any, **kwargs: Any) -> Any:
        return await op(*args, **kwargs)
    return run


class Ops:
    @locked
    async def decorated(self, name: str, x: int = 1) -> None: ...

    def only_starred(*args: Any, name: str) -> None: ...  # noqa: N805 - the instance joins *args

    async def status(self, names: list[str] | None = None, verbose: bool = False) -> None: ...

    async def start(self, name: str, *, wait: bool = True, spec: dict[str, Any]) -> None: ...

    async def anything(self, name: str, **rest: Any) -> None: ...

    def positional(self, a: int, /, b: int = 2) -> None: ...

    @staticmethod
    def static(x: int, y: int = 0) -> None: ...


async def closure(action: str, bot: str, origin: str, item: str | None = None) -> None: ...


def starred(*args: Any, key: int = 0) -> None: ...


def flushing(op: Any) -> Any:
    @functools.wraps(op)
    async def run(*args: Any, **kwargs: Any) -> Any:
        return await op(*args, **kwargs)
    return run


def with_origin(op: Any) -> Any:
    """audit's wrapper: its own origin=, then what it wraps (the old code's __signature__)."""
    @functools.wraps(op)
    async def run(*args: Any, origin: str | None = None, **kwargs: Any) -> Any:
        return await op(*args, **kwargs)
    return run


def expected(op: Any, args: dict[str, Any]) -> str | None:
    """What the server said before: inspect's bind on the same signature (origin= added as the
    old audit code added it)."""
    sig = inspect.signature(op)
    if getattr(op, "origin_added", False):
        extra = inspect.Parameter("origin", inspect.Parameter.KEYWORD_ONLY, default=None)
        sig = sig.replace(parameters=[*sig.parameters.values(), extra])
    try:
        sig.bind(**args)
    except TypeError as exc:
        return str(exc)
    return None


def shapes() -> list[Any]:
    ops = Ops()
    plain = [ops.status, ops.start, ops.anything, ops.positional, Ops.static, closure, starred,
             functools.partial(closure, "start"), ops.decorated, ops.only_starred]
    wrapped = [flushing(op) for op in plain[:3]]
    # (not ops.anything: the old code could not add origin= after its **rest)
    audited = [with_origin(op) for op in (*plain[:2], *wrapped[:2])]
    for op in audited:
        op.origin_added = True
    return plain + wrapped + audited


NAMES = ("name", "names", "verbose", "wait", "spec", "a", "b", "x", "y", "action", "bot", "origin",
         "item", "key", "zzz")


@pytest.mark.parametrize("op", shapes(), ids=lambda op: getattr(op, "__qualname__", "partial"))
def test_every_subset_of_keywords_is_judged_as_inspect_judges_it(op: Any) -> None:
    judged = 0
    for size in range(4):
        for names in itertools.permutations(NAMES, size):
            args = {name: 1 for name in names}
            assert bind_error(op, args) == expected(op, args), args
            judged += 1
    assert judged > 1000


def test_the_errors_read_as_before() -> None:
    ops = Ops()
    assert bind_error(ops.start, {"spec": {}}) == "missing a required argument: 'name'"
    assert bind_error(ops.status, {"nonsense": 1}) == "got an unexpected keyword argument 'nonsense'"
    assert bind_error(ops.positional, {"a": 1}) == expected(ops.positional, {"a": 1})
    assert bind_error(with_origin(flushing(ops.status)), {"origin": "web 127.0.0.1", "verbose": True}) is None
