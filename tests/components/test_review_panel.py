"""The review panel's and the worklist's pure pieces, and the server side that decides who reviews what."""

from __future__ import annotations

import base64
from datetime import datetime, timezone

import pytest
from flask import Flask

from components import review_panel, worklist
from components.presenter import StudyResolver
from components.server.reviews import ReviewService, local_reviewer_name
from components.server.uploads import UploadStore
from cxrmodel.data import StudyCollection, StudySummary
from cxrmodel.explain import ExplanationSettings
from cxrmodel.inputs import UploadedStudy
from cxrmodel.reviews import CircleMark, FindingMark, ReviewDraft, ReviewError, ReviewState, WordMark

DRAFT = ReviewDraft(verdict="partly", reading="abnormal",
                    circles=(CircleMark(0.3, 0, "agree"), CircleMark(0.5, 1, "other")),
                    points=(FindingMark(10.5, 20.0, "effusion"), FindingMark(3, 4)),
                    words=(WordMark(2, "effusion", "relevant"), WordMark(5, "portable", "irrelevant")),
                    comment="marker circled", sight_sensitivity=0.3)


def test_the_draft_survives_the_page_store_and_the_word_dropdowns():
    assert review_panel.draft_from_data(review_panel.draft_to_data(DRAFT)) == DRAFT
    relevant, irrelevant = review_panel.word_values(DRAFT, "relevant"), review_panel.word_values(DRAFT, "irrelevant")
    assert review_panel.words_from_values(relevant, irrelevant) == DRAFT.words
    both = review_panel.words_from_values(["2:effusion"], ["2:effusion", "x:bad"])
    assert both == (WordMark(2, "effusion", "relevant"),)  # a word in both lists counts as relevant


def test_report_word_options_list_the_words_the_model_reads_with_their_positions():
    options = review_panel.report_word_options("Findings: Large left pleural effusion. No pneumothorax.")
    words = [option["value"].split(":", 1)[1] for option in options]
    assert "effusion" in words and "pneumothorax" in words and "Findings" not in words  # headers are not read
    assert len({option["value"] for option in options}) == len(options)


def test_circle_verdicts_at_one_tau_replace_only_that_taus():
    replaced = review_panel.with_circle_marks(DRAFT, 0.3, {0: None, 1: "agree", 2: "other"})
    assert replaced == (CircleMark(0.3, 1, "agree"), CircleMark(0.3, 2, "other"), CircleMark(0.5, 1, "other"))


def test_saved_text_gives_the_time_and_the_aggregate_line_counts_everyone():
    assert review_panel.saved_text(datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)).startswith("saved ")
    assert len(review_panel.saved_text(datetime.now(timezone.utc))) == len("saved 12:34:56")
    from cxrmodel.reviews import StudyAggregate

    line = review_panel.aggregate_text(StudyAggregate(2, {"helpful": 1, "partly": 1}, {"abnormal": 2}, {"agree": 3}, 4))
    assert line == ("All reviewers (2): verdicts 1 helpful, 1 partly; readings 2 abnormal; circles 3 agree; "
                    "4 points.")
    assert review_panel.aggregate_text(StudyAggregate()) == "All reviewers: no review of this study yet."


def _summaries() -> list[StudySummary]:
    return [StudySummary(f"CXR{number}", "abnormal" if number % 2 else "normal", (), True) for number in range(1, 5)]


def test_state_marks_labels_and_filters_of_the_worklist():
    states = {"CXR1": {"mine": True, "others": 0, "disagreement": False},
              "CXR2": {"mine": False, "others": 2, "disagreement": True}}
    assert worklist.state_mark(None) == "○"
    assert worklist.state_mark(ReviewState(mine=True, others=3)) == "✓"
    assert worklist.state_mark(states["CXR2"]) == "●2!"
    labelled = worklist.marked_label("CXR2 — abnormal · P(abnormal) 0.93", "●2!")
    assert labelled == "●2! CXR2 — abnormal · P(abnormal) 0.93"
    assert worklist.marked_label(labelled, "✓") == "✓ CXR2 — abnormal · P(abnormal) 0.93"  # replaced, not stacked

    summaries = _summaries()
    upload = {"label": "my film.png", "value": "upload-abcdefghijklmnopqrstuv"}
    current = [{"label": "CXR1 — abnormal (no MeSH terms) · P(abnormal) 0.91", "value": "CXR1"}, upload]
    everything = worklist.worklist_options(summaries, current, states, worklist.ALL_STUDIES, None)
    assert [option["value"] for option in everything] == ["CXR1", "CXR2", "CXR3", "CXR4", upload["value"]]
    assert everything[0]["label"] == "✓ CXR1 — abnormal (no MeSH terms) · P(abnormal) 0.91"
    assert everything[1]["title"] == "by 2 others; readings disagree"
    unreviewed = worklist.worklist_options(summaries, current, states, worklist.UNREVIEWED, "CXR1")
    assert [option["value"] for option in unreviewed] == ["CXR1", "CXR2", "CXR3", "CXR4", upload["value"]]
    unreviewed = worklist.worklist_options(summaries, current, states, worklist.UNREVIEWED, "CXR3")
    assert [option["value"] for option in unreviewed][:3] == ["CXR2", "CXR3", "CXR4"]
    disputed = worklist.worklist_options(summaries, current, states, worklist.DISAGREEMENTS, None)
    assert [option["value"] for option in disputed] == ["CXR2", upload["value"]]


def test_next_previous_and_next_unreviewed_wrap_round():
    options = [{"value": value} for value in ("A", "B", "C")]
    assert worklist.neighbour(options, "C", 1) == "A" and worklist.neighbour(options, "A", -1) == "C"
    assert worklist.neighbour(options, "gone", 1) == "A" and worklist.neighbour([], "A", 1) is None
    states = {"B": {"mine": True}, "C": {"mine": False, "others": 1}}
    assert worklist.next_unreviewed(["A", "B", "C"], states, "A") == "C"
    assert worklist.next_unreviewed(["A", "B", "C"], states, "C") == "A"
    assert worklist.next_unreviewed(["B"], states, "B") is None


def test_the_agreement_chart_draws_five_lines_and_the_best_tau():
    rows = [{"sight_sensitivity": tau, "pointing_hit_rate": rate, "coverage": 0.1, "above_chance": rate - 0.1,
             "circle_precision": 0.5, "agreed_share": None} for tau, rate in ((0.3, 1.0), (0.5, 0.5))]
    summary = {"thresholds": rows, "best_sight_sensitivity": 0.3, "reviews": 2, "reviewers": 2, "studies": 1,
               "model_vs_reviewers": {"kappa": 0.5, "pairs": 2, "note": ""},
               "between_reviewers": {"kappa": None, "pairs": 0, "note": "none"}}
    figure = worklist.agreement_figure(summary)
    assert [trace.name for trace in figure.data] == [name for _, name, _ in worklist.AGREEMENT_TRACES]
    assert list(figure.data[0].y) == [100.0, 50.0] and list(figure.data[4].y) == [None, None]
    assert list(figure.data[2].y) == pytest.approx([90.0, 40.0])
    assert any("best τ 0.30" in str(annotation.text) for annotation in figure.layout.annotations)
    assert "κ, model label vs reviewers' readings: 0.50 (2 pairs)" in worklist.agreement_note(summary)
    assert worklist.agreement_figure({}).layout.annotations[0].text == "No reviews with this model yet"


def test_local_reviewer_names_keep_only_allowed_characters():
    assert local_reviewer_name("dr. jane o'neil") == "dr.janeoneil"
    assert local_reviewer_name("é") == "local"


class _NoExplainer:
    class bundle:  # noqa: N801 - the attribute the service reads
        fingerprint = "f00d"

    def cached(self, *_):
        return None


@pytest.fixture
def service(tmp_path, tiny_studies_directory):
    from cxrmodel.reviews import ReviewStore

    uploads = UploadStore(tmp_path / "uploads")
    resolver = StudyResolver(StudyCollection.from_folder(tiny_studies_directory), uploads)
    store = ReviewStore(f"sqlite:///{tmp_path / 'reviews.sqlite3'}")
    yield ReviewService(store, _NoExplainer(), resolver, authenticated=True, local_reviewer="local"), uploads
    store.close()
    uploads.close()


def test_the_reviewer_is_the_basic_auth_user_never_a_name_in_the_body(service):
    reviews, _ = service
    app = Flask(__name__)
    header = {"Authorization": "Basic " + base64.b64encode(b"alice:pw").decode()}
    with app.test_request_context("/_dash-update-component", method="POST", headers=header,
                                  json={"reviewer": "mallory", "state": [{"id": "review-reviewer", "value": "x"}]}):
        assert reviews.reviewer() == "alice"
    with app.test_request_context("/"), pytest.raises(ReviewError, match="sign in"):
        reviews.reviewer()
    reviews.authenticated = False
    with app.test_request_context("/", headers=header):
        assert reviews.reviewer() == "local"  # without --auth-file: the one local reviewer, whatever is sent


def test_unknown_studies_other_sessions_uploads_and_unexplained_studies_cannot_be_reviewed(service):
    reviews, uploads = service
    settings = ExplanationSettings()
    with pytest.raises(ReviewError, match="'CXR9999' is not one this page can open"):
        reviews.study_record("CXR9999", "session-a", settings)
    upload_id = uploads.add("session-a", UploadedStudy(b"\x89PNG fake", "report", "film.png", 0.0))
    with pytest.raises(ReviewError, match="is not one this page can open"):
        reviews.study_record(upload_id, "session-b", settings)
    with pytest.raises(ReviewError, match="still being computed"):
        reviews.study_record(upload_id, "session-a", settings)
    with pytest.raises(ReviewError, match="still being computed"):
        reviews.study_record("CXR1", None, settings)
    assert reviews.content_hash(upload_id, "session-b") is None
    assert len(reviews.bundled_content_hashes()) == 6


def test_the_shortcut_legend_lists_exactly_the_keys_the_browser_handles():
    import re
    from pathlib import Path

    from components.review_keys import KEYBOARD_SHORTCUTS, shortcut_text

    script = (Path(__file__).resolve().parents[2] / "assets" / "review_points.js").read_text()
    handled = set(re.findall(r'^\s*"(\w)": function', script, flags=re.M))
    if 'event.key === "Escape"' in script:
        handled.add("esc")
    listed = {key.lower() for keys, _ in KEYBOARD_SHORTCUTS for key in keys.split(" / ")}
    assert listed == handled
    assert shortcut_text().startswith("J next study; K previous study; U next unreviewed;")


def test_a_review_on_an_earlier_model_is_named_not_carried_over():
    from cxrmodel.reviews import StoredReview, StudyRecord

    study = StudyRecord("a" * 64, "old-model", "CXR1", 10, 10, 0.9, {"thresholds": [], "circles": []})
    moment = datetime(2026, 3, 4, 5, 6, tzinfo=timezone.utc)
    earlier = [StoredReview("alice", study, DRAFT, moment, moment)]
    text = review_panel.earlier_text(earlier)
    assert text.startswith("On an earlier model (old-model): you reviewed this film on 2026-03-0")
    assert "verdict partly, reading abnormal" in text and "not carried over" in text
    assert review_panel.earlier_text([]) is None


CHOICES_RUNNER = """
const fs = require("fs");
const vm = require("vm");
const sandbox = {window: {dash_clientside: {no_update: {"__no_update__": true}}},
                 document: {addEventListener: () => {}, getElementById: () => null}};
vm.createContext(sandbox);
vm.runInContext(fs.readFileSync(process.env.CXR_SCRIPT, "utf8"), sandbox);
const calls = JSON.parse(fs.readFileSync(0, "utf8"));
process.stdout.write(JSON.stringify(calls.map((args) => sandbox.window.dash_clientside.cxrReview
  .drawCircleChoices.apply(null, args))));
"""


def test_the_circle_choices_are_tagged_only_when_circles_and_marks_are_one_studys():
    import json
    import os
    import shutil
    import subprocess
    from pathlib import Path

    import pytest

    if shutil.which("node") is None:
        pytest.skip("node is not installed")
    sweep = {"thresholds": [0.5, 0.7], "circles": [[{"x": 1}], [{"x": 1}, {"x": 2}]]}
    calls = [[{"study": "CXR2", "circles": []}, 0.7, sweep, {"study": "CXR2", "drawn": True}],
             # the previous study's marks with the new study's circles (its draft answers later): shown as neither
             [{"study": "CXR1", "circles": []}, 0.7, sweep, {"study": "CXR2"}],
             [None, 0.7, sweep, {"study": "CXR2"}]]
    script = Path(__file__).resolve().parents[2] / "assets" / "review_points.js"
    result = subprocess.run(["node", "-e", CHOICES_RUNNER], input=json.dumps(calls), capture_output=True, text=True,
                            timeout=60, env={**os.environ, "CXR_SCRIPT": str(script)})
    assert result.returncode == 0, result.stderr
    results = json.loads(result.stdout)
    choices, tag = results[0]
    assert len(choices) == 2 and tag == "CXR2"
    assert results[1][1] == ""
    assert results[2] == [[], "CXR2"]  # nothing drawn: nothing to hide
