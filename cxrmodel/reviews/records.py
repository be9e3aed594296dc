"""What a review says, as plain frozen dataclasses, and the checks every review passes before it is stored.

Coordinates are original-image pixels of the radiograph (x = column, y = row, origin top left), as the circles
of :func:`cxrmodel.detection.circle_sweep` are. Every check raises :class:`ReviewError` with a message a reviewer
can act on; nothing is stored when one fails.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass
from datetime import datetime

from cxrmodel.reviews.schema import (
    CIRCLE_VERDICTS,
    FINDING_MAX_LENGTH,
    READINGS,
    REVIEWER_MAX_LENGTH,
    STUDY_NAME_MAX_LENGTH,
    VERDICTS,
    WORD_FLAGS,
    WORD_MAX_LENGTH,
)

MAX_COMMENT_CHARACTERS = 4000
"""A comment is a note, not a report: about a page of text."""
MAX_POINTS = 50
MAX_WORD_FLAGS = 1000
MAX_CIRCLE_VERDICTS = 2000
_REVIEWER = re.compile(rf"^[A-Za-z0-9._@-]{{1,{REVIEWER_MAX_LENGTH}}}$")
_CONTENT_HASH = re.compile(r"^[0-9a-f]{64}$")
_FINGERPRINT = re.compile(r"^[0-9A-Za-z._-]{1,64}$")


class ReviewError(ValueError):
    """A review (or a reviewer, study or file of reviews) that cannot be stored; the message says why."""


def study_content_hash(image_bytes: bytes, report_text: str) -> str:
    """The identity of a study's content: sha256 over the image file's and the report's sha256 (64 hex digits).

    A changed image or report is another study, so it never inherits the old one's reviews.
    """
    record = {"image_sha256": hashlib.sha256(bytes(image_bytes)).hexdigest(),
              "report_sha256": hashlib.sha256(report_text.encode("utf-8")).hexdigest()}
    return hashlib.sha256(json.dumps(record, sort_keys=True).encode("utf-8")).hexdigest()


def check_reviewer(reviewer: str | None) -> str:
    """The reviewer name, checked: 1-64 letters, digits or ``._@-`` (as the dashboard's auth file allows)."""
    if not isinstance(reviewer, str) or not _REVIEWER.match(reviewer):
        raise ReviewError(f"reviewer name {str(reviewer)[:80]!r} must be 1-{REVIEWER_MAX_LENGTH} letters, digits "
                          "or ._@-")
    return reviewer


def _one_of(value: str | None, allowed: tuple[str, ...], what: str, optional: bool = True) -> str | None:
    if value is None and optional:
        return None
    if value not in allowed:
        raise ReviewError(f"{what} must be one of {', '.join(allowed)}, got {str(value)[:40]!r}")
    return value


def _finite(value: object, what: str) -> float:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ReviewError(f"{what} must be a number, got {str(value)[:40]!r}") from None
    if not math.isfinite(number):
        raise ReviewError(f"{what} must be a finite number, got {number}")
    return number


@dataclass(frozen=True)
class StudyRecord:
    """A study as one model explained it: what a review refers to.

    Attributes:
        content_hash: :func:`study_content_hash` of its image and report.
        bundle_fingerprint: The model bundle's fingerprint (:attr:`cxrmodel.modeling.Bundle.fingerprint`).
        study_name: What the reviewer saw it called (a study id, or an upload's file name).
        image_width: Width of the original image, pixels.
        image_height: Height of the original image, pixels.
        probability: The model's P(abnormal).
        sweep: The circle sweep the reviewer saw: ``{"thresholds": [tau, ...], "circles": [[{"x", "y", "r"}, ...]
            per threshold]}`` (original-image pixels; further keys are dropped).
    """

    content_hash: str
    bundle_fingerprint: str
    study_name: str
    image_width: int
    image_height: int
    probability: float
    sweep: dict

    @property
    def model_label(self) -> str:
        """``"abnormal"`` when P(abnormal) >= 0.5, else ``"normal"``."""
        return "abnormal" if self.probability >= 0.5 else "normal"

    def circles_at(self, sight_sensitivity: float) -> list[dict]:
        """The circles at a threshold of the sweep (``[]`` when it is not one of them)."""
        index = threshold_index(self.sweep["thresholds"], sight_sensitivity)
        return [] if index is None else self.sweep["circles"][index]

    def checked(self) -> StudyRecord:
        """This record after the boundary checks, with the sweep reduced to thresholds and circle geometry.

        Raises:
            ReviewError: a malformed hash, fingerprint, size, probability or sweep.
        """
        if not isinstance(self.content_hash, str) or not _CONTENT_HASH.match(self.content_hash):
            raise ReviewError("the study's content hash must be 64 lowercase hexadecimal digits")
        if not isinstance(self.bundle_fingerprint, str) or not _FINGERPRINT.match(self.bundle_fingerprint):
            raise ReviewError("the bundle fingerprint must be 1-64 letters, digits or ._-")
        name = str(self.study_name or "")[:STUDY_NAME_MAX_LENGTH] or self.content_hash[:12]
        width, height = int(self.image_width), int(self.image_height)
        if not (0 < width <= 100_000 and 0 < height <= 100_000):
            raise ReviewError(f"the study's image size {width}x{height} is not a radiograph's")
        probability = _finite(self.probability, "P(abnormal)")
        if not 0.0 <= probability <= 1.0:
            raise ReviewError(f"P(abnormal) must lie in [0, 1], got {probability}")
        sweep = self.sweep if isinstance(self.sweep, dict) else {}
        thresholds, circles = sweep.get("thresholds"), sweep.get("circles")
        if not isinstance(thresholds, list) or not isinstance(circles, list) or len(thresholds) != len(circles):
            raise ReviewError("the study's circle sweep must list as many circle lists as thresholds")
        reduced = {
            "thresholds": [round(_finite(tau, "a threshold"), 4) for tau in thresholds],
            "circles": [[{"x": _finite(c["x"], "a circle's x"), "y": _finite(c["y"], "a circle's y"),
                          "r": _finite(c["r"], "a circle's radius")} for c in at_tau] for at_tau in circles],
        }
        return StudyRecord(self.content_hash, self.bundle_fingerprint, name, width, height, probability, reduced)


def threshold_index(thresholds: list[float], sight_sensitivity: float) -> int | None:
    """Index of the threshold within 1e-6 of ``sight_sensitivity`` (None: not a threshold of the sweep)."""
    for index, tau in enumerate(thresholds):
        if abs(float(tau) - float(sight_sensitivity)) <= 1e-6:
            return index
    return None


@dataclass(frozen=True)
class CircleMark:
    """A verdict on circle ``circle_index`` (its rank in the sweep) at threshold ``sight_sensitivity``."""

    sight_sensitivity: float
    circle_index: int
    verdict: str


@dataclass(frozen=True)
class FindingMark:
    """"The finding is here": a point in original-image pixels, with an optional finding name."""

    x: float
    y: float
    finding: str = ""


@dataclass(frozen=True)
class WordMark:
    """Relevant / irrelevant, for the report word at ``token_index`` (the word's text is kept for reading)."""

    token_index: int
    word: str
    flag: str


@dataclass(frozen=True)
class ReviewDraft:
    """Everything a reviewer says about one study, as the panel holds it (the whole state, saved at once).

    Attributes:
        verdict: helpful / partly / misleading, or None (not yet given).
        reading: normal / abnormal / unsure, or None.
        circles: Verdicts on circles, at any thresholds.
        points: Finding points.
        words: Word flags.
        comment: Free text, at most :data:`MAX_COMMENT_CHARACTERS`.
        sight_sensitivity: The tau the reviewer last looked at (None: unknown).
    """

    verdict: str | None = None
    reading: str | None = None
    circles: tuple[CircleMark, ...] = ()
    points: tuple[FindingMark, ...] = ()
    words: tuple[WordMark, ...] = ()
    comment: str = ""
    sight_sensitivity: float | None = None

    def checked(self, study: StudyRecord) -> ReviewDraft:
        """This draft after the boundary checks against the study it is about.

        Raises:
            ReviewError: an unknown verdict, reading or flag; a point outside the image; a circle that the
                sweep does not have at that threshold; a comment, finding name or word over its length; too many
                marks.
        """
        _one_of(self.verdict, VERDICTS, "the verdict")
        _one_of(self.reading, READINGS, "your reading")
        comment = "" if self.comment is None else self.comment
        if not isinstance(comment, str):
            raise ReviewError("the comment must be text")
        if len(comment) > MAX_COMMENT_CHARACTERS:
            raise ReviewError(f"the comment has {len(comment):,} characters; at most {MAX_COMMENT_CHARACTERS:,} "
                              "are kept, so shorten it")
        if len(self.points) > MAX_POINTS:
            raise ReviewError(f"at most {MAX_POINTS} finding points per study, got {len(self.points)}")
        if len(self.words) > MAX_WORD_FLAGS or len(self.circles) > MAX_CIRCLE_VERDICTS:
            raise ReviewError("too many word flags or circle verdicts for one study")
        points = []
        for number, point in enumerate(self.points, 1):
            x, y = _finite(point.x, f"point {number}'s x"), _finite(point.y, f"point {number}'s y")
            if not (0 <= x < study.image_width and 0 <= y < study.image_height):
                raise ReviewError(f"point {number} at ({x:.0f}, {y:.0f}) lies outside the "
                                  f"{study.image_width}x{study.image_height} pixel image")
            finding = str(point.finding or "").strip()
            if len(finding) > FINDING_MAX_LENGTH:
                raise ReviewError(f"point {number}'s finding name is longer than {FINDING_MAX_LENGTH} characters")
            points.append(FindingMark(x, y, finding))
        circles, seen = [], set()
        for mark in self.circles:
            _one_of(mark.verdict, CIRCLE_VERDICTS, "a circle verdict", optional=False)
            tau = _finite(mark.sight_sensitivity, "a circle verdict's sight sensitivity")
            index = threshold_index(study.sweep["thresholds"], tau)
            if index is None:
                raise ReviewError(f"τ = {tau:g} is not one of the thresholds this study was explained at")
            count = len(study.sweep["circles"][index])
            if not isinstance(mark.circle_index, int) or not 0 <= mark.circle_index < count:
                raise ReviewError(f"there is no circle {mark.circle_index!r} at τ = {tau:g} ({count} circles)")
            key = (study.sweep["thresholds"][index], mark.circle_index)
            if key in seen:
                raise ReviewError(f"circle {mark.circle_index + 1} at τ = {tau:g} has two verdicts")
            seen.add(key)
            circles.append(CircleMark(key[0], mark.circle_index, mark.verdict))
        words, token_indices = [], set()
        for mark in self.words:
            _one_of(mark.flag, WORD_FLAGS, "a word flag", optional=False)
            if not isinstance(mark.token_index, int) or mark.token_index < 0 or mark.token_index in token_indices:
                raise ReviewError(f"word flag position {mark.token_index!r} is not a new word position")
            token_indices.add(mark.token_index)
            words.append(WordMark(mark.token_index, str(mark.word or "")[:WORD_MAX_LENGTH], mark.flag))
        tau = None if self.sight_sensitivity is None else _finite(self.sight_sensitivity, "the sight sensitivity")
        return ReviewDraft(self.verdict, self.reading, tuple(circles), tuple(points), tuple(words), comment, tau)

    def is_empty(self) -> bool:
        """True when the draft says nothing."""
        return not (self.verdict or self.reading or self.circles or self.points or self.words or self.comment)


@dataclass(frozen=True)
class StoredReview:
    """A review as stored: the draft, who wrote it, about which study, when."""

    reviewer: str
    study: StudyRecord
    draft: ReviewDraft
    created_at: datetime
    updated_at: datetime
