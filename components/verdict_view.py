"""The prediction card's top: one plain verdict, one P, and the numbers behind them folded away (pure builders).

Owns the ids ``explanation-verdict`` (the one-line verdict, :func:`cxrmodel.explain.verdict.explanation_verdict`,
with its numbers on hover) and ``prediction-numbers`` (the collapsed "Numbers behind the verdict" that holds the
model output, the shares, the modality ledger, the region deletion line and the card's notes). Outside that fold
the card shows one P(abnormal): the calibrated one, labelled so, or the model output, labelled so, when the bundle
is not calibrated.
"""

from __future__ import annotations

from dash import html

from cxrmodel.explain.verdict import CANNOT_TELL, explanation_verdict

VERDICT_ID = "explanation-verdict"
NUMBERS_ID = "prediction-numbers"
NUMBERS_SUMMARY = "Numbers behind the verdict"


EVIDENCE_PENDING_WORDS = " — the evidence is being checked…"


def verdict_line(document: dict, sight_sensitivity: float | None = None, evidence_pending: bool = False) -> html.Div:
    """The one-line verdict (id ``explanation-verdict``), saying which sight sensitivity's circles it judged, or,
    while the explanation job still computes the evidence (``evidence_pending``), that it is being checked."""
    verdict = explanation_verdict(document, sight_sensitivity)
    at = ([html.Span(f" (circles at sight sensitivity {verdict.sight_sensitivity:.2f})",
                     className="small text-muted fw-normal")]
          if verdict.sight_sensitivity is not None else [])
    if evidence_pending and verdict.sentence == CANNOT_TELL:
        at = [html.Span(EVIDENCE_PENDING_WORDS, className="small text-muted fw-normal verdict-pending")]
    return html.Div([html.Span(verdict.sentence, className="verdict-sentence"), *at], id=VERDICT_ID,
                    className="fw-semibold mb-2", title=verdict.reason)


def probability_lines(document: dict) -> list:
    """The one P shown on the card: "P(abnormal), calibrated" or "P(abnormal), model output" above its value."""
    calibrated = document.get("calibrated_probability")
    shown = document["probability"] if calibrated is None else calibrated
    return [html.Div("P(abnormal), calibrated" if calibrated is not None else "P(abnormal), model output",
                     className="small text-muted"),
            html.Div(f"{shown:.3f}", className="display-6")]


def model_output_line(document: dict) -> html.Div | None:
    """Inside the numbers: the model output beside a calibrated P (None when the card shows the model output)."""
    if document.get("calibrated_probability") is None:
        return None
    return html.Div(f"model output {document['probability']:.3f} (the attributions, the deletion checks and the "
                    "what-if refer to it; the calibrated P above is the one to read as a probability)",
                    className="small text-muted")


def numbers(children: list) -> html.Details:
    """The collapsed "Numbers behind the verdict" (id ``prediction-numbers``)."""
    return html.Details([html.Summary(NUMBERS_SUMMARY, className="small"), *children], id=NUMBERS_ID,
                        className="mt-2 prediction-numbers")
