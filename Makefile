# Everything the project needs is installed from here: a fresh clone with Python >= 3.10 and make
# is enough for `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
WDBOT  := $(VENV)/bin/wdbot
DEMO_HOME ?= $(CURDIR)/.demo-home
STAMP  := $(VENV)/.installed

.PHONY: install demo demo-stop test browser promtool systemd-rootfs systemd-check fleet-check dashboard screenshots lint bench chaos clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else "wdbot needs Python >= 3.10 (set PYTHON=...)")'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $@

demo: $(STAMP)
	$(PY) -m compileall -q watchdog_runtime
	WDBOT_HOME=$(DEMO_HOME) $(PY) scripts/demo.py

demo-stop: $(STAMP)
	WDBOT_HOME=$(DEMO_HOME) $(PY) scripts/demo.py --stop

# Bytecode first: where PYTHONDONTWRITEBYTECODE=1 (as on these machines), every daemon, command
# and bot the tests start would otherwise compile the whole package again in memory.
test: $(STAMP) browser promtool systemd-rootfs
	$(PY) -m compileall -q watchdog_runtime
	$(PY) -m pytest -n 2 --dist loadgroup

# The web dashboard's end-to-end test drives Debian's Chromium; as root (CI) it is installed here.
browser:
	@if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing chromium and chromium-driver for the browser test"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; \
	  else \
	    echo "note: chromium and chromium-driver are missing: the browser test will be skipped (CI installs them as root)"; \
	  fi; \
	fi

# The Prometheus rules and scrape config (deploy/prometheus) are checked with Debian's promtool
# (tests/integration/test_grafana_dashboard.py); as root it is installed here.
promtool:
	@if ! command -v promtool >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing prometheus (promtool) for the rules check"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null; \
	  else \
	    echo "note: promtool is missing: the rules check will be skipped (CI installs it as root)"; \
	  fi; \
	fi

# The real-systemd test (tests/integration/test_real_systemd.py) boots Debian 12's systemd 252
# with systemd-nspawn from a root file system built once with debootstrap and cached in
# /var/cache/wdbot-systemd (about two minutes the first time); as root it is built here.
systemd-rootfs: $(STAMP)
	@if [ "$$(id -u)" = 0 ]; then \
	  $(PY) scripts/systemd_check.py --prepare; \
	else \
	  echo "note: not root: the real-systemd test will be skipped (CI runs it as root)"; \
	fi

# wdbot under a real systemd 252 (docs/fleet.md says what it proves), with a verdict per step.
systemd-check: $(STAMP)
	$(PY) scripts/systemd_check.py

# wdbot on every engine of docs/fleet.md for real (as root; minutes, not part of make test): a
# real systemd 252 (nspawn), the Containerfile's image under podman (installed with apt when
# missing), the manifests, rules and dashboard; one line per engine: what ran, what held.
fleet-check: $(STAMP) systemd-rootfs promtool
	$(PY) scripts/fleet_check.py

# Regenerates deploy/grafana/wdbot.json (grafana-foundation-sdk, a dev dependency).
dashboard: $(STAMP)
	$(PY) scripts/grafana_dashboard.py

# Retakes the README's screenshots of the dashboard (the browser test, saving into docs/).
screenshots: $(STAMP) browser
	WDBOT_WEB_SHOTS=$(CURDIR)/docs $(PY) -m pytest -q tests/integration/test_web_browser.py

bench: $(STAMP)
	$(PY) scripts/bench.py

# The fault run of docs/reliability.md (not part of `make test`): as root for the clock steps
# and the full disk. CHAOS_ARGS="--kills 20" for a shorter run, "--label after --write-doc" for the doc.
CHAOS_ARGS ?=
chaos: $(STAMP)
	$(PY) scripts/chaos.py $(CHAOS_ARGS)

lint: $(STAMP)
	$(PY) -m pip install --quiet -e '.[dev,lint]'
	$(PY) -m ruff check watchdog_runtime tests scripts bots
	$(PY) -m mypy watchdog_runtime
	$(VENV)/bin/lint-imports

clean:
	-WDBOT_HOME=$(DEMO_HOME) $(PY) scripts/demo.py --stop 2>/dev/null
	rm -rf $(VENV) $(DEMO_HOME) build *.egg-info .pytest_cache .bench
