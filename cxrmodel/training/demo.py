"""`python -m cxrmodel demo build`: the seeded, documented rebuild of the bundled demo model and studies.

Steps:

1. draw training, validation and test studies from the synthetic distribution (seeded, disjoint numbers);
2. render them in memory (phantom + IU-style report) over all CPU cores;
3. build the vocabulary from the training reports;
4. train image-only and text-only, then the multimodal from their encoders (cxrmodel.training.fit);
5. write ``models/demo`` (bundle with a model card holding the held-out metrics of all three models, and
   ``calibration.json``: the temperature fitted on the validation studies and its reliability on the test
   studies, or why none is kept, by the rule of :mod:`cxrmodel.evaluation.calibration`),
   and the two comparison models as bundles of their own, ``models/demo/text-only`` and ``models/demo/image-only``
   (``demo build-single-modality`` rewrites only those two: steps 1-4 without the multimodal);
6. write ``studies/demo``: curated held-out studies covering both labels and every finding kind, in the
   OpenI layout with masks and truth.
"""

from __future__ import annotations

import datetime as _datetime
import logging
import platform
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from cxrmodel.data.openi import compose_report_text
from cxrmodel.data.synthetic.findings import FINDING_KINDS, LATERALISED_KINDS, Finding
from cxrmodel.data.synthetic.studies import (
    StudySpec,
    SyntheticDistribution,
    render_studies,
    sample_study_spec,
    write_openi_dataset,
)
from cxrmodel.modeling import ModelConfig
from cxrmodel.text import Vocabulary
from cxrmodel.training.fit import (
    StudyArrays,
    TrainingSchedule,
    build_study_arrays,
    grid_image_uint8,
    train_single_modality_models,
    train_three_models,
    write_bundle_calibration,
    write_single_modality_bundles,
)

logger = logging.getLogger(__name__)

# Study numbers of the demo set start here, far from the training/validation/test numbers.
DEMO_STUDY_FIRST_NUMBER = 90_001


@dataclass(frozen=True)
class DemoRecipe:
    """Everything that determines the demo model and studies."""

    seed: int = 2019
    training_studies: int = 2000
    validation_studies: int = 300
    test_studies: int = 400
    image_width: int = 480
    image_height: int = 512
    image_size: int = 160
    compact_widths: tuple[int, ...] = (12, 24, 32, 48, 64)
    # Max pooling sees the small findings (held-out image AUC 0.97 against 0.86 with average pooling); the speckle
    # its gradients leave on the attribution map is evened out by the map smoothing below. Both were chosen on a
    # separate selection set of synthetic studies (numbers 96,001+), not on the demo studies; see BENCHMARKS.md.
    compact_pooling: str = "max"
    attribution_smoothing: float = 2.0
    demo_normal_studies: int = 10
    demo_studies_per_finding: int = 3
    schedule: TrainingSchedule = TrainingSchedule()


def demo_study_specs(recipe: DemoRecipe) -> list[StudySpec]:
    """Curated held-out studies: normals, then each finding kind from obvious to subtle, then one with two."""
    number = DEMO_STUDY_FIRST_NUMBER
    specs: list[StudySpec] = []
    for _ in range(recipe.demo_normal_studies):
        specs.append(sample_study_spec(number, recipe.seed, findings=[]))
        number += 1
    severities = np.linspace(0.95, 0.3, recipe.demo_studies_per_finding)
    for kind_index, kind in enumerate(FINDING_KINDS):
        for repeat, severity in enumerate(severities):
            side = ("right", "left")[(kind_index + repeat) % 2] if kind in LATERALISED_KINDS else None
            zone = (("upper", "middle", "lower")[(kind_index + repeat) % 3]
                    if kind in ("nodule", "mass", "consolidation") else None)
            finding = Finding(kind=kind, severity=float(severity), side=side, zone=zone)
            specs.append(sample_study_spec(number, recipe.seed, findings=[finding]))
            number += 1
    two = [Finding("cardiomegaly", 0.7), Finding("effusion", 0.8, side="right")]
    specs.append(sample_study_spec(number, recipe.seed, findings=two))
    return specs


SELECTION_STUDY_FIRST_NUMBER = 96_001
"""Study numbers of the selection set start here: disjoint from training (1+), validation (50,001+), test (70,001+)
and the demo studies (90,001+)."""
SELECTION_PLACEMENT_SEED = 7
"""Seed of the sides and lung zones drawn for the selection studies' findings."""


def selection_study_specs(recipe: DemoRecipe, studies_per_finding: int = 5, normal_studies: int = 8) -> list[StudySpec]:
    """The selection set: studies for choosing explanation settings (e.g. the map smoothing) without the demo studies.

    Normals, then every finding kind at ``studies_per_finding`` severities from obvious (0.95) to subtle (0.3) with
    drawn sides and zones, then two studies with two findings. Settings tuned on these and reported on the demo
    studies are not tuned on the studies they are reported on.
    """
    rng = np.random.default_rng(SELECTION_PLACEMENT_SEED)
    number = SELECTION_STUDY_FIRST_NUMBER
    specs: list[StudySpec] = []
    for _ in range(normal_studies):
        specs.append(sample_study_spec(number, recipe.seed, findings=[]))
        number += 1
    for kind in FINDING_KINDS:
        for severity in np.linspace(0.95, 0.3, studies_per_finding):
            side = str(rng.choice(["right", "left"])) if kind in LATERALISED_KINDS else None
            zone = (str(rng.choice(["upper", "middle", "lower"]))
                    if kind in ("nodule", "mass", "consolidation") else None)
            specs.append(sample_study_spec(
                number, recipe.seed, findings=[Finding(kind=kind, severity=float(severity), side=side, zone=zone)]
            ))
            number += 1
    for pair in ([Finding("mass", 0.6, side="left", zone="upper"), Finding("effusion", 0.7, side="right")],
                 [Finding("nodule", 0.7, side="right", zone="middle"), Finding("degenerative_spine", 0.7)]):
        specs.append(sample_study_spec(number, recipe.seed, findings=pair))
        number += 1
    return specs


SPLIT_FIRST_NUMBERS = {"validation": 50_001, "test": 70_001}
"""First study number of the recipe's validation (early stopping, calibration) and test (held-out) studies."""


def split_specs(recipe: DemoRecipe) -> dict[str, list[StudySpec]]:
    """The recipe's ``validation`` and ``test`` studies (numbers 50,001+ and 70,001+; disjoint from training)."""
    distribution = SyntheticDistribution()
    sizes = {"validation": recipe.validation_studies, "test": recipe.test_studies}
    return {name: [sample_study_spec(n, recipe.seed, distribution)
                   for n in range(SPLIT_FIRST_NUMBERS[name], SPLIT_FIRST_NUMBERS[name] + sizes[name])]
            for name in ("validation", "test")}


def split_arrays(recipe: DemoRecipe, config: ModelConfig, vocabulary: Vocabulary) -> dict[str, StudyArrays]:
    """The recipe's ``validation`` and ``test`` studies rendered as model inputs (what the demo build used)."""
    return {name: _arrays_for(specs, recipe, config, vocabulary)[0] for name, specs in split_specs(recipe).items()}


def training_specs(recipe: DemoRecipe) -> list[StudySpec]:
    """The training studies of the recipe (numbers 1 .. training_studies)."""
    return [sample_study_spec(n, recipe.seed, SyntheticDistribution()) for n in range(1, recipe.training_studies + 1)]


def mean_normal_image(grid_images: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """(S, S) float in [0, 1]: the mean of the normal studies' uint8 model-grid images.

    Used as the reference ("mean") baseline of integrated gradients: the demo model calls a black image
    abnormal (it has never seen one), so a black baseline would explain nothing; the mean normal chest is
    what "abnormal" should be measured against.
    """
    normal = grid_images[np.asarray(labels) == 0]
    if not len(normal):
        raise ValueError("no normal studies to average")
    return normal.astype(np.float64).mean(axis=0) / 255.0


def write_mean_normal_baseline(model_directory: Path, recipe: DemoRecipe | None = None) -> None:
    """Re-render the recipe's normal training studies and store their mean as the bundle's image baseline."""
    import json  # noqa: PLC0415

    from cxrmodel.modeling import CONFIG_FILE, write_image_baseline  # noqa: PLC0415

    recipe = recipe or DemoRecipe()
    normals = [spec for spec in training_specs(recipe) if not spec.label]
    grids = np.stack([
        grid_image_uint8(study.phantom.image.astype(np.float32) / 255.0, recipe.image_size)
        for study in render_studies(normals, recipe.seed, recipe.image_width, recipe.image_height)
    ])
    write_image_baseline(model_directory, mean_normal_image(grids, np.zeros(len(grids))))
    config_path = Path(model_directory) / CONFIG_FILE
    config = json.loads(config_path.read_text(encoding="utf-8"))
    config["default_image_baseline"] = "mean"
    config_path.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    logger.info("wrote the mean of %d normal training images as the image baseline of %s", len(grids), model_directory)


def _arrays_for(specs: list[StudySpec], recipe: DemoRecipe, config: ModelConfig, vocabulary: Vocabulary | None):
    studies = list(render_studies(specs, recipe.seed, recipe.image_width, recipe.image_height))
    reports = [compose_report_text(study.report.findings, study.report.impression) for study in studies]
    pixels = [study.phantom.image.astype(np.float32) / 255.0 for study in studies]
    labels = [study.spec.label for study in studies]
    if vocabulary is None:
        vocabulary = Vocabulary.build(reports)
    return build_study_arrays(pixels, reports, labels, config, vocabulary), vocabulary


def _demo_arrays(recipe: DemoRecipe, started: float):
    """Steps 1-3: ``(train, validation, test, vocabulary, config)`` of the recipe."""
    # 1. Disjoint study numbers per split.
    specs = {**split_specs(recipe), "train": training_specs(recipe)}

    # 2-3. Render, vocabulary from the training reports only.
    provisional = ModelConfig(image_size=recipe.image_size, compact_widths=recipe.compact_widths,
                              compact_pooling=recipe.compact_pooling)
    train_arrays, vocabulary = _arrays_for(specs["train"], recipe, provisional, None)
    logger.info("rendered %d training studies in %.0f s", len(train_arrays), time.perf_counter() - started)
    config = ModelConfig(
        image_size=recipe.image_size,
        compact_widths=recipe.compact_widths,
        compact_pooling=recipe.compact_pooling,
        vocabulary_size=len(vocabulary),
        default_image_baseline="mean",
        default_attribution_smoothing=recipe.attribution_smoothing,
    )
    validation_arrays, _ = _arrays_for(specs["validation"], recipe, config, vocabulary)
    test_arrays, _ = _arrays_for(specs["test"], recipe, config, vocabulary)
    return train_arrays, validation_arrays, test_arrays, vocabulary, config


def build_demo(model_directory: Path, studies_directory: Path, recipe: DemoRecipe | None = None) -> dict:
    """Rebuild the demo bundle, its two comparison bundles and the demo studies; returns the model card."""
    from cxrmodel.modeling import save_bundle  # noqa: PLC0415 - imports keras

    recipe = recipe or DemoRecipe()
    started = time.perf_counter()
    train_arrays, validation_arrays, test_arrays, vocabulary, config = _demo_arrays(recipe, started)

    # 4. Train and evaluate.
    trained = train_three_models(config, train_arrays, validation_arrays, test_arrays, recipe.schedule, recipe.seed)

    # 5. Bundle with its card.
    card = _model_card(recipe, train_arrays, validation_arrays, test_arrays, trained.metrics,
                       time.perf_counter() - started)
    baseline = mean_normal_image(train_arrays.grid_images, train_arrays.labels)
    save_bundle(model_directory, trained.multimodal, vocabulary, config, card, image_baseline=baseline)
    write_bundle_calibration(model_directory, trained.multimodal, validation_arrays, test_arrays,
                             demo_calibration_fitted_on(recipe))
    write_single_modality_bundles(model_directory, {"text": trained.text, "image": trained.image}, vocabulary, config,
                                  card, baseline, validation_arrays, test_arrays, demo_calibration_fitted_on(recipe))

    # 6. Curated demo studies in the OpenI layout.
    write_openi_dataset(studies_directory, demo_study_specs(recipe), recipe.seed, recipe.image_width,
                        recipe.image_height)
    card["build_seconds"] = round(time.perf_counter() - started, 1)
    logger.info("demo build finished in %.0f s: %s", card["build_seconds"], trained.metrics)
    return card


def build_single_modality_demo(model_directory: Path, recipe: DemoRecipe | None = None) -> dict[str, str]:
    """Steps 1-4 without the multimodal: write only ``model_directory/text-only`` and ``model_directory/image-only``.

    The same recipe, seed and split as :func:`build_demo`, so the two are the demo multimodal's comparison models
    retrained (bit-identical only where TensorFlow's CPU kernels are deterministic). The cards take the multimodal
    card's provenance from ``model_directory/card.json`` when it is there, and record their own held-out metrics.

    Returns:
        ``{modality: bundle path}``.
    """
    import json  # noqa: PLC0415 - kept with its only use

    from cxrmodel.training.fit import held_out_metrics  # noqa: PLC0415 - kept with its only use

    recipe = recipe or DemoRecipe()
    started = time.perf_counter()
    train_arrays, validation_arrays, test_arrays, vocabulary, config = _demo_arrays(recipe, started)
    image_model, text_model, _history = train_single_modality_models(config, train_arrays, validation_arrays,
                                                                     recipe.schedule, recipe.seed)
    metrics = held_out_metrics({"image": image_model, "text": text_model}, test_arrays)
    card = _model_card(recipe, train_arrays, validation_arrays, test_arrays, metrics, time.perf_counter() - started)
    multimodal_card = Path(model_directory) / "card.json"
    if multimodal_card.is_file():
        card["name"] = json.loads(multimodal_card.read_text(encoding="utf-8")).get("name", card["name"])
    card["command"] = "python -m cxrmodel demo build-single-modality"
    baseline = mean_normal_image(train_arrays.grid_images, train_arrays.labels)
    return write_single_modality_bundles(model_directory, {"text": text_model, "image": image_model}, vocabulary,
                                         config, card, baseline, validation_arrays, test_arrays,
                                         demo_calibration_fitted_on(recipe))


def demo_calibration_fitted_on(recipe: DemoRecipe) -> str:
    """``fitted_on`` of the demo bundle's calibration.json, in words."""
    return (f"the {recipe.validation_studies} synthetic validation studies of the demo recipe, seed {recipe.seed}, "
            f"numbers {SPLIT_FIRST_NUMBERS['validation']:,}+, the early-stopping split")


def _model_card(
    recipe: DemoRecipe,
    train: StudyArrays,
    validation: StudyArrays,
    test: StudyArrays,
    metrics: dict,
    seconds: float,
) -> dict:
    recipe_record = asdict(recipe)
    return {
        "name": "Synthetic demo multimodal (compact CNN 160 px + Kim text CNN)",
        "synthetic": True,
        "created": _datetime.datetime.now(_datetime.timezone.utc).replace(microsecond=0).isoformat(),
        "trained_on": (
            f"{len(train)} synthetic chest X-ray phantoms with IU-style synthetic reports "
            f"(cxrmodel.data.synthetic.studies, seed {recipe.seed}); {len(validation)} for early stopping"
        ),
        "held_out": f"{len(test)} synthetic studies never seen in training ({int(test.labels.sum())} abnormal)",
        "metrics": metrics,
        "comparison": "image-only and text-only models trained on the same split; the multimodal is built from "
        "their encoders and fine-tuned at a low learning rate",
        "intended_use": "Demonstration of the explanation tool only. Synthetic demo model — not for clinical use.",
        "limitations": "Trained on synthetic phantoms: it has never seen a real radiograph.",
        "command": "python -m cxrmodel demo build",
        "recipe": recipe_record,
        "training_seconds": round(seconds, 1),
        "platform": f"{platform.machine()} {platform.python_implementation()} {platform.python_version()}",
        "label_counts": {
            "train_abnormal": int(train.labels.sum()),
            "train_normal": int(len(train) - train.labels.sum()),
        },
    }
