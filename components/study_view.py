"""The selected study: radiograph, report text and the model's P(abnormal).

Owns the ids ``study-image``, ``study-report`` and ``prediction``. The radiograph goes to the browser once,
as a compressed PNG data URI, never as a numeric array.
"""

from __future__ import annotations

import base64
import logging

import dash_bootstrap_components as dbc
from dash import Input, Output, html

from components.study_browser import STUDY_PICKER_ID
from cxrmodel.bundle import Bundle
from cxrmodel.imaging import decode_image_file, encode_png
from cxrmodel.studies import StudyCollection

logger = logging.getLogger(__name__)

STUDY_IMAGE_ID = "study-image"
STUDY_REPORT_ID = "study-report"
PREDICTION_ID = "prediction"


def png_data_uri(png_bytes: bytes) -> str:
    """A PNG as a data URI for an <img> source (pure)."""
    return "data:image/png;base64," + base64.b64encode(png_bytes).decode("ascii")


def prediction_children(probability: float, truth_label: str | None) -> list:
    """The prediction card body: P(abnormal), the model's label, and the study's own label (pure)."""
    predicted = "abnormal" if probability >= 0.5 else "normal"
    colour = "danger" if predicted == "abnormal" else "success"
    children = [
        html.Div("P(abnormal)", className="small text-muted"),
        html.Div(f"{probability:.3f}", className="display-6"),
        dbc.Badge(f"model: {predicted}", color=colour, className="me-2"),
    ]
    if truth_label is not None:
        children.append(dbc.Badge(f"report label: {truth_label}", color="secondary"))
    return children


def layout() -> dbc.Row:
    """Image on the left, report and prediction on the right."""
    return dbc.Row(
        [
            dbc.Col(html.Img(id=STUDY_IMAGE_ID, className="xray-image", alt="chest radiograph"), md=7),
            dbc.Col(
                [
                    dbc.Card(dbc.CardBody(id=PREDICTION_ID), className="mb-3"),
                    html.H6("Report"),
                    html.Pre(id=STUDY_REPORT_ID, className="report-text"),
                ],
                md=5,
            ),
        ],
        className="mt-3",
    )


def register_callbacks(app, bundle: Bundle, collection: StudyCollection) -> None:
    """Selecting a study shows it and its prediction."""

    @app.callback(
        Output(STUDY_IMAGE_ID, "src"),
        Output(STUDY_REPORT_ID, "children"),
        Output(PREDICTION_ID, "children"),
        Input(STUDY_PICKER_ID, "value"),
    )
    def show_study(study_id: str | None):
        return study_panel(study_id, bundle, collection)


def study_panel(study_id: str | None, bundle: Bundle, collection: StudyCollection) -> tuple:
    """(image source, report text, prediction children) for a study id; empty panel for an unknown id."""
    if not study_id or study_id not in collection:
        return None, "Pick a study.", []
    study = collection.get(study_id)
    decoded = decode_image_file(collection.image_path(study_id))
    probability = float(bundle.predict_studies([bundle.prepare(decoded.pixels, study.report_text)])[0])
    return png_data_uri(encode_png(decoded.pixels)), study.report_text, prediction_children(probability, study.label_name)
