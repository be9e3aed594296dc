"""Coordinates, per-patient parameters and lung/diaphragm geometry of the synthetic radiograph phantom.

Coordinates. Every pixel gets anatomical coordinates ``(u, v)``:

* ``u``: horizontal distance from the patient's midline as a fraction of the image width; negative on the
  image's left (the patient's right), positive on the image's right (the patient's left).
* ``v``: vertical position as a fraction of the image height, 0 at the top, 1 at the bottom.

The grid is rotated by a few degrees about the image centre, so a rotated patient is drawn by evaluating the
same shapes on rotated coordinates. Layout numbers are fractions of width (``u``) or height (``v``), so the
anatomy scales with the image size; pixel-sized details use :attr:`Frame.pixel_scale`. Arrays are float32.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

NOMINAL_WIDTH = 480
NOMINAL_HEIGHT = 512
NOMINAL_ASPECT = NOMINAL_HEIGHT / NOMINAL_WIDTH
"""Height over width of the nominal film; makes ``v`` distances comparable with ``u`` distances."""

MEDIASTINUM_HALF_WIDTH = 0.045
"""Medial limit of each lung cavity (fraction of width from the midline)."""


@dataclass(frozen=True)
class AnatomyParams:
    """Per-patient anatomical variation (all lengths are fractions of image width ``u`` or height ``v``).

    Attributes:
        midline_offset: Horizontal shift of the patient's midline (``u`` units).
        rotation_degrees: In-plane rotation of the patient about the image centre (degrees).
        chest_half_width: Outer chest-wall half width (``u`` units).
        wall_thickness: Chest-wall soft tissue + rib thickness between skin and lung (``u`` units).
        apex_level: Height of the lung apices (``v`` units).
        right_dome_level: Top of the right hemidiaphragm dome (``v``); image left.
        left_dome_level: Top of the left hemidiaphragm dome (``v``); image right, normally lower.
        costophrenic_drop: How far below its dome each costophrenic angle lies (``v`` units).
        cardiothoracic_ratio: Heart width over internal thoracic width.
        heart_tilt_degrees: Tilt of the heart's long axis towards the image's lower right (degrees).
        heart_axis_ratio: Short over long axis of the heart ellipse.
        aortic_knob: Lateral bulge of the aortic knob beyond the mediastinum (``u`` units).
        breast_shadow: Density of lower-zone breast / pectoral soft-tissue shadows (0 = none).
        gastric_bubble: Density removed by the gas bubble under the left hemidiaphragm (0 = none).
        soft_tissue_density: Density of the full body thickness at the midline.
        lung_air_fraction: Fraction of the local body density that a fully aerated lung removes.
        rib_density: Density of a posterior rib.
    """

    midline_offset: float
    rotation_degrees: float
    chest_half_width: float
    wall_thickness: float
    apex_level: float
    right_dome_level: float
    left_dome_level: float
    costophrenic_drop: float
    cardiothoracic_ratio: float
    heart_tilt_degrees: float
    heart_axis_ratio: float
    aortic_knob: float
    breast_shadow: float
    gastric_bubble: float
    soft_tissue_density: float
    lung_air_fraction: float
    rib_density: float

    @property
    def inner_half_width(self) -> float:
        """Internal thoracic half width, the CTR denominator's half (``u`` units)."""
        return self.chest_half_width - self.wall_thickness


def sample_anatomy(rng: np.random.Generator) -> AnatomyParams:
    """Draw one normal patient (cardiothoracic ratio 0.38-0.48).

    Args:
        rng: Generator used only for anatomy, so findings never change the normal anatomy.

    Returns:
        The sampled parameters.
    """
    chest_half_width = rng.uniform(0.395, 0.445)
    apex_level = rng.uniform(0.11, 0.15)
    right_dome_level = apex_level + rng.uniform(0.52, 0.58)
    return AnatomyParams(
        midline_offset=rng.uniform(-0.015, 0.015),
        rotation_degrees=rng.uniform(-3.0, 3.0),
        chest_half_width=chest_half_width,
        wall_thickness=rng.uniform(0.035, 0.05),
        apex_level=apex_level,
        right_dome_level=right_dome_level,
        left_dome_level=right_dome_level + rng.uniform(0.015, 0.04),
        costophrenic_drop=rng.uniform(0.085, 0.12),
        cardiothoracic_ratio=rng.uniform(0.38, 0.48),
        heart_tilt_degrees=rng.uniform(28.0, 42.0),
        heart_axis_ratio=rng.uniform(0.75, 0.88),
        aortic_knob=rng.uniform(0.025, 0.045),
        breast_shadow=rng.uniform(0.0, 0.09) if rng.random() < 0.5 else 0.0,
        gastric_bubble=rng.uniform(0.06, 0.16) if rng.random() < 0.7 else 0.0,
        soft_tissue_density=rng.uniform(0.78, 0.86),
        lung_air_fraction=rng.uniform(0.6, 0.7),
        rib_density=rng.uniform(0.09, 0.12),
    )


@dataclass
class Frame:
    """Pixel grid with the patient's anatomical coordinates.

    Attributes:
        width: Image width (pixels).
        height: Image height (pixels).
        u: (height, width) float32 horizontal anatomical coordinate (fraction of width from the midline).
        v: (height, width) float32 vertical anatomical coordinate (fraction of height from the top).
        pixel_scale: Pixels per nominal pixel, ``min(width / 480, height / 512)``; scales lesion radii.
        midline_offset: Patient midline shift (``u`` units).
        rotation_radians: Patient rotation (radians).
    """

    width: int
    height: int
    u: np.ndarray
    v: np.ndarray
    pixel_scale: float
    midline_offset: float
    rotation_radians: float

    @classmethod
    def build(cls, width: int, height: int, params: AnatomyParams) -> "Frame":
        """Compute the rotated anatomical coordinates of every pixel."""
        rotation = math.radians(params.rotation_degrees)
        columns = (np.arange(width, dtype=np.float32) - np.float32((width - 1) / 2))[None, :]
        rows = (np.arange(height, dtype=np.float32) - np.float32((height - 1) / 2))[:, None]
        cos, sin = np.float32(math.cos(rotation)), np.float32(math.sin(rotation))
        u = (cos * columns + sin * rows) / np.float32(width) - np.float32(params.midline_offset)
        v = (cos * rows - sin * columns) / np.float32(height) + np.float32(0.5)
        scale = min(width / NOMINAL_WIDTH, height / NOMINAL_HEIGHT)
        return cls(width, height, u, v, scale, params.midline_offset, rotation)

    def to_pixels(self, u: np.ndarray | float, v: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
        """Inverse of the grid: anatomical ``(u, v)`` to full-image pixel ``(column, row)`` (floats)."""
        rotated_x = (np.asarray(u, dtype=np.float64) + self.midline_offset) * self.width
        rotated_y = (np.asarray(v, dtype=np.float64) - 0.5) * self.height
        cos, sin = math.cos(self.rotation_radians), math.sin(self.rotation_radians)
        column = cos * rotated_x - sin * rotated_y + (self.width - 1) / 2
        row = sin * rotated_x + cos * rotated_y + (self.height - 1) / 2
        return column, row

    def edge(self, pixels: float) -> tuple[float, float]:
        """A soft-edge width of ``pixels`` nominal pixels in ``u`` and ``v`` units."""
        return pixels * self.pixel_scale / self.width, pixels * self.pixel_scale / self.height

    def box(
        self, u_range: tuple[float, float] = (-0.8, 0.8), v_range: tuple[float, float] = (-0.3, 1.3)
    ) -> tuple[slice, slice]:
        """Pixel bounding box ``(rows, columns)`` of an anatomical rectangle, to draw a structure on a crop."""
        corners_u = np.array([u_range[0], u_range[1], u_range[0], u_range[1]])
        corners_v = np.array([v_range[0], v_range[0], v_range[1], v_range[1]])
        columns, rows = self.to_pixels(corners_u, corners_v)
        row_slice = slice(max(0, math.floor(rows.min()) - 2), min(self.height, math.ceil(rows.max()) + 3))
        column_slice = slice(max(0, math.floor(columns.min()) - 2), min(self.width, math.ceil(columns.max()) + 3))
        return row_slice, column_slice

    def crop(self, box: tuple[slice, slice]) -> "Frame":
        """The same frame restricted to ``box``; sizes and :meth:`to_pixels` still refer to the full image."""
        return Frame(
            self.width, self.height, self.u[box], self.v[box], self.pixel_scale, self.midline_offset,
            self.rotation_radians,
        )


def ramp(signed_distance: np.ndarray, edge_width: float) -> np.ndarray:
    """Soft inside indicator: 0 well outside, 1 well inside, linear across ``edge_width`` at 0."""
    return np.clip(signed_distance / np.float32(edge_width) + np.float32(0.5), 0.0, 1.0)


def diaphragm_level(lateral: np.ndarray, is_left: np.ndarray, params: AnatomyParams) -> np.ndarray:
    """Height ``v`` of the hemidiaphragm under each point.

    Args:
        lateral: Distance from the midline ``|u|`` (``u`` units).
        is_left: True on the patient's left (image right).
        params: Patient parameters.

    Returns:
        ``v`` of the diaphragm: a dome peaking at half the hemithorax width, falling gently to the
        cardiophrenic angle and steeply to a sharp costophrenic angle at the lateral wall.
    """
    inner = params.inner_half_width
    peak = 0.5 * inner
    dome = np.where(is_left, np.float32(params.left_dome_level), np.float32(params.right_dome_level))
    outward = np.maximum(lateral - np.float32(peak), 0.0) / np.float32(inner - peak)
    inward = np.maximum(np.float32(peak) - lateral, 0.0) / np.float32(peak)
    drop = np.float32(params.costophrenic_drop)
    return dome + drop * (outward * outward * np.sqrt(outward) + np.float32(0.7) * inward * inward)


def hemithorax_outline(u: np.ndarray, v: np.ndarray, params: AnatomyParams) -> np.ndarray:
    """Approximate signed distance (``u`` units, positive inside) to the bell-shaped lung outline.

    Quarter ellipses either side of the apex, straight walls below their centres; the diaphragm is not
    included (see :func:`lung_cavity`).
    """
    lateral = np.abs(u)
    inner = params.inner_half_width
    apex_t = MEDIASTINUM_HALF_WIDTH + 0.38 * (inner - MEDIASTINUM_HALF_WIDTH)
    is_lateral = lateral >= np.float32(apex_t)
    radius_t = np.where(is_lateral, np.float32(inner - apex_t), np.float32(apex_t - MEDIASTINUM_HALF_WIDTH))
    radius_v = np.where(is_lateral, np.float32(0.5), np.float32(0.12))
    upper = np.minimum(v - np.float32(params.apex_level) - radius_v, 0.0) / radius_v
    across = (lateral - np.float32(apex_t)) / radius_t
    return radius_t * (1.0 - np.sqrt(across * across + upper * upper))


def lung_cavity(
    u: np.ndarray, v: np.ndarray, params: AnatomyParams, edge_u: float, edge_v: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Soft 0..1 indicator of both lung cavities (including the lung behind the heart).

    Args:
        u, v: Anatomical coordinates (any matching shapes).
        params: Patient parameters.
        edge_u, edge_v: Soft-edge widths in ``u`` and ``v`` units.

    Returns:
        ``(cavity, outline, below_diaphragm)``: the indicator, the signed distance to the bell outline
        (``u`` units) and the height of the diaphragm below each point (``v`` units, positive above it).
    """
    # 1. Bell-shaped outline from the apex down the lateral wall.
    outline = hemithorax_outline(u, v, params)
    # 2. The diaphragm closes each cavity at the bottom, meeting the wall at a sharp costophrenic angle.
    below = diaphragm_level(np.abs(u), u > 0, params) - v
    return ramp(outline, edge_u) * ramp(below, edge_v), outline, below
