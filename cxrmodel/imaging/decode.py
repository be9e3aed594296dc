"""Decoding chest X-ray uploads and mapping them onto the square model grid.

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
import math
import os
import re
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

logger = logging.getLogger(__name__)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
JPEG_SIGNATURE = b"\xff\xd8\xff"
DICOM_PREFIX = b"DICM"
DICOM_PREFIX_OFFSET = 128

SUPPORTED_FORMATS: tuple[str, ...] = ("png", "jpeg", "dicom")

DEFAULT_MAX_PIXELS = 50_000_000
"""Largest accepted image (width x height). A 43 cm detector at 100 micrometre pitch is ~18.5 megapixels."""

DEFAULT_MIN_SIDE = 32
"""Smallest accepted width and height in pixels; anything smaller is a thumbnail or icon, not a film."""

# ITU-R BT.601 luma weights, the same ones Pillow uses for RGB -> "L".
_LUMA_WEIGHTS = np.array([0.299, 0.587, 0.114], dtype=np.float64)

_EXPORT_HINT = "export the X-ray as PNG, JPEG or DICOM and upload it again"
_OBJECT_REPR = re.compile(r"<[\w.]+ object at 0x[0-9a-fA-F]+>")


def _reason(exc: BaseException) -> str:
    """A library exception as one line for a user: no line breaks, no ``<_io.BytesIO object at 0x...>``."""
    return " ".join(_OBJECT_REPR.sub("", str(exc)).split()) or type(exc).__name__


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


# ---------------------------------------------------------------------------------------------------------
# Format detection
# ---------------------------------------------------------------------------------------------------------


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
        import pydicom

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
        raise ImageDecodeError(f"The file is empty (0 bytes); {_EXPORT_HINT}.")
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
        f"{len(data)} bytes in total); {_EXPORT_HINT}."
    )


# ---------------------------------------------------------------------------------------------------------
# Decoding
# ---------------------------------------------------------------------------------------------------------


def _check_dimensions(width: int, height: int, max_pixels: int, min_side: int, what: str) -> None:
    if width <= 0 or height <= 0:
        raise ImageDecodeError(f"The {what} reports an empty image ({width} x {height} pixels); {_EXPORT_HINT}.")
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


def _luminance(rgb: np.ndarray) -> np.ndarray:
    """``(..., 3)`` RGB in any numeric range -> ``(...)`` float64 luminance in the same range (BT.601)."""
    return rgb[..., :3].astype(np.float64) @ _LUMA_WEIGHTS


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
        return _luminance(array) / 255.0, 8
    if mode == "RGBA":
        gray = _luminance(array) / 255.0
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
    raise ImageDecodeError(f"Images with Pillow mode {mode!r} are not supported; {_EXPORT_HINT}.")


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
        reason = "its header is unreadable" if isinstance(exc, UnidentifiedImageError) else _reason(exc)
        raise ImageDecodeError(
            f"The {label} could not be read; it is probably damaged or incomplete ({reason}). "
            "Re-export or re-download the image and upload it again."
        ) from exc
    with image:
        width, height = image.size
        _check_dimensions(width, height, max_pixels, min_side, label)
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
                f"The {label} could not be decoded; it is probably truncated or corrupt ({_reason(exc)}). "
                "Re-export or re-download the image and upload it again."
            ) from exc
    pixels = np.clip(gray, 0.0, 1.0).astype(np.float32)
    logger.debug("Decoded %s: %d x %d px, %d-bit, mode %s", label, width, height, bit_depth, image.mode)
    return DecodedImage(pixels=pixels, source_format=source_format, bit_depth=bit_depth)


def _voi_output_range(dataset: Any) -> tuple[float, float]:
    """The range of values the VOI LUT / windowing step of ``dataset`` can produce.

    For a VOI LUT Sequence this is the range of the table's entries. For windowing it is found by pushing the
    two extreme inputs through pydicom's own windowing, so it always matches the pydicom version in use
    (the range depends on Bits Stored, Pixel Representation and the rescale parameters).
    """
    from pydicom.pixels import apply_voi_lut

    sequence = dataset.get("VOILUTSequence")
    if sequence:
        lut = np.asarray(sequence[0].LUTData, dtype=np.float64)
        return float(lut.min()), float(lut.max())
    probe = np.array([-1e30, 1e30], dtype=np.float64)
    with np.errstate(over="ignore", under="ignore"):
        low, high = apply_voi_lut(probe, dataset, prefer_lut=True)
    return float(low), float(high)


def _dicom_grayscale_to_unit(frame: np.ndarray, dataset: Any) -> np.ndarray:
    """Modality LUT, then VOI LUT / window, then scale to ``[0, 1]`` (still in stored polarity)."""
    from pydicom.pixels import apply_modality_lut, apply_voi_lut

    values = apply_modality_lut(frame, dataset).astype(np.float64)
    has_window = "WindowCenter" in dataset and "WindowWidth" in dataset
    has_voi_lut = bool(dataset.get("VOILUTSequence"))
    if has_window or has_voi_lut:
        try:
            windowed = np.asarray(apply_voi_lut(values, dataset, prefer_lut=True), dtype=np.float64)
            low, high = _voi_output_range(dataset)
            if high > low:
                return np.clip((windowed - low) / (high - low), 0.0, 1.0)
            logger.warning("DICOM VOI output range is empty (%s..%s); using the image's own range", low, high)
        except Exception as exc:  # noqa: BLE001 - malformed window values must not block the study
            logger.warning("DICOM window/VOI LUT could not be applied (%s); using the image's own range", exc)
    # No usable window: stretch the image's own range (min-max) over [0, 1].
    low, high = float(np.min(values)), float(np.max(values))
    if high <= low:
        logger.warning("DICOM image has a single grey value (%s); it will appear uniformly black", low)
        return np.zeros_like(values)
    return (values - low) / (high - low)


def _ensure_transfer_syntax(dataset: Any) -> None:
    """Give a bare data set (no file meta, e.g. written without the preamble) the syntax it was read with.

    pydicom needs (0002,0010) Transfer Syntax UID to decode pixel data. A bare data set can only be
    uncompressed, and ``force=True`` reading has already worked out its VR and byte order.
    """
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

    file_meta = getattr(dataset, "file_meta", None)
    if file_meta is not None and "TransferSyntaxUID" in file_meta:
        return
    implicit_vr, little_endian = dataset.original_encoding
    if implicit_vr:
        syntax = ImplicitVRLittleEndian
    else:
        syntax = ExplicitVRLittleEndian if little_endian is not False else ExplicitVRBigEndian
    if file_meta is None:
        file_meta = FileMetaDataset()
        dataset.file_meta = file_meta
    file_meta.TransferSyntaxUID = syntax
    logger.info("DICOM file has no Transfer Syntax UID; assuming %s from how it was read", syntax.name)


def _check_uncompressed_length(dataset: Any, transfer_syntax: Any, rows: int, columns: int, frames: int) -> None:
    """Reject uncompressed pixel data shorter than the header announces (a file cut short in transfer)."""
    if transfer_syntax is None or getattr(transfer_syntax, "is_compressed", True) or "PixelData" not in dataset:
        return
    try:
        bits = int(dataset.get("BitsAllocated", 16) or 16) * int(dataset.get("SamplesPerPixel", 1) or 1)
        expected = math.ceil(rows * columns * frames * bits / 8)
        actual = len(dataset.PixelData or b"")
    except Exception:  # noqa: BLE001 - odd attributes are left to pydicom's own checks
        return
    if actual < expected:
        raise ImageDecodeError(
            f"The DICOM file is incomplete: its pixel data has {actual:,} of the {expected:,} bytes its header "
            "announces, so it was probably cut short in transfer. Copy or export it again from the PACS."
        )


def _decode_dicom(data: bytes, max_pixels: int, min_side: int) -> DecodedImage:
    import pydicom

    label = "DICOM file"
    try:
        dataset = pydicom.dcmread(io.BytesIO(data), force=True)
    except Exception as exc:  # noqa: BLE001 - pydicom raises many types for damaged files
        raise ImageDecodeError(
            f"The DICOM file could not be read; it is probably truncated or corrupt ({_reason(exc)}). "
            "Export the study again from the PACS or modality and upload it again."
        ) from exc

    if not any(keyword in dataset for keyword in ("PixelData", "FloatPixelData", "DoubleFloatPixelData")):
        raise ImageDecodeError(
            "The DICOM file has no pixel data: it may be a structured report, presentation state or "
            "header-only export, or a file cut short in transfer. Export the image itself (the CR/DX "
            "instance) from the PACS again."
        )
    try:
        rows = int(dataset.Rows)
        columns = int(dataset.Columns)
    except Exception as exc:  # noqa: BLE001
        raise ImageDecodeError(
            f"The DICOM file does not state its image size (Rows/Columns are missing or invalid: {_reason(exc)}). "
            "Export the study again from the PACS."
        ) from exc
    _check_dimensions(columns, rows, max_pixels, min_side, label)

    _ensure_transfer_syntax(dataset)
    transfer_syntax = getattr(getattr(dataset, "file_meta", None), "TransferSyntaxUID", None)
    syntax_name = getattr(transfer_syntax, "name", str(transfer_syntax)) if transfer_syntax else "unknown"
    photometric = str(dataset.get("PhotometricInterpretation", "MONOCHROME2")).strip().upper()
    frames = int(dataset.get("NumberOfFrames", 1) or 1)
    _check_uncompressed_length(dataset, transfer_syntax, rows, columns, frames)
    try:
        # Decode only the first frame of a multi-frame object.
        dataset.pixel_array_options(index=0)
        frame = np.asarray(dataset.pixel_array)
    except Exception as exc:  # noqa: BLE001 - missing codec plugins, truncated pixel data, bad attributes
        raise ImageDecodeError(
            f"The DICOM pixel data could not be decoded (transfer syntax: {syntax_name}; {_reason(exc)}). "
            "Ask for the study to be exported uncompressed (Explicit VR Little Endian) or as PNG."
        ) from exc
    if frames > 1:
        logger.info("DICOM has %d frames; using the first", frames)

    try:
        if photometric in ("MONOCHROME1", "MONOCHROME2"):
            if frame.ndim != 2:
                raise ValueError(f"expected one grayscale frame, got array shape {frame.shape}")
            unit = _dicom_grayscale_to_unit(frame, dataset)
            if photometric == "MONOCHROME1":
                # MONOCHROME1: the minimum value is displayed white. Invert after the VOI step so bone is
                # bright. (On DX, Presentation LUT Shape INVERSE describes this same inversion, so it is not
                # applied a second time.)
                unit = 1.0 - unit
        else:
            if photometric == "PALETTE COLOR":
                from pydicom.pixels import apply_color_lut

                rgb = np.asarray(apply_color_lut(frame, dataset))
                full_scale = float(np.iinfo(rgb.dtype).max) if rgb.dtype.kind in "ui" else float(rgb.max() or 1)
            else:
                # RGB and YBR_* (pydicom converts YBR to RGB by default).
                rgb = frame
                full_scale = float(2 ** int(dataset.get("BitsStored", 8)) - 1)
            if rgb.ndim != 3 or rgb.shape[-1] < 3:
                raise ValueError(f"expected an RGB frame, got array shape {rgb.shape}")
            unit = np.clip(_luminance(rgb) / full_scale, 0.0, 1.0)
    except Exception as exc:  # noqa: BLE001
        raise ImageDecodeError(
            f"The DICOM image (Photometric Interpretation {photometric}) could not be converted to a "
            f"grayscale display image ({_reason(exc)}). Export the image as PNG or as a MONOCHROME2 DICOM."
        ) from exc

    bit_depth = int(dataset.get("BitsStored", dataset.get("BitsAllocated", 16)) or 16)
    pixels = np.clip(unit, 0.0, 1.0).astype(np.float32)
    logger.debug(
        "Decoded DICOM: %d x %d px, %d-bit, %s, transfer syntax %s", columns, rows, bit_depth, photometric, syntax_name
    )
    return DecodedImage(pixels=pixels, source_format="dicom", bit_depth=bit_depth)


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
        return _decode_dicom(data, max_pixels, min_side)
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


# ---------------------------------------------------------------------------------------------------------
# Model grid
# ---------------------------------------------------------------------------------------------------------


def _as_coordinate(value: Any) -> Any:
    array = np.asarray(value, dtype=np.float64)
    return float(array) if array.ndim == 0 else array


@dataclass(frozen=True)
class GridMapping:
    """How an original image sits on the square model grid (aspect-preserving scale plus centring pad).

    Both coordinate systems use the pixel-area convention (see the module docstring): the image spans
    ``[0, image_width] x [0, image_height]`` and the grid ``[0, grid_size] x [0, grid_size]``. A point maps
    as ``grid = image * scale + offset`` on each axis, so ``(0, 0)`` of the image lands on
    ``(offset_x, offset_y)``, ``(image_width, image_height)`` on ``(grid_size - offset_x,
    grid_size - offset_y)``, and the grid centre on the image centre.

    Attributes:
        scale: Model-grid pixels per original-image pixel (``grid_size / max(width, height)``).
        offset_x: Padding on the left, in model-grid pixels (may be fractional).
        offset_y: Padding at the top, in model-grid pixels (may be fractional).
        image_width: Original image width in pixels.
        image_height: Original image height in pixels.
        grid_size: Side of the square model grid in pixels.
    """

    scale: float
    offset_x: float
    offset_y: float
    image_width: int
    image_height: int
    grid_size: int

    @classmethod
    def for_image(cls, image_width: int, image_height: int, grid_size: int) -> GridMapping:
        """The mapping used by :func:`to_model_grid` for an image of the given size."""
        if image_width <= 0 or image_height <= 0 or grid_size <= 0:
            raise ValueError(
                f"image and grid sizes must be positive, got {image_width} x {image_height} -> {grid_size}"
            )
        longest = max(image_width, image_height)
        scale = grid_size / longest
        # The longer side fills the grid: its offset is exactly 0 (not a rounding residue such as -1e-14).
        return cls(
            scale=scale,
            offset_x=0.0 if image_width == longest else (grid_size - image_width * scale) / 2.0,
            offset_y=0.0 if image_height == longest else (grid_size - image_height * scale) / 2.0,
            image_width=int(image_width),
            image_height=int(image_height),
            grid_size=int(grid_size),
        )

    def to_image(self, x: Any, y: Any) -> tuple[Any, Any]:
        """Model-grid coordinates -> original-image pixel coordinates.

        Args:
            x: Grid x (column direction), a float or an array of any shape.
            y: Grid y (row direction), same shape as ``x``.

        Returns:
            ``(x, y)`` in original-image pixels (floats, or float64 arrays for array input). Points in the
            padding map outside ``[0, width] x [0, height]``; they are not clipped.
        """
        x, y = _as_coordinate(x), _as_coordinate(y)
        return (x - self.offset_x) / self.scale, (y - self.offset_y) / self.scale

    def to_grid(self, x: Any, y: Any) -> tuple[Any, Any]:
        """Original-image pixel coordinates -> model-grid coordinates (inverse of :meth:`to_image`)."""
        x, y = _as_coordinate(x), _as_coordinate(y)
        return x * self.scale + self.offset_x, y * self.scale + self.offset_y

    def length_to_image(self, length: Any) -> Any:
        """A length on the grid (e.g. a circle radius in grid pixels) -> original-image pixels."""
        return _as_coordinate(length) / self.scale

    def length_to_grid(self, length: Any) -> Any:
        """A length in original-image pixels -> grid pixels."""
        return _as_coordinate(length) * self.scale


def _content_extent(image_extent: float, grid_size: int) -> int:
    """Whole grid pixels that receive image content on one axis, centred with an even split of padding.

    The count is the smallest integer that covers ``image_extent`` (in grid pixels) and has the same parity
    as ``grid_size``, so that the padding splits evenly and the resized block sits exactly where the
    mapping's fractional offset puts the image. Edge pixels only partly covered by the image are blended
    with the black padding.
    """
    count = max(1, math.ceil(image_extent - 1e-6))
    if (grid_size - count) % 2:
        count += 1
    return min(count, grid_size)


def to_model_grid(pixels: np.ndarray, size: int) -> tuple[np.ndarray, GridMapping]:
    """Resize an image onto a square ``size x size`` grid, preserving aspect ratio, with black padding.

    The longer side is scaled to ``size``; the shorter side is centred and padded with zeros (black). The
    geometry follows :class:`GridMapping` exactly (including fractional padding), so a structure at image
    coordinates ``p`` appears at ``mapping.to_grid(*p)`` on the grid.

    Resampling is done on float32 data (Pillow mode ``"F"``), so 16-bit grey levels are not quantised to 8
    bits. Downscaling (the usual case: a 2000-3000 px film onto a few hundred grid pixels) uses
    ``Resampling.BOX``: each grid pixel is the plain mean of the image pixels whose centres fall inside the
    area it covers, which matches the pixel-area coordinate convention (no shift of structures), anti-aliases
    fine texture and, unlike Lanczos/bicubic, never
    overshoots (no bright/dark halos around burnt-in markers or lines and no values outside ``[0, 1]``).
    Upscaling a small image uses ``Resampling.BILINEAR`` (BOX would give blocky nearest-neighbour output).

    Args:
        pixels: ``(height, width)`` image, float in ``[0, 1]`` (e.g. :attr:`DecodedImage.pixels`).
        size: Side of the square model grid in pixels.

    Returns:
        ``(grid, mapping)``: ``grid`` is ``(size, size)`` float32 in ``[0, 1]``; ``mapping`` converts
        coordinates between the grid and the original image.
    """
    array = np.asarray(pixels)
    if array.ndim != 2:
        raise ValueError(f"pixels must be a (height, width) array, got shape {array.shape}")
    if int(size) != size or size < 1:
        raise ValueError(f"size must be a positive integer, got {size!r}")
    size = int(size)
    height, width = array.shape
    mapping = GridMapping.for_image(width, height, size)
    scale = mapping.scale

    content_w = _content_extent(width * scale, size)
    content_h = _content_extent(height * scale, size)
    # Source region (in image pixels) that the content block covers, centred on the image. It may reach
    # slightly beyond the image on the short axis; that sliver is padded with black so the partly covered
    # edge grid pixels are blended with the padding, exactly as the geometry says.
    source_w = content_w / scale
    source_h = content_h / scale
    pad_x = max(0, math.ceil((source_w - width) / 2.0 + 1e-9))
    pad_y = max(0, math.ceil((source_h - height) / 2.0 + 1e-9))
    source = np.asarray(array, dtype=np.float32)
    if pad_x or pad_y:
        source = np.pad(source, ((pad_y, pad_y), (pad_x, pad_x)), mode="constant", constant_values=0.0)
    left = pad_x + (width - source_w) / 2.0
    top = pad_y + (height - source_h) / 2.0
    box = (
        max(0.0, left),
        max(0.0, top),
        min(float(source.shape[1]), left + source_w),
        min(float(source.shape[0]), top + source_h),
    )
    resample = Image.Resampling.BOX if scale < 1.0 else Image.Resampling.BILINEAR
    resized = Image.fromarray(np.ascontiguousarray(source)).resize(
        (content_w, content_h), resample=resample, box=box
    )
    grid = np.zeros((size, size), dtype=np.float32)
    start_x = (size - content_w) // 2
    start_y = (size - content_h) // 2
    grid[start_y : start_y + content_h, start_x : start_x + content_w] = np.asarray(resized, dtype=np.float32)
    np.clip(grid, 0.0, 1.0, out=grid)
    return grid, mapping


def to_model_input(pixels_on_grid: np.ndarray) -> np.ndarray:
    """Replicate a grayscale grid image to the 3-channel input the models take.

    Args:
        pixels_on_grid: ``(size, size)`` float image in ``[0, 1]`` from :func:`to_model_grid`.

    Returns:
        ``(size, size, 3)`` float32 in ``[0, 1]`` (gray copied to R, G and B). No mean/std normalisation
        is applied here; each model applies its own inside the network.
    """
    array = np.asarray(pixels_on_grid, dtype=np.float32)
    if array.ndim != 2:
        raise ValueError(f"pixels_on_grid must be a (size, size) array, got shape {array.shape}")
    clipped = np.clip(array, 0.0, 1.0)
    return np.ascontiguousarray(np.repeat(clipped[:, :, np.newaxis], 3, axis=2))


def pixels_to_uint8(pixels: np.ndarray) -> np.ndarray:
    """``(height, width)`` float image in ``[0, 1]`` -> ``uint8`` in ``[0, 255]`` (rounded, clipped)."""
    array = np.asarray(pixels, dtype=np.float64)
    return np.round(np.clip(np.nan_to_num(array, nan=0.0), 0.0, 1.0) * 255.0).astype(np.uint8)


def encode_png(pixels: np.ndarray) -> bytes:
    """Encode a ``(height, width)`` float image in ``[0, 1]`` as an 8-bit grayscale PNG (for the browser).

    Args:
        pixels: ``(height, width)`` float image in ``[0, 1]``.

    Returns:
        The PNG file contents.
    """
    array = np.asarray(pixels)
    if array.ndim != 2:
        raise ValueError(f"pixels must be a (height, width) array, got shape {array.shape}")
    buffer = io.BytesIO()
    Image.fromarray(pixels_to_uint8(array)).save(buffer, format="PNG", compress_level=6)
    return buffer.getvalue()
