"""Burnt-in film markers: lead side markers ("R", "L") and portable/supine annotations.

On real films these are bright, high-contrast text near the corners and the top edge. They correlate with
abnormality (sicker patients get portable films), which makes them the shortcut a model may learn.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from scipy import ndimage

from cxrmodel.data.synthetic.findings import SIDE_MARKERS


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """Pillow's bundled font at ``size`` pixels (Pillow >= 10.1)."""
    return ImageFont.load_default(size=size)


def _fit_font(text: str, size: int, max_width: float) -> tuple[ImageFont.ImageFont, int]:
    """Largest font no bigger than ``size`` whose rendering of ``text`` is at most ``max_width`` wide."""
    while True:
        font = _font(size)
        left, _, right, _ = font.getbbox(text)
        if right - left <= max_width or size <= 8:
            return font, size
        size -= 1


def burn_markers(image: np.ndarray, markers: list[str], rng: np.random.Generator) -> np.ndarray:
    """Write the markers into ``image`` in place.

    Side markers go in a top corner (``"R"`` on the image's left, the patient's right; ``"L"`` on the image's
    right). Every other marker is written larger near the top edge, stacked if there are several.

    Args:
        image: (height, width) uint8 film, modified in place.
        markers: Marker texts.
        rng: Generator for positions and brightness.

    Returns:
        (height, width) bool marker mask: glyph pixels dilated by one pixel (empty if ``markers`` is empty).
    """
    height, width = image.shape
    if not markers:
        return np.zeros((height, width), dtype=bool)
    canvas = Image.new("L", (width, height), 0)
    draw = ImageDraw.Draw(canvas)
    draw.fontmode = "1"
    # 1. Side markers: a big bold letter a little inside a top corner.
    side_size = max(11, round(0.075 * min(height, width)))
    side_font = _font(side_size)
    # 2. Annotations: stacked along the top, centred within the middle 60 % of the width.
    annotation_top = rng.uniform(0.015, 0.035) * height
    for text in markers:
        if text in SIDE_MARKERS:
            left, top, right, bottom = side_font.getbbox(text)
            margin_x = rng.uniform(0.035, 0.09) * width
            x = margin_x - left if text == "R" else width - margin_x - right
            y = rng.uniform(0.04, 0.1) * height - top
            draw.text((x, y), text, fill=255, font=side_font, stroke_width=max(1, side_size // 14), stroke_fill=255)
            continue
        font, size = _fit_font(text, max(9, round(0.045 * height)), 0.6 * width)
        left, top, right, bottom = font.getbbox(text)
        centre_x = width / 2 + rng.uniform(-0.08, 0.08) * width
        x = np.clip(centre_x - (right - left) / 2, 0.2 * width, 0.8 * width - (right - left)) - left
        draw.text((x, annotation_top - top), text, fill=255, font=font, stroke_width=max(0, size // 28),
                  stroke_fill=255)
        annotation_top += (bottom - top) * 1.4
    # 3. Burn in: near-white glyphs, mask dilated by a pixel to cover their edges.
    glyphs = np.asarray(canvas) > 127
    image[glyphs] = np.uint8(rng.integers(240, 256))
    mask = np.zeros((height, width), dtype=bool)
    bounds = canvas.getbbox()
    if bounds is not None:
        left, top, right, bottom = bounds
        box = slice(max(0, top - 1), min(height, bottom + 1)), slice(max(0, left - 1), min(width, right + 1))
        mask[box] = ndimage.binary_dilation(glyphs[box], iterations=1)
    return mask
