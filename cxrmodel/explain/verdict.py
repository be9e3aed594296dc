"""One plain verdict per study: which part of it the deletion evidence says the decision rests on (pure).

The verdict is one sentence of a small fixed vocabulary (:data:`VOCABULARY`), read from the explanation
document's ``evidence`` (:func:`cxrmodel.explain.study.evidence_document`) on the **log-odds** scale, where a
saturated P (1.00 with and without a removal) still shows an effect. The rule, in the order it is applied:

1. **Cannot tell yet** — the evidence is not computed (or not for these clustering settings), a model that reads
   the film has no region row at the sight sensitivity drawn, or the stability check was run and did not converge.
2. For a study the model calls **abnormal** whose film is read and circled: the circles' *excess* is how much
   more removing them lowers the log-odds than removing the same-size random regions does.
   An excess of at least :data:`DECISIVE_LOG_ODDS` — **the circles carry the decision**; below
   :data:`CONTROL_NOISE` — **the circles matter no more than random regions**. (Circles mark evidence toward
   abnormal, so they are not judged as the carriers of a normal decision.)
3. Otherwise the halves: the *support* of a half is how far removing it moves the log-odds back toward the other
   label (the modality ledger: image removed, report removed; for a single-modality model, its one half). The half
   with the larger support **carries the decision** when its support is at least :data:`DECISIVE_LOG_ODDS`.
4. Otherwise **no single part carries the decision** (e.g. either half alone already gives the same call).

Every number the rule used is in :attr:`Verdict.reason`, for the page's hover text; the page states the verdict at
the sight sensitivity the evidence was read at (:attr:`Verdict.sight_sensitivity`). No numpy, no TensorFlow.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

CIRCLES_CARRY = "The circles carry the decision."
CIRCLES_NO_BETTER = "The circles matter no more than random regions."
REPORT_CARRIES = "The report carries the decision."
FILM_CARRIES = "The film carries the decision."
NO_SINGLE_PART = "No single part of the study carries the decision."
CANNOT_TELL = "Cannot tell yet."
VOCABULARY = (CIRCLES_CARRY, CIRCLES_NO_BETTER, REPORT_CARRIES, FILM_CARRIES, NO_SINGLE_PART, CANNOT_TELL)
"""Every sentence a verdict can be."""

DECISIVE_LOG_ODDS = 1.0
"""A removal that moves the log-odds back toward the other label by at least this much (the odds by a factor
e ≈ 2.7), or circles that do so this much more than random regions, carry the decision."""

CONTROL_NOISE = 0.25
"""Circles whose removal lowers the log-odds by less than this more than random regions matter no more than they
do: about twice the 90th percentile of the change that removing random regions makes on the demo films and
lesion-free phantoms (0.11 log-odds, BENCHMARKS.md, region removal)."""


@dataclass(frozen=True)
class Verdict:
    """A study's verdict.

    Attributes:
        sentence: One of :data:`VOCABULARY`.
        reason: The numbers behind it, in words (hover text).
        sight_sensitivity: The tau whose circles the verdict judged, or None when no circle row was read.
    """

    sentence: str
    reason: str
    sight_sensitivity: float | None = None


def _region_at(evidence: dict, sight_sensitivity: float) -> dict | None:
    return next((region for region in evidence.get("regions") or []
                 if math.isclose(float(region["threshold"]), sight_sensitivity, rel_tol=0, abs_tol=1e-6)), None)


def _stability_failed(evidence: dict) -> bool:
    stability = evidence.get("stability")
    return bool(stability) and stability.get("converged") is False


def _half_supports(document: dict, evidence: dict, direction: float) -> dict[str, float]:
    """How far removing each half moves the log-odds back toward the other label (positive: it supported it)."""
    log_odds = float(evidence["log_odds"])
    removed = evidence["modality"]["log_odds"]
    modality = document.get("modality", "multimodal")
    if modality == "text":
        return {"report": direction * (log_odds - float(removed["both_removed"]))}
    if modality == "image":
        return {"film": direction * (log_odds - float(removed["both_removed"]))}
    return {"film": direction * (log_odds - float(removed["image_removed"])),
            "report": direction * (log_odds - float(removed["report_removed"]))}


def explanation_verdict(document: dict, sight_sensitivity: float | None = None) -> Verdict:
    """The verdict of an explanation document (see the module docstring for the rule).

    Args:
        document: The explanation document (:func:`cxrmodel.explain.study.explanation_document`).
        sight_sensitivity: The tau whose circles are judged; default the one the document was explained at.

    Returns:
        The :class:`Verdict`.
    """
    evidence = document.get("evidence")
    if not evidence:
        return Verdict(CANNOT_TELL, "The deletion checks are not computed for this study and these settings yet.")
    if _stability_failed(evidence):
        return Verdict(CANNOT_TELL, "The stability check did not converge, so the circles cannot be judged.")
    tau = float(document["settings"]["sight_sensitivity"] if sight_sensitivity is None else sight_sensitivity)
    reads_film = document.get("modality", "multimodal") != "text"
    log_odds = float(evidence["log_odds"])
    direction = 1.0 if log_odds >= 0 else -1.0
    reasons = [f"The study's log-odds of abnormal: {log_odds:.1f} "
               f"(model output P {float(evidence['probability']):.3f})."]
    region = _region_at(evidence, tau) if reads_film else None
    if reads_film and region is None:
        return Verdict(CANNOT_TELL, f"The circles at sight sensitivity {tau:.2f} are not checked yet.")
    if region is not None and int(region["circles"]) > 0 and direction > 0:
        circles_drop = log_odds - float(region["log_odds"])
        random_drop = log_odds - float(region["random_log_odds"])
        excess = circles_drop - random_drop
        reasons.append(f"At sight sensitivity {tau:.2f}, removing the {int(region['circles'])} circled region(s) "
                       f"lowers it by {circles_drop:.1f}, same-size random regions by {random_drop:.1f}.")
        if excess >= DECISIVE_LOG_ODDS:
            return Verdict(CIRCLES_CARRY, " ".join(reasons), tau)
        if excess < CONTROL_NOISE:
            return Verdict(CIRCLES_NO_BETTER, " ".join(reasons), tau)
    supports = _half_supports(document, evidence, direction)
    label = "abnormal" if direction > 0 else "normal"
    reasons.append("Removing " + ", ".join(f"the {half} moves it {support:.1f} away from {label}"
                                           for half, support in supports.items()) + ".")
    half, support = max(supports.items(), key=lambda item: item[1])
    if support >= DECISIVE_LOG_ODDS:
        sentence = REPORT_CARRIES if half == "report" else FILM_CARRIES
    else:
        sentence = NO_SINGLE_PART
    return Verdict(sentence, " ".join(reasons), tau if region is not None else None)
