"""``wdbot daemon --metrics HOST:PORT``: Prometheus metrics of every bot, served by
prometheus_client from a snapshot the supervisor refreshes on its own loop (the scrape runs
in the server's thread and never touches live state), beside the health probes (``health``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from ..common.home import Home
from ..states import BotState


class MetricsError(ValueError):
    """A bad ``--metrics`` address."""


def parse_listen(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:9464`` for IPv6) as (host, port).

    >>> parse_listen("127.0.0.1:9464"), parse_listen(":9464")
    (('127.0.0.1', 9464), ('0.0.0.0', 9464))
    """
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise MetricsError(f"bad --metrics {text!r}: use HOST:PORT, like 127.0.0.1:9464")
    return (host.strip("[]") or "0.0.0.0"), int(port)


class Collector:
    """A prometheus_client collector over the latest status snapshot."""

    def __init__(self) -> None:
        self.snapshot: Mapping[str, Any] = {"supervisor": None, "bots": []}

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        bots: Sequence[Mapping[str, Any]] = self.snapshot["bots"]
        sup = self.snapshot["supervisor"]
        up = GaugeMetricFamily("wdbot_supervisor_uptime_seconds", "Seconds since the supervisor started")
        if sup:
            up.add_metric([], sup["uptime_s"])
        yield up
        state = GaugeMetricFamily("wdbot_bot_state", "1 for the state the bot is in",
                                  labels=["bot", "state"])
        running = GaugeMetricFamily("wdbot_bot_up", "1 when the bot's process runs", labels=["bot"])
        restarts = CounterMetricFamily("wdbot_bot_restarts", "Restarts so far", labels=["bot"])
        last_exit = GaugeMetricFamily("wdbot_bot_last_exit",
                                      "1 for the reason (and pattern) of the last exit",
                                      labels=["bot", "reason", "pattern"])
        gauges = {
            "rss_bytes": GaugeMetricFamily("wdbot_bot_rss_bytes", "RSS of the bot's process tree",
                                           labels=["bot"]),
            "num_fds": GaugeMetricFamily("wdbot_bot_open_fds", "Open files of the bot's process tree",
                                         labels=["bot"]),
            "cpu_percent": GaugeMetricFamily("wdbot_bot_cpu_percent", "CPU of the tree (100 = one core)",
                                             labels=["bot"]),
            "heartbeat_age_s": GaugeMetricFamily("wdbot_bot_heartbeat_age_seconds",
                                                 "Seconds since the bot's last wd.heartbeat()",
                                                 labels=["bot"]),
        }
        extra = _limit_families()
        for bot in bots:
            name = bot["name"]
            for value in BotState:
                state.add_metric([name, value.value], 1.0 if bot["state"] == value.value else 0.0)
            running.add_metric([name], 1.0 if bot["state"] == "running" else 0.0)
            restarts.add_metric([name], bot["restarts"])
            if bot.get("last_exit"):
                pattern = (bot["last_exit"].get("diagnosis") or {}).get("pattern", "")
                last_exit.add_metric([name, bot["last_exit"]["reason"], pattern], 1.0)
            for key, family in gauges.items():
                if bot.get(key) is not None:
                    family.add_metric([name], bot[key])
            _add_limits(extra, bot)
        yield from (state, running, restarts, last_exit, *gauges.values(), *extra.values(),
                    *_figures(bots))
        yield _modes(bots)  # issue 27


def _modes(bots: Sequence[Mapping[str, Any]]) -> Any:
    """``wdbot_bot_mode{bot}``: 0 active, 1 reducing, 2 halted."""
    from prometheus_client.core import GaugeMetricFamily

    from ..common.tradingmode import Mode

    family = GaugeMetricFamily("wdbot_bot_mode", "Trading mode: 0 active, 1 reducing, 2 halted",
                               labels=["bot"])
    for bot in bots:
        if bot.get("mode") in {m.value for m in Mode}:
            family.add_metric([bot["name"]], float(Mode(bot["mode"]).gauge))
    return family


def _figures(bots: Sequence[Mapping[str, Any]]) -> Iterator[Any]:
    """``wd.report()``'s numbers (``wdbot_bot_figure{bot,name}``) and their age."""
    from prometheus_client.core import GaugeMetricFamily

    figure = GaugeMetricFamily("wdbot_bot_figure", "The bot's latest wd.report() figures",
                               labels=["bot", "name"])
    age = GaugeMetricFamily("wdbot_bot_figures_age_seconds", "Seconds since the bot's last wd.report()",
                            labels=["bot"])
    for bot in bots:
        for name, value in (bot.get("figures") or {}).items():
            figure.add_metric([bot["name"], name], value)
        if bot.get("figures_age_s") is not None:
            age.add_metric([bot["name"]], bot["figures_age_s"])
    yield from (figure, age)


def _limit_families() -> dict[str, Any]:
    """The limits, trends and leak suspicion a dashboard draws beside the readings
    (deploy/grafana/wdbot.json)."""
    from prometheus_client.core import GaugeMetricFamily

    return {
        "max_memory_bytes": GaugeMetricFamily(
            "wdbot_bot_memory_limit_bytes", "The bot's --max-memory", labels=["bot"]),
        "max_fds": GaugeMetricFamily("wdbot_bot_open_fds_limit", "The bot's --max-fds", labels=["bot"]),
        "rss_trend_bytes_per_hour": GaugeMetricFamily(
            "wdbot_bot_rss_trend_bytes_per_hour", "RSS trend of the bot's tree", labels=["bot"]),
        "fds_trend_per_hour": GaugeMetricFamily(
            "wdbot_bot_open_fds_trend_per_hour", "Open-files trend of the bot's tree", labels=["bot"]),
        "leak": GaugeMetricFamily("wdbot_bot_leak_suspected", "1 while a leak is suspected",
                                  labels=["bot", "resource"]),
    }


def _add_limits(families: Mapping[str, Any], bot: Mapping[str, Any]) -> None:
    name, limits = bot["name"], bot.get("limits") or {}
    for key in ("max_memory_bytes", "max_fds"):
        if limits.get(key) is not None:
            families[key].add_metric([name], limits[key])
    for key in ("rss_trend_bytes_per_hour", "fds_trend_per_hour"):
        if bot.get(key) is not None:
            families[key].add_metric([name], bot[key])
    leak = bot.get("leak")
    if leak:
        families["leak"].add_metric([name, str(leak.get("resource", ""))], 1.0)


def serve(listen: str, collector: Collector, home: Home) -> None:
    """Start the HTTP endpoint in a daemon thread: ``/metrics`` (and, as before, any other
    path) plus ``/livez`` and ``/readyz`` (``health``); raises MetricsError."""
    from prometheus_client import make_wsgi_app
    from prometheus_client.core import REGISTRY

    from .health import application
    from .health import listen as listen_on

    host, port = parse_listen(listen)
    REGISTRY.register(collector)  # a duck-typed collector: anything with collect()
    try:
        listen_on(host, port, application(home, make_wsgi_app(REGISTRY)))
    except OSError as exc:
        raise MetricsError(f"--metrics {listen}: cannot listen ({exc.strerror or exc})") from None
