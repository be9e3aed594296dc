"""Decoding chest X-ray uploads: the format from the magic bytes, PNG and JPEG with Pillow, DICOM in imaging.dicom.

This module turns the bytes a user uploads (PNG, JPEG or DICOM) into one grayscale image in display
polarity, resizes it onto the square grid a model expects, and maps coordinates between that grid and the
original image so that explanations (heat maps, circles around findings) land on the right anatomy.

Conventions used throughout:

* **Pixels** are ``(height, width)`` ``float32`` arrays in ``[0, 1]`` with display polarity: ``0`` is black
  (air, lung), ``1`` is white (bone, metal). A DICOM stored as MONOCHROME1 is inverted so that bone is
  always bright.
* **Orientation** is the stored orientation: row 0 is the top of the film, column 0 its left edge. Nothing
  is flipped; the only exception is an EXIF orientation tag in a PNG/JPEG (a phone photo of a film), which
  is applied so that the image looks the way it does in the user's image viewer.
* **Coordinates** are ``(x, y)`` in pixel units with the pixel-area convention: pixel ``(row i, column j)``
  covers ``[j, j + 1) x [i, i + 1)`` and its centre is ``(j + 0.5, i + 0.5)``. The image spans
  ``[0, width] x [0, height]``. The same convention holds on the model grid, so mapping between the two is
  a pure scale plus offset with no half-pixel corrections.

Nothing here imports TensorFlow or Dash; the module is cheap to import.
"""

from __future__ import annotations

import io
import logging
import os

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from cxrmodel.imaging.decoded import (
    DEFAULT_MAX_PIXELS,
    DEFAULT_MIN_SIDE,
    EXPORT_HINT,
    DecodedImage,
    ImageDecodeError,
    check_dimensions,
    error_reason,
    luminance,
)
from cxrmodel.imaging.dicom import decode_dicom

logger = logging.getLogger(__name__)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
JPEG_SIGNATURE = b"\xff\xd8\xff"
DICOM_PREFIX = b"DICM"
DICOM_PREFIX_OFFSET = 128



def _describe_first_bytes(data: bytes, count: int = 8) -> str:
    return " ".join(f"{byte:02x}" for byte in data[:count])


def _looks_like_preambleless_dicom(data: bytes) -> bool:
    """Whether ``data`` is a DICOM data set written without the 128-byte preamble and ``DICM`` prefix.

    Older modalities and some PACS exports write the bare data set. Such a stream starts with a little-endian
    tag of group 0x0002 (file meta) or 0x0008 (identifying information); only then is pydicom asked to parse
    it with ``force=True``, and the result must contain image attributes, so random bytes are not mistaken
    for DICOM.
    """
    if len(data) < 8 or data[:2] not in (b"\x02\x00", b"\x08\x00"):
        return False
    try:
        import pydicom  # noqa: PLC0415 - pydicom only for a DICOM candidate

        dataset = pydicom.dcmread(io.BytesIO(data), force=True, stop_before_pixels=True)
        return "Rows" in dataset or "SOPClassUID" in dataset
    except Exception:  # noqa: BLE001 - any parse failure simply means "not DICOM"
        return False


def detect_image_format(data: bytes) -> str:
    """Detect the image format from the file's magic bytes (never from its name).

    Args:
        data: The complete file contents.

    Returns:
        ``"png"``, ``"jpeg"`` or ``"dicom"``.

    Raises:
        ImageDecodeError: The bytes are empty or are not a PNG, JPEG or DICOM file.
    """
    if not data:
        raise ImageDecodeError(f"The file is empty (0 bytes); {EXPORT_HINT}.")
    if data.startswith(PNG_SIGNATURE):
        return "png"
    if data.startswith(JPEG_SIGNATURE):
        return "jpeg"
    if data[DICOM_PREFIX_OFFSET : DICOM_PREFIX_OFFSET + 4] == DICOM_PREFIX:
        return "dicom"
    if _looks_like_preambleless_dicom(data):
        return "dicom"
    raise ImageDecodeError(
        f"The file is not a PNG, JPEG or DICOM file (first bytes: {_describe_first_bytes(data)}, "
        f"{len(data)} bytes in total); {EXPORT_HINT}."
    )


def _pillow_to_gray(image: Image.Image) -> tuple[np.ndarray, int]:
    """Convert a loaded Pillow image to ``(height, width)`` float64 in ``[0, 1]`` plus its bit depth.

    Transparency is composited on black (``value * alpha``): a transparent region carries no X-ray signal,
    and black is the "no exposure" colour of a film, so it is rendered like the padding around the image.
    """
    mode = image.mode
    if mode == "P" or mode == "PA":
        # Palette: expand through the palette (and its tRNS transparency, if any) to true colour.
        has_alpha = mode == "PA" or "transparency" in image.info
        image = image.convert("RGBA" if has_alpha else "RGB")
        mode = image.mode
    elif mode in ("CMYK", "YCbCr", "LAB", "HSV"):
        image = image.convert("RGB")
        mode = "RGB"
    elif mode in ("La", "RGBa"):
        # Premultiplied alpha: the colour already equals value * alpha, i.e. composited on black.
        image = image.convert("L" if mode == "La" else "RGB")
        mode = image.mode

    array = np.asarray(image)
    if mode == "1":
        return array.astype(np.float64), 1
    if mode == "L":
        return array.astype(np.float64) / 255.0, 8
    if mode == "LA":
        gray = array[..., 0].astype(np.float64) / 255.0
        alpha = array[..., 1].astype(np.float64) / 255.0
        return gray * alpha, 8
    if mode == "RGB":
        return luminance(array) / 255.0, 8
    if mode == "RGBA":
        gray = luminance(array) / 255.0
        alpha = array[..., 3].astype(np.float64) / 255.0
        return gray * alpha, 8
    if mode.startswith("I;16") or mode == "I":
        # 16-bit grayscale PNG. The PNG specification requires samples to be scaled to the full 16-bit range
        # (an optional sBIT chunk only records how many bits were significant before scaling), so 65535 is
        # white regardless of the detector's native bit depth.
        return np.clip(array.astype(np.float64) / 65535.0, 0.0, 1.0), 16
    if mode == "F":
        values = array.astype(np.float64)
        low, high = float(np.nanmin(values)), float(np.nanmax(values))
        return (values - low) / (high - low) if high > low else np.zeros_like(values), 32
    raise ImageDecodeError(f"Images with Pillow mode {mode!r} are not supported; {EXPORT_HINT}.")


def _decode_with_pillow(data: bytes, source_format: str, max_pixels: int, min_side: int) -> DecodedImage:
    label = f"{source_format.upper()} file"
    try:
        image = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as exc:
        raise ImageDecodeError(
            f"The {label} declares an image too large to open safely ({exc}). Export a downsampled copy "
            "(for example 3000 pixels on the long side) and upload that."
        ) from exc
    except Exception as exc:  # noqa: BLE001 - Pillow raises many unrelated types for corrupt headers
        # UnidentifiedImageError's text names an in-memory buffer object, which means nothing to a user.
        reason = "its header is unreadable" if isinstance(exc, UnidentifiedImageError) else error_reason(exc)
        raise ImageDecodeError(
            f"The {label} could not be read; it is probably damaged or incomplete ({reason}). "
            "Re-export or re-download the image and upload it again."
        ) from exc
    with image:
        width, height = image.size
        check_dimensions(width, height, max_pixels, min_side, label)
        try:
            if source_format == "png":
                # Pillow's decoder does not check chunk CRCs; verify() does (cheap: no pixels are decoded), so
                # a PNG damaged in transfer is rejected as libpng and browsers reject it, not shown as valid.
                with Image.open(io.BytesIO(data)) as verified:
                    verified.verify()
            image.load()
            # EXIF orientation (phone photos of films): show the image the way the user's viewer shows it.
            transposed = ImageOps.exif_transpose(image)
            gray, bit_depth = _pillow_to_gray(transposed)
        except ImageDecodeError:
            raise
        except Exception as exc:  # noqa: BLE001 - truncation surfaces as OSError, SyntaxError, zlib.error...
            raise ImageDecodeError(
                f"The {label} could not be decoded; it is probably truncated or corrupt ({error_reason(exc)}). "
                "Re-export or re-download the image and upload it again."
            ) from exc
    pixels = np.clip(gray, 0.0, 1.0).astype(np.float32)
    logger.debug("Decoded %s: %d x %d px, %d-bit, mode %s", label, width, height, bit_depth, image.mode)
    return DecodedImage(pixels=pixels, source_format=source_format, bit_depth=bit_depth)


def decode_image(
    data: bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS, min_side: int = DEFAULT_MIN_SIDE
) -> DecodedImage:
    """Decode an uploaded chest X-ray into a grayscale image in display polarity.

    The format is taken from the magic bytes. PNG (8/16-bit gray, gray+alpha, RGB(A), palette) and JPEG
    (gray, RGB, CMYK) are read with Pillow; colour becomes BT.601 luminance and transparency is composited
    on black. DICOM is read with pydicom: the modality LUT (Rescale Slope/Intercept) is applied, then the VOI
    LUT or Window Center/Width (if absent, the image's min-max range), then MONOCHROME1 is inverted so
    bone is white; a multi-frame object yields its first frame; colour DICOM becomes luminance.

    Args:
        data: The complete file contents.
        max_pixels: Largest accepted ``width * height``; checked from the header before pixels are
            decoded, so a decompression bomb is rejected cheaply.
        min_side: Smallest accepted width and height in pixels.

    Returns:
        The decoded image; ``pixels`` has shape ``(height, width)``, float32 in ``[0, 1]``.

    Raises:
        ImageDecodeError: Unknown format, damaged or truncated file, DICOM without pixel data or with an
            unsupported compression, or dimensions outside ``[min_side, max_pixels]``. The message says what
            the user can do about it.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"decode_image expects the file contents as bytes, got {type(data).__name__}")
    data = bytes(data)
    source_format = detect_image_format(data)
    if source_format == "dicom":
        return decode_dicom(data, max_pixels, min_side)
    return _decode_with_pillow(data, source_format, max_pixels, min_side)


def decode_image_file(
    path: str | os.PathLike[str], *, max_pixels: int = DEFAULT_MAX_PIXELS, min_side: int = DEFAULT_MIN_SIDE
) -> DecodedImage:
    """Read and decode an image file; the file name and extension are ignored for format detection.

    Args:
        path: Path to a PNG, JPEG or DICOM file.
        max_pixels: See :func:`decode_image`.
        min_side: See :func:`decode_image`.

    Returns:
        The decoded image.

    Raises:
        ImageDecodeError: The file does not exist, cannot be read, or cannot be decoded.
    """
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except FileNotFoundError as exc:
        raise ImageDecodeError(f"No image file at {os.fspath(path)!r}; check the path.") from exc
    except IsADirectoryError as exc:
        raise ImageDecodeError(f"{os.fspath(path)!r} is a folder, not an image file.") from exc
    except OSError as exc:
        raise ImageDecodeError(f"The image file {os.fspath(path)!r} could not be read ({exc}).") from exc
    return decode_image(data, max_pixels=max_pixels, min_side=min_side)
