"""The selected study explained: X-ray with circles, report word heatmap, prediction card.

Owns the ids ``prediction`` (the prediction card body), ``study-report`` (the report as written) and ``url``
(deep links ``/?study=<uId>&threshold=<tau>``). One server callback per picked study computes (or reads from
the cache) the explanation and fills the viewer, the slider's sweep store and the word heatmap; every slider
move afterwards is handled in the browser (components.threshold_control).
"""

from __future__ import annotations

import base64
import logging
import math
from urllib.parse import parse_qs

import dash_bootstrap_components as dbc
from dash import Input, Output, dcc, html, no_update

from components import report_view, threshold_control, xray_view
from components.study_browser import STUDY_PICKER_ID
from cxrmodel.explain import ExplanationSettings, StudyExplainer, circle_sweep, explanation_document
from cxrmodel.imaging import decode_image, encode_png
from cxrmodel.studies import StudyCollection

logger = logging.getLogger(__name__)

STUDY_REPORT_ID = "study-report"
PREDICTION_ID = "prediction"
URL_ID = "url"
STUDY_ERROR_ID = "study-error"


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
    children.append(
        html.Div(
            [
                html.Span(f"Image {_percent(share.get('image'))}", className="me-3"),
                html.Span(f"Report {_percent(share.get('text'))}", className="me-3"),
                html.Span(f"completeness error {100 * error:.1f}%", className="text-muted"),
            ],
            className="small mt-2",
            title="Share of the change in P(abnormal), from the black image and empty report to this study, "
            "that integrated gradients attribute to the image and to the report.",
        )
    )
    return children


def layout(default_sight_sensitivity: float) -> html.Div:
    """Viewer and slider on the left; prediction, word heatmap and the report on the right."""
    return html.Div(
        [
            dcc.Location(id=URL_ID, refresh=False),
            html.Div(id=STUDY_ERROR_ID),
            dbc.Row(
                [
                    dbc.Col([threshold_control.layout(default_sight_sensitivity), xray_view.layout()], lg=7),
                    dbc.Col(
                        [
                            dbc.Card(dbc.CardBody(id=PREDICTION_ID), className="mb-3"),
                            report_view.layout(),
                            html.Details(
                                [html.Summary("Report as written"), html.Pre(id=STUDY_REPORT_ID, className="report-text")],
                                className="mt-2",
                            ),
                        ],
                        lg=5,
                    ),
                ],
                className="mt-3",
            ),
        ]
    )


def study_panel(study_id: str | None, explainer: StudyExplainer, collection: StudyCollection) -> tuple:
    """All outputs for one picked study (see :func:`register_callbacks`); an unknown id gives an empty panel."""
    if not study_id or study_id not in collection:
        return (xray_view.empty_xray_figure(), None, report_view.empty_words_figure(), None, [], "Pick a study.", None)
    study = collection.get(study_id)
    image_bytes = collection.image_path(study_id).read_bytes()
    settings = ExplanationSettings()
    explanation = explainer.explain(image_bytes, study.report_text, settings)
    document = explanation_document(explainer.bundle, explanation, settings)
    mapping = explanation.prepared.mapping
    attribution_map = explanation.attribution.image_attribution
    sweep = circle_sweep(attribution_map, mapping, explanation.link_distance, settings.min_points)
    figure = xray_view.xray_figure(
        png_data_uri(encode_png(decode_image(image_bytes).pixels)),
        mapping.image_width,
        mapping.image_height,
        document["circles"],
        points_trace=xray_view.signal_points_trace(attribution_map, mapping),
        heatmap_source=xray_view.attribution_overlay_png(attribution_map, mapping),
        show_heatmap=False,
        show_points=False,
        uirevision=study_id,
    )
    words_figure, strongest = report_view.report_outputs(document["words"])
    return (figure, sweep, words_figure, strongest, prediction_children(document, study.label_name),
            study.report_text, None)


def deep_link(search: str | None, collection: StudyCollection) -> tuple:
    """(study id, sight sensitivity) from ``?study=<uId>&threshold=<tau>``; invalid parts are ignored."""
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


def register_callbacks(app, explainer: StudyExplainer, collection: StudyCollection) -> None:
    """Deep links and the one server callback per picked study."""
    xray_view.register_callbacks(app)
    threshold_control.register_callbacks(app)

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
        Input(STUDY_PICKER_ID, "value"),
    )
    def show_study(study_id):
        try:
            return study_panel(study_id, explainer, collection)
        except Exception:  # noqa: BLE001 - any failure becomes an alert; the server keeps serving
            logger.exception("explaining study %s failed", study_id)
            alert = dbc.Alert(f"Could not explain study {study_id}; see the server log.", color="danger")
            return (no_update,) * 6 + (alert,)
