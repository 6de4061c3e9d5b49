"""The settings of the supervisor's watch and alerts (``[resources]`` and ``[alerts]`` of the
home's ``config.toml``): plain values, read by ``config`` and acted on by the supervisor
(``supervisor.resources``, ``supervisor.alerts``). Standard library only.
"""

from __future__ import annotations

from .common.leandataclass import dataclass


@dataclass(frozen=True)
class WatchSettings:
    """How samples are judged (``[resources]`` of the home's config)."""

    interval_s: float = 2.0
    consecutive: int = 2
    """Samples in a row over a limit before the bot is restarted."""
    window_s: float = 1200.0
    min_span_s: float = 120.0
    memory_leak_per_hour: float = 30 * 1024 * 1024
    fds_leak_per_hour: float = 20.0


@dataclass(frozen=True)
class AlertSettings:
    """``[alerts]`` in ``config.toml``."""

    urls: tuple[str, ...] = ()
    crashes: int = 5
    window_s: float = 600.0
    min_interval_s: float = 900.0
