"""The ``synthetic-chestxray14`` and ``pretrain-image`` commands (transfer-learning stage 1).

    python -m cxrmodel synthetic-chestxray14 --output DIR --count N [--seed S] [--width W --height H]
    python -m cxrmodel pretrain-image --chestxray14 DIR --output DIR [--backbone compact|densenet121|...]
        [--image-size S] [--epochs E] [--batch-size B] [--seed S] [--image-weights CHEXNET.h5] [--limit N]

Both print one JSON line on stdout; progress goes to stderr (a bar counting the epochs; with ``-v`` one log line
per epoch and Keras' per-batch bar). ``pretrain-image`` keeps the encoder of the best validation
epoch. `cxrmodel.cli.main` registers them with :func:`add_parsers`.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from cxrmodel.cli._common import SEED_HELP, CommandError, DeprecatedOption, whole_number

PHANTOM_SIZE_RANGE = (128, 1024)


def _command_synthetic_chestxray14(arguments: argparse.Namespace) -> int:
    from cxrmodel.data.synthetic.chestxray14 import write_chestxray14_dataset  # noqa: PLC0415 - the phantom renderer only when writing images

    low, high = PHANTOM_SIZE_RANGE
    for name in ("count", "first_number"):
        if getattr(arguments, name) < 1:
            raise CommandError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(arguments, name)}")
    for name in ("width", "height"):
        if not low <= getattr(arguments, name) <= high:
            raise CommandError(f"--{name} must be between {low} and {high} pixels, got {getattr(arguments, name)}")
    if arguments.output.exists() and not arguments.output.is_dir():
        raise CommandError(f"--output {arguments.output} exists and is not a folder")
    summary = write_chestxray14_dataset(arguments.output, arguments.count, arguments.seed, width=arguments.width,
                                        height=arguments.height, first_number=arguments.first_number)
    print(json.dumps(summary))
    return 0


def _command_pretrain_image(arguments: argparse.Namespace) -> int:
    from cxrmodel.training.pretrain import PretrainSettings, pretrain_image_encoder  # noqa: PLC0415 - TensorFlow only when training

    if arguments.chestxray14 is None:
        raise CommandError("pretrain-image needs its images: --chestxray14 FOLDER")
    if not arguments.chestxray14.is_dir():
        raise CommandError(f"--chestxray14 {arguments.chestxray14} is not a folder (expected a ChestX-ray14-format "
                           "folder with Data_Entry_2017.csv and images/)")
    if arguments.output.exists() and not arguments.output.is_dir():
        raise CommandError(f"--output {arguments.output} exists and is not a folder")
    if arguments.image_weights is not None and not arguments.image_weights.is_file():
        raise CommandError(f"--image-weights {arguments.image_weights} does not exist")
    settings = PretrainSettings(
        backbone=arguments.backbone,
        image_size=arguments.image_size,
        epochs=arguments.epochs,
        batch_size=arguments.batch_size,
        seed=arguments.seed,
        learning_rate=arguments.learning_rate,
        limit=arguments.limit,
        frontal_only=arguments.frontal_only,
        image_weights=str(arguments.image_weights.resolve()) if arguments.image_weights else None,
    )
    result = pretrain_image_encoder(arguments.chestxray14, arguments.output, settings, verbose=arguments.verbose)
    shown = ("best_epoch", "val_auc_mean", "val_auc", "n_train", "n_validation", "reused", "resumed_from_epoch",
             "wall_seconds")  # best_epoch: null for an output written before the best epoch was kept
    print(json.dumps({key: result.get(key) for key in shown}
                     | {"output": str(arguments.output), "epochs": len(result["history"])}))
    return 0


def add_parsers(subparsers: argparse._SubParsersAction) -> None:
    """Register ``synthetic-chestxray14`` and ``pretrain-image`` on the CLI's sub-command set."""
    synthetic = subparsers.add_parser(
        "synthetic-chestxray14",
        help="write a synthetic pre-training set in the NIH ChestX-ray14 layout (Data_Entry_2017.csv, images/)",
    )
    synthetic.add_argument("--output", type=Path, required=True, help="folder to write (created)")
    synthetic.add_argument("--count", type=whole_number, default=1000, help="number of images")
    synthetic.add_argument("--seed", type=int, default=0, help=SEED_HELP)
    synthetic.add_argument("--first-number", type=whole_number, default=1, help="patient number of the first image")
    synthetic.add_argument("--width", type=whole_number, default=256, help="image width in pixels (128-1024)")
    synthetic.add_argument("--height", type=whole_number, default=256, help="image height in pixels (128-1024)")
    synthetic.set_defaults(handler=_command_synthetic_chestxray14)

    pretrain = subparsers.add_parser(
        "pretrain-image",
        help="pre-train the image encoder on a ChestX-ray14-format folder (14 findings, sigmoid); resumable",
    )
    # --dataset names a data set in evaluate and evaluate-words; here the folder is named by its format.
    pretrain.add_argument("--chestxray14", type=Path, default=None, metavar="FOLDER",
                          help="ChestX-ray14-format folder: Data_Entry_2017.csv (or the v2020 file) and images/ "
                               "(required)")
    pretrain.add_argument("--dataset", dest="chestxray14", type=Path, metavar="FOLDER", action=DeprecatedOption,
                          replacement="--chestxray14")
    pretrain.add_argument("--output", type=Path, required=True, help="folder for the encoder, config and metrics")
    pretrain.add_argument("--backbone", default="compact",
                          help="compact (small CNN, trains on a CPU) or a keras.applications backbone of "
                               "cxrmodel.modeling.builders.BACKBONES, e.g. densenet121 (the paper's)")
    pretrain.add_argument("--image-size", type=whole_number, default=224, help="model grid side in pixels")
    pretrain.add_argument("--epochs", type=whole_number, default=5,
                          help="epochs; the encoder of the best validation epoch is kept")
    pretrain.add_argument("--batch-size", type=whole_number, default=32, help="images per gradient step")
    pretrain.add_argument("--learning-rate", type=float, default=1e-3, help="Adam learning rate")
    pretrain.add_argument("--seed", type=int, default=2019, help=SEED_HELP)
    pretrain.add_argument("--limit", type=whole_number, default=None, help="use only the first N images")
    pretrain.add_argument("--frontal-only", action="store_true", help="keep only PA/AP films")
    pretrain.add_argument("--image-weights", type=Path, default=None, metavar="CHEXNET.h5",
                          help="start from CheXNet Keras weights (needs --backbone densenet121 --image-size 224)")
    pretrain.set_defaults(handler=_command_pretrain_image)
