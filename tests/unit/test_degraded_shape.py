"""The degraded watch reads a printed traceback by its shape (issue 26): pure, fake clock."""

from __future__ import annotations

from watchdog_runtime.supervisor.degraded import RepeatWatch

GAIERROR = ("Traceback (most recent call last):\n"
            '  File "/bot/poll.py", line 9, in poll\n'
            '    raise ValueError("never counted: a frame\'s source line")\n'
            "socket.gaierror: [Errno -2] Name or service not known\n")


def test_the_line_that_ends_a_traceback_is_the_error_whatever_its_name() -> None:
    watch = RepeatWatch(window_s=60, min_repeats=5)
    for i in range(5):
        watch.feed(GAIERROR, now=float(i))
    verdict = watch.verdict(now=5.0)
    assert verdict is not None and verdict.count == 5
    assert verdict.error == "socket.gaierror: [Errno -2] Name or service not known"


def test_frames_and_chained_tracebacks_count_their_ends_only() -> None:
    watch = RepeatWatch(window_s=60, min_repeats=1)
    chained = (GAIERROR + "\nDuring handling of the above exception, another exception occurred:\n\n"
               + GAIERROR.replace("socket.gaierror: [Errno -2] Name or service not known", "timeout"))
    watch.feed(chained, now=0.0)
    seen = {d for d in watch._last_line}  # noqa: SLF001 - the signatures are the point here
    assert seen == {"socket.gaierror: [Errno -#] Name or service not known", "timeout"}


def test_a_traceback_cut_between_two_reads_is_still_read() -> None:
    watch = RepeatWatch(window_s=60, min_repeats=2)
    for i in range(2):
        watch.feed(GAIERROR[:40], now=float(i))
        watch.feed(GAIERROR[40:], now=float(i))
    assert watch.verdict(now=2.0) is not None
