"""How far to believe an explanation: what the decision does when the circled regions or top words are removed.

Pure builders over the explanation document's ``evidence`` object (:func:`cxrmodel.explain.study.evidence_document`,
:mod:`cxrmodel.explain.evidence`); no callbacks. Owns the ids ``region-evidence`` (one line in the prediction
card that assets/threshold.js rewrites on every slider move from the sweep's ``evidence``, with no request:
:func:`region_evidence_text` is its Python mirror, ``regionEvidenceText`` the JS one), ``word-evidence`` (under
"Words that moved the decision most") and ``modality-ledger`` (in the prediction card).

The sweep shipped to the browser carries :func:`sweep_evidence`: per slider threshold, the circles removed and
P and the log-odds after removing them and after removing same-size random regions. The sentences say the effects
on the log-odds scale (the model's pre-sigmoid output), so a saturated study still gets an answer, and name how a
region was removed (:mod:`cxrmodel.explain.evidence_text`, shared with ``explain``).
"""

from __future__ import annotations

import logging

import dash_bootstrap_components as dbc
from dash import html

from cxrmodel.explain import Disclosure
from cxrmodel.explain.disclosure import SHOWN_ANYWAY_STAMP
from cxrmodel.explain.evidence import ModalityAblation, modality_disagreements
from cxrmodel.explain.evidence_text import region_sentence, removal_label, signed_change

logger = logging.getLogger(__name__)

REGION_EVIDENCE_ID = "region-evidence"
WORD_EVIDENCE_ID = "word-evidence"
MODALITY_LEDGER_ID = "modality-ledger"

SMALL_EFFECT = 0.02
"""A removal that moves P by less than this (probability units) "leaves P" where it was."""

WORDS_WITHHELD_TEXT = "Word deletion: not shown, the model cannot judge this image (see the notice above)."
NOT_COMPUTED_TEXT = ("Deletion check: not computed for these clustering settings (it is computed with the "
                     "explanation, at the clustering it was explained with).")
COMPUTING_TEXT = "Deletion check: being computed (removing these circles and same-size random regions)…"
EVIDENCE_CANCELLED_TEXT = "Deletion check: cancelled before it was computed (press Restart above to compute it)."
MISSING_TEXT_KEY = "evidence_missing_text"
"""The sweep's key for what the evidence line says at a tau with no evidence row (the browser reads it)."""


def missing_text(pending: bool) -> str:
    """The evidence line at a tau with no row: being computed (``pending``: the explanation job is computing it)
    or not computed for these clustering settings."""
    return COMPUTING_TEXT if pending else NOT_COMPUTED_TEXT


def sweep_evidence(evidence: dict | None, thresholds: list[float]) -> dict | None:
    """What the browser needs to say, at any tau, what removing that tau's circles does (pure).

    Returns:
        ``{"probability": P, "log_odds": L, "removal": name, "regions": [[circles, P removed, P random,
        log-odds removed, log-odds random] or None, ...] per sweep threshold}`` — None for a threshold the evidence
        has no row for (not computed yet) — or None when the document has no evidence for any sweep threshold.
    """
    if not evidence or not evidence.get("regions"):
        return None
    rows = {round(float(region["threshold"]), 4): region for region in evidence["regions"]}
    found = [rows.get(round(float(threshold), 4)) for threshold in thresholds]
    if not any(found):
        logger.warning("the evidence has no row at the sweep's thresholds: not shipped")
        return None
    return {
        "probability": float(evidence["probability"]),
        "log_odds": round(float(evidence["log_odds"]), 4),
        "removal": evidence.get("removal"),
        "regions": [None if region is None else
                    [int(region["circles"]), round(float(region["probability"]), 4),
                     round(float(region["random_probability"]), 4), round(float(region["log_odds"]), 4),
                     round(float(region["random_log_odds"]), 4)] for region in found],
    }


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def region_evidence_text(shipped: dict | None, index: int, tau: float, missing: str = NOT_COMPUTED_TEXT) -> str:
    """The prediction card's deletion line at the sweep's threshold ``index`` (Python mirror of the JS).

    e.g. "P stays 1.00, but removing the 2 circled regions takes away 4.1 of the study's 9.3 log-odds; same-size
    random regions take 0.2 (regions filled in from the pixels around them)."
    (:func:`cxrmodel.explain.evidence_text.region_sentence`); ``missing`` where there is no row
    (:func:`missing_text`, shipped in the sweep as ``evidence_missing_text``).
    """
    if not shipped or index < 0 or index >= len(shipped.get("regions", [])) or shipped["regions"][index] is None:
        return missing
    circles, removed, _random, removed_log_odds, random_log_odds = shipped["regions"][index]
    return region_sentence(circles, tau, shipped["probability"], shipped["log_odds"], removed, removed_log_odds,
                           random_log_odds, shipped.get("removal"))


def region_evidence(shipped: dict | None, index: int, tau: float, missing: str = NOT_COMPUTED_TEXT) -> html.Div:
    """The line as a component (id ``region-evidence``)."""
    removal = (shipped or {}).get("removal")
    return html.Div(region_evidence_text(shipped, index, tau, missing), id=REGION_EVIDENCE_ID, className="small mt-1",
                    title=f"The pixels inside this τ's circles are {removal_label(removal)} (removal: "
                    f"{removal or 'not computed'}), and the model is asked again; the control is the median over "
                    "random placements of the same disks inside the chest, removed the same way. Changes are in "
                    "log-odds of abnormal (the model output before its sigmoid), which still move when P is "
                    "saturated at 1.00.")


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
    probability, log_odds = float(evidence["probability"]), float(evidence["log_odds"])
    rows = [
        html.Tr([
            html.Td(f"top {entry['k']}"),
            html.Td(", ".join(entry.get("words", [])), className="text-break"),
            html.Td(f"{float(entry['probability']):.3f}"),
            html.Td(signed_change(log_odds, float(entry["log_odds"]))),
            html.Td(signed_change(log_odds, float(entry["random_log_odds"])), className="text-muted"),
        ])
        for entry in words
    ]
    return html.Div(
        [
            html.Div([*stamp, f"Remove the words that pushed most toward abnormal (with all words: P "
                      f"{probability:.3f}, log-odds {log_odds:.1f}):"], className="small"),
            dbc.Table([html.Thead(html.Tr([html.Th("removed"), html.Th("words"), html.Th("P"),
                                           html.Th("log-odds change"),
                                           html.Th("as many random words", className="text-muted")])),
                       html.Tbody(rows)],
                      size="sm", borderless=True, className="small mb-0 evidence-table"),
        ],
        id=WORD_EVIDENCE_ID,
        className="mt-2",
        title="A removed word is replaced by padding, as the model sees a missing word. Changes are in log-odds of "
        "abnormal (the model output before its sigmoid), which still move when P is saturated; the last column is "
        "the median change with the same number of randomly chosen words removed.",
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
    log_odds, ledger_log_odds = float(evidence["log_odds"]), evidence["modality"]["log_odds"]

    def removed(half: str, name: str, value: float, class_name: str = "me-2") -> html.Span:
        return html.Span(f"{half} {value:.3f} ({signed_change(log_odds, float(ledger_log_odds[name]))})",
                         className=class_name)

    modality = document.get("modality", "multimodal")
    label = html.Span("Removed → P (log-odds change): ", className="text-muted")
    if modality != "multimodal":
        # Removing the half a single-modality model does not read changes nothing: only its own half is shown.
        half = "report" if modality == "text" else "image"
        children = [label, removed(half, "both_removed", ledger.both_removed)]
    else:
        children = [
            label,
            removed("image", "image_removed", ledger.image_removed),
            removed("report", "report_removed", ledger.report_removed),
            removed("both", "both_removed", ledger.both_removed, "text-muted"),
        ]
    flags = [dbc.Alert(sentence, color="warning", className="small py-1 px-2 mt-1 mb-0 modality-flag")
             for sentence in disagreement_sentences(document)]
    return html.Div([html.Div(children), *flags], id=MODALITY_LEDGER_ID, className="small mt-1",
                    title="P(abnormal) with the image replaced by the reference image, with the report replaced "
                    "by padding (an empty report), and with both (the reference pair of integrated gradients); in "
                    "brackets the change in log-odds of abnormal (the model output before its sigmoid).")
