"""deploy/grafana/wdbot.json, generated with grafana-foundation-sdk (a dev dependency: the
dashboard is built here, never at run time).

    python scripts/grafana_dashboard.py            # write deploy/grafana/wdbot.json
    python scripts/grafana_dashboard.py --check    # exit 1 when the file is not what this makes

Every query reads wdbot's own metrics (``wdbot daemon --metrics``);
tests/integration/test_grafana_dashboard.py checks each metric and label against a live
``/metrics`` of a home with bots. ``wdbot_bot_mode`` and ``wdbot_bot_figure`` (the trading
modes and the bots' figures) come with another change: the test lists them as pending.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from grafana_foundation_sdk.builders.dashboard import Dashboard, DatasourceVariable, QueryVariable, Row
from grafana_foundation_sdk.builders.prometheus import Dataquery
from grafana_foundation_sdk.builders.stat import Panel as Stat
from grafana_foundation_sdk.builders.statetimeline import Panel as StateTimeline
from grafana_foundation_sdk.builders.table import Panel as Table
from grafana_foundation_sdk.builders.timeseries import Panel as Timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import DataSourceRef, VariableRefresh

OUT = Path(__file__).resolve().parent.parent / "deploy" / "grafana" / "wdbot.json"
DS = DataSourceRef(type_val="prometheus", uid="${datasource}")
SEL = 'instance=~"$instance", bot=~"$bot"'


def q(expr: str, legend: str = "", instant: bool = False, ref: str = "A") -> Dataquery:
    query = Dataquery().expr(expr).legend_format(legend or "__auto").ref_id(ref)
    return query.instant() if instant else query


def variables(board: Dashboard) -> Dashboard:
    board = board.with_variable(DatasourceVariable("datasource").label("Prometheus").type("prometheus"))
    for name, query in (("instance", "label_values(wdbot_supervisor_uptime_seconds, instance)"),
                        ("bot", 'label_values(wdbot_bot_up{instance=~"$instance"}, bot)')):
        board = board.with_variable(
            QueryVariable(name).label(name).query(query).datasource(DS).multi(True).include_all(True)
            .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED))
    return board


def fleet(board: Dashboard) -> Dashboard:
    """Bots by state, restarts, crash reasons, supervisors."""
    return (board.with_row(Row("Fleet"))
            .with_panel(Stat().title("Bots by state").datasource(DS).span(8).height(6)
                        .with_target(q('count by (state) (wdbot_bot_state{instance=~"$instance"} == 1)',
                                       "{{state}}", instant=True)))
            .with_panel(Timeseries().title("Restarts per hour").datasource(DS).span(8).height(6)
                        .with_target(q("sum by (instance, bot) "
                                       f"(increase(wdbot_bot_restarts_total{{{SEL}}}[1h]))",
                                       "{{instance}} {{bot}}")))
            .with_panel(Table().title("Last exit: reason and crash pattern").datasource(DS).span(8).height(6)
                        .with_target(q("max by (instance, bot, reason, pattern) "
                                       f"(wdbot_bot_last_exit{{{SEL}}})", instant=True)))
            .with_panel(Table().title("Bots not running as they should").datasource(DS).span(12).height(6)
                        .with_target(q('wdbot_bot_state{instance=~"$instance", '
                                       'state=~"backoff|errored|recovering|starting"} == 1', instant=True)))
            .with_panel(Stat().title("Supervisor uptime").datasource(DS).span(12).height(6).unit("s")
                        .with_target(q('wdbot_supervisor_uptime_seconds{instance=~"$instance"}',
                                       "{{instance}}"))))


def resources(board: Dashboard) -> Dashboard:
    """Per bot: memory and open files against their limits, their trends, CPU, heartbeat."""
    return (board.with_row(Row("Per bot: resources against limits"))
            .with_panel(Timeseries().title("Memory (RSS) and --max-memory").datasource(DS).span(12).height(8)
                        .unit("bytes")
                        .with_target(q(f"wdbot_bot_rss_bytes{{{SEL}}}", "{{bot}} rss"))
                        .with_target(q(f"wdbot_bot_memory_limit_bytes{{{SEL}}}", "{{bot}} limit", ref="B")))
            .with_panel(Timeseries().title("Open files and --max-fds").datasource(DS).span(12).height(8)
                        .with_target(q(f"wdbot_bot_open_fds{{{SEL}}}", "{{bot}} open"))
                        .with_target(q(f"wdbot_bot_open_fds_limit{{{SEL}}}", "{{bot}} limit", ref="B")))
            .with_panel(Timeseries().title("Memory trend per hour").datasource(DS).span(8).height(8)
                        .unit("bytes")
                        .with_target(q(f"wdbot_bot_rss_trend_bytes_per_hour{{{SEL}}}", "{{bot}}")))
            .with_panel(Timeseries().title("Open-files trend per hour").datasource(DS).span(8).height(8)
                        .with_target(q(f"wdbot_bot_open_fds_trend_per_hour{{{SEL}}}", "{{bot}}")))
            .with_panel(Timeseries().title("CPU (100 = one core)").datasource(DS).span(8).height(8)
                        .with_target(q(f"wdbot_bot_cpu_percent{{{SEL}}}", "{{bot}}")))
            .with_panel(Timeseries().title("Heartbeat age").datasource(DS).span(12).height(6).unit("s")
                        .with_target(q(f"wdbot_bot_heartbeat_age_seconds{{{SEL}}}", "{{bot}}"))))


def leaks(board: Dashboard) -> Dashboard:
    """The supervisor's leak suspicion, and the rule's own view (RSS growth per hour)."""
    return (board.with_row(Row("Leak alerts"))
            .with_panel(Table().title("Leaks suspected now").datasource(DS).span(12).height(6)
                        .with_target(q(f"wdbot_bot_leak_suspected{{{SEL}}} == 1", instant=True)))
            .with_panel(Timeseries().title("RSS growth per hour (WdbotMemoryGrowing over 100 MB/h)")
                        .datasource(DS).span(12).height(6).unit("bytes")
                        .with_target(q(f"deriv(wdbot_bot_rss_bytes{{{SEL}}}[30m]) * 3600", "{{bot}}"))))


def trading(board: Dashboard) -> Dashboard:
    """Trading modes and the figures bots publish (pending metrics, see the module's doc)."""
    return (board.with_row(Row("Trading"))
            .with_panel(StateTimeline().title("Trading mode").datasource(DS).span(12).height(6)
                        .with_target(q(f"wdbot_bot_mode{{{SEL}}}", "{{bot}}")))
            .with_panel(Timeseries().title("Bot figures").datasource(DS).span(12).height(6)
                        .with_target(q(f"wdbot_bot_figure{{{SEL}}}", "{{bot}} {{name}}"))))


def build() -> str:
    board = (Dashboard("wdbot fleet").uid("wdbot-fleet").tags(["wdbot", "generated"])
             .refresh("30s").time("now-6h", "now").editable())
    for part in (variables, fleet, resources, leaks, trading):
        board = part(board)
    return str(JSONEncoder(sort_keys=True, indent=2).encode(board.build())) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only say whether the file is current")
    ns = parser.parse_args(argv)
    text = build()
    if ns.check:
        current = OUT.exists() and OUT.read_text() == text
        print(f"{OUT}: {'current' if current else 'STALE: run scripts/grafana_dashboard.py'}")
        return 0 if current else 1
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(text)
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
