"""The tau sweep chart: circle counts, retained attribution, lesion hit rate and the current-tau line."""

from __future__ import annotations

import json

import numpy as np
import pytest
from dash import dcc, html

from components import research_tools

THRESHOLDS = [0.0, 0.25, 0.5, 0.75, 1.0]


def circle(mass: float) -> dict:
    return {"x": 10.0, "y": 12.0, "r": 3.0, "points": 5, "mass": mass}


def hand_built_sweep(**extra) -> dict:
    return {
        "thresholds": THRESHOLDS,
        "circles": [[circle(0.6), circle(0.3), circle(0.1)], [circle(0.5), circle(0.2)], [circle(0.45)], [], []],
        "signals": [90, 50, 20, 3, 0],
        "image": {"width": 40, "height": 40},
        "positive_mass": 250.0,
        **extra,
    }


def as_json(figure) -> dict:
    return json.loads(figure.to_json())


def trace(figure_json: dict, name: str) -> dict:
    (found,) = [t for t in figure_json["data"] if t.get("name") == name]
    return found


def test_circle_count_trace_is_the_number_of_circles_at_each_tau():
    figure = as_json(research_tools.sweep_chart_figure(hand_built_sweep(), None, 0.7))
    counts = trace(figure, research_tools.COUNT_TRACE_NAME)
    assert counts["x"] == THRESHOLDS and counts["y"] == [3, 2, 1, 0, 0]
    assert counts.get("yaxis", "y") == "y"  # left axis


def test_retained_attribution_is_the_percent_of_positive_attribution_inside_circles():
    figure = as_json(research_tools.sweep_chart_figure(hand_built_sweep(), None, 0.7))
    retained = trace(figure, research_tools.RETAINED_TRACE_NAME)
    assert retained["yaxis"] == "y2" and figure["layout"]["yaxis2"]["range"] == [0, 100]
    assert figure["layout"]["yaxis2"]["tickvals"] == [0, 25, 50, 75, 100]  # round percentages, not synced ticks
    assert retained["y"] == pytest.approx([100.0, 70.0, 45.0, 0.0, 0.0])


def test_retained_attribution_guards_rounding_an_empty_map_and_old_sweeps():
    rounded = hand_built_sweep(circles=[[circle(0.5), circle(0.50005)]] + [[]] * 4)
    assert research_tools.retained_attribution_percent(rounded)[0] == 100.0  # 4-decimal masses can overshoot
    assert research_tools.retained_attribution_percent(hand_built_sweep(positive_mass=0.0)) == [None] * 5
    old = hand_built_sweep()
    del old["positive_mass"]
    assert research_tools.retained_attribution_percent(old) == pytest.approx([100.0, 70.0, 45.0, 0.0, 0.0])


def test_on_a_real_sweep_retained_attribution_only_falls_while_the_circle_count_need_not():
    from cxrmodel.detection import circle_sweep
    from cxrmodel.imaging import GridMapping

    rng = np.random.default_rng(3)
    attribution = rng.normal(size=(32, 32))
    attribution[5:9, 20:25] += 6.0
    mapping = GridMapping.for_image(image_width=200, image_height=300, grid_size=32)
    sweep = circle_sweep(attribution, mapping, link_distance=2.0, min_points=3)
    figure = as_json(research_tools.sweep_chart_figure(sweep, None, 0.7))
    retained = np.array(trace(figure, research_tools.RETAINED_TRACE_NAME)["y"], dtype=float)
    counts = np.array(trace(figure, research_tools.COUNT_TRACE_NAME)["y"])
    assert np.all((retained >= 0) & (retained <= 100))
    # A circle at a higher tau lies inside one at a lower tau with at least its points and mass, so the share
    # retained never rises (up to the sweep's 4-decimal rounding of masses) ...
    assert np.all(np.diff(retained) <= 0.05)
    assert retained[0] > 90 and retained[-1] == 0
    # ... whereas clusters split as tau rises, so the circle count goes up before it goes down.
    assert np.any(np.diff(counts) > 0) and np.any(np.diff(counts) < 0)


def test_hit_rate_trace_appears_only_when_some_rate_is_known():
    for rates in (None, [], [None] * 5):
        names = [t["name"] for t in as_json(research_tools.sweep_chart_figure(hand_built_sweep(), rates, 0.7))["data"]]
        assert research_tools.HIT_RATE_TRACE_NAME not in names
    figure = as_json(research_tools.sweep_chart_figure(hand_built_sweep(), [1.0, 1.0, 0.5, None, 0.0], 0.7))
    hits = trace(figure, research_tools.HIT_RATE_TRACE_NAME)
    assert hits["yaxis"] == "y2" and hits["x"] == THRESHOLDS
    assert hits["y"] == [100.0, 100.0, 50.0, None, 0.0]


def test_hit_rates_for_another_sweep_are_refused():
    with pytest.raises(ValueError, match="one rate per threshold"):
        research_tools.sweep_chart_figure(hand_built_sweep(), [1.0, 0.5], 0.7)


@pytest.mark.parametrize("tau", [0.0, 0.55, 1.0])
def test_the_current_tau_is_a_dashed_vertical_line_at_that_tau(tau):
    layout = as_json(research_tools.sweep_chart_figure(hand_built_sweep(), None, tau))["layout"]
    (line,) = [s for s in layout["shapes"] if s.get("name") == research_tools.TAU_LINE_NAME]
    assert line["type"] == "line" and line["x0"] == line["x1"] == tau
    assert (line["yref"], line["y0"], line["y1"]) == ("paper", 0, 1) and line["line"]["dash"] == "dash"


def test_chart_is_compact_with_the_legend_on_top_and_keeps_zoom_across_updates():
    first = as_json(research_tools.sweep_chart_figure(hand_built_sweep(), None, 0.7))["layout"]
    second = as_json(research_tools.sweep_chart_figure(hand_built_sweep(positive_mass=3.0), [0.0] * 5, 0.2))["layout"]
    assert 200 <= first["height"] <= 300
    assert first["legend"]["orientation"] == "h" and first["legend"]["y"] >= 1
    assert first["uirevision"] and first["uirevision"] == second["uirevision"]
    assert first["hovermode"] == "x unified"


def test_layout_holds_the_graph_and_a_one_line_explanation():
    div = research_tools.layout()
    graphs = [child for child in div.children if isinstance(child, dcc.Graph)]
    notes = [child for child in div.children if isinstance(child, html.Small)]
    assert [graph.id for graph in graphs] == [research_tools.SWEEP_CHART_ID] == ["sweep-chart"]
    assert graphs[0].config == {"displaylogo": False}
    assert len(notes) == 1 and "τ" in notes[0].children and "\n" not in notes[0].children
