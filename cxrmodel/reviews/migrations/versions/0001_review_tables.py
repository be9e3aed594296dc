"""The review tables: explained studies, reviews, circle verdicts, finding points, word flags.

Revision ID: 0001
Revises:
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "explained_studies",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("bundle_fingerprint", sa.String(64), nullable=False),
        sa.Column("study_name", sa.String(200), nullable=False),
        sa.Column("image_width", sa.Integer(), nullable=False),
        sa.Column("image_height", sa.Integer(), nullable=False),
        sa.Column("probability", sa.Float(), nullable=False),
        sa.Column("model_label", sa.String(16), nullable=False),
        sa.Column("sweep", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("content_hash", "bundle_fingerprint", name="uq_explained_study"),
        sa.CheckConstraint("model_label IN ('normal', 'abnormal')", name="ck_model_label"),
    )
    op.create_index("ix_explained_studies_content_hash", "explained_studies", ["content_hash"])
    op.create_table(
        "reviews",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("study_id", sa.Integer(), sa.ForeignKey("explained_studies.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("reviewer", sa.String(64), nullable=False),
        sa.Column("verdict", sa.String(16), nullable=True),
        sa.Column("reading", sa.String(16), nullable=True),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("sight_sensitivity", sa.Float(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("study_id", "reviewer", name="uq_review_per_reviewer"),
        sa.CheckConstraint("verdict IN ('helpful', 'partly', 'misleading')", name="ck_verdict"),
        sa.CheckConstraint("reading IN ('normal', 'abnormal', 'unsure')", name="ck_reading"),
    )
    op.create_index("ix_reviews_study_id", "reviews", ["study_id"])
    op.create_index("ix_reviews_reviewer", "reviews", ["reviewer"])
    op.create_table(
        "circle_verdicts",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("review_id", sa.Integer(), sa.ForeignKey("reviews.id", ondelete="CASCADE"), nullable=False),
        sa.Column("sight_sensitivity", sa.Float(), nullable=False),
        sa.Column("circle_index", sa.Integer(), nullable=False),
        sa.Column("x", sa.Float(), nullable=False),
        sa.Column("y", sa.Float(), nullable=False),
        sa.Column("r", sa.Float(), nullable=False),
        sa.Column("verdict", sa.String(16), nullable=False),
        sa.UniqueConstraint("review_id", "sight_sensitivity", "circle_index", name="uq_circle_verdict"),
        sa.CheckConstraint("verdict IN ('agree', 'other')", name="ck_circle_verdict"),
    )
    op.create_index("ix_circle_verdicts_review_id", "circle_verdicts", ["review_id"])
    op.create_table(
        "finding_points",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("review_id", sa.Integer(), sa.ForeignKey("reviews.id", ondelete="CASCADE"), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("x", sa.Float(), nullable=False),
        sa.Column("y", sa.Float(), nullable=False),
        sa.Column("finding", sa.String(100), nullable=False),
    )
    op.create_index("ix_finding_points_review_id", "finding_points", ["review_id"])
    op.create_table(
        "word_flags",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("review_id", sa.Integer(), sa.ForeignKey("reviews.id", ondelete="CASCADE"), nullable=False),
        sa.Column("token_index", sa.Integer(), nullable=False),
        sa.Column("word", sa.String(100), nullable=False),
        sa.Column("flag", sa.String(16), nullable=False),
        sa.UniqueConstraint("review_id", "token_index", name="uq_word_flag"),
        sa.CheckConstraint("flag IN ('relevant', 'irrelevant')", name="ck_word_flag"),
    )
    op.create_index("ix_word_flags_review_id", "word_flags", ["review_id"])


def downgrade() -> None:
    for table in ("word_flags", "finding_points", "circle_verdicts", "reviews", "explained_studies"):
        op.drop_table(table)
