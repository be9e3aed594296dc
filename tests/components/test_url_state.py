"""The view in the address bar (issue #17): parse and write the URL, the clientside callback and its Python mirror."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from dash import Dash, html

from components import presenter, threshold_control, url_state
from cxrmodel.detection import SLIDER_THRESHOLDS

ASSETS = Path(__file__).resolve().parents[2] / "assets"
STUDIES = ["CXR90001", "CXR90011", "CXR 7*~"]
NO_UPDATE = {"__no_update__": True}

# threshold.js first (it defines cxr.snapSightSensitivity, the one snapping rule), then url_state.js; callback_context
# is whatever the call says triggered it.
NODE_RUNNER = """
const fs = require("fs");
const vm = require("vm");
const sandbox = {window: {dash_clientside: {no_update: {"__no_update__": true}}}, URLSearchParams: URLSearchParams};
vm.createContext(sandbox);
for (const name of ["threshold.js", "url_state.js"]) {
  vm.runInContext(fs.readFileSync(process.env.CXR_ASSETS + "/" + name, "utf8"), sandbox);
}
const cxr = sandbox.window.dash_clientside.cxr;
const calls = JSON.parse(fs.readFileSync(0, "utf8"));
process.stdout.write(JSON.stringify(calls.map(function (call) {
  sandbox.window.dash_clientside.callback_context = {triggered: (call.triggered || []).map((id) => ({prop_id: id}))};
  return cxr[call.name].apply(null, call.args);
})));
"""


def run_javascript(calls: list[dict]) -> list:
    result = subprocess.run(["node", "-e", NODE_RUNNER], input=json.dumps(calls), capture_output=True, text=True,
                            timeout=60, check=True, env={**os.environ, "CXR_ASSETS": str(ASSETS)})
    return json.loads(result.stdout)


SEARCHES = [
    "", "?", "?study=CXR90011", "?study=CXR90011&tau=0.3", "?tau=0.45&study=CXR90011", "?study=CXR90011&threshold=0.3",
    "?study=CXR90011&tau=0.71&threshold=0.2", "?study=NOPE", "?study=NOPE&tau=0.3&compare=1", "?study=&tau=0.5",
    "?study=CXR90011&tau=7", "?study=CXR90011&tau=-1", "?study=CXR90011&tau=abc", "?study=CXR90011&tau=0x10",
    "?study=CXR90011&tau=1_0", "?study=CXR90011&tau=inf", "?study=CXR90011&tau=.3", "?study=CXR90011&tau=1e-1",
    "?study=CXR90011&compare=1", "?study=CXR90011&compare=0", "?study=CXR90011&compare=true", "?compare=on",
    "?study=CXR+7%2A%7E", "?study=%3Cscript%3E", "?study=" + "X" * 80,
]


def test_restore_view_reads_study_tau_and_side_by_side():
    restore = lambda search: url_state.restore_view(search, STUDIES, "CXR90001", 0.7)  # noqa: E731
    assert restore("") == {"study": "CXR90001", "tau": 0.7, "compare": False, "message": None}
    assert restore("?study=CXR90011&tau=0.3&compare=1") == {"study": "CXR90011", "tau": 0.3, "compare": True,
                                                            "message": None}
    assert restore("?study=CXR90011&threshold=0.3")["tau"] == 0.3  # the older deep links still open
    assert restore("?study=CXR90011&tau=0.45")["tau"] == 0.46  # snapped, halves up (threshold_control's rule)
    assert restore("?study=CXR90011&tau=7")["tau"] == 1.0 and restore("?study=CXR90011&tau=abc")["tau"] == 0.7
    assert restore("?study=CXR+7%2A~")["study"] == "CXR 7*~"


def test_an_unknown_study_opens_nothing_and_says_so():
    view = url_state.restore_view("?study=NOPE&tau=0.3", STUDIES, "CXR90001", 0.7)
    assert view["study"] is None and view["message"] == "No study NOPE here; pick one from the list."
    assert view["tau"] == 0.3
    long = url_state.restore_view("?study=" + "X" * 80, STUDIES, "CXR90001", 0.7)["message"]
    assert len(long) < 120 and "…" in long


def test_tau_in_the_url_is_the_snapped_value_on_the_sweep_grid():
    for tau in (0.0, 0.3, 0.45, 0.7, 0.701, 0.9999, 1.0, 3.0):
        written = url_state.view_search("CXR90011", tau, False)
        assert written == f"?study=CXR90011&tau={threshold_control.snap_sight_sensitivity(tau):.2f}"
        assert url_state.restore_view(written, STUDIES, None, 0.7)["tau"] in SLIDER_THRESHOLDS
    assert url_state.view_search("CXR90011", 0.3, True) == "?study=CXR90011&tau=0.30&compare=1"
    assert url_state.view_search("CXR 7*~", 0.3, False) == "?study=CXR+7%2A~&tau=0.30"
    for study, tau, compare in (("CXR90011", 0.3, True), ("CXR 7*~", 0.99, False)):
        assert url_state.restore_view(url_state.view_search(study, tau, compare), STUDIES, None, 0.7) == {
            "study": study, "tau": threshold_control.snap_sight_sensitivity(tau), "compare": compare, "message": None}


def test_the_url_agrees_with_the_deep_link_rule_for_bundled_studies(tiny_studies_directory):
    from cxrmodel.data import StudyCollection

    collection = StudyCollection.from_folder(tiny_studies_directory)
    ids = [summary.study_id for summary in collection.summaries()]
    for search in ("?study=CXR3&threshold=0.35", "?study=CXR3&threshold=0.45", "?study=CXR2&threshold=7",
                   "?study=CXR2&threshold=-3"):
        study, tau = presenter.deep_link(search, collection)
        view = url_state.restore_view(search, ids, ids[0], 0.7)
        assert (view["study"], view["tau"]) == (study, tau)


def test_panel_labels_say_which_tau_and_what_it_does():
    assert url_state.panel_labels(0.7, 0.3, 0.7) == ("τ 0.70 (default)", "τ 0.30 (more regions)")
    assert url_state.panel_labels(0.5, 0.3, 0.7) == ("τ 0.50 (fewer regions)", "τ 0.30 (more regions)")
    assert url_state.panel_labels(0.3, 0.3, 0.7) == ("τ 0.30 (same τ)", "τ 0.30 (same τ)")
    assert url_state.panel_labels(None, 0.3, 0.7) == ("", "τ 0.30 (same τ)")


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_the_script_and_its_python_mirror_agree():
    views = [(search, STUDIES, "CXR90001", 0.7) for search in SEARCHES] + [("?study=CXR90011", [], None, 0.3)]
    writes = [("CXR90011", 0.7, False), ("CXR90011", 0.45, True), ("CXR 7*~", 0.0, False), ("CXR90001", 1.7, True),
              ("<b>", 0.31, False)]
    labels = [(0.7, 0.3, 0.7), (0.5, 0.3, 0.7), (0.3, 0.3, 0.7), (0.3, 0.5, 0.7), (None, 0.3, 0.7), (0.9, None, 0.7)]
    calls = ([{"name": "restoreView", "args": list(args)} for args in views]
             + [{"name": "viewSearch", "args": list(args)} for args in writes]
             + [{"name": "panelLabels", "args": list(args)} for args in labels])
    expected = ([url_state.restore_view(*args) for args in views] + [url_state.view_search(*args) for args in writes]
                + [list(url_state.panel_labels(*args)) for args in labels])
    assert run_javascript(calls) == expected


DEFAULTS = {"studies": STUDIES, "default_study": "CXR90001", "tau": 0.7}
HIDDEN, SHOWN = url_state.HIDDEN, url_state.SHOWN


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_sync_view_restores_from_the_url_and_writes_user_changes_as_history_entries():
    url, picker, compare = "url.search", "study-picker.value", "compare-mode.value"
    # (triggered, search, study, compare, tau) -> [url.search, picker, slider, compare, message, message style]
    cases = [
        ([], None, None, False, 0.7),  # dcc.Location has not read the address yet: nothing
        ([], "", None, False, 0.7),  # page load at "/": the first study, default tau
        ([url], "?study=CXR90011&tau=0.3&compare=1", "CXR90001", False, 0.7),  # Back to a shared view
        ([url], "?study=CXR90011&tau=0.30", "CXR90011", False, 0.3),  # the view already matches: nothing changes
        ([url], "?study=NOPE", "CXR90011", False, 0.3),  # unknown study: opens nothing, says so
        ([picker], "?study=NOPE", "CXR90011", False, 0.3),  # ... then the user picks one: a new entry
        ([picker], "?study=CXR90001&tau=0.3", "CXR90011", False, 0.3),
        ([compare], "?study=CXR90011&tau=0.3", "CXR90011", True, 0.3),
        ([picker], "?study=CXR90011&tau=0.3", "CXR90011", False, 0.3),  # same view: no second entry
        ([picker], "?study=CXR90011&tau=0.3", "upload-abc", False, 0.3),  # uploads never go into a URL
        ([picker], "", "CXR90001", False, 0.7),  # "/" already names the first study at the default tau
    ]
    calls = [{"name": "syncView", "triggered": triggered, "args": [search, study, on, tau, DEFAULTS]}
             for triggered, search, study, on, tau in cases]
    n = NO_UPDATE
    assert run_javascript(calls) == [
        [n, n, n, n, n, n],
        [n, "CXR90001", n, n, None, HIDDEN],
        [n, "CXR90011", 0.3, True, None, HIDDEN],
        [n, n, n, n, None, HIDDEN],
        [n, None, 0.7, n, "No study NOPE here; pick one from the list.", SHOWN],  # no tau in it: the default
        ["?study=CXR90011&tau=0.30", n, n, n, None, HIDDEN],
        ["?study=CXR90011&tau=0.30", n, n, n, None, HIDDEN],
        ["?study=CXR90011&tau=0.30&compare=1", n, n, n, None, HIDDEN],
        [n, n, n, n, None, HIDDEN],
        [n, n, n, n, None, HIDDEN],
        [n, n, n, n, None, HIDDEN],
    ]


def test_the_callbacks_are_clientside_and_no_server_callback_listens_to_the_url():
    app = Dash(__name__)
    app.layout = html.Div([url_state.layout(STUDIES, "CXR90001", 0.7), url_state.copy_link_layout(),
                           url_state.panel_label(), url_state.panel_label("-compare")])
    url_state.register_callbacks(app, "url", "study-picker", "compare-mode", "sight-sensitivity",
                                 "sight-sensitivity-compare")
    callbacks = app._callback_list
    assert len(callbacks) == 3 and all(callback.get("clientside_function") for callback in callbacks)
    sync = next(callback for callback in callbacks if callback["clientside_function"]["function_name"] == "syncView")
    assert [item["id"] for item in sync["inputs"]] == ["url", "study-picker", "compare-mode"]
    # The slider is never an Input: moving it must not run a callback (the URL follows on rest, from the script).
    assert not any(item["id"].startswith("sight-sensitivity") for callback in callbacks
                   for item in callback["inputs"])
