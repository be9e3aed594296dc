"""The installed API as docs/api.md shows it: its example runs from a folder outside the repository.

The example is taken from the document itself and run with the project's Python in a temporary folder, with no
PYTHONPATH: it finds ``cxrmodel`` only because ``make`` installed the package (editable) into the environment.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
API_GUIDE = ROOT / "docs" / "api.md"
HEAVY_LIBRARIES = ("tensorflow", "keras", "gensim", "matplotlib")


def _example() -> str:
    blocks = re.findall(r"```python\n(.*?)```", API_GUIDE.read_text(encoding="utf-8"), flags=re.DOTALL)
    assert len(blocks) == 1, "docs/api.md should hold exactly one runnable python example"
    return blocks[0]


def test_top_level_api_is_lazy_and_resolves_without_tensorflow():
    script = ("import sys, cxrmodel\n"
              "loaded_at_import = sorted(m for m in sys.modules if m.startswith('cxrmodel.'))\n"
              "[getattr(cxrmodel, name) for name in cxrmodel.__all__]\n"
              f"heavy = sorted({{m.split('.')[0] for m in sys.modules}} & {set(HEAVY_LIBRARIES)!r})\n"
              "print(loaded_at_import, heavy)\n")
    completed = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120,
                               env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")})
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert completed.stdout.strip() == "[] []"


@pytest.mark.slow
def test_the_api_guide_example_explains_a_demo_study_from_outside_the_repository(tmp_path):
    script = tmp_path / "example.py"
    script.write_text(_example(), encoding="utf-8")
    environment = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    environment["TF_CPP_MIN_LOG_LEVEL"] = "2"
    completed = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True,
                               timeout=240, env=environment)
    assert completed.returncode == 0, completed.stderr[-3000:]
    lines = completed.stdout.splitlines()
    assert re.fullmatch(r"P\(abnormal\) = 0\.\d{3}, completeness error \d+\.\d{2}%", lines[0])
    assert any(line.startswith("circle at (") for line in lines)
    assert "51 thresholds swept" in lines
    assert re.fullmatch(r"(abnormal|normal) [0-9.]+ \d+ circles", lines[-1])
