"""The store of rendered study views (cxrmodel.explain.views): records checked on every read, a corrupt one
deleted and reported absent, views dropped with the explanation they were drawn from, keys covering every part."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from cxrmodel.explain.cache import ExplanationCache
from cxrmodel.explain.views import StudyViewStore, decode_record, encode_record, view_key
from tests.cxrmodel.test_cache import _attribution


def test_a_payload_comes_back_as_stored_and_a_corrupt_one_is_deleted(tmp_path, caplog):
    store = StudyViewStore(tmp_path / "views")
    store.put("a", b"\x00drawn once", attribution_key="explanation-1")
    store.put_json("b", {"outputs": {"report_text": "Clear lungs."}}, attribution_key="explanation-1")
    assert store.get("a") == b"\x00drawn once" and store.get_json("b") == {"outputs": {"report_text": "Clear lungs."}}
    record = bytearray(store._cache.get("a"))
    record[-1] ^= 0x01
    store._cache.set("a", bytes(record))
    assert store.get("a") is None and "a" not in store  # never served, and gone
    assert "deleting corrupt study view a" in caplog.text
    store.put("c", b"{not json", attribution_key="explanation-1")
    assert store.get_json("c") is None and "c" not in store
    assert decode_record(encode_record(b"x")) == b"x"
    assert decode_record(b"CXRIG\x00\x01\n" + bytes(40)) is None and decode_record(None) is None
    assert store.get("never stored") is None


def test_views_go_with_the_explanation_they_were_drawn_from(tmp_path):
    cache = ExplanationCache(tmp_path / "explanations")
    cache.put("explanation-1", _attribution(1))
    cache.put("explanation-2", _attribution(2))
    cache.views.put("view-of-1", b"one", "explanation-1")
    cache.views.put("overlay-of-1", b"png", "explanation-1")
    cache.views.put("view-of-2", b"two", "explanation-2")
    cache.put("explanation-1", _attribution(1))  # stored again (its evidence landed, or it was recomputed)
    assert "view-of-1" not in cache.views and "overlay-of-1" not in cache.views
    assert cache.views.get("view-of-2") == b"two"
    # A corrupt explanation record takes its views with it.
    cache._cache.set("explanation-2", b"garbage")
    assert cache.get("explanation-2") is None and "view-of-2" not in cache.views
    # The views live inside the cache folder, and a cache reopened on it sees them.
    cache.views.put("view-of-3", b"three", "explanation-3")
    cache.close()
    assert (tmp_path / "explanations" / "views").is_dir()
    assert ExplanationCache(tmp_path / "explanations").views.get("view-of-3") == b"three"


@dataclass(frozen=True)
class _Profile:
    limits: np.ndarray


def test_a_view_key_changes_with_every_part():
    parts = {"study": "CXR2", "settings": {"sight_sensitivity": 0.7}, "profile": _Profile(np.zeros(3))}
    key = view_key("explanation-1", parts)
    assert key == view_key("explanation-1", dict(parts)) and len(key) == 64
    assert key != view_key("explanation-2", parts)
    assert key != view_key("explanation-1", {**parts, "study": "CXR3"})
    assert key != view_key("explanation-1", {**parts, "settings": {"sight_sensitivity": 0.68}})
    assert key != view_key("explanation-1", {**parts, "profile": _Profile(np.ones(3))})
    with pytest.raises(TypeError):
        view_key("explanation-1", {"unknown": object()})
    with pytest.raises(ValueError):
        StudyViewStore("/tmp/never-made", size_limit=0)
