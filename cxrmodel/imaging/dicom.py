"""DICOM radiographs with pydicom: modality LUT, VOI LUT or windowing, MONOCHROME1 inverted, first frame.

pydicom is imported inside the functions, so a process that never sees a DICOM never loads it.
"""

from __future__ import annotations

import io
import logging
import math
from typing import Any

import numpy as np

from cxrmodel.imaging.decoded import DecodedImage, ImageDecodeError, check_dimensions, error_reason, luminance

logger = logging.getLogger(__name__)


def _voi_output_range(dataset: Any) -> tuple[float, float]:
    """The range of values the VOI LUT / windowing step of ``dataset`` can produce.

    For a VOI LUT Sequence this is the range of the table's entries. For windowing it is found by pushing the
    two extreme inputs through pydicom's own windowing, so it always matches the pydicom version in use
    (the range depends on Bits Stored, Pixel Representation and the rescale parameters).
    """
    from pydicom.pixels import apply_voi_lut  # noqa: PLC0415 - pydicom only when a DICOM is decoded

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
    from pydicom.pixels import apply_modality_lut, apply_voi_lut  # noqa: PLC0415 - pydicom only when a DICOM is decoded

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
    from pydicom.dataset import FileMetaDataset  # noqa: PLC0415 - pydicom only when a DICOM is decoded
    from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian  # noqa: PLC0415 - same

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


def decode_dicom(data: bytes, max_pixels: int, min_side: int) -> DecodedImage:
    import pydicom  # noqa: PLC0415 - pydicom only when a DICOM is decoded

    label = "DICOM file"
    try:
        dataset = pydicom.dcmread(io.BytesIO(data), force=True)
    except Exception as exc:  # noqa: BLE001 - pydicom raises many types for damaged files
        raise ImageDecodeError(
            f"The DICOM file could not be read; it is probably truncated or corrupt ({error_reason(exc)}). "
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
            f"The DICOM file does not state its image size (Rows/Columns are missing or invalid: {error_reason(exc)}). "
            "Export the study again from the PACS."
        ) from exc
    check_dimensions(columns, rows, max_pixels, min_side, label)

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
            f"The DICOM pixel data could not be decoded (transfer syntax: {syntax_name}; {error_reason(exc)}). "
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
                from pydicom.pixels import apply_color_lut  # noqa: PLC0415 - pydicom only for a palette-colour DICOM

                rgb = np.asarray(apply_color_lut(frame, dataset))
                full_scale = float(np.iinfo(rgb.dtype).max) if rgb.dtype.kind in "ui" else float(rgb.max() or 1)
            else:
                # RGB and YBR_* (pydicom converts YBR to RGB by default).
                rgb = frame
                full_scale = float(2 ** int(dataset.get("BitsStored", 8)) - 1)
            if rgb.ndim != 3 or rgb.shape[-1] < 3:
                raise ValueError(f"expected an RGB frame, got array shape {rgb.shape}")
            unit = np.clip(luminance(rgb) / full_scale, 0.0, 1.0)
    except Exception as exc:  # noqa: BLE001
        raise ImageDecodeError(
            f"The DICOM image (Photometric Interpretation {photometric}) could not be converted to a "
            f"grayscale display image ({error_reason(exc)}). Export the image as PNG or as a MONOCHROME2 DICOM."
        ) from exc

    bit_depth = int(dataset.get("BitsStored", dataset.get("BitsAllocated", 16)) or 16)
    pixels = np.clip(unit, 0.0, 1.0).astype(np.float32)
    logger.debug(
        "Decoded DICOM: %d x %d px, %d-bit, %s, transfer syntax %s", columns, rows, bit_depth, photometric, syntax_name
    )
    return DecodedImage(pixels=pixels, source_format="dicom", bit_depth=bit_depth)
