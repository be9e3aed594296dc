"""The review store: save and read one reviewer's review of a study, and what all reviewers said of it.

A reviewer reads and edits only their own reviews (every read and write names the reviewer, who comes from the
server's authentication, never from a request body); aggregates over all reviewers are open to everyone.
Reviews are keyed by the study's content hash and the bundle fingerprint: a changed image or model starts a new
review, and the old ones are listed as "on an earlier model".
"""

from __future__ import annotations

import functools
import json
import logging
import os
import weakref
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Iterable

from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, selectinload

from cxrmodel.reviews.database import WRITE_OPTION, open_database
from cxrmodel.reviews.records import (
    CircleMark,
    FindingMark,
    ReviewDraft,
    StoredReview,
    StudyRecord,
    WordMark,
    check_reviewer,
)
from cxrmodel.reviews.schema import CircleVerdict, ExplainedStudy, FindingPoint, Review, WordFlag

logger = logging.getLogger(__name__)

SAVE_ATTEMPTS = 4
"""A save that collides with another creating the same study or review row is retried this often."""


@dataclass(frozen=True)
class ReviewState:
    """A study's review state for one reviewer, as the worklist shows it.

    Attributes:
        mine: The reviewer has reviewed it (with this model).
        others: How many other reviewers have.
        disagreement: Reviewers' readings differ from each other or from the model's label (unsure readings are
            left out).
    """

    mine: bool = False
    others: int = 0
    disagreement: bool = False


@dataclass(frozen=True)
class StudyAggregate:
    """What all reviewers said of one explained study (visible to everyone; names left out)."""

    reviewers: int = 0
    verdicts: dict[str, int] = field(default_factory=dict)
    readings: dict[str, int] = field(default_factory=dict)
    circle_verdicts: dict[str, int] = field(default_factory=dict)
    points: int = 0

    def to_dict(self) -> dict:
        """Plain JSON."""
        return dict(self.__dict__)


def _forget_pool(engine_reference: weakref.ref) -> None:
    # Registered per store, so it must not keep a closed store's engine alive.
    engine = engine_reference()
    if engine is not None:
        engine.dispose(close=False)


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _aware(moment: datetime) -> datetime:
    # SQLite returns naive datetimes; every stored time is UTC.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)


def _study_record(row: ExplainedStudy) -> StudyRecord:
    return StudyRecord(row.content_hash, row.bundle_fingerprint, row.study_name, row.image_width,
                       row.image_height, row.probability, json.loads(row.sweep))


def _stored(row: Review) -> StoredReview:
    draft = ReviewDraft(
        verdict=row.verdict, reading=row.reading,
        circles=tuple(CircleMark(c.sight_sensitivity, c.circle_index, c.verdict) for c in row.circles),
        points=tuple(FindingMark(p.x, p.y, p.finding) for p in row.points),
        words=tuple(WordMark(w.token_index, w.word, w.flag) for w in row.words),
        comment=row.comment or "", sight_sensitivity=row.sight_sensitivity)
    return StoredReview(row.reviewer, _study_record(row.study), draft, _aware(row.created_at), _aware(row.updated_at))


def _disagree(readings: Iterable[str | None], model_label: str) -> bool:
    decided = {reading for reading in readings if reading in ("normal", "abnormal")}
    return len(decided) > 1 or (len(decided) == 1 and model_label not in decided)


class ReviewStore:
    """Reviews in a SQL database (SQLite or PostgreSQL; :mod:`cxrmodel.reviews.database`).

    Args:
        engine_or_url: An engine from :func:`~cxrmodel.reviews.database.open_database`, or a URL to open.

    Raises:
        DatabaseError: the URL is unsupported or the database cannot be opened.
    """

    def __init__(self, engine_or_url: Engine | str) -> None:
        self.engine = open_database(engine_or_url) if isinstance(engine_or_url, str) else engine_or_url
        self._writer = self.engine.execution_options(**{WRITE_OPTION: True})
        # A forked process (the dashboard's background jobs) must not use or close the parent's pooled
        # connections: it starts with an empty pool (SQLAlchemy's recipe for multiprocessing).
        os.register_at_fork(after_in_child=functools.partial(_forget_pool, weakref.ref(self.engine)))

    def close(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()

    # -- writing --------------------------------------------------------------------------------------------

    def save(self, reviewer: str, study: StudyRecord, draft: ReviewDraft, *,
             updated_at: datetime | None = None) -> StoredReview:
        """Store ``reviewer``'s whole review of ``study``, replacing their previous one of it.

        Args:
            reviewer: Who reviews (the authenticated user, or the local reviewer).
            study: The study as the reviewer saw it explained.
            draft: Everything the reviewer says (the panel's whole state).
            updated_at: The review's time (import keeps the exported one); None = now.

        Returns:
            The review as stored.

        Raises:
            ReviewError: a check of :meth:`StudyRecord.checked`, :meth:`ReviewDraft.checked` or the reviewer name
                failed; nothing was stored.
        """
        reviewer = check_reviewer(reviewer)
        study = study.checked()
        draft = draft.checked(study)
        for attempt in range(1, SAVE_ATTEMPTS + 1):
            try:
                return self._save_once(reviewer, study, draft, updated_at or _now())
            except (IntegrityError, OperationalError) as error:
                # Another session created the same study or review row at the same moment (unique constraint),
                # or PostgreSQL aborted one of two conflicting transactions: the next attempt finds the row.
                if attempt == SAVE_ATTEMPTS:
                    raise
                logger.info("review save collided (%s); retrying", type(error).__name__)
        raise AssertionError("unreachable")

    def _save_once(self, reviewer: str, study: StudyRecord, draft: ReviewDraft, moment: datetime) -> StoredReview:
        with Session(self._writer, expire_on_commit=False) as session, session.begin():
            study_row = session.scalars(select(ExplainedStudy).where(
                ExplainedStudy.content_hash == study.content_hash,
                ExplainedStudy.bundle_fingerprint == study.bundle_fingerprint)).one_or_none()
            if study_row is None:
                study_row = ExplainedStudy(
                    content_hash=study.content_hash, bundle_fingerprint=study.bundle_fingerprint,
                    study_name=study.study_name, image_width=study.image_width, image_height=study.image_height,
                    probability=study.probability, model_label=study.model_label,
                    sweep=json.dumps(study.sweep, separators=(",", ":")), created_at=moment)
                session.add(study_row)
                session.flush()
            review = session.scalars(select(Review).where(Review.study_id == study_row.id,
                                                          Review.reviewer == reviewer)
                                     .options(selectinload(Review.circles), selectinload(Review.points),
                                              selectinload(Review.words))).one_or_none()
            if review is None:
                review = Review(study_id=study_row.id, reviewer=reviewer, created_at=moment)
                session.add(review)
            else:  # the old marks go first: the new ones may repeat their unique keys
                review.circles.clear()
                review.points.clear()
                review.words.clear()
                session.flush()
            review.verdict, review.reading, review.comment = draft.verdict, draft.reading, draft.comment
            review.sight_sensitivity, review.updated_at = draft.sight_sensitivity, moment
            review.circles = [self._circle_row(study, mark) for mark in draft.circles]
            review.points = [FindingPoint(position=number, x=point.x, y=point.y, finding=point.finding)
                             for number, point in enumerate(draft.points)]
            review.words = [WordFlag(token_index=w.token_index, word=w.word, flag=w.flag) for w in draft.words]
            session.flush()
            review.study = study_row
            stored = _stored(review)
        logger.info("saved %s's review of %s (%s)", reviewer, study.study_name, study.bundle_fingerprint)
        return stored

    @staticmethod
    def _circle_row(study: StudyRecord, mark: CircleMark) -> CircleVerdict:
        circle = study.circles_at(mark.sight_sensitivity)[mark.circle_index]
        return CircleVerdict(sight_sensitivity=mark.sight_sensitivity, circle_index=mark.circle_index,
                             x=circle["x"], y=circle["y"], r=circle["r"], verdict=mark.verdict)

    # -- reading: one's own ---------------------------------------------------------------------------------

    def _reviews(self, session: Session, *conditions) -> list[Review]:
        statement = (select(Review).join(Review.study).where(*conditions)
                     .options(selectinload(Review.circles), selectinload(Review.points),
                              selectinload(Review.words), selectinload(Review.study))
                     .order_by(Review.id))
        return list(session.scalars(statement))

    def review(self, reviewer: str, content_hash: str, bundle_fingerprint: str) -> StoredReview | None:
        """``reviewer``'s own review of a study with this model, or None."""
        reviewer = check_reviewer(reviewer)
        with Session(self.engine) as session:
            rows = self._reviews(session, Review.reviewer == reviewer, ExplainedStudy.content_hash == content_hash,
                                 ExplainedStudy.bundle_fingerprint == bundle_fingerprint)
            return _stored(rows[0]) if rows else None

    def earlier_reviews(self, reviewer: str, content_hash: str, bundle_fingerprint: str) -> list[StoredReview]:
        """``reviewer``'s own reviews of the same study content made with other models ("on an earlier model")."""
        reviewer = check_reviewer(reviewer)
        with Session(self.engine) as session:
            rows = self._reviews(session, Review.reviewer == reviewer, ExplainedStudy.content_hash == content_hash,
                                 ExplainedStudy.bundle_fingerprint != bundle_fingerprint)
            return [_stored(row) for row in rows]

    # -- reading: over all reviewers --------------------------------------------------------------------------

    def aggregate(self, content_hash: str, bundle_fingerprint: str) -> StudyAggregate:
        """What all reviewers said of a study with this model (counts only, no names)."""
        with Session(self.engine) as session:
            rows = self._reviews(session, ExplainedStudy.content_hash == content_hash,
                                 ExplainedStudy.bundle_fingerprint == bundle_fingerprint)
            return StudyAggregate(
                reviewers=len(rows),
                verdicts=dict(Counter(row.verdict for row in rows if row.verdict)),
                readings=dict(Counter(row.reading for row in rows if row.reading)),
                circle_verdicts=dict(Counter(c.verdict for row in rows for c in row.circles)),
                points=sum(len(row.points) for row in rows))

    def review_states(self, reviewer: str, bundle_fingerprint: str) -> dict[str, ReviewState]:
        """Per study content hash reviewed with this model: whether ``reviewer`` did, how many others did, and
        whether the readings disagree (:class:`ReviewState`)."""
        reviewer = check_reviewer(reviewer)
        with Session(self.engine) as session:
            rows = session.execute(
                select(ExplainedStudy.content_hash, ExplainedStudy.model_label, Review.reviewer, Review.reading)
                .join(Review.study).where(ExplainedStudy.bundle_fingerprint == bundle_fingerprint)).all()
        by_study: dict[str, list] = {}
        for row in rows:
            by_study.setdefault(row.content_hash, []).append(row)
        return {
            content_hash: ReviewState(
                mine=any(row.reviewer == reviewer for row in group),
                others=sum(row.reviewer != reviewer for row in group),
                disagreement=_disagree((row.reading for row in group), group[0].model_label))
            for content_hash, group in by_study.items()
        }

    def all_reviews(self) -> list[StoredReview]:
        """Every review of every reviewer, oldest first (for export and agreement; not for the page)."""
        with Session(self.engine) as session:
            return [_stored(row) for row in self._reviews(session)]

    def import_reviews(self, reviews: Iterable[StoredReview]) -> int:
        """Store reviews read from an export, each as its reviewer's review (replacing theirs of that study).

        Returns:
            How many reviews were stored.

        Raises:
            ReviewError: a review fails the checks; the ones before it are stored.
        """
        count = 0
        for review in reviews:
            self.save(review.reviewer, review.study, review.draft, updated_at=review.updated_at)
            count += 1
        return count
