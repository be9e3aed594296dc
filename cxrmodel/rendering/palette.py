"""The circle colours, by rank: one palette for the on-screen viewer, the exported PNG and the browser script.

``components/xray_view.py`` and :mod:`cxrmodel.rendering.annotated` import :data:`CIRCLE_PALETTE`;
``assets/threshold.js`` repeats it as a literal (a browser script cannot import Python), and
tests/components/test_threshold_control.py checks that the two agree.
"""

# Colour-blind-safe colours that stay visible on a grey radiograph, by rank (largest mass first); cycled.
CIRCLE_PALETTE = ("#FFB000", "#FE6100", "#DC267F", "#648FFF", "#3DC9A3", "#A98BF5")


def circle_colour(rank: int) -> str:
    """Palette colour of the circle with 1-based ``rank`` (cycles past the palette's end)."""
    return CIRCLE_PALETTE[(rank - 1) % len(CIRCLE_PALETTE)]
