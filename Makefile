# chaosrunner — the README's commands. `make demo` and `make test` work on a fresh Debian/Ubuntu machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Real servers the sandbox and the tests run (Debian packages; nothing is started by installing them).
APT_PACKAGES := prometheus prometheus-alertmanager prometheus-pushgateway postgresql haproxy varnish nginx-light stress-ng chromium chromium-driver procps util-linux pandoc libcairo2 tmux
PYTEST_ARGS ?=
# Independent tests run in parallel (each test starts its own servers on free ports). Most of a test's time
# is spent waiting on those real servers, so two workers per core: on 2 cores the suite took 5 min 48 s with
# 4 workers against 7 min 56 s with 2. worksteal keeps the long end-to-end tests from piling up on one worker.
PYTEST_WORKERS ?= $(shell echo $$(( $$(nproc) * 2 )))

.PHONY: setup system-deps python-deps test test-fast demo bench lint clean

setup: system-deps python-deps
	@# bytecode for every module, as a wheel install has it: without it each command compiles the
	@# modules it imports first (~55 ms of `chaosrunner run`), and PYTHONDONTWRITEBYTECODE would make that every time
	$(BIN)/python -m compileall -q chaosrunner

system-deps:
	@missing=""; \
	for c in prometheus prometheus-alertmanager prometheus-pushgateway haproxy varnishd nginx stress-ng chromium chromedriver taskset pandoc tmux; do command -v $$c >/dev/null || missing="$$missing $$c"; done; \
	[ -x /usr/lib/postgresql/15/bin/initdb ] || missing="$$missing postgresql"; \
	compgen -G '/usr/lib/*/libcairo.so.2' >/dev/null || missing="$$missing libcairo2"; \
	if [ -n "$$missing" ]; then \
	  echo "missing:$$missing — installing Debian packages: $(APT_PACKAGES)"; \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(APT_PACKAGES); \
	  elif command -v sudo >/dev/null; then \
	    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(APT_PACKAGES); \
	  else \
	    echo "run as root: apt-get install -y --no-install-recommends $(APT_PACKAGES)"; exit 1; \
	  fi; \
	fi

python-deps: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[aws,k8s,test]'
	touch $@

test: setup
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist worksteal $(PYTEST_ARGS)

test-fast: setup
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist worksteal -m "not slow" $(PYTEST_ARGS)

demo: setup
	$(BIN)/chaosrunner demo

bench: setup
	$(BIN)/python -m bench

lint: python-deps
	$(BIN)/ruff check chaosrunner tests bench
	$(BIN)/mypy chaosrunner
	$(BIN)/lint-imports

clean:
	-$(BIN)/chaosrunner sandbox down 2>/dev/null
	rm -rf $(VENV) .sandbox .chaosrunner journals bench/results .pytest_cache
