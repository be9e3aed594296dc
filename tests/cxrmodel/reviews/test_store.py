"""The review store on SQLite and PostgreSQL: round trips, ownership, model changes, bad input, concurrency."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import text

from cxrmodel.reviews import (
    MAX_COMMENT_CHARACTERS,
    CircleMark,
    FindingMark,
    ReviewDraft,
    ReviewError,
    ReviewStore,
    WordMark,
)
from cxrmodel.reviews.database import current_revision, head_revision, normalise_database_url
from tests.cxrmodel.reviews.conftest import HEIGHT, WIDTH, study_record

FULL_DRAFT = ReviewDraft(
    verdict="partly", reading="abnormal",
    circles=(CircleMark(0.1, 0, "agree"), CircleMark(0.1, 1, "other"), CircleMark(0.2, 0, "agree")),
    points=(FindingMark(55.5, 42.0, "effusion"), FindingMark(10, 150)),
    words=(WordMark(3, "effusion", "relevant"), WordMark(7, "portable", "irrelevant")),
    comment="Right answer, wrong reason: circle 2 is on the film marker. ünïcode ✓", sight_sensitivity=0.1)


@pytest.fixture
def store(database_url):
    store = ReviewStore(database_url)
    yield store
    store.close()


def test_a_review_reads_back_whole_at_every_threshold_and_a_save_replaces_it(store):
    study = study_record()
    saved = store.save("alice", study, FULL_DRAFT)
    again = store.review("alice", study.content_hash, study.bundle_fingerprint)
    assert again.draft == FULL_DRAFT == saved.draft
    assert again.study.sweep["thresholds"] == [0.1, 0.2, 0.3]
    assert again.updated_at.tzinfo is not None

    shorter = ReviewDraft(verdict="helpful", reading="normal", points=(FindingMark(1, 1),), sight_sensitivity=0.2)
    replaced = store.save("alice", study, shorter)
    assert store.review("alice", study.content_hash, study.bundle_fingerprint).draft == shorter
    assert replaced.created_at == saved.created_at and replaced.updated_at >= saved.updated_at
    assert len(store.all_reviews()) == 1


def test_a_reviewer_reads_only_their_own_review_and_everyone_sees_the_aggregate(store):
    study = study_record()
    store.save("alice", study, FULL_DRAFT)
    assert store.review("bob", study.content_hash, study.bundle_fingerprint) is None
    store.save("bob", study, ReviewDraft(verdict="misleading", reading="normal",
                                         circles=(CircleMark(0.1, 0, "other"),)))
    assert store.review("bob", study.content_hash, study.bundle_fingerprint).draft.verdict == "misleading"
    assert store.review("alice", study.content_hash, study.bundle_fingerprint).draft == FULL_DRAFT
    aggregate = store.aggregate(study.content_hash, study.bundle_fingerprint)
    assert aggregate.reviewers == 2
    assert aggregate.verdicts == {"partly": 1, "misleading": 1}
    assert aggregate.readings == {"abnormal": 1, "normal": 1}
    assert aggregate.circle_verdicts == {"agree": 2, "other": 2}
    assert aggregate.points == 2


def test_another_model_or_image_starts_a_new_review_and_lists_the_old_one_as_earlier(store):
    study = study_record()
    store.save("alice", study, FULL_DRAFT)
    retrained = study_record(fingerprint="fedcba9876543210")
    assert store.review("alice", retrained.content_hash, retrained.bundle_fingerprint) is None
    (earlier,) = store.earlier_reviews("alice", retrained.content_hash, retrained.bundle_fingerprint)
    assert earlier.study.bundle_fingerprint == study.bundle_fingerprint and earlier.draft == FULL_DRAFT
    assert store.earlier_reviews("bob", retrained.content_hash, retrained.bundle_fingerprint) == []
    changed_image = study_record(name="CXR1-edited")
    assert store.review("alice", changed_image.content_hash, changed_image.bundle_fingerprint) is None
    assert store.earlier_reviews("alice", changed_image.content_hash, changed_image.bundle_fingerprint) == []


def test_review_states_say_mine_others_and_disagreement(store):
    agreed, disputed, alone = study_record("A", 0.9), study_record("B", 0.9), study_record("C", 0.2)
    store.save("alice", agreed, ReviewDraft(reading="abnormal"))
    store.save("bob", agreed, ReviewDraft(reading="abnormal"))
    store.save("bob", disputed, ReviewDraft(reading="abnormal"))
    store.save("carol", disputed, ReviewDraft(reading="normal"))
    store.save("carol", alone, ReviewDraft(reading="unsure", verdict="helpful"))
    states = store.review_states("alice", agreed.bundle_fingerprint)
    assert (states[agreed.content_hash].mine, states[agreed.content_hash].others) == (True, 1)
    assert not states[agreed.content_hash].disagreement
    assert (states[disputed.content_hash].mine, states[disputed.content_hash].others) == (False, 2)
    assert states[disputed.content_hash].disagreement
    assert not states[alone.content_hash].disagreement  # an unsure reading disagrees with no one
    assert store.review_states("alice", "another-model") == {}


@pytest.mark.parametrize("draft, message", [
    (ReviewDraft(points=(FindingMark(WIDTH, 10),)), f"outside the {WIDTH}x{HEIGHT} pixel image"),
    (ReviewDraft(points=(FindingMark(-1, 10),)), "outside"),
    (ReviewDraft(points=(FindingMark(float("nan"), 10),)), "finite"),
    (ReviewDraft(comment="x" * 2**20), f"at most {MAX_COMMENT_CHARACTERS:,} are kept"),
    (ReviewDraft(verdict="great"), "the verdict must be one of helpful, partly, misleading"),
    (ReviewDraft(reading="maybe"), "your reading must be one of normal, abnormal, unsure"),
    (ReviewDraft(circles=(CircleMark(0.1, 0, "yes"),)), "a circle verdict must be one of agree, other"),
    (ReviewDraft(circles=(CircleMark(0.3, 0, "agree"),)), "there is no circle 0 at τ = 0.3"),
    (ReviewDraft(circles=(CircleMark(0.55, 0, "agree"),)), "not one of the thresholds"),
    (ReviewDraft(words=(WordMark(1, "a", "maybe"),)), "a word flag must be one of relevant, irrelevant"),
    (ReviewDraft(points=(FindingMark(1, 1, "n" * 101),)), "finding name is longer than 100"),
])
def test_bad_input_is_refused_with_a_clear_message_and_nothing_is_stored(store, draft, message):
    study = study_record()
    store.save("alice", study, FULL_DRAFT)
    with pytest.raises(ReviewError, match=message.replace("(", r"\(").replace(")", r"\)")):
        store.save("alice", study, draft)
    assert store.review("alice", study.content_hash, study.bundle_fingerprint).draft == FULL_DRAFT
    with pytest.raises(ReviewError):
        store.save("bob", study, draft)
    assert store.review("bob", study.content_hash, study.bundle_fingerprint) is None


@pytest.mark.parametrize("reviewer", ["", "a b", "x" * 65, "alice'; DROP TABLE reviews;--", None])
def test_unusable_reviewer_names_are_refused(store, reviewer):
    with pytest.raises(ReviewError, match="reviewer name"):
        store.save(reviewer, study_record(), FULL_DRAFT)
    assert store.all_reviews() == []


def test_twenty_sessions_saving_at_once_store_each_verdict_exactly_once(store):
    # 20 reviewers, each saving their own verdict on the same two studies at the same moment (and once more, so
    # updates race with inserts); every review must be stored once, with its own reviewer's verdict.
    studies = [study_record("shared-1"), study_record("shared-2")]
    verdicts = ("helpful", "partly", "misleading")
    start = threading.Barrier(20)

    def session(number: int) -> None:
        reviewer = f"reviewer{number:02d}"
        start.wait(timeout=30)
        for round_number in range(2):
            for index, study in enumerate(studies):
                store.save(reviewer, study, ReviewDraft(
                    verdict=verdicts[(number + index) % 3], comment=f"{reviewer} on {study.study_name}",
                    points=(FindingMark(number, round_number + index),)))

    with ThreadPoolExecutor(max_workers=20) as pool:
        for future in [pool.submit(session, number) for number in range(20)]:
            future.result(timeout=120)

    reviews = store.all_reviews()
    assert len(reviews) == 40
    assert len({(review.reviewer, review.study.content_hash) for review in reviews}) == 40
    for review in reviews:
        number = int(review.reviewer.removeprefix("reviewer"))
        index = [study.content_hash for study in studies].index(review.study.content_hash)
        assert review.draft.verdict == verdicts[(number + index) % 3]
        assert review.draft.comment == f"{review.reviewer} on {review.study.study_name}"
        assert review.draft.points == (FindingMark(number, 1 + index),)
    assert store.aggregate(studies[0].content_hash, studies[0].bundle_fingerprint).reviewers == 20


def test_opening_migrates_to_the_newest_schema_and_the_models_match_the_migrations(store, database_url):
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from cxrmodel.reviews.schema import Base

    assert current_revision(store.engine) == head_revision() == "0001"
    ReviewStore(database_url).close()  # opening again is a no-op
    with store.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []


def test_sqlite_databases_are_in_wal_mode(tmp_path):
    store = ReviewStore(f"sqlite:///{tmp_path / 'nested' / 'reviews.sqlite3'}")
    with store.engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
    store.close()
    assert (tmp_path / "nested" / "reviews.sqlite3").exists()


@pytest.mark.parametrize("url, message", [
    ("mysql://root@localhost/reviews", "not supported"),
    ("sqlite://", "in-memory"),
    ("postgresql+asyncpg://x@localhost/db", "not supported"),
])
def test_unsupported_database_urls_are_refused(url, message):
    from cxrmodel.reviews import DatabaseError

    with pytest.raises(DatabaseError, match=message):
        normalise_database_url(url)


def test_postgresql_urls_use_the_psycopg_driver_and_an_unreachable_server_is_a_clear_error():
    from cxrmodel.reviews import DatabaseError

    assert normalise_database_url("postgresql://u:pw@db.example/reviews").startswith("postgresql+psycopg://u:pw@")
    with pytest.raises(DatabaseError, match=r"cannot open review database postgresql\+psycopg://u:\*\*\*@127.0.0.1"):
        ReviewStore("postgresql://u:secret@127.0.0.1:1/none")
