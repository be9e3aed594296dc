"""Contact sheet of synthetic studies: a labelled grid showing what the phantom renderer draws.

Run ``python -m cxrmodel.data.synthetic.contact_sheet [PATH] [SEED]`` to (re)write ``docs/synthetic-studies.png``.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from cxrmodel.data.synthetic.findings import (
    CARDIOMEGALY,
    CONSOLIDATION,
    DEGENERATIVE_SPINE,
    EFFUSION,
    MASS,
    NODULE,
    PNEUMOTHORAX,
    Finding,
)
from cxrmodel.data.synthetic.phantom.render import render_phantom

logger = logging.getLogger(__name__)

TILE_WIDTH = 240
TILE_HEIGHT = 256
CAPTION_HEIGHT = 22
COLUMNS = 3
RENDER_SCALE = 2
"""Tiles are rendered at twice the tile size (480 x 512, the training size) and downsampled."""

SHEET_STUDIES: tuple[tuple[str, tuple[Finding, ...], tuple[str, ...]], ...] = (
    ("normal", (), ("R",)),
    ("cardiomegaly", (Finding(CARDIOMEGALY, 1.0),), ("R",)),
    ("nodule, right upper", (Finding(NODULE, 1.0, "right", "upper"),), ("R",)),
    ("mass, left middle", (Finding(MASS, 1.0, "left", "middle"),), ("L",)),
    ("effusion, right", (Finding(EFFUSION, 1.0, "right"),), ("R",)),
    ("consolidation, left lower", (Finding(CONSOLIDATION, 1.0, "left", "lower"),), ("L",)),
    ("pneumothorax, right", (Finding(PNEUMOTHORAX, 1.0, "right"),), ("R",)),
    ("degenerative spine", (Finding(DEGENERATIVE_SPINE, 1.0),), ("R",)),
    ("normal + PORTABLE marker", (), ("L", "PORTABLE")),
)
"""(caption, findings, markers) of each tile: a normal study, each finding kind at obvious severity, and a
normal study carrying a portable marker (the shortcut a model may learn)."""


def render_contact_sheet(seed: int = 0) -> Image.Image:
    """Render the grid.

    Args:
        seed: Base seed; tile ``i`` uses ``numpy.random.default_rng([seed, i])`` (a different patient each).

    Returns:
        Grayscale ("L") image, ``COLUMNS`` tiles wide, each tile captioned below.
    """
    rows = -(-len(SHEET_STUDIES) // COLUMNS)
    sheet = Image.new("L", (COLUMNS * TILE_WIDTH, rows * (TILE_HEIGHT + CAPTION_HEIGHT)), 0)
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default(size=14)
    for index, (caption, findings, markers) in enumerate(SHEET_STUDIES):
        # 1. Render at the training size, downsample to the tile.
        phantom = render_phantom(
            findings, markers, np.random.default_rng([seed, index]),
            width=TILE_WIDTH * RENDER_SCALE, height=TILE_HEIGHT * RENDER_SCALE,
        )
        tile = Image.fromarray(phantom.image).resize((TILE_WIDTH, TILE_HEIGHT), Image.LANCZOS)
        # 2. Paste and caption.
        left = (index % COLUMNS) * TILE_WIDTH
        top = (index // COLUMNS) * (TILE_HEIGHT + CAPTION_HEIGHT)
        sheet.paste(tile, (left, top))
        draw.text((left + 6, top + TILE_HEIGHT + 3), caption, fill=230, font=font)
        logger.info("tile %d: %s (CTR %.2f)", index, caption, phantom.cardiothoracic_ratio)
    return sheet


def write_contact_sheet(path: str | Path, seed: int = 0) -> Path:
    """Render the contact sheet and save it as an optimised PNG.

    Args:
        path: Output PNG path (parent folders are created).
        seed: Base seed (see :func:`render_contact_sheet`).

    Returns:
        The written path.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    render_contact_sheet(seed).save(path, optimize=True)
    logger.info("wrote %s (%d bytes)", path, path.stat().st_size)
    return path


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    arguments = sys.argv[1:]
    write_contact_sheet(arguments[0] if arguments else "docs/synthetic-studies.png",
                        int(arguments[1]) if len(arguments) > 1 else 0)
