"""Findings drawn on the synthetic chest phantom, each returning the ground-truth mask of its lesion.

Every ``draw_*`` function edits the summed ``density`` (and ``markings_weight``, the fraction of normal lung
markings left) in place and returns a (height, width) bool mask lying on the drawn abnormal density.
Severity 0 is subtle (small, low contrast), 1 obvious. Side: the patient's ``"right"`` is the image's left.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage

from cxrmodel.data.synthetic.findings import (
    CARDIOMEGALY,
    CONSOLIDATION,
    DEGENERATIVE_SPINE,
    EFFUSION,
    LUNG_ZONES,
    MASS,
    NODULE,
    PNEUMOTHORAX,
    Finding,
)
from cxrmodel.data.synthetic.phantom.anatomy import Anatomy
from cxrmodel.data.synthetic.phantom.geometry import MEDIASTINUM_HALF_WIDTH, lung_cavity, ramp
from cxrmodel.data.synthetic.phantom.lesions import draw_air_bronchograms, draw_degenerative_spine, patchy_noise

COARSE_STEP = 4
"""Subsampling of the lung mask used to place lesions (distance transform at quarter resolution)."""


def cardiomegaly_ratio(severity: float) -> float:
    """Cardiothoracic ratio of an enlarged heart: 0.52 (subtle) to 0.68 (obvious)."""
    return 0.52 + 0.16 * severity


def _side_sign(side: str | None) -> float:
    """+1 for the patient's left (image right), -1 for the patient's right (image left)."""
    return 1.0 if side == "left" else -1.0


def _place_in_lung(
    anatomy: Anatomy, side: str, zone: str | None, radius_pixels: float, rng: np.random.Generator
) -> tuple[float, float]:
    """Pick a lesion centre inside the visible lung of ``side`` and ``zone``, at least ~``radius`` from its edge.

    Args:
        anatomy: The patient.
        side: ``"left"`` or ``"right"`` (the patient's).
        zone: ``"upper"``, ``"middle"``, ``"lower"``; ``None`` picks one at random.
        radius_pixels: Lesion radius (pixels); the centre keeps this far from the lung edge when it can.
        rng: Finding generator.

    Returns:
        ``(row, column)`` of the centre in pixels (floats).
    """
    # 1. Coarse visible-lung mask of that side, its distance to the lung edge, and the zone's band of heights.
    zone = zone if zone is not None else LUNG_ZONES[int(rng.integers(len(LUNG_ZONES)))]
    step = COARSE_STEP
    frame, params = anatomy.frame, anatomy.params
    u, v = frame.u[::step, ::step], frame.v[::step, ::step]
    lung = (anatomy.lung_field[::step, ::step] > 0.9) & (u * _side_sign(side) > 0)
    distance = ndimage.distance_transform_edt(lung) * step
    dome = params.left_dome_level if side == "left" else params.right_dome_level
    third = (dome - params.apex_level) / 3
    zone_top = params.apex_level + third * LUNG_ZONES.index(zone)
    in_zone = lung & (v >= zone_top) & (v < zone_top + third)
    # 2. Prefer centres far enough inside; otherwise the deepest point of the zone (or of the lung).
    candidates = np.flatnonzero(in_zone & (distance >= min(radius_pixels, 0.8 * distance.max())))
    if candidates.size == 0:
        pool = distance * (in_zone if in_zone.any() else lung)
        candidates = np.array([int(np.argmax(pool))])
    row, column = np.unravel_index(int(rng.choice(candidates)), lung.shape)
    jitter = rng.uniform(-step / 2, step / 2, 2)
    return row * step + jitter[0], column * step + jitter[1]


def _disk_box(anatomy: Anatomy, row: float, column: float, radius: float) -> tuple[slice, slice]:
    """Pixel box around a disk, clipped to the image."""
    frame = anatomy.frame
    reach = math.ceil(radius) + 3
    rows = slice(max(0, int(row) - reach), min(frame.height, int(row) + reach + 1))
    columns = slice(max(0, int(column) - reach), min(frame.width, int(column) + reach + 1))
    return rows, columns


def _round_lesion(
    anatomy: Anatomy, density: np.ndarray, finding: Finding, radius: float, contrast: float,
    lobulation: float, rng: np.random.Generator,
) -> np.ndarray:
    """A spherical (nodule) or lobulated (mass) opacity; returns its disk/region mask."""
    row, column = _place_in_lung(anatomy, finding.side, finding.zone, radius, rng)
    box = _disk_box(anatomy, row, column, radius * (1 + lobulation))
    rows = np.arange(box[0].start, box[0].stop, dtype=np.float32)[:, None] - np.float32(row)
    columns = np.arange(box[1].start, box[1].stop, dtype=np.float32)[None, :] - np.float32(column)
    # 1. Lobulated contour: radius modulated by a few low angular harmonics.
    angle = np.arctan2(rows, columns)
    phases = rng.uniform(0, 2 * np.pi, 2)
    contour = radius * (1 + lobulation * (0.6 * np.sin(3 * angle + phases[0]) + 0.4 * np.sin(5 * angle + phases[1])))
    relative = np.sqrt(rows * rows + columns * columns) / contour
    # 2. Sphere-like thickness profile with a one-pixel soft rim.
    thickness = np.sqrt(np.maximum(1.0 - relative * relative, 0.0)) ** 0.6
    rim = np.clip((1.0 - relative) * contour + 0.5, 0.0, 1.0)
    density[box] += np.float32(contrast) * np.maximum(thickness, 0.35 * rim) * rim
    mask = np.zeros(density.shape, dtype=bool)
    mask[box] = relative <= 1.0
    mask[int(np.clip(row, 0, density.shape[0] - 1)), int(np.clip(column, 0, density.shape[1] - 1))] = True
    return mask


def draw_nodule(anatomy: Anatomy, density: np.ndarray, markings_weight: np.ndarray, finding: Finding,
                rng: np.random.Generator) -> np.ndarray:
    """Round opacity under 3 cm: radius 6-14 px at 512 px high; mask = the disk."""
    radius = (6.0 + 8.0 * finding.severity) * rng.uniform(0.9, 1.1) * anatomy.frame.pixel_scale
    contrast = 0.06 + 0.14 * finding.severity
    return _round_lesion(anatomy, density, finding, max(radius, 1.5), contrast, 0.0, rng)


def draw_mass(anatomy: Anatomy, density: np.ndarray, markings_weight: np.ndarray, finding: Finding,
              rng: np.random.Generator) -> np.ndarray:
    """Lobulated opacity of 3 cm or more: radius 18-45 px at 512 px high; mask = its region."""
    radius = (18.0 + 27.0 * finding.severity) * rng.uniform(0.9, 1.1) * anatomy.frame.pixel_scale
    contrast = 0.1 + 0.14 * finding.severity
    return _round_lesion(anatomy, density, finding, radius, contrast, rng.uniform(0.08, 0.15), rng)


def draw_effusion(anatomy: Anatomy, density: np.ndarray, markings_weight: np.ndarray, finding: Finding,
                  rng: np.random.Generator) -> np.ndarray:
    """Fluid at the lung base: blunts the costophrenic angle, meniscus curving up laterally; mask = fluid."""
    frame, params = anatomy.frame, anatomy.params
    sign = _side_sign(finding.side)
    dome = params.left_dome_level if finding.side == "left" else params.right_dome_level
    # 1. Fluid top: a level above the costophrenic angle that rises towards the lateral wall (meniscus).
    depth = (0.035 + 0.3 * finding.severity) * rng.uniform(0.9, 1.1)
    level = dome + params.costophrenic_drop - depth
    rise = 0.03 + 0.06 * finding.severity
    lateral_fraction = np.clip(frame.u * np.float32(sign / params.inner_half_width), 0.0, 1.2)
    top = np.float32(level) - np.float32(rise) * lateral_fraction * lateral_fraction * lateral_fraction
    # 2. Fluid thickens downwards from a hazy upper edge; it replaces the air and the lung markings.
    fluid = np.clip((frame.v - top) / np.float32(0.035), 0.0, 1.0) * anatomy.cavity * (frame.u * sign > 0)
    density += fluid * (anatomy.lung_air * np.float32(0.65 + 0.3 * finding.severity) + np.float32(0.03))
    markings_weight *= 1.0 - fluid
    return (fluid > 0.3) & (anatomy.cavity > 0.5)


def draw_consolidation(anatomy: Anatomy, density: np.ndarray, markings_weight: np.ndarray, finding: Finding,
                       rng: np.random.Generator) -> np.ndarray:
    """Ill-defined patchy airspace opacity, with air bronchograms when more severe; mask = the opacity."""
    frame = anatomy.frame
    radius = (26.0 + 34.0 * finding.severity) * frame.pixel_scale
    row, column = _place_in_lung(anatomy, finding.side, finding.zone, 0.6 * radius, rng)
    box = _disk_box(anatomy, row, column, 1.4 * radius)
    # 1. Patchy field: radial falloff plus smooth noise, thresholded softly, confined to the lung.
    rows = np.arange(box[0].start, box[0].stop, dtype=np.float32)[:, None] - np.float32(row)
    columns = np.arange(box[1].start, box[1].stop, dtype=np.float32)[None, :] - np.float32(column)
    relative = (rows * rows + columns * columns) / np.float32(radius * radius)
    noise = patchy_noise(relative.shape, radius / 4, rng)
    field = 1.0 - relative + 0.45 * noise
    opacity = np.clip(field / 1.1 + 0.15, 0.0, 1.0)
    opacity = opacity * opacity * (3.0 - 2.0 * opacity) * anatomy.lung_field[box]
    # 2. Replace part of the air; keep some along the bronchi (air bronchograms).
    filling = opacity * (anatomy.lung_air[box] * np.float32(0.25 + 0.33 * finding.severity) + np.float32(0.02))
    if finding.severity >= 0.3 or rng.random() < 0.3:
        bronchi = draw_air_bronchograms(anatomy, box, row, column, radius, rng)
        filling *= 1.0 - np.float32(0.55) * bronchi
    density[box] += filling
    markings_weight[box] *= 1.0 - 0.7 * opacity
    mask = np.zeros(density.shape, dtype=bool)
    region = opacity > 0.3
    mask[box] = region if region.any() else opacity >= 0.5 * opacity.max()
    return mask


def draw_pneumothorax(anatomy: Anatomy, density: np.ndarray, markings_weight: np.ndarray, finding: Finding,
                      rng: np.random.Generator) -> np.ndarray:
    """Apical/lateral air between a thin visceral pleural line and the chest wall; mask = that space."""
    frame, params = anatomy.frame, anatomy.params
    sign = _side_sign(finding.side)
    dome = params.left_dome_level if finding.side == "left" else params.right_dome_level
    # 1. Collapsed lung: the lung outline shrunk towards its medial base by the collapse fraction.
    collapse = (0.05 + 0.25 * finding.severity) * rng.uniform(0.9, 1.1)
    centre_u, centre_v = sign * (MEDIASTINUM_HALF_WIDTH + 0.01), dome
    box = frame.box((0.0, 0.8) if sign > 0 else (-0.8, 0.0))
    crop = frame.crop(box)
    shrunk_u = np.float32(centre_u) + (crop.u - np.float32(centre_u)) / np.float32(1 - collapse)
    shrunk_v = np.float32(centre_v) + (crop.v - np.float32(centre_v)) / np.float32(1 - collapse)
    edge_u, edge_v = frame.edge(1.2)
    collapsed, _, _ = lung_cavity(shrunk_u, shrunk_v, params, edge_u, edge_v)
    side = (crop.u * sign > 0).astype(np.float32)
    cavity = anatomy.cavity[box] * side
    space = cavity * (1.0 - collapsed)
    # 2. Visceral pleural line: the collapsed lung's edge, where it lies inside the chest cavity.
    line = np.clip(4.0 * collapsed * (1.0 - collapsed), 0.0, 1.0) * ramp(cavity - 0.9, 0.1)
    # 3. No markings beyond the line, extra lucency there; the collapsed lung is slightly denser.
    density[box] += np.float32(-0.05 - 0.03 * finding.severity) * space * anatomy.lung_field[box]
    density[box] += np.float32(0.1) * line + np.float32(0.1 * collapse) * collapsed * cavity
    markings_weight[box] *= 1.0 - space
    mask = np.zeros(density.shape, dtype=bool)
    mask[box] = (space > 0.5) & (anatomy.lung_field[box] > 0.3)
    if not mask.any():
        mask[box] = space >= 0.5 * space.max()
    return mask


def draw_cardiomegaly(anatomy: Anatomy, density: np.ndarray, markings_weight: np.ndarray, finding: Finding,
                      rng: np.random.Generator) -> np.ndarray:
    """The heart is already drawn enlarged (see :func:`cardiomegaly_ratio`); mask = the heart silhouette."""
    return anatomy.heart > 0.5


_DRAWERS = {
    NODULE: draw_nodule,
    MASS: draw_mass,
    EFFUSION: draw_effusion,
    CONSOLIDATION: draw_consolidation,
    PNEUMOTHORAX: draw_pneumothorax,
    CARDIOMEGALY: draw_cardiomegaly,
    DEGENERATIVE_SPINE: draw_degenerative_spine,
}


def draw_finding(finding: Finding, anatomy: Anatomy, density: np.ndarray, markings_weight: np.ndarray,
                 rng: np.random.Generator) -> np.ndarray:
    """Draw one finding.

    Args:
        finding: What to draw.
        anatomy: The patient (for cardiomegaly already built with the enlarged heart).
        density: (height, width) float32 summed density, edited in place.
        markings_weight: (height, width) float32 fraction of lung markings kept, edited in place.
        rng: Generator of this finding alone.

    Returns:
        (height, width) bool mask of the lesion, never empty.
    """
    return _DRAWERS[finding.kind](anatomy, density, markings_weight, finding, rng)
