"""Shared fixtures: tiny, fast, deterministic models and studies (no test trains for more than a few seconds)."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "-1")
