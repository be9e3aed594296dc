"""The radiograph with the explanation drawn on it: circles, an optional attribution heatmap, signal pixels.

Owns the ids ``xray-graph`` (the zoomable dcc.Graph), ``overlay-toggles`` (circles / heatmap / points),
``heatmap-opacity``, ``window-contrast``, ``window-brightness``, ``invert-image`` and ``xray-frame`` (the div
around the graph that carries the window/level filter). :func:`layout` and :func:`register_callbacks` take an
id ``suffix`` so that a second viewer (e.g. ``xray-graph-compare``) can reuse everything here.

Figure contract (shared with ``assets/threshold.js``, which redraws the circles in the browser):

- ``layout.images[0]`` is the radiograph, ONE compressed PNG/JPEG data URI named ``"radiograph"``, placed in
  data coordinates so that pixel (row i, column j) is centred on (x = j, y = i), the convention of the circles.
- ``layout.images[1]`` (optional) is the attribution heatmap, named ``"attribution overlay"``.
- An optional image named ``"lesion outlines"`` outlines the ground-truth lesion masks of a synthetic study
  (:func:`lesion_outline_png`), shown with the ``"truth"`` overlay toggle.
- ``layout.shapes`` are the circles (:func:`circle_shapes`); shapes do not hover, so the trace named
  ``"circle centres"`` carries one transparent marker per circle with its hover text.
- The optional trace named ``"signal points"`` holds candidate signal pixels with their strength
  (attribution / max attribution) in ``customdata``; the browser hides those below tau.

Window/level runs in the browser. ``cxr.windowStyle`` (assets/threshold.js) keeps one SVG filter per viewer
(``<filter id="cxr-window-xray-frame">`` with a linear ``feComponentTransfer``, :func:`window_transfer`) and
sets the CSS variable ``--xray-filter: url(#cxr-window-xray-frame)`` on the ``xray-frame`` div; a rule that
the script installs applies it to the FIRST image of the plot's image layer only
(``.cxr-xray-frame .imagelayer image:first-of-type``), so the circles, markers and the heatmap overlay are
never inverted or dimmed. An SVG filter reference is used because ``url(#filter)`` works on SVG elements in
every browser, whereas support for CSS filter functions such as ``contrast()`` on SVG elements has lagged.
These are display contrast/brightness controls on the 8-bit display image (the formulas of CSS ``invert()``,
``contrast()``, ``brightness()`` in that order, clamped once at the end), not DICOM window centre/width.
"""

from __future__ import annotations

import base64
import hashlib
import io
import logging
from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import dash_bootstrap_components as dbc
import numpy as np
import plotly.graph_objects as go
from dash import ClientsideFunction, Input, Output, State, dcc, html
from PIL import Image

# CIRCLE_PALETTE: colour-blind-safe colours that stay visible on a grey radiograph, by rank (largest mass first),
# cycled; one palette for the viewer and the exported PNG. assets/threshold.js repeats it (tests check both agree).
from cxrmodel.rendering import (  # noqa: F401 - CIRCLE_PALETTE and CIRCLE_DASHES are re-exported
    CIRCLE_DASHES,
    CIRCLE_PALETTE,
    circle_colour,
    circle_dash,
)

logger = logging.getLogger(__name__)

XRAY_GRAPH_ID = "xray-graph"
XRAY_FRAME_ID = "xray-frame"
OVERLAY_TOGGLES_ID = "overlay-toggles"
HEATMAP_OPACITY_ID = "heatmap-opacity"
WINDOW_CONTRAST_ID = "window-contrast"
WINDOW_BRIGHTNESS_ID = "window-brightness"
INVERT_IMAGE_ID = "invert-image"
XRAY_FRAME_CLASS = "cxr-xray-frame"
WINDOW_FILTER_PREFIX = "cxr-window-"

OVERLAY_CIRCLES, OVERLAY_HEATMAP, OVERLAY_POINTS, OVERLAY_TRUTH = "circles", "heatmap", "points", "truth"
DEFAULT_OVERLAYS = (OVERLAY_CIRCLES,)

RADIOGRAPH_IMAGE_NAME = "radiograph"
OVERLAY_IMAGE_NAME = "attribution overlay"
TRUTH_IMAGE_NAME = "lesion outlines"
CIRCLE_TRACE_NAME = "circle centres"
POINTS_TRACE_NAME = "signal points"

CIRCLE_LINE_WIDTH = 2.5
CIRCLE_LABEL_SIZE = 13
POINT_OPACITY = 0.85
POINT_COLOUR = "#00E5FF"
# Lesion outlines: white, so they read as "annotation", not as one of the ranked circle colours or the heatmap.
TRUTH_OUTLINE_RGBA = (255, 255, 255, 230)
TRUTH_OUTLINE_WIDTH = 2
BACKGROUND = "#14171a"

GRAPH_CONFIG = {
    "scrollZoom": True,
    "displaylogo": False,
    "displayModeBar": True,
    "doubleClick": "reset",
    "modeBarButtonsToRemove": ["select2d", "lasso2d", "autoScale2d", "toggleSpikelines",
                               "hoverClosestCartesian", "hoverCompareCartesian"],
    "toImageButtonOptions": {"format": "png", "filename": "chest-xray-explanation"},
}

# Attribution heatmap colours: dark red -> red -> orange -> pale yellow with rising strength.
_HEAT_ANCHORS = np.array([0.0, 0.35, 0.7, 1.0])
_HEAT_COLOURS = np.array([[128, 0, 38], [227, 26, 28], [253, 141, 60], [255, 237, 160]], dtype=float)


def xray_ids(suffix: str = "") -> dict[str, str]:
    """The ids of one viewer: ``{"graph", "frame", "toggles", "opacity", "contrast", "brightness", "invert"}``."""
    return {
        "graph": XRAY_GRAPH_ID + suffix,
        "frame": XRAY_FRAME_ID + suffix,
        "toggles": OVERLAY_TOGGLES_ID + suffix,
        "opacity": HEATMAP_OPACITY_ID + suffix,
        "contrast": WINDOW_CONTRAST_ID + suffix,
        "brightness": WINDOW_BRIGHTNESS_ID + suffix,
        "invert": INVERT_IMAGE_ID + suffix,
    }


def js_fixed(value: float, digits: int) -> str:
    """``value`` with ``digits`` decimals, rounded exactly like JavaScript's ``Number.prototype.toFixed``."""
    quantum = Decimal(1).scaleb(-digits)
    return str(Decimal(float(value)).quantize(quantum, rounding=ROUND_HALF_UP))


def circle_shapes(circles: list[dict]) -> list[dict]:
    """Plotly ``layout.shapes`` for circles given largest mass first (pure; mirrored by ``circleShapes`` in JS).

    Args:
        circles: ``[{"x", "y", "r", "points", "mass"}, ...]`` in original-image pixel coordinates.

    Returns:
        One circle shape per circle, extents ``x - r .. x + r`` and ``y - r .. y + r``, coloured and dashed by
        rank (``circle_colour``, ``circle_dash``: rank 7 has rank 1's colour but a dashed outline) and labelled
        with the rank number.
    """
    shapes = []
    for rank, circle in enumerate(circles, start=1):
        colour = circle_colour(rank)
        x, y, r = circle["x"], circle["y"], circle["r"]
        shapes.append({
            "type": "circle", "xref": "x", "yref": "y",
            "x0": x - r, "x1": x + r, "y0": y - r, "y1": y + r,
            "line": {"color": colour, "width": CIRCLE_LINE_WIDTH, "dash": circle_dash(rank)},
            "fillcolor": "rgba(0,0,0,0)", "layer": "above",
            "label": {"text": str(rank), "textposition": "top left",
                      "font": {"color": colour, "size": CIRCLE_LABEL_SIZE}},
        })
    return shapes


def circle_hover_text(rank: int, circle: dict) -> str:
    """Hover text of one circle: rank, share of the positive attribution, signal pixel count, radius."""
    return (f"<b>Circle {rank}</b><br>{js_fixed(circle['mass'] * 100, 1)}% of positive attribution"
            f"<br>{circle['points']} signal pixels<br>radius {js_fixed(circle['r'], 1)} px")


def circle_marker_values(circles: list[dict]) -> dict:
    """x, y, hover text and border colours of the circle-centre markers (mirrored by ``circleMarkers`` in JS)."""
    return {
        "x": [circle["x"] for circle in circles],
        "y": [circle["y"] for circle in circles],
        "hovertext": [circle_hover_text(rank, circle) for rank, circle in enumerate(circles, start=1)],
        "bordercolor": [circle_colour(rank) for rank in range(1, len(circles) + 1)],
    }


def circle_centre_trace(circles: list[dict]) -> go.Scatter:
    """Transparent markers at the circle centres whose hover labels describe the circles."""
    values = circle_marker_values(circles)
    return go.Scatter(
        x=values["x"], y=values["y"], mode="markers", name=CIRCLE_TRACE_NAME, showlegend=False,
        hovertext=values["hovertext"], hoverinfo="text",
        marker={"size": 14, "color": "rgba(0,0,0,0)"},
        hoverlabel={"bgcolor": "rgba(255,255,255,0.95)", "bordercolor": values["bordercolor"],
                    "font": {"color": "#212529"}},
    )


def _mapping_value(mapping_info: Any, key: str) -> float:
    """One field of a grid mapping given as a dict or as an object (e.g. cxrmodel.imaging.GridMapping)."""
    return float(mapping_info[key] if isinstance(mapping_info, dict) else getattr(mapping_info, key))


def _grid_to_image_pixels(mapping_info: Any, columns: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Model-grid pixel indices -> original-image pixel-centre coordinates (the circles' convention)."""
    scale = _mapping_value(mapping_info, "scale")
    x = (columns + 0.5 - _mapping_value(mapping_info, "offset_x")) / scale - 0.5
    y = (rows + 0.5 - _mapping_value(mapping_info, "offset_y")) / scale - 0.5
    return x, y


def attribution_overlay_png(attribution_map: np.ndarray, mapping_info: Any) -> str:
    """The positive attribution as a small colour-mapped RGBA PNG data URI, transparent where it is 0.

    The grid's padding is cropped away: the PNG covers exactly the image's footprint on the model grid, so
    stretching it over the whole image (as :func:`xray_figure` does) lines it up with the radiograph.

    Args:
        attribution_map: ``(S, S)`` attribution on the model grid.
        mapping_info: The grid -> image transform, a dict or object with ``scale``, ``offset_x``,
            ``offset_y``, ``image_width`` and ``image_height`` (image pixel = (grid pixel - offset) / scale).

    Returns:
        ``"data:image/png;base64,..."``; colour and opacity grow with attribution / max attribution.
    """
    values = np.asarray(attribution_map, dtype=np.float64)
    if values.ndim != 2:
        raise ValueError(f"attribution_map must be 2-D, got shape {values.shape}")
    positive = np.where(np.isfinite(values), np.maximum(values, 0.0), 0.0)
    peak = float(positive.max()) if positive.size else 0.0
    if peak <= 0:
        logger.debug("attribution map has no positive value: the overlay is fully transparent")
    strength = positive / peak if peak > 0 else np.zeros_like(positive)

    scale = _mapping_value(mapping_info, "scale")
    image_width = _mapping_value(mapping_info, "image_width")
    image_height = _mapping_value(mapping_info, "image_height")
    output_width = max(1, int(round(image_width * scale)))
    output_height = max(1, int(round(image_height * scale)))
    # Nearest grid pixel under the centre of each output pixel (output pixels tile the image exactly).
    image_x = (np.arange(output_width) + 0.5) * image_width / output_width
    image_y = (np.arange(output_height) + 0.5) * image_height / output_height
    columns = np.clip(np.floor(image_x * scale + _mapping_value(mapping_info, "offset_x")), 0, values.shape[1] - 1)
    rows = np.clip(np.floor(image_y * scale + _mapping_value(mapping_info, "offset_y")), 0, values.shape[0] - 1)
    cropped = strength[np.ix_(rows.astype(int), columns.astype(int))]

    rgba = np.zeros(cropped.shape + (4,), dtype=np.uint8)
    for channel in range(3):
        rgba[..., channel] = np.interp(cropped, _HEAT_ANCHORS, _HEAT_COLOURS[:, channel]).round().astype(np.uint8)
    rgba[..., 3] = np.round(np.clip(cropped, 0.0, 1.0) * 255.0).astype(np.uint8)
    buffer = io.BytesIO()
    # Default compression, not optimize=True: ~5 ms instead of ~25 ms per study opened, ~4 % more bytes (issue #17).
    Image.fromarray(rgba).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def lesion_outline_png(masks: Sequence[np.ndarray]) -> str | None:
    """The outlines of ground-truth lesion masks as a transparent RGBA PNG data URI (original-image pixels).

    Args:
        masks: ``(height, width)`` bool arrays of one image (e.g. ``lesion_masks_for_study``), one per lesion.

    Returns:
        ``"data:image/png;base64,..."``: opaque :data:`TRUTH_OUTLINE_RGBA` on each mask's inner border
        (:data:`TRUTH_OUTLINE_WIDTH` px), transparent elsewhere; None when there are no masks.

    Raises:
        ValueError: A mask is not 2-D or the masks differ in size.
    """
    if not masks:
        return None
    arrays = [np.asarray(mask, dtype=bool) for mask in masks]
    shape = arrays[0].shape
    if any(mask.ndim != 2 or mask.shape != shape for mask in arrays):
        raise ValueError(f"lesion masks must be 2-D and of one size, got shapes {[m.shape for m in arrays]}")
    from scipy import ndimage  # noqa: PLC0415 - only synthetic studies with masks draw outlines

    border = np.zeros(shape, dtype=bool)
    for mask in arrays:
        # The inner border: mask pixels within TRUTH_OUTLINE_WIDTH of the outside (the film edge counts as outside).
        border |= mask & ~ndimage.binary_erosion(mask, iterations=TRUTH_OUTLINE_WIDTH, border_value=0)
    rgba = np.zeros(shape + (4,), dtype=np.uint8)
    rgba[border] = TRUTH_OUTLINE_RGBA
    buffer = io.BytesIO()
    Image.fromarray(rgba).save(buffer, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def signal_points_trace(
    attribution_map: np.ndarray, mapping_info: Any, minimum_strength: float = 0.3, max_points: int = 4000
) -> go.Scatter:
    """Candidate signal pixels (attribution >= minimum_strength * max) as small markers in image coordinates.

    ``customdata`` holds each point's strength (attribution / max attribution); the browser shows only the
    points at or above tau, matching the definition of a signal in cxrmodel.detection.circles.
    """
    values = np.asarray(attribution_map, dtype=np.float64)
    positive = np.where(np.isfinite(values), np.maximum(values, 0.0), 0.0)
    peak = float(positive.max()) if positive.size else 0.0
    rows, columns = np.nonzero(positive >= max(minimum_strength, 1e-12) * peak) if peak > 0 else ([], [])
    strength = positive[rows, columns] / peak if peak > 0 else np.zeros(0)
    order = np.argsort(-strength, kind="stable")[:max_points]
    x, y = _grid_to_image_pixels(mapping_info, np.asarray(columns, float)[order], np.asarray(rows, float)[order])
    width, height = _mapping_value(mapping_info, "image_width"), _mapping_value(mapping_info, "image_height")
    inside = (x >= -0.5) & (y >= -0.5) & (x <= width - 0.5) & (y <= height - 0.5)
    return go.Scatter(
        x=np.round(x[inside], 2).tolist(), y=np.round(y[inside], 2).tolist(), mode="markers",
        name=POINTS_TRACE_NAME, showlegend=False, hoverinfo="skip",
        customdata=np.round(strength[order][inside], 4).tolist(),
        marker={"size": 4, "color": POINT_COLOUR, "opacity": POINT_OPACITY},
    )


# plotly.js draws layout images through a d3 data join keyed by [xref, x, sizex, yref, y, sizey]: images at the
# same place share a key and only the first is drawn. Each overlay therefore sits this far (in image pixels, far
# below what a screen can show) to the right of the radiograph per overlay index, which gives it its own key.
OVERLAY_KEY_NUDGE = 1e-6


def _layout_image(source: str, name: str, width: int, height: int, opacity: float, visible: bool = True,
                  overlay_index: int = 0) -> dict:
    # Pixel (row i, column j) is centred on (j, i): the image spans -0.5 .. width - 0.5 (y reversed).
    return {"source": source, "name": name, "xref": "x", "yref": "y", "x": -0.5 + overlay_index * OVERLAY_KEY_NUDGE,
            "y": -0.5,
            "sizex": width, "sizey": height, "xanchor": "left", "yanchor": "top", "sizing": "stretch",
            "layer": "below", "opacity": opacity, "visible": visible}


def xray_figure(
    image_source: str,
    width: int,
    height: int,
    circles: list[dict],
    *,
    show_circles: bool = True,
    points_trace: go.Scatter | dict | None = None,
    heatmap_source: str | None = None,
    heatmap_opacity: float = 0.4,
    show_heatmap: bool = True,
    show_points: bool = True,
    truth_source: str | None = None,
    show_truth: bool = False,
    uirevision: str | None = None,
) -> go.Figure:
    """The radiograph as one compressed layout image with the circles and optional overlays on top.

    Args:
        image_source: PNG/JPEG data URI (or URL) of the radiograph; never a numeric array.
        width: Original image width in pixels.
        height: Original image height in pixels.
        circles: Circles in original-image pixels, largest mass first.
        show_circles: False draws no shapes and no circle-centre markers.
        points_trace: Optional signal-point trace (e.g. :func:`signal_points_trace`).
        heatmap_source: Optional attribution overlay data URI (:func:`attribution_overlay_png`).
        heatmap_opacity: Opacity of the overlay, 0..1.
        show_heatmap: Whether the overlay starts visible.
        show_points: Whether the signal points start visible. Pass the ``overlay-toggles`` state (default:
            circles only) so that nothing flickers before the browser applies the toggles.
        truth_source: Optional lesion outline data URI (:func:`lesion_outline_png`) of a synthetic study.
        show_truth: Whether the outlines start visible.
        uirevision: Zoom/pan survive updates while this stays the same; default: derived from the image,
            so a new study starts un-zoomed.
    """
    if not isinstance(image_source, str) or not image_source:
        raise TypeError("image_source must be a data URI or URL string (the radiograph is never sent as an array)")
    if width <= 0 or height <= 0:
        raise ValueError(f"image size must be positive, got {width} x {height}")
    if uirevision is None:
        uirevision = f"xray:{width}x{height}:" + hashlib.sha1(image_source.encode()).hexdigest()[:12]
    shown = circles if show_circles else []
    images = [_layout_image(image_source, RADIOGRAPH_IMAGE_NAME, width, height, 1.0)]
    if heatmap_source:
        images.append(_layout_image(heatmap_source, OVERLAY_IMAGE_NAME, width, height,
                                    float(np.clip(heatmap_opacity, 0.0, 1.0)), visible=show_heatmap, overlay_index=1))
    if truth_source:
        images.append(_layout_image(truth_source, TRUTH_IMAGE_NAME, width, height, 1.0, visible=show_truth,
                                    overlay_index=2))
    traces = [circle_centre_trace(shown)]
    if points_trace is not None:
        points = go.Scatter(points_trace)
        points.update(name=POINTS_TRACE_NAME, hoverinfo="skip", showlegend=False, visible=show_points)
        traces.insert(0, points)
    axis = {"showgrid": False, "zeroline": False, "showticklabels": False, "ticks": "", "showline": False,
            "visible": False, "constrain": "domain"}
    figure = go.Figure(data=traces)
    figure.update_layout(
        images=images,
        shapes=circle_shapes(shown),
        xaxis={**axis, "range": [-0.5, width - 0.5]},
        yaxis={**axis, "range": [height - 0.5, -0.5], "scaleanchor": "x", "scaleratio": 1},
        margin={"l": 0, "r": 0, "t": 0, "b": 0},
        paper_bgcolor=BACKGROUND, plot_bgcolor=BACKGROUND,
        dragmode="pan", hovermode="closest", showlegend=False, uirevision=uirevision,
    )
    return figure


def empty_xray_figure(message: str = "Pick a study to see its radiograph.") -> go.Figure:
    """The placeholder before a study is shown (no images: the browser's circle redraw leaves it alone)."""
    figure = go.Figure()
    figure.update_layout(
        xaxis={"visible": False}, yaxis={"visible": False}, paper_bgcolor=BACKGROUND, plot_bgcolor=BACKGROUND,
        margin={"l": 0, "r": 0, "t": 0, "b": 0}, uirevision="empty",
        annotations=[{"text": message, "showarrow": False, "xref": "paper", "yref": "paper", "x": 0.5,
                      "y": 0.5, "font": {"color": "#adb5bd", "size": 14}}],
    )
    return figure


def window_transfer(contrast: float | None = 1.0, brightness: float | None = 1.0,
                    invert: bool | None = False) -> dict[str, float]:
    """The linear grey-level transfer ``v -> slope * v + intercept`` of invert, contrast and brightness (pure).

    Same order and formulas as CSS ``invert(1) contrast(c) brightness(b)``: invert ``1 - v``, contrast
    ``c * v + 0.5 - 0.5 * c``, brightness ``b * v``. Mirrored by ``windowTransfer`` in assets/threshold.js.
    """
    contrast = 1.0 if contrast is None else float(contrast)
    brightness = 1.0 if brightness is None else float(brightness)
    slope_in, intercept_in = (-1.0, 1.0) if invert else (1.0, 0.0)
    return {"slope": brightness * contrast * slope_in,
            "intercept": brightness * (contrast * intercept_in + 0.5 - 0.5 * contrast)}


def window_style(contrast: float | None = 1.0, brightness: float | None = 1.0, invert: bool | None = False,
                 frame_id: str = XRAY_FRAME_ID) -> dict:
    """The ``style`` of a viewer's frame div: ``--xray-filter`` = its SVG filter, or ``none`` at identity."""
    transfer = window_transfer(contrast, brightness, invert)
    identity = transfer["slope"] == 1.0 and transfer["intercept"] == 0.0
    return {"--xray-filter": "none" if identity else f"url(#{WINDOW_FILTER_PREFIX}{frame_id})"}


def _labelled_slider(label: str, component_id: str, minimum: float, maximum: float, step: float,
                     value: float, marks: dict) -> html.Div:
    return html.Div(
        [dbc.Label(label, html_for=component_id, className="small mb-0"),
         dcc.Slider(id=component_id, min=minimum, max=maximum, step=step, value=value, marks=marks,
                    updatemode="drag", allow_direct_input=False, tooltip={"placement": "bottom"})],
        className="xray-control",
    )


def layout(suffix: str = "", height: str = "640px") -> html.Div:
    """The viewer: the zoomable radiograph graph, overlay toggles, heatmap opacity and window/level controls."""
    ids = xray_ids(suffix)
    graph = dcc.Graph(id=ids["graph"], figure=empty_xray_figure(), config=GRAPH_CONFIG, style={"height": height})
    toggles = dcc.Checklist(
        id=ids["toggles"],
        options=[{"label": " Circles", "value": OVERLAY_CIRCLES},
                 {"label": " Attribution heatmap", "value": OVERLAY_HEATMAP},
                 {"label": " Signal pixels", "value": OVERLAY_POINTS},
                 {"label": " Lesion outlines (synthetic ground truth)", "value": OVERLAY_TRUTH}],
        value=list(DEFAULT_OVERLAYS), inline=True, inputClassName="me-1", labelClassName="me-3 small",
    )
    controls = dbc.Row(
        [
            dbc.Col([dbc.Label("Show", className="small mb-0 d-block"), toggles], md=12, className="mb-1"),
            dbc.Col(_labelled_slider("Heatmap opacity", ids["opacity"], 0.0, 1.0, 0.05, 0.4,
                                     {0: "0", 0.5: "0.5", 1: "1"}), md=3),
            dbc.Col(_labelled_slider("Contrast", ids["contrast"], 0.5, 3.0, 0.05, 1.0,
                                     {0.5: "0.5", 1: "1", 2: "2", 3: "3"}), md=3),
            dbc.Col(_labelled_slider("Brightness", ids["brightness"], 0.5, 2.0, 0.05, 1.0,
                                     {0.5: "0.5", 1: "1", 2: "2"}), md=3),
            dbc.Col(dbc.Switch(id=ids["invert"], label="Invert", value=False, className="mt-3"), md=3),
        ],
        className="mt-2 g-2",
    )
    frame = html.Div(graph, id=ids["frame"], className=XRAY_FRAME_CLASS, style=window_style(frame_id=ids["frame"]))
    return html.Div([frame, controls], className="xray-view")


def register_callbacks(app, suffix: str = "") -> None:
    """Window/level and invert, entirely in the browser (``cxr.windowStyle`` in assets/threshold.js)."""
    ids = xray_ids(suffix)
    app.clientside_callback(
        ClientsideFunction(namespace="cxr", function_name="windowStyle"),
        Output(ids["frame"], "style"),
        Input(ids["contrast"], "value"),
        Input(ids["brightness"], "value"),
        Input(ids["invert"], "value"),
        State(ids["frame"], "id"),
    )
