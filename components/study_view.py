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
"""

from __future__ import annotations

import base64
import logging
import math
from dataclasses import dataclass
from urllib.parse import parse_qs

import dash_bootstrap_components as dbc
from dash import ClientsideFunction, Input, Output, State, callback_context, dcc, html, no_update

from components import (
    explanation_progress,
    export_tools,
    report_view,
    research_tools,
    threshold_control,
    xray_view,
)
from components.server.job_slots import JobSlots
from components.session import SESSION_ID
from components.study_browser import STUDY_PICKER_ID, with_probability
from cxrmodel.evaluation.detection_quality import lesion_masks_for_study, sweep_hit_rates
from cxrmodel.detection import circle_sweep
from cxrmodel.explain.study import Explanation, ExplanationSettings, StudyExplainer, explanation_document
from cxrmodel.imaging.decode import decode_image, encode_png
from cxrmodel.detection import MAX_SMOOTHING
from cxrmodel.data.collection import StudyCollection
from cxrmodel.inputs import UploadStore, is_upload_id

logger = logging.getLogger(__name__)

STUDY_REPORT_ID = "study-report"
PREDICTION_ID = "prediction"
URL_ID = "url"
STUDY_ERROR_ID = "study-error"
COMPARE_MODE_ID = "compare-mode"
VIEWER_COLUMN_ID = "viewer-column"
COMPARE_COLUMN_ID = "compare-column"
DETAILS_COLUMN_ID = "details-column"

COMPARE_SUFFIX = "-compare"
DEFAULT_COMPARE_SIGHT_SENSITIVITY = 0.3
"""The second viewer's starting tau: the paper's "noisy" figure beside the focused default."""

PANEL_OUTPUT_COUNT = 9


@dataclass(frozen=True)
class StudySource:
    """What a picked study is made of.

    Attributes:
        study_id: Bundled study id or an upload id.
        image_bytes: The X-ray file.
        report_text: The report as written.
        truth_label: The label from the report's MeSH terms (bundled studies), or None (uploads).
        title: How the study is named on screen and in exports.
        has_masks: True when ground-truth lesion masks exist (synthetic bundled studies).
    """

    study_id: str
    image_bytes: bytes
    report_text: str
    truth_label: str | None
    title: str
    has_masks: bool = False


class StudyResolver:
    """Finds a study by id: a bundled one, or one of *this session's* uploads (never another session's)."""

    def __init__(self, collection: StudyCollection, uploads: UploadStore | None = None) -> None:
        self.collection = collection
        self.uploads = uploads

    def source(self, study_id: str | None, session_id: str | None) -> StudySource | None:
        """The study, or None when the id is unknown or the upload belongs to another session."""
        if not study_id:
            return None
        if study_id in self.collection:
            study = self.collection.get(study_id)
            return StudySource(
                study_id=study_id,
                image_bytes=self.collection.image_path(study_id).read_bytes(),
                report_text=study.report_text,
                truth_label=study.label_name,
                title=study_id,
                has_masks=study_id in self.collection.truth,
            )
        if self.uploads is not None and is_upload_id(study_id):
            upload = self.uploads.get(session_id, study_id)
            if upload is not None:
                return StudySource(study_id, upload.image_bytes, upload.report_text, None, upload.filename)
        return None

    def __call__(self, study_id: str, session_id: str | None) -> tuple[bytes, str] | None:
        """(image bytes, report) for the background job, or None."""
        source = self.source(study_id, session_id)
        return None if source is None else (source.image_bytes, source.report_text)


def png_data_uri(png_bytes: bytes) -> str:
    """A PNG as a data URI for an image source (pure)."""
    return "data:image/png;base64," + base64.b64encode(png_bytes).decode("ascii")


def _percent(value: float | None) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{100 * value:.0f}%"


def prediction_children(document: dict, truth_label: str | None) -> list:
    """The prediction card body from an explanation document (pure)."""
    probability = document["probability"]
    predicted = document["label"]
    share = document["modality_share"]
    error = document["completeness"]["relative_error"]
    children = [
        html.Div("P(abnormal)", className="small text-muted"),
        html.Div(f"{probability:.3f}", className="display-6"),
        dbc.Badge(f"model: {predicted}", color="danger" if predicted == "abnormal" else "success", className="me-2"),
    ]
    if truth_label is not None:
        children.append(dbc.Badge(f"report label: {truth_label}", color="secondary"))
    distribution = document.get("distribution") or {}
    if distribution.get("in_distribution") is False:
        children.append(
            dbc.Alert(
                [
                    html.Strong("This image may not be a frontal chest radiograph like the ones the model was "
                                "trained on"),
                    html.Ul([html.Li(reason) for reason in distribution.get("reasons", [])], className="mb-0 mt-1"),
                ],
                color="warning",
                className="small mt-2 mb-0 py-2",
            )
        )
    children.append(
        html.Div(
            [
                html.Span(f"Image {_percent(share.get('image'))}", className="me-3"),
                html.Span(f"Report {_percent(share.get('text'))}", className="me-3"),
                html.Span(f"completeness error {100 * error:.1f}%", className="text-muted"),
            ],
            className="small mt-2",
            title="Share of the change in P(abnormal), from the reference image and empty report to this study, "
            "that integrated gradients attribute to the image and to the report.",
        )
    )
    return children


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
                                [html.Summary("Report as written"), html.Pre(id=STUDY_REPORT_ID, className="report-text")],
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
                                                                      default_smoothing=default_smoothing), export_tools.layout()], lg=4),
                        ],
                        className="mt-2",
                    ),
                ],
                className="mt-3 mb-4",
            ),
        ]
    )


def explanation_settings(
    link_distance: float | None,
    min_points: int | None,
    sight_sensitivity: float | None = None,
    attribution_smoothing: float | None = None,
) -> ExplanationSettings:
    """Settings from the slider and the clustering controls; invalid or empty values give the defaults (pure)."""
    distance = float(link_distance) if isinstance(link_distance, (int, float)) and link_distance > 0 else None
    points = int(min_points) if isinstance(min_points, (int, float)) and min_points >= 1 else 2
    tau = (float(sight_sensitivity) if isinstance(sight_sensitivity, (int, float)) and 0 <= sight_sensitivity <= 1
           else None)
    smoothing = (float(attribution_smoothing)
                 if isinstance(attribution_smoothing, (int, float)) and 0 <= attribution_smoothing <= MAX_SMOOTHING
                 else None)
    return ExplanationSettings(sight_sensitivity=tau, link_distance=distance, min_points=points,
                               attribution_smoothing=smoothing)


def render_explanation(
    source: StudySource,
    explanation: Explanation,
    explainer: StudyExplainer,
    settings: ExplanationSettings,
    collection: StudyCollection,
) -> dict:
    """Everything the page shows for an explained study (pure apart from reading masks from disk).

    Returns:
        ``{"figure", "sweep", "words_figure", "strongest", "prediction", "report", "sweep_chart", "probability"}``.
    """
    document = explanation_document(explainer.bundle, explanation, settings)
    mapping = explanation.prepared.mapping
    attribution_map = explanation.attribution.image_attribution
    sweep = circle_sweep(attribution_map, mapping, explanation.link_distance, settings.min_points)
    lesion_masks = lesion_masks_for_study(collection.root, source.study_id) if source.has_masks else []
    figure = xray_view.xray_figure(
        png_data_uri(encode_png(decode_image(source.image_bytes).pixels)),
        mapping.image_width,
        mapping.image_height,
        document["circles"],
        points_trace=xray_view.signal_points_trace(attribution_map, mapping),
        heatmap_source=xray_view.attribution_overlay_png(attribution_map, mapping),
        show_heatmap=False,
        show_points=False,
        truth_source=xray_view.lesion_outline_png(lesion_masks),
        uirevision=source.study_id,
    )
    hit_rates = sweep_hit_rates(sweep, lesion_masks) if source.has_masks else None
    words_figure, strongest = report_view.report_outputs(document["words"])
    return {
        "figure": figure,
        "sweep": sweep,
        "words_figure": words_figure,
        "strongest": strongest,
        "prediction": prediction_children(document, source.truth_label),
        "report": source.report_text,
        "sweep_chart": research_tools.sweep_chart_figure(sweep, hit_rates, explanation.sight_sensitivity),
        "probability": document["probability"],
    }


def empty_panel(message: str, alert: dbc.Alert | None = None) -> tuple:
    """Panel outputs with nothing drawn and an optional alert (see :func:`study_panel_outputs` for the order)."""
    return (xray_view.empty_xray_figure(message), None, report_view.empty_words_figure(), None, [], message, alert,
            research_tools.sweep_chart_figure({"thresholds": [], "circles": []}, None, 0.0), no_update)


def study_panel_outputs(
    study_id: str | None,
    session_id: str | None,
    triggered_by_job: bool,
    settings: ExplanationSettings,
    options: list[dict] | None,
    explainer: StudyExplainer,
    resolver: StudyResolver,
) -> tuple:
    """All outputs of the study callback, in the order of :func:`register_callbacks`' outputs.

    ``(xray figure, circle sweep, words figure, strongest words, prediction, report text, study error,
    sweep chart, picker options)``. A cached study is drawn; an uncached one gets a "being explained"
    placeholder (the background job, triggered by the same pick, computes it).
    """
    source = resolver.source(study_id, session_id)
    if source is None:
        if study_id:
            alert = dbc.Alert("That study is not in this collection or belongs to another session.", color="warning")
            return empty_panel("Pick a study.", alert)
        return empty_panel("Pick a study.")
    explanation = explainer.cached(source.image_bytes, source.report_text, settings)
    if explanation is None:
        if triggered_by_job:
            alert = dbc.Alert("The explanation finished but is not in the cache; pick the study again.",
                              color="danger")
            return empty_panel("Not explained.", alert)
        return empty_panel(f"Explaining {source.title}… (integrated gradients, see the progress bar)")
    shown = render_explanation(source, explanation, explainer, settings, resolver.collection)
    return (shown["figure"], shown["sweep"], shown["words_figure"], shown["strongest"], shown["prediction"],
            shown["report"], None, shown["sweep_chart"],
            with_probability(options, source.study_id, shown["probability"]))


def study_panel(study_id: str | None, explainer: StudyExplainer, collection: StudyCollection) -> tuple:
    """Explain (computing if needed, in this process) and draw a bundled study.

    For scripts and benchmarks: ``(xray figure, circle sweep, words figure, strongest words, prediction,
    report text, error)``.
    """
    resolver = StudyResolver(collection)
    source = resolver.source(study_id, None)
    if source is None:
        return empty_panel("Pick a study.")[:7]
    settings = ExplanationSettings()
    explanation = explainer.explain(source.image_bytes, source.report_text, settings)
    shown = render_explanation(source, explanation, explainer, settings, collection)
    return (shown["figure"], shown["sweep"], shown["words_figure"], shown["strongest"], shown["prediction"],
            shown["report"], None)


def deep_link(search: str | None, collection: StudyCollection) -> tuple:
    """(study id, sight sensitivity) from ``?study=<uId>&threshold=<tau>``; invalid parts are ignored.

    Deep links open bundled studies only: an upload lives in one page's session and is never shared by URL.
    """
    query = parse_qs((search or "").lstrip("?"))
    study_id = (query.get("study") or [None])[0]
    threshold = (query.get("threshold") or [None])[0]
    try:
        sight_sensitivity = float(threshold) if threshold is not None else None
    except ValueError:
        sight_sensitivity = None
    if sight_sensitivity is not None and not 0.0 <= sight_sensitivity <= 1.0:
        sight_sensitivity = None
    return (study_id if study_id in collection else no_update,
            sight_sensitivity if sight_sensitivity is not None else no_update)


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
        Output(xray_view.XRAY_GRAPH_ID, "figure"),
        Output(threshold_control.CIRCLE_SWEEP_ID, "data"),
        Output(report_view.WORDS_GRAPH_ID, "figure"),
        Output(report_view.STRONGEST_WORDS_ID, "children"),
        Output(PREDICTION_ID, "children"),
        Output(STUDY_REPORT_ID, "children"),
        Output(STUDY_ERROR_ID, "children"),
        Output(research_tools.SWEEP_CHART_ID, "figure"),
        Output(STUDY_PICKER_ID, "options"),
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
            return study_panel_outputs(study_id, session_id, triggered_by_job, settings, options, explainer, resolver)
        except Exception:  # noqa: BLE001 - any failure becomes an alert; the server keeps serving
            logger.exception("showing a study failed")
            alert = dbc.Alert("Could not show this study; see the server log.", color="danger")
            return (no_update,) * 6 + (alert,) + (no_update,) * 2

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
