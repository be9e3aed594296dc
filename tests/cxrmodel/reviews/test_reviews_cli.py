"""``python -m cxrmodel reviews summary|export|import``: JSON and CSV out, JSON back in, one-line errors."""

from __future__ import annotations

import csv
import io
import json

import pytest

from cxrmodel.cli.main import main
from cxrmodel.reviews import ReviewStore
from tests.cxrmodel.reviews.conftest import study_record
from tests.cxrmodel.reviews.test_store import FULL_DRAFT


@pytest.fixture
def filled_database(database_url) -> str:
    store = ReviewStore(database_url)
    store.save("alice", study_record("A"), FULL_DRAFT)
    store.save("bob", study_record("A"), FULL_DRAFT.__class__(verdict="misleading", reading="normal"))
    store.save("bob", study_record("B", 0.3, fingerprint="earlier-model"), FULL_DRAFT)
    store.close()
    return database_url


def test_export_json_then_import_into_another_database_gives_the_same_reviews(filled_database, tmp_path, capsys):
    exported = tmp_path / "reviews.json"
    assert main(["reviews", "export", "--database", filled_database, "--format", "json", "--output",
                 str(exported)]) == 0
    assert json.loads(capsys.readouterr().out) == {"written": str(exported), "reviews": 3, "format": "json"}
    target = f"sqlite:///{tmp_path / 'copy' / 'reviews.sqlite3'}"
    assert main(["reviews", "import", str(exported), "--database", target]) == 0
    assert json.loads(capsys.readouterr().out)["imported"] == 3
    original, copy = ReviewStore(filled_database), ReviewStore(target)
    key = lambda review: (review.reviewer, review.study.content_hash, review.study.bundle_fingerprint)  # noqa: E731
    assert sorted(original.all_reviews(), key=key) == sorted(copy.all_reviews(), key=key)
    original.close()
    copy.close()
    assert main(["reviews", "export", "--database", target]) == 0  # default json, to stdout
    assert json.loads(capsys.readouterr().out)["reviews"][0]["study"]["name"] in ("A", "B")


def test_export_csv_has_a_row_per_mark_with_study_reviewer_model_tau_and_time(filled_database, capsys):
    assert main(["reviews", "export", "--database", filled_database, "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    alice = [row for row in rows if row["reviewer"] == "alice"]
    assert sorted(row["item"] for row in alice) == sorted(
        ["verdict", "reading", "comment", "circle", "circle", "circle", "point", "point", "word", "word"])
    assert {row["bundle_fingerprint"] for row in alice} == {"0123456789abcdef"}
    assert all(row["updated_at"] and row["study"] == "A" for row in alice)
    circle = next(row for row in alice if row["item"] == "circle" and row["circle_index"] == "1")
    assert (circle["value"], circle["sight_sensitivity"], circle["x"], circle["r"]) == ("other", "0.1", "150.0",
                                                                                      "10.0")
    comment = next(row for row in alice if row["item"] == "comment")
    assert comment["value"] == FULL_DRAFT.comment


def test_summary_json_and_table(filled_database, capsys):
    assert main(["reviews", "summary", "--database", filled_database, "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["reviews"], summary["reviewers"], summary["reviews_on_earlier_models"]) == (2, 2, 1)
    assert summary["model_vs_reviewers"]["pairs"] == 2
    assert [row["sight_sensitivity"] for row in summary["thresholds"]] == [0.1, 0.2, 0.3]
    assert main(["reviews", "summary", "--database", filled_database]) == 0
    table = capsys.readouterr().out
    assert "2 reviews by 2 reviewers of 1 studies" in table and "best tau: 0.20" in table and "above chance" in table


@pytest.mark.parametrize("arguments, message", [
    (["reviews", "summary", "--database", "sqlite:////nonexistent/reviews.sqlite3"], "there is no review database"),
    (["reviews", "export", "--database", "mysql://root@localhost/reviews"], "database 'mysql' is not supported"),
    (["reviews", "summary", "--database", "postgresql://u:secret@127.0.0.1:1/none"], "u:***@127.0.0.1"),
])
def test_errors_are_one_line_without_a_traceback(arguments, message, capsys):
    assert main(arguments) == 2
    error = capsys.readouterr().err
    assert message in error and error.count("\n") == 1 and "Traceback" not in error and "secret" not in error


def test_import_refuses_files_that_are_not_review_exports_and_stores_nothing(tmp_path, capsys):
    target = f"sqlite:///{tmp_path / 'reviews.sqlite3'}"
    for content, message in [("not json", "is not JSON"), ('{"format": "x"}', "is not a review export"),
                             ('{"format": "cxrmodel-reviews", "version": 1, "reviews": [{"reviewer": "a"}]}',
                              "review 1: missing 'study'")]:
        path = tmp_path / "in.json"
        path.write_text(content)
        assert main(["reviews", "import", str(path), "--database", target]) == 2
        assert message in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["reviews", "import", str(tmp_path / "missing.json")])
    assert "is not a file" in capsys.readouterr().err
