"""The ``calibrate`` command: temperature scaling of a synthetic bundle, fitted on its recipe's validation studies.

    python -m cxrmodel calibrate --model models/demo [--bins 10]

For a bundle built by ``demo build`` (its ``card.json`` has the ``recipe``: seed, validation and test study
counts, phantom size), the validation studies (numbers 50,001+, used for early stopping) and the held-out test
studies (70,001+) are regenerated exactly as the build drew them (:func:`cxrmodel.training.demo.split_arrays`),
the temperature is fitted on the validation studies and measured on the test studies, and the bundle's
``calibration.json`` is written (:func:`cxrmodel.modeling.bundle.write_calibration`; the bundle's fingerprint,
and with it every cached explanation, stays valid). A regenerated test split whose accuracy differs from the
card's by more than one study is refused: it would not be the split the card describes. ``train`` writes
calibration.json itself.

Prints one JSON line: ``{"bundle", "temperature", "fitted_count", "held_out": {"count", "ece_raw",
"ece_calibrated", "accuracy", "nll_raw", "nll_calibrated"}, "seconds"}``. User errors exit with status 2 and one
line on stderr.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

from cxrmodel.cli._common import CommandError, positive_int

logger = logging.getLogger(__name__)

RECIPE_FIELDS = ("seed", "validation_studies", "test_studies", "image_width", "image_height")
"""The card's recipe fields that decide which validation and test studies the build drew."""


def recipe_from_card(card: dict, model: Path):
    """The :class:`cxrmodel.training.demo.DemoRecipe` of the card's ``recipe`` (its split-deciding fields).

    Raises:
        CommandError: The card has no usable recipe (not a bundle built by ``demo build``).
    """
    from cxrmodel.training.demo import DemoRecipe  # noqa: PLC0415 - the phantom generator only when it runs

    recipe = card.get("recipe")
    if not isinstance(recipe, dict):
        raise CommandError(f"{model / 'card.json'} has no 'recipe': calibrate regenerates the validation and test "
                           "studies of a 'demo build' bundle; a bundle written by 'train' is calibrated by train")
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
    return {name: (predict_probabilities(bundle.model, split, "multimodal"), split.labels)
            for name, split in arrays.items()}


def _command_calibrate(arguments: argparse.Namespace) -> int:
    import numpy as np  # noqa: PLC0415 - kept with the command

    from cxrmodel.evaluation.calibration import calibration_document  # noqa: PLC0415
    from cxrmodel.modeling.bundle import load_bundle, write_calibration  # noqa: PLC0415
    from cxrmodel.training.demo import demo_calibration_fitted_on  # noqa: PLC0415

    started = time.perf_counter()
    if not arguments.model.is_dir():
        raise CommandError(f"--model {arguments.model} is not a folder (expected a model bundle such as models/demo)")
    bundle = load_bundle(arguments.model, load_model=False)  # BundleError (a ValueError): one line, status 2
    recipe = recipe_from_card(bundle.card, arguments.model)
    logger.info("regenerating %d validation and %d test studies (seed %d)", recipe.validation_studies,
                recipe.test_studies, recipe.seed)
    splits = _split_probabilities(bundle, recipe)
    test_p, test_labels = splits["test"]
    accuracy = float(np.mean((test_p >= 0.5) == (np.asarray(test_labels) == 1)))
    expected = ((bundle.card.get("metrics") or {}).get("multimodal") or {}).get("accuracy")
    if isinstance(expected, (int, float)) and abs(accuracy - expected) > 1.0 / len(test_p) + 1e-4:
        raise CommandError(f"the regenerated {len(test_p)} test studies give accuracy {accuracy:.4f} but the card "
                           f"says {expected}: they are not the split the bundle was measured on")
    document = calibration_document(*splits["validation"], test_p, test_labels, demo_calibration_fitted_on(recipe),
                                    bins=arguments.bins)
    path = write_calibration(arguments.model, document)
    held_out = document["held_out"]
    print(json.dumps({
        "bundle": str(arguments.model), "calibration": str(path), "temperature": document["temperature"],
        "fitted_count": document["fitted_count"],
        "held_out": {"count": held_out["count"], "ece_raw": held_out["ece_raw"],
                     "ece_calibrated": held_out["ece_calibrated"], "accuracy": held_out["accuracy_raw"],
                     "nll_raw": held_out["nll_raw"], "nll_calibrated": held_out["nll_calibrated"]},
        "seconds": round(time.perf_counter() - started, 1),
    }))
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``calibrate`` on the CLI's sub-command set."""
    parser = subparsers.add_parser(
        "calibrate", help="fit temperature scaling of a demo-recipe bundle on its validation studies and write "
                          "calibration.json (held-out reliability from its test studies)")
    parser.add_argument("--model", type=Path, required=True, help="bundle folder built by 'demo build'")
    parser.add_argument("--bins", type=positive_int, default=10,
                        help="equal-width bins of the reliability diagram and the ECE (default 10)")
    parser.set_defaults(handler=_command_calibrate)
