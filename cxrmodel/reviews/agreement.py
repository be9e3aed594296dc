"""Which sight sensitivity agrees with the reviewers: the pointing game and Cohen's kappa from stored reviews.

Per threshold tau of the studies' circle sweeps:

* **pointing hit rate** — the share of reviewers' finding points that lie inside a circle
  (:func:`cxrmodel.evaluation.lesion_hits.point_inside_circle`, the rule ``evaluate-detection`` counts its
  phantoms' lesion points with); the saliency benchmarks' measure against radiologists' marks;
* **coverage** — the share of the image inside the circles (mean over the scored points' studies): the hit rate
  a point placed at random would get (:func:`cxrmodel.evaluation.lesion_hits.circle_coverage`), the pointing
  game's chance level. At tau near 0 the circles cover most of the film and hit every point by size alone;
* **hit rate above chance** — pointing hit rate minus coverage; the best tau is the one where it is highest (the
  control ``evaluate-detection`` uses for its lesions too: hits beyond what the circles' size explains);
* **circle precision** — the share of circles (of the studies with points) that hold at least one point;
* **share of circles agreed** — of the per-circle verdicts given at that tau, the share "agree".

Cohen's kappa (scikit-learn) compares the model's label (P >= 0.5) with the reviewers' readings, and reviewers
with each other on the studies several of them read (pooled over every pair of reviewers of a study). "Unsure"
readings are left out of both.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Sequence

from cxrmodel.evaluation.lesion_hits import circle_coverage, points_hit
from cxrmodel.reviews.records import StoredReview, threshold_index

DECIDED_READINGS = ("normal", "abnormal")


@dataclass(frozen=True)
class ThresholdAgreement:
    """Agreement of the circles with the reviewers at one sight sensitivity.

    Attributes:
        sight_sensitivity: tau.
        points: Reviewers' finding points scored (on studies whose sweep has this tau).
        points_hit: Of them, inside a circle.
        pointing_hit_rate: ``points_hit / points``; None without points.
        coverage: Mean, over the points, of the share of their study's image inside the circles (the chance
            hit rate); None without points.
        above_chance: ``pointing_hit_rate - coverage``; None without points.
        circles: Circles of the studies with points.
        circles_with_points: Of them, holding at least one point.
        circle_precision: ``circles_with_points / circles``; None without circles.
        circle_verdicts: Per-circle verdicts given at this tau.
        circles_agreed: Of them, "agree".
        agreed_share: ``circles_agreed / circle_verdicts``; None without verdicts.
    """

    sight_sensitivity: float
    points: int
    points_hit: int
    pointing_hit_rate: float | None
    coverage: float | None
    above_chance: float | None
    circles: int
    circles_with_points: int
    circle_precision: float | None
    circle_verdicts: int
    circles_agreed: int
    agreed_share: float | None

    def to_dict(self) -> dict:
        """Plain JSON."""
        return dict(self.__dict__)


@dataclass(frozen=True)
class Kappa:
    """Cohen's kappa over paired labels; ``kappa`` is None (and ``note`` says why) when it is undefined."""

    kappa: float | None
    pairs: int
    note: str = ""

    def to_dict(self) -> dict:
        """Plain JSON."""
        return dict(self.__dict__)


@dataclass(frozen=True)
class AgreementSummary:
    """Agreement of one model's explanations with the reviewers (:func:`agreement_summary`)."""

    bundle_fingerprint: str | None
    reviews: int
    reviewers: int
    studies: int
    thresholds: list[ThresholdAgreement]
    best_sight_sensitivity: float | None
    model_vs_reviewers: Kappa
    between_reviewers: Kappa
    verdicts: dict[str, int] = field(default_factory=dict)
    reviews_on_earlier_models: int = 0

    def to_dict(self) -> dict:
        """Plain JSON (what ``python -m cxrmodel reviews summary --json`` prints)."""
        return {
            "bundle_fingerprint": self.bundle_fingerprint, "reviews": self.reviews, "reviewers": self.reviewers,
            "studies": self.studies, "best_sight_sensitivity": self.best_sight_sensitivity,
            "thresholds": [threshold.to_dict() for threshold in self.thresholds],
            "model_vs_reviewers": self.model_vs_reviewers.to_dict(),
            "between_reviewers": self.between_reviewers.to_dict(), "verdicts": self.verdicts,
            "reviews_on_earlier_models": self.reviews_on_earlier_models,
        }


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def cohen_kappa(first: Sequence[str], second: Sequence[str]) -> Kappa:
    """Cohen's kappa of two paired label sequences (scikit-learn's ``cohen_kappa_score``).

    Returns:
        The kappa in [-1, 1], or None with a note when there are no pairs or only one label occurs in both
        (then kappa is 0/0).
    """
    from sklearn.metrics import cohen_kappa_score  # noqa: PLC0415 - scikit-learn only when summarising

    pairs = len(first)
    if pairs == 0:
        return Kappa(None, 0, "no paired readings")
    if len(set(first) | set(second)) < 2:
        return Kappa(None, pairs, "every reading is the same label, so kappa is undefined")
    kappa = float(cohen_kappa_score(list(first), list(second), labels=list(DECIDED_READINGS)))
    return Kappa(None if math.isnan(kappa) else kappa, pairs, "" if not math.isnan(kappa) else "undefined")


@functools.lru_cache(maxsize=65_536)
def _coverage(circles: tuple[tuple[float, float, float], ...], width: int, height: int) -> float:
    # A study's circles at a tau never change once stored, and the dashboard recomputes the summary after every
    # save: each (circles, image size) is measured once per process.
    return circle_coverage([{"x": x, "y": y, "r": r} for x, y, r in circles], width, height)


def _threshold_agreement(tau: float, reviews: Sequence[StoredReview]) -> ThresholdAgreement:
    points = hit = circles = circles_with_points = verdicts = agreed = 0
    covered = 0.0  # sum over the points of their study's coverage
    coverage_of: dict[str, float] = {}
    studies_scored: set[str] = set()
    points_by_study: dict[str, list[tuple[float, float]]] = {}
    for review in reviews:
        index = threshold_index(review.study.sweep["thresholds"], tau)
        if index is None:
            continue
        at_tau = review.study.sweep["circles"][index]
        marks = [(point.x, point.y) for point in review.draft.points]
        hits = points_hit(at_tau, marks)
        points, hit = points + len(marks), hit + sum(hits)
        if marks:
            key = review.study.content_hash
            points_by_study.setdefault(key, []).extend(marks)
            if key not in coverage_of:
                coverage_of[key] = _coverage(tuple((c["x"], c["y"], c["r"]) for c in at_tau),
                                             review.study.image_width, review.study.image_height)
            covered += coverage_of[key] * len(marks)
        for mark in review.draft.circles:
            if abs(mark.sight_sensitivity - tau) <= 1e-6:
                verdicts += 1
                agreed += mark.verdict == "agree"
    for review in reviews:  # circle precision: each study's circles once, against all reviewers' points on it
        key = review.study.content_hash
        index = threshold_index(review.study.sweep["thresholds"], tau)
        if key in studies_scored or key not in points_by_study or index is None:
            continue
        studies_scored.add(key)
        for circle in review.study.sweep["circles"][index]:
            circles += 1
            circles_with_points += any(points_hit([circle], points_by_study[key]))
    rate, coverage = _ratio(hit, points), (covered / points if points else None)
    return ThresholdAgreement(float(tau), points, hit, rate, coverage,
                              None if rate is None else rate - coverage, circles, circles_with_points,
                              _ratio(circles_with_points, circles), verdicts, agreed, _ratio(agreed, verdicts))


def _between_reviewers(reviews: Sequence[StoredReview]) -> Kappa:
    by_study: dict[str, list[StoredReview]] = {}
    for review in reviews:
        if review.draft.reading in DECIDED_READINGS:
            by_study.setdefault(review.study.content_hash, []).append(review)
    first, second = [], []
    for group in by_study.values():
        for one, other in itertools.combinations(sorted(group, key=lambda r: r.reviewer), 2):
            first.append(one.draft.reading)
            second.append(other.draft.reading)
    if not first:
        return Kappa(None, 0, "no study was read by two reviewers")
    return cohen_kappa(first, second)


def agreement_summary(reviews: Sequence[StoredReview], bundle_fingerprint: str | None = None) -> AgreementSummary:
    """Agreement of one model's circles and labels with the stored reviews.

    Args:
        reviews: Stored reviews (e.g. :meth:`cxrmodel.reviews.ReviewStore.all_reviews`).
        bundle_fingerprint: The model whose explanations are scored; None = the one with the most reviews.
            Reviews made with other models are only counted (``reviews_on_earlier_models``).

    Returns:
        Per threshold (the union of the studies' sweep thresholds, ascending) the :class:`ThresholdAgreement`,
        the best tau (highest hit rate above chance; ties go to the higher tau, the fewer circles), and the kappas.
    """
    if bundle_fingerprint is None and reviews:
        bundle_fingerprint = Counter(r.study.bundle_fingerprint for r in reviews).most_common(1)[0][0]
    scored = [review for review in reviews if review.study.bundle_fingerprint == bundle_fingerprint]
    taus = sorted({round(float(tau), 6) for review in scored for tau in review.study.sweep["thresholds"]})
    thresholds = [_threshold_agreement(tau, scored) for tau in taus]
    candidates = [t for t in thresholds if t.above_chance is not None]
    best = max(candidates, key=lambda t: (round(t.above_chance, 12), t.sight_sensitivity)) if candidates else None
    decided = [review for review in scored if review.draft.reading in DECIDED_READINGS]
    return AgreementSummary(
        bundle_fingerprint=bundle_fingerprint,
        reviews=len(scored),
        reviewers=len({review.reviewer for review in scored}),
        studies=len({review.study.content_hash for review in scored}),
        thresholds=thresholds,
        best_sight_sensitivity=None if best is None else best.sight_sensitivity,
        model_vs_reviewers=cohen_kappa([review.study.model_label for review in decided],
                                       [review.draft.reading for review in decided]),
        between_reviewers=_between_reviewers(scored),
        verdicts=dict(Counter(review.draft.verdict for review in scored if review.draft.verdict)),
        reviews_on_earlier_models=len(reviews) - len(scored),
    )
