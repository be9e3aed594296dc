"""Research tools: how the circles respond to the sight sensitivity tau, as one compact chart.

Owns the id ``sweep-chart`` (a dcc.Graph). :func:`sweep_chart_figure` is pure; this module registers no
callbacks (the caller feeds it a ``cxrmodel.detection.circle_sweep`` output and, for synthetic studies with
truth masks, ``cxrmodel.evaluation.detection_quality.sweep_hit_rates``).

Figure contract: x = tau (the sweep's thresholds); trace ``"circles"`` on the left axis (count); on the right
axis (0-100 %) trace ``"retained attribution"`` (the share of the map's positive attribution that lies in
circles: the sum of the circles' masses, each already a share of ``positive_mass``) and, only when some rate
is known, trace ``"lesion hit rate"``; when the sweep carries the deletion evidence
(components.evidence_view.sweep_evidence), traces ``"P, circles removed"`` and ``"P, random regions removed"``
(P(abnormal) in %, the deletion curve); ``layout.shapes`` holds one dashed vertical line named
``"sight sensitivity"`` at the current tau.
"""

from __future__ import annotations

import logging
import math
from typing import Sequence

import plotly.graph_objects as go
from dash import dcc, html

from components.threshold_control import SIGHT_SENSITIVITY_ID
from cxrmodel.detection import SLIDER_STEP

logger = logging.getLogger(__name__)

SWEEP_CHART_ID = "sweep-chart"
SLIDER_ID = SIGHT_SENSITIVITY_ID
"""The slider whose value assets/research_tools.js follows."""

COUNT_TRACE_NAME = "circles"
RETAINED_TRACE_NAME = "retained attribution"
HIT_RATE_TRACE_NAME = "lesion hit rate"
TAU_LINE_NAME = "sight sensitivity"
DELETION_TRACE_NAME = "P, circles removed"
RANDOM_DELETION_TRACE_NAME = "P, random regions removed"

CHART_HEIGHT = 260
"""Figure height in pixels: a strip under the viewer, not a second page."""
UIREVISION = "sweep-chart"
"""Constant, so that a zoom or hidden legend entry survives tau and study changes."""

COUNT_COLOUR = "#8a9bb0"
RETAINED_COLOUR = "#3d7ea6"
HIT_RATE_COLOUR = "#5a9e6f"
TAU_LINE_COLOUR = "#6c757d"
DELETION_COLOUR = "#b5452f"

EXPLANATION = ("How the circles change with τ: circle count (bars, left), share of the positive attribution "
               "inside circles and, for synthetic studies with ground truth, lesions hit (lines, right, %); "
               "the red lines are P(abnormal) with that τ's circles removed (solid) and with same-size random "
               "regions removed (dotted); the dashed line is the current τ.")


def retained_attribution_percent(sweep: dict) -> list[float | None]:
    """Share of the map's positive attribution inside circles at each threshold, in percent.

    Args:
        sweep: ``cxrmodel.detection.circle_sweep`` output. Each circle's ``"mass"`` is already its share of
            ``"positive_mass"`` (the sum of the map's positive values), so the retained share is the sum of a
            threshold's masses; ``positive_mass`` only marks the case where there is nothing to retain.

    Returns:
        One value in ``[0, 100]`` per threshold; ``None`` everywhere when the map has no positive attribution
        (``positive_mass`` is 0 or not finite). A sweep without ``positive_mass`` (made before the key
        existed) is read from the masses alone.
    """
    positive_mass = sweep.get("positive_mass")
    if positive_mass is not None and not (math.isfinite(float(positive_mass)) and float(positive_mass) > 0.0):
        return [None] * len(sweep["circles"])
    # Masses are rounded to 4 decimals in the sweep, so their sum may overshoot 1 by a hair: clip.
    return [min(100.0, max(0.0, 100.0 * sum(float(c["mass"]) for c in circles))) for circles in sweep["circles"]]


def hit_rate_percent(hit_rates: Sequence[float | None] | None) -> list[float | None] | None:
    """Hit rates (fractions or None) as percentages; None when no rate is known at any threshold."""
    if not hit_rates or all(rate is None for rate in hit_rates):
        return None
    return [None if rate is None else 100.0 * float(rate) for rate in hit_rates]


def sweep_chart_figure(
    sweep: dict, hit_rates: Sequence[float | None] | None, sight_sensitivity: float
) -> go.Figure:
    """Circle count, retained attribution and lesion hit rate against tau, with the current tau marked.

    Args:
        sweep: ``cxrmodel.detection.circle_sweep`` output (``"thresholds"``, ``"circles"``, optional
            ``"positive_mass"``).
        hit_rates: Per threshold, the fraction of lesions hit (``sweep_hit_rates``), or None / all None when
            the study has no lesion ground truth; then no hit-rate trace is drawn.
        sight_sensitivity: The current tau in [0, 1], drawn as a dashed vertical line.

    Returns:
        A ~260 px tall figure: bars ``"circles"`` (left axis, count) and lines ``"retained attribution"`` and
        ``"lesion hit rate"`` (right axis, 0-100 %), hover unified over tau.

    Raises:
        ValueError: ``hit_rates`` has a different length than the sweep's thresholds.
    """
    thresholds = [float(value) for value in sweep["thresholds"]]
    counts = [len(circles) for circles in sweep["circles"]]
    retained = retained_attribution_percent(sweep)
    hits = hit_rate_percent(hit_rates)
    if hits is not None and len(hits) != len(thresholds):
        raise ValueError(f"{len(hits)} hit rates for {len(thresholds)} thresholds: one rate per threshold")

    figure = go.Figure()
    figure.add_trace(go.Bar(
        x=thresholds, y=counts, name=COUNT_TRACE_NAME, marker={"color": COUNT_COLOUR}, opacity=0.55,
        hovertemplate="%{y} circles<extra></extra>",
    ))
    figure.add_trace(go.Scatter(
        x=thresholds, y=retained, name=RETAINED_TRACE_NAME, yaxis="y2", mode="lines",
        line={"color": RETAINED_COLOUR, "width": 2}, connectgaps=False,
        hovertemplate="%{y:.1f}% of positive attribution in circles<extra></extra>",
    ))
    if hits is not None:
        figure.add_trace(go.Scatter(
            x=thresholds, y=hits, name=HIT_RATE_TRACE_NAME, yaxis="y2", mode="lines+markers",
            line={"color": HIT_RATE_COLOUR, "width": 2}, marker={"size": 4}, connectgaps=False,
            hovertemplate="%{y:.0f}% of lesions hit<extra></extra>",
        ))
    shipped = sweep.get("evidence")
    if shipped and len(shipped.get("regions", [])) == len(thresholds):
        # The deletion curve: P(abnormal) (as %, right axis) with each tau's circles removed, and the control; a
        # gap where a tau's evidence is not computed yet.
        for column, name, colour, dash in ((1, DELETION_TRACE_NAME, DELETION_COLOUR, "solid"),
                                           (2, RANDOM_DELETION_TRACE_NAME, DELETION_COLOUR, "dot")):
            figure.add_trace(go.Scatter(
                x=thresholds, y=[None if row is None else 100.0 * float(row[column]) for row in shipped["regions"]],
                name=name, yaxis="y2",
                mode="lines", line={"color": colour, "width": 1.5, "dash": dash},
                hovertemplate=f"P(abnormal) %{{y:.1f}}% {name}<extra></extra>",
            ))
    figure.update_layout(
        height=CHART_HEIGHT,
        margin={"l": 44, "r": 48, "t": 30, "b": 36},
        template="plotly_white",
        uirevision=UIREVISION,
        hovermode="x unified",
        bargap=0.15,
        legend={"orientation": "h", "x": 0, "xanchor": "left", "y": 1.02, "yanchor": "bottom",
                "font": {"size": 11}},
        font={"size": 11},
        # One slider step of margin either side, so that the bars at tau = 0 and 1 are drawn whole.
        xaxis={"title": {"text": "sight sensitivity τ"}, "range": [-SLIDER_STEP, 1.0 + SLIDER_STEP],
               "hoverformat": ".2f", "showgrid": False},
        yaxis={"title": {"text": "circles"}, "rangemode": "tozero", "tickformat": "d", "gridcolor": "#eef0f2"},
        # Fixed percentage ticks: an overlaying axis otherwise syncs its ticks to the circle axis (27.9 %, 55.9 %...).
        yaxis2={"title": {"text": "%"}, "overlaying": "y", "side": "right", "range": [0, 100],
                "tickmode": "array", "tickvals": [0, 25, 50, 75, 100],
                "ticktext": ["0%", "25%", "50%", "75%", "100%"], "showgrid": False},
        shapes=[{
            "type": "line", "name": TAU_LINE_NAME, "xref": "x", "yref": "paper",
            "x0": float(sight_sensitivity), "x1": float(sight_sensitivity), "y0": 0, "y1": 1,
            "line": {"color": TAU_LINE_COLOUR, "width": 1.5, "dash": "dash"}, "layer": "above",
        }],
    )
    logger.debug("sweep chart: %d thresholds, hit rates %s", len(thresholds), "shown" if hits else "absent")
    return figure


def layout() -> html.Div:
    """The chart (id ``sweep-chart``) with a one-line explanation of what it shows."""
    return html.Div(
        [
            dcc.Graph(id=SWEEP_CHART_ID, config={"displaylogo": False}, style={"height": f"{CHART_HEIGHT}px"}),
            html.Small(EXPLANATION, className="text-muted"),
        ],
        className="sweep-chart-panel",
    )
