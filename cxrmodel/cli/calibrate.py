"""The ``calibrate`` command: decide a bundle's temperature scaling again and write its ``calibration.json``.

    python -m cxrmodel calibrate --model BUNDLE --studies DIR [--held-out-fraction 0.3] [--seed 2019] [--bins 10]
    python -m cxrmodel calibrate --model models/demo [--bins 10]

The decision is the rule of :mod:`cxrmodel.evaluation.calibration` (:func:`calibration_decision`), the one
``train`` applies: a temperature is fitted only on at least 50 studies with 10 of each label, and kept only when it
lowers their cross-validated ECE and does not raise the ECE of the held-out studies; otherwise ``calibration.json``
says ``"method": "none"`` and why, and the bundle is shown uncalibrated. Either way the file is written
(:func:`cxrmodel.modeling.bundle.write_calibration`; the bundle's fingerprint, and with it every cached
explanation, stays valid).

**With --studies** (any bundle): the folder is read as ``train`` reads it (OpenI XML or Kaggle CSV layout,
:func:`cxrmodel.training.target_data.load_target_dataset`) and its studies become the bundle's model inputs with the
bundle's own grid size and vocabulary (:func:`cxrmodel.training.target.bundle_study_arrays`). It is split,
stratified by label and seeded by ``--seed``, into a fitting part and a held-out part (``--held-out-fraction``,
default 0.3): the temperature is fitted and cross-validated on the fitting part, the held-out part gives the
card's reliability diagram and may veto. The studies should be ones the model was not trained on: the folder the
bundle was trained on (same data fingerprint as its card) is refused.

**Without --studies**, for a bundle built by ``demo build`` or ``demo build-single-modality`` (its ``card.json``
has the ``recipe``: seed, validation and test study counts, phantom size): the validation studies (numbers
50,001+, used for early stopping) and the held-out test studies (70,001+) are regenerated exactly as the build drew
them (:func:`cxrmodel.training.demo.split_arrays`); the fitting part is the validation studies, the held-out part the
test studies. A regenerated test split whose accuracy differs from the card's by more than one study is refused:
it would not be the split the card describes.

Too few fitting studies for the rule is a user error, and the bundle's calibration.json is left as it was.

Prints one JSON line: ``{"bundle", "calibration", "calibrated", "temperature" | "reason", "fitted_count",
"cross_validated": {"ece_raw", "ece_calibrated", ...} | null, "held_out": {"count", "ece_raw", "ece_calibrated",
"accuracy", "nll_raw", "nll_calibrated"} | null, "seconds"}`` (``held_out`` is of the temperature kept or, when
not kept, of the one rejected). User errors exit with status 2 and one line on stderr.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import time
from pathlib import Path

from cxrmodel.cli._common import CommandError, fraction_below_half, positive_int, whole_number

logger = logging.getLogger(__name__)

RECIPE_FIELDS = ("seed", "validation_studies", "test_studies", "image_width", "image_height")
"""The card's recipe fields that decide which validation and test studies the build drew."""
DEFAULT_HELD_OUT_FRACTION = 0.3
DEFAULT_SEED = 2019


def recipe_from_card(card: dict, model: Path):
    """The :class:`cxrmodel.training.demo.DemoRecipe` of the card's ``recipe`` (its split-deciding fields).

    Raises:
        CommandError: The card has no usable recipe (not a bundle built by ``demo build``).
    """
    from cxrmodel.training.demo import DemoRecipe  # noqa: PLC0415 - the phantom generator only when it runs

    recipe = card.get("recipe")
    if not isinstance(recipe, dict):
        raise CommandError(f"{model / 'card.json'} has no 'recipe' to regenerate its validation and test studies "
                           "from: give the studies to calibrate on with --studies DIR (an OpenI folder the model "
                           "was not trained on)")
    values = {}
    for name in RECIPE_FIELDS:
        value = recipe.get(name, getattr(DemoRecipe, name))
        if isinstance(value, bool) or not isinstance(value, int) or (value < 1 and name != "seed"):
            raise CommandError(f"{model / 'card.json'}: recipe '{name}' must be a positive whole number, got {value!r}")
        values[name] = value
    return DemoRecipe(**values)


def _split_probabilities(bundle, recipe) -> dict:
    """``{"validation": (p, labels), "test": (p, labels)}`` of the bundle's model on the recipe's splits."""
    from cxrmodel.training.demo import split_arrays  # noqa: PLC0415 - phantom generator and TensorFlow
    from cxrmodel.training.fit import predict_probabilities  # noqa: PLC0415

    arrays = split_arrays(recipe, bundle.config, bundle.vocabulary)
    return {name: (predict_probabilities(bundle.model, split, bundle.modality), split.labels)
            for name, split in arrays.items()}


def _studies_probabilities(bundle, arrays):
    """P(abnormal) of the bundle's model on ``arrays`` (a :class:`cxrmodel.training.fit.StudyArrays`)."""
    from cxrmodel.training.fit import predict_probabilities  # noqa: PLC0415 - TensorFlow only when it runs

    return predict_probabilities(bundle.model, arrays, bundle.modality)


def _shortfall_error(labels, where: str, hint: str) -> None:
    """Too few fitting studies for the rule is a user error: nothing is decided, calibration.json stays."""
    from cxrmodel.evaluation.calibration import calibration_shortfall  # noqa: PLC0415 - kept with the command

    shortfall = calibration_shortfall(labels)
    if shortfall is not None:
        raise CommandError(f"{where}: {shortfall}; {hint}; calibration.json is unchanged")


def _recipe_splits(bundle, model: Path) -> tuple[dict, str]:
    """Fitting and held-out probabilities of a demo-recipe bundle: its regenerated validation and test studies."""
    import numpy as np  # noqa: PLC0415 - kept with the command

    from cxrmodel.training.demo import demo_calibration_fitted_on, split_specs  # noqa: PLC0415 - phantom generator

    recipe = recipe_from_card(bundle.card, model)
    # The studies' labels are drawn before any image is rendered: the rule's minimum is checked before rendering.
    _shortfall_error([spec.label for spec in split_specs(recipe)["validation"]],
                     f"the recipe's {recipe.validation_studies} validation studies",
                     "give a larger folder with --studies")
    logger.info("regenerating %d validation and %d test studies (seed %d)", recipe.validation_studies,
                recipe.test_studies, recipe.seed)
    splits = _split_probabilities(bundle, recipe)
    test_p, test_labels = splits["test"]
    accuracy = float(np.mean((test_p >= 0.5) == (np.asarray(test_labels) == 1)))
    expected = ((bundle.card.get("metrics") or {}).get(bundle.modality) or {}).get("accuracy")
    if isinstance(expected, (int, float)) and abs(accuracy - expected) > 1.0 / len(test_p) + 1e-4:
        raise CommandError(f"the regenerated {len(test_p)} test studies give accuracy {accuracy:.4f} but the card "
                           f"says {expected}: they are not the split the bundle was measured on")
    return {"fit": splits["validation"], "held_out": splits["test"]}, demo_calibration_fitted_on(recipe)


def _folder_splits(bundle, studies: Path, held_out_fraction: float, seed: int) -> tuple[dict, str]:
    """Fitting and held-out probabilities of any bundle on a studies folder, split stratified and seeded."""
    from sklearn.model_selection import train_test_split  # noqa: PLC0415 - kept with the command

    from cxrmodel.evaluation.calibration import MINIMUM_PER_LABEL, MINIMUM_STUDIES  # noqa: PLC0415
    from cxrmodel.training.target import bundle_study_arrays  # noqa: PLC0415 - TensorFlow via training.fit
    from cxrmodel.training.target_data import data_fingerprint, load_target_dataset  # noqa: PLC0415

    if not studies.is_dir():
        raise CommandError(f"--studies {studies} is not a folder (expected an OpenI folder: ecgen-radiology/*.xml + "
                           "NLMCXR_png/*.png, or the Kaggle indiana_*.csv layout)")
    try:
        dataset = load_target_dataset(studies)
    except (FileNotFoundError, ValueError) as error:
        raise CommandError(str(error)) from error
    labels = dataset.labels
    indices = list(range(len(labels)))
    fit, held_out = train_test_split(indices, test_size=held_out_fraction, stratify=labels, random_state=seed)
    fit, held_out = sorted(fit), sorted(held_out)
    # Checked before any image is decoded: the folder size the rule needs at this held-out fraction.
    _shortfall_error(labels[fit], f"--studies {studies}: the fitting {1 - held_out_fraction:.0%} of its "
                     f"{len(labels)} studies", f"at --held-out-fraction {held_out_fraction:g} the folder needs at "
                     f"least {math.ceil(MINIMUM_STUDIES / (1 - held_out_fraction))} studies with "
                     f"{math.ceil(MINIMUM_PER_LABEL / (1 - held_out_fraction))} of each label")
    arrays = bundle_study_arrays(dataset, bundle.config, bundle.vocabulary)
    trained_on = bundle.card.get("data_fingerprint")
    if trained_on is not None and data_fingerprint(dataset, arrays.grid_images) == trained_on:
        raise CommandError(f"--studies {studies} is the folder this bundle was trained on (data fingerprint "
                           f"{trained_on}): its probabilities there measure what it memorised, not how calibrated it "
                           "is; give studies it has not seen")
    probabilities = _studies_probabilities(bundle, arrays)
    fitted_on = (f"the {len(fit)} studies of a stratified {1 - held_out_fraction:.0%} of {studies.name or studies} "
                 f"(seed {seed}); its other {len(held_out)} studies are the held-out split")
    splits = {"fit": (probabilities[fit], labels[fit]), "held_out": (probabilities[held_out], labels[held_out])}
    return splits, fitted_on


def _summary(arguments: argparse.Namespace, path: Path, document: dict, seconds: float) -> dict:
    held_out = document.get("held_out")
    cross = document["decision"].get("cross_validated")
    calibrated = document["method"] == "temperature"
    return {
        "bundle": str(arguments.model), "calibration": str(path), "calibrated": calibrated,
        **({"temperature": document["temperature"]} if calibrated else
           {"reason": document["reason"], "rejected_temperature": document.get("rejected_temperature")}),
        "fitted_count": document["fitted_count"],
        "cross_validated": None if cross is None else {key: cross[key] for key in (
            "count", "folds", "repeats", "ece_raw", "ece_calibrated")},
        "held_out": None if held_out is None else {
            "count": held_out["count"], "ece_raw": held_out["ece_raw"], "ece_calibrated": held_out["ece_calibrated"],
            "accuracy": held_out["accuracy_raw"], "nll_raw": held_out["nll_raw"],
            "nll_calibrated": held_out["nll_calibrated"]},
        "seconds": round(seconds, 1),
    }


def _command_calibrate(arguments: argparse.Namespace) -> int:
    from cxrmodel.evaluation.calibration import calibration_decision  # noqa: PLC0415
    from cxrmodel.modeling.bundle import load_bundle, write_calibration  # noqa: PLC0415

    started = time.perf_counter()
    if not arguments.model.is_dir():
        raise CommandError(f"--model {arguments.model} is not a folder (expected a model bundle such as models/demo)")
    if arguments.seed < 0:
        raise CommandError(f"--seed must be 0 or more, got {arguments.seed}")
    bundle = load_bundle(arguments.model, load_model=False)  # BundleError (a ValueError): one line, status 2
    if arguments.studies is not None:
        splits, fitted_on = _folder_splits(bundle, arguments.studies, arguments.held_out_fraction, arguments.seed)
    else:
        splits, fitted_on = _recipe_splits(bundle, arguments.model)
    document = calibration_decision(*splits["fit"], *splits["held_out"], fitted_on, bins=arguments.bins)
    path = write_calibration(arguments.model, document)
    if document["method"] == "temperature":
        logger.info("%s is calibrated: temperature %.3f", arguments.model, document["temperature"])
    else:
        logger.warning("%s is not calibrated: %s", arguments.model, document["reason"])
    print(json.dumps(_summary(arguments, path, document, time.perf_counter() - started)))
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``calibrate`` on the CLI's sub-command set."""
    parser = subparsers.add_parser(
        "calibrate", help="decide a bundle's temperature scaling (kept only with enough studies and a lower "
                          "cross-validated and held-out ECE) and write calibration.json")
    parser.add_argument("--model", type=Path, required=True, help="bundle folder")
    parser.add_argument("--studies", type=Path, default=None,
                        help="OpenI folder (XML or Kaggle CSV layout) of studies the model was not trained on; "
                             "without it, a 'demo build' bundle's validation and test studies are regenerated")
    parser.add_argument("--held-out-fraction", type=fraction_below_half, default=DEFAULT_HELD_OUT_FRACTION,
                        help="share of --studies kept aside, stratified, for the held-out reliability (default 0.3)")
    parser.add_argument("--seed", type=whole_number, default=DEFAULT_SEED,
                        help="seed of the --studies split (default 2019)")
    parser.add_argument("--bins", type=positive_int, default=10,
                        help="equal-width bins of the reliability diagram and the ECE (default 10)")
    parser.set_defaults(handler=_command_calibrate)
