"""What every image decoder returns and raises, and the checks all formats share.

Conventions (pixels, orientation, coordinates) are those of :mod:`cxrmodel.imaging.decode`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

SUPPORTED_FORMATS: tuple[str, ...] = ("png", "jpeg", "dicom")

DEFAULT_MAX_PIXELS = 50_000_000
"""Largest accepted image (width x height). A 43 cm detector at 100 micrometre pitch is ~18.5 megapixels."""

DEFAULT_MIN_SIDE = 32
"""Smallest accepted width and height in pixels; anything smaller is a thumbnail or icon, not a film."""

# ITU-R BT.601 luma weights, the same ones Pillow uses for RGB -> "L".
LUMA_WEIGHTS = np.array([0.299, 0.587, 0.114], dtype=np.float64)

EXPORT_HINT = "export the X-ray as PNG, JPEG or DICOM and upload it again"
OBJECT_REPR = re.compile(r"<[\w.]+ object at 0x[0-9a-fA-F]+>")


def error_reason(exc: BaseException) -> str:
    """A library exception as one line for a user: no line breaks, no ``<_io.BytesIO object at 0x...>``."""
    return " ".join(OBJECT_REPR.sub("", str(exc)).split()) or type(exc).__name__


class ImageDecodeError(ValueError):
    """The uploaded file cannot be used as a chest X-ray; the message says why and what to do."""


@dataclass(frozen=True, eq=False)
class DecodedImage:
    """One decoded chest X-ray in display polarity.

    Attributes:
        pixels: ``(height, width)`` ``float32`` array in ``[0, 1]``; ``0`` is black (air), ``1`` is white
            (bone). Row 0 is the top of the image. The array is read-only so that a decoded image can be
            shared and cached safely; copy it before modifying.
        source_format: ``"png"``, ``"jpeg"`` or ``"dicom"``, detected from the file's magic bytes.
        bit_depth: Bits per stored sample of the decoded data (8 for ordinary PNG/JPEG, 16 for 16-bit
            PNG, DICOM Bits Stored such as 10, 12 or 16). It tells how much grey-level precision the
            source carried, not the precision of ``pixels`` (always float32).
    """

    pixels: np.ndarray
    source_format: str
    bit_depth: int

    def __post_init__(self) -> None:
        if self.pixels.ndim != 2:
            raise ValueError(f"pixels must be a (height, width) array, got shape {self.pixels.shape}")
        if self.pixels.dtype != np.float32:
            raise ValueError(f"pixels must be float32, got {self.pixels.dtype}")
        if self.source_format not in SUPPORTED_FORMATS:
            raise ValueError(f"source_format must be one of {SUPPORTED_FORMATS}, got {self.source_format!r}")
        if self.pixels.flags.writeable:
            self.pixels.setflags(write=False)

    @property
    def width(self) -> int:
        """Image width in pixels (number of columns)."""
        return int(self.pixels.shape[1])

    @property
    def height(self) -> int:
        """Image height in pixels (number of rows)."""
        return int(self.pixels.shape[0])


def check_dimensions(width: int, height: int, max_pixels: int, min_side: int, what: str) -> None:
    if width <= 0 or height <= 0:
        raise ImageDecodeError(f"The {what} reports an empty image ({width} x {height} pixels); {EXPORT_HINT}.")
    if width * height > max_pixels:
        raise ImageDecodeError(
            f"The {what} is too large: {width} x {height} pixels ({width * height:,} pixels) exceeds the "
            f"limit of {max_pixels:,} pixels. Export a downsampled copy (for example 3000 pixels on the "
            "long side) and upload that."
        )
    if width < min_side or height < min_side:
        raise ImageDecodeError(
            f"The {what} is too small: {width} x {height} pixels; at least {min_side} x {min_side} pixels "
            "are needed. Upload the full-resolution X-ray rather than a thumbnail."
        )


def luminance(rgb: np.ndarray) -> np.ndarray:
    """``(..., 3)`` RGB in any numeric range -> ``(...)`` float64 luminance in the same range (BT.601)."""
    return rgb[..., :3].astype(np.float64) @ LUMA_WEIGHTS
