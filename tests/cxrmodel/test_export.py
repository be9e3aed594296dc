"""The exported PNG: radiograph at full size, ranked circle outlines in the viewer's colours, a caption band."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageColor

from cxrmodel.rendering.annotated import (
    CAPTION_BACKGROUND,
    annotated_png,
    caption_band_height,
    line_width,
)
from cxrmodel.rendering.palette import CIRCLE_PALETTE

CAPTION = "CXR90014 · P(abnormal) 0.93 · τ 0.70 · 3 circles · synthetic demo model — not for clinical use"
HEIGHT, WIDTH = 300, 400


def radiograph(height: int = HEIGHT, width: int = WIDTH) -> np.ndarray:
    """A float32 film in [0, 1] with a gentle gradient, like ``decode_image(...).pixels``."""
    rows, columns = np.mgrid[0:height, 0:width]
    return (0.25 + 0.5 * (rows + columns) / (height + width)).astype(np.float32)


def decode(png: bytes) -> Image.Image:
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    return Image.open(io.BytesIO(png))


def gray_of(pixels: np.ndarray, row: int, column: int) -> tuple[int, int, int]:
    value = int(round(float(pixels[row, column]) * 255))
    return value, value, value


CIRCLES = [
    {"x": 100.0, "y": 120.0, "r": 40.0, "points": 30, "mass": 0.5},
    {"x": 300.0, "y": 200.0, "r": 25.0, "points": 9, "mass": 0.2},
    {"x": 250.0, "y": 60.0, "r": 12.0, "points": 3, "mass": 0.05},
]


def test_png_is_the_full_radiograph_plus_a_caption_band_in_rgb():
    image = decode(annotated_png(radiograph(), CIRCLES, CAPTION))
    band = caption_band_height(WIDTH, HEIGHT, CAPTION)
    assert image.mode == "RGB" and image.format == "PNG"
    assert image.size == (WIDTH, HEIGHT + band)
    assert 15 <= band <= 120  # one or a few lines of readable text, not half the image


def test_circle_outlines_have_their_rank_colour_and_centres_stay_the_films_gray():
    pixels = radiograph()
    image = np.asarray(decode(annotated_png(pixels, CIRCLES, CAPTION)))
    for rank, circle in enumerate(CIRCLES, start=1):
        x, y, r = int(circle["x"]), int(circle["y"]), int(circle["r"])
        colour = ImageColor.getrgb(CIRCLE_PALETTE[rank - 1])
        for row, column in ((y, x + r), (y, x - r), (y + r, x)):  # right, left and bottom of the ring
            assert tuple(image[row, column]) == colour, (rank, row, column)
        assert tuple(image[y, x]) == gray_of(pixels, y, x)
        assert tuple(image[y, x + r // 2]) == gray_of(pixels, y, x + r // 2)  # inside the ring: untouched


def test_colours_cycle_past_the_palette_and_a_one_pixel_cluster_is_still_a_visible_ring():
    pixels = radiograph()
    circles = [{"x": 30.0 + 50 * i, "y": 150.0, "r": 0.0, "points": 2, "mass": 0.01} for i in range(7)]
    image = np.asarray(decode(annotated_png(pixels, circles, "")))
    seventh = circles[6]
    x, y = int(seventh["x"]), int(seventh["y"])
    row = image[y, x - 15 : x + 16]
    assert (row == ImageColor.getrgb(CIRCLE_PALETTE[0])).all(axis=1).any()  # rank 7 wears rank 1's colour
    assert tuple(image[y, x]) == gray_of(pixels, y, x)


def test_a_circle_that_repeats_a_colour_is_drawn_dashed():
    """Issue #17: rank 7 wears rank 1's colour; its outline is dashed (palette.circle_dash), rank 1's solid."""
    pixels = np.full((400, 900), 0.5, dtype=np.float32)
    circles = [{"x": 60.0 + 120 * i, "y": 200.0, "r": 45.0, "points": 20, "mass": 0.01} for i in range(7)]
    image = np.asarray(decode(annotated_png(pixels, circles, "")))
    colour = ImageColor.getrgb(CIRCLE_PALETTE[0])

    def ring_pixels(circle: dict) -> int:  # pixels of rank 1's colour around the circle (its label excluded)
        x, y, r = int(circle["x"]), int(circle["y"]), int(circle["r"])
        return int((image[y - r + 8: y + r + 4, x - r - 4: x + r + 4] == colour).all(axis=2).sum())

    solid, dashed = ring_pixels(circles[0]), ring_pixels(circles[6])
    assert solid > 200 and 0.3 * solid < dashed < 0.8 * solid  # the same colour, with gaps


def test_outline_width_grows_with_the_image():
    assert line_width(300, 400) == 2 and line_width(2048, 2500) == 8
    size = 1024
    pixels = np.full((size, size), 0.5, dtype=np.float32)
    circle = {"x": 500.0, "y": 500.0, "r": 200.0, "points": 50, "mass": 0.3}
    image = np.asarray(decode(annotated_png(pixels, [circle], "x")))
    ring = (image[500, 650:750] == ImageColor.getrgb(CIRCLE_PALETTE[0])).all(axis=1)
    assert abs(int(ring.sum()) - line_width(size, size)) <= 1


def test_without_circles_the_radiograph_is_unchanged_and_the_band_holds_the_caption():
    pixels = radiograph()
    image = np.asarray(decode(annotated_png(pixels, [], CAPTION)))
    expected = np.round(pixels.astype(np.float64) * 255).astype(np.uint8)
    for channel in range(3):
        np.testing.assert_array_equal(image[:HEIGHT, :, channel], expected)
    band = image[HEIGHT:]
    background = np.all(band == ImageColor.getrgb(CAPTION_BACKGROUND), axis=2)
    assert background.mean() > 0.7  # a dark band ...
    assert band.max() > 200  # ... with light text on it
    empty_band = np.asarray(decode(annotated_png(pixels, [], "")))[HEIGHT:]
    assert np.all(empty_band == ImageColor.getrgb(CAPTION_BACKGROUND))


def test_uint8_and_unit_float_films_export_identically():
    film = np.arange(HEIGHT * WIDTH, dtype=np.int64).reshape(HEIGHT, WIDTH) % 256
    as_uint8 = annotated_png(film.astype(np.uint8), CIRCLES, CAPTION)
    as_float = annotated_png((film / 255.0).astype(np.float32), CIRCLES, CAPTION)
    np.testing.assert_array_equal(np.asarray(decode(as_uint8)), np.asarray(decode(as_float)))


def test_a_long_caption_wraps_inside_a_narrow_image_instead_of_running_off():
    narrow = radiograph(200, 160)
    band = caption_band_height(160, 200, CAPTION)
    assert band > caption_band_height(160, 200, "CXR90014")
    image = np.asarray(decode(annotated_png(narrow, [], CAPTION)))
    assert image.shape == (200 + band, 160, 3)
    assert np.all(image[200:, -2:] == ImageColor.getrgb(CAPTION_BACKGROUND))  # right margin stays clear


def test_tau_in_the_caption_is_drawn_as_a_letter_not_a_missing_glyph_box():
    film = radiograph()
    tau = np.asarray(decode(annotated_png(film, [], "τ")))[HEIGHT:]
    missing = np.asarray(decode(annotated_png(film, [], "\uffff")))[HEIGHT:]  # a non-character: the box
    assert not np.array_equal(tau, missing)


@pytest.mark.parametrize(
    ("pixels", "message"),
    [
        (np.zeros((20, 20, 3), dtype=np.uint8), "2-D"),
        (np.zeros((0, 0), dtype=np.float32), "empty"),
        (np.zeros((0, 40), dtype=np.uint8), "empty"),
        (np.full((20, 20), 1.5, dtype=np.float32), r"\[0, 1\]"),
        (np.full((20, 20), np.nan, dtype=np.float32), "NaN"),
        (np.zeros((20, 20), dtype=np.int64), "dtype"),
    ],
)
def test_unusable_films_are_refused_with_a_clear_message(pixels, message):
    with pytest.raises(ValueError, match=message):
        annotated_png(pixels, [], CAPTION)


def test_a_circle_without_coordinates_is_refused():
    with pytest.raises(ValueError, match="circle 2"):
        annotated_png(radiograph(), [CIRCLES[0], {"x": 1.0, "r": 2.0}], CAPTION)


def test_the_viewer_draws_with_the_same_palette():
    from components import xray_view

    assert xray_view.CIRCLE_PALETTE is CIRCLE_PALETTE
