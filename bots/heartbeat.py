"""A healthy demo bot: logs a line every few seconds, forever, and stops cleanly on SIGTERM.

It also reads its ``demo`` connection (``wdbot secret set heartbeat demo.apiKey``, or the
web dashboard's secrets page) on every tick, fresh, and says when it changed, showing a
fingerprint of each value, never the value.
"""

import hashlib
import signal
import sys
import threading
import time

import watchdog_runtime as wd

stop = threading.Event()
signal.signal(signal.SIGTERM, lambda *_: stop.set())


def connection_seen() -> str:
    try:
        fields = wd.connection("demo")
    except wd.ConnectionUnavailable as exc:
        return f"unavailable ({exc})"
    return ", ".join(f"{k} sha256:{hashlib.sha256(v.encode()).hexdigest()[:12]}"
                     for k, v in sorted(fields.items())) or "no fields"


tick = 0
seen = None
print("heartbeat bot up", flush=True)
while not stop.wait(3.0):
    tick += 1
    print(f"{time.strftime('%H:%M:%S')} tick {tick}: all positions watched", flush=True)
    now = connection_seen()
    if now != seen:
        print(f"connection demo: {now}", flush=True)
        seen = now
print("heartbeat bot: SIGTERM received, shutting down cleanly")
sys.exit(0)
