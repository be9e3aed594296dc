"""View check: frontal films (real NIH, demo, synthetic) pass; lateral views are refused with a clear message.

No real lateral film is available here: the laterals are drawn from the geometric model
``cxrmodel.data.synthetic.lateral`` (held-out seeds; the threshold was set on seeds 0-99) and the crude lateral
silhouette of ``benchmarks/distribution_check_cases.py``. The real films are read in place from
``shared/data/nih-chestxray14-64px`` (skipped when absent, required when ``CI`` is set).
"""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from cxrmodel.data.synthetic.lateral import lateral_chest
from cxrmodel.data.synthetic.studies import render_study, sample_study_spec
from cxrmodel.imaging import (
    LATERAL_MESSAGE,
    ViewCheck,
    check_distribution,
    check_view,
    decode_image,
    to_model_grid,
    to_model_input,
)
from tests.nih_films import nih_film_paths

ROOT = Path(__file__).resolve().parents[2]
DEMO_BUNDLE = ROOT / "models" / "demo"
DEMO_IMAGES = ROOT / "studies" / "demo" / "NLMCXR_png"
GRID = 160




def _png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.clip(np.rint(np.asarray(pixels) * 255.0), 0, 255).astype(np.uint8)).save(buffer, "PNG")
    return buffer.getvalue()


def _view(data: bytes, grid: int = GRID) -> ViewCheck:
    """Upload bytes -> decoded -> model grid -> view check."""
    pixels, mapping = to_model_grid(decode_image(data).pixels, grid)
    return check_view(to_model_input(pixels), mapping)


def _crude_lateral(width: int = 480, height: int = 512) -> np.ndarray:
    """The crude lateral silhouette of benchmarks/distribution_check_cases.py: trunk, one lung, heart, spine."""
    rows, columns = np.mgrid[0:height, 0:width].astype(np.float64)
    image = np.zeros((height, width))
    body = ((columns - 240) / 170) ** 2 + ((rows - 300) / 260) ** 2 < 1
    image[body] = 0.75
    image[((columns - 230) / 110) ** 2 + ((rows - 230) / 150) ** 2 < 1] = 0.35
    image[(columns > 330) & (columns < 370) & body] = 0.9
    image[((columns - 170) / 70) ** 2 + ((rows - 320) / 80) ** 2 < 1] = 0.65
    noise = np.random.default_rng(1).normal(0.0, 0.02, image.shape)
    return np.clip(ndimage.gaussian_filter(image, 4) + noise, 0.0, 1.0)


def test_real_frontal_films_are_never_refused():
    """All 1,000 real NIH frontal films (PA and AP, normal and abnormal) pass as frontal."""
    views = [_view(path.read_bytes()) for path in nih_film_paths()]
    refused = [view for view in views if view.frontal is not True]
    assert refused == [], f"{len(refused)} / 1000 real frontal films not judged frontal"
    assert min(view.score for view in views) > 0.6


def test_demo_and_synthetic_frontal_films_pass():
    paths = sorted(DEMO_IMAGES.glob("*.png"))
    assert len(paths) == 32
    for path in paths:
        assert _view(path.read_bytes()).frontal is True, path.name
    for number in range(1, 9):
        image = render_study(sample_study_spec(number, 4242), 4242).phantom.image
        assert _view(_png(image / 255.0)).frontal is True, number


def test_a_pass_says_what_was_measured_and_never_vouches_for_a_frontal_film():
    view = _view((DEMO_IMAGES / "CXR90003_IM-90003-1001.png").read_bytes())
    assert view.frontal is True and "frontal view" not in view.reason
    assert view.reason.startswith("not called lateral") and f"view score {view.score:.2f}" in view.reason
    assert "no real lateral film" in view.reason and "no evidence that the film is frontal" in view.reason


@pytest.mark.parametrize("seed", range(1000, 1040))
def test_constructed_laterals_are_refused(seed):
    view = _view(_png(lateral_chest(480, 512, seed)))
    assert view.frontal is False and view.lateral, view.score
    assert view.reason == LATERAL_MESSAGE
    assert all(words in view.reason for words in ("lateral view", "frontal (PA/AP)", "Upload the frontal film"))


@pytest.mark.parametrize("size", [(1024, 1024), (1500, 1800), (640, 480), (300, 300)])
def test_laterals_are_refused_at_any_size_and_grid(size):
    width, height = size
    data = _png(lateral_chest(width, height, 3000 + width))
    assert _view(data).frontal is False
    assert _view(data, grid=224).frontal is False


def test_the_crude_lateral_silhouette_is_refused():
    assert _view(_png(_crude_lateral())).frontal is False


def test_a_lateral_is_refused_by_the_distribution_check_with_the_message_first():
    grid, mapping = to_model_grid(decode_image(_png(lateral_chest(480, 512, 1234))).pixels, GRID)
    with Image.open(DEMO_BUNDLE / "image_baseline.png") as image:
        reference = np.asarray(image.convert("L"), np.float32) / 255.0
    check = check_distribution(to_model_input(grid), mapping, reference)
    assert check.in_distribution is False and check.refuse and check.kind == "lateral"
    assert check.reasons[0] == LATERAL_MESSAGE
    assert check.to_dict()["refuse"] is True and check.to_dict()["view"]["frontal"] is False
    without_reference = check_distribution(to_model_input(grid), mapping, None)
    assert without_reference.refuse and without_reference.reasons[0] == LATERAL_MESSAGE


def test_blank_images_cannot_be_judged():
    for value in (0.0, 0.5, 1.0):
        view = check_view(np.full((GRID, GRID), value))
        assert view.frontal is None and math.isnan(view.score) and not view.lateral
        assert view.to_dict() == {"frontal": None, "score": None, "reason": view.reason}


def test_non_square_input_is_an_error():
    with pytest.raises(ValueError, match="square"):
        check_view(np.zeros((10, 20)))
