# Everything sets itself up: uv is installed with pip when missing, then `uv sync` builds .venv from uv.lock.
UV := $(shell command -v uv 2>/dev/null || echo "python3 -m uv")
PYTEST_ARGS ?=

.PHONY: setup test test-fast lint format demo clean

setup: .venv/.synced

.venv/.synced: pyproject.toml uv.lock
	@command -v uv >/dev/null 2>&1 || python3 -m uv --version >/dev/null 2>&1 || python3 -m pip install --quiet uv
	$(UV) sync --frozen
	@touch $@

# Everything that can run on a CPU machine (slow tests included); gpu and carla tests skip themselves.
test: setup
	$(UV) run pytest -m "" $(PYTEST_ARGS)

test-fast: setup
	$(UV) run pytest $(PYTEST_ARGS)

lint: setup
	$(UV) run ruff check .
	$(UV) run ruff format --check .

format: setup
	$(UV) run ruff format .
	$(UV) run ruff check --fix .

# A few suite scenarios in closed loop on the embedded simulator with the expert; results and review videos land in
# outputs/demo/<n>_<scenario>/.
demo: setup
	$(UV) run python sim/run_route.py -m scenario=red_light_stop,truck_with_cones,jaywalker planner=expert \
		hydra.sweep.dir=outputs/demo
	@echo "Results and review videos:"
	@find outputs/demo -name results.json -o -name review.mp4 | sort

clean:
	rm -rf outputs multirun .pytest_cache .ruff_cache
