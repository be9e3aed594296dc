"""The model card: which model is loaded, what it was trained on, its held-out metrics, the synthetic banner."""

from __future__ import annotations

import math
from decimal import ROUND_HALF_UP, Decimal

import dash_bootstrap_components as dbc
from dash import html

SYNTHETIC_BANNER_ID = "synthetic-banner"
MODEL_CARD_ID = "model-card"

_MODALITY_NAMES = {"multimodal": "Multimodal", "image": "Image only", "text": "Report only"}


def metric_text(value: float | None, digits: int = 3) -> str:
    """A held-out metric as written in the card, rounded half up to ``digits`` decimals (pure).

    The card stores exact fractions of the test set (0.8875 = 355 of 400); binary floating point holds 0.8875 as
    0.88749999..., so ``f"{0.8875:.3f}"`` gives 0.887 while 0.7375 gives 0.738. Rounding the decimal the card
    wrote gives 0.888 and 0.738, the figures README quotes. "n/a" when missing.
    """
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        return "n/a"
    return str(Decimal(repr(float(value))).quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP))


def metrics_rows(metrics: dict) -> list[html.Tr]:
    """Table rows "model | accuracy | AUC" from a card's ``metrics`` mapping (pure)."""
    rows = []
    for modality, values in metrics.items():
        rows.append(
            html.Tr(
                [
                    html.Td(_MODALITY_NAMES.get(modality, modality)),
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


def layout(card: dict, fingerprint: str) -> dbc.Card:
    """The model card panel."""
    metrics = card.get("metrics", {})
    table = dbc.Table(
        [html.Thead(html.Tr([html.Th("Held-out"), html.Th("Accuracy"), html.Th("AUC")])),
         html.Tbody(metrics_rows(metrics))],
        size="sm",
        className="mb-2",
    )
    # Collapsed by default so the study list and the explanation stay on the first screen.
    return dbc.Card(
        dbc.CardBody(
            html.Details(
                [
                    html.Summary(card.get("name", "Model"), className="fw-semibold"),
                    html.P(card.get("trained_on", ""), className="small text-muted mb-1 mt-2"),
                    html.P(card.get("held_out", ""), className="small text-muted mb-2"),
                    table,
                    html.P(f"Fingerprint {fingerprint}", className="small text-muted mb-0"),
                ]
            ),
            className="py-2",
        ),
        id=MODEL_CARD_ID,
    )
