"""The optional GPU requirements pin the TensorFlow that requirements.txt pins (CI has no GPU to install it on)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)(\[[a-z-]+\])?==([^\s#]+)", line.strip())
        if match:
            pins[match.group(1).lower()] = match.group(3)
    return pins


def test_the_gpu_route_installs_the_same_tensorflow_version_as_the_cpu_pins():
    cpu, gpu = _pins(ROOT / "requirements.txt"), _pins(ROOT / "requirements-gpu.txt")
    assert gpu == {"tensorflow": cpu["tensorflow-cpu"]}
    assert "tensorflow[and-cuda]==" in (ROOT / "requirements-gpu.txt").read_text(encoding="utf-8")
