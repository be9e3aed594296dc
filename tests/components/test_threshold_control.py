"""The sight-sensitivity slider: nearest threshold, the clientside redraw (JS and its Python mirror), wiring."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from dash import Dash, html, no_update

from components import report_view, threshold_control, xray_view
from cxrmodel.detection import SLIDER_STEP, SLIDER_THRESHOLDS

SCRIPT = Path(__file__).resolve().parents[2] / "assets" / "threshold.js"
THRESHOLDS = [round(index * 0.02, 2) for index in range(51)]
SOURCE = "data:image/png;base64,iVBORw0KGgo="
NO_UPDATE_MARKER = {"__no_update__": True}


def make_sweep(with_signals: bool = True) -> dict:
    """A circle-sweep store like cxrmodel.explain.study.circle_sweep's: fewer, smaller circles as tau rises."""
    circles = []
    for tau in THRESHOLDS:
        at_tau = []
        if tau <= 0.9:
            at_tau.append({"x": 23.0, "y": 27.5, "r": round(6.0 * (1.2 - tau), 2), "points": int(40 * (1 - tau)) + 2,
                           "mass": round(0.6 * (1 - tau / 2), 4)})
        if tau <= 0.5:
            at_tau.append({"x": 9.5, "y": 9.5, "r": 2.12, "points": 16, "mass": 0.1225})
        circles.append(at_tau)
    sweep = {"thresholds": THRESHOLDS, "circles": circles, "image": {"width": 40, "height": 40}}
    if with_signals:
        sweep["signals"] = [int(60 * (1 - tau)) for tau in THRESHOLDS]
    return sweep


def base_figure() -> dict:
    points = {"x": [9.0, 21.0, 22.0], "y": [9.0, 27.0, 28.0], "customdata": [1.0, 0.5, 0.72], "mode": "markers"}
    figure = xray_view.xray_figure(SOURCE, 40, 40, [], points_trace=points, heatmap_source="data:image/png;base64,QQ==",
                                   truth_source="data:image/png;base64,Qg==")
    return json.loads(figure.to_json())


def script_text() -> str:
    return SCRIPT.read_text(encoding="utf-8")


def js_constant(name: str):
    match = re.search(rf"const {name} = (.+?);\n", script_text())
    assert match, f"{name} not defined in {SCRIPT.name}"
    return json.loads(match.group(1))


def test_nearest_threshold_index():
    assert threshold_control.nearest_threshold_index(THRESHOLDS, 0.7) == 35
    assert threshold_control.nearest_threshold_index(THRESHOLDS, 0.709) == 35
    assert threshold_control.nearest_threshold_index(THRESHOLDS, 0.711) == 36
    assert threshold_control.nearest_threshold_index([0.0, 0.5, 1.0], 0.25) == 0  # tie: lower index
    assert threshold_control.nearest_threshold_index(THRESHOLDS, -3) == 0
    assert threshold_control.nearest_threshold_index(THRESHOLDS, 7) == 50
    for value in (None, float("nan")):
        assert threshold_control.nearest_threshold_index(THRESHOLDS, value) == -1
    assert threshold_control.nearest_threshold_index([], 0.5) == -1


SNAP_CASES = [(0.45, 0.46), (0.44, 0.44), (0.449, 0.44), (0.7, 0.7), (0.71, 0.72), (0.709, 0.7), (0.35, 0.36),
              (0.0, 0.0), (1.0, 1.0), (2, 1.0), (-1, 0.0), (0.999, 1.0), (0.001, 0.0), (0.13, 0.14), (1e-12, 0.0)]


def test_tau_is_clamped_and_snapped_to_the_sweep_grid():
    for value, expected in SNAP_CASES:
        assert threshold_control.snap_sight_sensitivity(value) == expected, value
    for value in (None, float("nan"), float("inf"), True, "0.5"):
        assert threshold_control.snap_sight_sensitivity(value) is None
    # Every snapped tau is one of the sweep's thresholds, exactly (the sweep store's keys).
    for step in range(0, 1001):
        assert threshold_control.snap_sight_sensitivity(step / 1000) in SLIDER_THRESHOLDS
    # The view draws the snapped tau: 0.45 draws (and names) 0.46, not the tie-lower 0.44.
    sweep, figure = make_sweep(), base_figure()
    _, summary = threshold_control.apply_sight_sensitivity(0.45, sweep, ["circles"], 0.4, figure)
    assert summary.endswith("τ = 0.46")
    _, summary = threshold_control.apply_sight_sensitivity(7, sweep, ["circles"], 0.4, figure)
    assert summary.endswith("τ = 1.00")


def test_redraw_picks_the_nearest_threshold_and_reuses_the_radiograph():
    sweep, figure = make_sweep(), base_figure()
    updated, summary = threshold_control.apply_sight_sensitivity(0.705, sweep, ["circles"], 0.4, figure)
    circles = sweep["circles"][35]
    assert circles and updated["layout"]["shapes"] == xray_view.circle_shapes(circles)
    assert updated["layout"]["images"][0] is figure["layout"]["images"][0]  # same radiograph object
    markers = next(t for t in updated["data"] if t["name"] == xray_view.CIRCLE_TRACE_NAME)
    assert markers["x"] == [c["x"] for c in circles] and len(markers["hovertext"]) == len(circles)
    assert len(circles) == 1 and summary == f"1 circle · {sweep['signals'][35]} signal pixels at τ = 0.70"
    _, lower_summary = threshold_control.apply_sight_sensitivity(0.3, sweep, ["circles"], 0.4, figure)
    assert lower_summary == f"2 circles · {sweep['signals'][15]} signal pixels at τ = 0.30"
    assert figure["layout"].get("shapes", []) == []  # the input figure is not mutated


def test_toggles_control_circles_heatmap_and_points():
    sweep, figure = make_sweep(), base_figure()
    updated, _ = threshold_control.apply_sight_sensitivity(0.6, sweep, ["heatmap", "points"], 0.8, figure)
    assert updated["layout"]["shapes"] == []
    assert next(t for t in updated["data"] if t["name"] == xray_view.CIRCLE_TRACE_NAME)["x"] == []
    overlay = updated["layout"]["images"][1]
    assert overlay["visible"] is True and overlay["opacity"] == 0.8
    points = next(t for t in updated["data"] if t["name"] == xray_view.POINTS_TRACE_NAME)
    assert points["visible"] is True
    assert points["marker"]["opacity"] == [xray_view.POINT_OPACITY, 0, xray_view.POINT_OPACITY]  # 0.5 < 0.6
    hidden, _ = threshold_control.apply_sight_sensitivity(0.6, sweep, [], None, figure)
    assert hidden["layout"]["images"][1]["visible"] is False
    assert next(t for t in hidden["data"] if t["name"] == xray_view.POINTS_TRACE_NAME)["visible"] is False


def test_nothing_to_draw_on_before_a_study_is_shown():
    placeholder = json.loads(xray_view.empty_xray_figure().to_json())
    figure, summary = threshold_control.apply_sight_sensitivity(0.7, make_sweep(False), ["circles"], 0.4, placeholder)
    assert figure is no_update and summary.endswith("at τ = 0.70") and "signal" not in summary
    assert threshold_control.apply_sight_sensitivity(0.7, None, ["circles"], 0.4, base_figure())[1] == ""


def test_the_truth_toggle_shows_and_hides_the_lesion_outlines_only():
    figure = base_figure()

    def visibility(toggles):
        redrawn, _ = threshold_control.apply_sight_sensitivity(0.7, make_sweep(), toggles, 0.4, figure)
        return {image["name"]: image.get("visible", True) for image in redrawn["layout"]["images"]}

    assert visibility(["circles"])[xray_view.TRUTH_IMAGE_NAME] is False
    shown = visibility(["circles", "truth"])
    assert shown[xray_view.TRUTH_IMAGE_NAME] is True and shown[xray_view.OVERLAY_IMAGE_NAME] is False
    assert visibility(["heatmap"])[xray_view.TRUTH_IMAGE_NAME] is False


def test_the_script_defines_the_registered_functions_and_repeats_the_python_constants():
    text = script_text()
    assert "window.dash_clientside.cxr" in text
    for name in (threshold_control.UPDATE_FUNCTION, "windowStyle"):
        assert re.search(rf"\b{name}: {name}\b", text) and re.search(rf"function {name}\(", text)
    assert js_constant("CIRCLE_PALETTE") == list(xray_view.CIRCLE_PALETTE)
    assert js_constant("CIRCLE_DASHES") == list(xray_view.CIRCLE_DASHES)
    assert js_constant("CIRCLE_LINE_WIDTH") == xray_view.CIRCLE_LINE_WIDTH
    assert js_constant("CIRCLE_LABEL_SIZE") == xray_view.CIRCLE_LABEL_SIZE
    assert js_constant("POINT_OPACITY") == xray_view.POINT_OPACITY
    assert js_constant("STRENGTH_TOLERANCE") == threshold_control.STRENGTH_TOLERANCE
    assert js_constant("SLIDER_STEP") == SLIDER_STEP and js_constant("SLIDER_DECIMALS") == 2
    for name in ("RADIOGRAPH_IMAGE_NAME", "OVERLAY_IMAGE_NAME", "TRUTH_IMAGE_NAME", "CIRCLE_TRACE_NAME",
                 "POINTS_TRACE_NAME", "OVERLAY_CIRCLES", "OVERLAY_HEATMAP", "OVERLAY_POINTS", "OVERLAY_TRUTH"):
        assert js_constant(name) == getattr(xray_view, name)
    assert js_constant("WINDOW_FILTER_PREFIX") == xray_view.WINDOW_FILTER_PREFIX
    assert f".{xray_view.XRAY_FRAME_CLASS} .imagelayer image:first-of-type" in text


NODE_RUNNER = """
const fs = require("fs");
const vm = require("vm");
const sandbox = {window: {dash_clientside: {no_update: {"__no_update__": true}}}};
vm.createContext(sandbox);
vm.runInContext(fs.readFileSync(process.env.CXR_SCRIPT, "utf8"), sandbox);
const cxr = sandbox.window.dash_clientside.cxr;
const calls = JSON.parse(fs.readFileSync(0, "utf8"));
process.stdout.write(JSON.stringify(calls.map((call) => cxr[call.name].apply(null, call.args))));
"""


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_the_javascript_and_its_python_mirror_agree():
    sweep, figure = make_sweep(), base_figure()
    placeholder = json.loads(xray_view.empty_xray_figure().to_json())
    tie_sweep = {"thresholds": [0.7], "circles": [[{"x": 3.0, "y": 4.0, "r": 0.25, "points": 2, "mass": 0.1225}]]}
    redraws = [
        (0.7, sweep, ["circles"], 0.4, figure),
        (0.13, sweep, ["circles", "heatmap", "points"], 0.65, figure),
        (0.99, make_sweep(False), ["points"], None, figure),
        (0.7, tie_sweep, ["circles"], 2.0, figure),
        (0.7, None, ["circles"], 0.4, figure),
        (0.7, sweep, ["circles"], 0.4, placeholder),
        (0.5, sweep, ["truth", "circles"], 0.4, figure),
    ]
    nearest = [(THRESHOLDS, 0.71), ([0.0, 0.5, 1.0], 0.25), ([], 0.3), (THRESHOLDS, None)]
    # One snapping rule in both languages: every typed-looking value 0.000 .. 1.000 (and beyond the ends).
    snap_values = [value for value, _ in SNAP_CASES] + [step / 1000 for step in range(-20, 1021)] + [None, "0.5"]
    windows = [(1, 1, False, "xray-frame"), (1.234, 0.875, True, "xray-frame"), (None, None, None, "xray-frame"),
               (0.5, 2, False, "xray-frame-compare")]
    # redrawCircles is the Dash callback's argument order (inputs sweep, toggles, opacity; states figure, value).
    calls = ([{"name": "updateCircles", "args": list(args)} for args in redraws]
             + [{"name": "redrawCircles", "args": [args[1], args[2], args[3], args[4], args[0]]} for args in redraws]
             + [{"name": "redrawCirclesTagged", "args": [args[1], args[2], args[3], args[4], args[0]]}
                for args in redraws]
             + [{"name": "nearestThresholdIndex", "args": list(args)} for args in nearest]
             + [{"name": "windowStyle", "args": list(args)} for args in windows]
             + [{"name": "windowTransfer", "args": list(args[:3])} for args in windows]
             + [{"name": "snapSightSensitivity", "args": [value]} for value in snap_values])
    result = subprocess.run(["node", "-e", NODE_RUNNER], input=json.dumps(calls), capture_output=True, text=True,
                            timeout=60, check=True, env={**os.environ, "CXR_SCRIPT": str(SCRIPT)})
    from_javascript = json.loads(result.stdout)

    def plain(value):
        return NO_UPDATE_MARKER if value is no_update else json.loads(json.dumps(value))

    expected = ([[plain(item) for item in threshold_control.apply_sight_sensitivity(*args)] for args in redraws] * 2
                + [[plain(item) for item in threshold_control.apply_sight_sensitivity(*args)]
                   + [threshold_control.figure_study(args[4])] for args in redraws]
                + [threshold_control.nearest_threshold_index(*args) for args in nearest]
                + [xray_view.window_style(*args) for args in windows]
                + [xray_view.window_transfer(*args[:3]) for args in windows]
                + [threshold_control.snap_sight_sensitivity(value) for value in snap_values])
    assert from_javascript == expected
    assert from_javascript[3][0]["data"][-1]["hovertext"][0].startswith("<b>Circle 1</b><br>12.3%")


FAKE_DOCUMENT_RUNNER = """
const fs = require("fs");
const vm = require("vm");
const byId = {};
function element(namespace, tag) {
  return {
    tag: tag, attributes: {}, childNodes: [], style: {},
    get firstChild() { return this.childNodes[0]; },
    setAttribute(name, value) { this.attributes[name] = String(value); if (name === "id") { byId[value] = this; } },
    appendChild(child) { this.childNodes.push(child); if (child.id) { byId[child.id] = child; } return child; },
  };
}
const document = {
  head: element(null, "head"), body: element(null, "body"),
  getElementById: (id) => byId[id] || null,
  createElement: (tag) => element(null, tag),
  createElementNS: (namespace, tag) => element(namespace, tag),
};
const sandbox = {window: {dash_clientside: {}}, document: document};
vm.createContext(sandbox);
vm.runInContext(fs.readFileSync(process.env.CXR_SCRIPT, "utf8"), sandbox);
const cxr = sandbox.window.dash_clientside.cxr;
const styles = [cxr.windowStyle(1.5, 0.8, true, "xray-frame"), cxr.windowStyle(2, 1, false, "xray-frame")];
const filter = byId["cxr-window-xray-frame"];
const channels = filter.firstChild.childNodes.map((channel) => [channel.tag, channel.attributes]);
process.stdout.write(JSON.stringify({
  styles: styles, filter: filter.attributes, transfer: filter.firstChild.tag, channels: channels,
  rule: document.head.childNodes.map((node) => node.textContent),
}));
"""


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_window_style_keeps_one_svg_filter_per_viewer_and_installs_the_radiograph_rule():
    result = subprocess.run(["node", "-e", FAKE_DOCUMENT_RUNNER], capture_output=True, text=True, timeout=60,
                            check=True, env={**os.environ, "CXR_SCRIPT": str(SCRIPT)})
    report = json.loads(result.stdout)
    assert report["styles"] == [{"--xray-filter": "url(#cxr-window-xray-frame)"}] * 2
    assert report["filter"]["color-interpolation-filters"] == "sRGB" and report["transfer"] == "feComponentTransfer"
    expected = xray_view.window_transfer(2, 1, False)  # the second call updated the same filter in place
    assert [tag for tag, _ in report["channels"]] == ["feFuncR", "feFuncG", "feFuncB"]
    for _, attributes in report["channels"]:
        assert attributes["type"] == "linear"
        assert float(attributes["slope"]) == expected["slope"]
        assert float(attributes["intercept"]) == expected["intercept"]
    assert len(report["rule"]) == 1 and "image:first-of-type" in report["rule"][0]


def test_layout_slider_store_and_summary():
    component = threshold_control.layout()
    found = {item.id: item for item in component._traverse() if getattr(item, "id", None)}
    slider = found["sight-sensitivity"]
    assert (slider.min, slider.max, slider.value, slider.updatemode) == (0.0, 1.0, 0.70, "drag")
    assert slider.step in (0.01, 0.02) and sorted(slider.marks) == [0.0, 0.3, 0.5, 0.7, 1.0]
    assert slider.tooltip
    assert "circle-sweep" in found and "circle-summary" in found
    # assets/threshold.js finds what the slider drives from these attributes (the live redraw while dragging).
    assert {key: value for key, value in component.to_plotly_json()["props"].items() if key.startswith("data-")} == {
        "data-cxr-graph": "xray-graph", "data-cxr-sweep": "circle-sweep", "data-cxr-toggles": "overlay-toggles",
        "data-cxr-opacity": "heatmap-opacity", "data-cxr-summary": "circle-summary"}
    compare = threshold_control.layout(0.3, suffix="-compare").to_plotly_json()["props"]
    assert compare["data-cxr-graph"] == "xray-graph-compare" and compare["data-cxr-sweep"] == "circle-sweep-compare"


def component_ids(layout) -> list[str]:
    return [item.id for item in layout._traverse() if getattr(item, "id", None)]


def test_a_dash_app_wires_the_documented_ids_without_duplicates():
    app = Dash(__name__, assets_folder=str(SCRIPT.parent))
    app.layout = html.Div([xray_view.layout(), report_view.layout(), threshold_control.layout(),
                           xray_view.layout("-compare"), threshold_control.layout(0.5, "-compare")])
    xray_view.register_callbacks(app)
    threshold_control.register_callbacks(app)
    xray_view.register_callbacks(app, "-compare")
    threshold_control.register_callbacks(app, "-compare")
    ids = component_ids(app.layout)
    assert len(ids) == len(set(ids))
    for documented in ("xray-graph", "overlay-toggles", "heatmap-opacity", "window-contrast", "window-brightness",
                       "invert-image", "words-graph", "strongest-words", "sight-sensitivity", "circle-sweep",
                       "circle-summary", "xray-graph-compare"):
        assert documented in ids
    functions = set()
    for callback in app._callback_list:
        functions.add(callback["clientside_function"]["function_name"])
        outputs = re.findall(r"([\w-]+)\.(\w+)", callback["output"])
        dependencies = callback["inputs"] + callback["state"]
        referenced = [output[0] for output in outputs] + [dependency["id"] for dependency in dependencies]
        assert set(referenced) <= set(ids)
    assert functions == {"redrawCirclesTagged", "windowStyle"}
    redraw = next(c for c in app._callback_list if c["clientside_function"]["function_name"] == "redrawCirclesTagged"
                  and "compare" not in c["output"])
    # The slider's value is only read: a move is drawn by assets/threshold.js's live path, not by a Dash callback.
    assert [(d["id"], d["property"]) for d in redraw["inputs"]] == [
        ("circle-sweep", "data"), ("overlay-toggles", "value"), ("heatmap-opacity", "value")]
    assert [(d["id"], d["property"]) for d in redraw["state"]] == [("xray-graph", "figure"),
                                                                     ("sight-sensitivity", "value")]
    assert "xray-graph.figure" in redraw["output"] and "circle-summary.children" in redraw["output"]
    assert "circle-summary-tag.children" in redraw["output"]  # the summary is tagged with its study as it is drawn
    client = app.server.test_client()
    assert "threshold.js" in client.get("/").get_data(as_text=True)
    assert client.get("/_dash-dependencies").status_code == 200


def test_the_circle_summary_is_tagged_with_the_study_its_figure_draws():
    drawn = json.loads(xray_view.xray_figure("data:image/png;base64,", 10, 10, [], uirevision="CXR90015").to_json())
    assert threshold_control.figure_study(drawn) == "CXR90015"
    placeholder = json.loads(xray_view.empty_xray_figure("Explaining CXR90015…").to_json())
    assert threshold_control.figure_study(placeholder) == "" and threshold_control.figure_study(None) == ""
