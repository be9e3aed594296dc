"""Pictures of results: the circle palette, the annotated PNG export, and the research charts.

Importing this package loads Pillow only; the charts (:mod:`cxrmodel.rendering.charts`) import matplotlib
inside their functions, so the web process never loads it.
"""

from cxrmodel.rendering.annotated import annotated_png, caption_band_height, line_width
from cxrmodel.rendering.palette import CIRCLE_DASHES, CIRCLE_PALETTE, circle_colour, circle_dash

__all__ = ["CIRCLE_DASHES", "CIRCLE_PALETTE", "annotated_png", "caption_band_height", "circle_colour", "circle_dash",
           "line_width"]
