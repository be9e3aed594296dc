"""The ``trust-profile`` command: fit (or refit) a bundle's trust profile from a studies folder.

    python -m cxrmodel trust-profile --model BUNDLE --studies DIR [--output FOLDER] [--validation-fraction 0.1]
                                     [--seed 2019]

The folder's frontal films (OpenI XML or Kaggle CSV layout, as ``train`` reads them) are put on the bundle's model
grid; a seeded random ``--validation-fraction`` of them is held apart to check the profile, the rest fit it by the
rule of :mod:`cxrmodel.imaging.trust_profile`. Without ``--output`` the profile goes into the bundle (and its card
records it), replacing the one ``train`` wrote; with ``--output`` it goes into that folder and the bundle is left
as it is: give it to the dashboard or to ``explain``/``predict`` with ``--trust-profile FOLDER``. The films should
be the kind the model is meant to judge, ideally the ones it was trained on.

Prints one JSON line: ``{"bundle", "profile" (folder written, or null), "fitted", "counts", "thresholds",
"warnings", "reason" (when not fitted), "seconds"}``. User errors exit with status 2 and one line on stderr.
"""

from __future__ import annotations

import argparse
import json
import time

from cxrmodel.cli._common import CommandError, existing_directory, fraction_below_half, output_folder

DEFAULT_VALIDATION_FRACTION = 0.1
DEFAULT_SEED = 2019


def _command_trust_profile(arguments: argparse.Namespace) -> int:
    import numpy as np  # noqa: PLC0415 - kept with the command

    from cxrmodel.modeling.bundle import load_bundle  # noqa: PLC0415
    from cxrmodel.training.target_data import decode_target_images, load_target_dataset  # noqa: PLC0415
    from cxrmodel.training.trust import write_bundle_trust_profile  # noqa: PLC0415

    started = time.perf_counter()
    bundle = load_bundle(arguments.model, load_model=False)  # BundleError (a ValueError): one line, status 2
    if not bundle.reads_image:
        raise CommandError(f"{arguments.model} is a text-only model: it reads no film, so it has no trust profile")
    dataset = load_target_dataset(arguments.studies)
    grids = decode_target_images(dataset, bundle.config.image_size)
    order = np.random.default_rng(arguments.seed).permutation(len(grids))
    held = int(round(len(grids) * arguments.validation_fraction))
    validation, training = order[:held], order[held:]
    fitted_on = (f"{len(training)} films of {dataset.root.name or dataset.root} (trust-profile, seed "
                 f"{arguments.seed}); checked on {len(validation)} more")
    record = write_bundle_trust_profile(arguments.model, grids[training], grids[validation], fitted_on,
                                        target=arguments.output)
    written = arguments.output or arguments.model
    print(json.dumps({"bundle": str(arguments.model), "profile": str(written) if record["fitted"] else None,
                      **record, "seconds": round(time.perf_counter() - started, 1)}))
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``trust-profile`` on the CLI's sub-command set."""
    parser = subparsers.add_parser(
        "trust-profile", help="fit which films a bundle can judge (its trust profile) from a studies folder")
    parser.add_argument("--model", type=existing_directory, required=True, help="model bundle folder")
    parser.add_argument("--studies", type=existing_directory, required=True,
                        help="OpenI folder (XML or Kaggle CSV layout) of the films the model is meant to judge")
    parser.add_argument("--output", type=output_folder, default=None, metavar="FOLDER",
                        help="write the profile here instead of into the bundle (use it with --trust-profile)")
    parser.add_argument("--validation-fraction", type=fraction_below_half, default=DEFAULT_VALIDATION_FRACTION,
                        help="share of the films held apart to check the profile (default "
                             f"{DEFAULT_VALIDATION_FRACTION})")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED,
                        help=f"seed of the validation draw (default {DEFAULT_SEED})")
    parser.set_defaults(handler=_command_trust_profile)
