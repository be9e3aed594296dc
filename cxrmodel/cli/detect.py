"""The `detect` command: circles of a stored attribution map, printed as JSON (never imports TensorFlow).

    python -m cxrmodel detect --attributions IN.npz [--threshold 0.70] [--distance PX] [--min-points 2] --json

Reads the `image_attribution` array of any .npz (a 2-D map, rows = y, columns = x), runs
`cxrmodel.detection.circles.detect_circles` and prints

    {"circles": [{"x", "y", "r", "points", "mass"}, ...], "signals": N, "timing_ms": {"detection": ms}}

with x = column index, y = row index and r in pixels of that array's own grid (the caller maps them to image
coordinates). Without --json it prints the same as readable lines. A bad input (missing file, not an .npz, no
`image_attribution` array, not 2-D, a threshold outside [0, 1], ...) ends with exit status 2 and one line on
stderr, never a traceback.

`cxrmodel.cli.main` registers the command with `add_parser(subparsers)`.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
import zipfile
from pathlib import Path

import numpy as np

from cxrmodel.cli._common import USER_ERROR_STATUS
from cxrmodel.detection import (
    DEFAULT_MIN_POINTS,
    DEFAULT_SIGHT_SENSITIVITY,
    Detection,
    detect_circles,
    load_compiled_detection,
)

ATTRIBUTION_KEY = "image_attribution"


class DetectInputError(Exception):
    """A problem with the command's input that the user can fix; printed as one line, exit status 2."""


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register the `detect` command on an argparse sub-command set; its handler is `run_detect`.

    Numbers are parsed by `run_detect`, not by argparse, so that a bad value gets the command's one-line
    error instead of argparse's usage text.
    """
    parser = subparsers.add_parser(
        "detect",
        help="circles of an attribution map (.npz with image_attribution), as JSON",
        description=(
            "Group the strongest pixels of an attribution map into circles (single linkage) and print them. "
            "Coordinates are pixels of the map's own grid: x = column index, y = row index."
        ),
    )
    parser.add_argument(
        "--attributions", required=True, metavar="IN.npz", help=f"a .npz holding a 2-D `{ATTRIBUTION_KEY}` array"
    )
    parser.add_argument(
        "--threshold",
        default=str(DEFAULT_SIGHT_SENSITIVITY),
        metavar="TAU",
        help=f"sight sensitivity in [0, 1], a fraction of the strongest pixel (default {DEFAULT_SIGHT_SENSITIVITY})",
    )
    parser.add_argument(
        "--distance", default=None, metavar="PX", help="link distance in map pixels (default 10 * width / 224)"
    )
    parser.add_argument(
        "--min-points",
        default=str(DEFAULT_MIN_POINTS),
        metavar="N",
        help=f"fewest signal pixels a circle needs (default {DEFAULT_MIN_POINTS})",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object (default: readable lines)")
    parser.set_defaults(handler=run_detect)
    return parser


def _number(text: str, option: str) -> float:
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise DetectInputError(f"{option} expects a number, got {text!r}") from None
    if not math.isfinite(value):
        raise DetectInputError(f"{option} expects a finite number, got {text!r}")
    return value


def _whole_number(text: str, option: str) -> int:
    try:
        return int(text)
    except (TypeError, ValueError):
        raise DetectInputError(f"{option} expects a whole number, got {text!r}") from None


def load_attribution(path: Path) -> np.ndarray:
    """The `image_attribution` array of a .npz file; DetectInputError with a one-line reason otherwise."""
    name = str(path)
    try:
        with open(path, "rb") as stream:
            magic = stream.read(6)
    except FileNotFoundError:
        raise DetectInputError(f"attribution file {name!r} does not exist") from None
    except OSError as error:  # a directory, no permission, ...
        raise DetectInputError(f"cannot read attribution file {name!r} ({error.strerror or error})") from None
    if magic.startswith(b"\x93NUMPY"):
        raise DetectInputError(f"{name!r} is a single .npy array, not an .npz archive (numpy.savez writes those)")
    if not magic.startswith(b"PK"):
        raise DetectInputError(f"{name!r} is not an .npz archive (numpy.savez writes those)")
    try:
        archive = np.load(path, allow_pickle=False)
        try:
            if ATTRIBUTION_KEY not in archive.files:
                found = ", ".join(archive.files) or "none"
                raise DetectInputError(f"{name!r} has no {ATTRIBUTION_KEY!r} array (arrays found: {found})")
            return archive[ATTRIBUTION_KEY]
        finally:
            archive.close()
    except DetectInputError:
        raise
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as error:
        reason = str(error).splitlines()[0] if str(error).strip() else type(error).__name__
        raise DetectInputError(f"{name!r} is not a readable .npz archive ({reason})") from None


def _print_readable(detection: Detection, milliseconds: float) -> None:
    print(f"{detection.signals} signal pixels, {len(detection.circles)} circles ({milliseconds:.2f} ms)")
    for circle in detection.circles:
        print(
            f"  x={circle.x:.2f} y={circle.y:.2f} r={circle.r:.2f} points={circle.points} mass={circle.mass:.4f}"
        )


def run_detect(arguments: argparse.Namespace) -> int:
    """Run the `detect` command; returns the exit status (0, or 2 after one line on stderr)."""
    try:
        sight_sensitivity = _number(arguments.threshold, "--threshold")
        if not 0.0 <= sight_sensitivity <= 1.0:
            raise DetectInputError(
                f"--threshold must be in [0, 1] (a fraction of the strongest pixel), got {arguments.threshold}"
            )
        link_distance = None if arguments.distance is None else _number(arguments.distance, "--distance")
        min_points = _whole_number(arguments.min_points, "--min-points")
        attribution = load_attribution(Path(arguments.attributions))
        load_compiled_detection()  # timing_ms is the detection, not loading its compiled code
        started = time.perf_counter()
        detection = detect_circles(attribution, sight_sensitivity, link_distance, min_points)
        milliseconds = (time.perf_counter() - started) * 1000.0
    except (DetectInputError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return USER_ERROR_STATUS
    if arguments.json:
        result = detection.to_dict()
        result["timing_ms"] = {"detection": round(milliseconds, 3)}
        print(json.dumps(result))
    else:
        _print_readable(detection, milliseconds)
    return 0
