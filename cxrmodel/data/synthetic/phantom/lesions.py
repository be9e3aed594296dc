"""Drawing helpers for phantom findings: patchy noise, air bronchograms and degenerative spine spurs."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage

from cxrmodel.data.synthetic.findings import Finding
from cxrmodel.data.synthetic.phantom.anatomy import Anatomy
from cxrmodel.data.synthetic.phantom.bones import vertebral_half_width

SPINE_LEVELS_AT_RISK = range(4, 11)
"""Indices of T5..T11, the vertebrae where degenerative spurs are drawn."""


def patchy_noise(shape: tuple[int, int], correlation_pixels: float, rng: np.random.Generator) -> np.ndarray:
    """Smooth random field of roughly unit standard deviation with blobs ``correlation_pixels`` across.

    Args:
        shape: (height, width) of the field.
        correlation_pixels: Blob size (pixels).
        rng: Generator.

    Returns:
        (height, width) float32 field.
    """
    step = max(1.0, correlation_pixels)
    small_shape = (int(shape[0] / step) + 3, int(shape[1] / step) + 3)
    small = ndimage.gaussian_filter(rng.standard_normal(small_shape).astype(np.float32), 0.7)
    small /= small.std() + 1e-6
    return np.asarray(Image.fromarray(small).resize((shape[1], shape[0]), Image.BILINEAR))


def draw_air_bronchograms(
    anatomy: Anatomy, box: tuple[slice, slice], row: float, column: float, radius: float, rng: np.random.Generator
) -> np.ndarray:
    """Dark branching bronchi running through a consolidation away from the hilum.

    Args:
        anatomy: The patient.
        box: Pixel box ``(rows, columns)`` of the consolidation.
        row, column: Consolidation centre (pixels).
        radius: Consolidation radius (pixels).
        rng: Finding generator.

    Returns:
        Array of the box's shape, 0..1 (1 on a bronchus).
    """
    frame = anatomy.frame
    # 1. Direction from the nearer hilum to the consolidation.
    side = ("left" if anatomy.frame.u[int(np.clip(row, 0, frame.height - 1)),
                                      int(np.clip(column, 0, frame.width - 1))] > 0
            else "right")
    hilum_column, hilum_row = frame.to_pixels(*anatomy.hila[side])
    direction = np.array([column - hilum_column, row - hilum_row], dtype=float)
    direction /= np.linalg.norm(direction) + 1e-6
    # 2. A small tree from the hilar side of the opacity outwards, drawn on the box's canvas.
    height, width = box[0].stop - box[0].start, box[1].stop - box[1].start
    canvas = Image.new("F", (width, height), 0.0)
    draw = ImageDraw.Draw(canvas)
    origin = np.array([column - box[1].start, row - box[0].start]) - 0.7 * radius * direction
    branches = [(origin, direction, 0.55 * radius, max(1.0, 2.5 * frame.pixel_scale))]
    for _generation in range(3):
        grown = []
        for start, heading, length, line_width in branches:
            end = start + heading * length
            draw.line([tuple(start), tuple(end)], fill=1.0, width=max(1, round(line_width)))
            for turn in (-1.0, 1.0):
                angle = turn * rng.uniform(0.25, 0.6)
                rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
                grown.append((end, rotation @ heading, length * rng.uniform(0.55, 0.75), line_width * 0.75))
        branches = grown
    return ndimage.gaussian_filter(np.asarray(canvas), 0.6 * frame.pixel_scale)


def draw_degenerative_spine(
    anatomy: Anatomy, density: np.ndarray, markings_weight: np.ndarray, finding: Finding, rng: np.random.Generator
) -> np.ndarray:
    """Osteophytes at the vertebral body corners of several thoracic levels, plus endplate sclerosis.

    Args:
        anatomy: The patient.
        density: (height, width) summed density, edited in place.
        markings_weight: Unused (bone does not hide lung markings).
        finding: Severity sets how many levels (3-6), how long the spurs and how dense.
        rng: Finding generator.

    Returns:
        (height, width) bool mask of the degenerate segment: the vertebral bodies of the affected levels from the
        first one's upper endplate to the last one's lower endplate (discs between included, so the sclerotic
        endplates are inside), united with the spurs, dilated by a few pixels. This is the region a reader would
        outline for "degenerative changes of T5-T9"; a mask of the spurs alone left out the endplate sclerosis
        this function draws and made two thin columns at the bodies' edges the only place a mark could land.
    """
    frame, params = anatomy.frame, anatomy.params
    levels = anatomy.vertebra_levels
    count = 3 + round(3 * finding.severity)
    first = int(rng.integers(SPINE_LEVELS_AT_RISK.start, SPINE_LEVELS_AT_RISK.stop - count + 1))
    spur_length = (0.01 + 0.014 * finding.severity) * rng.uniform(0.9, 1.1)
    # 1. One canvas over the spine for spurs (polygons) and one for endplate sclerosis (lines).
    box = frame.box(u_range=(-0.12, 0.12))
    offset = np.array([box[1].start, box[0].start], dtype=float)
    size = (box[1].stop - box[1].start, box[0].stop - box[0].start)
    spurs_image, sclerosis_image = Image.new("L", size, 0), Image.new("F", size, 0.0)
    spurs_draw, sclerosis_draw = ImageDraw.Draw(spurs_image), ImageDraw.Draw(sclerosis_image)
    level_height = levels[1] - levels[0]

    def pixels(u: float, v: float) -> tuple[float, float]:
        column, row = frame.to_pixels(u, v)
        return float(column - offset[0]), float(row - offset[1])

    segment_left: list[tuple[float, float]] = []
    segment_right: list[tuple[float, float]] = []
    for level in range(first, first + count):
        # 2. Endplates of this body (the body spans 12 %..98 % of its level; the disc is the rest).
        for endplate, toward_disc in ((levels[level] + 0.12 * level_height, -1.0),
                                      (levels[level] + 0.98 * level_height, 1.0)):
            half_width = float(vertebral_half_width(np.float32(endplate), params))
            segment_left.append(pixels(-half_width, endplate))
            segment_right.append(pixels(half_width, endplate))
            sclerosis_draw.line([pixels(-half_width, endplate), pixels(half_width, endplate)], fill=1.0,
                                width=max(1, round(2 * frame.pixel_scale)))
            # 3. Beak-like spurs at the body's corners, pointing out and towards the disc.
            for lateral in (-1.0, 1.0):
                if rng.random() < 0.25:
                    continue
                length = spur_length * rng.uniform(0.7, 1.2)
                margin = pixels(lateral * half_width, endplate - toward_disc * 0.3 * level_height)
                corner = pixels(lateral * half_width, endplate)
                tip = pixels(lateral * (half_width + length), endplate + toward_disc * 0.4 * length)
                spurs_draw.polygon([margin, corner, tip], fill=255)
    # 4. Burn in: dense spurs, sclerotic endplates; the mask is the segment's outline (both body margins, endplate
    #    by endplate, top to bottom) united with the spurs, dilated by a few pixels. No generator draws here, so the
    #    image does not depend on how the mask is drawn.
    segment_image = Image.new("L", size, 0)
    ImageDraw.Draw(segment_image).polygon(segment_left + segment_right[::-1], fill=255)
    spurs = np.asarray(spurs_image) > 0
    if not spurs.any():
        centre = pixels(vertebral_half_width(np.float32(levels[first]), params), levels[first] + 0.12 * level_height)
        spurs[int(np.clip(centre[1], 0, size[1] - 1)), int(np.clip(centre[0], 0, size[0] - 1))] = True
    blur = 0.6 * frame.pixel_scale
    density[box] += np.float32(0.08 + 0.1 * finding.severity) * ndimage.gaussian_filter(spurs.astype(np.float32), blur)
    density[box] += np.float32(0.04 + 0.05 * finding.severity) * ndimage.gaussian_filter(
        np.asarray(sclerosis_image), blur
    )
    mask = np.zeros(density.shape, dtype=bool)
    segment = spurs | (np.asarray(segment_image) > 0)
    mask[box] = ndimage.binary_dilation(segment, iterations=max(2, round(3 * frame.pixel_scale)))
    return mask
