"""Does the model's decision really depend on what the circles and words show? Deletion evidence for one study.

Integrated gradients can be complete and still point at regions whose removal changes nothing. This module
asks the model itself, with batched forward passes, what the decision becomes when the highlighted evidence is
taken away, and compares that with taking away something of the same size at random. Every figure is given twice:
as P(abnormal) and as the **log-odds** of abnormal, read from the model's pre-sigmoid output
(:func:`cxrmodel.modeling.builders.log_odds_model`), never from P. A saturated sigmoid hides every effect on the
probability scale (P 0.9999 → 0.9998 is a drop from 9.2 to 8.5 log-odds), and in float32 P rounds to exactly 1.0
beyond about 16.6 log-odds, where log(P / (1 − P)) would be infinite.

* **Regions** — for every requested sight sensitivity (by default the slider's sweep,
  :data:`cxrmodel.detection.SLIDER_THRESHOLDS`): the decision after the pixels inside that threshold's circles
  (model grid: every pixel whose centre lies within a circle's radius of its centre) are **removed** by the
  evidence's removal (:mod:`cxrmodel.explain.removal`: by default filled in from the pixels around them by noisy
  linear imputation, so the removal does not paste a finding of its own; the explanation's reference image is the
  named alternative ``"reference"``); and the **control**: the median over :data:`RANDOM_PLACEMENTS` seeded
  placements of the same disks (same pixel shapes, so the same total area) at random inside the chest, removed
  the same way. The chest is the film's body outline on the model grid (:func:`chest_mask`: the largest
  connected part brighter than the black border, holes filled, so the dark lungs are inside it); a disk is placed
  only where it lies wholly inside it, and the disks of one placement do not overlap each other where that can
  be avoided. Each threshold's figures depend on that threshold alone, so the evidence at one threshold is the
  same whether it was computed alone (``explain --evidence current``) or with the whole sweep.
* **Words** — the decision after the k report slots with the largest signed attribution (the strongest evidence
  toward abnormal) are replaced by padding, as the model sees a missing word, k = 1 … :data:`MAX_REMOVED_WORDS`;
  the control is the median over seeded sets of k random seen slots.
* **Modality ledger** — the decision with the image replaced by the reference, with the report replaced by
  padding (an empty report), and with both (which is the IG baseline pair, so it equals ``baseline_probability``).
  A whole film has no surroundings to impute it from, so the ledger keeps the reference image.

Every number is what the model gives for an input this module builds (:func:`region_input` and
:func:`word_input` rebuild the inputs, so a test can run the model on them and get the same figure).

The evidence is computed with the attribution for the bundle's default clustering (link distance, minimum
points, map smoothing): the circles it removes are the slider's circles at those settings. It is stored with the
attribution in the explanation cache; :data:`EVIDENCE_VERSION` is part of it, so evidence of another meaning is
never read as this one.
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace

import numpy as np

from cxrmodel.detection import SLIDER_THRESHOLDS, Circle, sweep_circles
from cxrmodel.explain.removal import DEFAULT_REMOVAL, check_removal, remove_region
from cxrmodel.text import PADDING_ID

logger = logging.getLogger(__name__)

EVIDENCE_VERSION = 2
"""Version of the stored evidence's meaning (2: log-odds from the pre-sigmoid output beside every P, and a named
region removal). Stored evidence of another version is computed again."""

EVIDENCE_SCOPES = ("none", "current", "all")
"""How much evidence to compute: none, the sight sensitivity drawn only, or every slider threshold."""

RANDOM_PLACEMENTS = 5
"""Seeded random placements (regions) or random word sets (words) per control; the control is their median."""

MAX_REMOVED_WORDS = 5
"""Largest k of the word deletion (k = 1 … this, at most the report's seen words)."""

CHEST_LEVEL = 0.1
"""Model-image brightness (0–1) above which a grid pixel may belong to the body rather than the black border."""

_PLACEMENT_TRIES = 25
_RANDOM_SEED = 20260601
_CHUNK = 32

PredictLogOdds = Callable[[np.ndarray, np.ndarray], np.ndarray]
"""(n, S, S, 3) float32 images, (n, T) int32 token ids -> (n,) log-odds of abnormal (the pre-sigmoid output)."""


def probability_of(log_odds: float) -> float:
    """P(abnormal) of a log-odds: the sigmoid, rounded through float32 as the model's own output is."""
    if log_odds < -700.0:  # exp would overflow; P is 0 in any float
        return 0.0
    return float(np.float32(1.0 / (1.0 + math.exp(-log_odds))))


def scope_thresholds(scope: str, sight_sensitivity: float) -> tuple[float, ...]:
    """The sight sensitivities whose circles the evidence of ``scope`` removes (:data:`EVIDENCE_SCOPES`).

    ``"none"`` gives none, ``"current"`` the one drawn, ``"all"`` the slider's sweep (with the one drawn added
    when it lies off the slider's grid).

    Raises:
        ValueError: For an unknown scope.
    """
    if scope not in EVIDENCE_SCOPES:
        raise ValueError(f"unknown evidence scope {scope!r}; choose one of {', '.join(EVIDENCE_SCOPES)}")
    if scope == "none":
        return ()
    if scope == "current":
        return (float(sight_sensitivity),)
    thresholds = tuple(float(threshold) for threshold in SLIDER_THRESHOLDS)
    if any(math.isclose(threshold, sight_sensitivity, abs_tol=1e-9) for threshold in thresholds):
        return thresholds
    return tuple(sorted((*thresholds, float(sight_sensitivity))))


@dataclass(frozen=True)
class RegionDeletion:
    """Removing one sight sensitivity's circles.

    Attributes:
        threshold: The sight sensitivity.
        circles: Circles removed (those the slider draws at this threshold).
        probability: P(abnormal) with the pixels inside them removed (:attr:`Evidence.removal`).
        random_probability: Median P with the same disks placed at random inside the chest and removed alike.
        area_fraction: Removed grid pixels / chest grid pixels.
        log_odds: Log-odds of abnormal with the circles removed (pre-sigmoid output, natural log).
        random_log_odds: Median log-odds with the random placements removed.
    """

    threshold: float
    circles: int
    probability: float
    random_probability: float
    area_fraction: float
    log_odds: float
    random_log_odds: float


@dataclass(frozen=True)
class WordDeletion:
    """Removing the k report slots with the largest signed attribution.

    Attributes:
        k: Slots removed.
        probability: P(abnormal) with them replaced by padding.
        random_probability: Median P with k random seen slots replaced by padding.
        slots: The removed model slots (indices into the token ids), strongest first.
        log_odds: Log-odds of abnormal with them replaced by padding.
        random_log_odds: Median log-odds with k random seen slots replaced by padding.
    """

    k: int
    probability: float
    random_probability: float
    slots: tuple[int, ...]
    log_odds: float
    random_log_odds: float


@dataclass(frozen=True)
class ModalityAblation:
    """The decision with one half of the study, or both, replaced by its reference: P(abnormal) or log-odds."""

    image_removed: float
    report_removed: float
    both_removed: float


@dataclass(frozen=True)
class Evidence:
    """Deletion evidence of one study (see the module docstring).

    Attributes:
        reference: The image reference of the explanation ("mean", "blur", "black"; "array" for a custom one):
            the ledger's removed image, and the regions' fill when ``removal`` is "reference".
        probability: P(abnormal) of the intact study, from the same forward passes.
        link_distance: Clustering link distance of the removed circles (model-grid pixels).
        min_points: Smallest cluster of the removed circles.
        smoothing: Sigma of the map smoothing the circles were found on (model-grid pixels).
        regions: One per requested sight sensitivity, ascending.
        words: k = 1 … min(:data:`MAX_REMOVED_WORDS`, seen slots).
        modality: The modality ledger, P(abnormal).
        log_odds: Log-odds of abnormal of the intact study.
        modality_log_odds: The modality ledger, log-odds.
        removal: How a region is removed (:data:`cxrmodel.explain.removal.REMOVALS`).
        placements: Random placements / word sets per control.
        forward_passes: Model inputs evaluated (distinct ones; repeats are shared).
        version: :data:`EVIDENCE_VERSION` of the code that computed it.
    """

    reference: str
    probability: float
    link_distance: float
    min_points: int
    smoothing: float
    regions: tuple[RegionDeletion, ...]
    words: tuple[WordDeletion, ...]
    modality: ModalityAblation
    log_odds: float
    modality_log_odds: ModalityAblation
    removal: str = DEFAULT_REMOVAL
    placements: int = RANDOM_PLACEMENTS
    forward_passes: int = 0
    version: int = EVIDENCE_VERSION

    def to_dict(self) -> dict:
        """JSON-ready form (the cache's and the explanation document's)."""
        document = asdict(self)
        document["regions"] = [asdict(region) for region in self.regions]
        document["words"] = [dict(asdict(word), slots=list(word.slots)) for word in self.words]
        return document

    @classmethod
    def from_dict(cls, document: dict) -> Evidence:
        """Inverse of :meth:`to_dict`.

        Raises:
            KeyError, TypeError, ValueError: When ``document`` is not what :meth:`to_dict` writes, including stored
                evidence of an older version (no log-odds).
        """
        version = int(document.get("version", 1))
        if version != EVIDENCE_VERSION:
            raise ValueError(f"stored evidence has version {version}, this code reads {EVIDENCE_VERSION}")
        return cls(
            reference=str(document["reference"]),
            probability=float(document["probability"]),
            link_distance=float(document["link_distance"]),
            min_points=int(document["min_points"]),
            smoothing=float(document["smoothing"]),
            regions=tuple(RegionDeletion(**region) for region in document["regions"]),
            words=tuple(WordDeletion(**dict(word, slots=tuple(word["slots"]))) for word in document["words"]),
            modality=ModalityAblation(**document["modality"]),
            log_odds=float(document["log_odds"]),
            modality_log_odds=ModalityAblation(**document["modality_log_odds"]),
            removal=check_removal(str(document["removal"])),
            placements=int(document.get("placements", RANDOM_PLACEMENTS)),
            forward_passes=int(document.get("forward_passes", 0)),
            version=version,
        )

    def matches(self, link_distance: float, min_points: int, smoothing: float,
                removal: str | None = None) -> bool:
        """True when the removed circles are those of these clustering settings (and, if given, this removal)."""
        return (math.isclose(self.link_distance, float(link_distance), rel_tol=0, abs_tol=1e-9)
                and self.min_points == int(min_points)
                and math.isclose(self.smoothing, float(smoothing), rel_tol=0, abs_tol=1e-9)
                and (removal is None or self.removal == removal))

    def region_at(self, threshold: float) -> RegionDeletion | None:
        """The region row of this sight sensitivity, or None when it was not computed."""
        return next((region for region in self.regions
                     if math.isclose(region.threshold, float(threshold), rel_tol=0, abs_tol=1e-9)), None)

    def covers(self, thresholds: Sequence[float]) -> bool:
        """True when every one of ``thresholds`` has its region row (a model that reads no film needs none)."""
        return all(self.region_at(threshold) is not None for threshold in thresholds)

    def with_regions_of(self, other: Evidence) -> Evidence:
        """This evidence with ``other``'s region rows added where this one has none (rows kept ascending).

        Both must be of the same study, clustering and removal: every row depends on its own threshold alone.
        """
        rows = {round(region.threshold, 9): region for region in other.regions}
        rows.update({round(region.threshold, 9): region for region in self.regions})
        return replace(self, regions=tuple(rows[key] for key in sorted(rows)),
                       forward_passes=self.forward_passes + other.forward_passes)


def chest_mask(model_image: np.ndarray) -> np.ndarray:
    """(S, S) bool: the body on the model grid, where random regions may be placed.

    The largest 8-connected part of the pixels brighter than :data:`CHEST_LEVEL`, with its holes filled (the
    lungs are dark but enclosed by the chest wall). An image with no such part gives the whole grid.
    """
    from scipy import ndimage  # noqa: PLC0415 - scipy is only needed when evidence is computed

    grey = np.asarray(model_image, np.float32)
    grey = grey.mean(axis=-1) if grey.ndim == 3 else grey
    labels, count = ndimage.label(grey > CHEST_LEVEL, structure=np.ones((3, 3), bool))
    if count == 0:
        return np.ones(grey.shape, bool)
    sizes = np.bincount(labels.ravel())[1:]
    return ndimage.binary_fill_holes(labels == (int(np.argmax(sizes)) + 1))


@functools.lru_cache(maxsize=4096)
def disk_offsets(circle: Circle) -> tuple[tuple[int, int], np.ndarray]:
    """The grid pixels inside one circle: ``((row, column) anchor, (n, 2) int offsets from it)``.

    A pixel (row i, column j) is inside when its centre lies within ``r`` of the circle's centre (x = column,
    y = row, pixel-index coordinates), so every signal of the cluster is inside.
    """
    anchor = (int(round(circle.y)), int(round(circle.x)))
    reach = int(math.ceil(circle.r)) + 1
    rows, columns = np.mgrid[-reach : reach + 1, -reach : reach + 1]
    rows, columns = rows + anchor[0], columns + anchor[1]
    inside = (rows - circle.y) ** 2 + (columns - circle.x) ** 2 <= circle.r**2 + 1e-9
    offsets = np.stack([rows[inside] - anchor[0], columns[inside] - anchor[1]], axis=1)
    offsets.setflags(write=False)
    return anchor, offsets


def circles_mask(circles: Sequence[Circle], size: int) -> np.ndarray:
    """(size, size) bool: the union of the circles' grid pixels (clipped to the grid)."""
    mask = np.zeros((size, size), bool)
    for circle in circles:
        anchor, offsets = disk_offsets(circle)
        _paint(mask, np.asarray(anchor), offsets)
    return mask


def _paint(mask: np.ndarray, anchor: np.ndarray, offsets: np.ndarray) -> None:
    pixels = offsets + anchor
    keep = (pixels[:, 0] >= 0) & (pixels[:, 0] < mask.shape[0]) & (pixels[:, 1] >= 0) & (pixels[:, 1] < mask.shape[1])
    mask[pixels[keep, 0], pixels[keep, 1]] = True


def chest_depth(chest: np.ndarray) -> np.ndarray:
    """(S, S) float: each grid pixel's Euclidean distance to the nearest pixel outside ``chest`` (0 outside)."""
    from scipy import ndimage  # noqa: PLC0415 - scipy is only needed when evidence is computed

    return ndimage.distance_transform_edt(chest)


def random_circles_mask(circles: Sequence[Circle], chest: np.ndarray, seed: int,
                        depth: np.ndarray | None = None) -> np.ndarray:
    """(S, S) bool: the same disks as ``circles``, each moved to a random place wholly inside ``chest``.

    Largest disk first; a disk is put where its every pixel is in the chest and, within
    ``_PLACEMENT_TRIES`` draws, where it does not overlap the disks already placed. A disk too large for any
    wholly-inside place goes where the most of it is inside (the chest's deepest point).
    """
    rng = np.random.default_rng([_RANDOM_SEED, seed])
    size = chest.shape[0]
    depth = chest_depth(chest) if depth is None else depth
    mask = np.zeros(chest.shape, bool)
    candidates_by_reach: dict[int, np.ndarray] = {}
    for circle in sorted(circles, key=lambda c: (-c.r, -c.points)):
        _anchor, offsets = disk_offsets(circle)
        reach = int(np.abs(offsets).max()) if len(offsets) else 0
        candidates = candidates_by_reach.get(reach)
        if candidates is None:
            candidates = np.argwhere(depth > reach)
            if len(candidates) == 0:
                candidates = np.argwhere(depth == depth.max())
            candidates_by_reach[reach] = candidates
        chosen = None
        for _ in range(_PLACEMENT_TRIES):
            anchor = candidates[rng.integers(len(candidates))]
            pixels = offsets + anchor
            inside = ((pixels >= 0) & (pixels < size)).all(axis=1)
            if not mask[pixels[inside, 0], pixels[inside, 1]].any():
                chosen = anchor
                break
            chosen = anchor if chosen is None else chosen
        _paint(mask, chosen, offsets)
    return mask


def region_input(model_image: np.ndarray, mask: np.ndarray, removal: str = DEFAULT_REMOVAL,
                 reference: np.ndarray | None = None) -> np.ndarray:
    """(S, S, 3) float32: ``model_image`` with the pixels of ``mask`` removed by ``removal``
    (:func:`cxrmodel.explain.removal.remove_region`; ``reference`` is the fill of the "reference" removal)."""
    return remove_region(model_image, mask, removal, reference)


def word_input(token_ids: np.ndarray, slots: Sequence[int]) -> np.ndarray:
    """(T,) int32: ``token_ids`` with ``slots`` replaced by padding."""
    tokens = np.array(token_ids, np.int32, copy=True)
    tokens[list(slots)] = PADDING_ID
    return tokens


def seen_slots(token_ids: np.ndarray) -> np.ndarray:
    """Model slots that hold a word (padding excluded), ascending."""
    return np.flatnonzero(np.asarray(token_ids) != PADDING_ID)


def ranked_slots(token_ids: np.ndarray, token_attribution: np.ndarray) -> list[int]:
    """Seen slots by signed attribution, largest (strongest toward abnormal) first; ties by slot."""
    slots = seen_slots(token_ids)
    scores = np.asarray(token_attribution, np.float64)[slots]
    return [int(slot) for slot in slots[np.lexsort((slots, -scores))]]


def random_slots(token_ids: np.ndarray, k: int, seed: int) -> list[int]:
    """k seen slots drawn without replacement with a fixed seed."""
    rng = np.random.default_rng([_RANDOM_SEED, 1, k, seed])
    return [int(slot) for slot in rng.choice(seen_slots(token_ids), size=k, replace=False)]


class _Batch:
    """Distinct model inputs, built and evaluated together in chunks.

    An input is built (a region removed: the imputation is most of the evidence's time) only when its chunk is
    evaluated, after ``checkpoint`` (where a caller can stop the evidence), and no more than one chunk of inputs is
    in memory.
    """

    def __init__(self) -> None:
        self.images: list[Callable[[], np.ndarray]] = []
        self.tokens: list[Callable[[], np.ndarray]] = []
        self._index: dict[tuple, int] = {}

    def add(self, key: tuple, image: Callable[[], np.ndarray], tokens: Callable[[], np.ndarray]) -> int:
        if key not in self._index:
            self._index[key] = len(self.images)
            self.images.append(image)
            self.tokens.append(tokens)
        return self._index[key]

    def run(self, predict_log_odds: PredictLogOdds, checkpoint: Callable[[], None] | None = None) -> np.ndarray:
        def built(build: Callable[[], np.ndarray]) -> np.ndarray:
            if checkpoint is not None:
                checkpoint()
            return build()

        results = []
        for start in range(0, len(self.images), _CHUNK):
            images = np.stack([built(build) for build in self.images[start : start + _CHUNK]])
            tokens = np.stack([build() for build in self.tokens[start : start + _CHUNK]])
            results.append(np.asarray(predict_log_odds(images, tokens), np.float64).reshape(-1))
        return np.concatenate(results) if results else np.zeros(0)


def compute_evidence(
    predict_log_odds: PredictLogOdds,
    model_image: np.ndarray | None,
    token_ids: np.ndarray,
    reference_image: np.ndarray | None,
    attribution_map: np.ndarray | None,
    token_attribution: np.ndarray | None,
    *,
    reference: str,
    link_distance: float,
    min_points: int,
    smoothing: float,
    thresholds: Sequence[float] = SLIDER_THRESHOLDS,
    placements: int = RANDOM_PLACEMENTS,
    removal: str = DEFAULT_REMOVAL,
    checkpoint: Callable[[], None] | None = None,
) -> Evidence:
    """Deletion evidence of one study (see the module docstring).

    Args:
        predict_log_odds: The model: (n, S, S, 3) images and (n, T) token ids -> (n,) log-odds of abnormal, the
            pre-sigmoid output (``IntegratedGradientsExplainer.predict_log_odds``).
        model_image: (S, S, 3) float32 in [0, 1], the study on the model grid.
        token_ids: (T,) int32, the report's model slots.
        reference_image: (S, S, 3) float32, the IG image baseline of the explanation.
        attribution_map: (S, S), the map the slider's circles are found on (smoothed when smoothing is on); None
            for a model that does not read the image (text-only): no regions are removed, and ``model_image`` and
            ``reference_image`` may be None (``predict_log_odds`` ignores images then).
        token_attribution: (T,), signed attribution per slot; None for a model that does not read the report
            (image-only): no words are removed (``predict_log_odds`` ignores the tokens then).
        reference: Name of the reference image ("mean", "blur", "black" or "array").
        link_distance, min_points: The clustering of the slider's circles (model-grid pixels, points).
        smoothing: The sigma ``attribution_map`` was smoothed with (recorded, not applied).
        thresholds: Sight sensitivities whose circles are removed (ascending; empty: words and ledger only).
        placements: Random placements / word sets per control.
        removal: How a region is removed (:data:`cxrmodel.explain.removal.REMOVALS`).
        checkpoint: Called before every input is built (a region removal takes up to tens of milliseconds) and
            after the circles are found: a caller stops the evidence by raising from it (the model worker gives way
            to another study's request). None = never stopped.

    Returns:
        The evidence; every figure is the model's output for an input built by :func:`region_input` /
        :func:`word_input` from these arguments (P is the sigmoid of the log-odds).
    """
    check_removal(removal)
    thresholds = sorted(float(threshold) for threshold in thresholds)
    if attribution_map is None:  # a text-only model: a one-pixel placeholder that the model never reads
        model_image = reference_image = np.zeros((1, 1, 3), np.float32)
    image = np.asarray(model_image, np.float32)
    tokens = np.asarray(token_ids, np.int32)
    reference_image = np.asarray(reference_image, np.float32)
    empty_report = np.full_like(tokens, PADDING_ID)
    size = image.shape[0]
    batch = _Batch()
    intact = batch.add(("intact",), lambda: image, lambda: tokens)
    modality = {
        "image_removed": batch.add(("image",), lambda: reference_image, lambda: tokens),
        "report_removed": batch.add(("report",), lambda: image, lambda: empty_report),
        "both_removed": batch.add(("both",), lambda: reference_image, lambda: empty_report),
    }

    # 1. Regions: each threshold's circles and their random placements, removed alike.
    region_plans = []
    if attribution_map is not None and thresholds:
        chest = chest_mask(image)
        depth = chest_depth(chest)
        chest_pixels = max(int(chest.sum()), 1)
        detections = sweep_circles(attribution_map, thresholds, link_distance, min_points)
    else:
        detections = []
    if checkpoint is not None:
        checkpoint()
    for threshold, detection in zip(thresholds[: len(detections)], detections, strict=True):
        circles = detection.circles
        if not circles:
            region_plans.append((threshold, 0, intact, [intact], 0.0))
            continue
        signature = tuple((c.x, c.y, c.r) for c in circles)
        mask = circles_mask(circles, size)
        index = batch.add(("region", signature),
                          lambda mask=mask: region_input(image, mask, removal, reference_image), lambda: tokens)
        controls = [
            batch.add(("random", signature, seed),
                      lambda seed=seed, circles=circles: region_input(
                          image, random_circles_mask(circles, chest, seed, depth), removal, reference_image),
                      lambda: tokens)
            for seed in range(placements)
        ]
        region_plans.append((threshold, len(circles), index, controls, float(mask.sum()) / chest_pixels))

    # 2. Words: the top k slots toward abnormal and k random seen slots, replaced by padding.
    ranked = [] if token_attribution is None else ranked_slots(tokens, token_attribution)
    word_plans = []
    for k in range(1, min(MAX_REMOVED_WORDS, len(ranked)) + 1):
        slots = tuple(ranked[:k])
        index = batch.add(("words", slots), lambda: image, lambda slots=slots: word_input(tokens, slots))
        controls = []
        for seed in range(placements):
            chosen = tuple(sorted(random_slots(tokens, k, seed)))
            controls.append(batch.add(("words", chosen), lambda: image,
                                      lambda chosen=chosen: word_input(tokens, chosen)))
        word_plans.append((k, slots, index, controls))

    # 3. One batched run of every distinct input: log-odds; P is their sigmoid.
    log_odds = batch.run(predict_log_odds, checkpoint)
    logger.debug("evidence: %d distinct forward passes", len(log_odds))

    def median(indices: list[int]) -> float:
        return float(np.median(log_odds[indices]))

    def probability(index: int) -> float:
        return probability_of(float(log_odds[index]))

    return Evidence(
        reference=reference,
        probability=probability(intact),
        link_distance=float(link_distance),
        min_points=int(min_points),
        smoothing=float(smoothing),
        regions=tuple(
            RegionDeletion(threshold=float(threshold), circles=count, probability=probability(index),
                           random_probability=float(np.median([probability(i) for i in controls])),
                           area_fraction=round(area, 6), log_odds=float(log_odds[index]),
                           random_log_odds=median(controls))
            for threshold, count, index, controls, area in region_plans
        ),
        words=tuple(
            WordDeletion(k=k, probability=probability(index),
                         random_probability=float(np.median([probability(i) for i in controls])), slots=slots,
                         log_odds=float(log_odds[index]), random_log_odds=median(controls))
            for k, slots, index, controls in word_plans
        ),
        modality=ModalityAblation(**{name: probability(index) for name, index in modality.items()}),
        log_odds=float(log_odds[intact]),
        modality_log_odds=ModalityAblation(**{name: float(log_odds[index]) for name, index in modality.items()}),
        removal=removal,
        placements=int(placements),
        forward_passes=len(log_odds),
    )


DISAGREEMENT_MARGIN = 0.5
"""How far (as a fraction of the whole change in P) the image's ablation share and its IG share must differ, or
differ in sign, before the page flags the disagreement."""


@dataclass(frozen=True)
class ModalityDisagreement:
    """Where integrated gradients and removing a half of the study tell different stories about it.

    Attributes:
        modality: "image" or "text".
        ig_share: The IG share of that half (fraction of F(x) − F(x′)).
        ablation_share: (P − P with that half removed) / (P − P with both removed).
        probability: P of the intact study.
        removed_probability: P with that half removed.
    """

    modality: str
    ig_share: float
    ablation_share: float
    probability: float
    removed_probability: float


def modality_disagreements(modality_share: dict, ledger: ModalityAblation, probability: float,
                           margin: float = DISAGREEMENT_MARGIN) -> list[ModalityDisagreement]:
    """The halves whose IG share and ablation share differ in sign or by more than ``margin`` (pure).

    None are reported when the study hardly differs from the reference pair (|P − P(both removed)| < 0.02):
    then both shares divide by almost nothing.
    """
    change = probability - ledger.both_removed
    if abs(change) < 0.02:
        return []
    found = []
    for modality, removed in (("image", ledger.image_removed), ("text", ledger.report_removed)):
        share = modality_share.get(modality)
        if share is None or not math.isfinite(share):
            continue
        ablation = (probability - removed) / change
        if (share * ablation < 0 and max(abs(share), abs(ablation)) > 0.1) or abs(share - ablation) > margin:
            found.append(ModalityDisagreement(modality, float(share), float(ablation), float(probability),
                                              float(removed)))
    return found


STABLE_OVERLAP = 0.5
"""Signal-pixel overlap (Jaccard) and rank correlation at or above which two references' explanations count as
the same story ("stable"); below :data:`UNSTABLE_OVERLAP` for either they count as different ("unstable")."""
UNSTABLE_OVERLAP = 0.2


def second_reference(reference: str, has_mean_image: bool) -> str:
    """The reference image the stability check explains with: "blur" for a "mean" explanation, else "mean"
    (or "black" when the bundle has no mean image and the first was not black, else "blur")."""
    if reference == "mean":
        return "blur"
    if has_mean_image:
        return "mean"
    return "blur" if reference == "black" else "black"


def signal_pixels(attribution_map: np.ndarray, threshold: float) -> np.ndarray:
    """(S, S) bool: the map's positive pixels at or above ``threshold`` × its largest value (the slider's rule)."""
    values = np.asarray(attribution_map, np.float64)
    peak = float(values.max(initial=0.0))
    if peak <= 0.0:
        return np.zeros(values.shape, bool)
    return (values > 0.0) & (values >= threshold * peak)


def stability(first: np.ndarray, second: np.ndarray, thresholds: Sequence[float] = SLIDER_THRESHOLDS) -> dict:
    """How far two explanations of one study (two reference images) agree (pure; numpy and scipy).

    Args:
        first, second: (S, S) attribution maps as the circles are found on (smoothed alike).
        thresholds: Sight sensitivities.

    Returns:
        ``{"rank_correlation": Spearman's rho over all grid pixels (None when a map is constant),
        "overlaps": [Jaccard overlap of the two maps' signal pixels per threshold, None where both are empty]}``.
    """
    from scipy.stats import spearmanr  # noqa: PLC0415 - only when a stability check is computed

    a, b = np.asarray(first, np.float64).ravel(), np.asarray(second, np.float64).ravel()
    rho = None
    if np.ptp(a) > 0 and np.ptp(b) > 0:
        rho = float(spearmanr(a, b).statistic)
    overlaps = []
    for threshold in thresholds:
        one, two = signal_pixels(first, threshold), signal_pixels(second, threshold)
        union = int((one | two).sum())
        overlaps.append(None if union == 0 else round(float((one & two).sum()) / union, 4))
    return {"rank_correlation": None if rho is None else round(rho, 4), "overlaps": overlaps}


NOT_CONVERGED_TEXT = "did not converge: no verdict"
"""What a stability check whose integrated gradients missed their completeness target says instead of a verdict."""


def stability_converged(checked: dict) -> bool:
    """True when both explanations a stability check compares met their completeness target.

    A check without the ``converged`` field (computed before it was recorded) counts as converged.
    """
    return bool(checked.get("converged", True))


def stability_verdict(overlap: float | None, rank_correlation: float | None, converged: bool = True) -> str | None:
    """"stable", "partly" or "unstable" from the overlap at tau and the rank correlation (pure).

    None when either explanation did not converge: maps whose attributions do not add up to the change in P are
    not a second story to compare the first with, so no verdict is given.
    """
    if not converged:
        return None
    values = [value for value in (overlap, rank_correlation) if value is not None]
    if not values:
        return "unstable"
    if min(values) >= STABLE_OVERLAP:
        return "stable"
    if min(values) < UNSTABLE_OVERLAP:
        return "unstable"
    return "partly"
