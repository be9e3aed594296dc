"""Opening a study (issue #17): cached studies drawn by the plain callback, uncached ones through the job; only the
picked study's response is drawn; Cancel and Restart; the browser side's JavaScript against its Python mirror."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from dash import no_update

from components import evidence_view, explanation_progress, study_loading, study_opening
from components.presenter import StudyPanel, StudyResolver
from components.server.uploads import UploadStore
from cxrmodel.data import StudyCollection
from cxrmodel.explain import ExplanationCache, ExplanationSettings, StudyExplainer
from cxrmodel.modeling import load_bundle

ASSETS = Path(__file__).resolve().parents[2] / "assets"


@pytest.fixture(scope="module")
def world(tiny_bundle_directory, tiny_studies_directory, tmp_path_factory):
    root = tmp_path_factory.mktemp("opening")
    explainer = StudyExplainer(load_bundle(tiny_bundle_directory), ExplanationCache(root / "explanations"))
    resolver = StudyResolver(StudyCollection.from_folder(tiny_studies_directory), UploadStore(root / "uploads"))
    image_bytes, report = resolver("CXR2", None)
    explainer.attribute(image_bytes, report, ExplanationSettings())  # CXR2 cached; CXR5 never is
    return explainer, resolver


def _open(world, trigger, study_id, refresh=None, **keywords):
    explainer, resolver = world
    return study_opening.open_study(trigger, study_id, refresh, None, ExplanationSettings(), [], explainer,
                                    resolver, **keywords)


def test_a_cached_study_is_drawn_at_once_and_starts_no_job(world):
    outputs = _open(world, study_opening.PICKED, "CXR2")
    assert outputs.panel.circle_sweep is not None and outputs.shown_study == {"study": "CXR2", "drawn": True}
    assert outputs.request is no_update and outputs.switch_cancel is no_update
    assert outputs.cancelled_style == explanation_progress.HIDDEN
    # ... and cancels the job of an earlier pick that may still run.
    assert isinstance(_open(world, study_opening.PICKED, "CXR2", job_may_be_running=True).switch_cancel, dict)
    assert len(outputs.as_tuple()) == len(study_opening.StudyOutputs.outputs()) == len(StudyPanel.outputs()) + 5
    # The content is tagged with its study in the same response (the last output: shown-study-tag).
    assert study_opening.StudyOutputs.outputs()[-1].component_id == study_loading.SHOWN_STUDY_TAG_ID
    assert outputs.as_tuple()[-1] == "CXR2"


def test_an_uncached_study_gets_the_placeholder_and_one_job_request(world):
    outputs = _open(world, study_opening.PICKED, "CXR5")
    assert outputs.panel.circle_sweep is None and outputs.shown_study == {"study": "CXR5", "drawn": False}
    assert outputs.request["study"] == "CXR5" and isinstance(outputs.request["at"], float)
    assert "Explaining CXR5" in json.dumps(outputs.panel.xray_figure.to_plotly_json(), default=str)
    restart = _open(world, study_opening.RESTART, "CXR5")
    assert restart.request["study"] == "CXR5" and restart.request["at"] >= outputs.request["at"]
    assert restart.cancelled_style == explanation_progress.HIDDEN
    # A clustering control while it computes redraws the placeholder but does not start the job again.
    controls = _open(world, study_opening.CONTROLS, "CXR5")
    assert controls.request is no_update and controls.cancelled_style is no_update


def test_a_job_result_is_drawn_only_for_the_study_still_picked(world):
    dropped = _open(world, study_opening.REFRESH, "CXR2", refresh={"study": "CXR5", "finished": 1.0})
    assert all(value is no_update for value in dropped.as_tuple())
    drawn = _open(world, study_opening.REFRESH, "CXR2", refresh={"study": "CXR2", "finished": 1.0})
    assert drawn.panel.circle_sweep is not None and drawn.request is no_update
    # A job that finished without leaving its result in the cache says so (and does not start again).
    missing = _open(world, study_opening.REFRESH, "CXR5", refresh={"study": "CXR5"})
    assert "not in the cache" in json.dumps(missing.panel.study_error.to_plotly_json(), default=str)
    assert missing.request is no_update


def test_the_old_path_opens_a_cached_study_through_the_job(world):
    outputs = _open(world, study_opening.PICKED, "CXR2", cached_open_via_job=True)
    assert outputs.request["study"] == "CXR2" and outputs.shown_study is no_update
    assert all(value is no_update for value in outputs.panel.as_tuple())
    assert outputs.as_tuple()[-1] is no_update  # nothing drawn: the tag stays the previous content's
    ready, status = explanation_progress.run_explanation(
        lambda _: None, "CXR2", None, world[1], lambda *a: True, None, request_at=outputs.request["at"],
        always_ready=True)
    assert ready["study"] == "CXR2" and ready["request"] == outputs.request["at"] and status is None


def test_unknown_studies_and_failures_leave_nothing_of_the_previous_study(world):
    unknown = _open(world, study_opening.PICKED, "CXR999")
    assert unknown.panel.circle_sweep is None and unknown.shown_study == {"study": "CXR999", "drawn": False}
    failed = study_opening.failed("CXR2")
    assert failed.panel.circle_sweep is None and failed.shown_study == {"study": "CXR2", "drawn": False}
    assert failed.as_tuple()[-1] == "CXR2"  # the alert is this study's: drawn, not behind a loading state
    assert "Could not show" in json.dumps(failed.panel.study_error.to_plotly_json(), default=str)


def test_the_words_and_sweep_chart_follow_in_a_second_step_for_the_picked_study_only(world):
    explainer, resolver = world
    first = _open(world, study_opening.PICKED, "CXR2")
    assert first.panel.words_figure is no_update and first.panel.sweep_chart is no_update  # dimmed until filled
    words, strongest, chart, tag = study_opening.details_outputs(
        {"study": "CXR2"}, "CXR2", None, ExplanationSettings(), explainer, resolver)
    assert tag == "CXR2" and [trace.name for trace in chart.data][:1] == ["circles"]
    assert words.data and strongest is not None
    # Too late (another study picked meanwhile): nothing changes (the picked study's words are on their way).
    assert study_opening.details_outputs({"study": "CXR2"}, "CXR5", None, ExplanationSettings(), explainer,
                                         resolver) == (no_update,) * 4
    assert study_opening.details_failed({"study": "CXR2"}, "CXR5") == (no_update,) * 4
    # Nothing cached to show, or drawing them failed: empty ones, tagged, so no loading state stays for ever.
    for empty in (study_opening.details_outputs({"study": "CXR5"}, "CXR5", None, ExplanationSettings(), explainer,
                                                resolver), study_opening.details_failed({"study": "CXR5"}, "CXR5")):
        assert empty[3] == "CXR5" and empty[1] is None and not any(trace.x for trace in empty[2].data)


def test_triggers():
    controls = ("link-distance", "min-points")
    assert study_opening.trigger_of("study-refresh", "study-refresh", "restart", controls) == study_opening.REFRESH
    assert study_opening.trigger_of("restart", "study-refresh", "restart", controls) == study_opening.RESTART
    assert study_opening.trigger_of("min-points", "study-refresh", "restart", controls) == study_opening.CONTROLS
    for picked in ("study-picker", None, []):  # a pick, or the page load
        assert study_opening.trigger_of(picked, "study-refresh", "restart", controls) == study_opening.PICKED
    # Several inputs at once: a pick wins (a store that changed in the same render must not turn it into a redraw,
    # which would start no explanation for an uncached study).
    for together in (["min-points", "study-picker"], ["study-refresh", "study-picker"]):
        assert study_opening.trigger_of(together, "study-refresh", "restart", controls) == study_opening.PICKED
    assert study_opening.trigger_of(["min-points", "link-distance"], "study-refresh", "restart",
                                    controls) == study_opening.CONTROLS
    assert study_opening.trigger_of(["study-refresh"], "study-refresh", "restart", controls) == study_opening.REFRESH


def test_a_job_may_be_running_until_its_request_is_answered():
    request = explanation_progress.explanation_request("CXR2")
    assert not explanation_progress.job_may_be_running(None, None)
    assert explanation_progress.job_may_be_running(request, None)
    assert explanation_progress.job_may_be_running(request, {"study": "CXR2", "request": request["at"] - 1})
    assert not explanation_progress.job_may_be_running(request, {"study": "CXR2", "request": request["at"]})


def test_cancel_shows_restart_and_replaces_the_explaining_placeholder():
    def resolve(study_id, session_id):
        return (b"image", "report") if study_id in ("CXR5", "CXR2") else None

    def is_cached(image_bytes, report):
        return False

    request = explanation_progress.explanation_request("CXR5")
    style, text, sweep, figure = explanation_progress.cancelled_outputs(request, None, "CXR5", resolve, is_cached,
                                                                        lambda message: message)
    assert style == explanation_progress.SHOWN and "CXR5" in text and "cancelled" in text
    assert "Restart" in figure and "cancelled" in figure and sweep is no_update
    # Too late (complete in the cache by now), or for another study than the one picked: nothing changes.
    assert explanation_progress.cancelled_outputs(request, None, "CXR5", resolve, lambda *a: True, None) == (
        no_update, no_update, no_update)
    assert explanation_progress.cancelled_outputs(request, None, "CXR2", resolve, is_cached, None) == (
        no_update, no_update, no_update)
    assert explanation_progress.cancelled_outputs(None, None, "CXR2", resolve, is_cached, None) == (
        no_update, no_update, no_update)
    # Cancelled while only the evidence was computing: the circles stay, the evidence line says it was cancelled.
    style, text, sweep, figure = explanation_progress.cancelled_outputs(
        request, None, "CXR5", resolve, is_cached, lambda message: message, attribution_cached=lambda *a: True)
    assert style == explanation_progress.SHOWN and "deletion check" in text and "circles and words are drawn" in text
    assert figure is no_update
    assert sweep.to_plotly_json()["operations"][0]["params"]["value"] == evidence_view.EVIDENCE_CANCELLED_TEXT


def test_every_panel_holding_another_study_is_loading_from_the_pick():
    options = [{"label": "CXR90015 — abnormal (Nodule) · P(abnormal) 0.91", "value": "CXR90015"},
               {"label": "Uploaded: film.png", "value": "upload-abc"}]
    assert study_loading.study_title("CXR90015", options) == "CXR90015"
    assert study_loading.study_title("upload-abc", options) == "film.png"
    assert study_loading.study_title("CXR1", options) == "CXR1"
    # Just picked: every panel still holds the previous study (or nothing yet).
    old = {"film": "CXR90001", "words": "CXR90001", "what-if": "CXR90001", "comparison": ""}
    assert study_loading.loading_state("CXR90015", old, options) == {
        "panels": ["film", "words", "what-if", "comparison"], "label": "Loading CXR90015…"}
    # The radiograph landed with its tag; the words and the what-if are still the previous study's.
    partly = {**old, "film": "CXR90015", "comparison": "CXR90015"}
    assert study_loading.loading_state("CXR90015", partly, options)["panels"] == ["words", "what-if"]
    assert study_loading.loading_state("CXR90015", dict.fromkeys(old, "CXR90015"), options) == {
        "panels": [], "label": ""}
    # No study picked (a link to an unknown one): only empty content may be drawn.
    assert study_loading.loading_state(None, {"film": "", "words": "CXR90001"}, options) == {
        "panels": ["words"], "label": "Loading…"}
    assert study_loading.loading_state("upload-abc", {"film": "CXR90015"}, options)["label"] == "Loading film.png…"


def test_a_panel_drawn_from_a_store_is_tagged_once_the_store_is_the_shown_studys():
    shown = {"study": "CXR2"}
    assert study_loading.store_tag({"study": "CXR2", "stability": None}, shown) == "CXR2"
    assert study_loading.store_tag({"study": "CXR1", "stability": {}}, shown) == ""  # the previous study's data
    assert study_loading.store_tag(None, shown) == "CXR2"  # no data: nothing drawn, nothing to hide
    assert study_loading.store_tag(None, None) == "" and study_loading.tag(None) == ""


NODE_RUNNER = """
const fs = require("fs");
const vm = require("vm");
const setProps = [];
const sandbox = {window: {dash_clientside: {no_update: {"__no_update__": true},
                                            set_props: (id, props) => setProps.push([id, props])}}};
vm.createContext(sandbox);
for (const script of JSON.parse(process.env.CXR_SCRIPTS)) {
  vm.runInContext(fs.readFileSync(script, "utf8"), sandbox);
}
const cxr = sandbox.window.dash_clientside.cxr;
const calls = JSON.parse(fs.readFileSync(0, "utf8"));
const results = calls.map((call) => cxr[call.name].apply(null, call.args));
process.stdout.write(JSON.stringify({results: results, setProps: setProps}));
"""


def run_scripts(names: list[str], calls: list[dict]) -> dict:
    scripts = json.dumps([str(ASSETS / name) for name in names])
    result = subprocess.run(["node", "-e", NODE_RUNNER], input=json.dumps(calls), capture_output=True, text=True,
                            timeout=60, env={**os.environ, "CXR_SCRIPTS": scripts})
    # node's own words (a script that throws, a global the sandbox lacks) are the failure's message.
    assert result.returncode == 0, f"node exited with status {result.returncode}:\n{result.stderr}"
    return json.loads(result.stdout)


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_the_loading_script_and_its_python_mirror_agree_and_drop_older_jobs():
    options = [{"label": "CXR90015 — abnormal (Nodule) · P(abnormal) 0.91", "value": "CXR90015"},
               {"label": "Uploaded: a — b.png · P(abnormal) 0.20", "value": "upload-abc"}, {"value": "CXR3"},
               # The worklist's review marks in front of the labels (components.worklist).
               {"label": "●2 CXR9 — normal", "value": "CXR9"}, {"label": "✓ Uploaded: film.png", "value": "upload-9"}]
    states = [("upload-9", {"a": "CXR90001"}), ("CXR9", {"a": "CXR90001"}),
              ("CXR90015", {"a": "CXR90001", "b": "CXR90015"}), ("CXR90015", {"a": "CXR90015"}), (None, {"a": ""}),
              ("upload-abc", {"a": "", "b": "upload-abc"}), ("CXR3", {}), ("", {"a": "x"}), (None, {"a": None}),
              ("CXR9", {"a": "CXR9", "b": "CXR9", "c": "CXR8"})]
    stores = [({"study": "CXR2"}, {"study": "CXR2"}), ({"study": "CXR1"}, {"study": "CXR2"}), (None, {"study": "CXR2"}),
              (None, None), ({"study": None}, None), ([1], {"study": "CXR2"}), ({"study": "CXR2"}, [2])]
    calls = ([{"name": "loadingState", "args": [picked, tags, options]} for picked, tags in states]
             + [{"name": "storeTag", "args": list(pair)} for pair in stores]
             + [{"name": "studyTitle", "args": [picked, options]} for picked, _ in states]
             + [{"name": "explanationReady", "args": [{"study": "CXR1", "finished": 5.0}, "CXR2"]},
                {"name": "explanationReady", "args": [None, "CXR2"]},
                {"name": "explanationReady", "args": [{"study": "CXR2", "finished": 6.0}, "CXR2"]}])
    report = run_scripts(["study_loading.js"], calls)
    expected = ([study_loading.loading_state(picked, tags, options) for picked, tags in states]
                + [study_loading.store_tag(*pair) for pair in stores]
                + [study_loading.study_title(picked, options) for picked, _ in states])
    assert report["results"][: len(expected)] == expected
    assert report["results"][len(expected):] == [{"__no_update__": True}, {"__no_update__": True}, 6.0]
    # Only the job for the study still picked reaches the study callback.
    assert report["setProps"] == [[study_loading.STUDY_REFRESH_ID, {"data": {"study": "CXR2", "finished": 6.0}}]]


def test_the_script_constants_repeat_the_python_ones():
    text = (ASSETS / "study_loading.js").read_text(encoding="utf-8")
    for name, value in (("STALE_CLASS", study_loading.STALE_CLASS),
                        ("TAG_CLASS", study_loading.TAG_CLASS),
                        ("STUDY_REFRESH_ID", study_loading.STUDY_REFRESH_ID),
                        ("LABEL_ID", study_loading.STUDY_LOADING_ID),
                        ("LABEL_TEXT_ID", study_loading.STUDY_LOADING_TEXT_ID)):
        assert f'const {name} = {json.dumps(value, ensure_ascii=False)};' in text, name
    css = (ASSETS / "study_loading.css").read_text(encoding="utf-8")
    assert "[data-cxr-loading] *" in css and f".{study_loading.QUIET_LOADING_CLASS}" in css
    assert 'const LOADING_ATTRIBUTE = "data-cxr-loading";' in text
    assert f'const IMAGE_LOADING_ATTRIBUTE = "{study_loading.IMAGE_LOADING_ATTRIBUTE}";' in text
    assert f"image[{study_loading.IMAGE_LOADING_ATTRIBUTE}] {{ visibility: hidden; }}" in css
    layout = study_loading.layout({"a": "tag-1", "b": "tag-2"}).to_plotly_json()
    children = [child.to_plotly_json()["props"] for child in layout["props"]["children"]]
    label = next(props for props in children if props.get("id") == study_loading.STUDY_LOADING_ID)
    assert json.loads(label["data-cxr-panels"]) == {"a": "tag-1", "b": "tag-2"}
    assert label["data-cxr-picker"] == "study-picker"
    tags = [props for props in children if props.get("className") == study_loading.TAG_CLASS]
    assert [props["id"] for props in tags] == [study_loading.SHOWN_STUDY_TAG_ID, study_loading.DETAILS_STUDY_TAG_ID]
    assert all(props["hidden"] for props in tags)


RELAY_RUNNER = """
const fs = require("fs");
const vm = require("vm");
const log = [];
const frames = [], timers = [];
const sandbox = {
  window: {dash_clientside: {no_update: {"__no_update__": true}, set_props: (id, props) => log.push([id, props])}},
  requestAnimationFrame: (f) => frames.push(f) - 1, cancelAnimationFrame: (i) => { frames[i] = null; },
  setTimeout: (f, ms) => timers.push({f: f, ms: ms}) - 1, clearTimeout: (i) => { if (timers[i]) timers[i].f = null; },
};
vm.createContext(sandbox);
vm.runInContext(fs.readFileSync(process.env.CXR_SCRIPT, "utf8"), sandbox);
const cxr = sandbox.window.dash_clientside.cxr;
const run = (list, pick) => { for (const item of list.splice(0)) { const f = pick(item); if (f) f(); } };
const returned = [cxr.relayAfterPaint({study: "CXR1", drawn: true}, "painted"),
                  cxr.relayAfterPaint({study: "CXR2", drawn: true}, "painted")];  // CXR1 still waiting: replaced
const beforePaint = log.length;
const waitingFrames = frames.filter((f) => f).length;
run(frames, (f) => f);                                        // the frame is painted
run(timers, (t) => t.f);                                      // the task after it, and the fallbacks
process.stdout.write(JSON.stringify({returned: returned, beforePaint: beforePaint, waitingFrames: waitingFrames,
                                     log: log}));
"""


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_the_studys_follow_up_callbacks_wait_for_its_first_painted_frame():
    result = subprocess.run(["node", "-e", RELAY_RUNNER], capture_output=True, text=True, timeout=60,
                            env={**os.environ, "CXR_SCRIPT": str(ASSETS / "study_loading.js")})
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["returned"] == [{"__no_update__": True}] * 2  # nothing at once: the store is set later
    assert report["beforePaint"] == 0 and report["waitingFrames"] == 1  # the newer value's frame alone
    assert report["log"] == [["painted", {"data": {"study": "CXR2", "drawn": True}}]]  # once, the newest value


def test_the_follow_up_callbacks_listen_to_the_painted_store(tiny_bundle_directory, tiny_studies_directory, tmp_path):
    import app as dashboard

    dependencies = json.loads(dashboard.create_app(dashboard.AppConfig(
        tiny_bundle_directory, tiny_studies_directory, tmp_path)).server.test_client().get("/_dash-dependencies").data)
    listening = {spec["output"]: [f"{entry['id']}.{entry['property']}" for entry in spec["inputs"]]
                 for spec in dependencies}
    painted = f"{study_loading.SHOWN_STUDY_PAINTED_ID}.data"
    follow_ups = [output for output, inputs in listening.items() if painted in inputs]
    assert any(output.startswith("..words-graph.figure") for output in follow_ups)  # the words and sweep chart
    assert any("stability-data.data" in output for output in follow_ups)
    assert any("what-if" in output for output in follow_ups)
    # No request to the server follows shown-study itself but the stability job's cancel (which must be at once).
    shown = f"{study_loading.SHOWN_STUDY_ID}.data"
    server_side = [spec["output"] for spec in dependencies if not spec.get("clientside_function")
                   and shown in [f"{entry['id']}.{entry['property']}" for entry in spec["inputs"]]]
    assert server_side == [f"{study_loading.SHOWN_STUDY_ID}.id"], server_side
