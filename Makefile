# Everything sets itself up: uv is installed with pip when missing, then `uv sync` builds .venv from uv.lock.
UV := $(shell command -v uv 2>/dev/null || echo "python3 -m uv")
PYTEST_ARGS ?=

.PHONY: setup browser test test-fast lint format demo clean

setup: .venv/.synced

.venv/.synced: pyproject.toml uv.lock
	@command -v uv >/dev/null 2>&1 || python3 -m uv --version >/dev/null 2>&1 || python3 -m pip install --quiet uv
	$(UV) sync --frozen
	@touch $@

# Debian's Chromium for the browser tests of the review pages (tests/sim/report/test_browser.py), installed when
# missing and this runs as root with apt-get; otherwise those tests skip and say why.
browser:
	@if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing Chromium for the browser tests (apt-get install chromium)"; \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
			|| echo "Chromium could not be installed: the browser tests will skip"; \
	else echo "no Chromium, and no root apt-get to install it: the browser tests will skip"; fi

# Everything that can run on a CPU machine (slow tests included); gpu and carla tests skip themselves.
test: setup browser
	$(UV) run pytest -m "" $(PYTEST_ARGS)

test-fast: setup
	$(UV) run pytest $(PYTEST_ARGS)

lint: setup
	$(UV) run ruff check .
	$(UV) run ruff format --check .

format: setup
	$(UV) run ruff format .
	$(UV) run ruff check --fix .

# The planner this project ships (models/planner-cpu) and the privileged expert on the same three suite routes, side
# by side on the embedded simulator; results, review videos and an A/B review page land in outputs/demo/.
demo: setup
	$(UV) run python sim/demo.py --out outputs/demo

clean:
	rm -rf outputs multirun .pytest_cache .ruff_cache
