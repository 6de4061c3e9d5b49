"""``make fleet-check``: wdbot on the engines of docs/fleet.md, for real, one line per engine
(what ran, what held), as root on Linux; minutes, so not part of ``make test``.

- systemd: ``scripts/systemd_check.py`` (Debian 12's systemd 252 booted with systemd-nspawn);
- podman: ``scripts/fleet_podman.py`` (the Containerfile built and run, 20 bots);
- kubernetes, prometheus, grafana: the checks ``make test`` runs too (kubernetes-validate on
  the manifests; promtool on the rules and the scrape; the dashboard against a live
  ``/metrics``), run here so the one report covers every engine.

    python scripts/fleet_check.py [--json FILE] [--only systemd,podman,...]

Exit 0 when nothing failed (skips say why), 1 when a check failed, 3 when none could run.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
BOUND_S = {"systemd": 900, "podman": 1200, "manifests": 600}
TESTS = ["tests/unit/test_deploy.py", "tests/integration/test_grafana_dashboard.py"]


def engine_run(script: str, *args: str, bound_s: float) -> tuple[dict[str, Any], float, int]:
    """One engine's check script, its verdicts read from its --json file."""
    with tempfile.TemporaryDirectory(prefix="wdbot-fleet-") as scratch:
        out = Path(scratch) / "verdicts.json"
        started = time.monotonic()
        try:
            done = subprocess.run([sys.executable, str(HERE / script), "--json", str(out), *args],
                                  timeout=bound_s, check=False, stdout=sys.stderr)
            code = done.returncode
        except subprocess.TimeoutExpired:
            return {"cannot_run": f"no verdict within {bound_s} s"}, bound_s, 1
        took = time.monotonic() - started
        try:
            return dict(json.loads(out.read_text())), took, code
        except (OSError, ValueError):
            return {"cannot_run": f"{script} wrote no verdicts (exit {code})"}, took, code


def line(engine: str, results: dict[str, Any], took: float, extra: str = "") -> tuple[str, str]:
    """(verdict, one line) from a list of step verdicts."""
    if "cannot_run" in results:
        return "skip", f"{engine:<10} SKIP  could not run here: {results['cannot_run']}"
    steps = results.get("steps", [])
    keys = {s: [x.get("key") or x["step"] for x in steps if x["status"] == s]
            for s in ("pass", "fail", "skip")}
    why = {x.get("key") or x["step"]: x["evidence"][:160] for x in steps if x["status"] == "skip"}
    status = "fail" if keys["fail"] or not steps else "pass"
    text = (f"{engine:<10} {status.upper():4}  {len(steps)} steps in {took:.0f} s; held: "
            + (", ".join(keys["pass"]) or "nothing")
            + "".join(f"; SKIPPED {k}: {w}" for k, w in why.items())
            + (f"; FAILED: {', '.join(keys['fail'])}" if keys["fail"] else "") + limits_note(steps) + extra)
    return status, text


def limits_note(steps: list[dict[str, Any]]) -> str:
    """What a passing step could not show on this host (its evidence says "HERE")."""
    here = [x.get("key") or x["step"] for x in steps if "cannot apply it HERE" in x.get("evidence", "")]
    kernel = any(x.get("key") == "scope_kernel" and x["status"] == "pass" for x in steps)
    if not here:
        return ""
    if kernel:
        return (f"; note ({', '.join(here)}): nspawn mounts the v1 memory hierarchy read-only here, so the "
                "kernel applied the scope's MemoryMax= only once it was remounted writable (scope_kernel)")
    return (f"; NOT HERE ({', '.join(here)}): the kernel applying the scope's MemoryMax= (cgroup v1 "
            "memory, read-only inside nspawn on this hybrid host; the RSS watch held)")


def manifests_line() -> tuple[str, str]:
    """kubernetes-validate, promtool and the dashboard's live check (pytest's own counts)."""
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", *TESTS],
                          cwd=REPO, capture_output=True, text=True, timeout=BOUND_S["manifests"], check=False)
    summary = (done.stdout.strip().splitlines() or ["no output"])[-1]
    status = "pass" if done.returncode == 0 else "fail"
    return status, (f"{'k8s+prom':<10} {status.upper():4}  kubernetes-validate (schemas of 1.30, offline) on "
                    f"deploy/kubernetes, promtool check config/rules + test rules, every dashboard query "
                    f"against a live /metrics ({time.monotonic() - started:.0f} s): {summary}")


def figures_note(results: dict[str, Any]) -> str:
    fig = results.get("figures") or {}
    if not fig:
        return ""
    parts = [f"{k}={v:.1f}" if isinstance(v, float) else f"{k}={v}" for k, v in fig.items()]
    return f"; figures: {', '.join(parts)}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write every engine's verdicts")
    parser.add_argument("--only", default="systemd,podman,manifests", help="engines, comma separated")
    ns = parser.parse_args(argv)
    wanted = [e.strip() for e in ns.only.split(",") if e.strip()]
    unknown = set(wanted) - {"systemd", "podman", "manifests"}
    if unknown:
        print(f"fleet-check: unknown engine(s) {sorted(unknown)}: use systemd, podman, manifests",
              file=sys.stderr)
        return 2
    verdicts: list[tuple[str, str]] = []
    every: dict[str, Any] = {}
    if "systemd" in wanted:
        results, took, _ = engine_run("systemd_check.py", bound_s=BOUND_S["systemd"])
        verdicts.append(line("systemd", results, took))
        every["systemd"] = results
    if "podman" in wanted:
        results, took, _ = engine_run("fleet_podman.py", "--bots", "20", bound_s=BOUND_S["podman"])
        verdicts.append(line("podman", results, took, figures_note(results)))
        every["podman"] = results
    if "manifests" in wanted:
        verdicts.append(manifests_line())
    lines = [text for _, text in verdicts]
    print("\n".join(lines))
    if ns.json:
        ns.json.write_text(json.dumps({"lines": lines, **every}, indent=1))
    states = {status for status, _ in verdicts}
    return 1 if "fail" in states else (3 if states == {"skip"} else 0)


if __name__ == "__main__":
    sys.exit(main())
