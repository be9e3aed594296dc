"""The circle colours and outline styles, by rank: one palette for the on-screen viewer, the exported PNG and the
browser script.

``components/xray_view.py`` and :mod:`cxrmodel.rendering.annotated` import :data:`CIRCLE_PALETTE` and
:data:`CIRCLE_DASHES`; ``assets/threshold.js`` repeats both as literals (a browser script cannot import Python),
and tests/components/test_threshold_control.py checks that they agree.
"""

# Colour-blind-safe colours that stay visible on a grey radiograph, by rank (largest mass first).
CIRCLE_PALETTE = ("#FFB000", "#FE6100", "#DC267F", "#648FFF", "#3DC9A3", "#A98BF5")

# Outline style (Plotly dash names) of each pass through the palette: ranks 1-6 solid, 7-12 dashed, 13-18 dotted,
# 19-24 dash-dotted, then solid again. Rank 7 wears rank 1's colour, so the dash is what tells them apart.
CIRCLE_DASHES = ("solid", "dash", "dot", "dashdot")


def circle_colour(rank: int) -> str:
    """Palette colour of the circle with 1-based ``rank`` (cycles past the palette's end)."""
    return CIRCLE_PALETTE[(rank - 1) % len(CIRCLE_PALETTE)]


def circle_dash(rank: int) -> str:
    """Outline dash of the circle with 1-based ``rank``: the next style each time the colours start over."""
    return CIRCLE_DASHES[((rank - 1) // len(CIRCLE_PALETTE)) % len(CIRCLE_DASHES)]
