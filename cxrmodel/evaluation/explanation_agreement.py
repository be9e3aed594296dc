"""Do two models explain a study alike? Word and region agreement between bundles, per study and over a folder.

The engine of ``python -m cxrmodel compare-explanations`` (issue #20, item 3): the multimodal model and its
single-modality parents explain the same studies, and for every pair of models this module says how far their
explanations agree.

* **Words** (a pair where both models read the report): the words both models *saw* (same report, same
  tokenizer; a word is matched by its character offset ``start``, so a word written twice is two words) ranked by
  their signed integrated-gradients score. ``rank_correlation`` is Spearman's rho of the two score vectors;
  ``top3_overlap`` is ``|top3_A ∩ top3_B| / 3``, top 3 by signed score (strongest toward abnormal first, ties:
  the earlier word), as the deletion evidence ranks words. Both are None, with a ``reason``, when fewer than
  :data:`MIN_SHARED_WORDS` words are shared or one model's scores are all equal (no ranking).
* **Regions** (a pair where both models read the radiograph): each model's circles at its sight sensitivity are
  rasterised on the original image (pixels whose centre lies within ``r`` of a circle's centre,
  :func:`cxrmodel.imaging.masking.circles_image_mask`) and ``overlap`` is the Jaccard index of the two masks;
  None ("no circles in either") when neither model drew a circle, 0 when one did and the other did not.
  ``map_rank_correlation`` is Spearman's rho of the two model-grid attribution maps (the maps the circles are
  found on, each smoothed as its bundle smooths them) over the grid pixels that hold the image (not the
  padding); None when the two bundles use different grid sizes or a map is constant.

The pure functions (:func:`word_agreement`, :func:`region_agreement`, :func:`compare_pair`, :func:`summarise`,
:func:`aggregate`) take plain data and need no TensorFlow; :func:`compare_folder` is the loop that runs the
models (through :class:`cxrmodel.explain.StudyExplainer`, which loads TensorFlow on first use).
"""

from __future__ import annotations

import logging
import math
import statistics
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from cxrmodel.explain import Explanation, ExplanationCache, ExplanationSettings, StudyExplainer, word_attributions
from cxrmodel.imaging.masking import circles_image_mask
from cxrmodel.modeling import Bundle

logger = logging.getLogger(__name__)

MIN_SHARED_WORDS = 3
"""Fewest words seen by both models for a word rank correlation and a top-3 overlap."""

TOP_WORDS = 3
"""k of the top-k word overlap."""

DECISION_THRESHOLD = 0.5
"""P(abnormal) at or above which a model calls a study abnormal (as ``predict`` and ``explain`` do)."""

PAIR_NUMBERS = ("word_rank_correlation", "top3_overlap", "region_overlap", "map_rank_correlation",
                "probability_difference")
"""The per-study numbers of a pair that :func:`aggregate` summarises (``probability_difference`` = |P_A - P_B|)."""

NO_CIRCLES = "no circles in either"
FEW_WORDS = "fewer than 3 words seen by both models"
CONSTANT_WORDS = "a model's word scores are all equal"
CONSTANT_MAP = "an attribution map is constant"


@dataclass(frozen=True)
class ScoredWord:
    """One written word of a report with a model's attribution (the fields of
    :class:`cxrmodel.explain.WordAttribution` this module reads).

    Attributes:
        start: Character offset of the word in the report (the alignment key between models).
        score: Signed integrated-gradients attribution.
        seen: False for a word the model did not see (stop word, too short, beyond its slots).
        text: The word as written.
    """

    start: int
    score: float
    seen: bool
    text: str = ""


@dataclass(frozen=True)
class ModelExplanation:
    """What one model's explanation of one study contributes to a comparison (plain data).

    Attributes:
        probability: P(abnormal).
        completeness_error: The integrated-gradients completeness relative error.
        words: The report's words with this model's scores; None when the model does not read the report.
        circles: ``{"x", "y", "r"}`` in original-image pixels (x = column, y = row) at ``sight_sensitivity``; None
            when the model does not read the radiograph.
        image_size: ``(height, width)`` of the original image; None with ``circles``.
        attribution_map: ``(S, S)`` model-grid map the circles were found on; None with ``circles``.
        grid_image_area: ``(S, S)`` bool, the grid pixels whose centre lies on the image (not the padding);
            None = the whole grid.
        sight_sensitivity: The tau of the circles; None with ``circles``.
    """

    probability: float
    completeness_error: float
    words: tuple[ScoredWord, ...] | None = None
    circles: tuple[dict, ...] | None = None
    image_size: tuple[int, int] | None = None
    attribution_map: np.ndarray | None = field(default=None, repr=False)
    grid_image_area: np.ndarray | None = field(default=None, repr=False)
    sight_sensitivity: float | None = None

    @property
    def label(self) -> str:
        """``"abnormal"`` at P(abnormal) >= 0.5, else ``"normal"``."""
        return predicted_label(self.probability)


def predicted_label(probability: float) -> str:
    """``"abnormal"`` when ``probability >= 0.5`` (:data:`DECISION_THRESHOLD`), else ``"normal"``."""
    return "abnormal" if probability >= DECISION_THRESHOLD else "normal"


def _spearman(first: np.ndarray, second: np.ndarray) -> float | None:
    """Spearman's rho, None when either vector is constant (or has fewer than 2 values)."""
    from scipy.stats import spearmanr  # noqa: PLC0415 - scipy only when a correlation is computed

    if first.size < 2 or np.ptp(first) == 0 or np.ptp(second) == 0:
        return None
    rho = float(spearmanr(first, second).statistic)
    return rho if math.isfinite(rho) else None


def _top(words: Sequence[ScoredWord], k: int) -> set[int]:
    """Offsets of the k words with the largest signed score (ties: the earlier word)."""
    return {word.start for word in sorted(words, key=lambda word: (-word.score, word.start))[:k]}


def word_agreement(first: Sequence[ScoredWord], second: Sequence[ScoredWord]) -> dict:
    """How far two models' word attributions of one report agree (pure).

    Args:
        first, second: The report's words with each model's scores (any order); a word is matched by ``start``.

    Returns:
        ``{"rank_correlation", "top3_overlap", "shared_words", "reason"}``: Spearman's rho of the signed scores over
        the words both models saw, ``|top3_A ∩ top3_B| / 3`` over the same words, how many words that is, and
        None or why the two numbers are None (fewer than :data:`MIN_SHARED_WORDS` shared words, or a model's
        scores are all equal).
    """
    seen_first = {word.start: word for word in first if word.seen}
    seen_second = {word.start: word for word in second if word.seen}
    shared = sorted(seen_first.keys() & seen_second.keys())
    result = {"rank_correlation": None, "top3_overlap": None, "shared_words": len(shared), "reason": None}
    if len(shared) < MIN_SHARED_WORDS:
        result["reason"] = FEW_WORDS
        return result
    a = np.array([seen_first[start].score for start in shared], np.float64)
    b = np.array([seen_second[start].score for start in shared], np.float64)
    rho = _spearman(a, b)
    if rho is None:
        result["reason"] = CONSTANT_WORDS
        return result
    top_a = _top([seen_first[start] for start in shared], TOP_WORDS)
    top_b = _top([seen_second[start] for start in shared], TOP_WORDS)
    result.update(rank_correlation=rho, top3_overlap=len(top_a & top_b) / TOP_WORDS)
    return result


def circles_overlap(first: Sequence[dict], second: Sequence[dict], height: int, width: int) -> float | None:
    """Jaccard overlap of two circle sets rasterised on a ``height x width`` image (pure).

    A pixel belongs to a set when its centre lies within ``r`` of one of its circles' centres (``{"x", "y",
    "r"}``, x = column, y = row). None when neither set covers a pixel (two empty sets); 0 when only one does.
    """
    one = circles_image_mask(first, height, width)
    two = circles_image_mask(second, height, width)
    union = int(np.count_nonzero(one | two))
    if union == 0:
        return None
    return int(np.count_nonzero(one & two)) / union


def map_rank_correlation(first: np.ndarray, second: np.ndarray, area: np.ndarray | None = None) -> dict:
    """Spearman's rho of two model-grid attribution maps (pure).

    Args:
        first, second: ``(S, S)`` maps.
        area: ``(S, S)`` bool, the pixels to compare (the image, not the padding); None = all.

    Returns:
        ``{"map_rank_correlation", "map_reason"}``: rho, or None with the reason (different grid sizes, a
        constant map).
    """
    first, second = np.asarray(first, np.float64), np.asarray(second, np.float64)
    if first.shape != second.shape:
        return {"map_rank_correlation": None,
                "map_reason": f"different model grids ({first.shape[0]} vs {second.shape[0]} px)"}
    if area is not None:
        first, second = first[area], second[area]
    rho = _spearman(first.ravel(), second.ravel())
    return {"map_rank_correlation": rho, "map_reason": CONSTANT_MAP if rho is None else None}


def region_agreement(first: ModelExplanation, second: ModelExplanation) -> dict:
    """Circle overlap and map rank correlation of two image-reading models' explanations of one study (pure).

    Returns:
        ``{"overlap", "overlap_reason", "circles": [n_A, n_B], "map_rank_correlation", "map_reason"}``.
    """
    if first.image_size != second.image_size:
        raise ValueError(f"the two explanations are of different images: {first.image_size} vs {second.image_size}")
    height, width = first.image_size
    overlap = circles_overlap(first.circles, second.circles, height, width)
    area = None
    if first.grid_image_area is not None and second.grid_image_area is not None \
            and first.grid_image_area.shape == second.grid_image_area.shape:
        area = first.grid_image_area & second.grid_image_area
    return {"overlap": overlap, "overlap_reason": NO_CIRCLES if overlap is None else None,
            "circles": [len(first.circles), len(second.circles)],
            **map_rank_correlation(first.attribution_map, second.attribution_map, area)}


def compare_pair(first: ModelExplanation, second: ModelExplanation) -> dict:
    """Everything two models' explanations of one study are compared on (pure).

    Returns:
        ``{"labels_agree", "probability_difference", "words": word_agreement(...) | None, "regions":
        region_agreement(...) | None}``; ``words`` is None unless both models read the report, ``regions`` None
        unless both read the radiograph.
    """
    both_read_report = first.words is not None and second.words is not None
    both_read_image = first.circles is not None and second.circles is not None
    return {
        "labels_agree": first.label == second.label,
        "probability_difference": abs(first.probability - second.probability),
        "words": word_agreement(first.words, second.words) if both_read_report else None,
        "regions": region_agreement(first, second) if both_read_image else None,
    }


def pair_numbers(pair: dict) -> dict[str, tuple[float | None, str | None]]:
    """The numbers of one study's pair record (:func:`compare_pair` output) as ``name -> (value, reason)``.

    Only the numbers the pair compares appear (no word numbers for a pair with an image-only model, no region
    numbers for one with a text-only model).
    """
    numbers: dict[str, tuple[float | None, str | None]] = {
        "probability_difference": (pair["probability_difference"], None)}
    if pair.get("words") is not None:
        words = pair["words"]
        numbers["word_rank_correlation"] = (words["rank_correlation"], words["reason"])
        numbers["top3_overlap"] = (words["top3_overlap"], words["reason"])
    if pair.get("regions") is not None:
        regions = pair["regions"]
        numbers["region_overlap"] = (regions["overlap"], regions["overlap_reason"])
        numbers["map_rank_correlation"] = (regions["map_rank_correlation"], regions["map_reason"])
    return numbers


def summarise(values: Sequence[float | None], reasons: Sequence[str | None] = ()) -> dict:
    """Count, mean, median and sample sd of the known values; how many are unknown and why (pure).

    Args:
        values: One number per study; None = not defined for that study.
        reasons: Beside ``values`` (same length, or empty): why each None is None.

    Returns:
        ``{"count", "mean", "median", "sd", "missing", "missing_reasons": {reason: count}}``; mean and median
        None without values, sd (``ddof=1``) None with fewer than 2.
    """
    known = [float(value) for value in values if value is not None]
    why = Counter((reasons[index] if index < len(reasons) and reasons[index] else "not defined")
                  for index, value in enumerate(values) if value is None)
    return {
        "count": len(known),
        "mean": statistics.fmean(known) if known else None,
        "median": statistics.median(known) if known else None,
        "sd": statistics.stdev(known) if len(known) >= 2 else None,
        "missing": sum(why.values()),
        "missing_reasons": dict(sorted(why.items())),
    }


def pair_plan(modalities: Sequence[str]) -> list[dict]:
    """Every pair of models (by index) with what it compares and, where not, why (pure).

    Args:
        modalities: Each model's modality, ``"multimodal"``, ``"text"`` or ``"image"``.

    Returns:
        ``[{"a", "b", "words", "words_reason", "regions", "regions_reason"}]`` for ``a < b``.
    """
    reads_report = [modality in ("multimodal", "text") for modality in modalities]
    reads_image = [modality in ("multimodal", "image") for modality in modalities]
    plan = []
    for a in range(len(modalities)):
        for b in range(a + 1, len(modalities)):
            words = reads_report[a] and reads_report[b]
            regions = reads_image[a] and reads_image[b]
            plan.append({
                "a": a, "b": b,
                "words": words, "words_reason": None if words else "an image-only model reads no report",
                "regions": regions, "regions_reason": None if regions else "a text-only model reads no radiograph",
            })
    return plan


def aggregate(studies: Sequence[dict], plan: Sequence[dict], models: int, skipped: Sequence[dict] = ()) -> dict:
    """The folder's summary from the per-study records (pure).

    Args:
        studies: Per-study records: ``{"models": [{"probability", "label", "completeness_error"}], "pairs":
            [compare_pair output, in ``plan`` order]}``.
        plan: :func:`pair_plan` output.
        models: How many models were compared.
        skipped: ``{"study", "reason"}`` of the studies that could not be compared.

    Returns:
        ``{"studies", "skipped": {"count", "reasons"}, "labels_all_agree", "models": [per model: P(abnormal),
        completeness-error summaries, share called abnormal], "pairs": [per pair: "labels_agree" share and a
        :func:`summarise` of each of :data:`PAIR_NUMBERS` it compares]}``.
    """
    count = len(studies)
    share = (lambda hits: None if count == 0 else hits / count)  # noqa: E731 - a one-line helper
    summary = {
        "studies": count,
        "skipped": {"count": len(skipped), "reasons": dict(sorted(Counter(entry["reason"] for entry in skipped)
                                                                  .items()))},
        "labels_all_agree": share(sum(len({model["label"] for model in study["models"]}) == 1 for study in studies)),
        "models": [],
        "pairs": [],
    }
    for index in range(models):
        records = [study["models"][index] for study in studies]
        summary["models"].append({
            "index": index,
            "probability": summarise([record["probability"] for record in records]),
            "completeness_error": summarise([record["completeness_error"] for record in records]),
            "called_abnormal": share(sum(record["label"] == "abnormal" for record in records)),
        })
    for position, pair in enumerate(plan):
        records = [study["pairs"][position] for study in studies]
        entry = {"a": pair["a"], "b": pair["b"],
                 "labels_agree": share(sum(record["labels_agree"] for record in records))}
        names = ["probability_difference"]
        if pair["words"]:
            names += ["word_rank_correlation", "top3_overlap"]
        if pair["regions"]:
            names += ["region_overlap", "map_rank_correlation"]
        for name in names:
            numbers = [pair_numbers(record)[name] for record in records]
            entry[name] = summarise([value for value, _ in numbers], [reason for _, reason in numbers])
        summary["pairs"].append(entry)
    return summary


def grid_image_area(mapping) -> np.ndarray:
    """``(S, S)`` bool: the model-grid pixels whose centre lies on the image, not in the padding.

    Args:
        mapping: The study's :class:`cxrmodel.imaging.GridMapping`.
    """
    size = int(mapping.grid_size)
    centres = np.arange(size) + 0.5
    columns = (centres >= mapping.offset_x) & (centres <= size - mapping.offset_x)
    rows = (centres >= mapping.offset_y) & (centres <= size - mapping.offset_y)
    return rows[:, None] & columns[None, :]


def model_explanation(bundle: Bundle, explanation: Explanation) -> ModelExplanation:
    """The parts of a :class:`cxrmodel.explain.Explanation` a comparison reads."""
    attribution = explanation.attribution
    words = None
    if bundle.reads_report and attribution.token_attribution is not None:
        words = tuple(ScoredWord(start=word.start, score=word.score, seen=word.seen, text=word.text)
                      for word in word_attributions(explanation.prepared.report, attribution))
    circles = image_size = attribution_map = area = tau = None
    mapping = explanation.prepared.mapping
    if bundle.reads_image and attribution.image_attribution is not None and mapping is not None:
        circles = tuple({"x": float(circle.x), "y": float(circle.y), "r": float(circle.r)}
                        for circle in explanation.circles)
        image_size = (int(mapping.image_height), int(mapping.image_width))
        attribution_map = np.asarray(attribution.image_attribution, np.float64)
        area = grid_image_area(mapping)
        tau = float(explanation.sight_sensitivity)
    return ModelExplanation(
        probability=float(attribution.probability),
        completeness_error=float(attribution.completeness.relative_error),
        words=words, circles=circles, image_size=image_size, attribution_map=attribution_map,
        grid_image_area=area, sight_sensitivity=tau,
    )


def study_record(study_id: str, truth_label: str | None, explanations: Sequence[ModelExplanation],
                 plan: Sequence[dict]) -> dict:
    """One study's record of the comparison document (pure).

    Returns:
        ``{"study", "truth_label", "models": [{"probability", "label", "completeness_error", "circles" | None,
        "seen_words" | None}], "pairs": [compare_pair output per pair of ``plan``]}``.
    """
    return {
        "study": study_id,
        "truth_label": truth_label,
        "models": [{
            "probability": model.probability,
            "label": model.label,
            "completeness_error": model.completeness_error,
            "circles": None if model.circles is None else len(model.circles),
            "seen_words": None if model.words is None else sum(word.seen for word in model.words),
        } for model in explanations],
        "pairs": [compare_pair(explanations[pair["a"]], explanations[pair["b"]]) for pair in plan],
    }


def _model_entry(path: str, explainer: StudyExplainer, settings: ExplanationSettings) -> dict:
    bundle = explainer.bundle
    config = bundle.config
    reads_image = bundle.reads_image
    return {
        "path": path,
        "name": bundle.name,
        "modality": bundle.modality,
        "modality_label": bundle.modality_label,
        "fingerprint": bundle.fingerprint,
        "grid_size": int(config.image_size) if reads_image else None,
        "sight_sensitivity": (None if not reads_image else float(
            config.default_sight_sensitivity if settings.sight_sensitivity is None else settings.sight_sensitivity)),
        "attribution_smoothing": float(explainer.attribution_smoothing(settings)) if reads_image else None,
    }


def compare_folder(
    bundles: Sequence[tuple[str, Bundle]],
    studies: Sequence,
    settings: ExplanationSettings | None = None,
    cache: ExplanationCache | None = None,
    progress: Callable[[int, int, str], None] | None = None,
) -> dict:
    """Explain every study with every bundle and compare the explanations pair by pair.

    Args:
        bundles: ``(name, bundle)`` in the order the document lists them (the name is usually the path given).
        studies: :class:`cxrmodel.data.openi.Study` records (``study_id``, ``image_paths``, ``report_text``,
            ``label_name``), e.g. a :class:`cxrmodel.data.StudyCollection`'s values.
        settings: How to explain; its ``sight_sensitivity`` None = each bundle's default.
        cache: Shared explanation cache (keys include each bundle's fingerprint); None = none.
        progress: Called with ``(done, total, study id)`` after each study.

    Returns:
        ``{"models": [{"path", "name", "modality", "modality_label", "fingerprint", "grid_size",
        "sight_sensitivity", "attribution_smoothing"}], "pairs": pair_plan(...), "studies": [study_record(...)],
        "skipped": [{"study", "reason", "detail"}], "summary": aggregate(...)}``.
    """
    settings = settings or ExplanationSettings()
    if len(bundles) < 2:
        raise ValueError(f"compare at least 2 bundles, got {len(bundles)}")
    explainers = [StudyExplainer(bundle, cache, with_evidence=False) for _, bundle in bundles]
    plan = pair_plan([bundle.modality for _, bundle in bundles])
    needs_image = any(bundle.reads_image for _, bundle in bundles)
    records, skipped = [], []
    for done, study in enumerate(studies, 1):
        reason, detail = None, None
        image_bytes = None
        if needs_image:
            try:
                image_bytes = study.image_paths[0].read_bytes()
            except (IndexError, OSError) as error:
                reason, detail = "the image could not be read", str(error) or type(error).__name__
        explanations = []
        for (name, bundle), explainer in zip(bundles, explainers, strict=True):
            if reason is not None:
                break
            try:
                explanation = explainer.explain(image_bytes if bundle.reads_image else None, study.report_text,
                                                settings)
            except ValueError as error:  # an undecodable film, an input the model refuses
                reason, detail = "a model could not explain it", f"{name}: {' '.join(str(error).split())}"
                break
            explanations.append(model_explanation(bundle, explanation))
        if reason is not None:
            logger.warning("skipped study %s: %s (%s)", study.study_id, reason, detail)
            skipped.append({"study": study.study_id, "reason": reason, "detail": detail})
        else:
            records.append(study_record(study.study_id, getattr(study, "label_name", None), explanations, plan))
        logger.info("compared %d/%d studies (%s)", done, len(studies), study.study_id)
        if progress is not None:
            progress(done, len(studies), study.study_id)
    return {
        "models": [_model_entry(name, explainer, settings)
                   for (name, _), explainer in zip(bundles, explainers, strict=True)],
        "pairs": plan,
        "studies": records,
        "skipped": skipped,
        "summary": aggregate(records, plan, len(bundles), skipped),
    }
