"""Reviewers' verdicts on the explanations, stored in a SQL database, and how far the circles agree with them.

:mod:`~cxrmodel.reviews.schema` (SQLAlchemy models) and :mod:`~cxrmodel.reviews.migrations` (Alembic) define the
tables; :mod:`~cxrmodel.reviews.database` opens SQLite (the default, WAL) or PostgreSQL and migrates;
:mod:`~cxrmodel.reviews.records` holds what a review says and its boundary checks; :mod:`~cxrmodel.reviews.store`
saves and reads them (a reviewer only their own; aggregates for everyone); :mod:`~cxrmodel.reviews.agreement`
computes the pointing game per tau and Cohen's kappa; :mod:`~cxrmodel.reviews.exchange` writes and reads the
JSON and CSV exports; :mod:`~cxrmodel.reviews.dicom_sr` writes one reviewer's points on a DICOM radiograph as a
DICOM SR (highdicom, imported there only). Importable without Dash or TensorFlow.
"""

from cxrmodel.reviews.agreement import AgreementSummary, Kappa, ThresholdAgreement, agreement_summary, cohen_kappa
from cxrmodel.reviews.database import (
    DATABASE_URL_VARIABLE,
    DatabaseError,
    default_database_url,
    normalise_database_url,
    open_database,
)
from cxrmodel.reviews.exchange import reviews_from_json, reviews_to_csv, reviews_to_json
from cxrmodel.reviews.records import (
    MAX_COMMENT_CHARACTERS,
    MAX_POINTS,
    CircleMark,
    FindingMark,
    ReviewDraft,
    ReviewError,
    StoredReview,
    StudyRecord,
    WordMark,
    check_reviewer,
    study_content_hash,
)
from cxrmodel.reviews.schema import CIRCLE_VERDICTS, READINGS, VERDICTS, WORD_FLAGS
from cxrmodel.reviews.store import ReviewState, ReviewStore, StudyAggregate

__all__ = [
    "CIRCLE_VERDICTS",
    "DATABASE_URL_VARIABLE",
    "MAX_COMMENT_CHARACTERS",
    "MAX_POINTS",
    "READINGS",
    "VERDICTS",
    "WORD_FLAGS",
    "AgreementSummary",
    "CircleMark",
    "DatabaseError",
    "FindingMark",
    "Kappa",
    "ReviewDraft",
    "ReviewError",
    "ReviewState",
    "ReviewStore",
    "StoredReview",
    "StudyAggregate",
    "StudyRecord",
    "ThresholdAgreement",
    "WordMark",
    "agreement_summary",
    "check_reviewer",
    "cohen_kappa",
    "default_database_url",
    "normalise_database_url",
    "open_database",
    "reviews_from_json",
    "reviews_to_csv",
    "reviews_to_json",
    "study_content_hash",
]
