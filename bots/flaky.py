"""A demo bot that crashes now and then, the way real bots do at 4 AM.

It "polls an exchange" every second and, after a random 5-20 s, dies of an unhandled error.
wdbot restarts it with exponential backoff; ``wdbot status`` shows the crash and the countdown.
"""

import random
import time

ERRORS = [
    ConnectionError("exchange websocket closed unexpectedly"),
    TimeoutError("GET /api/v3/account timed out"),
    KeyError("'bids' (payload shape changed)"),
]

print("flaky bot up: polling the exchange", flush=True)
deadline = time.monotonic() + random.uniform(5, 20)
while time.monotonic() < deadline:
    print(f"{time.strftime('%H:%M:%S')} polled order book: ok")
    time.sleep(1.0)
raise random.choice(ERRORS)
