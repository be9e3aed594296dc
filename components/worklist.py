"""The worklist: each study's review state in the study picker, filters, next / previous / next unreviewed,
keyboard shortcuts, and the agreement chart of the researcher tools.

Owns the ids ``worklist-filter`` (all / unreviewed by me / disagreements), ``worklist-previous``,
``worklist-next``, ``worklist-next-unreviewed``, ``worklist-summary``,
``worklist-states`` (store: per bundled study id, ``{"mine", "others", "disagreement"}``) and
``review-agreement-chart`` / ``review-agreement-note``. The picker's labels get a state mark in front
(:func:`marked_label`); the probability the study callback appends stays at the end. The keyboard shortcuts
(components.review_keys) press these buttons or the review panel's choices.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence

import dash_bootstrap_components as dbc
import plotly.graph_objects as go
from dash import Input, Output, State, callback_context, dcc, html, no_update

from components.review_keys import keys_legend
from components.review_panel import REVIEW_DRAFT_ID
from components.server.reviews import ReviewService
from components.session import SESSION_ID
from components.study_browser import STUDY_PICKER_ID, picker_options
from cxrmodel.data import StudySummary
from cxrmodel.reviews import ReviewError, ReviewState, agreement_summary

logger = logging.getLogger(__name__)

__all__ = ["agreement_layout", "layout", "register_callbacks"]

WORKLIST_FILTER_ID = "worklist-filter"
WORKLIST_PREVIOUS_ID = "worklist-previous"
WORKLIST_NEXT_ID = "worklist-next"
WORKLIST_NEXT_UNREVIEWED_ID = "worklist-next-unreviewed"
WORKLIST_SUMMARY_ID = "worklist-summary"
WORKLIST_STATES_ID = "worklist-states"
AGREEMENT_CHART_ID = "review-agreement-chart"
AGREEMENT_NOTE_ID = "review-agreement-note"

ALL_STUDIES, UNREVIEWED, DISAGREEMENTS = "all", "unreviewed", "disagreements"
FILTER_OPTIONS = [{"label": "All", "value": ALL_STUDIES}, {"label": "Unreviewed by me", "value": UNREVIEWED},
                  {"label": "Disagreements", "value": DISAGREEMENTS}]
NOT_REVIEWED_MARK, MINE_MARK, OTHERS_MARK = "○", "✓", "●"
_MARK = re.compile(r"^(○|✓|●)(\d+)?(!)? ")
AGREEMENT_TRACES = (("pointing_hit_rate", "points inside a circle", "#5a9e6f"),
                    ("coverage", "chance (image inside circles)", "#adb5bd"),
                    ("above_chance", "hit rate above chance", "#b5452f"),
                    ("circle_precision", "circles holding a point", "#3d7ea6"),
                    ("agreed_share", "circles marked agree", "#6f42c1"))


def state_mark(state: ReviewState | dict | None) -> str:
    """The mark in front of a study's label: ○ not reviewed, ✓ reviewed by me, ●N reviewed by N others;
    a trailing ! when readings disagree (pure)."""
    if state is None:
        return NOT_REVIEWED_MARK
    values = state if isinstance(state, dict) else state.__dict__
    mark = MINE_MARK if values.get("mine") else (f"{OTHERS_MARK}{values['others']}" if values.get("others")
                                                else NOT_REVIEWED_MARK)
    return mark + ("!" if values.get("disagreement") else "")


def marked_label(label: str, mark: str) -> str:
    """``label`` with its review-state mark replaced by ``mark`` (pure)."""
    return f"{mark} {_MARK.sub('', str(label))}"


def state_title(state: dict | None) -> str:
    """Words for a study's review state (pure)."""
    if not state:
        return "not reviewed"
    parts = ["reviewed by me"] if state.get("mine") else []
    if state.get("others"):
        parts.append(f"by {state['others']} other{'s' if state['others'] != 1 else ''}")
    text = ", ".join(parts) or "not reviewed"
    return text + ("; readings disagree" if state.get("disagreement") else "")


def worklist_options(summaries: Sequence[StudySummary], current: list[dict] | None, states: dict,
                     shown: str, selected: str | None) -> list[dict]:
    """The picker's options: every bundled study (with the probability the page already added to its label)
    marked with its state, filtered by ``shown``; uploads and the selected study are always kept (pure)."""
    current = current or []
    labels = {option.get("value"): str(option.get("label", "")) for option in current}
    options = []
    for base in picker_options(summaries):
        study_id = base["value"]
        label = labels.get(study_id, base["label"])
        state = states.get(study_id)
        keep = (shown == ALL_STUDIES or study_id == selected
                or (shown == UNREVIEWED and not (state or {}).get("mine"))
                or (shown == DISAGREEMENTS and (state or {}).get("disagreement")))
        if keep:
            options.append({**base, "label": marked_label(label, state_mark(state)), "title": state_title(state)})
    bundled = {summary.study_id for summary in summaries}
    options += [option for option in current if option.get("value") not in bundled]  # this session's uploads
    return options


def neighbour(options: list[dict], selected: str | None, step: int) -> str | None:
    """The option ``step`` places from ``selected`` in the shown order, wrapping round (pure)."""
    values = [option["value"] for option in options]
    if not values:
        return None
    if selected not in values:
        return values[0]
    return values[(values.index(selected) + step) % len(values)]


def next_unreviewed(order: Sequence[str], states: dict, selected: str | None) -> str | None:
    """The first study after ``selected`` (wrapping round) that this reviewer has not reviewed (pure)."""
    if not order:
        return None
    start = order.index(selected) + 1 if selected in order else 0
    for offset in range(len(order)):
        study_id = order[(start + offset) % len(order)]
        if study_id != selected and not (states.get(study_id) or {}).get("mine"):
            return study_id
    return None


def agreement_figure(summary: dict) -> go.Figure:
    """Per tau, the agreement of the circles with the reviewers (pure; :func:`cxrmodel.reviews.agreement_summary`
    as a dict)."""
    figure = go.Figure()
    thresholds = summary.get("thresholds") or []
    taus = [row["sight_sensitivity"] for row in thresholds]
    for key, name, colour in AGREEMENT_TRACES:
        values = [None if row[key] is None else 100 * row[key] for row in thresholds]
        figure.add_trace(go.Scatter(x=taus, y=values, name=name, mode="lines+markers", line={"color": colour},
                                    connectgaps=False, hovertemplate="τ %{x:.2f}: %{y:.0f}%<extra>" + name
                                    + "</extra>"))
    best = summary.get("best_sight_sensitivity")
    if best is not None:
        figure.add_vline(x=best, line={"dash": "dot", "color": "#6c757d"},
                         annotation_text=f"best τ {best:.2f}", annotation_position="top")
    figure.update_layout(height=260, margin={"l": 40, "r": 10, "t": 30, "b": 35}, uirevision="review-agreement",
                         xaxis={"title": "sight sensitivity τ", "range": [0, 1]},
                         yaxis={"title": "%", "range": [-30, 105]}, legend={"orientation": "h", "y": -0.3},
                         template="plotly_white")
    if not thresholds:
        figure.add_annotation(text="No reviews with this model yet", showarrow=False, x=0.5, y=50)
    return figure


def agreement_note(summary: dict) -> str:
    """One line under the chart: how many reviews, the kappas (pure)."""
    def kappa(entry: dict) -> str:
        return ("—" if entry["kappa"] is None else f"{entry['kappa']:.2f}") + f" ({entry['pairs']} pairs)"

    return (f"{summary['reviews']} reviews by {summary['reviewers']} reviewers of {summary['studies']} studies. "
            f"Cohen's κ, model label vs reviewers' readings: {kappa(summary['model_vs_reviewers'])}; between "
            f"reviewers: {kappa(summary['between_reviewers'])}. Also: python -m cxrmodel reviews summary.")


def layout() -> html.Div:
    """Filter, navigation buttons, the reviewed count and the keyboard legend (under the study picker)."""
    return html.Div([
        html.Div([
            dbc.RadioItems(id=WORKLIST_FILTER_ID, options=FILTER_OPTIONS, value=ALL_STUDIES, inline=True,
                           className="small me-2"),
            dbc.ButtonGroup([
                dbc.Button("Previous", id=WORKLIST_PREVIOUS_ID, size="sm", color="secondary", outline=True,
                           title="previous study (K)"),
                dbc.Button("Next", id=WORKLIST_NEXT_ID, size="sm", color="secondary", outline=True,
                           title="next study (J)"),
                dbc.Button("Next unreviewed", id=WORKLIST_NEXT_UNREVIEWED_ID, size="sm", color="primary",
                           outline=True, title="next study you have not reviewed (U)"),
            ], className="me-2"),
            html.Small(id=WORKLIST_SUMMARY_ID, className="text-muted"),
        ], className="d-flex flex-wrap align-items-center gap-1 mt-1"),
        keys_legend(),
        dcc.Store(id=WORKLIST_STATES_ID, data={}),
    ], className="worklist")


def agreement_layout() -> html.Div:
    """The agreement chart for the researcher tools."""
    return html.Div([
        html.H6("Agreement with reviewers", className="mt-2 mb-0"),
        dcc.Graph(id=AGREEMENT_CHART_ID, config={"displaylogo": False}, figure=agreement_figure({}),
                  style={"height": "260px"}),
        html.Small(id=AGREEMENT_NOTE_ID, className="text-muted"),
    ], className="review-agreement-panel")


def register_callbacks(app, service: ReviewService, summaries: Sequence[StudySummary]) -> None:
    """Review states into the picker, the filters, the navigation, and the agreement chart."""
    order = [summary.study_id for summary in summaries]

    @app.callback(
        Output(WORKLIST_STATES_ID, "data"),
        Output(WORKLIST_SUMMARY_ID, "children"),
        Output(AGREEMENT_CHART_ID, "figure"),
        Output(AGREEMENT_NOTE_ID, "children"),
        Input(REVIEW_DRAFT_ID, "data"),
        Input(SESSION_ID, "data"),
    )
    def refresh_states(_draft, _session):
        try:
            reviewer = service.reviewer()
        except ReviewError as error:
            return {}, str(error), no_update, no_update
        by_hash = service.store.review_states(reviewer, service.fingerprint)
        states = {study_id: by_hash[content_hash].__dict__
                  for study_id, content_hash in service.bundled_content_hashes().items() if content_hash in by_hash}
        mine = sum(state["mine"] for state in states.values())
        summary = agreement_summary([review for review in service.store.all_reviews()],
                                    service.fingerprint).to_dict()
        return (states, f"{mine} of {len(order)} reviewed by you", agreement_figure(summary),
                agreement_note(summary))

    @app.callback(
        Output(STUDY_PICKER_ID, "options", allow_duplicate=True),
        Input(WORKLIST_STATES_ID, "data"),
        Input(WORKLIST_FILTER_ID, "value"),
        State(STUDY_PICKER_ID, "options"),
        State(STUDY_PICKER_ID, "value"),
        prevent_initial_call=True,
    )
    def mark_options(states, shown, options, selected):
        return worklist_options(summaries, options, states or {}, shown or ALL_STUDIES, selected)

    @app.callback(
        Output(STUDY_PICKER_ID, "value", allow_duplicate=True),
        Input(WORKLIST_PREVIOUS_ID, "n_clicks"),
        Input(WORKLIST_NEXT_ID, "n_clicks"),
        Input(WORKLIST_NEXT_UNREVIEWED_ID, "n_clicks"),
        State(STUDY_PICKER_ID, "options"),
        State(STUDY_PICKER_ID, "value"),
        State(WORKLIST_STATES_ID, "data"),
        prevent_initial_call=True,
    )
    def move(_previous, _next, _unreviewed, options, selected, states):
        trigger = callback_context.triggered_id
        if trigger == WORKLIST_NEXT_UNREVIEWED_ID:
            target = next_unreviewed(order, states or {}, selected)
        else:
            target = neighbour(options or [], selected, -1 if trigger == WORKLIST_PREVIOUS_ID else 1)
        return target if target and target != selected else no_update
