"""Exports of the current view: the radiograph with its circles as an annotated PNG, the findings as JSON.

Owns the ids ``export-png`` / ``export-json`` (buttons), ``download-png`` / ``download-json`` (dcc.Download) and
``export-status``. Both exports use the study, the slider's sight sensitivity and the clustering controls of the
moment; the JSON has exactly the schema of ``python -m cxrmodel explain --json``. They read the explanation from
the cache (a study must have been explained, which it has once it is on screen) and never recompute it. The JSON
carries the stability check in ``evidence.stability`` whenever it was run for the study (read from the cache
too; null when it was not), with its verdict, or ``"converged": false`` and no verdict.

Both take the study's :class:`cxrmodel.explain.Disclosure`, with the reader's Show anyway read from the
``shown-anyway`` store (components.distribution_gate; a value for another study never counts): for a film the
model cannot judge the JSON has ``"judged": false``, ``"not_judged_reason"`` and ``"probability": null`` (no
circles, no evidence), and the PNG is the bare radiograph captioned "not judged: <reason>"; after Show anyway both
carry the numbers, stamped "shown anyway" (``"shown_anyway": true``).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re

import dash_bootstrap_components as dbc
from dash import Input, Output, State, dcc, html, no_update

from components.distribution_gate import SHOWN_ANYWAY_ID, shown_anyway_for
from components.presenter import StudyResolver, StudySource, explanation_settings
from components.session import SESSION_ID
from components.study_browser import STUDY_PICKER_ID
from components.threshold_control import (
    LINK_DISTANCE_ID,
    MIN_POINTS_ID,
    SIGHT_SENSITIVITY_ID,
    SMOOTHING_ID,
    snap_sight_sensitivity,
)
from cxrmodel.explain import Disclosure, StudyExplainer, explanation_document
from cxrmodel.imaging import decode_image
from cxrmodel.rendering import annotated_png

logger = logging.getLogger(__name__)

EXPORT_PNG_ID = "export-png"
EXPORT_JSON_ID = "export-json"
DOWNLOAD_PNG_ID = "download-png"
DOWNLOAD_JSON_ID = "download-json"
EXPORT_STATUS_ID = "export-status"

_UNSAFE_FILENAME = re.compile(r"[^A-Za-z0-9._-]+")


def layout() -> html.Div:
    """Two buttons and their downloads."""
    return html.Div(
        [
            html.Div(
                [html.Span("Export this view", className="fw-semibold small me-2"),
                 dbc.Button("Annotated PNG", id=EXPORT_PNG_ID, color="secondary", outline=True, size="sm",
                            className="me-2"),
                 dbc.Button("Findings JSON", id=EXPORT_JSON_ID, color="secondary", outline=True, size="sm")],
                className="d-flex flex-wrap align-items-center",
            ),
            dcc.Download(id=DOWNLOAD_PNG_ID),
            dcc.Download(id=DOWNLOAD_JSON_ID),
            html.Div(id=EXPORT_STATUS_ID, className="mt-1"),
        ],
        className="export-tools mb-2",
    )


def export_filename(title: str, sight_sensitivity: float, extension: str) -> str:
    """A safe download name such as ``CXR90014_tau0.70.png`` (pure)."""
    stem = _UNSAFE_FILENAME.sub("_", title).strip("._") or "study"
    return f"{stem[:60]}_tau{sight_sensitivity:.2f}.{extension}"


def displayed_probability(document: dict) -> float:
    """The P(abnormal) the page shows: the calibrated one when the bundle has it, else the model output."""
    calibrated = document.get("calibrated_probability")
    return float(document["probability"] if calibrated is None else calibrated)


def caption_text(title: str, document: dict, decided: Disclosure | None = None) -> str:
    """The line printed under the exported radiograph (pure).

    Args:
        title: How the page names the study.
        document: Its explanation document.
        decided: Its disclosure; None = the document's own gate (its ``"shown_anyway"`` flag when redacted). A
            film the model cannot judge is captioned "not judged: <reason>" with no P and no circle count; shown
            anyway, "shown anyway — not judged: <reason>" before them.
    """
    decided = decided or Disclosure.of(document)
    parts = [title]
    if not decided.judged:
        parts.append(decided.stamp())
    if decided.shows_numbers:
        count = len(document["circles"])
        parts += [f"P(abnormal) {displayed_probability(document):.2f} ({document['label']})",
                  f"τ {document['settings']['sight_sensitivity']:.2f}",
                  f"{count} circle{'s' if count != 1 else ''}"]
    else:
        parts.append(f"τ {document['settings']['sight_sensitivity']:.2f}")
    if document["model"].get("synthetic"):
        parts.append("synthetic demo model — not for clinical use")
    return " · ".join(parts)


def export_payload(kind: str, document: dict, source: StudySource, shown_anyway: bool) -> dict:
    """The ``dcc.Download`` data of one export (pure apart from decoding the film for the PNG).

    Args:
        kind: ``"json"`` or ``"png"``.
        document: The study's explanation document as the view shows it (:func:`export_document`).
        source: The study.
        shown_anyway: The reader pressed Show anyway for this study.
    """
    decided = Disclosure.of(document, shown_anyway=shown_anyway)
    shown = decided.redact(document)
    name = export_filename(source.title, document["settings"]["sight_sensitivity"], kind)
    if kind == "json":
        return dict(content=json.dumps(shown, indent=2), filename=name, type="application/json")
    pixels = decode_image(source.image_bytes).pixels
    return dcc.send_bytes(annotated_png(pixels, shown["circles"], caption_text(source.title, shown, decided)), name)


def export_document(
    study_id,
    sight_sensitivity,
    link_distance,
    min_points,
    session_id,
    explainer: StudyExplainer,
    resolver: StudyResolver,
    attribution_smoothing=None,
) -> tuple[dict, StudySource] | None:
    """(explanation document, source) of the current view from the cache, or None when not explained yet.

    The stability check is read from the cache as the badge reads it (no TensorFlow); None when it was not run.
    """
    source = resolver.source(study_id, session_id)
    if source is None:
        return None
    base = explanation_settings(link_distance, min_points, attribution_smoothing=attribution_smoothing)
    tau = snap_sight_sensitivity(sight_sensitivity)  # the tau the view draws (clamped, on the slider grid)
    settings = dataclasses.replace(base, sight_sensitivity=tau)
    explanation = explainer.cached(source.image_bytes, source.report_text, settings)
    if explanation is None:
        return None
    checked = explainer.stability(source.image_bytes, source.report_text, settings, compute=False)
    return explanation_document(explainer.bundle, explanation, settings, checked), source


def register_callbacks(app, explainer: StudyExplainer, resolver: StudyResolver) -> None:
    """PNG and JSON downloads of the current view, disclosed as the page shows it."""
    current_view = [
        State(STUDY_PICKER_ID, "value"),
        State(SIGHT_SENSITIVITY_ID, "value"),
        State(LINK_DISTANCE_ID, "value"),
        State(MIN_POINTS_ID, "value"),
        State(SESSION_ID, "data"),
        State(SMOOTHING_ID, "value"),
        State(SHOWN_ANYWAY_ID, "data"),
    ]
    not_ready = dbc.Alert("Pick a study and wait for its explanation before exporting.", color="warning",
                          dismissable=True, className="py-2")

    def download(kind: str, current: tuple) -> tuple:
        """(dcc.Download data, status) for one export of the current view; failures become alerts."""
        try:
            *view, smoothing, shown_anyway = current
            found = export_document(*view, explainer, resolver, attribution_smoothing=smoothing)
            if found is None:
                return no_update, not_ready
            document, source = found
            return export_payload(kind, document, source, shown_anyway_for(shown_anyway, source.study_id)), None
        except Exception:  # noqa: BLE001 - any failure becomes an alert; the server keeps serving
            logger.exception("%s export failed", kind)
            return no_update, dbc.Alert("The export failed; see the server log.", color="danger")

    @app.callback(Output(DOWNLOAD_JSON_ID, "data"), Output(EXPORT_STATUS_ID, "children"),
                  Input(EXPORT_JSON_ID, "n_clicks"), *current_view, prevent_initial_call=True)
    def export_json(_clicks, *current):
        return download("json", current)

    @app.callback(Output(DOWNLOAD_PNG_ID, "data"), Output(EXPORT_STATUS_ID, "children", allow_duplicate=True),
                  Input(EXPORT_PNG_ID, "n_clicks"), *current_view, prevent_initial_call=True)
    def export_png(_clicks, *current):
        return download("png", current)
