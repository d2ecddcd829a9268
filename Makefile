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
TRAINING_INPUTS := config.yml domain.yml $(shell find data -name '*.yml' -not -name contacts.yml -not -name crisis_patterns.yml) $(SPACY_MODEL) bot/topic_importer.py bot/nlp/components.py bot/nlp/crisis_matcher.py bot/nlp/intent_classifier.py bot/nlp/static_embeddings.py bot/nlp/sentence_encoder.py bot/nlp/pretrained.py

.PHONY: help setup system-deps nlp train run chat lint test test-fast validate evaluate compare bench soak lock audit clean

help:
	@echo "make run        set everything up (first time: ~8 min) and start the product"
	@echo "make test       set everything up and run the whole test suite (after make lint)"
	@echo "make lint       ruff (lint and format check) and mypy; clean, or make test stops"
	@echo "make chat       talk to the bot in the terminal"
	@echo "make train      train the Rasa model into models/ when data or config changed"
	@echo "make evaluate   the model on every evaluation set, k-fold CV, confusion matrix (results/)"
	@echo "make compare    the classifier candidates side by side (results/candidates.md)"
	@echo "make bench      this product against the stock rasa init bot, same load (results/bench.md, ~10 min)"
	@echo "make soak       50 visitors for 10 min: errors, lost events, memory drift (results/soak.md)"
	@echo "make validate   rasa data validate --fail-on-warnings"
	@echo "make lock       re-resolve requirements*.in into the hashed requirements*.lock files"
	@echo "make audit      list known-vulnerable pinned packages (needs a vulnerability database: exit 3 without)"

setup: $(VENV)/.installed

# Runtime and test locks in one pip run, so pip checks them together; every file must
# match one of its pinned hashes. wordllama comes last, without its clashing dependencies.
$(VENV)/.installed: requirements.lock requirements-test.lock requirements-nodeps.txt pyproject.toml
	@test -n "$(PYTHON310)" || { echo "Python 3.10 not found (PATH or pyenv): Rasa 3.6 needs it" >&2; exit 1; }
	@test -x $(PY) || $(PYTHON310) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet --require-hashes -r requirements.lock -r requirements-test.lock
	$(PY) -m pip install --quiet --require-hashes --no-deps -r requirements-nodeps.txt
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

# BENCH_ARGS="--seconds 5" for a quicker run; the stock bot is built once under build/stock-bot.
bench: $(MODEL)
	$(PY) -m bot.cli.bench $(BENCH_ARGS)

# SOAK_ARGS="--users 10 --minutes 1" for a shorter run; exits 1 when a target is missed.
soak: $(MODEL)
	$(PY) -m bot.cli.soak $(SOAK_ARGS)

# The lock tool (uv) and pip-audit each live in a venv of their own under build/, installed
# from their own hashed locks: neither may change .venv (pip-audit needs packaging >= 23,
# Rasa pins packaging==20.9).
TOOLS := build/tools
AUDIT_VENV := build/audit
# Resolved for the machines the product runs on (Linux x86_64, Python 3.10); the hashes
# cover every file of each pinned release. A lock file's current pins are kept unless an
# .in file asks for another version.
UV_COMPILE := $(TOOLS)/bin/uv pip compile --quiet --generate-hashes --python-version 3.10 \
	--python-platform x86_64-manylinux_2_28 --custom-compile-command "make lock"

$(TOOLS)/.installed: requirements-tools.lock
	@test -n "$(PYTHON310)" || { echo "Python 3.10 not found (PATH or pyenv)" >&2; exit 1; }
	@test -x $(TOOLS)/bin/python || $(PYTHON310) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet --require-hashes -r requirements-tools.lock
	@touch $@

# The test lock is resolved with the runtime lock as a constraint, so the packages the
# two share are pinned alike and both install into one venv.
lock: $(TOOLS)/.installed
	$(UV_COMPILE) requirements.in -o requirements.lock
	$(UV_COMPILE) requirements-test.in -c requirements.lock -o requirements-test.lock
	$(UV_COMPILE) --no-deps requirements-nodeps.in -o requirements-nodeps.txt
	$(UV_COMPILE) requirements-tools.in -o requirements-tools.lock
	$(UV_COMPILE) requirements-audit.in -o requirements-audit.lock

$(AUDIT_VENV)/.installed: requirements-audit.lock
	@test -n "$(PYTHON310)" || { echo "Python 3.10 not found (PATH or pyenv)" >&2; exit 1; }
	@test -x $(AUDIT_VENV)/bin/python || $(PYTHON310) -m venv $(AUDIT_VENV)
	$(AUDIT_VENV)/bin/python -m pip install --quiet --require-hashes -r requirements-audit.lock
	@touch $@

# pip-audit's report on one lock, read from its JSON: each vulnerable pin with its
# advisories and fixed versions. Where the vulnerability service answers nothing (PyPI's
# JSON API returns 404 for every package when only the package index is reachable),
# pip-audit skips every package and says "No known vulnerabilities found"; that is
# reported as "not audited" (status 3), never as clean.
define AUDIT_REPORT
import json, sys
deps = json.load(open(sys.argv[1]))["dependencies"]
audited = [d for d in deps if "skip_reason" not in d]
if not audited:
    sys.exit(3)
found = [(d, v) for d in audited for v in d["vulns"]]
for d, v in found:
    ids = " ".join([v["id"], *v.get("aliases", [])])
    print(f'{d["name"]}=={d["version"]}  {ids}  fixed in: {", ".join(v["fix_versions"]) or "no release yet"}')
skipped = [d["name"] for d in deps if "skip_reason" in d]
if skipped:
    print("not audited (unknown to the vulnerability service):", ", ".join(skipped))
print(f"{len(audited)} of {len(deps)} pins audited, {len({d['name'] for d, _ in found})} vulnerable")
sys.exit(1 if found else 0)
endef
export AUDIT_REPORT

# Status: 0 no known vulnerability, 1 vulnerable pins listed, 2 pip-audit itself failed
# (its error is shown), 3 no vulnerability database could be reached (nothing was
# audited). make reports it as "Error N". Needs the network, so make test does not run it.
audit: $(AUDIT_VENV)/.installed
	@status=0; for lock in requirements.lock requirements-test.lock; do \
	  echo "== $$lock"; report=$(AUDIT_VENV)/$$lock.json; rm -f $$report; \
	  $(AUDIT_VENV)/bin/pip-audit -r $$lock --disable-pip --require-hashes --progress-spinner off \
	    --cache-dir $(AUDIT_VENV)/cache --format json --output $$report >/dev/null 2>$(AUDIT_VENV)/errors.log; \
	  if [ -s $$report ]; then $(AUDIT_VENV)/bin/python -c "$$AUDIT_REPORT" $$report; rc=$$?; \
	  elif grep -q -i -e ConnectionError -e "Failed to resolve" -e "timed out" $(AUDIT_VENV)/errors.log; then rc=3; \
	  else cat $(AUDIT_VENV)/errors.log >&2; exit 2; fi; \
	  if [ $$rc = 3 ]; then \
	    echo "No vulnerability database could be reached from this machine (pip-audit asks PyPI's JSON API), so $$lock was not audited."; \
	    exit 3; fi; \
	  [ $$rc = 0 ] || status=$$rc; \
	done; exit $$status

clean:
	rm -rf build models results tests/.artifacts
