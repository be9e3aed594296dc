"""The review panel beside the prediction: one reviewer's verdicts on the picked study's explanation.

Owns the ids ``review-verdict`` (helpful / partly / misleading), ``review-label`` (the reviewer's own reading),
``review-circles`` (agree / on something else, per circle at the current tau), ``review-add-point`` (the next
click on the radiograph adds a "finding is here" point, drawn as a cross), ``review-finding-name``,
``review-points`` (the points, each removable), ``review-relevant-words`` / ``review-irrelevant-words``,
``review-comment``, ``review-status`` (says "saved HH:MM:SS" once stored, or why not), ``review-reviewer``,
``review-aggregate`` (what all reviewers said, for everyone), ``review-earlier`` (this reviewer's reviews of the
same film on an earlier model) and the stores ``review-draft`` and ``review-clicked-point``.

Every change saves the whole review at once (:class:`cxrmodel.reviews.ReviewDraft`); the draft store is tagged
with the study it belongs to, so a change can never be saved onto another study. The reviewer comes from the
server (:class:`components.server.reviews.ReviewService`), never from the page. Crosses and clicks on the radiograph
are drawn and read in the browser (assets/review_points.js).
"""

from __future__ import annotations

import logging
from datetime import datetime

import dash_bootstrap_components as dbc
from dash import ALL, ClientsideFunction, Input, Output, State, callback_context, dcc, html, no_update

from components import study_loading, threshold_control, xray_view
from components.presenter import explanation_settings
from components.server.reviews import ReviewService
from components.session import SESSION_ID
from components.study_browser import STUDY_PICKER_ID
from cxrmodel.reviews import (
    MAX_COMMENT_CHARACTERS,
    CircleMark,
    FindingMark,
    ReviewDraft,
    ReviewError,
    StoredReview,
    StudyAggregate,
    WordMark,
)
from cxrmodel.text import tokenize_report

logger = logging.getLogger(__name__)

__all__ = ["REVIEW_DRAFT_ID", "REVIEW_STATUS_ID", "layout", "register_callbacks"]

REVIEW_PANEL_ID = "review-panel"
REVIEW_VERDICT_ID = "review-verdict"
REVIEW_LABEL_ID = "review-label"
REVIEW_CIRCLES_ID = "review-circles"
REVIEW_CIRCLES_TAG_ID = "review-circles-tag"
"""The study whose circles and marks the circle choices draw (components.study_loading: hidden while it is not the
picked one)."""
REVIEW_CIRCLE_TYPE = "review-circle"
REVIEW_ADD_POINT_ID = "review-add-point"
REVIEW_FINDING_NAME_ID = "review-finding-name"
REVIEW_POINTS_ID = "review-points"
REVIEW_REMOVE_POINT_TYPE = "review-remove-point"
REVIEW_RELEVANT_WORDS_ID = "review-relevant-words"
REVIEW_IRRELEVANT_WORDS_ID = "review-irrelevant-words"
REVIEW_COMMENT_ID = "review-comment"
REVIEW_STATUS_ID = "review-status"
REVIEW_REVIEWER_ID = "review-reviewer"
REVIEW_AGGREGATE_ID = "review-aggregate"
REVIEW_EARLIER_ID = "review-earlier"
REVIEW_DRAFT_ID = "review-draft"
REVIEW_CLICKED_POINT_ID = "review-clicked-point"
REVIEW_CROSSES_ID = "review-crosses"
REVIEW_CIRCLE_MARKS_ID = "review-circle-marks"

VERDICT_OPTIONS = [{"label": "Helpful", "value": "helpful"}, {"label": "Partly", "value": "partly"},
                   {"label": "Misleading", "value": "misleading"}]
LABEL_OPTIONS = [{"label": "Normal", "value": "normal"}, {"label": "Abnormal", "value": "abnormal"},
                 {"label": "Unsure", "value": "unsure"}]
NOT_REVIEWED = "Not reviewed yet: your first mark saves it."
WORD_SEPARATOR = ":"


# -- pure helpers ---------------------------------------------------------------------------------------------

def draft_to_data(draft: ReviewDraft) -> dict:
    """A draft as JSON for the page's store."""
    return {"verdict": draft.verdict, "reading": draft.reading, "comment": draft.comment,
            "sight_sensitivity": draft.sight_sensitivity,
            "circles": [[mark.sight_sensitivity, mark.circle_index, mark.verdict] for mark in draft.circles],
            "points": [[point.x, point.y, point.finding] for point in draft.points],
            "words": [[word.token_index, word.word, word.flag] for word in draft.words]}


def draft_from_data(data: dict | None) -> ReviewDraft:
    """The draft of the page's store (checked again when saved)."""
    data = data or {}
    return ReviewDraft(
        verdict=data.get("verdict"), reading=data.get("reading"), comment=data.get("comment") or "",
        sight_sensitivity=data.get("sight_sensitivity"),
        circles=tuple(CircleMark(float(tau), int(index), verdict) for tau, index, verdict in data.get("circles", [])),
        points=tuple(FindingMark(x, y, finding or "") for x, y, finding in data.get("points", [])),
        words=tuple(WordMark(int(index), word, flag) for index, word, flag in data.get("words", [])))


def report_word_options(report_text: str) -> list[dict]:
    """One option per report word the model reads (its position among the written words, and its text), for the
    word flags (pure)."""
    return [{"label": f"{token.text} ({position + 1})", "value": f"{position}{WORD_SEPARATOR}{token.text}"}
            for position, token in enumerate(tokenize_report(report_text or "")) if token.kept]


def word_values(draft: ReviewDraft, flag: str) -> list[str]:
    """The word-flag dropdown values of one flag (pure)."""
    return [f"{word.token_index}{WORD_SEPARATOR}{word.word}" for word in draft.words if word.flag == flag]


def words_from_values(relevant: list[str] | None, irrelevant: list[str] | None) -> tuple[WordMark, ...]:
    """Word marks from the two dropdowns; a word in both counts as relevant (pure)."""
    marks: dict[int, WordMark] = {}
    for flag, values in (("irrelevant", irrelevant or []), ("relevant", relevant or [])):
        for value in values:
            position, _, word = str(value).partition(WORD_SEPARATOR)
            if position.isdigit():
                marks[int(position)] = WordMark(int(position), word, flag)
    return tuple(marks[position] for position in sorted(marks))


def with_circle_marks(draft: ReviewDraft, tau: float, verdicts: dict[int, str | None]) -> tuple[CircleMark, ...]:
    """The draft's circle marks with those at ``tau`` replaced by ``verdicts`` (None: no verdict) (pure)."""
    kept = [mark for mark in draft.circles if abs(mark.sight_sensitivity - tau) > 1e-6]
    kept += [CircleMark(tau, index, verdict) for index, verdict in sorted(verdicts.items()) if verdict]
    return tuple(sorted(kept, key=lambda mark: (mark.sight_sensitivity, mark.circle_index)))


def saved_text(moment: datetime) -> str:
    """What ``review-status`` says once a review is stored: "saved HH:MM:SS" (local time of the server)."""
    return f"saved {moment.astimezone().strftime('%H:%M:%S')}"


def aggregate_text(aggregate: StudyAggregate) -> str:
    """One line of what all reviewers said of this study with this model (pure)."""
    if aggregate.reviewers == 0:
        return "All reviewers: no review of this study yet."

    def counts(values: dict[str, int]) -> str:
        return ", ".join(f"{count} {name}" for name, count in sorted(values.items())) or "none"

    return (f"All reviewers ({aggregate.reviewers}): verdicts {counts(aggregate.verdicts)}; readings "
            f"{counts(aggregate.readings)}; circles {counts(aggregate.circle_verdicts)}; {aggregate.points} points.")


def earlier_text(reviews: list[StoredReview]) -> str | None:
    """The note on this reviewer's reviews of the same film with other models (pure)."""
    if not reviews:
        return None
    latest = max(reviews, key=lambda review: review.updated_at)
    return (f"On an earlier model ({latest.study.bundle_fingerprint}): you reviewed this film on "
            f"{latest.updated_at.astimezone():%Y-%m-%d %H:%M}, verdict {latest.draft.verdict or 'none'}, reading "
            f"{latest.draft.reading or 'none'}. Those marks are not carried over.")


def point_rows(draft: ReviewDraft) -> list:
    """The points, each with its finding name and a remove button (pure)."""
    if not draft.points:
        return [html.Small("No point yet.", className="text-muted")]
    return [html.Div([html.Span(f"✕ {number + 1}: ({point.x:.0f}, {point.y:.0f})"
                                + (f" {point.finding}" if point.finding else ""), className="small me-2"),
                      dbc.Button("remove", id={"type": REVIEW_REMOVE_POINT_TYPE, "index": number}, size="sm",
                                 color="link", className="p-0 small")],
                     className="d-flex align-items-center") for number, point in enumerate(draft.points)]


# -- layout ---------------------------------------------------------------------------------------------------

def layout() -> dbc.Card:
    """The panel (empty until a study is picked)."""
    return dbc.Card(dbc.CardBody([
        html.Div([html.H6("Your review", className="mb-0 me-2"),
                  html.Small(id=REVIEW_REVIEWER_ID, className="text-muted me-auto"),
                  html.Small(NOT_REVIEWED, id=REVIEW_STATUS_ID, className="text-muted", **{"aria-live": "polite"})],
                 className="d-flex flex-wrap align-items-center gap-1 mb-1"),
        html.Div(id=REVIEW_EARLIER_ID, className="small text-warning-emphasis"),
        dbc.Label("The explanation is", className="small mb-0"),
        dbc.RadioItems(id=REVIEW_VERDICT_ID, options=VERDICT_OPTIONS, value=None, inline=True, className="small"),
        dbc.Label("Your own reading", className="small mb-0"),
        dbc.RadioItems(id=REVIEW_LABEL_ID, options=LABEL_OPTIONS, value=None, inline=True, className="small"),
        dbc.Label("Circles at this τ", className="small mb-0"),
        html.Div(id=REVIEW_CIRCLES_ID),
        study_loading.tag_element(REVIEW_CIRCLES_TAG_ID),
        dbc.Label("The finding is here", className="small mb-0 mt-1"),
        html.Div([dbc.Input(id=REVIEW_FINDING_NAME_ID, placeholder="finding (optional)", size="sm", maxLength=100,
                            className="me-1", style={"maxWidth": "12rem"}),
                  dbc.Button("Add a point", id=REVIEW_ADD_POINT_ID, size="sm", color="secondary", outline=True,
                             title="then click the radiograph")],
                 className="d-flex align-items-center"),
        html.Div(id=REVIEW_POINTS_ID),
        dbc.Label("Report words", className="small mb-0 mt-1"),
        dcc.Dropdown(id=REVIEW_RELEVANT_WORDS_ID, multi=True, placeholder="relevant words…", options=[]),
        dcc.Dropdown(id=REVIEW_IRRELEVANT_WORDS_ID, multi=True, placeholder="irrelevant words…", options=[]),
        dbc.Textarea(id=REVIEW_COMMENT_ID, placeholder=f"comment (at most {MAX_COMMENT_CHARACTERS} characters)",
                     maxLength=MAX_COMMENT_CHARACTERS, debounce=True, rows=2, className="mt-1 small"),
        html.Small(id=REVIEW_AGGREGATE_ID, className="text-muted d-block mt-1"),
        dcc.Store(id=REVIEW_DRAFT_ID, data=None),
        dcc.Store(id=REVIEW_CLICKED_POINT_ID, data=None),
        dcc.Store(id=REVIEW_CROSSES_ID, data=0),
        dcc.Store(id=REVIEW_CIRCLE_MARKS_ID, data=None),
    ]), id=REVIEW_PANEL_ID, className="mb-1 review-panel")


# -- callbacks ------------------------------------------------------------------------------------------------

def _settings(link_distance, min_points, smoothing, tau):
    return explanation_settings(link_distance, min_points, tau, smoothing)


def register_callbacks(app, service: ReviewService) -> None:
    """Load the review of the picked study, save every change, draw the circle choices at the current tau."""
    settings_states = [State(threshold_control.LINK_DISTANCE_ID, "value"),
                       State(threshold_control.MIN_POINTS_ID, "value"),
                       State(threshold_control.SMOOTHING_ID, "value")]

    @app.callback(
        Output(REVIEW_DRAFT_ID, "data"),
        Output(REVIEW_VERDICT_ID, "value"),
        Output(REVIEW_LABEL_ID, "value"),
        Output(REVIEW_COMMENT_ID, "value"),
        Output(REVIEW_RELEVANT_WORDS_ID, "options"),
        Output(REVIEW_IRRELEVANT_WORDS_ID, "options"),
        Output(REVIEW_RELEVANT_WORDS_ID, "value"),
        Output(REVIEW_IRRELEVANT_WORDS_ID, "value"),
        Output(REVIEW_STATUS_ID, "children"),
        Output(REVIEW_AGGREGATE_ID, "children"),
        Output(REVIEW_EARLIER_ID, "children"),
        Output(REVIEW_REVIEWER_ID, "children"),
        Input(STUDY_PICKER_ID, "value"),
        Input(SESSION_ID, "data"),
    )
    def load_review(study_id, session_id):
        try:
            reviewer = service.reviewer()
        except ReviewError as error:
            return (None, None, None, "", [], [], [], [], str(error), "", None, "")
        source = service.resolver.source(study_id, session_id)
        if source is None:
            return (None, None, None, "", [], [], [], [], "Pick a study to review it.", "", None,
                    f"as {reviewer}")
        content_hash = service.content_hash(study_id, session_id)
        stored = service.store.review(reviewer, content_hash, service.fingerprint)
        draft = stored.draft if stored is not None else ReviewDraft()
        options = report_word_options(source.report_text)
        status = saved_text(stored.updated_at) if stored is not None else NOT_REVIEWED
        data = {"study": study_id, "content_hash": content_hash, **draft_to_data(draft)}
        return (data, draft.verdict, draft.reading, draft.comment, options, options, word_values(draft, "relevant"),
                word_values(draft, "irrelevant"), status,
                aggregate_text(service.store.aggregate(content_hash, service.fingerprint)),
                earlier_text(service.store.earlier_reviews(reviewer, content_hash, service.fingerprint)),
                f"as {reviewer}")

    @app.callback(
        Output(REVIEW_DRAFT_ID, "data", allow_duplicate=True),
        Output(REVIEW_STATUS_ID, "children", allow_duplicate=True),
        Output(REVIEW_AGGREGATE_ID, "children", allow_duplicate=True),
        Input(REVIEW_VERDICT_ID, "value"),
        Input(REVIEW_LABEL_ID, "value"),
        Input(REVIEW_COMMENT_ID, "value"),
        Input(REVIEW_RELEVANT_WORDS_ID, "value"),
        Input(REVIEW_IRRELEVANT_WORDS_ID, "value"),
        Input(REVIEW_CIRCLE_MARKS_ID, "data"),
        Input(REVIEW_CLICKED_POINT_ID, "data"),
        Input({"type": REVIEW_REMOVE_POINT_TYPE, "index": ALL}, "n_clicks"),
        # The study's circles arriving: marks made while it was still being explained are saved then.
        Input(threshold_control.CIRCLE_SWEEP_ID, "data"),
        State(REVIEW_FINDING_NAME_ID, "value"),
        State(REVIEW_DRAFT_ID, "data"),
        State(SESSION_ID, "data"),
        State(threshold_control.SIGHT_SENSITIVITY_ID, "value"),
        *settings_states,
        prevent_initial_call=True,
    )
    def save_review(verdict, reading, comment, relevant, irrelevant, circle_marks, clicked, _removes, sweep,
                    finding_name, data, session_id, tau, link_distance, min_points, smoothing):
        if not data or not data.get("study"):
            return no_update, no_update, no_update
        old = draft_from_data(data)
        thresholds = (sweep or {}).get("thresholds") or []
        at = threshold_control.nearest_threshold_index(thresholds, tau)
        shown_tau = float(thresholds[at]) if at >= 0 else None
        circles = old.circles
        trigger = callback_context.triggered_id
        if trigger == REVIEW_CIRCLE_MARKS_ID and circle_marks and circle_marks.get("study") == data["study"]:
            verdicts = {int(index): verdict for index, verdict in (circle_marks.get("verdicts") or {}).items()}
            circles = with_circle_marks(old, float(circle_marks["tau"]), verdicts)
        points = list(old.points)
        if trigger == REVIEW_CLICKED_POINT_ID and clicked and clicked.get("study") == data["study"]:
            points.append(FindingMark(clicked.get("x"), clicked.get("y"), (finding_name or "").strip()))
        if isinstance(trigger, dict) and trigger.get("type") == REVIEW_REMOVE_POINT_TYPE:
            if callback_context.triggered[0]["value"] and 0 <= trigger["index"] < len(points):
                del points[trigger["index"]]
        draft = ReviewDraft(verdict=verdict, reading=reading, comment=comment or "", circles=circles,
                            points=tuple(points), words=words_from_values(relevant, irrelevant),
                            sight_sensitivity=shown_tau if shown_tau is not None else old.sight_sensitivity)
        unchanged = draft.__class__(**{**draft.__dict__, "sight_sensitivity": old.sight_sensitivity}) == old
        if unchanged:
            return no_update, no_update, no_update
        try:
            reviewer = service.reviewer()
            study = service.study_record(data["study"], session_id,
                                         _settings(link_distance, min_points, smoothing, tau))
            if study.content_hash != data.get("content_hash"):
                raise ReviewError("this study changed since the panel was opened; pick it again")
            stored = service.store.save(reviewer, study, draft)
        except ReviewError as error:
            return no_update, f"not saved: {error}", no_update
        new_data = {"study": data["study"], "content_hash": data["content_hash"], **draft_to_data(stored.draft)}
        return (new_data, saved_text(stored.updated_at),
                aggregate_text(service.store.aggregate(study.content_hash, service.fingerprint)))

    # In the browser: the crosses, and the circle choices at the slider's tau (moving the slider never calls the
    # server); a choice the reviewer changes reaches the save callback through review-circle-marks.
    app.clientside_callback(ClientsideFunction(namespace="cxrReview", function_name="drawCrosses"),
                            Output(REVIEW_CROSSES_ID, "data"), Input(REVIEW_DRAFT_ID, "data"),
                            Input(xray_view.XRAY_GRAPH_ID, "figure"))
    app.clientside_callback(ClientsideFunction(namespace="cxrReview", function_name="drawCircleChoices"),
                            Output(REVIEW_CIRCLES_ID, "children"), Output(REVIEW_CIRCLES_TAG_ID, "children"),
                            Input(REVIEW_DRAFT_ID, "data"),
                            Input(threshold_control.SIGHT_SENSITIVITY_ID, "value"),
                            Input(threshold_control.CIRCLE_SWEEP_ID, "data"),
                            State(study_loading.SHOWN_STUDY_ID, "data"))
    app.clientside_callback(ClientsideFunction(namespace="cxrReview", function_name="circleMarks"),
                            Output(REVIEW_CIRCLE_MARKS_ID, "data"),
                            Input({"type": REVIEW_CIRCLE_TYPE, "index": ALL}, "value"),
                            State({"type": REVIEW_CIRCLE_TYPE, "index": ALL}, "id"),
                            State(REVIEW_DRAFT_ID, "data"),
                            State(threshold_control.SIGHT_SENSITIVITY_ID, "value"),
                            State(threshold_control.CIRCLE_SWEEP_ID, "data"), prevent_initial_call=True)

    @app.callback(Output(REVIEW_POINTS_ID, "children"), Input(REVIEW_DRAFT_ID, "data"))
    def draw_points(data):
        return point_rows(draft_from_data(data)) if data else []
