"""One study in, one explanation out: prediction, completeness, modality share, circles, words.

This is the engine behind ``python -m cxrmodel explain`` and the dashboard. The JSON it produces is a stable
contract (see :func:`explanation_document`):

``{"model": {"name", "fingerprint"}, "probability", "calibrated_probability" | null, "label",
"completeness": {"expected", "sum", "relative_error", ...}, "modality_share": {"image", "text"},
"image": {"width", "height"},
"circles": [{"x", "y", "r", "points", "mass"}], "words": [{"text", "start", "end", "score", "share",
"seen"}], "distribution": {"in_distribution", "score", "reasons"}, "evidence": {...} | null, "settings": {...},
"verdict": {"sentence", "reason", "sight_sensitivity"}, "timing_ms": {...}}``

``verdict`` is the one plain sentence of :mod:`cxrmodel.explain.verdict` (the dashboard's top line), read from the
document's own evidence at its sight sensitivity: "Cannot tell yet." when no evidence was computed.

``evidence`` is the deletion evidence (:func:`evidence_document`, :mod:`cxrmodel.explain.evidence`): what
P(abnormal) and the log-odds of abnormal (the model's pre-sigmoid output) become when each sight sensitivity's
circles, the top-k words or a whole half of the study are removed, beside same-size random controls, and which
region removal was used; null when it was not computed for the circles drawn (or not asked for:
``explain --evidence none``).

``distribution`` is the TensorFlow-free out-of-distribution check of the image against the bundle's mean
training image (:mod:`cxrmodel.imaging.distribution`); ``in_distribution`` is None when it cannot be checked.

``modality`` names the model explained: ``"multimodal"``, ``"text"`` (report only: no ``image``, no circles, no
``distribution``: all null or empty, ``modality_share.image`` null) or ``"image"`` (film only: ``words`` empty,
``modality_share.text`` null). A text-only study needs no image file at all.

Circles are in **original-image pixel coordinates**: x = column, y = row, measured from the centre of the
top-left pixel (the same convention as :mod:`cxrmodel.detection.circles`, carried through the model-grid mapping).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from cxrmodel.detection import (
    DEFAULT_MIN_POINTS,
    SLIDER_THRESHOLDS,
    Circle,
    circles_to_image,
    detect_circles,
    smooth_attribution_map,
    validate_smoothing,
)
from cxrmodel.explain.baselines import make_image_baseline
from cxrmodel.explain.cache import ExplanationCache, explanation_key
from cxrmodel.explain.evidence import (
    EVIDENCE_SCOPES,
    Evidence,
    compute_evidence,
    scope_thresholds,
    second_reference,
    stability,
    stability_converged,
    stability_verdict,
)
from cxrmodel.explain.integrated_gradients import IntegratedGradientsExplainer, ProgressCallback
from cxrmodel.explain.removal import DEFAULT_REMOVAL, check_removal
from cxrmodel.explain.results import StudyAttribution, word_attributions
from cxrmodel.explain.settings import DEFAULT_INTEGRATION, IntegrationSettings
from cxrmodel.explain.verdict import explanation_verdict
from cxrmodel.imaging import decode_image
from cxrmodel.modeling import Bundle, PreparedStudy

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExplanationSettings:
    """How to explain and how to draw.

    Attributes:
        sight_sensitivity: tau in [0, 1]; None = the bundle's default (0.70 for the demo).
        link_distance: Single-linkage distance in model-grid pixels; None = the bundle's default.
        min_points: Smallest cluster drawn as a circle.
        steps: Integration steps, or "auto" (raise until the completeness error target is met).
        method: Integration rule (cxrmodel.explain.quadrature.METHODS).
        image_baseline: "black", "blur" or "mean"; None = the bundle's default.
        attribution_smoothing: Sigma in model-grid pixels of the sum-preserving blur of the image attribution
            map (:mod:`cxrmodel.detection.smoothing`); 0 = the raw map; None = the bundle's default.
        removal: How the deletion evidence removes a region (:data:`cxrmodel.explain.removal.REMOVALS`); None =
            :data:`cxrmodel.explain.removal.DEFAULT_REMOVAL`.
    """

    sight_sensitivity: float | None = None
    link_distance: float | None = None
    min_points: int = DEFAULT_MIN_POINTS
    steps: int | str = DEFAULT_INTEGRATION.steps
    method: str = DEFAULT_INTEGRATION.method
    image_baseline: str | None = None
    attribution_smoothing: float | None = None
    removal: str | None = None


def region_removal(settings: ExplanationSettings) -> str:
    """The region removal of the deletion evidence under ``settings`` (the default when they name none)."""
    return DEFAULT_REMOVAL if settings.removal is None else check_removal(settings.removal)


@dataclass(frozen=True)
class Explanation:
    """Everything computed for one study."""

    prepared: PreparedStudy
    attribution: StudyAttribution
    circles: list[Circle]
    signals: int
    sight_sensitivity: float
    link_distance: float
    attribution_smoothing: float
    cached: bool
    timing_ms: dict[str, float]


class StudyExplainer:
    """Explains studies with one bundle; keeps the compiled IG function and an optional on-disk cache."""

    def __init__(self, bundle: Bundle, cache: ExplanationCache | None = None,
                 batch_size: int = DEFAULT_INTEGRATION.batch_size, with_evidence: bool = True) -> None:
        """Args:
            bundle: The model bundle.
            cache: Where attributions (and their evidence) are kept; None = nowhere.
            batch_size: Gradient batch size.
            with_evidence: Compute the deletion evidence at every slider threshold with every attribution
                (:meth:`evidence`); a call can ask for less or none (``evidence_scope``).
        """
        self.bundle = bundle
        self.cache = cache
        self.batch_size = int(batch_size)
        self.with_evidence = bool(with_evidence)
        self.evidence_checkpoint: Callable[[], None] | None = None
        """Called while the deletion evidence is computed (:func:`cxrmodel.explain.evidence.compute_evidence`'s
        ``checkpoint``): the model worker sets it to give way to another study's request."""
        self._integrated_gradients: IntegratedGradientsExplainer | None = None

    @property
    def integrated_gradients(self) -> IntegratedGradientsExplainer:
        """The compiled IG explainer, built (and the model loaded) on first use in this process."""
        if self._integrated_gradients is None:
            self._integrated_gradients = IntegratedGradientsExplainer(
                self.bundle.model, batch_size=self.batch_size, mean_image=self.bundle.image_baseline
            )
        return self._integrated_gradients

    def image_baseline(self, settings: ExplanationSettings) -> str:
        """The image baseline to use: the settings' choice or the bundle's default."""
        return settings.image_baseline or self.bundle.config.default_image_baseline

    def attribution_smoothing(self, settings: ExplanationSettings) -> float:
        """Sigma of the image-map blur to use: the settings' choice or the bundle's default."""
        if settings.attribution_smoothing is None:
            return self.bundle.config.default_attribution_smoothing
        return validate_smoothing(settings.attribution_smoothing)

    def cache_key(self, image_bytes: bytes, report_text: str, settings: ExplanationSettings) -> str:
        """The cache key of a study's attribution under ``settings`` (no TensorFlow needed)."""
        integration = IntegrationSettings(steps=settings.steps, method=settings.method, batch_size=self.batch_size)
        key_part = integration.cache_key_part(self.image_baseline(settings), self.bundle.image_baseline)
        # A half the model does not read cannot change its explanation, so it is not part of the key.
        return explanation_key(image_bytes if self.bundle.reads_image else b"",
                               report_text if self.bundle.reads_report else "", self.bundle.fingerprint, key_part)

    def is_cached(self, image_bytes: bytes, report_text: str, settings: ExplanationSettings) -> bool:
        """True when the attribution is on disk (an intact entry is not re-checked here; see :meth:`cached`)."""
        return self.cache is not None and self.cache_key(image_bytes, report_text, settings) in self.cache

    def attribute(
        self,
        image_bytes: bytes | None,
        report_text: str,
        settings: ExplanationSettings,
        *,
        compute: bool = True,
        progress: ProgressCallback | None = None,
        with_evidence: bool | None = None,
        evidence_scope: str | None = None,
    ) -> tuple[PreparedStudy, StudyAttribution | None, bool, dict[str, float]]:
        """Decode, prepare and attribute one study (cached when a cache is configured).

        The cache holds the raw integrated-gradients result; the image map is smoothed after it
        (:meth:`attribution_smoothing`), so changing the smoothing never recomputes the gradients.

        Args:
            image_bytes: The image file's bytes (PNG, JPEG or DICOM). A text-only bundle never decodes them; they
                may then be None or empty.
            report_text: The report as written.
            settings: How to explain.
            compute: False = only look in the cache; the attribution is None when it is not there (then no
                TensorFlow is touched in this process).
            progress: Passed to the integrated-gradients loop (fraction done, message).
            with_evidence: Compute the deletion evidence at every slider threshold (True) or none (False); None =
                the explainer's setting.
            evidence_scope: ``"none"``, ``"current"`` (the circles drawn at ``settings``' sight sensitivity) or
                ``"all"`` (every slider threshold) (:data:`cxrmodel.explain.evidence.EVIDENCE_SCOPES`); overrides
                ``with_evidence``. Evidence the cache already holds is completed, never computed twice.
        """
        timing: dict[str, float] = {}
        if evidence_scope is None:
            evidence_scope = "all" if (self.with_evidence if with_evidence is None else with_evidence) else "none"
        evidence_wanted = evidence_scope != "none"
        evidence_thresholds = self.evidence_thresholds(settings, evidence_scope)
        started = time.perf_counter()
        if self.bundle.reads_image:
            if not image_bytes:
                raise ValueError(f"the {self.bundle.modality_label} model needs the study's image")
            pixels = decode_image(image_bytes).pixels
        else:
            image_bytes, pixels = b"", None
        prepared = self.bundle.prepare(pixels, report_text)
        timing["prepare"] = (time.perf_counter() - started) * 1000.0
        image_baseline = self.image_baseline(settings)

        def run() -> StudyAttribution:
            attribution = self.integrated_gradients.explain(
                prepared.model_image,
                prepared.report.token_ids,
                steps=settings.steps,
                method=settings.method,
                image_baseline=image_baseline,
                progress=progress,
            )
            if not evidence_wanted:
                return attribution
            evidence_started = time.perf_counter()
            if progress is not None:
                progress(1.0, "Checking the evidence (removing the circles and words)")
            evidence = self.evidence(prepared, attribution, settings, evidence_thresholds)
            timing["evidence"] = (time.perf_counter() - evidence_started) * 1000.0
            return dataclasses.replace(attribution, evidence=evidence.to_dict())

        started = time.perf_counter()
        if self.cache is None:
            attribution, cached = (run() if compute else None), False
        else:
            key = self.cache_key(image_bytes, report_text, settings)
            if compute:
                attribution, cached = self.cache.get_or_compute(key, run)
                if cached and evidence_wanted and not self.evidence_matches(attribution, settings, evidence_thresholds):
                    # Stored without evidence, for other clustering or removal, or for fewer thresholds: add what
                    # is missing (forward passes only, no gradients).
                    evidence_started = time.perf_counter()
                    completed = self.completed_evidence(prepared, attribution, settings, evidence_thresholds)
                    attribution = dataclasses.replace(attribution, evidence=completed.to_dict())
                    timing["evidence"] = (time.perf_counter() - evidence_started) * 1000.0
                    self.cache.put(key, attribution)
            else:
                attribution = self.cache.get(key)
                cached = attribution is not None
        timing["attribution"] = (time.perf_counter() - started) * 1000.0 - timing.get("evidence", 0.0)
        sigma = self.attribution_smoothing(settings)
        if attribution is not None and attribution.image_attribution is not None and sigma > 0.0:
            started = time.perf_counter()
            attribution = dataclasses.replace(
                attribution,
                image_attribution=smooth_attribution_map(attribution.image_attribution, sigma),
                raw_image_attribution=attribution.image_attribution,
            )
            timing["smoothing"] = (time.perf_counter() - started) * 1000.0
        return prepared, attribution, cached, timing

    def link_distance(self, settings: ExplanationSettings) -> float:
        """Single-linkage distance to use (model-grid pixels): the settings' choice or the bundle's default."""
        return self.bundle.config.default_link_distance if settings.link_distance is None else settings.link_distance

    def sight_sensitivity(self, settings: ExplanationSettings) -> float:
        """The tau the circles are drawn at: the settings' choice or the bundle's default."""
        if settings.sight_sensitivity is None:
            return self.bundle.config.default_sight_sensitivity
        return float(settings.sight_sensitivity)

    def evidence_thresholds(self, settings: ExplanationSettings, scope: str) -> tuple[float, ...]:
        """The sight sensitivities whose circles the evidence of ``scope`` removes; none for a model that reads no
        film (its evidence is the words and the ledger)."""
        thresholds = scope_thresholds(scope, self.sight_sensitivity(settings))
        return thresholds if self.bundle.reads_image else ()

    def stored_evidence(self, attribution: StudyAttribution, settings: ExplanationSettings) -> Evidence | None:
        """The attribution's evidence when it is of this version, ``settings``' clustering and removal, else None."""
        if attribution.evidence is None:
            return None
        try:
            evidence = Evidence.from_dict(attribution.evidence)
        except (KeyError, TypeError, ValueError):
            return None
        if not evidence.matches(self.link_distance(settings), settings.min_points, self.attribution_smoothing(settings),
                                region_removal(settings)):
            return None
        return evidence

    def evidence_matches(self, attribution: StudyAttribution, settings: ExplanationSettings,
                         thresholds: Sequence[float] = ()) -> bool:
        """True when the attribution carries evidence for ``settings``' clustering and removal (circles as drawn)
        with a region row for each of ``thresholds``."""
        evidence = self.stored_evidence(attribution, settings)
        return evidence is not None and evidence.covers(thresholds)

    def evidence_pending(self, attribution: StudyAttribution | None) -> bool:
        """True when this explainer computes deletion evidence and ``attribution`` does not carry it yet for every
        slider threshold at the default clustering and removal: what the dashboard's explanation job completes
        after drawing the circles (its phases: the circles, the evidence at the reader's tau, the rest)."""
        if attribution is None or not self.with_evidence:
            return False
        settings = ExplanationSettings()
        return not self.evidence_matches(attribution, settings, self.evidence_thresholds(settings, "all"))

    def is_complete(self, image_bytes: bytes, report_text: str, settings: ExplanationSettings) -> bool:
        """True when the attribution is cached with all the evidence this explainer computes
        (:meth:`evidence_pending`); reads the cache entry, never computes."""
        if self.cache is None:
            return False
        attribution = self.cache.get(self.cache_key(image_bytes, report_text, settings))
        return attribution is not None and not self.evidence_pending(attribution)

    def completed_evidence(self, prepared: PreparedStudy, attribution: StudyAttribution,
                           settings: ExplanationSettings, thresholds: Sequence[float]) -> Evidence:
        """The attribution's stored evidence with the rows of ``thresholds`` it lacks computed and added (all of
        it computed when nothing usable is stored)."""
        stored = self.stored_evidence(attribution, settings)
        if stored is None:
            return self.evidence(prepared, attribution, settings, thresholds)
        missing = [threshold for threshold in thresholds if stored.region_at(threshold) is None]
        return self.evidence(prepared, attribution, settings, missing).with_regions_of(stored)

    def evidence(self, prepared: PreparedStudy, attribution: StudyAttribution,
                 settings: ExplanationSettings, thresholds: Sequence[float] = SLIDER_THRESHOLDS) -> Evidence:
        """Deletion evidence of an attribution (:mod:`cxrmodel.explain.evidence`): batched forward passes.

        The removed circles are the slider's at ``settings``' clustering (the map smoothed as for display) at
        each of ``thresholds``, removed by ``settings``' region removal (:func:`region_removal`); the reference
        image (the ledger's removed film, and the fill of the "reference" removal) is the attribution's own image
        baseline. Every figure is read from the model's pre-sigmoid output (log-odds) and P is its sigmoid.
        """
        baseline = self.image_baseline(settings)
        sigma = self.attribution_smoothing(settings)
        attribution_map = attribution.raw_image_attribution
        if attribution_map is None:
            attribution_map = attribution.image_attribution
        reference_image = None
        if attribution_map is not None:
            reference_image = make_image_baseline(prepared.model_image, baseline, self.bundle.image_baseline)
            if sigma > 0.0:
                attribution_map = smooth_attribution_map(attribution_map, sigma)
        return compute_evidence(
            self.integrated_gradients.predict_log_odds,
            prepared.model_image,
            prepared.report.token_ids,
            reference_image,
            attribution_map,
            attribution.token_attribution,
            reference=baseline,
            link_distance=self.link_distance(settings),
            min_points=settings.min_points,
            smoothing=sigma,
            thresholds=thresholds,
            removal=region_removal(settings),
            checkpoint=self.evidence_checkpoint,
        )

    def stability_reference(self, settings: ExplanationSettings) -> str:
        """The second reference image of the stability check (:func:`cxrmodel.explain.evidence.second_reference`)."""
        return second_reference(self.image_baseline(settings), self.bundle.image_baseline is not None)

    def stability(self, image_bytes: bytes, report_text: str, settings: ExplanationSettings, *,
                  compute: bool = True, progress: ProgressCallback | None = None) -> dict | None:
        """Do the circles survive a second reference image? (issue #18; cached like any attribution)

        Explains the study again with :meth:`stability_reference` (no evidence for that one) and compares the two
        maps as the circles see them (smoothed alike): :func:`cxrmodel.explain.evidence.stability`.

        Args:
            compute: False = only from the cache (no TensorFlow): None when either attribution is missing.

        Returns:
            ``{"reference", "rank_correlation", "overlaps": [per slider threshold], "thresholds", "converged",
            "completeness_error", "target_error", "steps"}`` or None. ``converged`` is False when either
            explanation missed its completeness target; ``completeness_error`` and ``steps`` are then those of the
            worse of the two (relative error, integration nodes). A check that did not converge gives no verdict
            (:func:`cxrmodel.explain.evidence.stability_verdict`).
        """
        if not self.bundle.reads_image:
            return None  # the check compares image maps; a text-only model has none
        # The maps are compared, not the evidence: neither call computes any.
        _prepared, first, _cached, _timing = self.attribute(image_bytes, report_text, settings, compute=compute,
                                                            progress=progress, evidence_scope="none")
        if first is None:
            return None
        other = dataclasses.replace(settings, image_baseline=self.stability_reference(settings))
        _prepared, second, _cached, _timing = self.attribute(image_bytes, report_text, other, compute=compute,
                                                             progress=progress, evidence_scope="none")
        if second is None:
            return None
        worse = max((first.completeness, second.completeness), key=lambda completeness: completeness.relative_error)
        converged = bool(first.completeness.converged and second.completeness.converged)
        if not converged:
            logger.warning("stability check against the %s reference did not converge (completeness error %.3g "
                           "after %d steps): no verdict", other.image_baseline, worse.relative_error, worse.steps)
        return {"reference": other.image_baseline, "thresholds": list(SLIDER_THRESHOLDS),
                **stability(first.image_attribution, second.image_attribution),
                "converged": converged, "completeness_error": float(worse.relative_error),
                "target_error": float(worse.target_error), "steps": int(worse.steps)}

    def cached(self, image_bytes: bytes, report_text: str, settings: ExplanationSettings) -> Explanation | None:
        """The explanation if its attribution is in the cache, else None; never computes, never loads the model."""
        prepared, attribution, cached, timing = self.attribute(image_bytes, report_text, settings, compute=False)
        if attribution is None:
            return None
        return self._finish(prepared, attribution, cached, timing, settings)

    def explain(
        self,
        image_bytes: bytes,
        report_text: str,
        settings: ExplanationSettings,
        progress: ProgressCallback | None = None,
        evidence_scope: str | None = None,
    ) -> Explanation:
        """Full explanation of one study: attribution plus circles at the requested sight sensitivity.

        Args:
            evidence_scope: Which deletion evidence to compute (:meth:`attribute`); None = the explainer's setting.
        """
        prepared, attribution, cached, timing = self.attribute(image_bytes, report_text, settings, progress=progress,
                                                               evidence_scope=evidence_scope)
        return self._finish(prepared, attribution, cached, timing, settings)

    def _finish(
        self,
        prepared: PreparedStudy,
        attribution: StudyAttribution,
        cached: bool,
        timing: dict[str, float],
        settings: ExplanationSettings,
    ) -> Explanation:
        """Circles at the requested sight sensitivity for an attribution."""
        config = self.bundle.config
        sight_sensitivity = (
            config.default_sight_sensitivity if settings.sight_sensitivity is None else settings.sight_sensitivity
        )
        link_distance = self.link_distance(settings)
        circles, signals = [], 0
        if attribution.image_attribution is not None:
            started = time.perf_counter()
            detection = detect_circles(attribution.image_attribution, sight_sensitivity, link_distance,
                                       settings.min_points)
            timing["detection"] = (time.perf_counter() - started) * 1000.0
            circles, signals = circles_to_image(detection.circles, prepared.mapping), detection.signals
        return Explanation(
            prepared=prepared,
            attribution=attribution,
            circles=circles,
            signals=signals,
            sight_sensitivity=sight_sensitivity,
            link_distance=link_distance,
            attribution_smoothing=self.attribution_smoothing(settings),
            cached=cached,
            timing_ms=timing,
        )


def _finite_or_none(value: float) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def stability_document(checked: dict | None, sight_sensitivity: float) -> dict | None:
    """The evidence's ``stability`` object at one tau: ``{"reference", "overlap", "rank_correlation",
    "verdict", "converged", "completeness_error", "target_error"}`` (:meth:`StudyExplainer.stability`), or None
    when it was not checked. ``verdict`` is "stable", "partly" or "unstable", and null when the check did not
    converge (``converged`` false; ``completeness_error`` says how far it was from ``target_error``)."""
    if not checked:
        return None
    thresholds = checked["thresholds"]
    index = min(range(len(thresholds)), key=lambda i: (abs(thresholds[i] - sight_sensitivity), i))
    overlap = checked["overlaps"][index]
    converged = stability_converged(checked)
    return {"reference": checked["reference"], "overlap": overlap, "rank_correlation": checked["rank_correlation"],
            "verdict": stability_verdict(overlap, checked["rank_correlation"], converged),
            "converged": converged, "completeness_error": checked.get("completeness_error"),
            "target_error": checked.get("target_error")}


def _log_odds(value: float) -> float:
    return round(float(value), 4)


def evidence_document(explanation: Explanation, settings: ExplanationSettings,
                      checked_stability: dict | None = None, scope: str = "all") -> dict | None:
    """The document's ``evidence`` object, or None when the attribution carries none for these circles.

    ``{"removal", "reference", "link_distance_model_grid", "min_points", "attribution_smoothing", "placements",
    "probability", "log_odds", "regions": [{"threshold", "circles", "probability", "random_probability",
    "log_odds", "random_log_odds", "area_fraction"}], "words": [{"k", "probability", "random_probability",
    "log_odds", "random_log_odds", "words": [written word, ...], "starts": [offset, ...]}], "modality":
    {"image_removed", "report_removed", "both_removed", "log_odds": {"image_removed", "report_removed",
    "both_removed"}}, "stability": {...} | None}`` — probabilities to 6 decimals, log-odds (natural log, the model's
    pre-sigmoid output, with the removal applied) to 4 (see :mod:`cxrmodel.explain.evidence`). ``removal`` names
    how a region was removed (:data:`cxrmodel.explain.removal.REMOVALS`); words are replaced by padding and the
    ledger's film by the reference image ``reference``.

    Args:
        scope: ``"all"``: every region row stored; ``"current"``: the row of the tau drawn only; ``"none"``: None.
    """
    if scope not in EVIDENCE_SCOPES:
        raise ValueError(f"unknown evidence scope {scope!r}; choose one of {', '.join(EVIDENCE_SCOPES)}")
    stored = explanation.attribution.evidence
    if stored is None or scope == "none":
        return None
    try:
        evidence = Evidence.from_dict(stored)
    except (KeyError, TypeError, ValueError) as error:
        logger.warning("ignoring stored evidence this code cannot read (%s)", error)
        return None
    if not evidence.matches(explanation.link_distance, settings.min_points, explanation.attribution_smoothing,
                            region_removal(settings)):
        return None
    regions = evidence.regions
    if scope == "current":
        regions = tuple(region for region in regions
                        if math.isclose(region.threshold, explanation.sight_sensitivity, abs_tol=1e-9))
    report = explanation.prepared.report

    def written(slots: tuple[int, ...]) -> list:
        return [report.tokens[report.positions[slot]] for slot in slots if slot < len(report.positions)]

    return {
        "removal": evidence.removal,
        "reference": evidence.reference,
        "link_distance_model_grid": evidence.link_distance,
        "min_points": evidence.min_points,
        "attribution_smoothing": evidence.smoothing,
        "placements": evidence.placements,
        "probability": round(evidence.probability, 6),
        "log_odds": _log_odds(evidence.log_odds),
        "regions": [
            {"threshold": region.threshold, "circles": region.circles, "probability": round(region.probability, 6),
             "random_probability": round(region.random_probability, 6), "log_odds": _log_odds(region.log_odds),
             "random_log_odds": _log_odds(region.random_log_odds), "area_fraction": region.area_fraction}
            for region in regions
        ],
        "words": [
            {"k": word.k, "probability": round(word.probability, 6),
             "random_probability": round(word.random_probability, 6), "log_odds": _log_odds(word.log_odds),
             "random_log_odds": _log_odds(word.random_log_odds),
             "words": [token.text for token in written(word.slots)],
             "starts": [token.start for token in written(word.slots)]}
            for word in evidence.words
        ],
        "modality": {**{name: round(value, 6) for name, value in dataclasses.asdict(evidence.modality).items()},
                     "log_odds": {name: _log_odds(value)
                                  for name, value in dataclasses.asdict(evidence.modality_log_odds).items()}},
        "stability": stability_document(checked_stability, explanation.sight_sensitivity),
    }


def study_distribution(bundle: Bundle, prepared: PreparedStudy) -> dict | None:
    """The distribution check of a prepared study, as the explanation document carries it
    (``DistributionCheck.to_dict()``), or None when the model reads no film.

    The one place the check is run on a study for its document, the ``predict`` command and the model worker's
    answers, so that all of them judge a film alike (:class:`cxrmodel.explain.disclosure.Disclosure`).
    """
    if prepared.model_image is None or not bundle.reads_image:
        return None
    return bundle.check_distribution(prepared).to_dict()


def explanation_document(bundle: Bundle, explanation: Explanation, settings: ExplanationSettings,
                         checked_stability: dict | None = None, evidence_scope: str = "all") -> dict:
    """The stable JSON document of an explanation (see the module docstring).

    Args:
        checked_stability: :meth:`StudyExplainer.stability`'s result, or None when it was not checked.
        evidence_scope: Which evidence rows the document carries (:func:`evidence_document`).
    """
    attribution = explanation.attribution
    completeness = attribution.completeness
    mapping = explanation.prepared.mapping
    words = word_attributions(explanation.prepared.report, attribution)
    reads_image = explanation.prepared.model_image is not None and attribution.image_attribution is not None
    document = {
        "model": {"name": bundle.name, "fingerprint": bundle.fingerprint, "synthetic": bundle.synthetic,
                  "modality": bundle.modality},
        "modality": bundle.modality,
        "probability": round(float(attribution.probability), 6),
        # The model output is what the attributions and the evidence refer to; the calibrated P (temperature
        # scaling, calibration.json) is what a reader should take as the probability. None: not calibrated.
        "calibrated_probability": (None if bundle.calibration is None
                                   else round(bundle.calibrated_probability(float(attribution.probability)), 6)),
        "label": "abnormal" if attribution.probability >= 0.5 else "normal",
        "completeness": {
            "expected": float(completeness.expected),
            "sum": float(completeness.sum),
            "relative_error": float(completeness.relative_error),
            "converged": bool(completeness.converged),
            "steps": int(completeness.steps),
            "method": completeness.method,
            "baseline_probability": float(attribution.baseline_probability),
        },
        "modality_share": {key: _finite_or_none(value) for key, value in attribution.modality_share.items()},
        "image": {"width": int(mapping.image_width), "height": int(mapping.image_height)} if reads_image else None,
        "distribution": study_distribution(bundle, explanation.prepared) if reads_image else None,
        "circles": [
            {"x": round(c.x, 3), "y": round(c.y, 3), "r": round(c.r, 3), "points": c.points, "mass": round(c.mass, 6)}
            for c in explanation.circles
        ],
        "signals": int(explanation.signals),
        "words": [
            {"text": w.text, "start": w.start, "end": w.end, "score": float(w.score), "share": float(w.share),
             "seen": w.seen}
            for w in words
        ] if attribution.token_attribution is not None else [],
        "settings": {
            "sight_sensitivity": explanation.sight_sensitivity,
            "link_distance_model_grid": explanation.link_distance,
            "min_points": settings.min_points,
            "steps": settings.steps,
            "method": settings.method,
            "image_baseline": settings.image_baseline or bundle.config.default_image_baseline,
            "attribution_smoothing": explanation.attribution_smoothing,
        },
        "evidence": evidence_document(explanation, settings, checked_stability, evidence_scope),
        "cached": explanation.cached,
        "timing_ms": {key: round(value, 2) for key, value in explanation.timing_ms.items()},
    }
    # One plain verdict, read from the document itself (cxrmodel.explain.verdict): the page's top line.
    verdict = explanation_verdict(document)
    document["verdict"] = {"sentence": verdict.sentence, "reason": verdict.reason,
                           "sight_sensitivity": verdict.sight_sensitivity}
    return document


def attribution_arrays(explanation: Explanation) -> dict[str, np.ndarray]:
    """Arrays for ``--save-attributions``: the 2-D model-grid map, the token scores and the grid-to-image mapping.

    ``image_attribution`` is the map the circles were found on (smoothed when smoothing is on, so ``detect`` on
    the file gives the same circles); ``image_attribution_raw`` is the unsmoothed integrated-gradients map, present
    only when the two differ. ``mapping_scale``, ``mapping_offset_x``, ``mapping_offset_y`` (float64),
    ``mapping_image_width``, ``mapping_image_height`` and ``mapping_grid_size`` (int64) are the fields of the study's
    :class:`~cxrmodel.imaging.GridMapping`, one 0-d array each, so ``detect`` can give the circles in
    original-image pixels as ``explain`` does.
    """
    attribution = explanation.attribution
    mapping = explanation.prepared.mapping
    arrays = {"token_ids": np.asarray(explanation.prepared.report.token_ids, np.int32)}
    # A half the model does not read has no arrays (text-only: no map and no mapping; image-only: no token scores).
    for name in ("image_attribution", "token_attribution", "token_share"):
        if getattr(attribution, name) is not None:
            arrays[name] = np.asarray(getattr(attribution, name), np.float32)
    if attribution.raw_image_attribution is not None:
        arrays["image_attribution_raw"] = np.asarray(attribution.raw_image_attribution, np.float32)
    if mapping is not None:
        for field in dataclasses.fields(mapping):
            value = getattr(mapping, field.name)
            arrays[f"mapping_{field.name}"] = np.asarray(value, np.int64 if isinstance(value, int) else np.float64)
    return arrays
