"""Issue 28: deploy/grafana/wdbot.json and deploy/prometheus/ read what wdbot serves.

Every metric and label that a dashboard query or an alerting rule names is in a live
``/metrics`` of the real ``wdbot daemon`` with bots (one measured against its limits, one
that leaks open files, one that crashed), the generated dashboard is the script's current
output, and Debian's promtool accepts the rules (and their unit tests) and the scrape.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import Wdbot, free_port, scrape, wait_until, write_bot

REPO = Path(__file__).resolve().parents[2]
DASHBOARD = REPO / "deploy" / "grafana" / "wdbot.json"
PROMETHEUS = REPO / "deploy" / "prometheus"
TARGET_LABELS = {"instance", "job"}
"""Labels Prometheus adds to every scraped series (not in /metrics itself)."""
BEATING = ("import time\nimport watchdog_runtime as wd\nwhile True:\n    wd.heartbeat()\n"
           "    wd.report(balance=1000.0, open_positions=2)\n    time.sleep(0.2)\n")
LEAKY = ("import time\nheld = []\nwhile True:\n    held.append(open(__file__))\n    time.sleep(0.05)\n")
MATCHER = re.compile(r"([a-zA-Z_]\w*)\s*(?:=~|!~|!=|=)\s*\"")
GROUPING = re.compile(r"\b(?:by|on|ignoring|without)\s*\(([^)]*)\)")


def queries() -> list[str]:
    """Every PromQL expression of the dashboard's panels and the alerting rules."""
    board = json.loads(DASHBOARD.read_text())
    found = [t["expr"] for p in board["panels"] for t in p.get("targets") or [] if "expr" in t]
    rules = PROMETHEUS / "rules.yml"
    found += re.findall(r"^\s+expr: (.+)$", rules.read_text(), flags=re.MULTILINE)
    return found


def names_in(expr: str) -> tuple[set[str], set[str]]:
    """(metrics, labels) an expression reads: its ``wdbot_`` metrics, the labels of its
    matchers, groupings and legend."""
    metrics = set(re.findall(r"\bwdbot_[a-z_]+\b", expr))
    labels = set(MATCHER.findall(expr))
    for group in GROUPING.findall(expr):
        labels |= {part.strip() for part in group.split(",") if part.strip()}
    return metrics, labels


def exposed(text: str) -> dict[str, set[str]]:
    """Metric name -> the labels its samples carry, from Prometheus text."""
    found: dict[str, set[str]] = {}
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        name, _, rest = line.partition("{")
        labels = set(re.findall(r"(\w+)=\"", rest.partition("}")[0])) if rest else set()
        found.setdefault(name.split()[0], set()).update(labels)
    return found



@pytest.fixture
def live_metrics(wd: Wdbot, bots: Path, tmp_path: Path) -> Iterator[dict[str, set[str]]]:
    """What a home's ``/metrics`` serves once each wanted metric has samples."""
    wd.home.mkdir(parents=True, exist_ok=True)
    (wd.home / "config.toml").write_text(
        "[resources]\ninterval = 0.2\nwindow = 10\nmin_span = 1\n")
    port = free_port()
    with wd.daemon(tmp_path / "daemon.log", "--metrics", f"127.0.0.1:{port}"):
        wd("start", str(write_bot(bots, "measured.py", BEATING)),
           "--max-memory", "300M", "--max-fds", "900")
        wd("start", str(write_bot(bots, "leaky.py", LEAKY)), "--max-fds", "5000")
        wd("start", str(write_bot(bots, "dead.py", "raise KeyError('bids')\n")), "--restart", "never")
        wd.wait_state("dead", "errored")
        wanted = {"wdbot_bot_leak_suspected", "wdbot_bot_open_fds_trend_per_hour",
                  "wdbot_bot_memory_limit_bytes", "wdbot_bot_last_exit", "wdbot_bot_rss_bytes",
                  "wdbot_bot_heartbeat_age_seconds", "wdbot_bot_mode", "wdbot_bot_figure"}
        yield wait_until(lambda: (m := exposed(scrape(port))) and wanted <= set(m) and m,
                         "every metric sampled (the leaky bot's leak suspected)", 60)


@pytest.mark.slow
def test_every_query_reads_metrics_and_labels_a_live_home_serves(
        live_metrics: dict[str, set[str]]) -> None:
    missing = []
    for expr in queries():
        metrics, labels = names_in(expr)
        for metric in sorted(metrics):
            if metric not in live_metrics:
                missing.append(f"{metric} (in {expr})")
        known = TARGET_LABELS.union(*(live_metrics.get(m, set()) for m in metrics))
        if not labels <= known:
            missing.append(f"labels {sorted(labels - known)} (in {expr})")
    assert not missing, "\n".join(missing)


def test_the_dashboard_file_is_the_scripts_output() -> None:
    done = subprocess.run([sys.executable, str(REPO / "scripts" / "grafana_dashboard.py"), "--check"],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    panels = {p["title"] for p in json.loads(DASHBOARD.read_text())["panels"]}
    assert {"Bots by state", "Memory (RSS) and --max-memory", "Open files and --max-fds",
            "Leaks suspected now", "Trading mode", "Bot figures"} <= panels


def test_the_query_reader_catches_a_wrong_name() -> None:
    """The check can fail: a misspelt metric or label is reported."""
    live = {"wdbot_bot_rss_bytes": {"bot"}}
    metrics, labels = names_in('sum by (bott) (wdbot_bot_rss_byte{bot=~"$bot"})')
    assert metrics - set(live) == {"wdbot_bot_rss_byte"}
    assert labels - TARGET_LABELS.union(*live.values()) == {"bott"}


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool missing: make test installs "
                    "Debian's prometheus as root")
@pytest.mark.parametrize("argv", [["check", "config", "prometheus.yml"], ["check", "rules", "rules.yml"],
                                  ["test", "rules", "rules_test.yml"]])
def test_promtool_accepts_the_scrape_and_the_rules(argv: list[str]) -> None:
    done = subprocess.run(["promtool", *argv], cwd=PROMETHEUS, capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
