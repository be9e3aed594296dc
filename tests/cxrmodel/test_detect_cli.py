"""Tests for the `detect` command (cxrmodel.cli.detect): JSON circles of a stored map, one-line errors, no TF.

The command is driven through an argparse parser built with `add_parser`, exactly as cxrmodel.cli.main
registers it, both in-process and once in a subprocess that also checks TensorFlow was never imported.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cxrmodel.cli.detect import add_parser, run_detect
from cxrmodel.detection import circles_to_image, detect_circles
from cxrmodel.imaging import GridMapping

REPOSITORY = Path(__file__).resolve().parents[2]


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m cxrmodel")
    add_parser(parser.add_subparsers(dest="command"))
    return parser


def run(argv: list[str]) -> int:
    arguments = make_parser().parse_args(["detect", *argv])
    assert arguments.handler is run_detect
    return arguments.handler(arguments)


def attribution_map() -> np.ndarray:
    """A 40 x 60 map: two blobs (one strong, one weak) on fine noise; rows = y, columns = x."""
    rng = np.random.default_rng(0)
    ys, xs = np.mgrid[0:40, 0:60].astype(float)
    blobs = np.exp(-((ys - 10) ** 2 + (xs - 45) ** 2) / 18) + 0.6 * np.exp(-((ys - 28) ** 2 + (xs - 12) ** 2) / 8)
    return blobs + 0.02 * rng.standard_normal((40, 60))


@pytest.fixture
def npz_file(tmp_path: Path) -> Path:
    path = tmp_path / "attribution.npz"
    np.savez(path, image_attribution=attribution_map(), text_attribution=np.zeros(7))
    return path


def test_json_output_is_the_detection_in_map_coordinates(npz_file, capsys):
    assert run(["--attributions", str(npz_file), "--threshold", "0.4", "--distance", "3", "--json"]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    result = json.loads(captured.out)
    expected = detect_circles(attribution_map(), 0.4, 3.0, 2)
    assert list(result) == ["circles", "signals", "coordinates", "timing_ms"]
    assert result["coordinates"] == "grid"  # a file without the grid-to-image mapping (as before it existed)
    assert result["circles"] == [circle.to_dict() for circle in expected.circles]
    assert result["signals"] == expected.signals
    assert result["timing_ms"]["detection"] >= 0
    strongest = result["circles"][0]
    assert set(strongest) == {"x", "y", "r", "points", "mass"}
    assert strongest["x"] == pytest.approx(45, abs=1) and strongest["y"] == pytest.approx(10, abs=1)  # x = column


def test_defaults_are_the_papers_threshold_and_distance(npz_file, capsys):
    assert run(["--attributions", str(npz_file), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    expected = detect_circles(attribution_map(), 0.70, 10 * 60 / 224, 2)
    assert result["circles"] == [circle.to_dict() for circle in expected.circles]


def test_min_points_option(npz_file, capsys):
    run(["--attributions", str(npz_file), "--threshold", "0.3", "--distance", "1", "--min-points", "1", "--json"])
    singles = json.loads(capsys.readouterr().out)["circles"]
    run(["--attributions", str(npz_file), "--threshold", "0.3", "--distance", "1", "--min-points", "40", "--json"])
    large = json.loads(capsys.readouterr().out)["circles"]
    assert len(large) < len(singles)
    assert all(circle["points"] >= 40 for circle in large)


def test_readable_output_without_json(npz_file, capsys):
    assert run(["--attributions", str(npz_file), "--threshold", "0.5"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "signal pixels" in lines[0] and "circles" in lines[0]
    assert lines[0].endswith("; coordinates: map (model-grid) pixels")
    assert lines[1].strip().startswith("x=")
    expected = detect_circles(attribution_map(), 0.5, None, 2).circles[0]
    assert lines[1].endswith(f"mass={100 * expected.mass:.1f}%")  # a share: one-decimal percent, as explain prints


# A square 40 x 40 map of a 200 x 100 (wide) image: scale 0.2, 10 grid pixels of padding above and below.
MAPPING = GridMapping.for_image(image_width=200, image_height=100, grid_size=40)


def square_map() -> np.ndarray:
    return attribution_map()[:, 10:50]


def save_with_mapping(path: Path, mapping: GridMapping = MAPPING, **overrides) -> Path:
    fields = {f"mapping_{name}": np.asarray(getattr(mapping, name)) for name in
              ("scale", "offset_x", "offset_y", "image_width", "image_height", "grid_size")}
    fields.update(overrides)
    np.savez(path, image_attribution=square_map(), **{k: v for k, v in fields.items() if v is not None})
    return path


def test_a_file_with_the_grid_mapping_gives_circles_in_original_image_pixels(tmp_path, capsys):
    path = save_with_mapping(tmp_path / "mapped.npz")
    assert run(["--attributions", str(path), "--threshold", "0.4", "--distance", "3", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    grid = detect_circles(square_map(), 0.4, 3.0, 2)
    assert result["coordinates"] == "image"
    assert result["signals"] == grid.signals
    assert result["circles"] == [circle.to_dict() for circle in circles_to_image(grid.circles, MAPPING)]
    strongest = result["circles"][0]  # grid (35, 10) -> image ((35.5 / 0.2) - 0.5, ((10.5 - 10) / 0.2) - 0.5)
    assert strongest["x"] == pytest.approx(177, abs=5) and strongest["y"] == pytest.approx(2, abs=5)
    assert strongest["r"] == pytest.approx(grid.circles[0].r / 0.2)

    assert run(["--attributions", str(path), "--threshold", "0.4", "--distance", "3", "--coordinates", "grid",
                "--json"]) == 0
    forced = json.loads(capsys.readouterr().out)
    assert forced["coordinates"] == "grid" and forced["circles"] == [c.to_dict() for c in grid.circles]

    assert run(["--attributions", str(path), "--threshold", "0.4"]) == 0
    assert capsys.readouterr().out.splitlines()[0].endswith("; coordinates: original-image pixels")


@pytest.mark.parametrize(
    "case, message",
    [
        ("image without mapping", "--coordinates image: "),
        ("bad option", "--coordinates expects 'image' or 'grid', got 'pixels'"),
        ("incomplete", "incomplete grid-to-image mapping (missing: mapping_grid_size)"),
        ("other grid", "the mapping is for a 64 x 64 grid but the map is 40 x 40"),
        ("zero scale", "mapping_scale must be > 0"),
        ("fractional size", "mapping_image_width must be a whole number >= 1"),
        ("array", "mapping_offset_x must be a single number"),
    ],
)
def test_bad_mappings_and_coordinates_exit_2_with_one_line(tmp_path, npz_file, capsys, case, message):
    path, options = tmp_path / "mapped.npz", []
    if case == "image without mapping":
        path, options = npz_file, ["--coordinates", "image"]
    elif case == "bad option":
        save_with_mapping(path)
        options = ["--coordinates", "pixels"]
    elif case == "incomplete":
        save_with_mapping(path, mapping_grid_size=None)
    elif case == "other grid":
        save_with_mapping(path, GridMapping.for_image(200, 100, 64))
    elif case == "zero scale":
        save_with_mapping(path, mapping_scale=np.asarray(0.0))
    elif case == "fractional size":
        save_with_mapping(path, mapping_image_width=np.asarray(200.5))
    else:
        save_with_mapping(path, mapping_offset_x=np.zeros(2))
    assert run(["--attributions", str(path), *options, "--json"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert len(captured.err.splitlines()) == 1 and captured.err.startswith("error: ") and message in captured.err


def write_bad_inputs(folder: Path) -> dict[str, Path]:
    paths = {
        "missing": folder / "missing.npz",
        "folder": folder,
        "text": folder / "notes.npz",
        "npy": folder / "single.npy",
        "broken zip": folder / "broken.npz",
        "no key": folder / "other.npz",
        "three-d": folder / "volume.npz",
        "nan": folder / "nan.npz",
        "objects": folder / "objects.npz",
    }
    paths["text"].write_text("not an archive")
    np.save(paths["npy"], np.zeros((4, 4)))
    paths["broken zip"].write_bytes(b"PK\x03\x04 truncated")
    np.savez(paths["no key"], attributions=np.zeros((4, 4)))
    np.savez(paths["three-d"], image_attribution=np.zeros((3, 4, 4)))
    np.savez(paths["nan"], image_attribution=np.array([[1.0, np.nan]]))
    np.savez(paths["objects"], image_attribution=np.array([None, 1], dtype=object))
    return paths


@pytest.mark.parametrize(
    "case, message",
    [
        ("missing", "does not exist"),
        ("folder", "cannot read attribution file"),
        ("text", "is not an .npz archive"),
        ("npy", "single .npy array, not an .npz archive"),
        ("broken zip", "is not a readable .npz archive"),
        ("no key", "has no 'image_attribution' array (arrays found: attributions)"),
        ("three-d", "must be 2-D"),
        ("nan", "NaN at row 0, column 1"),
        ("objects", "is not a readable .npz archive"),
    ],
)
def test_bad_files_exit_2_with_one_line(tmp_path, capsys, case, message):
    path = write_bad_inputs(tmp_path)[case]
    assert run(["--attributions", str(path), "--json"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert len(captured.err.splitlines()) == 1
    assert captured.err.startswith("error: ") and message in captured.err


@pytest.mark.parametrize(
    "options, message",
    [
        (["--threshold", "1.5"], "--threshold must be in [0, 1]"),
        (["--threshold", "-0.1"], "--threshold must be in [0, 1]"),
        (["--threshold", "high"], "--threshold expects a number, got 'high'"),
        (["--threshold", "nan"], "--threshold expects a finite number"),
        (["--distance", "0"], "link distance must be a finite number of pixels > 0"),
        (["--distance", "far"], "--distance expects a number"),
        (["--min-points", "0"], "min_points must be a whole number >= 1"),
        (["--min-points", "2.5"], "--min-points expects a whole number"),
    ],
)
def test_bad_options_exit_2_with_one_line(npz_file, capsys, options, message):
    assert run(["--attributions", str(npz_file), *options, "--json"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert len(captured.err.splitlines()) == 1 and message in captured.err


SCRIPT = """
import argparse, sys
from cxrmodel.cli.detect import add_parser
parser = argparse.ArgumentParser(prog="python -m cxrmodel")
add_parser(parser.add_subparsers(dest="command"))
arguments = parser.parse_args(sys.argv[1:])
status = arguments.handler(arguments)
heavy = sorted({name.split(".")[0] for name in sys.modules} & {"tensorflow", "keras", "torch"})
if heavy:
    sys.exit("imported " + ", ".join(heavy))
sys.exit(status)
"""


def test_command_in_a_subprocess_never_imports_tensorflow(npz_file, tmp_path):
    completed = subprocess.run(
        [sys.executable, "-c", SCRIPT, "detect", "--attributions", str(npz_file), "--json"],
        cwd=REPOSITORY,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stderr == ""
    result = json.loads(completed.stdout)
    assert result["signals"] == detect_circles(attribution_map()).signals
    mapped_file = save_with_mapping(tmp_path / "mapped.npz")
    mapped = subprocess.run(  # the mapping to image pixels (cxrmodel.imaging) needs no TensorFlow either
        [sys.executable, "-c", SCRIPT, "detect", "--attributions", str(mapped_file), "--json"],
        cwd=REPOSITORY,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert mapped.returncode == 0, mapped.stderr
    assert json.loads(mapped.stdout)["coordinates"] == "image"
    bad = subprocess.run(
        [sys.executable, "-c", SCRIPT, "detect", "--attributions", str(tmp_path / "none.npz"), "--json"],
        cwd=REPOSITORY,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 2
    assert bad.stdout == "" and len(bad.stderr.splitlines()) == 1 and "Traceback" not in bad.stderr
