# Two commands for a fresh machine: `make run` (dashboard on the demo model) and `make test`.
# Both create .venv and install requirements.txt when it is missing or older than requirements.txt.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.requirements-installed

.PHONY: run test demo clean-venv

$(STAMP): requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $(STAMP)

run: $(STAMP)
	$(PY) app.py

test: $(STAMP)
	$(PY) -m pytest -q -n auto --dist loadfile

# Rebuild models/demo and studies/demo from the seeded recipe (about 27 minutes on 2 idle CPU cores).
demo: $(STAMP)
	$(PY) -m cxrmodel -v demo build

clean-venv:
	rm -rf $(VENV)
