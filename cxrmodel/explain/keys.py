"""The canonical JSON that cache keys are hashed from (explanations: cxrmodel.explain.cache; views:
cxrmodel.explain.views), so that equal content gives equal keys whatever types carry it."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import numpy as np


def canonical_json_default(value: object) -> object:
    """``json.dumps`` default of the keys (explanations here, study views in :mod:`cxrmodel.explain.views`): numpy
    values by their content, tuples and sets as lists, paths as text, dataclasses by their fields."""
    if isinstance(value, np.ndarray):
        array = np.ascontiguousarray(value)
        return {"array_sha256": hashlib.sha256(array.tobytes()).hexdigest(), "shape": list(array.shape),
                "dtype": str(array.dtype)}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (tuple, set, frozenset)):
        return sorted(value) if isinstance(value, (set, frozenset)) else list(value)
    if isinstance(value, Path):
        return str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {"type": type(value).__name__,
                **{item.name: getattr(value, item.name) for item in dataclasses.fields(value)}}
    raise TypeError(f"cannot use {type(value).__name__} in a cache key")
