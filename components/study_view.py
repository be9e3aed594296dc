"""The selected study explained: X-ray with circles, report word heatmap, prediction card, side-by-side mode.

Owns the ids ``prediction`` (the prediction card body), ``study-report`` (the report as written), ``url``
(the view in the address bar, ``/?study=<uId>&tau=<tau>&compare=1``: components.url_state), ``study-error``,
``compare-mode`` (switch) and the three layout columns ``viewer-column``, ``compare-column`` and ``details-column``.

One plain server callback per picked study reads the explanation from the on-disk cache and fills the viewer,
the slider's sweep store, the word heatmap and the sweep chart (a cached study never waits for a background
job); an uncached study is handed to the background job (components.explanation_progress) and drawn when it is
done (the decision: components.study_opening). From the moment a study is picked, every panel still holding
another study (film, circles, prediction, stability, words, report, what-if, comparison, sweep chart) shows a
loading state instead, and draws only content tagged with the picked study (components.study_loading;
:func:`study_panels` says which tag tags which panel).
Every slider move afterwards is handled in the browser (components.threshold_control), and so is the
side-by-side mode: the second viewer gets a copy of the first one's figure and sweep in the browser
(assets/compare.js), so the radiograph is never sent twice.

This module is the layout and the callback wiring only; what a pick resolves to and what the panel shows for it
(:class:`~components.presenter.StudyPanel`, one field per output of the study callback) live in
:mod:`components.presenter`, which also defines the panel's ids ``prediction``, ``study-report`` and
``study-error`` (re-exported here).
"""

from __future__ import annotations

import logging
import os
import time

import dash_bootstrap_components as dbc
from dash import ClientsideFunction, Input, Output, State, callback_context, dcc, html, no_update

from components import (
    distribution_gate,
    evidence_view,
    explanation_progress,
    export_tools,
    model_comparison,
    reading_guide,
    report_view,
    research_tools,
    review_panel,
    stability_check,
    study_loading,
    study_opening,
    threshold_control,
    url_state,
    what_if,
    worklist,
    xray_view,
)
from components.presenter import (
    PREDICTION_ID,
    STUDY_ERROR_ID,
    STUDY_REPORT_ID,
    StudyResolver,
    explanation_settings,
)
from components.server import model_worker
from components.server.job_slots import JobSlots
from components.session import SESSION_ID
from components.study_browser import STUDY_PICKER_ID
from cxrmodel.explain import ExplanationSettings, StudyExplainer

logger = logging.getLogger(__name__)

__all__ = [
    "COMPARE_COLUMN_ID",
    "COMPARE_MODE_ID",
    "COMPARE_SUFFIX",
    "DEFAULT_COMPARE_SIGHT_SENSITIVITY",
    "DETAILS_COLUMN_ID",
    "PREDICTION_ID",
    "STUDY_ERROR_ID",
    "STUDY_REPORT_ID",
    "URL_ID",
    "VIEWER_COLUMN_ID",
    "layout",
    "register_callbacks",
]

URL_ID = "url"
COMPARE_MODE_ID = "compare-mode"
VIEWER_COLUMN_ID = "viewer-column"
COMPARE_COLUMN_ID = "compare-column"
DETAILS_COLUMN_ID = "details-column"
STABILITY_PANEL_ID = "stability-panel"
STABILITY_STUDY_TAG_ID = "stability-study-tag"

COMPARE_SUFFIX = "-compare"
DEFAULT_COMPARE_SIGHT_SENSITIVITY = 0.3
"""The second viewer's starting tau: the paper's "noisy" figure beside the focused default."""
VIEWER_HEIGHT = "clamp(320px, calc(100vh - 252px), 640px)"
"""The radiograph's height: 640 px where the screen allows, less on a short one, so that the whole film is on
the first screen under the header, the study and worklist rows and the slider (about 245 px, assets/layout.css):
on a 1366 x 768 laptop (a 625 px high viewport in Chromium) the film is 373 px high
(tests/browser/test_first_screen_browser.py)."""


def study_panels(with_comparison: bool) -> dict[str, str]:
    """``{panel id: study tag id}``: every panel of a study and the tag written with its content (pure).

    The radiograph, prediction, report, error and "cancelled" panels are filled by the study callback
    (``shown-study-tag``); the circle summaries by the browser's redraw of the circles, which tags them with the
    figure's study (and the second viewer, a copy of the first, with it); the words, strongest words and sweep
    chart by the second step (``details-study-tag``); the stability badge, the what-if card and the model
    comparison by their own callbacks; the review panel's circle choices by their drawing in the browser, with the
    study whose circles and marks they are.
    """
    shown, details = study_loading.SHOWN_STUDY_TAG_ID, study_loading.DETAILS_STUDY_TAG_ID
    panels = {
        xray_view.xray_ids()["frame"]: shown,
        threshold_control.threshold_ids()["summary"]: threshold_control.threshold_ids()["summary_tag"],
        # The second viewer's figure is a copy made in the browser: its study is the one its summary was drawn for.
        xray_view.xray_ids(COMPARE_SUFFIX)["frame"]: threshold_control.threshold_ids(COMPARE_SUFFIX)["summary_tag"],
        threshold_control.threshold_ids(COMPARE_SUFFIX)["summary"]:
            threshold_control.threshold_ids(COMPARE_SUFFIX)["summary_tag"],
        PREDICTION_ID: shown,
        STUDY_REPORT_ID: shown,
        STUDY_ERROR_ID: shown,
        explanation_progress.CANCELLED_ID: shown,
        STABILITY_PANEL_ID: STABILITY_STUDY_TAG_ID,
        report_view.WORDS_GRAPH_ID: details,
        report_view.STRONGEST_WORDS_ID: details,
        research_tools.SWEEP_CHART_ID: details,
        what_if.WHAT_IF_CARD_ID: what_if.WHAT_IF_STUDY_TAG_ID,
        # The reviewer's per-circle choices are drawn in the browser from the circle sweep that came with the film.
        review_panel.REVIEW_CIRCLES_ID: review_panel.REVIEW_CIRCLES_TAG_ID,
    }
    if with_comparison:
        panels[model_comparison.COMPARISON_CARD_ID] = model_comparison.COMPARISON_STUDY_TAG_ID
    return panels


def layout(default_sight_sensitivity: float, default_link_distance: float, default_smoothing: float = 0.0,
           studies: tuple[str, ...] = (), default_study: str | None = None, max_tokens: int = 140,
           default_min_points: int = threshold_control.DEFAULT_MIN_POINTS, guide_open: bool = False,
           compared_models: tuple[str, ...] = (), reads_image: bool = True) -> html.Div:
    """Viewer and slider on the left; prediction, word heatmap and the report on the right; tools below.

    ``compared_models`` (the names of the dashboard's model and of its comparison bundles) adds the model
    comparison card (components.model_comparison) under the what-if card. ``studies`` (the bundled ids) and
    ``default_study`` (shown when the URL names none) are what links may open
    (components.url_state); ``max_tokens`` and ``default_min_points`` go into the "How to read this" legend,
    open from the start when ``guide_open``. A model that does not read the image (``reads_image`` False: a
    text-only bundle) has no circles, so the sight-sensitivity slider and the side-by-side switch are hidden (they
    stay in the page: the callbacks read them).
    """
    for_images = None if reads_image else {"display": "none"}
    compare_viewer = html.Div(
        [
            url_state.panel_label(COMPARE_SUFFIX),
            threshold_control.layout(DEFAULT_COMPARE_SIGHT_SENSITIVITY, suffix=COMPARE_SUFFIX),
            xray_view.layout(suffix=COMPARE_SUFFIX, height=VIEWER_HEIGHT),
        ]
    )
    return html.Div(
        [
            dcc.Location(id=URL_ID, refresh=False),
            distribution_gate.layout(),
            url_state.layout(studies, default_study, default_sight_sensitivity),
            html.Div(id=STUDY_ERROR_ID, className=study_loading.QUIET_LOADING_CLASS),
            study_loading.layout(study_panels(bool(compared_models))),
            dbc.Row(
                [
                    dbc.Col([url_state.panel_label(),
                             html.Div(threshold_control.layout(default_sight_sensitivity,
                                                               evidence_id=evidence_view.REGION_EVIDENCE_ID),
                                      style=for_images),
                             xray_view.layout(height=VIEWER_HEIGHT),
                             # Under the film, not above it: the whole radiograph is on the first screen.
                             html.Div(
                                 [html.Div(dbc.Switch(id=COMPARE_MODE_ID, label="Side by side: the same study at "
                                                      "two sight sensitivities", value=False, className="mb-0 me-3"),
                                           style=for_images),
                                  url_state.copy_link_layout()],
                                 className="d-flex flex-wrap align-items-center gap-2 view-bar",
                             )],
                            id=VIEWER_COLUMN_ID, lg=7),
                    dbc.Col(compare_viewer, id=COMPARE_COLUMN_ID, lg=6, style={"display": "none"}),
                    dbc.Col(
                        [
                            # The explanation's progress, Cancel and Restart head the right column: appearing and
                            # going, they never move the film.
                            explanation_progress.layout(),
                            reading_guide.layout(default_sight_sensitivity, default_link_distance,
                                                 default_min_points, max_tokens, open_=guide_open),
                            dbc.Card(dbc.CardBody(id=PREDICTION_ID), className="mb-1"),
                            # The exports of the study on screen, next to its card (not only in the tools below).
                            export_tools.layout(),
                            review_panel.layout(),
                            html.Div([stability_check.layout(), study_loading.tag_element(STABILITY_STUDY_TAG_ID)],
                                     id=STABILITY_PANEL_ID),
                            report_view.layout(),
                            html.Details(
                                [html.Summary("Report as written"),
                                 html.Pre(id=STUDY_REPORT_ID, className="report-text")],
                                className="mt-2",
                            ),
                            what_if.layout(),
                            *([model_comparison.layout(compared_models)] if compared_models else []),
                        ],
                        id=DETAILS_COLUMN_ID,
                        lg=5,
                    ),
                ],
                className="mt-2",
            ),
            html.Details(
                [
                    html.Summary("Researcher tools: threshold sweep, clustering", className="fw-semibold"),
                    dbc.Row(
                        [
                            dbc.Col([research_tools.layout(), worklist.agreement_layout()], lg=8),
                            dbc.Col([threshold_control.advanced_layout(default_link_distance,
                                                                      default_smoothing=default_smoothing)], lg=4),
                        ],
                        className="mt-2",
                    ),
                ],
                className="mt-3 mb-4",
            ),
        ]
    )


WORKER_WAIT_SECONDS = 30.0
"""How long a what-if request waits for a model worker that is starting or restarting before it says so: as long as
loading the model takes (model_worker.LOADING_MODEL_WORDS, "about 30 s"); a restart on busy cores took more than
the 15 s this was before, and the what-if said "unavailable" while the worker was still loading."""


class WhatIfUnavailable(RuntimeError):
    """No model process to ask: the what-if needs the long-lived model worker."""

    message = ("it needs the model worker, which keeps the model loaded (started by `python app.py`; under "
               "gunicorn set CXR_MODEL_WORKER_URL, see docs/deployment.md)")


def _no_model_worker(_image_bytes: bytes, _report: str, _shown_anyway: bool) -> dict:
    raise WhatIfUnavailable(WhatIfUnavailable.message)


def register_callbacks(app, explainer: StudyExplainer, resolver: StudyResolver, job_slots: JobSlots,
                       model_worker_url: str | None = None,
                       comparison_explainers: tuple[StudyExplainer, ...] = ()) -> None:
    """Deep links, the study callback, the background job (bounded by ``job_slots``), the side-by-side mode and
    the what-if card.

    With ``model_worker_url`` (components.server.model_worker: the long-lived process that keeps the model
    loaded), explanation jobs ask the worker, so a first-time explanation does not load the model (when the
    worker cannot be reached the job says so and computes itself), and the what-if card predicts through it;
    without one the what-if card says it needs the worker. ``comparison_explainers`` (other bundles, sharing the
    explanation cache) fill the model comparison card.
    """
    client = model_worker.ModelWorkerClient(model_worker_url) if model_worker_url else None
    xray_view.register_callbacks(app)
    xray_view.register_callbacks(app, suffix=COMPARE_SUFFIX)
    threshold_control.register_callbacks(app)
    threshold_control.register_callbacks(app, suffix=COMPARE_SUFFIX)
    # The address bar <-> study, tau and side by side, in the browser (no server round trip per slider rest).
    url_state.register_callbacks(app, URL_ID, STUDY_PICKER_ID, COMPARE_MODE_ID, threshold_control.SIGHT_SENSITIVITY_ID,
                                 threshold_control.threshold_ids(COMPARE_SUFFIX)["slider"], COMPARE_SUFFIX)

    # Benchmark baseline only (benchmarks/cached_open_browser_benchmark.py): cached studies through the job.
    cached_open_via_job = os.environ.get(study_opening.CACHED_OPEN_VIA_JOB_ENV) == "1"
    control_ids = (threshold_control.LINK_DISTANCE_ID, threshold_control.MIN_POINTS_ID, threshold_control.SMOOTHING_ID)

    @app.callback(
        *study_opening.StudyOutputs.outputs(),
        Input(STUDY_PICKER_ID, "value"),
        Input(study_loading.STUDY_REFRESH_ID, "data"),
        Input(explanation_progress.RESTART_ID, "n_clicks"),
        *[Input(control_id, "value") for control_id in control_ids],
        Input(distribution_gate.SHOWN_ANYWAY_ID, "data"),
        State(SESSION_ID, "data"),
        State(STUDY_PICKER_ID, "options"),
        State(threshold_control.SIGHT_SENSITIVITY_ID, "value"),
        State(explanation_progress.EXPLANATION_REQUEST_ID, "data"),
        State(explanation_progress.EXPLANATION_READY_ID, "data"),
        prevent_initial_call="initial_duplicate",
    )
    def show_study(study_id, refresh, _restart, link_distance, min_points, smoothing, shown_anyway, session_id,
                   options, sight_sensitivity, request, ready):
        # Show anyway draws the same study again, as a clustering control does.
        trigger = study_opening.trigger_of(list(callback_context.triggered_prop_ids.values()),
                                           study_loading.STUDY_REFRESH_ID,
                                           explanation_progress.RESTART_ID,
                                           (*control_ids, distribution_gate.SHOWN_ANYWAY_ID))
        try:
            settings = explanation_settings(link_distance, min_points, sight_sensitivity, smoothing)
            outputs = study_opening.open_study(
                trigger, study_id, refresh, session_id, settings, options, explainer, resolver,
                job_may_be_running=explanation_progress.job_may_be_running(request, ready),
                cached_open_via_job=cached_open_via_job,
                shown_anyway=distribution_gate.shown_anyway_for(shown_anyway, study_id))
        except Exception:  # noqa: BLE001 - any failure becomes an alert; the server keeps serving
            logger.exception("showing a study failed")
            outputs = study_opening.failed(study_id)
        return outputs.as_tuple()

    @app.callback(
        Output(report_view.WORDS_GRAPH_ID, "figure", allow_duplicate=True),
        Output(report_view.STRONGEST_WORDS_ID, "children", allow_duplicate=True),
        Output(research_tools.SWEEP_CHART_ID, "figure", allow_duplicate=True),
        Output(study_loading.DETAILS_STUDY_TAG_ID, "children"),
        Input(study_loading.SHOWN_STUDY_PAINTED_ID, "data"),
        State(STUDY_PICKER_ID, "value"),
        State(SESSION_ID, "data"),
        *[State(control_id, "value") for control_id in control_ids],
        State(threshold_control.SIGHT_SENSITIVITY_ID, "value"),
        State(distribution_gate.SHOWN_ANYWAY_ID, "data"),
        prevent_initial_call=True,
    )
    def show_study_details(shown, picked, session_id, link_distance, min_points, smoothing, sight_sensitivity,
                           shown_anyway):
        # The second step of opening a study: words and sweep chart, after the radiograph and circles are drawn.
        try:
            settings = explanation_settings(link_distance, min_points, sight_sensitivity, smoothing)
            return study_opening.details_outputs(shown, picked, session_id, settings, explainer, resolver,
                                                 distribution_gate.shown_anyway_for(shown_anyway, picked))
        except Exception:  # noqa: BLE001 - the panel is drawn; a failure here leaves the words empty
            logger.exception("showing a study's words and sweep chart failed")
            return study_opening.details_failed(shown, picked)

    def compute(image_bytes: bytes, report_text: str, progress, phase_done, sight_sensitivity=None) -> None:
        # The circles first, then the evidence at the reader's tau, then the rest (explain_in_phases); each phase
        # finds the one before in the cache (the worker's or this job's) and computes only what is missing.
        settings = ExplanationSettings(sight_sensitivity=sight_sensitivity)

        def waiting(seconds: float) -> None:
            progress(0.0, f"waiting for a free slot ({job_slots.count} explanations at a time), {seconds:.0f} s")

        def attribute(evidence_scope: str, report_progress) -> None:
            def in_this_job(image: bytes, report: str, job_progress) -> None:
                explainer.attribute(image, report, settings, progress=job_progress, evidence_scope=evidence_scope)

            if client is None:
                in_this_job(image_bytes, report_text, report_progress)
            else:
                model_worker.explain_via_worker(client, image_bytes, report_text, report_progress,
                                                fallback=in_this_job, evidence=evidence_scope,
                                                sight_sensitivity=sight_sensitivity)

        with job_slots.slot(waiting):
            explanation_progress.explain_in_phases(attribute, progress, phase_done, explainer.with_evidence)

    def is_complete(image_bytes: bytes, report_text: str) -> bool:
        return explainer.is_complete(image_bytes, report_text, ExplanationSettings())

    def is_cached(image_bytes: bytes, report_text: str) -> bool:
        return explainer.is_cached(image_bytes, report_text, ExplanationSettings())

    explanation_progress.register_callbacks(app, resolver, is_complete, compute, always_ready=cached_open_via_job,
                                            placeholder_figure=xray_view.empty_xray_figure,
                                            attribution_cached=is_cached)

    @app.callback(
        Output(threshold_control.CIRCLE_SWEEP_ID, "data", allow_duplicate=True),
        Output(PREDICTION_ID, "children", allow_duplicate=True),
        Output(report_view.STRONGEST_WORDS_ID, "children", allow_duplicate=True),
        Input(study_loading.EVIDENCE_REFRESH_ID, "data"),
        State(STUDY_PICKER_ID, "value"),
        State(study_loading.SHOWN_STUDY_ID, "data"),
        State(SESSION_ID, "data"),
        *[State(control_id, "value") for control_id in control_ids],
        State(threshold_control.SIGHT_SENSITIVITY_ID, "value"),
        State(distribution_gate.SHOWN_ANYWAY_ID, "data"),
        prevent_initial_call=True,
    )
    def show_evidence(refresh, picked, shown, session_id, link_distance, min_points, smoothing, sight_sensitivity,
                      shown_anyway):
        # A later phase of the job: the evidence line, the verdict and the word check of the study on screen.
        try:
            settings = explanation_settings(link_distance, min_points, sight_sensitivity, smoothing)
            return study_opening.evidence_outputs(refresh, picked, shown, session_id, settings, explainer, resolver,
                                                  distribution_gate.shown_anyway_for(shown_anyway, picked))
        except Exception:  # noqa: BLE001 - the circles stay drawn; the evidence line keeps what it said
            logger.exception("showing a study's evidence failed")
            return no_update, no_update, no_update

    def cached_stability(image_bytes: bytes, report_text: str) -> dict | None:
        return explainer.stability(image_bytes, report_text, ExplanationSettings(), compute=False)

    def compute_stability(image_bytes: bytes, report_text: str, progress) -> dict | None:
        def waiting(seconds: float) -> None:
            progress(0.0, f"waiting for a free slot ({job_slots.count} explanations at a time), {seconds:.0f} s")

        with job_slots.slot(waiting):
            return explainer.stability(image_bytes, report_text, ExplanationSettings(), progress=progress)

    disclosures = distribution_gate.CachedDisclosures(explainer)

    def stability_disclosure(image_bytes: bytes, report_text: str, shown_anyway: bool):
        if not explainer.bundle.reads_image:
            return None  # the check compares image maps: a text-only model has none, so no badge and no button
        return disclosures(image_bytes, report_text, shown_anyway)

    stability_check.register_callbacks(app, resolver, cached_stability, compute_stability, stability_disclosure)
    if comparison_explainers:
        _register_comparison(app, (explainer, *comparison_explainers), resolver, job_slots)

    def predict_via_worker(image_bytes: bytes, report_text: str, shown_anyway: bool) -> dict:
        # A worker that is starting or being restarted is back within seconds: wait for it once, ask again, and
        # say what happened beside the answer.
        try:
            return client.predict(image_bytes, report_text, shown_anyway=shown_anyway)
        except model_worker.ModelWorkerUnavailable as error:
            started = time.monotonic()
            while time.monotonic() - started < WORKER_WAIT_SECONDS and not client.available():
                time.sleep(0.25)
            answer = dict(client.predict(image_bytes, report_text, shown_anyway=shown_anyway))
            answer["note"] = f"{error.message} — answered once it was back ({time.monotonic() - started:.1f} s)"
            return answer

    what_if.register_callbacks(app, resolver, what_if.original_probability(disclosures),
                               predict_via_worker if client else _no_model_worker,
                               what_if.film_masker(explainer), explanation_progress.title_of)
    study_loading.register_callbacks(app, explanation_progress.EXPLANATION_READY_ID,
                                     explanation_progress.EXPLANATION_PHASE_ID)
    study_loading.register_store_tag(app, STABILITY_STUDY_TAG_ID, stability_check.STABILITY_DATA_ID)
    distribution_gate.register_callbacks(app)
    export_tools.register_callbacks(app, explainer, resolver)

    app.clientside_callback(
        ClientsideFunction(namespace="cxr", function_name="compareLayout"),
        Output(VIEWER_COLUMN_ID, "lg"),
        Output(COMPARE_COLUMN_ID, "style"),
        Output(DETAILS_COLUMN_ID, "lg"),
        Output(xray_view.xray_ids(COMPARE_SUFFIX)["graph"], "figure"),
        Output(threshold_control.threshold_ids(COMPARE_SUFFIX)["sweep"], "data"),
        Input(COMPARE_MODE_ID, "value"),
        Input(threshold_control.CIRCLE_SWEEP_ID, "data"),
        State(xray_view.XRAY_GRAPH_ID, "figure"),
    )


def _register_comparison(app, explainers: tuple[StudyExplainer, ...], resolver: StudyResolver,
                         job_slots: JobSlots) -> None:
    """The model comparison card's functions: from the cache in the web process, computed in a background job.

    A film that any of the models reading it cannot judge (its disclosure withholds or refuses it) is not
    compared unless the reader pressed Show anyway for it: its numbers stay out of the way here as on the
    prediction card (model_comparison.named).
    """
    bundles = [explainer.bundle for explainer in explainers]

    def cached_comparison(image_bytes: bytes, report_text: str) -> dict | None:
        explanations = [explainer.cached(image_bytes, report_text, ExplanationSettings()) for explainer in explainers]
        if any(explanation is None for explanation in explanations):
            return None
        return model_comparison.disclosed_comparison(bundles, explanations)

    def compute_comparison(image_bytes: bytes, report_text: str, progress) -> dict:
        def waiting(seconds: float) -> None:
            progress(f"waiting for a free slot ({job_slots.count} explanations at a time), {seconds:.0f} s")

        explanations = []
        with job_slots.slot(waiting):
            for label, explainer in zip(model_comparison.model_labels(bundles), explainers, strict=True):
                progress(f"explaining with the {label} model")
                explanations.append(explainer.explain(image_bytes, report_text, ExplanationSettings()))
        return model_comparison.disclosed_comparison(bundles, explanations)

    model_comparison.register_callbacks(app, resolver, cached_comparison, compute_comparison)
