# Two commands for a fresh machine: `make run` (dashboard on the demo model) and `make test`.
# Both create .venv, install requirements.txt and then this project itself, editable (`import cxrmodel` from any
# folder, the `cxrmodel` console script; docs/api.md), when .venv is missing or older than requirements.txt or
# pyproject.toml. The project is installed with --no-deps: its dependencies are requirements.txt's
# tested pins, installed just before it.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.requirements-installed

.PHONY: run test demo gpu clean-venv

$(STAMP): requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $(STAMP)

run: $(STAMP)
	$(PY) app.py

test: $(STAMP)
	$(PY) -m pytest -q -n auto --dist loadfile

# Rebuild models/demo and studies/demo from the seeded recipe (about 27 minutes on 2 idle CPU cores).
demo: $(STAMP)
	$(PY) -m cxrmodel -v demo build

# Optional, Linux x86_64 with an NVIDIA driver: the same environment with TensorFlow's CUDA build in place of the
# CPU one (requirements-gpu.txt; docs/training.md, "On a GPU"). Run it again after requirements.txt changes (both
# builds write the same tensorflow package, so the CPU one is removed first).
gpu: $(STAMP)
	$(PY) -m pip uninstall --yes --quiet tensorflow-cpu tensorflow
	$(PY) -m pip install --quiet -r requirements-gpu.txt

clean-venv:
	rm -rf $(VENV)
