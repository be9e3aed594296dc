"""Explanation cache: bit-identical round trips, restarts, corrupt entries recomputed, keys that change."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cxrmodel.explain.cache import ExplanationCache, decode_attribution, encode_attribution, explanation_key
from cxrmodel.explain.results import Completeness, StudyAttribution

SETTINGS = {"steps": "auto", "method": "gausslegendre", "image_baseline": "black", "target_error": 0.01}


def _attribution(seed: int = 0) -> StudyAttribution:
    random = np.random.default_rng(seed)
    return StudyAttribution(
        probability=0.8123456789012345,
        baseline_probability=0.25,
        image_attribution=random.normal(size=(64, 64)).astype(np.float32),
        token_attribution=random.normal(size=12).astype(np.float32),
        token_share=random.random(12).astype(np.float32),
        completeness=Completeness(expected=0.5623456789012345, sum=0.56, relative_error=0.004, steps=14,
                                  method="gausslegendre", converged=True, absolute_error=0.0023, evaluated_points=16,
                                  batches=1),
        modality_share={"image": 0.7, "text": float("nan")},
    )


class _Counter:
    """A compute callback that counts its calls."""

    def __init__(self, attribution: StudyAttribution) -> None:
        self.attribution, self.calls = attribution, 0

    def __call__(self) -> StudyAttribution:
        self.calls += 1
        return self.attribution


def _assert_identical(first: StudyAttribution, second: StudyAttribution) -> None:
    for name in ("image_attribution", "token_attribution", "token_share"):
        a, b = getattr(first, name), getattr(second, name)
        assert a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()
    assert first.probability == second.probability and first.baseline_probability == second.baseline_probability
    assert first.completeness == second.completeness
    assert first.modality_share["image"] == second.modality_share["image"]
    assert math.isnan(second.modality_share["text"])


def _key(**changes) -> str:
    arguments = {"image_bytes": b"\x89PNG fake image", "report_text": "No acute disease.",
                 "model_fingerprint": "0123456789abcdef", "settings": SETTINGS}
    arguments.update(changes)
    return explanation_key(**arguments)


def test_cached_result_is_bit_identical_and_survives_a_new_cache_object(tmp_path):
    compute = _Counter(_attribution())
    with ExplanationCache(tmp_path / "cache") as cache:
        first, cached = cache.get_or_compute(_key(), compute)
        assert not cached and compute.calls == 1
        second, cached = cache.get_or_compute(_key(), compute)
        assert cached and compute.calls == 1
        _assert_identical(first, second)
    with ExplanationCache(tmp_path / "cache") as reopened:  # e.g. after a restart
        third, cached = reopened.get_or_compute(_key(), compute)
    assert cached and compute.calls == 1
    _assert_identical(first, third)


def _stored_files(directory):
    return [path for path in directory.rglob("*.val")]


@pytest.mark.parametrize("damage", ["flip_one_byte", "truncate", "garbage"])
def test_corrupted_entry_is_deleted_and_recomputed_not_served(tmp_path, damage):
    good = _attribution(0)
    directory = tmp_path / "cache"
    with ExplanationCache(directory) as cache:
        cache.get_or_compute(_key(), _Counter(good))
    (stored,) = _stored_files(directory)
    data = bytearray(stored.read_bytes())
    if damage == "flip_one_byte":
        data[len(data) // 2] ^= 0x01
    elif damage == "truncate":
        data = data[: len(data) // 3]
    else:
        data = bytearray(b"not an explanation at all")
    stored.write_bytes(bytes(data))

    replacement = _attribution(1)
    compute = _Counter(replacement)
    with ExplanationCache(directory) as cache:
        result, cached = cache.get_or_compute(_key(), compute)
        assert not cached and compute.calls == 1
        _assert_identical(replacement, result)
        again, cached = cache.get_or_compute(_key(), compute)  # the recomputed entry is stored intact
        assert cached and compute.calls == 1
        _assert_identical(replacement, again)


def test_a_checksummed_but_undecodable_record_is_rejected():
    import hashlib

    from cxrmodel.explain.cache import MAGIC, CorruptEntryError

    payload = b"PK\x03\x04 this is no npz archive"
    with pytest.raises(CorruptEntryError, match="cannot be decoded"):
        decode_attribution(MAGIC + hashlib.sha256(payload).digest() + payload)
    record = encode_attribution(_attribution())
    _assert_identical(_attribution(), decode_attribution(record))


def test_keys_change_with_every_input_and_setting():
    keys = {
        _key(),
        _key(image_bytes=b"\x89PNG other image"),
        _key(report_text="No acute disease. "),
        _key(model_fingerprint="fedcba9876543210"),
        _key(settings={**SETTINGS, "steps": 64}),
        _key(settings={**SETTINGS, "method": "riemann_midpoint"}),
        _key(settings={**SETTINGS, "image_baseline": "blur"}),
        _key(settings={**SETTINGS, "mean_image": np.zeros((4, 4), np.float32)}),
    }
    assert len(keys) == 8 and all(len(key) == 64 for key in keys)
    assert _key() == _key(settings=dict(reversed(list(SETTINGS.items()))))  # key order does not matter


def test_size_is_bounded(tmp_path):
    limit = 400_000  # about 20 records of 18 kB next to the 32 kB index
    with ExplanationCache(tmp_path / "small", size_limit=limit) as cache:
        for seed in range(40):
            cache.put(_key(report_text=f"report {seed}"), _attribution(seed))
            assert cache.volume() <= limit  # diskcache evicts (up to 10 least recently used) after each write
        assert cache.size_limit == limit and 0 < len(cache) < 40
        assert _key(report_text="report 39") in cache and _key(report_text="report 0") not in cache


def test_the_deletion_evidence_is_stored_with_the_attribution(tmp_path):
    import dataclasses
    import json

    evidence = {"reference": "mean", "probability": 0.9, "log_odds": 2.197, "link_distance": 7.143, "min_points": 2,
                "smoothing": 2.0, "removal": "imputation", "version": 2,
                "regions": [{"threshold": 0.7, "circles": 1, "probability": 0.5, "random_probability": 0.88,
                             "log_odds": 0.0, "random_log_odds": 1.99, "area_fraction": 0.01}],
                "words": [{"k": 1, "probability": 0.4, "random_probability": 0.89, "log_odds": -0.405,
                           "random_log_odds": 2.09, "slots": [3]}],
                "modality": {"image_removed": 0.8, "report_removed": 0.2, "both_removed": 0.1},
                "modality_log_odds": {"image_removed": 1.386, "report_removed": -1.386, "both_removed": -2.197},
                "placements": 5, "forward_passes": 20}
    attribution = dataclasses.replace(_attribution(), evidence=evidence)
    with ExplanationCache(tmp_path) as cache:
        cache.put("key", attribution)
    with ExplanationCache(tmp_path) as cache:
        again = cache.get("key")
    assert json.dumps(again.evidence, sort_keys=True) == json.dumps(evidence, sort_keys=True)
    assert decode_attribution(encode_attribution(_attribution())).evidence is None
