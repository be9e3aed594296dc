"""The per-session upload store: an upload is stored under its session and invisible to every other session."""

from __future__ import annotations

import io
import time

import numpy as np
import pytest
from PIL import Image

from components.server.uploads import UPLOAD_ID_PREFIX, UploadStore, is_upload_id, new_session_id
from cxrmodel.inputs import UploadError, validate_upload


def _png(width: int = 64, height: int = 80) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.linspace(0, 255, width * height, dtype=np.uint8).reshape(height, width)).save(buffer, "PNG")
    return buffer.getvalue()


def test_an_upload_is_visible_only_to_its_own_session(tmp_path):
    store = UploadStore(tmp_path / "uploads")
    alice, bob = new_session_id(), new_session_id()
    upload_id = store.add(alice, validate_upload(_png(), "No acute disease."))
    assert upload_id.startswith(UPLOAD_ID_PREFIX) and is_upload_id(upload_id)
    assert store.get(alice, upload_id).report_text == "No acute disease."
    assert store.get(bob, upload_id) is None
    assert store.get(None, upload_id) is None
    assert store.get(alice, "upload-guessed-id-0000000000") is None
    # Another process (a second server worker) sees it through the same directory.
    assert UploadStore(tmp_path / "uploads").get(alice, upload_id).image_bytes == _png()


def test_upload_ids_are_unguessable_and_distinct(tmp_path):
    store = UploadStore(tmp_path / "uploads")
    session = new_session_id()
    ids = {store.add(session, validate_upload(_png(), "r")) for _ in range(20)}
    assert len(ids) == 20
    assert all(len(upload_id) - len(UPLOAD_ID_PREFIX) >= 21 for upload_id in ids)  # 128 bits in base64url


def test_expired_uploads_are_gone(tmp_path):
    store = UploadStore(tmp_path / "uploads", max_age_seconds=0.01)
    session = new_session_id()
    upload_id = store.add(session, validate_upload(_png(), "r"))
    time.sleep(0.05)
    assert store.get(session, upload_id) is None


def test_a_session_is_required_to_store(tmp_path):
    with pytest.raises(UploadError, match="reload the page"):
        UploadStore(tmp_path / "uploads").add("", validate_upload(_png(), "r"))
