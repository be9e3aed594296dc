"""Uploads validated at the boundary with actionable messages (the per-session store: tests/components)."""

from __future__ import annotations

import base64
import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cxrmodel.inputs import (
    UploadError,
    clean_report_text,
    decode_data_url,
    decode_text_bytes,
    report_from_file,
    validate_upload,
)

OPENI_XML = b"""<?xml version="1.0" encoding="utf-8"?>
<eCitation><uId id="CXR77"/><MeSH><major>normal</major></MeSH>
<Abstract><AbstractText Label="FINDINGS">The lungs are clear.</AbstractText>
<AbstractText Label="IMPRESSION">No acute disease.</AbstractText></Abstract></eCitation>"""


def _png(width: int = 64, height: int = 80) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.linspace(0, 255, width * height, dtype=np.uint8).reshape(height, width)).save(buffer, "PNG")
    return buffer.getvalue()


def test_valid_upload_keeps_the_exact_bytes_and_a_clean_report():
    image = _png()
    study = validate_upload(image, "Heart size normal.\r\nNo effusion.\x07", "C:\\films\\chest film.png")
    assert study.image_bytes == image
    assert study.report_text == "Heart size normal.\nNo effusion. "
    assert study.filename == "chest film.png"


@pytest.mark.parametrize(
    ("image", "report", "message"),
    [
        (b"", "text", "no X-ray file"),
        (b"GIF89a" + bytes(100), "text", "cannot be used"),
        (_png()[:60], "text", "cannot be used"),
        (_png(), "", "report is empty"),
        (_png(), "   \n\t", "report is empty"),
        (_png(), "x" * 20_001, "20,001 characters"),
    ],
)
def test_bad_uploads_are_rejected_with_a_message_saying_what_to_do(image, report, message):
    with pytest.raises(UploadError, match=message):
        validate_upload(image, report)


def test_size_cap_is_checked_before_decoding():
    with pytest.raises(UploadError, match="more than the 1 MB accepted"):
        validate_upload(_png() + bytes(1_100_000), "report", max_image_bytes=1_000_000)


def test_data_urls_from_the_browser_decode_and_garbage_is_refused():
    payload = base64.b64encode(b"hello").decode()
    assert decode_data_url(f"data:text/plain;base64,{payload}", "report file") == b"hello"
    for bad in ("hello", "data:text/plain,hello", "data:image/png;base64,@@@"):
        with pytest.raises(UploadError):
            decode_data_url(bad, "X-ray file")


def test_report_files_decode_utf8_windows_1252_and_never_lose_a_byte():
    assert decode_text_bytes("Pleural effusion — left".encode("utf-8")) == "Pleural effusion — left"
    assert decode_text_bytes("\ufeffclear".encode("utf-8")) == "clear"
    assert decode_text_bytes("caf\xe9".encode("cp1252")) == "café"
    undecodable = bytes([0x81, 0x8D, 0x8F, 0x90, 0x9D])  # undefined in cp1252
    assert decode_text_bytes(undecodable).encode("latin-1") == undecodable


def test_openi_xml_report_file_gives_findings_then_impression():
    text = report_from_file("report.xml", OPENI_XML)
    assert text.index("lungs are clear") < text.index("No acute disease")
    with pytest.raises(UploadError, match="malformed XML"):
        report_from_file("report.xml", b"<eCitation><broken>")


def test_control_characters_are_neutralised_but_script_tags_stay_text():
    text = clean_report_text("<script>alert(1)</script>\x00 no pneumothorax")
    assert "<script>" in text and "\x00" not in text


def test_boundary_validation_keeps_no_web_session_state():
    """Storing uploads per browser session is the dashboard's (components.server.uploads), not cxrmodel's."""
    script = ("import sys, cxrmodel.inputs as inputs; "
              "print('diskcache' in sys.modules, hasattr(inputs, 'UploadStore'), hasattr(inputs, 'new_session_id'))")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                            cwd=Path(__file__).resolve().parents[2])
    assert result.stdout.split() == ["False", "False", "False"]
