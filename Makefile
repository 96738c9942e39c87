# The two commands of the README: `make demo` (main job) and `make test` (the test suite).
VENV ?= .venv
PY := $(VENV)/bin/python
export ROS_AUTOMATIC_DISCOVERY_RANGE ?= LOCALHOST

.PHONY: setup demo test test-fast lint bench

setup:
	@./scripts/bootstrap.sh

demo: setup
	$(PY) -m vsync_ros.ros.demo

test: setup
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -q -p no:cacheprovider test

# Inner loop: everything except tests marked slow (training, world synthesis, real-time ROS runs).
test-fast: setup
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -q -p no:cacheprovider -m "not slow" test

lint: setup
	$(VENV)/bin/ruff check .

bench: setup
	$(PY) -m vsync_ros.reports.bench
