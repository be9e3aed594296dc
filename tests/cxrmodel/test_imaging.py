"""Tests for cxrmodel.imaging.decode: decoding uploads and mapping them onto the model grid.

All fixtures are built inside the tests from one asymmetric test pattern: a non-square (300 wide x 200 high)
gradient that brightens to the right and downwards, with a bright block near the top-left corner. Any flip,
rotation or polarity inversion of that pattern destroys its correlation with the original.
"""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    ComputedRadiographyImageStorage,
    DigitalXRayImageStorageForPresentation,
    ExplicitVRLittleEndian,
    generate_uid,
)

from cxrmodel.imaging import (
    DecodedImage,
    GridMapping,
    ImageDecodeError,
    decode_image,
    decode_image_file,
    detect_image_format,
    encode_png,
    pixels_to_uint8,
    to_model_grid,
    to_model_input,
)

WIDTH, HEIGHT = 300, 200
BLOCK_ROWS = slice(10, 50)
BLOCK_COLS = slice(15, 75)

# DICOM fixture: physical value = stored * SLOPE + INTERCEPT; the window spans the whole physical range.
SLOPE, INTERCEPT = 2.0, -1000.0
STORED_MAX = 2000  # stored values 0..2000 -> physical -1000..3000
WINDOW_CENTER, WINDOW_WIDTH = 1000.0, 4000.0


def make_pattern(width: int = WIDTH, height: int = HEIGHT) -> np.ndarray:
    """(height, width) float64 in [0.1, 0.95]: gradient right/down plus a bright block top-left."""
    ys, xs = np.mgrid[0:height, 0:width]
    pattern = 0.1 + 0.5 * xs / (width - 1) + 0.2 * ys / (height - 1)
    pattern[BLOCK_ROWS, BLOCK_COLS] = 0.95
    return pattern


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(np.asarray(a, dtype=np.float64).ravel(), np.asarray(b, dtype=np.float64).ravel())[0, 1])


def png_bytes(array: np.ndarray, mode: str | None = None) -> bytes:
    buffer = io.BytesIO()
    image = Image.fromarray(array) if mode is None else Image.fromarray(array).convert(mode)
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def png8(pattern: np.ndarray) -> bytes:
    return png_bytes(np.round(pattern * 255).astype(np.uint8))


def png16(pattern: np.ndarray) -> bytes:
    return png_bytes(np.round(pattern * 65535).astype(np.uint16))


def jpeg(pattern: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.round(pattern * 255).astype(np.uint8)).save(buffer, format="JPEG", quality=95)
    return buffer.getvalue()


def dicom_dataset(
    stored: np.ndarray,
    photometric: str = "MONOCHROME2",
    *,
    window: bool = True,
    rescale: bool = True,
    sop_class=DigitalXRayImageStorageForPresentation,
) -> Dataset:
    """A minimal CR/DX dataset holding ``stored`` (uint16; 2-D, or 3-D for multi-frame) as 12-bit samples."""
    stored = np.asarray(stored, dtype=np.uint16)
    file_meta = FileMetaDataset()
    file_meta.MediaStorageSOPClassUID = sop_class
    file_meta.MediaStorageSOPInstanceUID = generate_uid()
    file_meta.TransferSyntaxUID = ExplicitVRLittleEndian

    ds = Dataset()
    ds.file_meta = file_meta
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = file_meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.Modality = "DX" if sop_class == DigitalXRayImageStorageForPresentation else "CR"
    ds.PatientName = "Test^Pattern"
    ds.PatientID = "TEST0001"
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = photometric
    if stored.ndim == 3:
        ds.NumberOfFrames = stored.shape[0]
    ds.Rows, ds.Columns = stored.shape[-2:]
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    if rescale:
        ds.RescaleSlope = SLOPE
        ds.RescaleIntercept = INTERCEPT
        ds.RescaleType = "US"
    if window:
        ds.WindowCenter = WINDOW_CENTER
        ds.WindowWidth = WINDOW_WIDTH
    ds.PixelData = stored.tobytes()
    return ds


def dicom_bytes(ds: Dataset) -> bytes:
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def dicom_mono2(pattern: np.ndarray, **kwargs) -> bytes:
    return dicom_bytes(dicom_dataset(np.round(pattern * STORED_MAX), "MONOCHROME2", **kwargs))


def dicom_mono1(pattern: np.ndarray, **kwargs) -> bytes:
    # MONOCHROME1 stores bone as LOW values: the file holds the inverted pattern.
    return dicom_bytes(dicom_dataset(STORED_MAX - np.round(pattern * STORED_MAX), "MONOCHROME1", **kwargs))


ENCODERS = {
    "png8": (png8, "png"),
    "png16": (png16, "png"),
    "jpeg": (jpeg, "jpeg"),
    "dicom_monochrome2": (dicom_mono2, "dicom"),
    "dicom_monochrome1": (dicom_mono1, "dicom"),
}


# ---------------------------------------------------------------------------------------------------------
# Decoding: orientation and polarity
# ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(ENCODERS))
def test_every_format_decodes_to_same_orientation_and_polarity(name):
    pattern = make_pattern()
    encode, expected_format = ENCODERS[name]

    decoded = decode_image(encode(pattern))

    assert isinstance(decoded, DecodedImage)
    assert decoded.source_format == expected_format
    assert (decoded.width, decoded.height) == (WIDTH, HEIGHT)
    assert decoded.pixels.shape == (HEIGHT, WIDTH)
    assert decoded.pixels.dtype == np.float32
    assert 0.0 <= decoded.pixels.min() and decoded.pixels.max() <= 1.0
    assert correlation(decoded.pixels, pattern) > 0.98
    # The bright block stays top-left and bright (bone is white whatever the storage polarity).
    block_mean = decoded.pixels[BLOCK_ROWS, BLOCK_COLS].mean()
    assert block_mean > 0.9
    assert block_mean > decoded.pixels[HEIGHT - 40 :, :60].mean() + 0.3  # bottom-left corner is darker
    assert decoded.pixels[:, -10:].mean() > decoded.pixels[60:, 80:90].mean()  # gradient brightens to the right


def test_dicom_rescale_and_window_are_applied():
    pattern = make_pattern()
    for data in (dicom_mono2(pattern), dicom_mono1(pattern)):
        decoded = decode_image(data)
        # The window spans exactly the physical range of the stored values, so the display values equal the
        # pattern up to the 12-bit storage step; a missing rescale or window would shift them.
        np.testing.assert_allclose(decoded.pixels, pattern, atol=2e-3)
        assert decoded.bit_depth == 12


def test_dicom_narrow_window_saturates_the_bright_block():
    pattern = make_pattern()
    ds = dicom_dataset(np.round(pattern * STORED_MAX), "MONOCHROME2", window=False)
    ds.WindowCenter, ds.WindowWidth = 800.0, 1600.0  # physical 0..1600 -> pattern 0.25..0.65
    decoded = decode_image(dicom_bytes(ds))
    assert decoded.pixels[BLOCK_ROWS, BLOCK_COLS].min() == pytest.approx(1.0)
    assert decoded.pixels[:20, :5].max() == pytest.approx(0.0, abs=1e-6)  # darkest corner (~0.1) is below it


def test_dicom_without_window_is_stretched_min_max():
    pattern = make_pattern()
    decoded = decode_image(dicom_mono2(pattern, window=False))
    assert decoded.pixels.min() == pytest.approx(0.0)
    assert decoded.pixels.max() == pytest.approx(1.0)
    assert correlation(decoded.pixels, pattern) > 0.999


def test_computed_radiography_multi_frame_uses_first_frame():
    pattern = make_pattern()
    first = np.round(pattern * STORED_MAX)
    second = np.round(pattern[::-1, ::-1] * STORED_MAX)  # rotated 180 degrees: must not be used
    ds = dicom_dataset(np.stack([first, second]), sop_class=ComputedRadiographyImageStorage)
    decoded = decode_image(dicom_bytes(ds))
    assert decoded.pixels.shape == (HEIGHT, WIDTH)
    assert correlation(decoded.pixels, pattern) > 0.98


def test_dicom_without_preamble_is_detected_and_decoded():
    pattern = make_pattern()
    buffer = io.BytesIO()
    ds = dicom_dataset(np.round(pattern * STORED_MAX))
    del ds.file_meta
    ds.save_as(buffer, implicit_vr=False, little_endian=True)  # bare data set: no preamble, no "DICM"
    data = buffer.getvalue()
    assert data[128:132] != b"DICM"
    assert detect_image_format(data) == "dicom"
    assert correlation(decode_image(data).pixels, pattern) > 0.98


# ---------------------------------------------------------------------------------------------------------
# Decoding: precision, detection, colour and alpha
# ---------------------------------------------------------------------------------------------------------


def test_16_bit_png_keeps_precision_beyond_8_bits():
    # A shallow ramp spanning ~2.5 eight-bit steps but ~650 sixteen-bit steps.
    ramp = np.tile(np.linspace(0.30, 0.31, WIDTH), (HEIGHT, 1))
    decoded = decode_image(png16(ramp))
    assert decoded.bit_depth == 16
    assert np.abs(decoded.pixels - ramp).max() < 1.0 / 65535
    assert len(np.unique(decoded.pixels[0])) > 256
    # ... and the model grid keeps it too (resampling happens on float data).
    grid, _ = to_model_grid(decoded.pixels, 256)
    assert len(np.unique(grid[128])) > 64

    eight_bit = decode_image(png8(ramp))
    assert eight_bit.bit_depth == 8
    assert len(np.unique(eight_bit.pixels[0])) <= 4


@pytest.mark.parametrize(
    ("name", "lying_name"),
    [("png16", "scan.dcm"), ("dicom_monochrome2", "scan.png"), ("jpeg", "scan.png"), ("png8", "xray.jpg")],
)
def test_format_comes_from_magic_bytes_not_file_name(tmp_path, name, lying_name):
    encode, expected_format = ENCODERS[name]
    path = tmp_path / lying_name
    path.write_bytes(encode(make_pattern()))
    assert detect_image_format(path.read_bytes()) == expected_format
    decoded = decode_image_file(path)
    assert decoded.source_format == expected_format
    assert correlation(decoded.pixels, make_pattern()) > 0.98


def test_rgba_png_decodes_to_luminance_with_transparency_on_black():
    pattern = make_pattern()
    gray = np.round(pattern * 255).astype(np.uint8)
    rgba = np.dstack([gray, gray, gray, np.full_like(gray, 255)])
    rgba[-20:, -20:, 3] = 0  # transparent bottom-right corner
    decoded = decode_image(png_bytes(rgba))
    assert decoded.source_format == "png"
    np.testing.assert_allclose(decoded.pixels[:-20, :], pattern[:-20, :], atol=1.5 / 255)
    assert decoded.pixels[-20:, -20:].max() == 0.0


def test_colour_tinted_rgb_png_becomes_luminance():
    pattern = make_pattern()
    gray = pattern * 255
    rgb = np.round(np.dstack([gray, gray * 0.9, gray * 0.8])).astype(np.uint8)  # sepia-ish screenshot
    decoded = decode_image(png_bytes(rgb))
    assert decoded.pixels.shape == (HEIGHT, WIDTH)
    assert correlation(decoded.pixels, pattern) > 0.99


def test_palette_png_is_looked_up_through_its_palette():
    pattern = make_pattern()
    gray = np.round(pattern * 255).astype(np.uint8)
    palette_image = Image.frombytes("P", (WIDTH, HEIGHT), (255 - gray).tobytes())
    # Index i shows grey 255 - i, so decoding the raw indices instead of the palette would invert the film.
    palette_image.putpalette([value for i in range(256) for value in (255 - i,) * 3])
    buffer = io.BytesIO()
    palette_image.save(buffer, format="PNG")
    decoded = decode_image(buffer.getvalue())
    np.testing.assert_allclose(decoded.pixels, gray / 255.0, atol=1e-6)


# ---------------------------------------------------------------------------------------------------------
# Decoding: errors a user can act on
# ---------------------------------------------------------------------------------------------------------


def test_dicom_without_pixel_data_is_rejected():
    ds = dicom_dataset(np.zeros((HEIGHT, WIDTH)))
    del ds.PixelData
    with pytest.raises(ImageDecodeError, match="no pixel data"):
        decode_image(dicom_bytes(ds))


def test_truncated_png_is_rejected_with_a_useful_message():
    data = png8(make_pattern())
    with pytest.raises(ImageDecodeError, match="truncated or corrupt|damaged or incomplete") as info:
        decode_image(data[: len(data) // 2])
    assert "upload it again" in str(info.value)


def test_truncated_dicom_is_rejected():
    data = dicom_mono2(make_pattern())
    with pytest.raises(ImageDecodeError, match="DICOM"):
        decode_image(data[: len(data) - 5000])


def test_empty_file_is_rejected():
    with pytest.raises(ImageDecodeError, match="empty"):
        decode_image(b"")


def test_random_bytes_are_rejected_naming_the_accepted_formats():
    data = np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes()
    with pytest.raises(ImageDecodeError, match="not a PNG, JPEG or DICOM") as info:
        decode_image(data)
    assert "export the X-ray as PNG, JPEG or DICOM" in str(info.value)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("name", ["png8", "jpeg", "dicom_monochrome2"])
def test_too_many_pixels_are_rejected_with_the_dimensions(name):
    encode, _ = ENCODERS[name]
    with pytest.raises(ImageDecodeError, match="300 x 200"):
        decode_image(encode(make_pattern()), max_pixels=WIDTH * HEIGHT - 1)
    assert decode_image(encode(make_pattern()), max_pixels=WIDTH * HEIGHT).width == WIDTH


def test_decompression_bomb_header_is_rejected_before_decoding():
    # A 45-byte PNG whose header claims 100000 x 100000 pixels: rejected from the header, nothing allocated.
    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    header = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 0, 0, 0, 0)
    bomb = (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )
    with pytest.raises(ImageDecodeError, match="too large"):
        decode_image(bomb)


def test_too_small_image_is_rejected():
    with pytest.raises(ImageDecodeError, match="too small: 20 x 16"):
        decode_image(png8(make_pattern(20, 16)))


def test_missing_file_names_the_path(tmp_path):
    missing = tmp_path / "nowhere" / "film.png"
    with pytest.raises(ImageDecodeError, match="film.png"):
        decode_image_file(missing)


def test_decoded_pixels_are_read_only():
    decoded = decode_image(png8(make_pattern()))
    with pytest.raises(ValueError):
        decoded.pixels[0, 0] = 0.5


# ---------------------------------------------------------------------------------------------------------
# Model grid
# ---------------------------------------------------------------------------------------------------------

SHAPES = {"landscape": (200, 300), "portrait": (300, 200)}  # (height, width)


@pytest.mark.parametrize("orientation", list(SHAPES))
def test_grid_mapping_round_trips_arrays_of_points(orientation):
    height, width = SHAPES[orientation]
    _, mapping = to_model_grid(np.zeros((height, width), dtype=np.float32), 224)
    rng = np.random.default_rng(1)
    xs = rng.uniform(-10, width + 10, size=(50, 3))
    ys = rng.uniform(-10, height + 10, size=(50, 3))

    gx, gy = mapping.to_grid(xs, ys)
    assert gx.shape == xs.shape
    back_x, back_y = mapping.to_image(gx, gy)
    np.testing.assert_allclose(back_x, xs, rtol=0, atol=1e-9)
    np.testing.assert_allclose(back_y, ys, rtol=0, atol=1e-9)

    grid_points = rng.uniform(0, 224, size=(2, 40))
    np.testing.assert_allclose(mapping.to_grid(*mapping.to_image(*grid_points)), grid_points, atol=1e-9)

    # Scalars stay scalars; the grid centre is the image centre; lengths scale with the longer side.
    cx, cy = mapping.to_image(112.0, 112.0)
    assert isinstance(cx, float)
    assert (cx, cy) == pytest.approx((width / 2, height / 2))
    assert mapping.length_to_image(10.0) == pytest.approx(10.0 * max(width, height) / 224)


@pytest.mark.parametrize("orientation", list(SHAPES))
def test_image_corners_map_to_the_padded_content_corners(orientation):
    height, width = SHAPES[orientation]
    size = 64
    grid, mapping = to_model_grid(make_pattern(width, height), size)
    assert grid.shape == (size, size) and grid.dtype == np.float32
    assert mapping == GridMapping.for_image(width, height, size)

    x0, y0 = mapping.to_grid(0.0, 0.0)
    x1, y1 = mapping.to_grid(float(width), float(height))
    pad = (size - min(width, height) * size / max(width, height)) / 2
    if width > height:
        assert (x0, y0, x1, y1) == pytest.approx((0.0, pad, size, size - pad))
    else:
        assert (x0, y0, x1, y1) == pytest.approx((pad, 0.0, size - pad, size))

    # Grid pixels entirely outside the content rectangle are black padding; those entirely inside show the
    # pattern (whose darkest value is 0.1).
    outside = np.ones((size, size), dtype=bool)
    outside[int(np.floor(y0)) : int(np.ceil(y1)), int(np.floor(x0)) : int(np.ceil(x1))] = False
    assert grid[outside].max() == 0.0
    inside = grid[int(np.ceil(y0)) : int(np.floor(y1)), int(np.ceil(x0)) : int(np.floor(x1))]
    assert inside.min() > 0.08
    # Orientation survives: the bright block is in the top-left of the content.
    block_x, block_y = mapping.to_grid(45.0, 30.0)  # centre of the bright block in image coordinates
    assert grid[int(block_y), int(block_x)] > 0.9


@pytest.mark.parametrize(
    ("shape", "dot_centre", "size"),
    [
        ((200, 300), (232.0, 52.0), 64),  # landscape, downscaled
        ((300, 200), (52.0, 232.0), 64),  # portrait, downscaled
        ((2000, 1500), (300.5, 1700.5), 224),  # large portrait film
        ((40, 60), (45.0, 11.0), 128),  # small landscape image, upscaled
    ],
)
def test_bright_dot_appears_where_to_grid_says(shape, dot_centre, size):
    height, width = shape
    image = np.zeros(shape, dtype=np.float32)
    half = max(2, max(shape) // 100)  # dot of 2*half pixels
    cx, cy = dot_centre
    rows = slice(int(round(cy - half)), int(round(cy + half)))
    cols = slice(int(round(cx - half)), int(round(cx + half)))
    image[rows, cols] = 1.0
    true_x = (cols.start + cols.stop) / 2  # pixel-area convention: block [a, b) has centre (a + b) / 2
    true_y = (rows.start + rows.stop) / 2

    grid, mapping = to_model_grid(image, size)

    ys, xs = np.mgrid[0:size, 0:size]
    weights = grid / grid.sum()
    found_x = float((weights * (xs + 0.5)).sum())  # grid pixel centres
    found_y = float((weights * (ys + 0.5)).sum())
    expected_x, expected_y = mapping.to_grid(true_x, true_y)
    assert abs(found_x - expected_x) <= 1.0 and abs(found_y - expected_y) <= 1.0
    # The grid pixel that to_grid points at is on the dot, not beside it.
    assert grid[int(expected_y), int(expected_x)] >= 0.5 * grid.max()


def test_square_image_fills_the_grid_without_padding():
    grid, mapping = to_model_grid(np.full((100, 100), 0.5, dtype=np.float32), 50)
    assert (mapping.offset_x, mapping.offset_y, mapping.scale) == (0.0, 0.0, 0.5)
    np.testing.assert_allclose(grid, 0.5, atol=1e-6)


def test_model_input_is_three_identical_channels():
    grid, _ = to_model_grid(make_pattern(), 32)
    model_input = to_model_input(grid)
    assert model_input.shape == (32, 32, 3) and model_input.dtype == np.float32
    for channel in range(3):
        np.testing.assert_array_equal(model_input[..., channel], grid)
    assert 0.0 <= model_input.min() and model_input.max() <= 1.0


def test_encode_png_round_trips_as_8_bit_grayscale():
    pattern = make_pattern().astype(np.float32)
    data = encode_png(pattern)
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    with Image.open(io.BytesIO(data)) as image:
        assert image.mode == "L" and image.size == (WIDTH, HEIGHT)
        np.testing.assert_array_equal(np.asarray(image), pixels_to_uint8(pattern))
    np.testing.assert_array_equal(pixels_to_uint8(np.array([[-0.2, 0.0, 0.5, 1.0, 1.7]])), [[0, 0, 128, 255, 255]])
    assert correlation(decode_image(data).pixels, pattern) > 0.999
