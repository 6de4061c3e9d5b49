"""A healthy demo bot: logs a line every few seconds, forever, and stops cleanly on SIGTERM."""

import signal
import sys
import threading
import time

stop = threading.Event()
signal.signal(signal.SIGTERM, lambda *_: stop.set())

tick = 0
print("heartbeat bot up", flush=True)
while not stop.wait(3.0):
    tick += 1
    print(f"{time.strftime('%H:%M:%S')} tick {tick}: all positions watched")
print("heartbeat bot: SIGTERM received, shutting down cleanly")
sys.exit(0)
