"""The selected study explained: X-ray with circles, report word heatmap, prediction card, side-by-side mode.

Owns the ids ``prediction`` (the prediction card body), ``study-report`` (the report as written), ``url``
(deep links ``/?study=<uId>&threshold=<tau>``), ``study-error``, ``compare-mode`` (switch) and the three layout
columns ``viewer-column``, ``compare-column`` and ``details-column``.

One server callback per picked study reads the explanation from the on-disk cache and fills the viewer, the
slider's sweep store, the word heatmap and the sweep chart (a cached study opens in well under a second); an
uncached study is handed to the background job (components.explanation_progress) and drawn when it is done.
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

import dash_bootstrap_components as dbc
from dash import ClientsideFunction, Input, Output, State, callback_context, dcc, html

from components import (
    explanation_progress,
    export_tools,
    report_view,
    research_tools,
    threshold_control,
    xray_view,
)
from components.presenter import (
    PREDICTION_ID,
    STUDY_ERROR_ID,
    STUDY_REPORT_ID,
    StudyPanel,
    StudyResolver,
    deep_link,
    explanation_settings,
    study_panel_outputs,
)
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

COMPARE_SUFFIX = "-compare"
DEFAULT_COMPARE_SIGHT_SENSITIVITY = 0.3
"""The second viewer's starting tau: the paper's "noisy" figure beside the focused default."""


def layout(default_sight_sensitivity: float, default_link_distance: float, default_smoothing: float = 0.0) -> html.Div:
    """Viewer and slider on the left; prediction, word heatmap and the report on the right; tools below."""
    compare_viewer = html.Div(
        [
            threshold_control.layout(DEFAULT_COMPARE_SIGHT_SENSITIVITY, suffix=COMPARE_SUFFIX),
            xray_view.layout(suffix=COMPARE_SUFFIX),
        ]
    )
    return html.Div(
        [
            dcc.Location(id=URL_ID, refresh=False),
            html.Div(id=STUDY_ERROR_ID),
            explanation_progress.layout(),
            dbc.Switch(id=COMPARE_MODE_ID, label="Side by side: the same study at two sight sensitivities",
                       value=False, className="mt-2"),
            dbc.Row(
                [
                    dbc.Col([threshold_control.layout(default_sight_sensitivity), xray_view.layout()],
                            id=VIEWER_COLUMN_ID, lg=7),
                    dbc.Col(compare_viewer, id=COMPARE_COLUMN_ID, lg=6, style={"display": "none"}),
                    dbc.Col(
                        [
                            dbc.Card(dbc.CardBody(id=PREDICTION_ID), className="mb-3"),
                            report_view.layout(),
                            html.Details(
                                [html.Summary("Report as written"),
                                 html.Pre(id=STUDY_REPORT_ID, className="report-text")],
                                className="mt-2",
                            ),
                        ],
                        id=DETAILS_COLUMN_ID,
                        lg=5,
                    ),
                ],
                className="mt-2",
            ),
            html.Details(
                [
                    html.Summary("Researcher tools: threshold sweep, clustering, exports", className="fw-semibold"),
                    dbc.Row(
                        [
                            dbc.Col(research_tools.layout(), lg=8),
                            dbc.Col([threshold_control.advanced_layout(default_link_distance,
                                                                      default_smoothing=default_smoothing),
                                     export_tools.layout()], lg=4),
                        ],
                        className="mt-2",
                    ),
                ],
                className="mt-3 mb-4",
            ),
        ]
    )


def register_callbacks(app, explainer: StudyExplainer, resolver: StudyResolver, job_slots: JobSlots) -> None:
    """Deep links, the study callback, the background job (bounded by ``job_slots``) and the side-by-side mode."""
    xray_view.register_callbacks(app)
    xray_view.register_callbacks(app, suffix=COMPARE_SUFFIX)
    threshold_control.register_callbacks(app)
    threshold_control.register_callbacks(app, suffix=COMPARE_SUFFIX)
    collection = resolver.collection

    @app.callback(
        Output(STUDY_PICKER_ID, "value"),
        Output(threshold_control.SIGHT_SENSITIVITY_ID, "value"),
        Input(URL_ID, "search"),
    )
    def open_deep_link(search):
        return deep_link(search, collection)

    @app.callback(
        *StudyPanel.outputs(),
        Input(STUDY_PICKER_ID, "value"),
        Input(explanation_progress.EXPLANATION_READY_ID, "data"),
        Input(threshold_control.LINK_DISTANCE_ID, "value"),
        Input(threshold_control.MIN_POINTS_ID, "value"),
        Input(threshold_control.SMOOTHING_ID, "value"),
        State(SESSION_ID, "data"),
        State(STUDY_PICKER_ID, "options"),
        State(threshold_control.SIGHT_SENSITIVITY_ID, "value"),
    )
    def show_study(study_id, ready, link_distance, min_points, smoothing, session_id, options, sight_sensitivity):
        triggered_by_job = (callback_context.triggered_id == explanation_progress.EXPLANATION_READY_ID
                            and isinstance(ready, dict) and ready.get("study") == study_id)
        try:
            settings = explanation_settings(link_distance, min_points, sight_sensitivity, smoothing)
            panel = study_panel_outputs(study_id, session_id, triggered_by_job, settings, options, explainer,
                                        resolver)
        except Exception:  # noqa: BLE001 - any failure becomes an alert; the server keeps serving
            logger.exception("showing a study failed")
            alert = dbc.Alert("Could not show this study; see the server log.", color="danger")
            panel = StudyPanel.unchanged(study_error=alert)
        return panel.as_tuple()

    def compute(image_bytes: bytes, report_text: str, progress) -> None:
        def waiting(seconds: float) -> None:
            progress(0.0, f"waiting for a free slot ({job_slots.count} explanations at a time), {seconds:.0f} s")

        with job_slots.slot(waiting):
            explainer.attribute(image_bytes, report_text, ExplanationSettings(), progress=progress)

    def is_cached(image_bytes: bytes, report_text: str) -> bool:
        return explainer.is_cached(image_bytes, report_text, ExplanationSettings())

    explanation_progress.register_callbacks(app, resolver, is_cached, compute)
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
