"""Detection quality on ground truth: does the circle sweep find the synthetic lesions, and the markers?

For every study of a synthetic folder (with ``truth.json`` and masks) the attribution is computed once; then
the sight sensitivity tau is swept and, per tau, we count:

* **lesion hit rate** — a lesion (one finding's mask) is hit when at least one circle's centre lies inside it;
* **pointing hit rate** — the pointing game: each lesion's :func:`~cxrmodel.evaluation.lesion_hits.lesion_point`
  (a pixel of its mask) is hit when it lies inside a circle, as reviewers' points are counted by
  ``python -m cxrmodel reviews summary`` (:mod:`cxrmodel.reviews.agreement`);
* **circles per study**;
* **marker circles** — circles whose centre lies on burnt-in film text (the structured noise), and the share
  of studies with a marker that get at least one such circle;
* **hit rate by finding kind**;
* **chance hit rate** — the control for how generous the masks are: each lesion's mask scored against the
  circles of every *normal* study of the folder (same image size), i.e. how often a circle lands on that spot
  when the finding is not there. A hit rate well above it is the model finding the lesion, not the mask
  being large or the circles always falling on the same anatomy;
* **counterfactual hit rate** (``counterfactual=True``, synthetic folders only) — the stronger control: every
  study with a finding is re-rendered by the generator *without* its findings (same patient, same film markers,
  same report), explained, and its circles scored against the original study's masks. A circle that lands on
  the lesion only when the lesion is there is caused by the lesion;
* **deletion** (issue #18) — for every abnormal study, P(abnormal) with each tau's circles replaced by the
  explanation's reference image against same-size random regions inside the chest
  (:mod:`cxrmodel.explain.evidence`): per tau the median drop of both and the share of studies where the circles'
  drop is larger; and :meth:`DetectionReport.deletion_summary` over the correctly classified abnormal studies,
  with the top-3 words against 3 random words.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

from cxrmodel.data import StudyCollection
from cxrmodel.data.synthetic import TRUTH_FILE, load_mask
from cxrmodel.detection import sweep_circles
from cxrmodel.evaluation.lesion_hits import centre_inside, lesion_point, lesions_hit, points_hit
from cxrmodel.progress import progress_meter

if TYPE_CHECKING:  # cxrmodel.explain.study loads TensorFlow; the dashboard's hit rates must not need it
    from cxrmodel.explain import ExplanationSettings, StudyExplainer

logger = logging.getLogger(__name__)

DEFAULT_SWEEP = tuple(round(value, 2) for value in np.arange(0.1, 0.951, 0.05))


@dataclass(frozen=True)
class ThresholdQuality:
    """Detection quality at one sight sensitivity over a study set.

    The deletion figures (issue #18; :mod:`cxrmodel.explain.evidence`) are over the abnormal studies (truth label)
    with at least one circle at this tau (``deletion_studies``): the median drop of P(abnormal) when the circles
    are replaced by the reference image, the median drop when same-size random regions are, and the share of
    those studies where removing the circles lowers P more than the random regions do. None when no study
    qualifies.
    """

    sight_sensitivity: float
    lesion_hit_rate: float
    lesions: int
    circles_per_study: float
    marker_circles: int
    studies_with_marker_circles: int
    hit_rate_by_kind: dict[str, float] = field(default_factory=dict)
    lesions_by_kind: dict[str, int] = field(default_factory=dict)
    chance_hit_rate: float | None = None
    chance_hit_rate_by_kind: dict[str, float] = field(default_factory=dict)
    counterfactual_hit_rate: float | None = None
    counterfactual_hit_rate_by_kind: dict[str, float] = field(default_factory=dict)
    pointing_hit_rate: float | None = None
    deletion_studies: int = 0
    deletion_drop_median: float | None = None
    random_deletion_drop_median: float | None = None
    circles_beat_random_share: float | None = None

    def to_dict(self) -> dict:
        """Plain JSON."""
        return dict(self.__dict__)


# Largest mean absolute grey-level difference between a stored synthetic image and the generator's re-rendering
# for the re-rendering to count as the same film (floating-point rounding moves a pixel or two by one level).
RERENDER_TOLERANCE = 0.05


def _grey_pixels(path: Path) -> np.ndarray:
    """(height, width) uint8 pixels of a stored synthetic film (8-bit grey PNG)."""
    from PIL import Image  # noqa: PLC0415

    with Image.open(path) as image:
        return np.asarray(image.convert("L"))


class CounterfactualRenderer:
    """Re-renders the studies of a synthetic folder with their findings removed (same patient, markers, report).

    Raises:
        ValueError: The folder's ``truth.json`` was not written by ``cxrmodel.data.synthetic.studies`` with a seed.
    """

    def __init__(self, root: str | Path) -> None:
        path = Path(root) / TRUTH_FILE
        document = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
        if document.get("generator") != "cxrmodel.data.synthetic" or not isinstance(document.get("seed"), int):
            raise ValueError(f"{root}: the counterfactual control needs a truth.json written by "
                             "cxrmodel.data.synthetic.studies with its seed "
                             "(python -m cxrmodel synthetic / demo build)")
        self.seed = int(document["seed"])

    def _spec(self, record: dict, with_findings: bool):
        from cxrmodel.data.synthetic.findings import Finding  # noqa: PLC0415
        from cxrmodel.data.synthetic.studies import StudySpec  # noqa: PLC0415

        number = int(str(record["study_id"]).removeprefix("CXR"))
        findings = tuple(Finding.from_dict(finding) for finding in record["findings"]) if with_findings else ()
        return StudySpec(number=number, findings=findings, markers=tuple(record["markers"]),
                         understated=bool(record["understated"]) and with_findings)

    def without_findings(self, record: dict, stored_image: np.ndarray) -> bytes:
        """PNG bytes of the study without its findings, at the stored image's size.

        Args:
            record: The study's ``truth.json`` record.
            stored_image: ``(height, width)`` uint8 pixels of the stored film, used to check that this generator
                reproduces it (otherwise the counterfactual would differ in more than the findings).

        Raises:
            ValueError: The generator does not reproduce the stored film (written by another version).
        """
        import io  # noqa: PLC0415

        from PIL import Image  # noqa: PLC0415

        from cxrmodel.data.synthetic.studies import render_study  # noqa: PLC0415

        height, width = stored_image.shape[:2]
        again = render_study(self._spec(record, True), self.seed, width, height).phantom.image
        difference = float(np.abs(again.astype(np.float64) - stored_image.astype(np.float64)).mean())
        if again.shape != stored_image.shape or difference > RERENDER_TOLERANCE:
            raise ValueError(f"{record['study_id']}: this version of the generator does not reproduce the stored "
                             f"film (mean difference {difference:.2f} grey levels), so a counterfactual would "
                             "differ in more than its findings; regenerate the folder or leave out --counterfactual")
        buffer = io.BytesIO()  # the uint8 film as the generator writes it (write_openi_study)
        Image.fromarray(render_study(self._spec(record, False), self.seed, width, height).phantom.image).save(
            buffer, format="PNG")
        return buffer.getvalue()


@dataclass(frozen=True)
class LesionOutcome:
    """One lesion of the evaluated folder and whether a circle found it at each threshold.

    Attributes:
        study_id: Its study, e.g. ``"CXR90029"``.
        kind: Its finding kind, e.g. ``"degenerative_spine"``.
        severity: The generator's severity, 0 (subtle) to 1 (obvious); None when the truth does not say.
        hits: Per threshold, True when a circle centre lies in its mask.
        hits_without_finding: Per threshold, the same on the study re-rendered without its findings (only with
            the counterfactual control), else None.
        point_hits: Per threshold, True when the lesion's :func:`lesion_point` lies inside a circle (the pointing
            game); empty in reports made before it was counted.
    """

    study_id: str
    kind: str
    severity: float | None
    hits: tuple[bool, ...]
    hits_without_finding: tuple[bool, ...] | None = None
    point_hits: tuple[bool, ...] = ()

    def to_dict(self) -> dict:
        """Plain JSON."""
        return {"study_id": self.study_id, "kind": self.kind, "severity": self.severity, "hits": list(self.hits),
                "hits_without_finding": None if self.hits_without_finding is None else list(self.hits_without_finding),
                "point_hits": list(self.point_hits)}


@dataclass(frozen=True)
class StudyDeletion:
    """One abnormal study's deletion evidence at the evaluated thresholds.

    Attributes:
        study_id: The study.
        probability: P(abnormal) of the intact study.
        correct: True when the model calls it abnormal (P >= 0.5).
        circles: Per threshold, the circles removed.
        removed: Per threshold, P with them replaced by the reference image.
        random: Per threshold, the median P with same-size random regions replaced.
        top3_words: P with the 3 words of largest attribution removed (None with fewer seen words).
        random3_words: The median P with 3 random seen words removed.
    """

    study_id: str
    probability: float
    correct: bool
    circles: tuple[int, ...]
    removed: tuple[float, ...]
    random: tuple[float, ...]
    top3_words: float | None
    random3_words: float | None

    def to_dict(self) -> dict:
        """Plain JSON."""
        return {"study_id": self.study_id, "probability": self.probability, "correct": self.correct,
                "circles": list(self.circles), "removed": list(self.removed), "random": list(self.random),
                "top3_words": self.top3_words, "random3_words": self.random3_words}


@dataclass(frozen=True)
class DetectionReport:
    """Detection quality per threshold, and the lesion-by-lesion outcomes it was counted from."""

    thresholds: list[ThresholdQuality]
    lesions: list[LesionOutcome]
    deletions: list[StudyDeletion] = field(default_factory=list)

    def deletion_summary(self, sight_sensitivity: float) -> dict | None:
        """At one evaluated tau, over the correctly classified abnormal studies: how often the circles beat the
        same-area random control (lower P after removal), and the top-3 words beat 3 random words."""
        taus = [q.sight_sensitivity for q in self.thresholds]
        if not self.deletions or sight_sensitivity not in taus:
            return None
        index = taus.index(sight_sensitivity)
        correct = [d for d in self.deletions if d.correct]
        with_circles = [d for d in correct if d.circles[index] > 0]
        with_words = [d for d in correct if d.top3_words is not None]
        return {
            "sight_sensitivity": sight_sensitivity,
            "abnormal_studies": len(self.deletions),
            "correctly_classified": len(correct),
            "with_circles": len(with_circles),
            "circles_beat_random": sum(d.removed[index] < d.random[index] for d in with_circles),
            "circles_beat_random_share": _share([d.removed[index] < d.random[index] for d in with_circles]),
            "with_three_words": len(with_words),
            "top3_words_beat_random": sum(d.top3_words < d.random3_words for d in with_words),
            "top3_words_beat_random_share": _share([d.top3_words < d.random3_words for d in with_words]),
            "median_drop_circles": float(np.median([d.probability - d.removed[index] for d in with_circles]))
            if with_circles else None,
            "median_drop_random_regions": float(np.median([d.probability - d.random[index] for d in with_circles]))
            if with_circles else None,
            "median_drop_top3_words": float(np.median([d.probability - d.top3_words for d in with_words]))
            if with_words else None,
            "median_drop_random3_words": float(np.median([d.probability - d.random3_words for d in with_words]))
            if with_words else None,
        }


def _severity(record: dict, kind: str) -> float | None:
    return next((float(finding["severity"]) for finding in record.get("findings", [])
                 if finding.get("kind") == kind and "severity" in finding), None)


def detection_report(
    explainer: StudyExplainer,
    collection: StudyCollection,
    sight_sensitivities: Sequence[float] = DEFAULT_SWEEP,
    settings: ExplanationSettings | None = None,
    counterfactual: bool = False,
) -> DetectionReport:
    """Sweep tau over every study of a synthetic collection that has truth masks.

    Args:
        explainer: Explains each study (its cache, if any, is used).
        collection: A synthetic OpenI folder with ``truth.json`` and masks.
        sight_sensitivities: The thresholds tau.
        settings: Explanation settings (steps, smoothing, minimum points, link distance).
        counterfactual: Also explain every study with findings re-rendered without them and report the
            counterfactual hit rate (see the module docstring); costs a second explanation per such study.

    Raises:
        ValueError: The folder has no truth, or (with ``counterfactual``) the generator cannot reproduce it.
    """
    from cxrmodel.detection import circles_to_image  # noqa: PLC0415 - loads TensorFlow
    from cxrmodel.explain import ExplanationSettings  # noqa: PLC0415 - cxrmodel.explain only when explaining

    settings = settings or ExplanationSettings()
    link_distance = settings.link_distance or explainer.bundle.config.default_link_distance
    if not collection.truth:
        raise ValueError(f"{collection.root} has no truth.json: detection quality needs synthetic ground truth")
    taus = len(sight_sensitivities)
    circle_counts = np.zeros(taus)
    marker_circles = np.zeros(taus, dtype=int)
    studies_with_marker_circles = np.zeros(taus, dtype=int)
    outcomes: list[LesionOutcome] = []
    masks_of_outcomes: list[np.ndarray] = []  # the mask of each outcome, same order
    normal_centres: list[tuple[tuple[int, int], list[list[tuple[float, float]]]]] = []  # (image shape, centres per tau)
    renderer = CounterfactualRenderer(collection.root) if counterfactual else None

    deletions: list[StudyDeletion] = []

    def circles_per_tau(image_bytes: bytes, report_text: str, study_id: str | None = None,
                        ) -> tuple[object, list[list[dict]]]:
        prepared, attribution, _, _ = explainer.attribute(image_bytes, report_text, settings)
        detections = sweep_circles(attribution.image_attribution, sight_sensitivities, link_distance,
                                   settings.min_points)
        if study_id is not None:  # an abnormal study: its deletion evidence at these thresholds
            evidence = explainer.evidence(prepared, attribution, settings, thresholds=sight_sensitivities)
            three = next((word for word in evidence.words if word.k == 3), None)
            deletions.append(StudyDeletion(
                study_id=study_id, probability=float(attribution.probability),
                correct=bool(attribution.probability >= 0.5),
                circles=tuple(region.circles for region in evidence.regions),
                removed=tuple(region.probability for region in evidence.regions),
                random=tuple(region.random_probability for region in evidence.regions),
                top3_words=None if three is None else three.probability,
                random3_words=None if three is None else three.random_probability))
        return prepared, [[{"x": c.x, "y": c.y, "r": c.r} for c in circles_to_image(d.circles, prepared.mapping)]
                          for d in detections]

    def centres_of(circles: list[list[dict]]) -> list[list[tuple[float, float]]]:
        return [[(circle["x"], circle["y"]) for circle in at_tau] for at_tau in circles]

    def hits_of(mask: np.ndarray, centres: list[list[tuple[float, float]]]) -> tuple[bool, ...]:
        return tuple(lesions_hit([mask], centres_at_tau) == 1 for centres_at_tau in centres)

    for study_id, study in progress_meter(collection.studies.items(), total=len(collection.studies),
                                          description="studies explained", unit="study"):
        record = collection.truth.get(study_id)
        if record is None:
            continue
        prepared, circles = circles_per_tau(study.image_paths[0].read_bytes(), study.report_text,
                                            study_id if study.label == 1 else None)
        centres = centres_of(circles)
        masks = [(kind, load_mask(collection.root, path)) for kind, path in record["masks"].items()]
        marker_mask = load_mask(collection.root, record["marker_mask"]) if record.get("marker_mask") else None
        for index, centres_at_tau in enumerate(centres):
            circle_counts[index] += len(centres_at_tau)
            if marker_mask is not None:
                on_markers = sum(centre_inside(marker_mask, x, y) for x, y in centres_at_tau)
                marker_circles[index] += on_markers
                studies_with_marker_circles[index] += int(on_markers > 0)
        centres_without = None
        if renderer is not None and masks:
            without = renderer.without_findings(record, _grey_pixels(study.image_paths[0]))
            centres_without = centres_of(circles_per_tau(without, study.report_text)[1])
        for kind, mask in masks:
            outcomes.append(LesionOutcome(
                study_id=study_id, kind=kind, severity=_severity(record, kind), hits=hits_of(mask, centres),
                hits_without_finding=None if centres_without is None else hits_of(mask, centres_without),
                point_hits=tuple(points_hit(at_tau, [lesion_point(mask)])[0] for at_tau in circles)))
            masks_of_outcomes.append(mask)
        if not masks:
            normal_centres.append(((prepared.mapping.image_height, prepared.mapping.image_width), centres))
        logger.info("evaluated detection on %s", study_id)
    studies = sum(1 for study_id in collection.studies if study_id in collection.truth)
    thresholds = _threshold_qualities(sight_sensitivities, outcomes, masks_of_outcomes, normal_centres,
                                      circle_counts / max(studies, 1), marker_circles, studies_with_marker_circles)
    thresholds = [_with_deletion(quality, index, deletions) for index, quality in enumerate(thresholds)]
    return DetectionReport(thresholds=thresholds, lesions=outcomes, deletions=deletions)


def _with_deletion(quality: ThresholdQuality, index: int, deletions: Sequence[StudyDeletion]) -> ThresholdQuality:
    """``quality`` with the deletion figures at threshold ``index`` (see :class:`ThresholdQuality`)."""
    import dataclasses  # noqa: PLC0415 - only here

    qualifying = [d for d in deletions if d.circles[index] > 0]
    if not qualifying:
        return quality
    return dataclasses.replace(
        quality,
        deletion_studies=len(qualifying),
        deletion_drop_median=float(np.median([d.probability - d.removed[index] for d in qualifying])),
        random_deletion_drop_median=float(np.median([d.probability - d.random[index] for d in qualifying])),
        circles_beat_random_share=_share([d.removed[index] < d.random[index] for d in qualifying]),
    )


def _share(flags: Sequence[bool]) -> float:
    return float(np.mean(flags)) if len(flags) else float("nan")


def _threshold_qualities(
    sight_sensitivities: Sequence[float],
    outcomes: Sequence[LesionOutcome],
    masks: Sequence[np.ndarray],
    normal_centres: Sequence[tuple[tuple[int, int], list[list[tuple[float, float]]]]],
    circles_per_study: np.ndarray,
    marker_circles: np.ndarray,
    studies_with_marker_circles: np.ndarray,
) -> list[ThresholdQuality]:
    """The per-threshold figures from the lesion outcomes (see :class:`ThresholdQuality`)."""
    taus = len(sight_sensitivities)
    kinds = sorted({outcome.kind for outcome in outcomes})
    of_kind = {kind: [o for o in outcomes if o.kind == kind] for kind in kinds}
    chance_per_lesion = [_chance_hits(mask, normal_centres, taus) for mask in masks]
    chance = _pooled(chance_per_lesion)
    chance_by_kind = {
        kind: _pooled([hits for o, hits in zip(outcomes, chance_per_lesion, strict=True) if o.kind == kind])
        for kind in kinds
    }
    counterfactual = bool(outcomes) and all(o.hits_without_finding is not None for o in outcomes)
    return [
        ThresholdQuality(
            sight_sensitivity=float(tau),
            lesion_hit_rate=_share([o.hits[i] for o in outcomes]),
            lesions=len(outcomes),
            circles_per_study=float(circles_per_study[i]),
            marker_circles=int(marker_circles[i]),
            studies_with_marker_circles=int(studies_with_marker_circles[i]),
            hit_rate_by_kind={kind: _share([o.hits[i] for o in of_kind[kind]]) for kind in kinds},
            lesions_by_kind={kind: len(of_kind[kind]) for kind in kinds},
            chance_hit_rate=None if chance is None else float(chance[i]),
            chance_hit_rate_by_kind={
                kind: float(rates[i]) for kind, rates in chance_by_kind.items() if rates is not None
            },
            counterfactual_hit_rate=_share([o.hits_without_finding[i] for o in outcomes]) if counterfactual else None,
            counterfactual_hit_rate_by_kind={
                kind: _share([o.hits_without_finding[i] for o in of_kind[kind]]) for kind in kinds
            } if counterfactual else {},
            pointing_hit_rate=_share([o.point_hits[i] for o in outcomes]) if outcomes else None,
        )
        for i, tau in enumerate(sight_sensitivities)
    ]


def _chance_hits(
    mask: np.ndarray,
    normal_centres: Sequence[tuple[tuple[int, int], list[list[tuple[float, float]]]]],
    taus: int,
) -> tuple[np.ndarray, int]:
    """(taus,) count of the normal studies (of the mask's image size) with a circle centre in ``mask``, and that
    number of studies."""
    hits, pairs = np.zeros(taus), 0
    for shape, centres in normal_centres:
        if shape == mask.shape:
            pairs += 1
            hits += [lesions_hit([mask], centres_at_tau) for centres_at_tau in centres]
    return hits, pairs


def _pooled(chance_hits: Sequence[tuple[np.ndarray, int]]) -> np.ndarray | None:
    """Pooled hit share of several ``_chance_hits`` results; None when no pair was scored."""
    pairs = sum(count for _, count in chance_hits)
    return sum(hits for hits, _ in chance_hits) / pairs if pairs else None


def chance_hit_rates(
    masks: Sequence[np.ndarray],
    normal_centres: Sequence[tuple[tuple[int, int], list[list[tuple[float, float]]]]],
    taus: int,
) -> np.ndarray | None:
    """(taus,) share of (lesion mask, normal study) pairs where one of the normal study's circles hits the mask.

    Only pairs of the same image size are scored; None when there is no such pair (no normal studies).
    """
    return _pooled([_chance_hits(mask, normal_centres, taus) for mask in masks])


def quality_document(qualities: Sequence[ThresholdQuality], extra: dict, lesions: Sequence[LesionOutcome] = (),
                     deletions: Sequence[StudyDeletion] = ()) -> dict:
    """Every threshold's figures, the lesion-by-lesion outcomes, the abnormal studies' deletion evidence and
    ``extra`` (model, settings, the deletion summary at the default tau), as one JSON-ready document."""
    return {**extra, "thresholds": [q.to_dict() for q in qualities], "lesions": [o.to_dict() for o in lesions],
            "deletions": [d.to_dict() for d in deletions]}


def write_quality_json(qualities: Sequence[ThresholdQuality], path: Path, extra: dict,
                       lesions: Sequence[LesionOutcome] = (), deletions: Sequence[StudyDeletion] = ()) -> None:
    """:func:`quality_document` written to ``path`` (indented JSON)."""
    path.write_text(json.dumps(quality_document(qualities, extra, lesions, deletions), indent=1) + "\n")
