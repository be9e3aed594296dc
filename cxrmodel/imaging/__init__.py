"""Chest X-ray images in: decode PNG/JPEG/DICOM, map them onto the model grid, check they look like training films
(:mod:`~cxrmodel.imaging.distribution`) and that they are frontal, not lateral, views (:mod:`~cxrmodel.imaging.view`).

Conventions (display polarity, stored orientation, the pixel-area coordinate convention) are in
:mod:`cxrmodel.imaging.decode`. Nothing here imports TensorFlow or Dash; pydicom and scipy load on first use.
"""

from cxrmodel.imaging.decode import decode_image, decode_image_file, detect_image_format
from cxrmodel.imaging.decoded import (
    DEFAULT_MAX_PIXELS,
    DEFAULT_MIN_SIDE,
    SUPPORTED_FORMATS,
    DecodedImage,
    ImageDecodeError,
)
from cxrmodel.imaging.distribution import DistributionCheck, DistributionThresholds, check_distribution
from cxrmodel.imaging.grid import GridMapping, encode_png, pixels_to_uint8, to_model_grid, to_model_input
from cxrmodel.imaging.trust_profile import TrustProfile, TrustProfileError, read_trust_profile
from cxrmodel.imaging.view import LATERAL_MESSAGE, ViewCheck, check_view

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "DEFAULT_MIN_SIDE",
    "LATERAL_MESSAGE",
    "SUPPORTED_FORMATS",
    "DecodedImage",
    "DistributionCheck",
    "DistributionThresholds",
    "GridMapping",
    "TrustProfile",
    "TrustProfileError",
    "ImageDecodeError",
    "ViewCheck",
    "check_distribution",
    "check_view",
    "decode_image",
    "decode_image_file",
    "detect_image_format",
    "encode_png",
    "pixels_to_uint8",
    "read_trust_profile",
    "to_model_grid",
    "to_model_input",
]
