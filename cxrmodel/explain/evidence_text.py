"""The deletion evidence in words: the sentences the page and ``explain`` print (pure; no numpy, no TensorFlow).

The effects are said on the **log-odds** scale (:mod:`cxrmodel.explain.evidence`), beside P: a saturated study
(P 1.00 with and without its circles) still gets an answer, e.g. "P stays 1.00, but removing the 2 circled regions
takes away 4.1 of the study's 9.3 log-odds; same-size random regions take 0.2 (regions filled in from the pixels
around them)". A removal that *raises* the log-odds is said in so many words. The browser's mirror of
:func:`region_sentence` is ``regionEvidenceText`` in assets/threshold.js (the line follows the slider with no
request); the two are tested against each other.
"""

from __future__ import annotations

SMALLEST_LOG_ODDS_CHANGE = 0.05
"""A change in log-odds below this (it rounds to 0.0 at one decimal) is said as no change."""

REMOVAL_LABELS = {
    "imputation": "filled in from the pixels around them",
    "surroundings": "filled with their blurred surroundings",
    "reference": "pasted over with the reference image",
}
"""What a removed region became, in the words of the page (by :data:`cxrmodel.explain.removal.REMOVALS`)."""

RAISED_TEXT = ("Removing them raises the log-odds instead of lowering them, so this check gives the circles no "
               "support here.")
"""Said after the region line when removing the circles raises the log-odds."""


def removal_label(removal: str | None) -> str:
    """What a removed region became (the removal's name when it has no label)."""
    return REMOVAL_LABELS.get(removal or "", removal or "removed")


def signed_change(before: float, after: float) -> str:
    """The change in log-odds from ``before`` to ``after`` at one decimal, with its sign ("−4.1", "+0.3", "0.0")."""
    change = after - before
    if abs(change) < SMALLEST_LOG_ODDS_CHANGE:
        return "0.0"
    return f"{'−' if change < 0 else '+'}{abs(change):.1f}"


def log_odds_phrase(before: float, after: float) -> str:
    """What a removal does to the study's log-odds: "takes away 4.1 of the study's 9.3 log-odds", "raises the
    log-odds from 2.0 to 3.5", "lowers the log-odds from -1.0 to -2.2" or "leaves the log-odds at 9.3"."""
    change = after - before
    if change <= -SMALLEST_LOG_ODDS_CHANGE:
        if before > 0 and after >= 0:
            return f"takes away {-change:.1f} of the study's {before:.1f} log-odds"
        return f"lowers the log-odds from {before:.1f} to {after:.1f}"
    if change >= SMALLEST_LOG_ODDS_CHANGE:
        return f"raises the log-odds from {before:.1f} to {after:.1f}"
    return f"leaves the log-odds at {before:.1f}"


def control_phrase(before: float, after: float) -> str:
    """What the same-size random control does: "take 0.2", "add 0.3" or "leave them as they are"."""
    change = after - before
    if change <= -SMALLEST_LOG_ODDS_CHANGE:
        return f"take {-change:.1f}"
    if change >= SMALLEST_LOG_ODDS_CHANGE:
        return f"add {change:.1f}"
    return "leave them as they are"


def raises_log_odds(before: float, after: float) -> bool:
    """True when a removal raises the log-odds by a visible amount (at least :data:`SMALLEST_LOG_ODDS_CHANGE`)."""
    return after - before >= SMALLEST_LOG_ODDS_CHANGE


def region_sentence(circles: int, tau: float, probability: float, log_odds: float, removed_probability: float,
                    removed_log_odds: float, random_log_odds: float, removal: str | None) -> str:
    """The line that says what removing one tau's circles does, beside same-size random regions.

    Args:
        circles: Circles removed (0: nothing to remove).
        tau: The sight sensitivity.
        probability, log_odds: P(abnormal) and log-odds of the intact study (the model output).
        removed_probability, removed_log_odds: The same with the circles removed.
        random_log_odds: Median log-odds with the same disks removed at random places in the chest.
        removal: How a region was removed (:data:`cxrmodel.explain.removal.REMOVALS`).

    Returns:
        e.g. "P stays 1.00, but removing the 2 circled regions takes away 4.1 of the study's 9.3 log-odds;
        same-size random regions take 0.2 (regions filled in from the pixels around them)."
    """
    if circles == 0:
        return f"No circle at τ = {tau:.2f}: nothing to remove."
    noun = "the circled region" if circles == 1 else f"the {circles} circled regions"
    moved = abs(removed_log_odds - log_odds) >= SMALLEST_LOG_ODDS_CHANGE
    if f"{probability:.2f}" == f"{removed_probability:.2f}":
        lead = f"P stays {probability:.2f}, but removing" if moved else f"P stays {probability:.2f}; removing"
    else:
        lead = f"P {probability:.2f} → {removed_probability:.2f}: removing"
    sentence = (f"{lead} {noun} {log_odds_phrase(log_odds, removed_log_odds)}; same-size random regions "
                f"{control_phrase(log_odds, random_log_odds)} (regions {removal_label(removal)}).")
    if raises_log_odds(log_odds, removed_log_odds):
        sentence += " " + RAISED_TEXT
    return sentence
