"""The supervisor's end of the control socket: bounded reads, one reply per request, and no
request, however malformed, that can take the supervisor down."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from ..common.home import private_socket
from ..common.jsonline import encode
from ..common.protocol import MAX_REQUEST_BYTES, parse_request
from .argcheck import bind_error
from .request_error import RequestError

log = logging.getLogger(__name__)

READ_TIMEOUT_S = 10.0
Handler = Callable[..., Awaitable[Any]]


async def serve(path: Path, ops: dict[str, Handler],
                redact: Callable[[Any], Any] = lambda reply: reply) -> asyncio.AbstractServer:
    """Listen on ``path`` (mode 0600, created so: never readable by others, even briefly).
    Every reply, errors included, passes ``redact`` (no secret value leaves in one)."""
    with private_socket(path):
        return await asyncio.start_unix_server(
            lambda r, w: _handle(r, w, ops, redact), path=str(path), limit=MAX_REQUEST_BYTES)


async def _handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                  ops: dict[str, Handler], redact: Callable[[Any], Any]) -> None:
    try:
        reply = redact(await _reply(reader, ops))
        writer.write(encode(reply))
        await writer.drain()
    except (ConnectionError, asyncio.TimeoutError):
        pass  # the client went away or never spoke: nothing to answer
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


async def _reply(reader: asyncio.StreamReader, ops: dict[str, Handler]) -> dict[str, Any]:
    try:
        line = await asyncio.wait_for(reader.readline(), READ_TIMEOUT_S)
    except ValueError:  # asyncio's way of saying the line exceeded the limit
        return _error(f"request larger than {MAX_REQUEST_BYTES} bytes")
    try:
        op, args = parse_request(line)
    except ValueError as exc:
        return _error(str(exc))
    handler = ops.get(op)
    if handler is None:
        return _error(f"unknown operation {op!r}")
    wrong = bind_error(handler, args)
    if wrong is not None:
        return _error(f"bad arguments for {op!r}: {wrong}")
    try:
        return {"ok": True, "result": await handler(**args)}
    except RequestError as exc:
        return _error(str(exc), usage=exc.usage)
    except Exception as exc:  # noqa: BLE001 - one bad request must not kill the supervisor
        log.exception("operation %s failed", op)
        return _error(f"internal error in {op}: {type(exc).__name__}: {exc}")


def _error(message: str, usage: bool = False) -> dict[str, Any]:
    return {"ok": False, "error": message, "usage": usage}


SecretAnswer = Callable[[int | None, str], Awaitable[dict[str, Any]]]


async def serve_secrets(path: Path, answer: SecretAnswer) -> asyncio.AbstractServer:
    """The secrets socket (mode 0600): one ``{"connection": NAME}`` line in, one reply out.
    The asker is known from the kernel (its pid), never from what it says."""
    from ..secretstore import peer_pid

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = await asyncio.wait_for(reader.readline(), READ_TIMEOUT_S)
            request = json.loads(line)
            name = request.get("connection") if isinstance(request, dict) else None
            if not isinstance(name, str) or not name:
                reply = _error("send {\"connection\": NAME}")
            else:
                reply = await answer(peer_pid(writer.get_extra_info("socket")), name)
            writer.write(encode(reply))
            await writer.drain()
        except (ConnectionError, asyncio.TimeoutError, ValueError):
            pass  # a broken request gets no answer; the asker sees the connection close
        except Exception:  # noqa: BLE001 - one bad request must not end the secrets socket
            log.exception("answering a secrets request failed")
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    with private_socket(path):
        return await asyncio.start_unix_server(handle, path=str(path), limit=MAX_REQUEST_BYTES)
