"""Synthetic frontal (PA) chest radiograph phantoms with ground-truth lesion and marker masks.

No real X-ray can be downloaded where this project is built, so the product trains and demonstrates on
phantoms: a procedurally drawn chest (body outline, lungs with branching vascular markings, ribs,
clavicles, spine, heart and mediastinum, diaphragm) plus the requested findings and burnt-in film markers.

Rendering has three stages:

1. Anatomy (:mod:`cxrmodel.data.synthetic.phantom.anatomy`, :mod:`cxrmodel.data.synthetic.phantom.bones`):
   density layers.
2. Findings (:mod:`cxrmodel.data.synthetic.phantom.findings`): each edits the layers and returns its lesion mask.
3. Film (this module): density to brightness with per-study exposure, quantum-like noise and blur, then
   the burnt-in markers (:mod:`cxrmodel.data.synthetic.phantom.markers`).

The given generator is split into independent streams (anatomy, vessels, bones, exposure, noise, markers,
one per finding kind), so the same seed rendered with and without a finding gives the same patient, film
and noise: the difference between the two images is the lesion alone.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
from scipy import ndimage

from cxrmodel.data.synthetic.findings import CARDIOMEGALY, FINDING_KINDS, Finding
from cxrmodel.data.synthetic.phantom.anatomy import MARKINGS_DENSITY, build_anatomy
from cxrmodel.data.synthetic.phantom.findings import cardiomegaly_ratio, draw_finding
from cxrmodel.data.synthetic.phantom.geometry import sample_anatomy
from cxrmodel.data.synthetic.phantom.markers import burn_markers

logger = logging.getLogger(__name__)

MIN_SIZE = 128
MAX_SIZE = 1024
_STREAMS = ("anatomy", "vessels", "bones", "exposure", "noise", "markers", "findings")


@dataclass
class Phantom:
    """One rendered synthetic study.

    Attributes:
        image: (height, width) uint8 grayscale in radiograph polarity: bone and soft tissue bright,
            aerated lung dark, air outside the body near black.
        masks: Finding kind -> (height, width) bool mask of the drawn lesion; exactly the kinds in the
            requested findings (two findings of one kind share one mask, their union).
        marker_mask: (height, width) bool, pixels of every burnt-in marker (glyphs dilated by one pixel).
        markers: The markers drawn, in the order requested, e.g. ``["R", "PORTABLE"]``.
        cardiothoracic_ratio: Heart width over internal thoracic width as drawn (normal 0.38-0.48,
            cardiomegaly 0.52-0.68).
    """

    image: np.ndarray
    masks: dict[str, np.ndarray]
    marker_mask: np.ndarray
    markers: list[str]
    cardiothoracic_ratio: float


@dataclass(frozen=True)
class Exposure:
    """Film processing of one study.

    Attributes:
        attenuation: Exponent of the film curve ``1 - exp(-attenuation * density)``; higher is harder.
        gamma: Power applied to the normalised brightness (< 1 brightens mid-tones).
        brightness: Additive offset of the 0..1 brightness.
        contrast: Multiplier of the 0..1 brightness around 0.
        noise: Standard deviation of the quantum-like noise at full brightness (0..1 units).
        blur_pixels: Detector blur sigma (nominal pixels).
    """

    attenuation: float
    gamma: float
    brightness: float
    contrast: float
    noise: float
    blur_pixels: float


def _sample_exposure(rng: np.random.Generator) -> Exposure:
    return Exposure(
        attenuation=rng.uniform(1.3, 1.9),
        gamma=rng.uniform(0.85, 1.15),
        brightness=rng.uniform(-0.04, 0.04),
        contrast=rng.uniform(0.92, 1.05),
        noise=rng.uniform(0.012, 0.03),
        blur_pixels=rng.uniform(0.5, 1.1),
    )


def _develop(density: np.ndarray, exposure: Exposure, rng: np.random.Generator, pixel_scale: float) -> np.ndarray:
    """Density to a uint8 film.

    Args:
        density: (height, width) float32 summed density (0 = air, ~1 = mediastinum).
        exposure: Film processing.
        rng: Noise generator.
        pixel_scale: Pixels per nominal pixel (blur scales with it).

    Returns:
        (height, width) uint8 image.
    """
    # 1. Characteristic curve: saturating exposure response, normalised so density 1.25 maps to 1.
    curve = np.float32(1.0 / (1.0 - np.exp(-exposure.attenuation * 1.25)))
    brightness = (1.0 - np.exp(np.float32(-exposure.attenuation) * np.maximum(density, 0.0))) * curve
    brightness = np.clip(brightness, 0.0, 1.0) ** np.float32(exposure.gamma)
    # 2. Quantum-like noise: fewer photons reach the detector behind dense tissue, so noise grows with brightness.
    noise = rng.standard_normal(density.shape, dtype=np.float32)
    brightness = brightness + noise * np.float32(exposure.noise) * (0.4 + 0.6 * brightness)
    # 3. Detector blur (also correlates the noise), then exposure offset and contrast.
    brightness = ndimage.gaussian_filter(brightness, exposure.blur_pixels * pixel_scale, truncate=3.0)
    brightness = (brightness * np.float32(exposure.contrast) + np.float32(exposure.brightness + 0.015)) * 255.0
    return np.clip(brightness + 0.5, 0, 255).astype(np.uint8)


def render_phantom(
    findings: Sequence[Finding],
    markers: Sequence[str],
    rng: np.random.Generator,
    width: int = 480,
    height: int = 512,
) -> Phantom:
    """Render a synthetic frontal chest radiograph.

    Args:
        findings: Abnormalities to draw (any number, any kinds; an empty list renders a normal study).
        markers: Burnt-in markers: side markers ``"R"``/``"L"`` go in a top corner, anything else
            (``"PORTABLE"``, ``"AP SUPINE"``, ...) is written larger along the top edge.
        rng: Source of all randomness; the same generator state gives a byte-identical phantom.
        width: Image width in pixels (128-1024).
        height: Image height in pixels (128-1024).

    Returns:
        The phantom with one mask per finding kind and the marker mask.

    Raises:
        ValueError: If the size is outside 128-1024 pixels.
    """
    if not (MIN_SIZE <= width <= MAX_SIZE and MIN_SIZE <= height <= MAX_SIZE):
        raise ValueError(f"width and height must be in [{MIN_SIZE}, {MAX_SIZE}], got {width}x{height}")
    # 1. Independent random streams, so findings never perturb the patient, the film or the noise.
    seeds = rng.integers(0, 2**63 - 1, size=len(_STREAMS))
    streams = {name: np.random.default_rng(int(seed)) for name, seed in zip(_STREAMS, seeds, strict=True)}
    # 2. The patient; cardiomegaly replaces the normal heart size before anything is drawn.
    params = sample_anatomy(streams["anatomy"])
    enlarged = [finding for finding in findings if finding.kind == CARDIOMEGALY]
    if enlarged:
        ratio = cardiomegaly_ratio(max(finding.severity for finding in enlarged))
        params = replace(params, cardiothoracic_ratio=ratio)
    anatomy = build_anatomy(params, width, height, streams["vessels"], streams["bones"])
    # 3. Findings: each edits the density and returns its lesion mask.
    density = anatomy.density()
    markings_weight = np.ones_like(density)
    masks: dict[str, np.ndarray] = {}
    findings_seed = int(streams["findings"].integers(0, 2**63 - 1))
    occurrences = dict.fromkeys(FINDING_KINDS, 0)
    for finding in findings:
        kind_index = FINDING_KINDS.index(finding.kind)
        finding_rng = np.random.default_rng([findings_seed, kind_index, occurrences[finding.kind]])
        occurrences[finding.kind] += 1
        mask = draw_finding(finding, anatomy, density, markings_weight, finding_rng)
        masks[finding.kind] = masks[finding.kind] | mask if finding.kind in masks else mask
    if (markings_weight < 1).any():
        density -= np.float32(MARKINGS_DENSITY) * anatomy.markings * anatomy.lung_field * (1 - markings_weight)
    # 4. Film, then markers burnt in on top.
    image = _develop(density, _sample_exposure(streams["exposure"]), streams["noise"], anatomy.frame.pixel_scale)
    marker_mask = burn_markers(image, list(markers), streams["markers"])
    logger.debug("rendered %dx%d phantom: findings=%s markers=%s", width, height, sorted(masks), list(markers))
    return Phantom(
        image=image,
        masks=masks,
        marker_mask=marker_mask,
        markers=list(markers),
        cardiothoracic_ratio=float(params.cardiothoracic_ratio),
    )
