"""The review tables, as SQLAlchemy 2 declarative models (typed ``Mapped[...]`` columns).

One explained study (content hash + bundle fingerprint) has many reviews, at most one per reviewer; a review owns
its circle verdicts, finding points and word flags. The tables are created and changed only by the Alembic
migrations in :mod:`cxrmodel.reviews.migrations` (``versions/``), never by ``metadata.create_all``: the models and
the migrations must describe the same schema (tests/cxrmodel/reviews/test_migrations.py compares them).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, DateTime, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

VERDICTS = ("helpful", "partly", "misleading")
"""Overall verdict on the explanation."""
READINGS = ("normal", "abnormal", "unsure")
"""The reviewer's own reading of the study."""
CIRCLE_VERDICTS = ("agree", "other")
"""Per circle: on the finding, or on something else (e.g. a film marker)."""
WORD_FLAGS = ("relevant", "irrelevant")
"""Per report word."""

CONTENT_HASH_LENGTH = 64
FINGERPRINT_MAX_LENGTH = 64
REVIEWER_MAX_LENGTH = 64
STUDY_NAME_MAX_LENGTH = 200
FINDING_MAX_LENGTH = 100
WORD_MAX_LENGTH = 100


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(value) for value in values)})"


class Base(DeclarativeBase):
    """Declarative base of the review tables."""


class ExplainedStudy(Base):
    """A study as one model explained it: what the reviews of it refer to.

    ``sweep`` is the circle sweep the reviewer saw (JSON: ``thresholds``, per threshold the circles' ``x``, ``y``,
    ``r`` in original-image pixels), so agreement per tau is computed from the database alone.
    """

    __tablename__ = "explained_studies"
    __table_args__ = (UniqueConstraint("content_hash", "bundle_fingerprint", name="uq_explained_study"),
                      CheckConstraint(_one_of("model_label", ("normal", "abnormal")), name="ck_model_label"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    content_hash: Mapped[str] = mapped_column(String(CONTENT_HASH_LENGTH), index=True)
    bundle_fingerprint: Mapped[str] = mapped_column(String(FINGERPRINT_MAX_LENGTH))
    study_name: Mapped[str] = mapped_column(String(STUDY_NAME_MAX_LENGTH))
    image_width: Mapped[int] = mapped_column(Integer)
    image_height: Mapped[int] = mapped_column(Integer)
    probability: Mapped[float] = mapped_column(Float)
    model_label: Mapped[str] = mapped_column(String(16))
    sweep: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    reviews: Mapped[list[Review]] = relationship(back_populates="study", cascade="all, delete-orphan")


class Review(Base):
    """One reviewer's review of one explained study."""

    __tablename__ = "reviews"
    __table_args__ = (UniqueConstraint("study_id", "reviewer", name="uq_review_per_reviewer"),
                      CheckConstraint(_one_of("verdict", VERDICTS), name="ck_verdict"),
                      CheckConstraint(_one_of("reading", READINGS), name="ck_reading"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("explained_studies.id", ondelete="CASCADE"), index=True)
    reviewer: Mapped[str] = mapped_column(String(REVIEWER_MAX_LENGTH), index=True)
    verdict: Mapped[str | None] = mapped_column(String(16))
    reading: Mapped[str | None] = mapped_column(String(16))
    comment: Mapped[str] = mapped_column(Text, default="")
    sight_sensitivity: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    study: Mapped[ExplainedStudy] = relationship(back_populates="reviews")
    circles: Mapped[list[CircleVerdict]] = relationship(back_populates="review", cascade="all, delete-orphan",
                                                        order_by="(CircleVerdict.sight_sensitivity, "
                                                                 "CircleVerdict.circle_index)")
    points: Mapped[list[FindingPoint]] = relationship(back_populates="review", cascade="all, delete-orphan",
                                                      order_by="FindingPoint.position")
    words: Mapped[list[WordFlag]] = relationship(back_populates="review", cascade="all, delete-orphan",
                                                 order_by="WordFlag.token_index")


class CircleVerdict(Base):
    """Agree / on something else, for circle ``circle_index`` (rank in the sweep) at ``sight_sensitivity``."""

    __tablename__ = "circle_verdicts"
    __table_args__ = (UniqueConstraint("review_id", "sight_sensitivity", "circle_index", name="uq_circle_verdict"),
                      CheckConstraint(_one_of("verdict", CIRCLE_VERDICTS), name="ck_circle_verdict"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    review_id: Mapped[int] = mapped_column(ForeignKey("reviews.id", ondelete="CASCADE"), index=True)
    sight_sensitivity: Mapped[float] = mapped_column(Float)
    circle_index: Mapped[int] = mapped_column(Integer)
    x: Mapped[float] = mapped_column(Float)
    y: Mapped[float] = mapped_column(Float)
    r: Mapped[float] = mapped_column(Float)
    verdict: Mapped[str] = mapped_column(String(16))

    review: Mapped[Review] = relationship(back_populates="circles")


class FindingPoint(Base):
    """"The finding is here": a point in original-image pixels (x = column, y = row), optionally named."""

    __tablename__ = "finding_points"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    review_id: Mapped[int] = mapped_column(ForeignKey("reviews.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    x: Mapped[float] = mapped_column(Float)
    y: Mapped[float] = mapped_column(Float)
    finding: Mapped[str] = mapped_column(String(FINDING_MAX_LENGTH), default="")

    review: Mapped[Review] = relationship(back_populates="points")


class WordFlag(Base):
    """Relevant / irrelevant, for the report word at ``token_index``."""

    __tablename__ = "word_flags"
    __table_args__ = (UniqueConstraint("review_id", "token_index", name="uq_word_flag"),
                      CheckConstraint(_one_of("flag", WORD_FLAGS), name="ck_word_flag"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    review_id: Mapped[int] = mapped_column(ForeignKey("reviews.id", ondelete="CASCADE"), index=True)
    token_index: Mapped[int] = mapped_column(Integer)
    word: Mapped[str] = mapped_column(String(WORD_MAX_LENGTH))
    flag: Mapped[str] = mapped_column(String(16))

    review: Mapped[Review] = relationship(back_populates="words")
