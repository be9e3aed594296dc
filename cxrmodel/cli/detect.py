"""The `detect` command: circles of a stored attribution map, printed as JSON (never imports TensorFlow).

    python -m cxrmodel detect --attributions IN.npz [--threshold 0.70] [--distance PX] [--min-points 2]
        [--coordinates image|grid] --json

Reads the `image_attribution` array of any .npz (a 2-D map, rows = y, columns = x), runs
`cxrmodel.detection.circles.detect_circles` and prints

    {"circles": [{"x", "y", "r", "points", "mass"}, ...], "signals": N, "coordinates": "image" | "grid",
     "timing_ms": {"detection": ms}}

with x = column, y = row and r in pixels of the original image when the file carries the grid-to-image mapping
(`mapping_scale`, `mapping_offset_x`, `mapping_offset_y`, `mapping_image_width`, `mapping_image_height`,
`mapping_grid_size`, the fields of `cxrmodel.imaging.GridMapping`, as `explain --save-attributions` writes them),
so the circles are the ones `explain` prints; else, or with `--coordinates grid`, in pixels of the map's own grid
(x = column index, y = row index). `coordinates` says which. `--distance` is always in map pixels (the detection
runs on the map). Without --json it prints the same as readable lines, the first naming the coordinates. A bad
input (missing file, not an .npz, no `image_attribution` array, not 2-D, a threshold outside [0, 1], an incomplete
or inconsistent mapping, `--coordinates image` for a file without one, ...) ends with exit status 2 and one line on
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
    Circle,
    Detection,
    circles_to_image,
    detect_circles,
    load_compiled_detection,
)

ATTRIBUTION_KEY = "image_attribution"

MAPPING_PREFIX = "mapping_"
"""Keys of the grid-to-image mapping in the .npz: this prefix + each field of `cxrmodel.imaging.GridMapping`
(written by `cxrmodel.explain.attribution_arrays`)."""

MAPPING_FIELDS = ("scale", "offset_x", "offset_y", "image_width", "image_height", "grid_size")

IMAGE_COORDINATES = "image"
GRID_COORDINATES = "grid"
_COORDINATE_WORDS = {IMAGE_COORDINATES: "original-image pixels", GRID_COORDINATES: "map (model-grid) pixels"}


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
            "Group the strongest pixels of an attribution map into circles (single linkage) and print them "
            "(x = column, y = row). Coordinates are original-image pixels when the file carries the grid-to-image "
            "mapping (explain --save-attributions writes it), else pixels of the map's own grid; the output's "
            "'coordinates' says which."
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
    parser.add_argument(
        "--coordinates",
        default=None,
        metavar="image|grid",
        help="'image': original-image pixels (needs the mapping in the file); 'grid': map pixels "
        "(default: image when the file has the mapping, else grid)",
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
    return load_attribution_file(path)[0]


def load_attribution_file(path: Path) -> tuple[np.ndarray, dict[str, float | int] | None]:
    """The `image_attribution` array of a .npz file and its grid-to-image mapping fields (None when absent).

    Raises:
        DetectInputError: With a one-line reason (not a readable .npz, no map, an incomplete mapping).
    """
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
            keys = [MAPPING_PREFIX + field for field in MAPPING_FIELDS]
            present = [key for key in keys if key in archive.files]
            if present and len(present) < len(keys):
                missing = ", ".join(key for key in keys if key not in archive.files)
                raise DetectInputError(f"{name!r} has an incomplete grid-to-image mapping (missing: {missing})")
            mapping = {key[len(MAPPING_PREFIX) :]: archive[key] for key in present} or None
            return archive[ATTRIBUTION_KEY], (None if mapping is None else _mapping_fields(mapping, name))
        finally:
            archive.close()
    except DetectInputError:
        raise
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as error:
        reason = str(error).splitlines()[0] if str(error).strip() else type(error).__name__
        raise DetectInputError(f"{name!r} is not a readable .npz archive ({reason})") from None


def _mapping_fields(arrays: dict[str, np.ndarray], name: str) -> dict[str, float | int]:
    """Plain numbers from the mapping arrays: finite, scale > 0, positive whole sizes."""
    fields: dict[str, float | int] = {}
    for field, array in arrays.items():
        if array.shape != () or not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
            raise DetectInputError(f"{name!r}: {MAPPING_PREFIX}{field} must be a single number, got {array!r}")
        value = array.item()
        if not math.isfinite(value):
            raise DetectInputError(f"{name!r}: {MAPPING_PREFIX}{field} must be finite, got {value}")
        if field in ("image_width", "image_height", "grid_size"):
            if value != int(value) or value < 1:
                raise DetectInputError(f"{name!r}: {MAPPING_PREFIX}{field} must be a whole number >= 1, got {value}")
            value = int(value)
        fields[field] = value
    if fields["scale"] <= 0:
        raise DetectInputError(f"{name!r}: {MAPPING_PREFIX}scale must be > 0, got {fields['scale']}")
    return fields


def _coordinates(option: str | None, mapping: dict | None, attribution: np.ndarray, name: str) -> str:
    """Which coordinates to print, checked against the file."""
    if option not in (None, IMAGE_COORDINATES, GRID_COORDINATES):
        raise DetectInputError(f"--coordinates expects 'image' or 'grid', got {option!r}")
    if option == IMAGE_COORDINATES and mapping is None:
        raise DetectInputError(
            f"--coordinates image: {name!r} has no grid-to-image mapping (explain --save-attributions writes one; "
            "older files have none); use --coordinates grid"
        )
    coordinates = option or (IMAGE_COORDINATES if mapping is not None else GRID_COORDINATES)
    if coordinates == IMAGE_COORDINATES and np.ndim(attribution) == 2:
        size = mapping["grid_size"]
        if attribution.shape != (size, size):
            raise DetectInputError(
                f"{name!r}: the mapping is for a {size} x {size} grid but the map is "
                f"{attribution.shape[1]} x {attribution.shape[0]}"
            )
    return coordinates


def _to_image(circles: list[Circle], fields: dict[str, float | int]) -> list[Circle]:
    from cxrmodel.imaging.grid import GridMapping  # noqa: PLC0415 - only for a file with a mapping (imports scipy.stats)

    return circles_to_image(circles, GridMapping(**fields))


def _print_readable(detection: Detection, milliseconds: float, coordinates: str) -> None:
    print(
        f"{detection.signals} signal pixels, {len(detection.circles)} circles ({milliseconds:.2f} ms); "
        f"coordinates: {_COORDINATE_WORDS[coordinates]}"
    )
    for circle in detection.circles:
        print(
            f"  x={circle.x:.2f} y={circle.y:.2f} r={circle.r:.2f} points={circle.points} mass={100 * circle.mass:.1f}%"
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
        attribution, mapping = load_attribution_file(Path(arguments.attributions))
        option = getattr(arguments, "coordinates", None)
        coordinates = _coordinates(option, mapping, attribution, arguments.attributions)
        load_compiled_detection()  # timing_ms is the detection, not loading its compiled code
        started = time.perf_counter()
        detection = detect_circles(attribution, sight_sensitivity, link_distance, min_points)
        milliseconds = (time.perf_counter() - started) * 1000.0
        if coordinates == IMAGE_COORDINATES:
            detection = Detection(circles=_to_image(detection.circles, mapping), signals=detection.signals)
    except (DetectInputError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return USER_ERROR_STATUS
    if arguments.json:
        result = detection.to_dict()
        result["coordinates"] = coordinates
        result["timing_ms"] = {"detection": round(milliseconds, 3)}
        print(json.dumps(result))
    else:
        _print_readable(detection, milliseconds, coordinates)
    return 0
