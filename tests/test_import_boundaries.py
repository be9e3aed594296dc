"""The boundaries the layout promises, checked in fresh interpreters (what a real process loads).

* The web process (``create_app``) never loads TensorFlow, Keras, matplotlib or gensim, nor the phantom
  generator: README's promise, and ≈ 3x less memory per web worker (BENCHMARKS.md).
* ``cxrmodel.detection`` (the slider path and ``python -m cxrmodel detect``) loads nothing else from cxrmodel.
* Every public package of cxrmodel imports without TensorFlow and declares its API in ``__all__``.

import-linter (``lint-imports`` in .ci/run, contracts in pyproject.toml) checks the static layering; these
tests check what is really imported at run time, lazy imports included.
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

HEAVY_LIBRARIES = ("tensorflow", "keras", "matplotlib", "gensim")
GENERATOR_PREFIXES = (
    "cxrmodel.data.synthetic.studies",
    "cxrmodel.data.synthetic.phantom",
    "cxrmodel.data.synthetic.reports",
    "cxrmodel.data.synthetic.chestxray14",
    "cxrmodel.data.phantom",  # the flat layout's generator modules, so the test also fails against it
    "cxrmodel.data.reports",
)
PUBLIC_PACKAGES = (
    "cxrmodel.detection",
    "cxrmodel.explain",
    "cxrmodel.modeling",
    "cxrmodel.imaging",
    "cxrmodel.evaluation",
    "cxrmodel.rendering",
    "cxrmodel.data",
    "cxrmodel.data.synthetic",
    "cxrmodel.cli",
    "cxrmodel.worker",
)

_LOADED_MODULES = """
import json, sys
sys.path.insert(0, {root!r})
{statements}
generator = getattr(sys.modules.get("cxrmodel.data.synthetic"), "render_study", None) is not None
print(json.dumps({{"modules": sorted(sys.modules), "flat_generator": generator}}))
"""


def _loaded_modules(statements: str) -> tuple[set[str], bool]:
    """Module names a fresh interpreter holds after ``statements``; and whether the flat layout's generator is one."""
    script = _LOADED_MODULES.format(root=str(ROOT), statements=statements)
    completed = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True,
                               timeout=240, env={"TF_CPP_MIN_LOG_LEVEL": "2", "PATH": "/usr/bin:/bin"})
    assert completed.returncode == 0, completed.stderr[-3000:]
    document = json.loads(completed.stdout.strip().splitlines()[-1])
    return set(document["modules"]), document["flat_generator"]


def _heavy(modules: set[str]) -> list[str]:
    return sorted({name.split(".")[0] for name in modules} & set(HEAVY_LIBRARIES))


@pytest.mark.slow
def test_building_the_dashboard_loads_no_tensorflow_matplotlib_gensim_nor_the_generator():
    modules, flat_generator = _loaded_modules("import app\napp.create_app(app.AppConfig())")
    assert _heavy(modules) == [], "the web process must not load these (README: it never loads TensorFlow)"
    generator = sorted(name for name in modules if name.startswith(GENERATOR_PREFIXES))
    assert generator == [] and not flat_generator, f"the web process loaded the phantom generator: {generator}"
    assert "dash" in modules and "cxrmodel.explain" in modules  # the probe really built the app


def test_detection_loads_nothing_else_from_cxrmodel():
    modules, _ = _loaded_modules("import cxrmodel.detection\ncxrmodel.detection.detect_circles")
    others = sorted(name for name in modules if name.startswith("cxrmodel.")
                    and not name.startswith("cxrmodel.detection"))
    assert others == []
    assert "cxrmodel.detection.circles" in modules  # the package is a package, not the flat module
    assert _heavy(modules) == []


@pytest.mark.parametrize("package", PUBLIC_PACKAGES)
def test_every_public_package_imports_without_tensorflow(package):
    modules, _ = _loaded_modules(f"import {package}")
    assert _heavy(modules) == []


@pytest.mark.parametrize("package", PUBLIC_PACKAGES)
def test_every_public_package_declares_an_api_that_resolves(package):
    module = importlib.import_module(package)
    names = getattr(module, "__all__", None)
    assert names, f"{package} declares no __all__"
    assert len(names) == len(set(names))
    missing = [name for name in names if not hasattr(module, name)]
    assert missing == []
