"""Hostile inputs through both front doors: the Dash upload callback and `python -m cxrmodel explain`.

A corpus of damaged, disguised, oversized, undersized and exotic files (built here in their exact formats with
Pillow, pydicom and numpy; nothing is committed) plus hostile reports. Each one either gets a clear error that
says what to do, or, where the input is in fact valid, a correct result. After all of them the served app still
answers. Report text (patient data) never reaches the logs.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

pytest.importorskip("dash")
pytest.importorskip("keras")

from dash import no_update  # noqa: E402
from PIL import Image  # noqa: E402

from components.server.uploads import UploadStore, new_session_id  # noqa: E402
from components.session import SESSION_ID  # noqa: E402
from components.upload_panel import analyze_upload, report_file_to_text  # noqa: E402
from cxrmodel.cli.main import main as cli_main  # noqa: E402
from cxrmodel.inputs import DEFAULT_MAX_IMAGE_BYTES  # noqa: E402

VALID_REPORT = "Heart size is normal. No focal consolidation, effusion or pneumothorax."
PATIENT_REPORT = "Patient Zebulon Quartermaine, MRN 8675309: moderate left pleural effusion."

# ---------------------------------------------------------------------------------------------------------
# Builders: real files in their exact formats
# ---------------------------------------------------------------------------------------------------------


def _gradient(height: int = 96, width: int = 80) -> np.ndarray:
    rows, columns = np.mgrid[0:height, 0:width]
    return ((columns * 3 + rows * 2) % 256).astype(np.uint8)


def _noise(height: int = 160, width: int = 160) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (height, width), dtype=np.uint8)


def _save(image: Image.Image, image_format: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=image_format, **options)
    return buffer.getvalue()


def _png(array: np.ndarray, mode: str | None = None) -> bytes:
    image = Image.fromarray(array)
    return _save(image.convert(mode) if mode else image, "PNG")


def _chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def _chunks(png: bytes) -> list[tuple[int, bytes, int]]:
    """(offset, type, payload length) of every chunk of a PNG."""
    offset, found = 8, []
    while offset < len(png):
        (length,) = struct.unpack(">I", png[offset : offset + 4])
        found.append((offset, png[offset + 4 : offset + 8], length))
        offset += 12 + length
    return found


def _png_with_idat_crc_flipped() -> bytes:
    data = bytearray(_png(_noise()))
    offset, _kind, length = next(chunk for chunk in _chunks(bytes(data)) if chunk[1] == b"IDAT")
    data[offset + 8 + length + 3] ^= 0xFF
    return bytes(data)


def _png_with_garbage_idat() -> bytes:
    """IDAT bytes that are not a zlib stream, with a *correct* CRC (only decompression notices)."""
    data = _png(_noise())
    offset, _kind, length = next(chunk for chunk in _chunks(data) if chunk[1] == b"IDAT")
    garbage = np.random.default_rng(1).integers(0, 256, length, dtype=np.uint8).tobytes()
    return data[:offset] + _chunk(b"IDAT", garbage) + data[offset + 12 + length :]


def _png_claiming(width: int, height: int) -> bytes:
    """A 1x1 PNG whose IHDR (CRC recomputed) claims ``width`` x ``height``: a header-only decompression bomb."""
    data = _png(np.zeros((1, 1), np.uint8))
    offset, kind, length = _chunks(data)[0]
    assert kind == b"IHDR"
    ihdr = struct.pack(">II", width, height) + data[offset + 16 : offset + 8 + length]
    return data[:offset] + _chunk(b"IHDR", ihdr) + data[offset + 12 + length :]


def _png_bomb(side: int = 8000) -> bytes:
    """A genuine 8-bit gray PNG of ``side`` x ``side`` black pixels: 64 megapixels in a few hundred kB."""
    return _gray_png([bytes(side)] * side, side)


def _gray_png(rows: list[bytes], width: int) -> bytes:
    """An 8-bit gray PNG written chunk by chunk (fast zlib level 1) from raw rows of ``width`` bytes."""
    compressor = zlib.compressobj(1)
    idat = b"".join(compressor.compress(b"\x00" + row) for row in rows) + compressor.flush()
    ihdr = struct.pack(">IIBBBBB", width, len(rows), 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


def _huge_legal_png(side: int = 4000) -> bytes:
    """A legal 4000 x 4000 (16 megapixel) 8-bit film: under the 50-megapixel limit, so it must be accepted."""
    ramp = (np.arange(2 * side) // 16 % 256).astype(np.uint8).tobytes()
    return _gray_png([ramp[row // 4 : row // 4 + side] for row in range(side)], side)


def _rgba_png() -> bytes:
    rgba = np.dstack([_gradient(), _gradient()[::-1], _gradient()[:, ::-1], np.full((96, 80), 200, np.uint8)])
    return _png(rgba)


def _cmyk_jpeg() -> bytes:
    return _save(Image.fromarray(_gradient()).convert("CMYK"), "JPEG", quality=90)


def _dicom_dataset(stored: np.ndarray, photometric: str = "MONOCHROME2", bits_stored: int = 12):
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import DigitalXRayImageStorageForPresentation, ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = DigitalXRayImageStorageForPresentation
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    dataset = Dataset()
    dataset.file_meta = meta
    dataset.SOPClassUID = meta.MediaStorageSOPClassUID
    dataset.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    dataset.Modality = "DX"
    dataset.PatientName = "Hostile^Input"
    dataset.SamplesPerPixel = 1
    dataset.PhotometricInterpretation = photometric
    dataset.Rows, dataset.Columns = stored.shape
    dataset.BitsAllocated = 16
    dataset.BitsStored = bits_stored
    dataset.HighBit = bits_stored - 1
    dataset.PixelRepresentation = 0
    dataset.PixelData = stored.astype(np.uint16).tobytes()
    return dataset


def _dicom_bytes(dataset) -> bytes:
    buffer = io.BytesIO()
    dataset.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def _dicom_monochrome1() -> bytes:
    return _dicom_bytes(_dicom_dataset(_gradient().astype(np.uint16) * 16, "MONOCHROME1", 12))


def _dicom_rescaled_16bit() -> bytes:
    dataset = _dicom_dataset(_gradient().astype(np.uint16) * 257, "MONOCHROME2", 16)
    dataset.RescaleSlope = "0.5"
    dataset.RescaleIntercept = "-1024"
    dataset.RescaleType = "US"
    return _dicom_bytes(dataset)


def _dicom_without_pixels() -> bytes:
    dataset = _dicom_dataset(_gradient().astype(np.uint16))
    del dataset.PixelData
    return _dicom_bytes(dataset)


def _dicom_jpeg2000_garbage() -> bytes:
    from pydicom.encaps import encapsulate
    from pydicom.uid import JPEG2000

    dataset = _dicom_dataset(_gradient().astype(np.uint16))
    dataset.file_meta.TransferSyntaxUID = JPEG2000
    dataset.PixelData = encapsulate([b"\xff\x4f\xff\x51 this is not a JPEG 2000 codestream" * 8])
    dataset["PixelData"].VR = "OB"
    return _dicom_bytes(dataset)


def _dicom_truncated() -> bytes:
    data = _dicom_bytes(_dicom_dataset(_noise(200, 200).astype(np.uint16)))
    return data[: len(data) - 30_000]  # cut in the middle of the 80 kB of pixel data


def _dicom_without_preamble() -> bytes:
    data = _dicom_bytes(_dicom_dataset(_gradient().astype(np.uint16) * 16))
    assert data[128:132] == b"DICM"
    return data[132:]  # bare file meta + data set, as some old modalities write it


def _dicom_zero_rows() -> bytes:
    dataset = _dicom_dataset(_gradient().astype(np.uint16))
    dataset.Rows = 0
    return _dicom_bytes(dataset)


def _oversize_png() -> bytes:
    return b"\x89PNG\r\n\x1a\n" + bytes(DEFAULT_MAX_IMAGE_BYTES + 1024 * 1024)


def _openi_xml(findings: str | None, impression: str | None, prolog: str = "") -> bytes:
    sections = "".join(
        f'<AbstractText Label="{label}">{text}</AbstractText>'
        for label, text in (("FINDINGS", findings), ("IMPRESSION", impression))
        if text is not None
    )
    return (
        f'<?xml version="1.0" encoding="utf-8"?>{prolog}<eCitation><uId id="CXR9"/>'
        f"<MedlineCitation><Article><Abstract>{sections}</Abstract></Article></MedlineCitation>"
        "<MeSH><major>normal</major></MeSH></eCitation>"
    ).encode()


_BILLION_LAUGHS = (
    '<!DOCTYPE eCitation [<!ENTITY lol "lol">'
    + "".join(f'<!ENTITY lol{n} "{("&lol" + (str(n - 1) if n > 1 else "") + ";") * 10}">' for n in range(1, 10))
    + "]>"
)


def _billion_laughs_xml() -> bytes:
    return _openi_xml("&lol9;", "Normal.", prolog=_BILLION_LAUGHS)


def _external_entity_xml() -> bytes:
    return _openi_xml("&xxe;", "Normal.", prolog='<!DOCTYPE eCitation [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>')


# ---------------------------------------------------------------------------------------------------------
# The corpus
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Hostile:
    """One hostile input and what each front door must do with it.

    ``kind``: "image" (the file is the X-ray; the report is fine), "report" (typed into the textarea; the X-ray is
    fine) or "report-file" (an uploaded .txt/.xml report; the X-ray is fine). ``message``: a substring of the
    user-facing error when rejected. ``cli_message`` / ``cli_accepted``: where the CLI differs (None: the same).
    ``cli``: whether the CLI runs this case. ``size``: (width, height) of an accepted image.
    ``expected_report``: the report text an accepted report case must yield.
    """

    name: str
    filename: str
    kind: str
    make: Callable[[], bytes | str]
    accepted: bool
    message: str = ""
    cli_message: str | None = None
    cli_accepted: bool | None = None
    cli: bool = True
    size: tuple[int, int] | None = None
    expected_report: str | None = None

    def __str__(self) -> str:
        return self.name


NOT_AN_IMAGE = "not a PNG, JPEG or DICOM file"
CORRUPT = "Re-export or re-download the image"
GRADIENT_SIZE = (80, 96)  # width, height of _gradient()


def _oversize_by_one_byte() -> bytes:
    png = _png(_gradient())
    return png + bytes(DEFAULT_MAX_IMAGE_BYTES + 1 - len(png))  # a valid PNG; zeros after IEND are ignored


CORPUS: list[Hostile] = [
    # --- images -------------------------------------------------------------------------------------------
    Hostile("empty-file", "empty.png", "image", lambda: b"", False, "empty"),
    Hostile("three-bytes", "x.png", "image", lambda: b"\x89PN", False, NOT_AN_IMAGE),
    Hostile("truncated-png", "cut.png", "image", lambda: _png(_noise())[:9000], False, CORRUPT),
    Hostile("truncated-jpeg", "cut.jpg", "image", lambda: _save(Image.fromarray(_noise()), "JPEG")[:4000], False,
            CORRUPT),
    Hostile("png-idat-crc-flipped", "crc.png", "image", _png_with_idat_crc_flipped, False, "bad header checksum"),
    Hostile("png-idat-garbage", "zlib.png", "image", _png_with_garbage_idat, False, CORRUPT),
    Hostile("gif", "film.gif", "image", lambda: _save(Image.fromarray(_gradient()), "GIF"), False, NOT_AN_IMAGE),
    Hostile("tiff", "film.tif", "image", lambda: _save(Image.fromarray(_gradient()), "TIFF"), False, NOT_AN_IMAGE),
    Hostile("bmp", "film.bmp", "image", lambda: _save(Image.fromarray(_gradient()), "BMP"), False, NOT_AN_IMAGE),
    Hostile("pdf", "film.pdf", "image", lambda: b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n",
            False, NOT_AN_IMAGE),
    Hostile("text-named-png", "film.png", "image", lambda: b"Chest X-ray: see attached.\n", False, NOT_AN_IMAGE),
    Hostile("script-named-png", "<script>.png", "image", lambda: b"<script>alert(1)</script>", False, NOT_AN_IMAGE),
    Hostile("png-named-dcm", "film.dcm", "image", lambda: _png(_gradient()), True, size=GRADIENT_SIZE),
    Hostile("bomb-header-60000", "bomb.png", "image", lambda: _png_claiming(60000, 60000), False, "too large"),
    Hostile("bomb-deflate-8000", "bomb8k.png", "image", _png_bomb, False, "too large"),
    Hostile("png-1x1", "dot.png", "image", lambda: _png(np.zeros((1, 1), np.uint8)), False, "too small"),
    Hostile("png-16x16", "icon.png", "image", lambda: _png(_gradient(16, 16)), False, "too small"),
    Hostile("png-4000x4000", "huge.png", "image", _huge_legal_png, True, size=(4000, 4000)),
    Hostile("png-16-bit-gray", "deep.png", "image", lambda: _png(_gradient().astype(np.uint16) * 257), True,
            size=GRADIENT_SIZE),
    Hostile("png-rgba", "rgba.png", "image", _rgba_png, True, size=GRADIENT_SIZE),
    Hostile("png-palette", "palette.png", "image", lambda: _png(np.dstack([_gradient()] * 3), "P"), True,
            size=GRADIENT_SIZE),
    Hostile("png-gray-alpha", "la.png", "image", lambda: _png(_gradient(), "LA"), True, size=GRADIENT_SIZE),
    Hostile("jpeg-cmyk", "cmyk.jpg", "image", _cmyk_jpeg, True, size=GRADIENT_SIZE),
    # The upload cap is the dashboard's; the CLI reads local files and has only the pixel limits.
    Hostile("oversize-file", "big.png", "image", _oversize_png, False, "MB accepted: export it at a lower resolution",
            cli_message=CORRUPT),
    Hostile("oversize-by-one-byte", "big.png", "image", _oversize_by_one_byte, False,
            f"{DEFAULT_MAX_IMAGE_BYTES + 1:,} bytes, more than the", cli_accepted=True, size=GRADIENT_SIZE),
    Hostile("dicom-monochrome1", "mono1.dcm", "image", _dicom_monochrome1, True, size=GRADIENT_SIZE),
    Hostile("dicom-16-bit-rescaled", "mono2.dcm", "image", _dicom_rescaled_16bit, True, size=GRADIENT_SIZE),
    Hostile("dicom-no-pixel-data", "header.dcm", "image", _dicom_without_pixels, False, "no pixel data"),
    Hostile("dicom-jpeg2000-garbage", "j2k.dcm", "image", _dicom_jpeg2000_garbage, False,
            "exported uncompressed"),
    Hostile("dicom-truncated", "cut.dcm", "image", _dicom_truncated, False, "cut short in transfer"),
    Hostile("dicom-no-preamble", "bare.dcm", "image", _dicom_without_preamble, True, size=GRADIENT_SIZE),
    Hostile("dicom-zero-rows", "zero.dcm", "image", _dicom_zero_rows, False, "empty image"),
    # --- typed reports ------------------------------------------------------------------------------------
    Hostile("report-empty", "film.png", "report", lambda: "", False, "report is empty"),
    Hostile("report-whitespace", "film.png", "report", lambda: " \n\t \r\n ", False, "report is empty", cli=False),
    Hostile("report-1-mb", "film.png", "report", lambda: ("Mild cardiomegaly. " * 55_000)[:1_000_000], False,
            "more than the 20,000 accepted"),
    Hostile("report-script", "film.png", "report", lambda: "<script>alert(1)</script> No acute disease.", True,
            expected_report="<script>alert(1)</script> No acute disease."),
    Hostile("report-control-characters", "film.png", "report", lambda: "No\x00 acute\x07 disease.\x1b\r\nStable.",
            True, cli=False, expected_report="No  acute  disease. \nStable."),
    # --- report files -------------------------------------------------------------------------------------
    Hostile("report-file-cp1252", "report.txt", "report-file",
            lambda: "Heart size normal \u2013 no effusion. \u201cStable\u201d.".encode("cp1252"), True,
            expected_report="Heart size normal \u2013 no effusion. \u201cStable\u201d."),
    Hostile("report-file-invalid-utf8", "report.txt", "report-file", lambda: b"Lungs clear \x81\x8d\xc3( end.", True,
            cli=False, expected_report="Lungs clear \x81\x8d\xc3( end."),
    Hostile("report-file-utf16", "report.txt", "report-file", lambda: "No acute disease.".encode("utf-16"), True,
            cli=False, expected_report="No acute disease."),
    Hostile("report-file-empty", "report.txt", "report-file", lambda: b"", False, "is empty", cli=False),
    Hostile("report-file-1-mb", "report.txt", "report-file", lambda: b"Mild cardiomegaly. " * 55_000, False,
            "more than the 20,000 accepted", cli=False),
    Hostile("report-file-binary", "report.txt", "report-file", lambda: _png(_gradient()), False, "not a text file"),
    Hostile("report-file-billion-laughs", "report.xml", "report-file", _billion_laughs_xml, False, "DOCTYPE"),
    Hostile("report-file-external-entity", "report.xml", "report-file", _external_entity_xml, False, "DOCTYPE",
            cli=False),
    Hostile("report-file-malformed-xml", "report.xml", "report-file",
            lambda: b'<?xml version="1.0"?><eCitation><uId id="CXR1"/><Abstract>', False, "malformed XML"),
    Hostile("report-file-no-sections", "report.xml", "report-file", lambda: _openi_xml(None, None), False,
            "neither FINDINGS nor IMPRESSION", cli=False),
    Hostile("report-file-openi", "report.xml", "report-file", lambda: _openi_xml("Small left effusion.", "Effusion."),
            True, cli=False, expected_report="Small left effusion.\n\nEffusion."),
]
BY_NAME = {case.name: case for case in CORPUS}
REJECTED = [case for case in CORPUS if not case.accepted]
CLI_CASES = [case for case in CORPUS if case.cli]


def test_the_corpus_is_big_and_varied():
    assert len(CORPUS) >= 30 and len(BY_NAME) == len(CORPUS)
    assert sum(case.kind == "image" for case in CORPUS) >= 30
    assert {case.accepted for case in CORPUS} == {True, False}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> dict[str, tuple[Path, bytes | str]]:
    """Every input built once, each written as its own file (named as a user would have named it)."""
    root = tmp_path_factory.mktemp("hostile")
    built = {}
    for case in CORPUS:
        data = case.make()
        path = root / case.name / case.filename
        path.parent.mkdir()
        path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
        built[case.name] = (path, data)
    return built


@pytest.fixture(scope="module")
def valid_png(tmp_path_factory) -> tuple[Path, bytes]:
    data = _png(_gradient())
    path = tmp_path_factory.mktemp("valid") / "film.png"
    path.write_bytes(data)
    return path, data


def _data_url(data: bytes, kind: str = "application/octet-stream") -> str:
    return f"data:{kind};base64," + base64.b64encode(data).decode("ascii")


def _alert_text(alert) -> str:
    """The text a user sees in an alert (Dash renders it as text, never as HTML)."""
    assert alert is not None and alert is not no_update
    children = alert.children
    assert isinstance(children, str), children
    return children


# ---------------------------------------------------------------------------------------------------------
# (a) The Dash upload callback
# ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", CORPUS, ids=str)
def test_dash_upload_callback(case, corpus, valid_png, tmp_path):
    _path, data = corpus[case.name]
    store = UploadStore(tmp_path / "uploads")
    session = new_session_id()
    image, image_name, report = valid_png[1], "film.png", VALID_REPORT
    try:
        if case.kind == "image":
            image, image_name = data, case.filename
        elif case.kind == "report":
            report = data
        else:
            report, status = report_file_to_text(_data_url(data, "text/plain"), case.filename)
            if not case.accepted:
                assert report is no_update
                text = _alert_text(status)
                assert case.message in text and text.startswith("Report file not used: ")
                return
            assert status is None and report == case.expected_report
        options, value, status = analyze_upload(_data_url(image), image_name, report, session, [], store)
        if not case.accepted:
            assert options is no_update and value is no_update
            text = _alert_text(status)
            assert case.message in text and text.startswith("Upload not analyzed: ")
            assert "Traceback" not in text and "\n" not in text
            return
        assert status is None
        assert options == [{"label": f"Uploaded: {image_name}", "value": value}]
        stored = store.get(session, value)
        assert stored.image_bytes == image  # exactly the bytes uploaded
        if case.expected_report is not None:
            assert stored.report_text == case.expected_report  # e.g. <script> kept as literal text
    finally:
        store.close()


# ---------------------------------------------------------------------------------------------------------
# (b) The command line: python -m cxrmodel explain
# ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", CLI_CASES, ids=str)
def test_cli_explain(case, corpus, valid_png, tiny_bundle_directory, capsys):
    path, data = corpus[case.name]
    arguments = ["explain", "--model", str(tiny_bundle_directory), "--steps", "2", "--json"]
    if case.kind == "image":
        arguments += ["--image", str(path), "--report-text", VALID_REPORT]
    elif case.kind == "report":
        arguments += ["--image", str(valid_png[0]), "--report-text", data]
    else:
        arguments += ["--image", str(valid_png[0]), "--report", str(path)]
    status = cli_main(arguments)
    out, err = capsys.readouterr()
    accepted = case.accepted if case.cli_accepted is None else case.cli_accepted
    if not accepted:
        assert status == 2, out
        assert out == ""
        assert err.endswith("\n") and err.count("\n") == 1, err  # exactly one line
        assert err.startswith("error: ") and "Traceback" not in err
        assert (case.cli_message or case.message) in err
        return
    assert status == 0, err
    assert "Traceback" not in err
    document = json.loads(out)
    if document["judged"]:
        assert 0.0 <= document["probability"] <= 1.0
    else:
        # A film that is no chest film (a grey-level gradient may look like a lateral to the view check) is decoded
        # and checked, and its P withheld with the reason: never a traceback, never a P the model cannot back.
        assert document["probability"] is None and document["not_judged_reason"]
    if case.size is not None:
        assert document["image"] == {"width": case.size[0], "height": case.size[1]}
    if case.expected_report is not None:
        assert all(case.expected_report[w["start"] : w["end"]] == w["text"] for w in document["words"])
        assert document["words"]


# ---------------------------------------------------------------------------------------------------------
# (c) The served app: every rejected input through the real Dash endpoint, then the server still answers
# ---------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def served(tiny_bundle_directory, tiny_studies_directory, tmp_path_factory):
    import app as dashboard

    config = dashboard.AppConfig(tiny_bundle_directory, tiny_studies_directory, tmp_path_factory.mktemp("cache"))
    return dashboard.create_app(config).server.test_client()


def _callback(client, input_id: str) -> dict:
    """The registered callback triggered by ``input_id`` (from /_dash-dependencies, as the browser gets it)."""
    response = client.get("/_dash-dependencies")
    assert response.status_code == 200
    (callback,) = [item for item in json.loads(response.data) if item["inputs"][0]["id"] == input_id]
    return callback


def _post_callback(client, callback: dict, input_value, state_values: list) -> tuple[int, str]:
    """POST /_dash-update-component exactly as the Dash renderer does for ``callback``."""
    outputs = []
    for spec in callback["output"].strip(".").split("..."):
        component_id, component_property = spec.rsplit(".", 1)
        outputs.append({"id": component_id, "property": component_property})
    trigger = callback["inputs"][0]
    body = {
        "output": callback["output"],
        "outputs": outputs,
        "inputs": [{**trigger, "value": input_value}],
        "state": [{**spec, "value": value} for spec, value in zip(callback["state"], state_values, strict=False)],
        "changedPropIds": [f"{trigger['id']}.{trigger['property']}"],
    }
    response = client.post("/_dash-update-component", json=body)
    return response.status_code, response.get_data(as_text=True)


def test_served_app_answers_every_rejected_input_and_keeps_serving(served, corpus, valid_png):
    analyze = _callback(served, "analyze")
    assert [f"{s['id']}.{s['property']}" for s in analyze["state"]] == [
        "upload-image.contents", "upload-image.filename", "report-text.value", f"{SESSION_ID}.data",
        "study-picker.options"]
    load_report = _callback(served, "upload-report")
    session = new_session_id()
    for case in REJECTED:
        _path, data = corpus[case.name]
        if case.kind == "report-file":
            status, text = _post_callback(served, load_report, _data_url(data, "text/plain"), [case.filename])
        else:
            image, name, report = (data, case.filename, VALID_REPORT) if case.kind == "image" else (
                valid_png[1], "film.png", data)
            status, text = _post_callback(served, analyze, 1, [_data_url(image), name, report, session, []])
        assert status == 200, (case.name, text[:500])
        assert "Traceback" not in text
        updated = json.loads(text)["response"]
        assert set(updated) == {"upload-status"}, case.name  # the alert only: picker and textarea untouched
        assert case.message in json.dumps(updated["upload-status"]["children"]), case.name

    # Still serving: the page, its layout, and a valid upload afterwards.
    assert served.get("/").status_code == 200
    assert served.get("/_dash-layout").status_code == 200
    status, text = _post_callback(served, analyze, 2, [_data_url(valid_png[1]), "film.png", VALID_REPORT, session, []])
    assert status == 200
    updated = json.loads(text)["response"]
    assert updated["study-picker"]["value"].startswith("upload-")
    assert updated["upload-status"]["children"] is None


# ---------------------------------------------------------------------------------------------------------
# (d) No patient data in the logs
# ---------------------------------------------------------------------------------------------------------


def test_report_text_never_reaches_the_logs(valid_png, tiny_bundle_directory, tmp_path, caplog, capsys):
    caplog.set_level(logging.DEBUG)
    store = UploadStore(tmp_path / "uploads")
    session = new_session_id()
    try:
        _options, upload_id, status = analyze_upload(
            _data_url(valid_png[1]), "film.png", PATIENT_REPORT, session, [], store)
        assert status is None and store.get(session, upload_id).report_text == PATIENT_REPORT
        rejected = analyze_upload(_data_url(b"GIF89a"), "film.gif", PATIENT_REPORT, session, [], store)
        assert rejected[0] is no_update
    finally:
        store.close()
    report = tmp_path / "report.txt"
    report.write_text(PATIENT_REPORT, encoding="utf-8")
    assert cli_main(["-v", "explain", "--model", str(tiny_bundle_directory), "--image", str(valid_png[0]),
                     "--report", str(report), "--steps", "2", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["words"]
    assert caplog.records  # the log was captured (uploads log their size and id)
    for secret in ("Zebulon", "Quartermaine", "8675309", "pleural effusion"):
        assert secret not in caplog.text
        assert not any(secret in record.getMessage() for record in caplog.records)
