"""Annotated PNG of the current view: the radiograph, its ranked circles and a caption band, for export.

Clinicians and researchers download this image to keep or share what the dashboard showed. It is drawn at the
radiograph's ORIGINAL resolution (not the model grid), so circles land on the same anatomy as on screen:

* circle coordinates are original-image pixels with x = column, y = row, measured from the centre of the
  top-left pixel (the convention of :mod:`cxrmodel.explain.study`'s circles), given strongest first;
* circle ``k`` (1-based rank) is outlined in ``CIRCLE_PALETTE[(k - 1) % len(CIRCLE_PALETTE)]``, dashed like
  ``circle_dash(k)`` (solid for the first pass through the palette, then dashed, dotted, dash-dotted), with its
  rank number beside its top-left: the colours and dashes of the on-screen viewer (``components/xray_view.py``
  and ``assets/threshold.js`` use the same palette);
* a dark caption band below the image carries one caption (study, probability, tau, circle count, the
  "not for clinical use" notice), wrapped onto as many lines as the image width needs.

The output is an RGB PNG of ``width x (height + caption_band_height(width, height, caption))`` pixels.
Nothing here imports TensorFlow or Dash.
"""

from __future__ import annotations

import functools
import importlib.util
import io
import logging
import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from cxrmodel.imaging import pixels_to_uint8
from cxrmodel.rendering.palette import circle_colour, circle_dash

logger = logging.getLogger(__name__)

CAPTION_BACKGROUND = "#14171a"
"""Caption band colour (the dashboard's dark background)."""
CAPTION_TEXT_COLOUR = "#e8eaed"
LABEL_OUTLINE_COLOUR = "#000000"
"""Thin dark edge around rank numbers so they read on bright bone as well as dark lung."""

MIN_DRAWN_RADIUS_IN_LINE_WIDTHS = 3.0
"""A circle smaller than this many line widths (e.g. r = 0 for a one-pixel cluster) is drawn this large, so
it stays a visible ring with the radiograph showing through its centre."""

DASH_PATTERNS = {"solid": (), "dash": (3.0, 2.0), "dot": (0.8, 1.6), "dashdot": (3.0, 1.5, 0.8, 1.5)}
"""Plotly's dash names as (on, off, ...) lengths in line widths, for the outlines of :func:`_draw_circles`."""

# Searched in order for a TrueType font with Greek letters (tau) and the middle dot; matplotlib, a dependency
# of this project, ships DejaVu Sans. Pillow's built-in font is the last resort (it lacks Greek letters).
_SYSTEM_FONT_PATHS = (
    Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"),
    Path("/usr/share/fonts/TTF/DejaVuSans.ttf"),
)
# Replacements for characters Pillow's built-in font draws as empty boxes.
_BUILTIN_FONT_SUBSTITUTES = {"τ": "tau", "—": "-", "–": "-", "≥": ">=", "≤": "<="}


def line_width(height: int, width: int) -> int:
    """Circle outline width in pixels: ``max(2, round(min(height, width) / 256))`` (2 px up to ~640 px)."""
    return max(2, round(min(height, width) / 256))


def label_font_size(height: int, width: int) -> int:
    """Rank-number font size in pixels, ~1/40 of the short image side, at least 12 px."""
    return max(12, round(min(height, width) / 40))


def caption_font_size(width: int) -> int:
    """Caption font size in pixels, ~1/64 of the image width, at least 11 px."""
    return max(11, round(width / 64))


@functools.lru_cache(maxsize=1)
def _truetype_font_path() -> Path | None:
    candidates = list(_SYSTEM_FONT_PATHS)
    spec = importlib.util.find_spec("matplotlib")  # locates the package without importing it
    if spec is not None and spec.submodule_search_locations:
        for location in spec.submodule_search_locations:
            candidates.append(Path(location) / "mpl-data" / "fonts" / "ttf" / "DejaVuSans.ttf")
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    logger.warning("no DejaVu Sans found; export captions use Pillow's built-in font without Greek letters")
    return None


@functools.lru_cache(maxsize=32)
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    path = _truetype_font_path()
    if path is not None:
        return ImageFont.truetype(str(path), size=size)
    return ImageFont.load_default(size=size)


def _drawable_text(text: str) -> str:
    """``text`` with the characters the available font cannot draw replaced by ASCII look-alikes."""
    if _truetype_font_path() is not None:
        return text
    for character, substitute in _BUILTIN_FONT_SUBSTITUTES.items():
        text = text.replace(character, substitute)
    return text


def _wrap(text: str, font: ImageFont.FreeTypeFont | ImageFont.ImageFont, max_width: float) -> list[str]:
    """Greedy word wrap of ``text`` into lines at most ``max_width`` pixels wide (a longer word stays whole)."""
    lines: list[str] = []
    current = ""
    for word in text.split():
        candidate = f"{current} {word}" if current else word
        if current and font.getlength(candidate) > max_width:
            lines.append(current)
            current = word
        else:
            current = candidate
    return [*lines, current] if current else lines


def _caption_layout(width: int, caption: str) -> tuple[list[str], int, int, int]:
    """Caption lines, font size, line height and padding (pixels) for an image ``width`` pixels wide."""
    size = caption_font_size(width)
    padding = max(4, round(size * 0.6))
    line_height = round(size * 1.3)
    lines = _wrap(_drawable_text(caption), _font(size), max(1, width - 2 * padding)) or [""]
    return lines, size, line_height, padding


def caption_band_height(width: int, height: int, caption: str) -> int:
    """Height in pixels of the caption band :func:`annotated_png` adds below a ``width x height`` radiograph.

    Args:
        width: Radiograph width in pixels.
        height: Radiograph height in pixels (the band does not depend on it; kept for a uniform call).
        caption: The caption text; a caption too long for one line wraps and the band grows.

    Returns:
        The band height in pixels: padding above and below plus one line height per wrapped line.
    """
    del height
    lines, _, line_height, padding = _caption_layout(width, caption)
    return 2 * padding + len(lines) * line_height


def _as_gray_uint8(pixels: np.ndarray) -> np.ndarray:
    """(H, W) uint8 or float in [0, 1] -> (H, W) uint8 display gray; ValueError for anything else."""
    array = np.asarray(pixels)
    if array.ndim != 2:
        raise ValueError(f"pixels must be a 2-D (height, width) grayscale array, got shape {array.shape}")
    if array.size == 0:
        raise ValueError(f"pixels is an empty image (shape {array.shape}); nothing to export")
    if array.dtype == np.uint8:
        return array
    if not np.issubdtype(array.dtype, np.floating):
        raise ValueError(f"pixels must be uint8 or float in [0, 1], got dtype {array.dtype}")
    if not np.all(np.isfinite(array)):
        raise ValueError("pixels contain NaN or infinite values")
    low, high = float(array.min()), float(array.max())
    if low < 0.0 or high > 1.0:
        raise ValueError(f"float pixels must lie in [0, 1], got values from {low:g} to {high:g}")
    return pixels_to_uint8(array)  # the same 8-bit gray the viewer sends to the browser


def _validated_circle(circle: dict, rank: int) -> tuple[float, float, float]:
    try:
        x, y, r = float(circle["x"]), float(circle["y"]), float(circle["r"])
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(f"circle {rank} needs numeric 'x', 'y' and 'r', got {circle!r}") from error
    if not (math.isfinite(x) and math.isfinite(y) and math.isfinite(r)) or r < 0:
        raise ValueError(f"circle {rank} must have finite x, y and a radius >= 0, got {circle!r}")
    return x, y, r


def _draw_outline(draw: ImageDraw.ImageDraw, box: tuple[float, float, float, float], colour: str, stroke: int,
                  dash: str) -> None:
    """A circle outline in ``box``, solid or as arcs following :data:`DASH_PATTERNS` (lengths along the ring)."""
    pattern = DASH_PATTERNS.get(dash, ())
    if not pattern:
        draw.ellipse(box, outline=colour, width=stroke)
        return
    radius = (box[2] - box[0]) / 2.0 - stroke / 2.0
    circumference = 2.0 * math.pi * max(radius, 1.0)
    lengths = [max(part * stroke, 1.0) * 360.0 / circumference for part in pattern]  # degrees along the ring
    angle, index = 0.0, 0
    while angle < 360.0:
        step = lengths[index % len(lengths)]
        if index % 2 == 0:
            draw.arc(box, angle, min(angle + step, 360.0), fill=colour, width=stroke)
        angle += step
        index += 1


def _draw_circles(image: Image.Image, circles: list[dict]) -> None:
    """Ranked circle outlines and rank numbers onto ``image`` (RGB, radiograph size), in place."""
    width, height = image.size
    stroke = line_width(height, width)
    font = _font(label_font_size(height, width))
    draw = ImageDraw.Draw(image)
    validated = [_validated_circle(circle, rank) for rank, circle in enumerate(circles, start=1)]
    # Weakest first, so the strongest circle's outline and number end up on top where circles overlap.
    for rank in range(len(validated), 0, -1):
        x, y, r = validated[rank - 1]
        colour = circle_colour(rank)
        drawn_radius = max(r, MIN_DRAWN_RADIUS_IN_LINE_WIDTHS * stroke)
        # Pillow strokes inward from the bounding box: centre the stroke on the circle's radius.
        outer = drawn_radius + stroke / 2.0
        _draw_outline(draw, (x - outer, y - outer, x + outer, y + outer), colour, stroke, circle_dash(rank))
        # The rank number just outside the circle's top-left, like the viewer's "top left" shape label,
        # moved inside the image when the circle touches an edge.
        label = str(rank)
        label_stroke = max(1, stroke // 2)
        left, top, right, bottom = font.getbbox(label, anchor="lt", stroke_width=label_stroke)
        label_width, label_height = right - left, bottom - top
        diagonal = outer / math.sqrt(2.0)
        label_x = min(max(x - diagonal - label_width, 0.0), max(width - label_width, 0.0))
        label_y = min(max(y - diagonal - label_height, 0.0), max(height - label_height, 0.0))
        draw.text((label_x, label_y), label, fill=colour, font=font, anchor="lt",
                  stroke_width=label_stroke, stroke_fill=LABEL_OUTLINE_COLOUR)


def annotated_png(pixels: np.ndarray, circles: list[dict], caption: str) -> bytes:
    """The radiograph with its ranked circles and a caption band, as RGB PNG bytes.

    Args:
        pixels: ``(H, W)`` grayscale radiograph at its ORIGINAL resolution, display polarity (0 = black):
            ``uint8``, or float in ``[0, 1]`` such as ``decode_image(...).pixels`` (float32).
        circles: ``[{"x", "y", "r", "points", "mass"}, ...]`` in original-image pixels (x = column,
            y = row, centre of the top-left pixel = (0, 0); r in pixels), strongest first: the first circle
            gets rank 1 and ``CIRCLE_PALETTE[0]``. Only x, y and r are drawn.
        caption: One line of text for the band below the image, e.g.
            ``"CXR90014 · P(abnormal) 0.93 · τ 0.70 · 3 circles · synthetic demo model — not for clinical use"``;
            it wraps when wider than the image.

    Returns:
        PNG bytes of an RGB image ``W`` wide and ``H + caption_band_height(W, H, caption)`` tall; the top
        ``H`` rows are the radiograph (gray, R = G = B) with the circles, the rest the caption band.

    Raises:
        ValueError: ``pixels`` is not a non-empty 2-D uint8 / [0, 1] float array, or a circle lacks a finite
            x, y or a radius >= 0.
    """
    gray = _as_gray_uint8(pixels)
    height, width = gray.shape
    radiograph = Image.fromarray(gray).convert("RGB")
    _draw_circles(radiograph, list(circles))

    lines, size, line_height, padding = _caption_layout(width, caption)
    band = 2 * padding + len(lines) * line_height
    canvas = Image.new("RGB", (width, height + band), CAPTION_BACKGROUND)
    canvas.paste(radiograph, (0, 0))
    draw = ImageDraw.Draw(canvas)
    font = _font(size)
    for index, line in enumerate(lines):
        # Vertically centred in its line: anchor "lm" = left edge, middle of the text.
        draw.text((padding, height + padding + (index + 0.5) * line_height), line, fill=CAPTION_TEXT_COLOUR,
                  font=font, anchor="lm")

    buffer = io.BytesIO()
    canvas.save(buffer, format="PNG")
    logger.debug("annotated PNG %dx%d (+%d px caption, %d circles), %d bytes",
                 width, height, band, len(circles), buffer.tell())
    return buffer.getvalue()
