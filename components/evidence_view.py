"""How far to believe an explanation: what P(abnormal) does when the circled regions or top words are removed.

Pure builders over the explanation document's ``evidence`` object (:func:`cxrmodel.explain.study.evidence_document`,
:mod:`cxrmodel.explain.evidence`); no callbacks. Owns the ids ``region-evidence`` (one line in the prediction
card that assets/threshold.js rewrites on every slider move from the sweep's ``evidence``, with no request:
:func:`region_evidence_text` is its Python mirror, ``regionEvidenceText`` the JS one), ``word-evidence`` (under
"Words that moved the decision most") and ``modality-ledger`` (in the prediction card).

The sweep shipped to the browser carries :func:`sweep_evidence`: per slider threshold, the circles removed and
P after removing them and after removing same-size random regions.
"""

from __future__ import annotations

import logging

import dash_bootstrap_components as dbc
from dash import html

from cxrmodel.explain import Disclosure
from cxrmodel.explain.disclosure import SHOWN_ANYWAY_STAMP
from cxrmodel.explain.evidence import ModalityAblation, modality_disagreements

logger = logging.getLogger(__name__)

REGION_EVIDENCE_ID = "region-evidence"
WORD_EVIDENCE_ID = "word-evidence"
MODALITY_LEDGER_ID = "modality-ledger"

SMALL_EFFECT = 0.02
"""A removal that moves P by less than this (probability units) "leaves P" where it was."""

WORDS_WITHHELD_TEXT = "Word deletion: not shown, the model cannot judge this image (see the notice above)."
NOT_COMPUTED_TEXT = ("Deletion check: not computed for these clustering settings (it is computed with the "
                     "explanation, at the clustering it was explained with).")


def sweep_evidence(evidence: dict | None, thresholds: list[float]) -> dict | None:
    """What the browser needs to say, at any tau, what removing that tau's circles does (pure).

    Returns:
        ``{"probability": P, "regions": [[circles, P removed, P random], ...] per threshold}``, or None when the
        document has no evidence or its thresholds are not the sweep's.
    """
    if not evidence or not evidence.get("regions"):
        return None
    regions = evidence["regions"]
    if [round(float(region["threshold"]), 4) for region in regions] != [round(float(t), 4) for t in thresholds]:
        logger.warning("evidence thresholds differ from the sweep's: not shipped")
        return None
    return {
        "probability": float(evidence["probability"]),
        "regions": [[int(region["circles"]), round(float(region["probability"]), 4),
                     round(float(region["random_probability"]), 4)] for region in regions],
    }


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def region_evidence_text(shipped: dict | None, index: int, tau: float) -> str:
    """The prediction card's deletion line at the sweep's threshold ``index`` (Python mirror of the JS).

    e.g. "Remove the 2 circled regions: P 0.99 → 0.41 (same-size random regions: 0.97)".
    """
    if not shipped or index < 0 or index >= len(shipped.get("regions", [])):
        return NOT_COMPUTED_TEXT
    circles, removed, random = shipped["regions"][index]
    if circles == 0:
        return f"No circle at τ = {tau:.2f}: nothing to remove."
    noun = "circled region" if circles == 1 else "circled regions"
    probability = shipped["probability"]
    return (f"Remove the {circles} {noun}: P {probability:.3f} → {removed:.3f} "
            f"(same-size random regions: {random:.3f})")


def region_evidence(shipped: dict | None, index: int, tau: float) -> html.Div:
    """The line as a component (id ``region-evidence``)."""
    return html.Div(region_evidence_text(shipped, index, tau), id=REGION_EVIDENCE_ID, className="small mt-1",
                    title="P(abnormal) after the pixels inside this τ's circles are replaced by the explanation's "
                    "reference image, and the median P over random placements of the same disks inside the chest.")


def word_evidence(evidence: dict | None, decided: Disclosure | None = None) -> html.Div | None:
    """Under the strongest words: P after removing the top-k words toward abnormal, against k random words.

    Args:
        evidence: The document's ``evidence``.
        decided: The study's disclosure (None: judged). For a study the model cannot judge the table is not
            drawn (one line says why) unless it was shown anyway; then it is stamped "shown anyway".
    """
    if not evidence:
        return None
    if decided is not None and not decided.shows("word_evidence"):
        return html.Div(WORDS_WITHHELD_TEXT, id=WORD_EVIDENCE_ID, className="small text-muted mt-1")
    stamp = ([html.Span(f"{SHOWN_ANYWAY_STAMP.capitalize()}: ", className="fw-semibold text-warning-emphasis")]
             if decided is not None and decided.shown_anyway else [])
    words = evidence.get("words") or []
    if not words:
        return html.Div("Word deletion: the report has no words the model reads.", id=WORD_EVIDENCE_ID,
                        className="small text-muted mt-1")
    probability = float(evidence["probability"])
    rows = [
        html.Tr([
            html.Td(f"top {entry['k']}"),
            html.Td(", ".join(entry.get("words", [])), className="text-break"),
            html.Td(f"{float(entry['probability']):.3f}"),
            html.Td(f"{float(entry['random_probability']):.3f}", className="text-muted"),
        ])
        for entry in words
    ]
    return html.Div(
        [
            html.Div([*stamp, f"Remove the words that pushed most toward abnormal (P {probability:.3f} with all "
                      "words):"], className="small"),
            dbc.Table([html.Thead(html.Tr([html.Th("removed"), html.Th("words"), html.Th("P"),
                                           html.Th("k random words", className="text-muted")])),
                       html.Tbody(rows)],
                      size="sm", borderless=True, className="small mb-0 evidence-table"),
        ],
        id=WORD_EVIDENCE_ID,
        className="mt-2",
        title="A removed word is replaced by padding, as the model sees a missing word; the last column is the "
        "median P with the same number of randomly chosen words removed.",
    )


def _ledger(evidence: dict) -> ModalityAblation:
    modality = evidence["modality"]
    return ModalityAblation(float(modality["image_removed"]), float(modality["report_removed"]),
                            float(modality["both_removed"]))


def disagreement_sentences(document: dict) -> list[str]:
    """Plain-language flags where the IG share of a half and what removing it does disagree (pure)."""
    evidence = document.get("evidence")
    if not evidence:
        return []
    found = modality_disagreements(document.get("modality_share") or {}, _ledger(evidence),
                                   float(evidence["probability"]))
    sentences = []
    for item in found:
        name = "image" if item.modality == "image" else "report"
        other = "report" if name == "image" else "image"
        effect = item.removed_probability - item.probability
        share = f"Integrated gradients give the {name} {100 * item.ig_share:.0f} %"
        if abs(effect) < SMALL_EFFECT:
            # Redundant halves: the other one alone already gives (almost) the same P.
            sentences.append(
                f"{share}, yet removing the {name} leaves P at {item.removed_probability:.2f}: the {other} alone "
                f"is enough for this prediction, so the shares say how the change divides between the two, not "
                f"what the model needs.")
            continue
        verb = "lowers" if effect < 0 else "raises"
        sentences.append(
            f"{share}, yet removing the {name} {verb} P from {item.probability:.2f} to "
            f"{item.removed_probability:.2f} ({100 * item.ablation_share:.0f} % of the change from the reference): "
            f"the two disagree, so read the {name}'s share with care.")
    return sentences


def modality_ledger(document: dict) -> html.Div | None:
    """The modality ledger (id ``modality-ledger``): P with the image, the report or both removed, and flags."""
    evidence = document.get("evidence")
    if not evidence:
        return None
    ledger = _ledger(evidence)
    modality = document.get("modality", "multimodal")
    if modality != "multimodal":
        # Removing the half a single-modality model does not read changes nothing: only its own half is shown.
        half = "report" if modality == "text" else "image"
        children = [html.Span("Removed → P: ", className="text-muted"),
                    html.Span(f"{half} {ledger.both_removed:.3f}", className="me-2")]
    else:
        children = [
            html.Span("Removed → P: ", className="text-muted"),
            html.Span(f"image {ledger.image_removed:.3f}", className="me-2"),
            html.Span(f"report {ledger.report_removed:.3f}", className="me-2"),
            html.Span(f"both {ledger.both_removed:.3f}", className="text-muted"),
        ]
    flags = [dbc.Alert(sentence, color="warning", className="small py-1 px-2 mt-1 mb-0 modality-flag")
             for sentence in disagreement_sentences(document)]
    return html.Div([html.Div(children), *flags], id=MODALITY_LEDGER_ID, className="small mt-1",
                    title="P(abnormal) with the image replaced by the reference image, with the report replaced "
                    "by padding (an empty report), and with both (the reference pair of integrated gradients).")
