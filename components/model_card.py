"""The model card: which model is loaded, what it was trained on, its held-out metrics, the synthetic banner.

When the bundle is calibrated (``calibration.json``, :class:`cxrmodel.modeling.bundle.BundleCalibration`) the card
also shows the held-out reliability diagram (dcc.Graph ``calibration-diagram``, built by the pure
:func:`reliability_figure`) and the expected calibration error before and after temperature scaling; otherwise it
says "not calibrated" and why: the reason its calibration.json records when the rule of
:mod:`cxrmodel.evaluation.calibration` kept no temperature (:class:`cxrmodel.modeling.bundle.NotCalibrated`), or
that the bundle has no calibration.json.
"""

from __future__ import annotations

import math
from decimal import ROUND_HALF_UP, Decimal

import dash_bootstrap_components as dbc
import plotly.graph_objects as go
from dash import dcc, html

from cxrmodel.modeling.bundle import BundleCalibration, CalibrationBin, NotCalibrated

SYNTHETIC_BANNER_ID = "synthetic-banner"
MODEL_CARD_ID = "model-card"
MODEL_CARD_BODY_CLASS = "model-card-body"
"""The opened card's body: it floats over the page (assets/layout.css) instead of pushing it down."""
MODEL_MODALITY_ID = "model-modality"
CALIBRATION_DIAGRAM_ID = "calibration-diagram"
CALIBRATION_SUMMARY_ID = "calibration-summary"
NOT_CALIBRATED_TEXT = ("P(abnormal) is not calibrated: this bundle has no calibration.json, so the probability "
                       "shown is the model's raw output.")
DIAGRAM_HEIGHT = 220

MODALITY_NAMES = {"multimodal": "Multimodal", "image": "Image only", "text": "Report only"}
"""How the card, its badge and the model comparison name each modality."""


def metric_text(value: float | None, digits: int = 3) -> str:
    """A held-out metric as written in the card, rounded half up to ``digits`` decimals (pure).

    The card stores exact fractions of the test set (0.8875 = 355 of 400); binary floating point holds 0.8875 as
    0.88749999..., so ``f"{0.8875:.3f}"`` gives 0.887 while 0.7375 gives 0.738. Rounding the decimal the card
    wrote gives 0.888 and 0.738, the figures README quotes. "n/a" when missing.
    """
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        return "n/a"
    return str(Decimal(repr(float(value))).quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP))


def modality_of(card: dict) -> str:
    """The model a bundle holds, from its card: "multimodal" (also for cards older than the field), "text", "image"."""
    return str(card.get("modality", "multimodal"))


MODALITY_DESCRIPTIONS = {
    "multimodal": "Reads the radiograph and the report",
    "text": "Reads the report only: the radiograph is not part of its decision",
    "image": "Reads the radiograph only: the report is not part of its decision",
}


def metrics_rows(metrics: dict, this_modality: str | None = None) -> list[html.Tr]:
    """Table rows "model | accuracy | AUC" from a card's ``metrics`` mapping (pure); ``this_modality``'s row is
    marked "(this model)"."""
    rows = []
    for modality, values in metrics.items():
        name = MODALITY_NAMES.get(modality, modality)
        rows.append(
            html.Tr(
                [
                    html.Td(f"{name} (this model)" if modality == this_modality else name),
                    html.Td(metric_text(values.get("accuracy"))),
                    html.Td(metric_text(values.get("auc"))),
                ]
            )
        )
    return rows


def synthetic_banner(card: dict) -> dbc.Alert | None:
    """The "synthetic demo model — not for clinical use" banner when the card says synthetic."""
    if not card.get("synthetic"):
        return None
    return dbc.Alert(
        [
            html.Strong("Synthetic demo model — not for clinical use. "),
            # Says which studies are synthetic: an uploaded film may be a real patient's (issue #17).
            "The bundled studies are computer-generated phantoms, not real patients, and the model has never seen "
            "a real radiograph.",
        ],
        color="warning",
        id=SYNTHETIC_BANNER_ID,
        className="mb-0 py-1 px-2 small synthetic-banner",
    )


def _points(bins: tuple[CalibrationBin, ...]) -> tuple[list[float], list[float], list[list]]:
    shown = [row for row in bins if row.count]
    return ([row.mean_confidence for row in shown], [row.observed_frequency for row in shown],
            [[row.count, f"{row.lower:.1f}–{row.upper:.1f}"] for row in shown])


def reliability_figure(calibration: BundleCalibration) -> go.Figure:
    """The held-out reliability diagram: observed abnormal share against mean P per bin, raw and calibrated (pure).

    One point per non-empty equal-width bin; the dotted diagonal is perfect calibration; hovering a point gives
    its bin and study count.
    """
    held_out = calibration.held_out
    figure = go.Figure()
    figure.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="ideal", hoverinfo="skip",
                                line={"color": "#adb5bd", "dash": "dot", "width": 1}))
    for name, bins, color, ece in (
        ("raw model output", held_out.bins_raw, "#dc3545", held_out.ece_raw),
        (f"calibrated (T={calibration.temperature:.2f})", held_out.bins_calibrated, "#0d6efd",
         held_out.ece_calibrated),
    ):
        x, y, custom = _points(bins)
        figure.add_trace(go.Scatter(
            x=x, y=y, customdata=custom, mode="lines+markers", name=f"{name}, ECE {ece:.3f}",
            line={"color": color, "width": 1.5}, marker={"size": 6},
            hovertemplate=(f"{name}<br>P bin %{{customdata[1]}}: %{{customdata[0]}} studies<br>mean P %{{x:.3f}}, "
                           "observed abnormal %{y:.3f}<extra></extra>"),
        ))
    figure.update_layout(
        template="plotly_white",
        margin={"l": 40, "r": 8, "t": 8, "b": 36},
        xaxis={"title": {"text": "mean P(abnormal) in bin"}, "range": [0, 1], "dtick": 0.25},
        yaxis={"title": {"text": "observed abnormal"}, "range": [0, 1], "dtick": 0.25},
        # Inside the empty upper-left corner (the points lie near the diagonal), so the square stays large.
        legend={"x": 0.02, "y": 0.98, "xanchor": "left", "yanchor": "top", "font": {"size": 10},
                "bgcolor": "rgba(255, 255, 255, 0.8)"},
        font={"size": 10},
    )
    return figure


def calibration_text(calibration: BundleCalibration | NotCalibrated | None) -> str:
    """The card's calibration line (pure): held-out ECE raw and calibrated with the temperature, or "not calibrated"
    and why."""
    if calibration is None:
        return NOT_CALIBRATED_TEXT
    if isinstance(calibration, NotCalibrated):
        return (f"P(abnormal) is not calibrated: {calibration.reason} (checked on {calibration.fitted_on}). The "
                "probability shown is the model's raw output.")
    held_out = calibration.held_out
    cross = calibration.cross_validated
    kept = ("" if cross is None else f" It is kept because it lowered the cross-validated ECE of the studies it was "
            f"fitted on from {cross.ece_raw:.3f} to {cross.ece_calibrated:.3f}.")
    return (f"ECE on the held-out split: raw {held_out.ece_raw:.3f}, calibrated "
            f"{held_out.ece_calibrated:.3f} (temperature T={calibration.temperature:.3f}, fitted on "
            f"{calibration.fitted_on}).{kept} The P(abnormal) shown is the calibrated one.")


def calibration_section(calibration: BundleCalibration | NotCalibrated | None) -> list:
    """The card's calibration part: the line of :func:`calibration_text`, and the diagram when calibrated."""
    children: list = [html.P(calibration_text(calibration), id=CALIBRATION_SUMMARY_ID,
                             className="small text-muted mb-1")]
    if isinstance(calibration, BundleCalibration):
        children.append(dcc.Graph(id=CALIBRATION_DIAGRAM_ID, figure=reliability_figure(calibration),
                                  config={"displaylogo": False, "displayModeBar": False},
                                  # Responsive: the card starts collapsed, so the graph is sized when it opens.
                                  responsive=True, style={"height": f"{DIAGRAM_HEIGHT}px"}))
    return children


def layout(card: dict, fingerprint: str, calibration: BundleCalibration | NotCalibrated | None = None) -> dbc.Card:
    """The model card panel.

    Args:
        calibration: The bundle's ``Bundle.calibration_record``: the temperature kept, why none was
            (:class:`NotCalibrated`), or None (no calibration.json).
    """
    metrics = card.get("metrics", {})
    table = dbc.Table(
        [html.Thead(html.Tr([html.Th("Held-out"), html.Th("Accuracy"), html.Th("AUC")])),
         html.Tbody(metrics_rows(metrics, modality_of(card)))],
        size="sm",
        className="mb-2",
    )
    # Collapsed by default, and opened over the page (assets/layout.css: the body floats below the summary), so
    # opening it never pushes the radiograph down.
    return dbc.Card(
        dbc.CardBody(
            html.Details(
                [
                    html.Summary([card.get("name", "Model"), " ",
                                  dbc.Badge(MODALITY_NAMES[modality_of(card)], id=MODEL_MODALITY_ID,
                                            color="info" if modality_of(card) != "multimodal" else "secondary",
                                            className="ms-1 fw-normal",
                                            title=MODALITY_DESCRIPTIONS[modality_of(card)])],
                                 className="fw-semibold"),
                    html.Div(
                        [
                            html.P(card.get("trained_on", ""), className="small text-muted mb-1"),
                            html.P(card.get("held_out", ""), className="small text-muted mb-2"),
                            table,
                            *calibration_section(calibration),
                            html.P(f"Fingerprint {fingerprint}", className="small text-muted mb-0"),
                        ],
                        className=MODEL_CARD_BODY_CLASS,
                    ),
                ],
                className="model-card-details",
            ),
            className="py-2",
        ),
        id=MODEL_CARD_ID,
        className="model-card",
    )
