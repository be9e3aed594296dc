"""How to read the explanation: the collapsible legend, and the prediction card's plain-language lines.

Owns the ids ``reading-guide`` (an ``html.Details``, collapsed by default) and ``prediction-heading`` (the
card's heading, which follows the prediction). Everything here is pure; each statement of the legend is
checked against the code it explains:

* circles — :mod:`cxrmodel.detection.circles` (signal = positive attribution ≥ τ × the strongest pixel's,
  single linkage at the link distance, groups of fewer than ``min_points`` dropped, ``mass`` = the cluster's
  share of the map's positive attribution, ranked by mass);
* colours — :mod:`cxrmodel.rendering.palette` (by rank; the outline's dash changes each time the colours
  repeat);
* words — :mod:`cxrmodel.text` (stop words, words shorter than two letters or only digits, section headers,
  and kept words past ``max_tokens`` are not seen) and :mod:`cxrmodel.explain.integrated_gradients` (``score``:
  signed IG attribution of the word's slot summed over its embedding; ``share``: the slot's squared elementwise
  attributions over those of the whole report);
* modality shares — :mod:`cxrmodel.explain.integrated_gradients` (each modality's summed attribution divided by
  P(study) − P(reference); the shares add to 1 within the completeness error, and a share is negative when
  that modality moved P(abnormal) against the total change).
"""

from __future__ import annotations

import math

from dash import html

from components.review_keys import shortcut_text
from cxrmodel.rendering.palette import CIRCLE_DASHES, CIRCLE_PALETTE

READING_GUIDE_ID = "reading-guide"
PREDICTION_HEADING_ID = "prediction-heading"

MINUS = "\u2212"
NEGLIGIBLE_PROBABILITY = 0.005
"""A modality that moved P(abnormal) by less than this is "barely moved" (it would print as ±0.00)."""

ABNORMAL_HEADING = "Why the model calls this study abnormal"
NORMAL_HEADING = "What pushed this study toward abnormal, and how much"


def signed_number(value: float, digits: int = 2) -> str:
    """``+0.98`` / ``−0.13`` with a real minus sign; never ``-0.00`` (pure)."""
    text = f"{value:+.{digits}f}"
    if float(text) == 0.0:
        return f"{0:.{digits}f}"
    return text.replace("-", MINUS)


def share_percent(value: float | None) -> str:
    """A share as ``"115 %"`` / ``"−15 %"``; ``"0 %"`` for anything that rounds to zero (no ``"-0 %"``); ``"n/a"``
    when undefined (pure)."""
    if value is None or not math.isfinite(value):
        return "n/a"
    rounded = round(100 * value)
    if rounded == 0:
        return "0 %"
    return f"{rounded:d} %".replace("-", MINUS)


def prediction_heading(document: dict) -> str:
    """The prediction card's heading: it never asks "why abnormal?" of a study the model calls normal."""
    return ABNORMAL_HEADING if document.get("label") == "abnormal" else NORMAL_HEADING


def _baseline_probability(document: dict) -> float | None:
    value = (document.get("completeness") or {}).get("baseline_probability")
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None


def modality_contributions(document: dict) -> dict[str, float] | None:
    """How far each modality moved P(abnormal) from the reference to the study, in probability units.

    ``share × (P(study) − P(reference))``: the modality's summed attribution (the shares are those sums divided by
    the total change). Positive = toward abnormal. None when the shares or the reference probability are unknown.
    """
    baseline = _baseline_probability(document)
    share = document.get("modality_share") or {}
    image, text = share.get("image"), share.get("text")
    if baseline is None or not all(isinstance(v, (int, float)) and math.isfinite(v) for v in (image, text)):
        return None
    change = float(document["probability"]) - baseline
    return {"image": float(image) * change, "text": float(text) * change}


def _movement(name: str, amount: float) -> str:
    if abs(amount) < NEGLIGIBLE_PROBABILITY:
        return f"the {name} barely moved it"
    direction = "toward abnormal" if amount > 0 else "toward normal"
    return f"the {name} moved it by {signed_number(amount)} ({direction})"


def modality_sentence(document: dict) -> str | None:
    """One clinician-facing sentence on what the image and the report each did (pure); None when unknown.

    E.g. "From the reference (an average normal image with an empty report, P 0.14) to this study, P(abnormal)
    0.99: the report moved it by +0.98 (toward abnormal), the image moved it by −0.13 (toward normal). A negative
    share means that part pulled against the total change; the shares always add to 100 %."
    """
    contributions = modality_contributions(document)
    if contributions is None:
        return None
    baseline = _baseline_probability(document)
    order = sorted(contributions, key=lambda name: -abs(contributions[name]))
    names = {"image": "image", "text": "report"}
    parts = ", ".join(_movement(names[name], contributions[name]) for name in order)
    sentence = (f"From the reference (an average normal image with an empty report, P {baseline:.2f}) to this "
                f"study, P(abnormal) {float(document['probability']):.2f}: {parts}.")
    share = document.get("modality_share") or {}
    if min(share.get("image", 0.0), share.get("text", 0.0)) < 0:
        sentence += " A negative share means that part pulled against the total change; the shares always add to 100 %."
    return sentence


def normal_study_note(document: dict) -> str | None:
    """For a study the model calls normal: why it can still show a circle (pure); None for an abnormal one."""
    if document.get("label") == "abnormal":
        return None
    return (f"The model calls this study normal (P {float(document['probability']):.2f}). Circles still mark "
            "where the image pushed most toward abnormal, however weakly: τ is relative to this image's strongest "
            "pixel, so there is always a strongest region. A circle here is not a finding.")


def prediction_notes(document: dict) -> list[html.P]:
    """The prediction card's plain-language lines: what each modality did, and the normal-study note (pure)."""
    notes = []
    sentence = modality_sentence(document)
    if sentence:
        notes.append(html.P(sentence, className="small mb-0 mt-1 modality-sentence"))
    note = normal_study_note(document)
    if note:
        notes.append(html.P(note, className="small text-muted mb-0 mt-1 normal-study-note"))
    return notes


def _term(term: str, *definition) -> html.Div:
    return html.Div([html.Dt(term, className="col-sm-3"), html.Dd(list(definition), className="col-sm-9 mb-1")],
                    className="row g-1")


def _swatch(rank: int) -> html.Span:
    colour = CIRCLE_PALETTE[(rank - 1) % len(CIRCLE_PALETTE)]
    dash = CIRCLE_DASHES[((rank - 1) // len(CIRCLE_PALETTE)) % len(CIRCLE_DASHES)]
    border = {"solid": "solid", "dash": "dashed", "dot": "dotted", "dashdot": "dashed"}[dash]
    return html.Span(str(rank), className="guide-swatch", style={"borderColor": colour, "borderStyle": border,
                                                                 "color": colour})


def layout(sight_sensitivity: float, link_distance: float, min_points: int, max_tokens: int,
           open_: bool = False) -> html.Details:
    """The "How to read this" legend: collapsed, a few lines, each with the numbers it explains.

    Args:
        sight_sensitivity: The bundle's default τ (the slider's start).
        link_distance: The default single-linkage distance, model-grid pixels.
        min_points: The smallest group drawn as a circle.
        max_tokens: Kept words the model reads (the rest are not seen).
        open_: Start expanded (screenshots).
    """
    colours = len(CIRCLE_PALETTE)
    swatches = [_swatch(rank) for rank in (1, 2, colours, colours + 1, 2 * colours + 1)]
    entries = [
        _term("Circle",
              "Evidence TOWARD abnormal: pixels whose attribution is at least τ × the strongest pixel's "
              f"(τ {sight_sensitivity:.2f} by default), joined when closer than {link_distance:.1f} model-grid "
              f"pixels, in groups of at least {min_points} (researcher tools change both). Evidence toward "
              "normal is never circled."),
        _term("Colour, number",
              "Rank by attribution mass: 1 holds the most. ", *swatches,
              f" Colours repeat after {colours}: from circle {colours + 1} the outline is dashed, from "
              f"{2 * colours + 1} dotted."),
        _term("mass %",
              "(hover a circle) its share of all the image's attribution toward abnormal, e.g. 62.3 %; what "
              "lies outside every circle is the rest."),
        _term("Normal study",
              "A study at P 0.06 can still show a circle: τ is relative to the strongest pixel, so there is "
              "always a strongest region. It marks what pushed toward abnormal, even weakly — not a finding."),
        _term(html.Span("grey italic", className="fst-italic text-muted"),
              "Words the model did not see: stop words (the, of, are), words under 2 letters or only digits, "
              f"section headers (FINDINGS:), and every word after the first {max_tokens} it reads."),
        _term("score, share",
              "score: the word's signed integrated-gradients attribution (+ toward abnormal, red; − toward "
              "normal, blue). share: its squared attribution as a part of the whole report's (unsigned; the "
              "seen words add to 100 %). Squaring comes before adding up the word's embedding, so a word "
              "whose parts push both ways has a small score but can have a large share: the two rank words "
              "differently. The list of strongest words ranks by |score|."),
        _term("Image %, Report %",
              "How much of the change in P(abnormal), from the reference (an average normal image with an "
              "empty report) to this study, each part accounts for; they add to 100 %. \"Image −15 %, "
              "Report 115 %\" on an abnormal study (P above the reference's): the image pulled toward normal "
              "while the report pushed toward abnormal, by more than the whole change. The prediction card "
              "says it in words."),
        _term("Review keys", shortcut_text()),
    ]
    return html.Details(
        [html.Summary("How to read this", className="fw-semibold"),
         html.Dl(entries, className="small mb-0 mt-2")],
        id=READING_GUIDE_ID,
        open=open_,
        className="reading-guide mb-2",
    )
