"""Out of distribution means out of the way: for an image the model cannot judge, no numbers until asked.

The explanation document's ``distribution`` (:func:`cxrmodel.explain.explanation_document`, from
:func:`cxrmodel.imaging.check_distribution`) decides what the study panel shows (:func:`decide`):

* :data:`SHOW` — the image looks like the training films: everything, as before.
* :data:`WITHHOLD` — ``in_distribution`` is False: P(abnormal), the model's verdict badge (and the heading that
  names it) and the circles are hidden behind an explicit **Show anyway** button; the warning says plainly that
  the model cannot judge this image and why (the check's ``reasons``). The circle sweep waits in a store of the
  panel and is handed to the slider only when the button is pressed (assets/distribution_gate.js); the picker's
  label gets no probability.
* :data:`REFUSE` — ``refuse`` is True or the view check (``distribution["view"]``, or a top-level
  ``document["view"]``) says the film is not frontal: the refusal message only, no numbers, no circles, no
  words, and no way to show them. Uploads are refused before they are explained
  (:func:`upload_refusal`, called by components.upload_panel on Analyze).

Whatever the verdict, an **uploaded** film explained by a bundle whose card says ``synthetic: true`` carries a
warning that the model has never seen a real radiograph (:func:`synthetic_upload_warning`).

Owns the pattern-matching ids ``{"type": "cxr-show-anyway", "study": id}`` (the button),
``{"type": "cxr-withheld", "study": id}`` (the hidden prediction) and ``{"type": "cxr-withheld-sweep", "study":
id}`` (the withheld circle sweep): they exist only inside a withheld prediction card.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from typing import Any

import dash_bootstrap_components as dbc
import plotly.graph_objects as go
from dash import ALL, ClientsideFunction, Input, Output, State, dcc, html, no_update

from components import report_view, research_tools
from components.xray_view import CIRCLE_TRACE_NAME
from cxrmodel.imaging import check_distribution, decode_image

logger = logging.getLogger(__name__)

SHOW, WITHHOLD, REFUSE = "show", "withhold", "refuse"
SHOW_ANYWAY_TYPE = "cxr-show-anyway"
WITHHELD_TYPE = "cxr-withheld"
WITHHELD_SWEEP_TYPE = "cxr-withheld-sweep"
HIDDEN = {"display": "none"}
CLIENTSIDE_NAMESPACE = "cxr"

WITHHELD_HEADING = "The model cannot judge this image"
WITHHELD_TEXT = ("It does not look like the frontal chest films the model was trained on, so its P(abnormal), its "
                 "verdict and the circles would say nothing about this film: they are hidden.")
REFUSED_HEADING = "Not explained"
DEFAULT_REFUSAL = "The model was not trained on this kind of image; upload a frontal (PA/AP) chest film."
SYNTHETIC_UPLOAD_TEXT = ("This demo model was trained on computer-generated phantoms only and has never seen a real "
                         "radiograph: whatever it shows for an uploaded film is not a judgement of that film.")


def _distribution(document: dict) -> dict:
    distribution = document.get("distribution")
    return distribution if isinstance(distribution, dict) else {}


def _view(document: dict) -> dict:
    """The view check's result: ``document["view"]`` when the document has one, else ``distribution["view"]``."""
    for view in (document.get("view"), _distribution(document).get("view")):
        if isinstance(view, dict):
            return view
    return {}


def refusal(document: dict) -> str | None:
    """The message when the model must not be run on this image at all (a non-frontal view), else None (pure)."""
    distribution, view = _distribution(document), _view(document)
    if not (distribution.get("refuse") is True or view.get("frontal") is False):
        return None
    if view.get("frontal") is False and view.get("reason"):
        return str(view["reason"])
    reasons = distribution.get("reasons") or []
    return str(reasons[0]) if reasons else DEFAULT_REFUSAL


def decide(document: dict) -> str:
    """:data:`SHOW`, :data:`WITHHOLD` or :data:`REFUSE` for an explanation document (pure)."""
    if refusal(document) is not None:
        return REFUSE
    return WITHHOLD if _distribution(document).get("in_distribution") is False else SHOW


def synthetic_upload_warning(document: dict, is_upload: bool) -> dbc.Alert | None:
    """The "has never seen a real radiograph" warning for an upload explained by a synthetic bundle, else None."""
    if not (is_upload and (document.get("model") or {}).get("synthetic")):
        return None
    return dbc.Alert(SYNTHETIC_UPLOAD_TEXT, color="danger", className="small mb-2 py-2 synthetic-upload-warning")


def _reasons(document: dict) -> html.Ul | None:
    reasons = [str(reason) for reason in _distribution(document).get("reasons") or []]
    return html.Ul([html.Li(reason) for reason in reasons], className="mb-0 mt-1") if reasons else None


def withheld_children(document: dict, prediction: list, sweep: dict | None, study_id: str,
                      warning: dbc.Alert | None = None) -> list:
    """The prediction card of a :data:`WITHHOLD` study: the warning and Show anyway; the prediction hidden."""
    alert = dbc.Alert(
        [html.Strong(WITHHELD_HEADING), html.Div(WITHHELD_TEXT, className="mt-1"), _reasons(document),
         dbc.Button("Show anyway", id={"type": SHOW_ANYWAY_TYPE, "study": study_id}, color="warning",
                    outline=True, size="sm", className="mt-2")],
        color="warning", className="small mb-2 py-2 distribution-withheld",
    )
    return [item for item in (warning, alert) if item is not None] + [
        html.Div(prediction, id={"type": WITHHELD_TYPE, "study": study_id}, style=HIDDEN),
        dcc.Store(id={"type": WITHHELD_SWEEP_TYPE, "study": study_id}, data=sweep),
    ]


def refused_children(message: str) -> list:
    """The prediction card of a :data:`REFUSE` study: the refusal, nothing else."""
    return [dbc.Alert([html.Strong(REFUSED_HEADING), html.Div(message, className="mt-1")], color="danger",
                      className="small mb-0 py-2 distribution-refused")]


def _without_circles(figure: Any) -> Any:
    """The X-ray figure with no circle shapes and no circle-centre markers (a copy)."""
    if not isinstance(figure, go.Figure):
        return figure
    stripped = go.Figure(figure)
    stripped.layout.shapes = ()
    for trace in stripped.data:
        if trace.name == CIRCLE_TRACE_NAME:
            trace.update(x=[], y=[], hovertext=[])
            trace.hoverlabel.bordercolor = []
    return stripped


def gate_panel(panel: Any, document: dict, sweep: dict | None, study_id: str, is_upload: bool) -> Any:
    """The study panel of an explained study, with what :func:`decide` withholds or refuses taken out.

    Args:
        panel: A :class:`components.presenter.StudyPanel` built for the explanation, everything shown.
        document: Its explanation document.
        sweep: Its circle sweep (kept for Show anyway when withheld).
        study_id: The study (the ids of the Show anyway button and the withheld parts).
        is_upload: True for an uploaded film (the synthetic-bundle warning).
    """
    warning = synthetic_upload_warning(document, is_upload)
    decision = decide(document)
    if decision == SHOW:
        if warning is None:
            return panel
        return dataclasses.replace(panel, prediction_children=[warning, *panel.prediction_children])
    if decision == WITHHOLD:
        logger.info("study withheld as out of distribution: %s", _distribution(document).get("failed"))
        return dataclasses.replace(
            panel, xray_figure=_without_circles(panel.xray_figure), circle_sweep=None,
            prediction_children=withheld_children(document, panel.prediction_children, sweep, study_id, warning))
    message = refusal(document) or DEFAULT_REFUSAL
    words_figure = report_view.empty_words_figure() if panel.words_figure is not no_update else no_update
    sweep_chart = (research_tools.sweep_chart_figure({"thresholds": [], "circles": []}, None, 0.0)
                   if panel.sweep_chart is not no_update else no_update)
    return dataclasses.replace(
        panel, xray_figure=_without_circles(panel.xray_figure), circle_sweep=None,
        words_figure=words_figure, strongest_words=None if panel.strongest_words is not no_update else no_update,
        prediction_children=[item for item in (warning,) if item is not None] + refused_children(message),
        sweep_chart=sweep_chart)


def shown_probability(document: dict) -> float | None:
    """P(abnormal) for the picker's label (the calibrated one when the bundle has it), or None when it is withheld
    or refused."""
    if decide(document) != SHOW:
        return None
    calibrated = document.get("calibrated_probability")
    return document["probability"] if calibrated is None else calibrated


def upload_refusal(check: dict) -> str | None:
    """The refusal message of an upload's distribution check (``DistributionCheck.to_dict()``), or None."""
    return refusal({"distribution": check})


def upload_screen(bundle) -> Callable[[bytes, str], str | None]:
    """``screen(image_bytes, report) -> refusal message or None`` for the upload form (components.upload_panel):
    the film on the bundle's model grid, through the same check as the explanation document
    (:func:`cxrmodel.imaging.check_distribution`, which includes the view check), before anything is explained.
    TensorFlow-free: the web process runs it."""

    def screen(image_bytes: bytes, report_text: str) -> str | None:
        if not bundle.reads_image:
            return None  # a text-only model never reads the film, so no film is refused for it
        prepared = bundle.prepare(decode_image(image_bytes).pixels, report_text)
        check = check_distribution(prepared.model_image, prepared.mapping, bundle.image_baseline)
        message = upload_refusal(check.to_dict())
        if message:
            logger.info("an upload was refused before explaining: %s", check.to_dict().get("kind"))
        return message

    return screen


def register_callbacks(app, sweep_id: str) -> None:
    """Show anyway: the withheld prediction shown, the withheld sweep handed to the slider (``sweep_id``)."""
    app.clientside_callback(
        ClientsideFunction(namespace=CLIENTSIDE_NAMESPACE, function_name="showAnyway"),
        Output({"type": WITHHELD_TYPE, "study": ALL}, "style"),
        Output({"type": SHOW_ANYWAY_TYPE, "study": ALL}, "style"),
        Output(sweep_id, "data", allow_duplicate=True),
        Input({"type": SHOW_ANYWAY_TYPE, "study": ALL}, "n_clicks"),
        State({"type": WITHHELD_SWEEP_TYPE, "study": ALL}, "data"),
        prevent_initial_call=True,
    )
