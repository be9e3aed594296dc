"""Reviews to and from files: JSON (complete; read back by ``reviews import``) and CSV (one row per mark).

The JSON document is ``{"format": "cxrmodel-reviews", "version": 1, "reviews": [...]}``; each review holds its
study (content hash, bundle fingerprint, name, image size, P(abnormal), the circle sweep the reviewer saw),
reviewer, times, verdict, reading, comment, tau, circle verdicts, points and word flags. The CSV has one row per
verdict, reading, comment, circle verdict, point and word flag, each with its study, reviewer, bundle
fingerprint, tau and time (:data:`CSV_COLUMNS`).
"""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from typing import Any, Sequence

from cxrmodel.reviews.records import (
    CircleMark,
    FindingMark,
    ReviewDraft,
    ReviewError,
    StoredReview,
    StudyRecord,
    WordMark,
)

FORMAT_NAME = "cxrmodel-reviews"
FORMAT_VERSION = 1
CSV_COLUMNS = ("study", "content_hash", "bundle_fingerprint", "reviewer", "updated_at", "item", "sight_sensitivity",
               "value", "circle_index", "x", "y", "r", "finding", "token_index", "word")


def review_to_dict(review: StoredReview) -> dict:
    """One review as plain JSON."""
    study, draft = review.study, review.draft
    circles_at = {tau: circles for tau, circles in zip(study.sweep["thresholds"], study.sweep["circles"],
                                                       strict=True)}
    return {
        "reviewer": review.reviewer,
        "study": {"name": study.study_name, "content_hash": study.content_hash,
                  "bundle_fingerprint": study.bundle_fingerprint, "image_width": study.image_width,
                  "image_height": study.image_height, "probability": study.probability,
                  "model_label": study.model_label, "sweep": study.sweep},
        "created_at": review.created_at.isoformat(),
        "updated_at": review.updated_at.isoformat(),
        "verdict": draft.verdict,
        "reading": draft.reading,
        "comment": draft.comment,
        "sight_sensitivity": draft.sight_sensitivity,
        "circles": [{"sight_sensitivity": mark.sight_sensitivity, "circle_index": mark.circle_index,
                     **{key: circles_at.get(mark.sight_sensitivity, [{}] * (mark.circle_index + 1))
                        [mark.circle_index].get(key) for key in ("x", "y", "r")},
                     "verdict": mark.verdict} for mark in draft.circles],
        "points": [{"x": point.x, "y": point.y, "finding": point.finding} for point in draft.points],
        "words": [{"token_index": word.token_index, "word": word.word, "flag": word.flag} for word in draft.words],
    }


def reviews_to_json(reviews: Sequence[StoredReview]) -> str:
    """The JSON export of ``reviews`` (see the module docstring)."""
    document = {"format": FORMAT_NAME, "version": FORMAT_VERSION,
                "reviews": [review_to_dict(review) for review in reviews]}
    return json.dumps(document, indent=1, ensure_ascii=False) + "\n"


def reviews_to_csv(reviews: Sequence[StoredReview]) -> str:
    """The CSV export of ``reviews``: a header of :data:`CSV_COLUMNS`, then one row per mark."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for review in reviews:
        record = review_to_dict(review)
        base = {"study": record["study"]["name"], "content_hash": record["study"]["content_hash"],
                "bundle_fingerprint": record["study"]["bundle_fingerprint"], "reviewer": review.reviewer,
                "updated_at": record["updated_at"], "sight_sensitivity": record["sight_sensitivity"]}
        for item in ("verdict", "reading", "comment"):
            if record[item]:
                writer.writerow({**base, "item": item, "value": record[item]})
        for circle in record["circles"]:
            writer.writerow({**base, "item": "circle", "sight_sensitivity": circle["sight_sensitivity"],
                             "value": circle["verdict"], "circle_index": circle["circle_index"],
                             "x": circle["x"], "y": circle["y"], "r": circle["r"]})
        for point in record["points"]:
            writer.writerow({**base, "item": "point", "x": point["x"], "y": point["y"], "finding": point["finding"]})
        for word in record["words"]:
            writer.writerow({**base, "item": "word", "value": word["flag"], "token_index": word["token_index"],
                             "word": word["word"]})
    return buffer.getvalue()


def _field(record: dict, key: str, where: str) -> Any:
    if not isinstance(record, dict) or key not in record:
        raise ReviewError(f"{where}: missing {key!r}")
    return record[key]


def _time(text: Any, where: str) -> datetime:
    try:
        moment = datetime.fromisoformat(str(text))
    except ValueError:
        raise ReviewError(f"{where}: {str(text)[:40]!r} is not an ISO 8601 time") from None
    if moment.tzinfo is None:
        raise ReviewError(f"{where}: the time {text!r} has no time zone")
    return moment


def review_from_dict(record: dict, where: str = "review") -> StoredReview:
    """A review from its JSON form (:func:`review_to_dict`); checked again when stored.

    Raises:
        ReviewError: a missing or malformed field (the message names the review and the field).
    """
    study = _field(record, "study", where)
    try:
        study_record = StudyRecord(
            content_hash=_field(study, "content_hash", where), bundle_fingerprint=_field(study, "bundle_fingerprint",
                                                                                         where),
            study_name=str(study.get("name", "")), image_width=int(_field(study, "image_width", where)),
            image_height=int(_field(study, "image_height", where)),
            probability=float(_field(study, "probability", where)), sweep=_field(study, "sweep", where))
        draft = ReviewDraft(
            verdict=record.get("verdict"), reading=record.get("reading"), comment=record.get("comment") or "",
            sight_sensitivity=record.get("sight_sensitivity"),
            circles=tuple(CircleMark(float(_field(c, "sight_sensitivity", where)), _field(c, "circle_index", where),
                                     _field(c, "verdict", where)) for c in record.get("circles", [])),
            points=tuple(FindingMark(_field(p, "x", where), _field(p, "y", where), p.get("finding") or "")
                         for p in record.get("points", [])),
            words=tuple(WordMark(_field(w, "token_index", where), str(w.get("word", "")), _field(w, "flag", where))
                        for w in record.get("words", [])))
    except (TypeError, ValueError, AttributeError) as error:
        if isinstance(error, ReviewError):
            raise
        raise ReviewError(f"{where}: {error}") from None
    return StoredReview(str(_field(record, "reviewer", where)), study_record, draft,
                        _time(_field(record, "created_at", where), where),
                        _time(_field(record, "updated_at", where), where))


def reviews_from_json(text: str, source: str = "reviews file") -> list[StoredReview]:
    """The reviews of a JSON export.

    Raises:
        ReviewError: not JSON, not a ``cxrmodel-reviews`` document of a known version, or a malformed review.
    """
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise ReviewError(f"{source} is not JSON ({error.msg}, line {error.lineno})") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT_NAME:
        raise ReviewError(f"{source} is not a review export (write one with `python -m cxrmodel reviews export "
                          "--format json`)")
    if document.get("version") != FORMAT_VERSION:
        raise ReviewError(f"{source} has review export version {document.get('version')!r}; this version reads "
                          f"{FORMAT_VERSION}")
    reviews = document.get("reviews")
    if not isinstance(reviews, list):
        raise ReviewError(f"{source}: 'reviews' must be a list")
    return [review_from_dict(record, f"{source}, review {number}") for number, record in enumerate(reviews, 1)]
