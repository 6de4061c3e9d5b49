from __future__ import annotations

import pytest

from watchdog_runtime.supervisor.backoff import BackoffPolicy


def test_ceiling_doubles_from_initial_to_cap() -> None:
    policy = BackoffPolicy(initial_s=1.0, max_s=300.0)
    assert [policy.ceiling_s(n) for n in range(10)] == [1, 2, 4, 8, 16, 32, 64, 128, 256, 300]
    assert policy.ceiling_s(10_000) == 300.0  # no float overflow after days of crashing


def test_full_jitter_spans_zero_to_ceiling() -> None:
    policy = BackoffPolicy(initial_s=1.0, max_s=300.0)
    assert policy.delay_s(3, lambda: 0.0) == 0.0
    assert policy.delay_s(3, lambda: 0.5) == 4.0
    assert policy.delay_s(3, lambda: 0.999) == pytest.approx(7.992)


def test_negative_attempt_is_a_bug() -> None:
    with pytest.raises(ValueError):
        BackoffPolicy().ceiling_s(-1)
