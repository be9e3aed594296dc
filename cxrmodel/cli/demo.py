"""The ``demo build|baseline|selection`` and ``synthetic`` commands: the bundled demo and synthetic OpenI studies.

    python -m cxrmodel demo build [--model-output DIR] [--studies-output DIR] [--seed S] [--training-studies N]
        [--validation-studies N] [--test-studies N] [--image-size S] [--epochs E]
    python -m cxrmodel demo build-single-modality [--model-output DIR] [--seed S] [...the same recipe options]
    python -m cxrmodel demo baseline [--model-output DIR] [--seed S]
    python -m cxrmodel demo selection --output DIR [--seed S]
    python -m cxrmodel synthetic --output DIR [--count N] [--seed S] [--first-number N] [--width W] [--height H]

``synthetic`` lives here rather than with ``data fetch-*`` because it writes the same kind of data as ``demo``
(synthetic studies in the OpenI layout, with masks, by :func:`cxrmodel.data.synthetic.studies.write_openi_dataset`)
and follows ``demo`` in ``--help``. Each command prints one JSON line on stdout: that line is its product.
:func:`cxrmodel.cli.main.build_parser` registers them with :func:`add_parsers`; the training and phantom code is
imported when a command runs, so ``--help`` loads no TensorFlow.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from cxrmodel.cli._common import SEED_HELP, output_folder, positive_int


def _demo_recipe(arguments: argparse.Namespace):
    from cxrmodel.training.demo import DemoRecipe  # noqa: PLC0415 - TensorFlow only when training
    from cxrmodel.training.fit import TrainingSchedule  # noqa: PLC0415

    schedule = TrainingSchedule()
    if arguments.epochs:
        schedule = TrainingSchedule(
            image_epochs=arguments.epochs,
            text_epochs=arguments.epochs,
            head_epochs=max(1, arguments.epochs // 4),
            multimodal_epochs=max(1, arguments.epochs // 3),
        )
    return DemoRecipe(
        seed=arguments.seed,
        training_studies=arguments.training_studies,
        validation_studies=arguments.validation_studies,
        test_studies=arguments.test_studies,
        image_size=arguments.image_size,
        schedule=schedule,
    )


def _command_demo_build(arguments: argparse.Namespace) -> int:
    from cxrmodel.training.demo import build_demo  # noqa: PLC0415 - TensorFlow only when training

    card = build_demo(Path(arguments.model_output), Path(arguments.studies_output), _demo_recipe(arguments))
    print(json.dumps({"metrics": card["metrics"], "build_seconds": card["build_seconds"]}))
    return 0


def _command_demo_build_single_modality(arguments: argparse.Namespace) -> int:
    from cxrmodel.training.demo import build_single_modality_demo  # noqa: PLC0415 - TensorFlow only when training

    written = build_single_modality_demo(Path(arguments.model_output), _demo_recipe(arguments))
    print(json.dumps({"bundles": written}))
    return 0


def _command_demo_baseline(arguments: argparse.Namespace) -> int:
    from cxrmodel.training.demo import DemoRecipe, write_mean_normal_baseline  # noqa: PLC0415 - the training code only when the command runs

    write_mean_normal_baseline(Path(arguments.model_output), DemoRecipe(seed=arguments.seed))
    print(json.dumps({"image_baseline": str(Path(arguments.model_output) / "image_baseline.png")}))
    return 0


def _command_demo_selection(arguments: argparse.Namespace) -> int:
    from cxrmodel.data.synthetic.studies import write_openi_dataset  # noqa: PLC0415 - the phantom renderer only when writing studies
    from cxrmodel.training.demo import DemoRecipe, selection_study_specs  # noqa: PLC0415

    recipe = DemoRecipe(seed=arguments.seed)
    written = write_openi_dataset(arguments.output, selection_study_specs(recipe), recipe.seed,
                                  recipe.image_width, recipe.image_height)
    print(json.dumps({"studies": len(written), "output": str(arguments.output)}))
    return 0


def _command_synthetic(arguments: argparse.Namespace) -> int:
    from cxrmodel.data.synthetic.studies import sample_study_spec, write_openi_dataset  # noqa: PLC0415 - the phantom renderer only when writing studies

    specs = [sample_study_spec(arguments.first_number + index, arguments.seed) for index in range(arguments.count)]
    truth = write_openi_dataset(arguments.output, specs, arguments.seed, arguments.width, arguments.height)
    abnormal = sum(record["label"] for record in truth)
    print(json.dumps({"studies": len(truth), "abnormal": abnormal, "output": str(arguments.output)}))
    return 0


def _add_demo_parser(subparsers: argparse._SubParsersAction) -> None:
    demo = subparsers.add_parser("demo", help="the bundled demo model and studies")
    demo_commands = demo.add_subparsers(dest="demo_command", metavar="DEMO_COMMAND")
    build = demo_commands.add_parser(
        "build", help="regenerate synthetic data, train, write models/demo and studies/demo (about 20 min on 2 cores)"
    )
    single = demo_commands.add_parser(
        "build-single-modality",
        help="retrain only the demo's text-only and image-only comparison models (same recipe and split) and write "
             "them to MODEL_OUTPUT/text-only and MODEL_OUTPUT/image-only",
    )
    for parser in (build, single):
        parser.add_argument("--model-output", default="models/demo", help="bundle directory to write")
        parser.add_argument("--seed", type=int, default=2019, help=SEED_HELP)
        parser.add_argument("--training-studies", type=positive_int, default=2000,
                            help="synthetic studies the models are trained on")
        parser.add_argument("--validation-studies", type=positive_int, default=300,
                            help="synthetic studies for early stopping and calibration")
        parser.add_argument("--test-studies", type=positive_int, default=400,
                            help="held-out synthetic studies of the card's metrics")
        parser.add_argument("--image-size", type=positive_int, default=160, help="model grid side in pixels")
        parser.add_argument("--epochs", type=positive_int, default=None, help="override the epochs of every stage")
    build.add_argument("--studies-output", default="studies/demo", help="demo studies directory to write")
    build.set_defaults(handler=_command_demo_build)
    single.set_defaults(handler=_command_demo_build_single_modality)
    baseline = demo_commands.add_parser(
        "baseline", help="(re)write the demo bundle's mean-normal image baseline from its training recipe"
    )
    baseline.add_argument("--model-output", default="models/demo", help="bundle directory to update")
    baseline.add_argument("--seed", type=int, default=2019, help=SEED_HELP)
    baseline.set_defaults(handler=_command_demo_baseline)
    selection = demo_commands.add_parser(
        "selection", help="write the selection set (45 synthetic studies with masks, disjoint from the demo studies) "
        "used to choose explanation settings such as the map smoothing"
    )
    selection.add_argument("--output", type=output_folder, required=True, help="folder to write (created)")
    selection.add_argument("--seed", type=int, default=2019, help=SEED_HELP)
    selection.set_defaults(handler=_command_demo_selection)


def _add_synthetic_parser(subparsers: argparse._SubParsersAction) -> None:
    synthetic = subparsers.add_parser("synthetic", help="write synthetic studies in the OpenI layout with masks")
    synthetic.add_argument("--output", type=output_folder, required=True, help="folder to write (created)")
    synthetic.add_argument("--count", type=positive_int, default=100, help="number of studies")
    synthetic.add_argument("--seed", type=int, default=0, help=SEED_HELP)
    synthetic.add_argument("--first-number", type=positive_int, default=1, help="number of the first CXR<n>")
    synthetic.add_argument("--width", type=positive_int, default=480, help="image width in pixels")
    synthetic.add_argument("--height", type=positive_int, default=512, help="image height in pixels")
    synthetic.set_defaults(handler=_command_synthetic)


def add_parsers(subparsers: argparse._SubParsersAction) -> None:
    """Register ``demo`` (with ``build``, ``baseline``, ``selection``) and ``synthetic``, in that order.

    Args:
        subparsers: The CLI's sub-command set (``ArgumentParser.add_subparsers()``).
    """
    _add_demo_parser(subparsers)
    _add_synthetic_parser(subparsers)
