"""What the model worker and its clients agree on: routes, limits, and the JSON bodies (standard library only).

The transport is plain HTTP/1.1 on 127.0.0.1 (served by Werkzeug, already pinned for the dashboard; clients use
:mod:`http.client`). A request body is one JSON object::

    {"image_base64": "<the image file's bytes, base64>", "report": "<text>"}        # or
    {"image_base64": "...", "report_base64": "<report file bytes, any encoding>"}    # read as an upload is

plus, for ``/explain``, an optional ``"request_id"`` (letters, digits, ``-``, ``_``; at most 64) under which the
worker reports progress at ``GET /progress/<request_id>``, an optional ``"evidence"`` (``"none"``, ``"current"``
or ``"all"``, default ``"all"``: which deletion evidence to compute with the attribution, see
:data:`cxrmodel.explain.evidence.EVIDENCE_SCOPES`) and ``"sight_sensitivity"`` (the tau of ``"current"``, 0-1;
default the bundle's), and for both an optional ``"shown_anyway": true``: the
reader pressed Show anyway for this study. The answers carry the study's disclosure
(:class:`cxrmodel.explain.disclosure.Disclosure`): ``"judged"``, ``"not_judged_reason"`` and ``"shown_anyway"``;
for a film the model cannot judge, ``probability``, ``calibrated_probability`` and ``label`` are null unless the
request says shown anyway (a lateral view: always null). Every answer is a JSON object; errors are
``{"error": "<a sentence for a person>"}`` with status 400 (bad input), 413 (too large), 503 (busy: the queue
is full) or 500 (the worker failed; the traceback stays in the worker's log).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import NamedTuple

HEALTH_PATH = "/health"
PREDICT_PATH = "/predict"
EXPLAIN_PATH = "/explain"
PROGRESS_PATH = "/progress/"

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8061
DEFAULT_MAX_PENDING = 8
"""Requests admitted at once (computing or waiting for a turn); one more is answered 503 "busy" at once."""
DEFAULT_EXPLAIN_CONCURRENCY = 1
"""Explanations computed at once inside the worker (each uses every core); admitted others wait their turn."""
MAX_REQUEST_BYTES = 32 * 1024 * 1024
"""Largest request body: a 20 MiB X-ray (the upload limit) is ~27 MiB in base64."""
MAX_EXPLAIN_REPORT_CHARACTERS = 100_000
"""Longest report ``/explain`` accepts (``/predict`` checks a report as an upload: 20,000 characters)."""

EVIDENCE_SCOPES = ("none", "current", "all")
"""``/explain``'s ``"evidence"`` values (the same as :data:`cxrmodel.explain.evidence.EVIDENCE_SCOPES`; repeated
here so that the protocol stays standard-library only, and checked equal by a test)."""

ABANDONED_MESSAGE = "the explanation was abandoned: its client stopped asking for its progress"
"""The 400 answer to an explanation whose client stopped polling its progress (it was cancelled); a client that
is still there gets it only after a stall of its own, and asks again (what was cached meanwhile is kept)."""

GAVE_WAY_MESSAGE = "the evidence at every threshold gave way to another study: ask again"
"""The 400 answer to an ``"evidence": "all"`` request that gave way to another study's request (it computes as the
warm-up does, when nothing else waits); its client asks again, and waits for the next free turn."""

_REQUEST_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class WorkerInputError(ValueError):
    """A request the worker cannot use; the message says what is wrong (answered with status 400)."""


class WorkerRequest(NamedTuple):
    """A decoded ``/predict`` or ``/explain`` request.

    Attributes:
        image_bytes: The image file's bytes.
        report: The report text, or a report file's bytes (decoded by the worker as an upload is).
        request_id: Name for ``/explain``'s progress, or None.
        shown_anyway: The reader pressed Show anyway for this study: the answer carries a withheld film's numbers.
        evidence: Which deletion evidence ``/explain`` computes: one of :data:`EVIDENCE_SCOPES`.
        sight_sensitivity: The tau whose circles ``"current"`` evidence removes; None = the bundle's default.
    """

    image_bytes: bytes
    report: str | bytes
    request_id: str | None
    shown_anyway: bool = False
    evidence: str = "all"
    sight_sensitivity: float | None = None


def encode_request(image_bytes: bytes, report: str | bytes, request_id: str | None = None,
                   shown_anyway: bool = False, evidence: str | None = None,
                   sight_sensitivity: float | None = None) -> bytes:
    """The JSON body of a ``/predict`` or ``/explain`` request.

    Args:
        image_bytes: The image file's bytes (PNG, JPEG or DICOM), exactly as read.
        report: The report text, or a report file's raw bytes (then decoded by the worker as an upload is).
        request_id: Name under which ``/explain`` reports its progress.
        shown_anyway: The reader pressed Show anyway for this study (sent only when True).
        evidence: ``/explain``'s evidence scope (:data:`EVIDENCE_SCOPES`); None = not sent (the worker's ``"all"``).
        sight_sensitivity: The tau of ``"current"`` evidence; None = not sent (the bundle's default).
    """
    document: dict[str, str | bool | float] = {"image_base64": base64.b64encode(bytes(image_bytes)).decode("ascii")}
    if isinstance(report, (bytes, bytearray, memoryview)):
        document["report_base64"] = base64.b64encode(bytes(report)).decode("ascii")
    else:
        document["report"] = str(report)
    if request_id is not None:
        document["request_id"] = request_id
    if shown_anyway:
        document["shown_anyway"] = True
    if evidence is not None:
        document["evidence"] = evidence
    if sight_sensitivity is not None:
        document["sight_sensitivity"] = float(sight_sensitivity)
    return json.dumps(document).encode("utf-8")


def decode_request(body: bytes) -> WorkerRequest:
    """The :class:`WorkerRequest` of a request body; ``report`` is bytes when it came as a file.

    Raises:
        WorkerInputError: not a JSON object, a field missing or of the wrong type, broken base64.
    """
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, ValueError) as error:
        raise WorkerInputError(f"the request is not JSON ({error})") from None
    if not isinstance(document, dict):
        raise WorkerInputError("the request must be a JSON object")
    image_bytes = _base64_field(document, "image_base64", "the X-ray image")
    if image_bytes is None:
        raise WorkerInputError("the request has no image ('image_base64')")
    report: str | bytes | None = _base64_field(document, "report_base64", "the report file")
    if report is None:
        report = document.get("report")
        if not isinstance(report, str):
            raise WorkerInputError("the request has no report text ('report' or 'report_base64')")
    request_id = document.get("request_id")
    if request_id is not None and (not isinstance(request_id, str) or not _REQUEST_ID.match(request_id)):
        raise WorkerInputError("'request_id' must be 1-64 letters, digits, '-' or '_'")
    shown_anyway = document.get("shown_anyway", False)
    if not isinstance(shown_anyway, bool):
        raise WorkerInputError("'shown_anyway' must be true or false")
    evidence = document.get("evidence", "all")
    if evidence not in EVIDENCE_SCOPES:
        raise WorkerInputError(f"'evidence' must be one of {', '.join(EVIDENCE_SCOPES)}")
    sight_sensitivity = document.get("sight_sensitivity")
    if sight_sensitivity is not None and (isinstance(sight_sensitivity, bool)
                                          or not isinstance(sight_sensitivity, (int, float))
                                          or not 0.0 <= float(sight_sensitivity) <= 1.0):
        raise WorkerInputError("'sight_sensitivity' must be a number from 0 to 1")
    return WorkerRequest(image_bytes, report, request_id, shown_anyway, evidence,
                         None if sight_sensitivity is None else float(sight_sensitivity))


def valid_request_id(request_id: str) -> bool:
    """True when ``request_id`` may name a progress record."""
    return bool(_REQUEST_ID.match(request_id))


def _base64_field(document: dict, key: str, what: str) -> bytes | None:
    value = document.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise WorkerInputError(f"'{key}' must be base64 text")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as error:
        raise WorkerInputError(f"{what} arrived damaged (broken base64: {error})") from None
