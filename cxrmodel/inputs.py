"""Studies uploaded through the dashboard, validated at the boundary before anything else sees them.

An uploaded study is an X-ray file (PNG, JPEG or DICOM) plus its report (typed, or read from a ``.txt`` or an
OpenI ``.xml`` file). :func:`validate_upload` turns raw upload bytes into an :class:`UploadedStudy` or raises
:class:`UploadError` whose message says what is wrong and what to do; ``python -m cxrmodel explain`` reads
report files through the same checks. Keeping accepted uploads per browser session is the dashboard's job
(``components.server.uploads``), not this module's.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import os
import re
import time
from dataclasses import dataclass

from cxrmodel.data.openi import parse_openi_xml
from cxrmodel.imaging import ImageDecodeError, decode_image

DEFAULT_MAX_IMAGE_BYTES = 20 * 1024 * 1024
"""Largest accepted X-ray file, bytes (20 MB)."""

DEFAULT_MAX_REPORT_CHARACTERS = 20_000
"""Longest accepted report, characters (a long radiology report is ~3,000)."""

# Control characters other than tab, newline and carriage return.
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class UploadError(ValueError):
    """An upload was rejected; the message names the problem and what the user can do."""


@dataclass(frozen=True)
class UploadedStudy:
    """One accepted upload.

    Attributes:
        image_bytes: The X-ray file exactly as uploaded.
        report_text: The report after validation (see :func:`clean_report_text`).
        filename: The image's file name as the browser gave it (display only; never used as a path).
        created: Unix time of the upload, seconds.
    """

    image_bytes: bytes
    report_text: str
    filename: str
    created: float


def decode_data_url(contents: str, what: str) -> bytes:
    """The bytes of a ``data:<type>;base64,<payload>`` URL (what dcc.Upload gives a callback).

    Raises:
        UploadError: not a base64 data URL.
    """
    if not isinstance(contents, str) or "," not in contents or not contents.startswith("data:"):
        raise UploadError(f"the {what} did not arrive as a file; choose the file again")
    header, payload = contents.split(",", 1)
    if ";base64" not in header:
        raise UploadError(f"the {what} did not arrive base64-encoded; choose the file again")
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError) as error:
        raise UploadError(f"the {what} arrived damaged ({error}); choose the file again") from error


def decode_text_bytes(data: bytes) -> str:
    """Report file bytes as text: UTF-16/32 with a BOM (Windows "Unicode" text), else UTF-8 (with or without
    BOM), else Windows-1252, else Latin-1.

    Latin-1 maps every byte to a character, so the fallback never fails and never drops a byte.
    """
    for bom, encoding in ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
                          (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16")):
        if data.startswith(bom):
            try:
                return data.decode(encoding)
            except UnicodeDecodeError:
                break
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")


def clean_report_text(text: str | None, max_characters: int = DEFAULT_MAX_REPORT_CHARACTERS) -> str:
    """Validate a report: not empty, not too long; control characters become spaces, line ends become ``\\n``.

    Raises:
        UploadError: empty (or only whitespace) or longer than ``max_characters``.
    """
    text = (text or "").replace("\r\n", "\n").replace("\r", "\n")
    text = _CONTROL_CHARACTERS.sub(" ", text)
    if not text.strip():
        raise UploadError("the report is empty: type or paste the report, or upload it as a .txt or OpenI .xml file")
    if len(text) > max_characters:
        raise UploadError(
            f"the report has {len(text):,} characters, more than the {max_characters:,} accepted; "
            "paste only the findings and impression"
        )
    return text


def report_from_file(
    filename: str | None, data: bytes, max_characters: int = DEFAULT_MAX_REPORT_CHARACTERS
) -> str:
    """The report text of an uploaded ``.txt`` file or OpenI ``.xml`` file (FINDINGS then IMPRESSION).

    Raises:
        UploadError: an empty or binary (not text) file, a text longer than ``max_characters``, an unreadable
            XML file (or one with a DOCTYPE), or an OpenI XML file with neither findings nor impression.
    """
    shown = os.path.basename((filename or "the report file").replace("\\", "/"))[:120] or "the report file"
    if not data.strip():
        raise UploadError(f"{shown} is empty: upload the report as a .txt or OpenI .xml file, or type it in")
    name = (filename or "").lower()
    looks_like_xml = name.endswith(".xml") or data.lstrip()[:5] in (b"<?xml", b"<eCit")
    if not looks_like_xml:
        text = decode_text_bytes(data)
        if "\x00" in text:
            raise UploadError(
                f"{shown} is not a text file (it holds binary data, such as an image or a word-processor "
                "document): save the report as plain text (.txt) and upload that, or paste it"
            )
    else:
        try:
            study = parse_openi_xml(data, source=shown)
        except ValueError as error:
            raise UploadError(f"{error}; upload an OpenI report XML or a plain .txt file") from error
        text = study.report_text
        if not text.strip():
            raise UploadError(f"{shown}: the report has neither FINDINGS nor IMPRESSION text")
    if len(text) > max_characters:
        raise UploadError(
            f"{shown} has {len(text):,} characters, more than the {max_characters:,} accepted; "
            "upload only the findings and impression"
        )
    return text


def validate_upload(
    image_bytes: bytes,
    report_text: str | None,
    filename: str | None = None,
    *,
    max_image_bytes: int = DEFAULT_MAX_IMAGE_BYTES,
    max_report_characters: int = DEFAULT_MAX_REPORT_CHARACTERS,
) -> UploadedStudy:
    """Check an X-ray file and its report before anything else sees them.

    The image must decode (format from magic bytes, dimension and decompression-bomb limits, see
    :func:`cxrmodel.imaging.decode.decode_image`) and be at most ``max_image_bytes``.

    Raises:
        UploadError: the first problem found, with what to do about it.
    """
    if not image_bytes:
        raise UploadError("no X-ray file was uploaded (or it is empty): choose a PNG, JPEG or DICOM file")
    if len(image_bytes) > max_image_bytes:
        size, limit = f"{len(image_bytes) / 1e6:.1f} MB", f"{max_image_bytes / 1e6:.0f} MB"
        if round(len(image_bytes) / 1e6, 1) <= round(max_image_bytes / 1e6):  # rounding would hide the excess
            size, limit = f"{len(image_bytes):,} bytes", f"{limit} ({max_image_bytes:,} bytes)"
        raise UploadError(
            f"the X-ray file is {size}, more than the {limit} accepted: export it at a lower resolution or as "
            "compressed PNG/JPEG"
        )
    try:
        decode_image(image_bytes)
    except ImageDecodeError as error:
        raise UploadError(f"the X-ray file cannot be used: {error}") from error
    report = clean_report_text(report_text, max_report_characters)
    display_name = os.path.basename((filename or "uploaded image").replace("\\", "/"))[:120] or "uploaded image"
    return UploadedStudy(image_bytes=bytes(image_bytes), report_text=report, filename=display_name, created=time.time())

