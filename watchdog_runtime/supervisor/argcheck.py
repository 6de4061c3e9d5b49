"""A control request's arguments checked against its operation before it runs, as
``inspect.signature(op).bind(**args)`` checks them, read off the function's code instead
(issue 29: ``inspect`` and the ``dis``/``ast`` it imports, about 0.6 MiB, stay out of the
supervisor for life).

A request's arguments are all keywords. An operation is a function or a bound method (its
first parameter is bound); a wrapper made with ``functools.wraps`` (``__wrapped__``) takes
its own keyword-only parameters (``origin=``) and passes the rest on to what it wraps. Any
other callable is checked by ``inspect`` itself.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Callable, Mapping
from typing import Any

_VARKEYWORDS = 0x08  # a code flag (inspect.CO_VARKEYWORDS)
_POSITIONAL_ONLY = ("got some positional-only arguments passed as keyword arguments: {name!r}"
                    if sys.version_info >= (3, 13) else  # inspect's words changed in 3.13
                    "{name!r} parameter is positional only, but was passed as a keyword")


def bind_error(op: Callable[..., Any], args: Mapping[str, Any]) -> str | None:
    """Why ``op(**args)`` cannot be called, in ``inspect``'s words ("missing a required
    argument: 'name'", "got an unexpected keyword argument 'x'"); None when it can."""
    left = dict(args)
    any_other = False
    func: Any = op
    bound = False  # once bound, what a wrapper of the method wraps takes the instance too
    while True:
        if isinstance(func, types.MethodType):
            bound, func = True, func.__func__
        if not isinstance(func, types.FunctionType):
            return _inspect_bind_error(func, left, bound)
        wrapped = getattr(func, "__wrapped__", None)
        error = _take(func, left, bound, own_only=wrapped is not None)
        if error is not None:
            return error
        if wrapped is None:
            any_other = bool(func.__code__.co_flags & _VARKEYWORDS)
            break
        func = wrapped
    if left and not any_other:
        return f"got an unexpected keyword argument {next(iter(left))!r}"
    return None


def _take(func: types.FunctionType, left: dict[str, Any], bound: bool, own_only: bool) -> str | None:
    """Takes ``func``'s parameters out of ``left``; the error for one that must be given and
    is not, or cannot be given by keyword. ``own_only``: a wrapper's keyword-only ones."""
    code = func.__code__
    positional = code.co_varnames[:code.co_argcount]
    keyword_only = code.co_varnames[code.co_argcount:code.co_argcount + code.co_kwonlyargcount]
    required = len(positional) - len(func.__defaults__ or ())
    kwdefaults = func.__kwdefaults__ or {}
    params = [(name, i < required, i < code.co_posonlyargcount) for i, name in enumerate(positional)]
    params += [(name, name not in kwdefaults, False) for name in keyword_only]
    # A bound method's instance fills its first positional parameter (none: it joins *args).
    skip = len(positional) if own_only else (1 if bound and positional else 0)
    for name, must, positional_only in params[skip:]:
        if name in left and positional_only:
            return _POSITIONAL_ONLY.format(name=name)
        if name not in left and must:
            return f"missing a required argument: {name!r}"
        left.pop(name, None)
    return None


def _inspect_bind_error(func: Any, left: dict[str, Any], bound: bool) -> str | None:
    """A callable that is not a plain function: ``inspect`` reads it (never one of wdbot's)."""
    import inspect

    params = list(inspect.signature(func).parameters.values())[(1 if bound else 0):]
    try:
        inspect.Signature(params).bind(**left)
    except TypeError as exc:
        return str(exc)
    return None
