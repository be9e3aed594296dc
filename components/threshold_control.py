"""The sight-sensitivity slider: moving tau redraws the circles in the browser, with no server round trip.

Owns the ids ``sight-sensitivity`` (dcc.Slider, 0..1), ``circle-sweep`` (dcc.Store) and ``circle-summary``
(text). The server fills ``circle-sweep`` once per study with the circles at every slider threshold
(``cxrmodel.detection.circle_sweep``)::

    {"thresholds": [0.0, 0.02, ..., 1.0],
     "circles": [[{"x", "y", "r", "points", "mass"}, ...] per threshold],   # original-image pixels
     "signals": [int per threshold],                                         # optional
     "image": {"width", "height"}}

and the browser draws the circles of the nearest threshold, in two ways (assets/threshold.js):

* per slider move, a DOM-level live path: a MutationObserver on the handle's ``aria-valuenow`` moves only the
  circle shapes with one ``Plotly.update`` (no Dash callback, no ``Plotly.react``; ~15-20 ms faster per move,
  BENCHMARKS.md), and once the slider rests writes the full figure back to Dash with ``set_props``;
* when the sweep, the overlay toggles or the heatmap opacity change, the clientside callback
  ``cxr.redrawCircles`` (the slider's value is only its State), which returns the whole figure.

Both build the figure with ``cxr.updateCircles``; :func:`apply_sight_sensitivity` is its Python mirror (tests
run both on the same input). Every id takes an optional ``suffix`` for a second, side-by-side viewer.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence

import dash_bootstrap_components as dbc
from dash import ClientsideFunction, Input, Output, State, dcc, html, no_update

from components import study_loading
from components.xray_view import (
    CIRCLE_TRACE_NAME,
    OVERLAY_CIRCLES,
    OVERLAY_HEATMAP,
    OVERLAY_IMAGE_NAME,
    OVERLAY_POINTS,
    OVERLAY_TRUTH,
    POINT_OPACITY,
    POINTS_TRACE_NAME,
    RADIOGRAPH_IMAGE_NAME,
    TRUTH_IMAGE_NAME,
    circle_marker_values,
    circle_shapes,
    js_fixed,
    xray_ids,
)

# One source for the slider's step and the clustering defaults: the detection package the sweep is computed by.
from cxrmodel.detection import (
    DEFAULT_MIN_POINTS,
    DEFAULT_SIGHT_SENSITIVITY,
    MAX_SMOOTHING,
    SLIDER_STEP,
    SLIDER_THRESHOLDS,
)

logger = logging.getLogger(__name__)

SIGHT_SENSITIVITY_ID = "sight-sensitivity"
CIRCLE_SWEEP_ID = "circle-sweep"
CIRCLE_SUMMARY_ID = "circle-summary"
SLIDER_MARKS = (0.0, 0.3, 0.5, 0.7, 1.0)
STRENGTH_TOLERANCE = 1e-9
LINK_DISTANCE_ID = "link-distance"
SIGHT_SENSITIVITY_HINT = "Higher τ keeps only the strongest pixels: fewer, tighter circles."
MIN_POINTS_ID = "min-points"
SMOOTHING_ID = "attribution-smoothing"
CLIENTSIDE_NAMESPACE = "cxr"
UPDATE_FUNCTION = "redrawCirclesTagged"
CIRCLE_SUMMARY_TAG_ID = "circle-summary-tag"
SLIDER_RANGE = {"min": SLIDER_THRESHOLDS[0], "max": SLIDER_THRESHOLDS[-1], "step": SLIDER_STEP}
"""The sight-sensitivity slider's range and grid, declared once: the slider is built from it, every τ is snapped
to it, and the page gets it to say when a link's τ was moved onto it (components.url_state)."""


def threshold_ids(suffix: str = "") -> dict[str, str]:
    """The ids of one slider: ``{"slider", "sweep", "summary", "summary_tag"}`` (the summary's study tag,
    components.study_loading)."""
    return {"slider": SIGHT_SENSITIVITY_ID + suffix, "sweep": CIRCLE_SWEEP_ID + suffix,
            "summary": CIRCLE_SUMMARY_ID + suffix, "summary_tag": CIRCLE_SUMMARY_TAG_ID + suffix}


def figure_study(figure: dict | None) -> str:
    """The study a viewer figure draws (the ``uirevision`` of a figure with a radiograph: the study id), or "" for
    a placeholder (pure).

    The circle summary's study tag: written with the summary by the same callback. Mirrors ``figureStudy`` in
    assets/threshold.js.
    """
    layout = (figure or {}).get("layout") or {}
    revision = layout.get("uirevision")
    drawn = any(image.get("name") == RADIOGRAPH_IMAGE_NAME for image in layout.get("images") or [])
    return revision if drawn and isinstance(revision, str) else ""


def nearest_threshold_index(thresholds: Sequence[float], value: float | None) -> int:
    """Index of the threshold closest to ``value`` (ties: the lower index); -1 when there is none.

    Mirrors ``nearestThresholdIndex`` in assets/threshold.js.
    """
    if not thresholds or value is None or isinstance(value, bool) or not math.isfinite(value):
        return -1
    best = 0
    for index in range(1, len(thresholds)):
        if abs(thresholds[index] - value) < abs(thresholds[best] - value):
            best = index
    return best


def snap_sight_sensitivity(value: float | None) -> float | None:
    """tau as every view uses it: clamped to [0, 1] and rounded to the nearest slider threshold, halves up (pure).

    One rule for the circles drawn in the browser, the summary, the sweep chart's line, the exports and deep
    links, so that they always name the same threshold (what the slider's own number box does on blur, too:
    0.45 -> 0.46, 2 -> 1.0, -1 -> 0.0). None when ``value`` is not a finite number. Mirrors
    ``snapSightSensitivity`` in assets/threshold.js (the same floating-point steps, so both agree exactly).
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    quotient = min(SLIDER_RANGE["max"], max(SLIDER_RANGE["min"], float(value))) / SLIDER_STEP
    index = math.floor(quotient)
    if quotient - index >= 0.5:
        index += 1
    return round(index * SLIDER_STEP, 2)


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def summary_text(circle_count: int, signals: int | None, tau: float) -> str:
    """"3 circles · 412 signal pixels at τ = 0.70" (signal pixels on the model grid; omitted when unknown)."""
    signals_part = f" · {_plural(signals, 'signal pixel')}" if isinstance(signals, int) else ""
    return f"{_plural(circle_count, 'circle')}{signals_part} at τ = {js_fixed(tau, 2)}"


def apply_sight_sensitivity(
    value: float | None, sweep: dict | None, toggles: Sequence[str] | None, opacity: float | None, figure: dict | None
) -> tuple[dict, str]:
    """Python mirror of ``cxr.updateCircles``: the figure redrawn at tau = ``value`` and the summary line.

    Args:
        value: The slider value.
        sweep: The ``circle-sweep`` store (see the module docstring) or None.
        toggles: The ``overlay-toggles`` value (subset of "circles", "heatmap", "points", "truth").
        opacity: The ``heatmap-opacity`` value.
        figure: The current figure as JSON (``fig.to_plotly_json()`` shape, plain lists).

    Returns:
        ``(figure, summary)``; the figure is ``dash.no_update`` while no radiograph is drawn.
    """
    shown = list(toggles or [])
    show_circles, show_heatmap, show_points, show_truth = (
        name in shown for name in (OVERLAY_CIRCLES, OVERLAY_HEATMAP, OVERLAY_POINTS, OVERLAY_TRUTH)
    )
    thresholds = list((sweep or {}).get("thresholds") or [])
    snapped = snap_sight_sensitivity(value)
    index = nearest_threshold_index(thresholds, value if snapped is None else snapped)
    circles_per_threshold = (sweep or {}).get("circles") or []
    circles = (circles_per_threshold[index] or []) if 0 <= index < len(circles_per_threshold) else []
    tau = thresholds[index] if index >= 0 else (value if isinstance(value, (int, float)) else 0.0)
    signals_list = (sweep or {}).get("signals")
    signals = signals_list[index] if index >= 0 and isinstance(signals_list, list) else None
    summary = summary_text(len(circles), signals, tau) if index >= 0 else ""
    layout = (figure or {}).get("layout") or {}
    images = layout.get("images") or []
    if not any(image.get("name") == RADIOGRAPH_IMAGE_NAME for image in images):
        return no_update, summary

    drawn = circles if show_circles else []
    markers = circle_marker_values(drawn)
    data = []
    for trace in figure.get("data") or []:
        if trace.get("name") == CIRCLE_TRACE_NAME:
            hoverlabel = {**(trace.get("hoverlabel") or {}), "bordercolor": markers["bordercolor"]}
            trace = {**trace, "x": markers["x"], "y": markers["y"], "hovertext": markers["hovertext"],
                     "hoverlabel": hoverlabel}
        elif trace.get("name") == POINTS_TRACE_NAME:
            strengths = trace.get("customdata") or []
            point_opacity = [POINT_OPACITY if strength >= tau - STRENGTH_TOLERANCE else 0 for strength in strengths]
            marker = {**(trace.get("marker") or {}), "opacity": point_opacity}
            trace = {**trace, "visible": show_points, "marker": marker}
        data.append(trace)
    new_images = []
    for image in images:
        if image.get("name") == OVERLAY_IMAGE_NAME:
            image = {**image, "visible": show_heatmap}
            if isinstance(opacity, (int, float)) and math.isfinite(opacity):
                image["opacity"] = min(1.0, max(0.0, float(opacity)))
        elif image.get("name") == TRUTH_IMAGE_NAME:
            image = {**image, "visible": show_truth}
        new_images.append(image)
    new_layout = {**layout, "shapes": circle_shapes(drawn), "images": new_images}
    return {**figure, "data": data, "layout": new_layout}, summary


def layout(
    default_sight_sensitivity: float = DEFAULT_SIGHT_SENSITIVITY, suffix: str = "", viewer_suffix: str | None = None,
    evidence_id: str | None = None,
) -> html.Div:
    """The slider, its one-line summary and the (server-filled) sweep store.

    The outer div's ``data-cxr-*`` attributes name the viewer the slider drives (graph, overlay toggles, heatmap
    opacity) and its own sweep store and summary: assets/threshold.js redraws the circles from them on every move.

    Args:
        default_sight_sensitivity: The slider's starting tau.
        suffix: Id suffix of the slider, store and summary.
        viewer_suffix: Id suffix of the x-ray viewer it drives (default: ``suffix``).
        evidence_id: The element whose text says what removing this tau's circles does
            (components.evidence_view), rewritten on every move; None = none.
    """
    ids = threshold_ids(suffix)
    viewer = xray_ids(suffix if viewer_suffix is None else viewer_suffix)
    attributes = {"data-cxr-graph": viewer["graph"], "data-cxr-sweep": ids["sweep"],
                  "data-cxr-toggles": viewer["toggles"], "data-cxr-opacity": viewer["opacity"],
                  "data-cxr-summary": ids["summary"]}
    if evidence_id:
        attributes["data-cxr-evidence"] = evidence_id
    marks = {mark: f"{mark:g}" for mark in SLIDER_MARKS}
    return html.Div(
        [
            # The label and the summary share one line (the radiograph starts higher on a 1366 x 768 screen); what
            # tau does is on the label's hover.
            html.Div(
                [html.Label("Sight sensitivity τ", htmlFor=ids["slider"], className="form-label fw-semibold mb-0 me-3",
                            title=SIGHT_SENSITIVITY_HINT),
                 html.Div(id=ids["summary"], className="small text-muted", role="status", **{"aria-live": "polite"})],
                className="d-flex flex-wrap align-items-baseline threshold-heading",
            ),
            dcc.Slider(
                id=ids["slider"], min=SLIDER_RANGE["min"], max=SLIDER_RANGE["max"], step=SLIDER_RANGE["step"],
                value=default_sight_sensitivity,
                marks=marks, updatemode="drag",
                tooltip={"placement": "bottom", "template": "τ = {value}"},
            ),
            dcc.Store(id=ids["sweep"]),
            study_loading.tag_element(ids["summary_tag"]),
        ],
        className="threshold-control",
        **attributes,
    )


def advanced_layout(
    default_link_distance: float, default_min_points: int = DEFAULT_MIN_POINTS, default_smoothing: float = 0.0
) -> html.Div:
    """Clustering controls that go to the server (they change the circles at every tau, not just which apply).

    ``link-distance``: single-linkage distance in model-grid pixels; ``min-points``: smallest cluster drawn;
    ``attribution-smoothing``: sigma of the sum-preserving blur of the attribution map (0 = the raw map).
    """
    return html.Div(
        [
            html.Div("Clustering", className="fw-semibold small"),
            dbc.Label("Link distance (model-grid pixels)", html_for=LINK_DISTANCE_ID, className="small mb-0"),
            # The exact default (7.143 for the demo; step "any" so the browser keeps it): a rounded 7.14 gave the
            # page other circles than the CLI's and than the ones the deletion evidence removed.
            dbc.Input(id=LINK_DISTANCE_ID, type="number", min=1, max=100, step="any", value=default_link_distance,
                      debounce=True, size="sm"),
            dbc.Label("Minimum points per circle", html_for=MIN_POINTS_ID, className="small mb-0 mt-2"),
            dbc.Input(id=MIN_POINTS_ID, type="number", min=1, max=50, step=1, value=default_min_points,
                      debounce=True, size="sm"),
            html.Small("Signal pixels closer than the link distance join one circle; smaller groups are not drawn.",
                       className="text-muted d-block mt-1"),
            dbc.Label("Map smoothing σ (model-grid pixels)", html_for=SMOOTHING_ID, className="small mb-0 mt-2"),
            dbc.Input(id=SMOOTHING_ID, type="number", min=0, max=MAX_SMOOTHING, step=0.5,
                      value=round(default_smoothing, 2), debounce=True, size="sm"),
            html.Small("The attribution map is blurred (its total kept) before the signal pixels are picked, so "
                       "circles follow regions rather than single pixels; 0 shows the raw map, as in the paper.",
                       className="text-muted d-block mt-1"),
        ]
    )


def register_callbacks(app, suffix: str = "", viewer_suffix: str | None = None) -> None:
    """Sweep, toggles and heatmap opacity (at the slider's tau) -> the viewer's figure and summary, in the browser.

    Slider moves are not an Input: assets/threshold.js draws them (see the module docstring). The figure output
    allows duplicates (the app's server callback also sets ``xray-graph.figure`` when a
    study is picked), so this callback does not run on page load; it runs when the sweep store is filled.

    Args:
        app: The Dash app.
        suffix: Id suffix of the slider, store and summary.
        viewer_suffix: Id suffix of the x-ray viewer it drives (default: ``suffix``).
    """
    ids = threshold_ids(suffix)
    viewer = xray_ids(suffix if viewer_suffix is None else viewer_suffix)
    app.clientside_callback(
        ClientsideFunction(namespace=CLIENTSIDE_NAMESPACE, function_name=UPDATE_FUNCTION),
        Output(viewer["graph"], "figure", allow_duplicate=True),
        Output(ids["summary"], "children"),
        # The summary's study tag, with the summary: it is drawn here, a step after the study's response.
        Output(ids["summary_tag"], "children"),
        Input(ids["sweep"], "data"),
        Input(viewer["toggles"], "value"),
        Input(viewer["opacity"], "value"),
        State(viewer["graph"], "figure"),
        State(ids["slider"], "value"),
        prevent_initial_call=True,
    )
