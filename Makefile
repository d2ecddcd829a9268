# The project's vocabulary. `make run` and `make test` are the two commands a fresh
# machine needs; every other target is a step they call or a tool for developers.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV := .venv
PY := $(VENV)/bin/python
RASA := TF_CPP_MIN_LOG_LEVEL=3 RASA_TELEMETRY_ENABLED=false $(VENV)/bin/rasa
# Rasa 3.6 needs Python 3.10: one on PATH first, else pyenv's. Each candidate is run,
# because a pyenv shim is on PATH even where it cannot run 3.10 in this folder.
PYTHON310 := $(shell for p in "$$(command -v python3.10)" $$(ls -d "$$(pyenv root 2>/dev/null || echo $$HOME/.pyenv)"/versions/3.10.*/bin/python3.10 2>/dev/null); do \
	[ -n "$$p" ] && "$$p" -c 'import sys; assert sys.version_info[:2] == (3, 10)' 2>/dev/null && echo "$$p" && break; done)
export TF_CPP_MIN_LOG_LEVEL := 3
export RASA_TELEMETRY_ENABLED := false

SPACY_MODEL := build/spacy_model/meta.json
MODEL := models/detox.tar.gz
# facts.yml is an input because each of its topics becomes an intent and a rule
# (bot/topic_importer.py); Rasa's own fingerprint skips retraining when only its text changed.
TRAINING_INPUTS := config.yml domain.yml $(shell find data -name '*.yml' -not -name contacts.yml -not -name crisis_patterns.yml) $(SPACY_MODEL) bot/topic_importer.py bot/nlp/components.py bot/nlp/crisis_matcher.py bot/nlp/intent_classifier.py bot/nlp/static_embeddings.py

.PHONY: help setup system-deps nlp train run chat lint test test-fast validate evaluate compare bench lock clean

help:
	@echo "make run        set everything up (first time: ~8 min) and start the product"
	@echo "make test       set everything up and run the whole test suite (after make lint)"
	@echo "make lint       ruff (lint and format check) and mypy; clean, or make test stops"
	@echo "make chat       talk to the bot in the terminal"
	@echo "make train      train the Rasa model into models/ when data or config changed"
	@echo "make evaluate   the model on every evaluation set, k-fold CV, confusion matrix (results/)"
	@echo "make compare    the classifier candidates side by side (results/candidates.md)"
	@echo "make bench      training time, start-up time and REST round-trip latency"
	@echo "make validate   rasa data validate --fail-on-warnings"
	@echo "make lock       re-resolve requirements.in into requirements.lock"

setup: $(VENV)/.installed

$(VENV)/.installed: requirements.lock requirements-nodeps.txt pyproject.toml
	@test -n "$(PYTHON310)" || { echo "Python 3.10 not found (PATH or pyenv): Rasa 3.6 needs it" >&2; exit 1; }
	@test -x $(PY) || $(PYTHON310) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.lock
	$(PY) -m pip install --quiet --no-deps -r requirements-nodeps.txt
	$(PY) -m pip install --quiet --no-deps -e .
	@touch $@

# System packages the tests drive for real: Chromium for the widget and console,
# PostgreSQL and Redis for the scale-out mode. Installed only when missing.
system-deps:
	@missing=""; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || missing="$$missing postgresql"; \
	command -v redis-server >/dev/null || missing="$$missing redis-server"; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi
	@if [ -f tests/web/package-lock.json ] && [ ! -d tests/web/node_modules ]; then \
	  (cd tests/web && npm ci --silent --no-audit --no-fund); fi

nlp: $(SPACY_MODEL)

$(SPACY_MODEL): $(VENV)/.installed bot/nlp/build.py bot/nlp/vocabulary.py data/entities.yml
	$(PY) -m bot.nlp.build

train: $(MODEL)

$(MODEL): $(VENV)/.installed $(TRAINING_INPUTS)
	@mkdir -p results; start=$$(date +%s); \
	$(RASA) train --fixed-model-name detox --out models && \
	echo $$(( $$(date +%s) - start )) > results/train_seconds.txt
	@touch $@

run: $(MODEL)
	$(VENV)/bin/bot run

chat: $(MODEL)
	$(VENV)/bin/bot chat

validate: $(VENV)/.installed $(SPACY_MODEL)
	$(RASA) data validate --fail-on-warnings

# Lint first: it takes seconds and fails before any training or server start.
# All three checks run, so one run shows every finding; any finding fails it.
lint: $(VENV)/.installed
	@status=0; \
	echo '== ruff check'; $(VENV)/bin/ruff check . || status=1; \
	echo '== ruff format --check'; $(VENV)/bin/ruff format --check --output-format concise . || status=1; \
	echo '== mypy'; $(VENV)/bin/mypy || status=1; \
	exit $$status

test: lint system-deps $(MODEL)
	$(PY) -m pytest -p no:cacheprovider

test-fast: $(MODEL)
	$(PY) -m pytest -p no:cacheprovider -m "not browser and not stack and not postgres and not redis"

evaluate: $(MODEL)
	$(PY) -m bot.cli.evaluate

compare: $(VENV)/.installed $(SPACY_MODEL)
	$(PY) -m bot.cli.compare

bench: $(MODEL)
	$(PY) -m bot.cli.bench

lock:
	$(PY) -m pip install --quiet -r requirements.in
	$(PY) -m pip freeze --exclude-editable | grep -v -e detox-support-bot -e wordllama > requirements.lock

clean:
	rm -rf build models results tests/.artifacts
