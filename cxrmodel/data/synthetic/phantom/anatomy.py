"""Normal chest anatomy (soft tissue, lungs, heart, mediastinum, vessels) of the synthetic radiograph phantom.

Every structure adds density (bone, soft tissue) or removes it (aerated lung);
:mod:`cxrmodel.data.synthetic.phantom.render` maps the summed density to film brightness. Coordinates are those of
:class:`cxrmodel.data.synthetic.phantom.geometry.Frame`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage

from cxrmodel.data.synthetic.phantom.bones import draw_bones
from cxrmodel.data.synthetic.phantom.geometry import (
    NOMINAL_ASPECT,
    AnatomyParams,
    Frame,
    diaphragm_level,
    lung_cavity,
    ramp,
)

VESSEL_TRUNKS = 7
"""Vessel trunks fanning out of each hilum."""

VESSEL_GENERATIONS = 6
"""Branching generations of each trunk (each segment forks in two)."""

MARKINGS_DENSITY = 0.15
"""Density of a fully opaque vessel in the lung markings layer."""

HEART_VERTICAL_STRETCH = 1.7
"""Vertical stretch of the heart ellipses in ``v`` units (the silhouette is nearly as tall as it is wide)."""


@dataclass
class Anatomy:
    """The normal anatomy of one patient as density layers, each (height, width) float32.

    Attributes:
        frame: Coordinates of the pixel grid.
        params: The patient's parameters (with the cardiothoracic ratio actually drawn).
        soft_tissue: Density of the full body thickness (outside the body 0).
        bone: Ribs, clavicles, spine, scapulae and humeral heads.
        lung_air: Density removed by aerated lung (positive where lung is).
        lung_field: 0..1 visible lung (cavity minus heart and mediastinum); where markings live.
        cavity: 0..1 both lung cavities including the lung behind the heart.
        below_diaphragm: Height of the diaphragm below each pixel (``v`` units, negative below it).
        markings: 0..1 vascular texture (not yet masked to the lung).
        heart: 0..1 heart silhouette.
        vertebra_levels: (13,) ``v`` of the upper endplates of T1..T12 and the lower endplate of T12.
        hila: ``{"right": (u, v), "left": (u, v)}`` hilar points.
    """

    frame: Frame
    params: AnatomyParams
    soft_tissue: np.ndarray
    bone: np.ndarray
    lung_air: np.ndarray
    lung_field: np.ndarray
    cavity: np.ndarray
    below_diaphragm: np.ndarray
    markings: np.ndarray
    heart: np.ndarray
    vertebra_levels: np.ndarray
    hila: dict[str, tuple[float, float]]

    def density(self, markings_weight: np.ndarray | float = 1.0) -> np.ndarray:
        """Sum the layers into one density image; ``markings_weight`` lets findings erase markings."""
        markings = self.markings * self.lung_field * markings_weight
        return self.soft_tissue + self.bone - self.lung_air + np.float32(MARKINGS_DENSITY) * markings


def _heart(frame: Frame, params: AnatomyParams, edge_u: float) -> np.ndarray:
    """Heart silhouette 0..1 sized to the cardiothoracic ratio.

    A rounded right atrium (the right heart border, about a third of the heart width right of the midline)
    joined to a tilted left-ventricle ellipse that reaches the apex at the image's lower right.
    """
    # 1. Horizontal extents from the cardiothoracic ratio.
    half_width = params.cardiothoracic_ratio * params.inner_half_width
    right_extent = 0.62 * half_width
    left_extent = 2 * half_width - right_extent
    # 2. Left ventricle: tilted ellipse from just right of the midline to the left heart border.
    tilt = math.radians(params.heart_tilt_degrees)
    cos, sin = math.cos(tilt), math.sin(tilt)
    ventricle_half_width = 0.5 * (left_extent + 0.2 * right_extent)
    long_axis = ventricle_half_width / math.sqrt(cos**2 + params.heart_axis_ratio**2 * sin**2)
    short_axis = params.heart_axis_ratio * long_axis
    # The widest point (the left heart border) sits a little above the left dome, so the drawn width is the
    # cardiothoracic ratio; the lower part of the ellipse hides below the diaphragm.
    widest_below_centre = (long_axis**2 - short_axis**2) * sin * cos / ventricle_half_width * HEART_VERTICAL_STRETCH
    centre_v = params.left_dome_level - 0.06 - widest_below_centre
    across = frame.u - np.float32(left_extent - ventricle_half_width)
    down = (frame.v - np.float32(centre_v)) / np.float32(HEART_VERTICAL_STRETCH)
    along_long = (across * np.float32(cos) + down * np.float32(sin)) / np.float32(long_axis)
    along_short = (down * np.float32(cos) - across * np.float32(sin)) / np.float32(short_axis)
    radius = np.sqrt(along_long * along_long + along_short * along_short)
    ventricle = ramp((1.0 - radius) * np.float32(short_axis), edge_u)
    # 3. Right atrium: upright ellipse from the SVC down to the diaphragm; its outer edge is the right heart border.
    atrium_half_width = 0.6 * right_extent + 0.015
    atrium_top, atrium_bottom = params.apex_level + 0.28, params.right_dome_level + 0.06
    atrium_half_height = (atrium_bottom - atrium_top) / 2
    across = (frame.u - np.float32(atrium_half_width - right_extent)) / np.float32(atrium_half_width)
    down = (frame.v - np.float32(atrium_top + atrium_half_height)) / np.float32(atrium_half_height)
    atrium = ramp((1.0 - np.sqrt(across * across + down * down)) * np.float32(atrium_half_width), edge_u)
    return np.maximum(ventricle, atrium)


def heart_box(frame: Frame, params: AnatomyParams) -> tuple[slice, slice]:
    """Pixel box that contains the heart silhouette."""
    half_width = params.cardiothoracic_ratio * params.inner_half_width
    u_range = (-1.24 * half_width - 0.03, 0.76 * 2 * half_width + 0.03)
    return frame.box(u_range, (params.apex_level + 0.05, max(params.left_dome_level, params.right_dome_level) + 0.3))


def _mediastinum(frame: Frame, params: AnatomyParams, edge_u: float) -> np.ndarray:
    """Upper mediastinum 0..1: SVC border on the image left, aortic knob and pulmonary trunk on the right."""
    knob_level = np.float32(params.apex_level + 0.17)
    # 1. Widest at the hila; below them the right heart border takes over and the right side narrows to the spine.
    below_apex = np.clip((frame.v - np.float32(params.apex_level)) / np.float32(0.3), 0.0, 1.0)
    below_hila = np.clip((frame.v - np.float32(params.apex_level + 0.32)) / np.float32(0.12), 0.0, 1.0)
    right_border = -0.06 - 0.025 * (below_apex - below_hila)
    knob = (frame.v - knob_level) / np.float32(0.045)
    trunk = (frame.v - knob_level - np.float32(0.1)) / np.float32(0.04)
    left_border = 0.06 + 0.015 * below_apex + params.aortic_knob * np.exp(-knob * knob)
    left_border += 0.018 * np.exp(-trunk * trunk)
    # 2. Soft-edged band between the two borders.
    return ramp(np.minimum(frame.u - right_border, left_border - frame.u), edge_u)


def _body(frame: Frame, params: AnatomyParams) -> np.ndarray:
    """Soft-tissue thickness 0..1: neck, sloping shoulders and a cylindrical trunk."""
    lateral = np.abs(frame.u)
    edge_u, edge_v = frame.edge(3.0)
    # 1. Trunk: chest wall with a deltoid bulge at shoulder level; thickness of a cylinder.
    shoulder = np.maximum(1.0 - np.square((frame.v - np.float32(params.apex_level + 0.09)) / np.float32(0.24)), 0.0)
    half_width = params.chest_half_width + 0.01 * frame.v + 0.07 * shoulder * shoulder
    relative = lateral / half_width
    trunk = np.sqrt(np.maximum(1.0 - relative * relative, 0.0))
    # 2. Shoulder tops slope down from the neck base to the acromion.
    neck = np.float32(0.1)
    neck_base = np.float32(params.apex_level - 0.06)
    beyond_neck = np.maximum(lateral - neck, 0.0)
    top = neck_base * beyond_neck / (beyond_neck + np.float32(0.012)) + 0.18 * beyond_neck
    trunk *= ramp(frame.v - top, edge_v) * ramp(half_width - lateral, edge_u)
    # 3. Neck column up to the top of the film.
    relative = lateral / neck
    return np.maximum(trunk, 0.55 * np.sqrt(np.maximum(1.0 - relative * relative, 0.0)))


def _vessel_tree(frame: Frame, hila: dict[str, tuple[float, float]], rng: np.random.Generator) -> np.ndarray:
    """Branching, tapering pulmonary vessels from each hilum, drawn with PIL, 0..1 (height, width)."""
    canvas = Image.new("F", (frame.width, frame.height), 0.0)
    draw = ImageDraw.Draw(canvas)
    scale = frame.pixel_scale
    for side, (hilum_u, hilum_v) in hila.items():
        outward = 1.0 if side == "left" else -1.0
        # 1. Trunks leave along the hilum, fanning from up (apex) through lateral (0) to down (base).
        heading = np.linspace(-1.3, 1.4, VESSEL_TRUNKS) + rng.normal(0, 0.1, VESSEL_TRUNKS)
        start = np.array([hilum_u, hilum_v]) + rng.normal(0, 0.01, (VESSEL_TRUNKS, 2))
        start[:, 1] += np.linspace(-0.06, 0.06, VESSEL_TRUNKS)
        length = rng.uniform(0.045, 0.065, VESSEL_TRUNKS)
        width = np.full(VESSEL_TRUNKS, 5.0 * scale)
        for _generation in range(VESSEL_GENERATIONS):
            # 2. Every segment of a generation at once: bend a little, step, draw.
            heading = heading + rng.normal(0, 0.15, heading.size)
            step = np.stack([outward * np.cos(heading), np.sin(heading) / NOMINAL_ASPECT], axis=1)
            end = start + step * length[:, None]
            columns, rows = frame.to_pixels(np.stack([start[:, 0], end[:, 0]], 1),
                                            np.stack([start[:, 1], end[:, 1]], 1))
            strengths = np.minimum(1.0, 0.3 + 0.15 * width / scale)
            for column, row, strength, line_width in zip(columns.tolist(), rows.tolist(), strengths.tolist(),
                                                         width.tolist(), strict=True):
                draw.line([(column[0], row[0]), (column[1], row[1])], fill=strength, width=max(1, round(line_width)))
            # 3. Each segment forks in two: shorter, thinner, turned either way.
            turns = rng.uniform(0.15, 0.55, (heading.size, 2)) * np.array([-1.0, 1.0])
            heading = (heading[:, None] + turns).ravel()
            start = np.repeat(end, 2, axis=0)
            length = np.repeat(length, 2) * rng.uniform(0.75, 0.95, heading.size)
            width = np.repeat(width, 2) * rng.uniform(0.6, 0.8, heading.size)
    return ndimage.gaussian_filter(np.asarray(canvas), 0.8 * scale, truncate=3.0)


def _texture(frame: Frame, rng: np.random.Generator) -> np.ndarray:
    """Band-pass noise (fine interstitial texture), made at quarter resolution and upsampled, ~-1..1."""
    small = rng.standard_normal((max(8, frame.height // 4), max(8, frame.width // 4))).astype(np.float32)
    small = ndimage.gaussian_filter(small, 0.8) - ndimage.gaussian_filter(small, 2.5)
    small /= small.std() + 1e-6
    return np.asarray(Image.fromarray(small).resize((frame.width, frame.height), Image.BILINEAR))


def build_anatomy(
    params: AnatomyParams, width: int, height: int, rng: np.random.Generator, bones_rng: np.random.Generator
) -> Anatomy:
    """Render the normal anatomy layers.

    Args:
        params: Patient parameters (the cardiothoracic ratio may be a cardiomegaly override).
        width, height: Image size (pixels).
        rng: Generator for the vascular markings (independent of the heart size).
        bones_rng: Generator for small bony variations.

    Returns:
        The density layers and landmarks.
    """
    # 1. Coordinates and soft tissue.
    frame = Frame.build(width, height, params)
    edge_u, edge_v = frame.edge(1.5)
    body = _body(frame, params)
    body_density = np.float32(params.soft_tissue_density) * body
    soft_tissue = body_density.copy()
    # 2. Breast / pectoral shadows over the lower lateral zones (convex lower border).
    if params.breast_shadow > 0:
        lateral = (np.abs(frame.u) - 0.3) / np.float32(0.2)
        lower_border = np.float32(params.right_dome_level - 0.02) - 0.25 * lateral * lateral
        shadow = ramp(lower_border - frame.v, 0.05) * ramp(frame.v - 0.3, 0.2) * body
        soft_tissue += np.float32(params.breast_shadow) * shadow
    # 3. Lungs: sharp cavity for borders; a wide-edged version gives the air-thickness profile.
    cavity, outline, below_diaphragm = lung_cavity(frame.u, frame.v, params, edge_u, edge_v)
    depth = ramp(outline, 0.09) * ramp(below_diaphragm, 0.11)
    descent = np.minimum((frame.v - np.float32(params.apex_level)) / np.float32(0.3), 1.0)
    thickness = cavity * (0.35 + 0.65 * depth) * (0.85 + 0.15 * descent)
    # 4. Heart and mediastinum occlude the lung; a little retrocardiac air stays visible.
    heart = np.zeros_like(body)
    box = heart_box(frame, params)
    heart[box] = _heart(frame.crop(box), params, edge_u) * ramp(below_diaphragm[box] + 0.02, edge_v)
    mediastinum = np.zeros_like(body)
    box = frame.box(u_range=(-0.13, 0.13))
    mediastinum[box] = _mediastinum(frame.crop(box), params, edge_u)
    occlusion = np.maximum(mediastinum, 0.8 * heart)
    lung_air = np.float32(params.lung_air_fraction) * body_density * thickness * (1.0 - occlusion)
    lung_field = cavity * (1.0 - np.maximum(mediastinum, heart))
    # 5. Trachea down to the carina; gastric bubble under the left hemidiaphragm.
    carina_v = params.apex_level + 0.2
    box = frame.box((-0.04, 0.04), (-0.3, carina_v + 0.02))
    crop = frame.crop(box)
    trachea = ramp(0.017 - np.abs(crop.u + 0.004), edge_u) * ramp(carina_v - crop.v, edge_v)
    lung_air[box] += np.float32(0.12) * trachea * body[box]
    if params.gastric_bubble > 0:
        bubble_u = 0.5 * params.inner_half_width
        bubble_v = float(diaphragm_level(np.float32(bubble_u), True, params)) + 0.045
        box = frame.box((bubble_u - 0.06, bubble_u + 0.06), (bubble_v - 0.05, bubble_v + 0.05))
        crop = frame.crop(box)
        radius = np.hypot((crop.u - bubble_u) / np.float32(0.045), (crop.v - bubble_v) / np.float32(0.03))
        bubble = ramp(1.0 - radius, 0.3) * ramp(np.float32(bubble_v + 0.01) - crop.v, edge_v)
        lung_air[box] += np.float32(params.gastric_bubble) * bubble
    # 6. Vascular markings: branching vessels from the hila plus fine texture, fading to the periphery.
    hila = {"right": (-0.1, params.apex_level + 0.27), "left": (0.105, params.apex_level + 0.25)}
    vessels = _vessel_tree(frame, hila, rng)
    texture = _texture(frame, rng)
    fade = np.clip(1.0 - np.abs(frame.u) / np.float32(params.inner_half_width * 1.05), 0.1, 1.0)
    markings = np.clip(vessels + 0.3 * texture * (0.4 + 0.6 * fade), -0.5, 1.0) * fade
    for hilum_u, hilum_v in hila.values():
        box = frame.box((hilum_u - 0.1, hilum_u + 0.1), (hilum_v - 0.16, hilum_v + 0.16))
        crop = frame.crop(box)
        across, down = (crop.u - hilum_u) / np.float32(0.035), (crop.v - hilum_v) / np.float32(0.06)
        markings[box] += 0.9 * np.exp(-across * across - down * down)
    # 7. Bones, lighter where they leave the body.
    bone, vertebra_levels = draw_bones(frame, params, outline, below_diaphragm, bones_rng)
    return Anatomy(
        frame=frame,
        params=params,
        soft_tissue=soft_tissue + np.float32(0.04) * heart,
        bone=bone * (0.4 + 0.6 * body),
        lung_air=lung_air,
        lung_field=lung_field,
        cavity=cavity,
        below_diaphragm=below_diaphragm,
        markings=markings,
        heart=heart,
        vertebra_levels=vertebra_levels,
        hila=hila,
    )
