"""Bones of the synthetic chest phantom: ribs, clavicles, scapulae, humeral heads and the thoracic spine.

All shapes are evaluated on the anatomical coordinates of :class:`cxrmodel.data.synthetic.phantom.geometry.Frame`
(``u`` fraction of width from the midline, ``v`` fraction of height from the top) and return density.
Structures that cover a small part of the film are drawn on a crop of the frame.
"""

from __future__ import annotations

import numpy as np

from cxrmodel.data.synthetic.phantom.geometry import AnatomyParams, Frame, ramp

THORACIC_VERTEBRAE = 12


def vertebral_levels(params: AnatomyParams) -> np.ndarray:
    """``v`` of the upper endplates of T1..T12 followed by the lower endplate of T12, shape (13,)."""
    first = params.apex_level - 0.045
    last = max(params.right_dome_level, params.left_dome_level) + 0.1
    return np.linspace(first, last, THORACIC_VERTEBRAE + 1)


def vertebral_half_width(v: np.ndarray | float, params: AnatomyParams) -> np.ndarray | float:
    """Half width of the vertebral bodies at height ``v`` (``u`` units); they widen caudally."""
    return 0.03 + 0.014 * np.clip((v - np.float32(params.apex_level)) / np.float32(0.6), 0.0, 1.0)


def _cortical_profile(position: np.ndarray, cortex_width: float) -> np.ndarray:
    """Across-bone profile for ``position`` in [0, 1]: medulla 0.5, rising to 1 at both cortical margins."""
    near_margin = np.maximum(np.float32(1.0) - np.minimum(position, 1.0 - position) / np.float32(cortex_width), 0.0)
    return 0.5 + 0.5 * near_margin * near_margin


def _rib_index(frame: Frame, params: AnatomyParams, bend: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Continuous rib index (0 = first rib) of every pixel and the local rib period in pixels.

    Rib k runs along ``v = first + spacing * k + growth * k**2 + bend`` so the spacing grows caudally and
    the 10th posterior rib meets the right dome.
    """
    first = params.apex_level - 0.04
    growth_fraction = 0.04
    spacing = (params.right_dome_level - 0.012 - first) / (9 + growth_fraction * 81)
    growth = growth_fraction * spacing
    offset = frame.v - bend - np.float32(first)
    discriminant = np.maximum(np.float32(spacing * spacing) + np.float32(4 * growth) * offset, 0.0)
    index = (np.sqrt(discriminant) - np.float32(spacing)) / np.float32(2 * growth)
    return index, (np.float32(spacing) + np.float32(2 * growth) * index) * np.float32(frame.height)


def _rib_family(
    frame: Frame, params: AnatomyParams, bend: np.ndarray, band_fraction: float, jitter: np.ndarray
) -> np.ndarray:
    """One family of ribs (posterior or anterior) 0..1; the upper ribs arch more tightly than the lower.

    Args:
        frame: Pixel grid (or a crop of it).
        params: Patient parameters.
        bend: Downward offset of the ribs at each pixel (``v`` units).
        band_fraction: Fraction of one rib period a rib occupies.
        jitter: (ribs, 2) uniform -1..1 per-rib shifts of position and thickness.
    """
    # 1. Continuous rib index with the base bend, then again with the bend exaggerated for the upper ribs.
    index, _ = _rib_index(frame, params, bend)
    arching = 1.0 + 0.7 * np.clip((3.5 - index) / np.float32(3.5), 0.0, 1.0)
    index, period_pixels = _rib_index(frame, params, bend * arching)
    # 2. Position inside one rib period; rib k starts a little after the period starts (so the wrap-around
    #    falls in the intercostal space) and its start and thickness vary from rib to rib.
    whole = np.clip(np.floor(index), 0, len(jitter) - 1).astype(np.intp)
    start = np.float32(0.2) + np.float32(0.06) * jitter[whole, 0]
    width = np.float32(band_fraction) * (1.0 + np.float32(0.12) * jitter[whole, 1])
    across = index - np.floor(index) - start
    inside = np.clip(np.minimum(across, width - across) * period_pixels + 0.5, 0.0, 1.0)
    profile = _cortical_profile(np.clip(across / width, 0.0, 1.0), 0.3)
    return inside * profile * ramp(index + 0.3, 0.3) * ramp(11.5 - index, 0.5)


def _ribs(
    frame: Frame, params: AnatomyParams, outline: np.ndarray, below_diaphragm: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Posterior ribs (arching down laterally) plus fainter anterior ribs (sloping down medially).

    Args:
        frame: Pixel grid.
        params: Patient parameters.
        outline: Signed distance to the lung outline (``u`` units), from :func:`lung_cavity`.
        below_diaphragm: Height of the diaphragm below each point (``v`` units).
        rng: Generator for rib-to-rib variation.
    """
    jitter = rng.uniform(-1.0, 1.0, (2, 13, 2)).astype(np.float32)
    lateral_fraction = np.abs(frame.u) / np.float32(params.inner_half_width)
    cage = ramp(outline + np.float32(0.8 * params.wall_thickness), 0.02)
    # 1. Posterior ribs: leave the transverse processes almost level, then arch down to the lateral wall.
    squared = lateral_fraction * lateral_fraction
    posterior_bend = -0.06 * lateral_fraction + 0.22 * squared * np.sqrt(np.sqrt(lateral_fraction))
    posterior = _rib_family(frame, params, posterior_bend, 0.46, jitter[0])
    posterior *= ramp(lateral_fraction - 0.1, 0.06) * cage
    # 2. Anterior ribs: continue from the lateral wall medially and downwards, fading at the cartilage.
    anterior_bend = 0.16 + 0.26 * (1.0 - lateral_fraction)
    anterior = _rib_family(frame, params, anterior_bend, 0.4, jitter[1])
    anterior *= ramp(lateral_fraction - 0.45, 0.2) * cage
    # 3. Below the diaphragm the ribs are seen through the upper abdomen, much fainter.
    return (posterior + 0.5 * anterior) * (0.4 + 0.6 * ramp(below_diaphragm, 0.05))


def _clavicles(frame: Frame, params: AnatomyParams) -> np.ndarray:
    """Clavicles 0..1: slightly S-shaped tubes from the sternal notch up and out to the acromion."""
    lateral_fraction = np.abs(frame.u) / np.float32(params.inner_half_width)
    medial_level = params.apex_level + 0.1
    wave = np.sin(np.float32(2 * np.pi) * lateral_fraction)
    centre = medial_level - 0.1 * lateral_fraction * np.sqrt(np.sqrt(lateral_fraction)) + 0.012 * wave
    half_thickness = 0.019 * (1.2 - 0.4 * lateral_fraction)
    across = (frame.v - centre) / half_thickness
    tube = np.sqrt(np.maximum(1.0 - across * across, 0.0))
    cortex = _cortical_profile(np.clip(across * 0.5 + 0.5, 0.0, 1.0), 0.35)
    return tube * cortex * ramp(lateral_fraction - 0.1, 0.04) * ramp(1.07 - lateral_fraction, 0.04)


def _shoulder_girdle(frame: Frame, params: AnatomyParams) -> np.ndarray:
    """Scapulae (faint triangles over the lateral upper zones) and humeral heads at the film's top corners."""
    lateral_fraction = np.abs(frame.u) / np.float32(params.inner_half_width)
    # 1. Scapula between its medial and lateral borders, above the inferior angle; brighter medial border.
    along = (frame.v - np.float32(params.apex_level + 0.02)) / np.float32(0.32)
    medial_border = 0.62 + 0.22 * along
    scapula = ramp(lateral_fraction - medial_border, 0.03) * ramp(1.12 - 0.28 * along - lateral_fraction, 0.05)
    scapula *= ramp(along, 0.05) * ramp(1.0 - along, 0.03)
    border = np.maximum(1.0 - np.abs(lateral_fraction - medial_border) / np.float32(0.06), 0.0)
    scapula *= 0.35 + 0.65 * border
    # 2. Humeral heads: discs lateral to the chest wall at shoulder level.
    head_u = 1.2 * params.inner_half_width
    across = (np.abs(frame.u) - np.float32(head_u)) / np.float32(0.065)
    down = (frame.v - np.float32(params.apex_level + 0.05)) / np.float32(0.061)
    radius = np.sqrt(across * across + down * down)
    head = np.sqrt(np.maximum(1.0 - radius * radius, 0.0)) * _cortical_profile(np.minimum(radius, 1.0) * 0.5 + 0.5, 0.3)
    return 0.45 * scapula + 0.8 * head


def _spine(frame: Frame, params: AnatomyParams, levels: np.ndarray) -> np.ndarray:
    """Vertebral bodies with cortical margins, bright endplates, darker discs and paired pedicles."""
    level_height = levels[1] - levels[0]
    across = frame.u / vertebral_half_width(frame.v, params)
    # 1. Body: between endplates, with a disc space of ~15 % of each level.
    position = (frame.v - np.float32(levels[0])) / np.float32(level_height)
    fraction = position - np.floor(position)
    period_pixels = np.float32(level_height * frame.height)
    body = np.clip(np.minimum(fraction - 0.12, 0.98 - fraction) * period_pixels + 0.5, 0.0, 1.0)
    body *= ramp(1.0 - np.abs(across), 0.08)
    profile = _cortical_profile(np.clip(across * 0.5 + 0.5, 0.0, 1.0), 0.2)
    endplates = np.maximum(1.0 - np.abs(fraction - 0.13) * period_pixels / np.float32(1.5), 0.0)
    endplates += np.maximum(1.0 - np.abs(fraction - 0.97) * period_pixels / np.float32(1.5), 0.0)
    # 2. Pedicles: oval rings near the lateral margins of the upper half of each body.
    pedicle_across = (np.abs(across) - 0.68) / np.float32(0.2)
    pedicle_down = (fraction - 0.4) / np.float32(0.17)
    pedicle_radius = np.sqrt(pedicle_across * pedicle_across + pedicle_down * pedicle_down)
    pedicles = np.maximum(1.0 - np.abs(pedicle_radius - 0.8) / np.float32(0.3), 0.0)
    return body * (profile + 0.5 * endplates) + 0.5 * pedicles * ramp(1.1 - np.abs(across), 0.1)


def draw_bones(
    frame: Frame,
    params: AnatomyParams,
    outline: np.ndarray,
    below_diaphragm: np.ndarray,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """All bones as one density layer.

    Args:
        frame: Pixel grid with anatomical coordinates.
        params: Patient parameters.
        outline: (height, width) signed distance to the lung outline (``u`` units).
        below_diaphragm: (height, width) height of the diaphragm below each point (``v`` units).
        rng: Generator for bone density variation.

    Returns:
        ``(bone, levels)``: (height, width) float32 density and the (13,) vertebral endplate levels.
    """
    rib_density = np.float32(params.rib_density)
    levels = vertebral_levels(params)
    # 1. Ribs cover the hemithoraces; draw them on the thorax box.
    bone = np.zeros((frame.height, frame.width), dtype=np.float32)
    half_width = params.chest_half_width + 0.02
    box = frame.box((-half_width, half_width), (params.apex_level - 0.08, 1.3))
    bone[box] = rib_density * _ribs(frame.crop(box), params, outline[box], below_diaphragm[box], rng)
    # 2. Clavicles and shoulder girdle across the top of the chest.
    box = frame.box(v_range=(params.apex_level - 0.1, params.apex_level + 0.36))
    girdle = np.float32(rng.uniform(1.8, 2.2)) * _clavicles(frame.crop(box), params)
    bone[box] += rib_density * (girdle + _shoulder_girdle(frame.crop(box), params))
    # 3. Spine down the midline.
    box = frame.box(u_range=(-0.07, 0.07))
    bone[box] += rib_density * np.float32(rng.uniform(0.45, 0.6)) * _spine(frame.crop(box), params, levels)
    return bone, levels
