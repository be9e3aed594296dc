"""The upload form's logic: a valid upload becomes this session's study; a bad one is an alert and changes nothing."""

from __future__ import annotations

import base64
import io
import json

import numpy as np
from dash import no_update
from PIL import Image

from components.server.uploads import UploadStore, new_session_id
from components.upload_panel import UPLOADED_LABEL_PREFIX, analyze_upload, report_file_to_text


def _data_url(data: bytes, kind: str = "image/png") -> str:
    return f"data:{kind};base64," + base64.b64encode(data).decode()


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.full((90, 70), 128, np.uint8)).save(buffer, "PNG")
    return buffer.getvalue()


def _text(component) -> str:
    return json.dumps(component.to_plotly_json(), default=str)


def test_analyze_adds_the_upload_to_the_picker_and_selects_it(tmp_path):
    store = UploadStore(tmp_path)
    session = new_session_id()
    bundled = [{"label": "CXR1 — normal", "value": "CXR1"}]
    options, value, status = analyze_upload(_data_url(_png()), "film.png", "No acute disease.", session, bundled, store)
    assert status is None
    assert options[0] == {"label": f"{UPLOADED_LABEL_PREFIX}film.png", "value": value}
    assert options[1:] == bundled
    assert store.get(session, value).report_text == "No acute disease."
    assert store.get(new_session_id(), value) is None


def test_rejected_uploads_change_nothing_and_say_what_to_do(tmp_path):
    store = UploadStore(tmp_path)
    session = new_session_id()
    cases = [
        (None, "report", "choose an X-ray file"),
        (_data_url(b"not an image at all" * 10), "report", "cannot be used"),
        (_data_url(_png()), "", "report is empty"),
        ("garbage", "report", "did not arrive as a file"),
    ]
    for contents, report, message in cases:
        options, value, status = analyze_upload(contents, "x.png", report, session, [], store)
        assert options is no_update and value is no_update
        assert message in _text(status)


def test_a_report_file_fills_the_textarea():
    xml = (b'<?xml version="1.0"?><eCitation><uId id="CXR5"/><Abstract>'
           b'<AbstractText Label="FINDINGS">Small left effusion.</AbstractText>'
           b'<AbstractText Label="IMPRESSION">Effusion.</AbstractText></Abstract></eCitation>')
    text, status = report_file_to_text(_data_url(xml, "text/xml"), "5.xml")
    assert "Small left effusion." in text and status is None
    text, status = report_file_to_text(_data_url("Heart normal.".encode()), "r.txt")
    assert text == "Heart normal."
    text, status = report_file_to_text(_data_url(b"<eCitation><oops>", "text/xml"), "bad.xml")
    assert text is no_update and "malformed XML" in _text(status)


def test_the_size_cap_is_configurable(tmp_path):
    store = UploadStore(tmp_path)
    image = _png()
    options, value, status = analyze_upload(_data_url(image), "film.png", "Report.", new_session_id(), [], store,
                                            max_image_bytes=len(image) - 1)
    assert value is no_update and "more than the" in _text(status)
    options, value, status = analyze_upload(_data_url(image), "film.png", "Report.", new_session_id(), [], store,
                                            max_image_bytes=len(image))
    assert status is None and value.startswith("upload-")
