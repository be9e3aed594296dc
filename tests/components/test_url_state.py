"""The view in the address bar: parse and write the URL, uploads, a link's τ moved onto the slider's grid, the
clientside callback and its Python mirror."""

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
    assert restore("") == {"study": "CXR90001", "tau": 0.7, "compare": False, "message": None, "note": None}
    assert restore("?study=CXR90011&tau=0.3&compare=1") == {"study": "CXR90011", "tau": 0.3, "compare": True,
                                                            "message": None, "note": None}
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
            "study": study, "tau": threshold_control.snap_sight_sensitivity(tau), "compare": compare, "message": None,
            "note": None}


def test_the_url_agrees_with_the_deep_link_rule_for_bundled_studies(tiny_studies_directory):
    from cxrmodel.data import StudyCollection

    collection = StudyCollection.from_folder(tiny_studies_directory)
    ids = [summary.study_id for summary in collection.summaries()]
    for search in ("?study=CXR3&threshold=0.35", "?study=CXR3&threshold=0.45", "?study=CXR2&threshold=7",
                   "?study=CXR2&threshold=-3"):
        study, tau = presenter.deep_link(search, collection)
        view = url_state.restore_view(search, ids, ids[0], 0.7)
        assert (view["study"], view["tau"]) == (study, tau)


def test_a_link_tau_moved_onto_the_slider_is_said_with_the_sliders_range():
    restore = lambda search: url_state.restore_view(search, STUDIES, "CXR90001", 0.7)  # noqa: E731
    assert restore("?study=CXR90011&tau=5")["note"] == (
        "τ 5 from the link is outside the slider's range (0–1 in steps of 0.02): shown at τ 1.00.")
    assert restore("?study=CXR90011&tau=-0.5")["note"].startswith("τ -0.5 from the link is outside")
    assert restore("?study=CXR90011&tau=0.713")["note"] == (
        "τ 0.713 from the link is between the slider's steps (0–1 in steps of 0.02): shown at τ 0.72.")
    # On the grid (however it is written), no τ, or not a number (the default, as for no τ): nothing to say.
    for search in ("?study=CXR90011&tau=0.70", "?study=CXR90011&tau=.3", "?study=CXR90011&tau=1e-1",
                   "?study=CXR90011&tau=1", "?study=CXR90011", "?study=CXR90011&tau=abc"):
        assert restore(search)["note"] is None, search
    # The range and grid are the slider's, declared once (threshold_control.SLIDER_RANGE).
    narrow = {"min": 0.0, "max": 0.5, "step": 0.02}
    assert "outside the slider's range (0–0.5" in url_state.tau_note("0.7", 0.5, narrow)
    long = restore("?study=CXR90011&tau=0.7000000000000000001")["note"]
    assert long is None or "…" in long  # quoted up to MAX_SHOWN_TAU characters


def test_an_upload_is_named_in_the_address_and_a_reload_says_it_is_gone():
    search = url_state.view_search("upload-abcdefghijklmnop", 0.3, False, upload=True)
    assert search == "?upload=upload-abcdefghijklmnop&tau=0.30"
    # In the page that holds it (Back, Forward): the upload.
    view = url_state.restore_view(search, STUDIES, "CXR90001", 0.7, uploads=["upload-abcdefghijklmnop"])
    assert view["study"] == "upload-abcdefghijklmnop" and view["message"] is None and view["tau"] == 0.3
    # After a reload, or in another browser: no study at all (never the default one), and it says the upload is gone.
    for gone in (search, "?upload", "?upload="):
        view = url_state.restore_view(gone, STUDIES, "CXR90001", 0.7, uploads=["upload-other-1234567890"])
        assert view["study"] is None and view["message"] == url_state.UPLOAD_GONE_MESSAGE, gone
    # A study named beside it is opened as a link to that study.
    assert url_state.restore_view("?study=CXR90011&upload=x", STUDIES, None, 0.7)["study"] == "CXR90011"


def test_panel_labels_say_which_tau_and_what_it_does():
    assert url_state.panel_labels(0.7, 0.3, 0.7) == ("τ 0.70 (default)", "τ 0.30 (more regions)")
    assert url_state.panel_labels(0.5, 0.3, 0.7) == ("τ 0.50 (fewer regions)", "τ 0.30 (more regions)")
    assert url_state.panel_labels(0.3, 0.3, 0.7) == ("τ 0.30 (same τ)", "τ 0.30 (same τ)")
    assert url_state.panel_labels(None, 0.3, 0.7) == ("", "τ 0.30 (same τ)")


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_the_script_and_its_python_mirror_agree():
    uploads = ["upload-abcdefghijklmnop"]
    searches = SEARCHES + ["?study=CXR90011&tau=0.713", "?study=CXR90011&tau=-0.5", "?upload=upload-abcdefghijklmnop",
                           "?upload=upload-gone-1234567890&tau=5", "?upload", "?study=CXR90011&tau=0.7000000000001"]
    views = ([(search, STUDIES, "CXR90001", 0.7, uploads, threshold_control.SLIDER_RANGE) for search in searches]
             + [("?study=CXR90011", [], None, 0.3, [], threshold_control.SLIDER_RANGE),
                ("?study=CXR90011&tau=0.7", STUDIES, None, 0.3, [], {"min": 0.0, "max": 0.5, "step": 0.02})])
    writes = [("CXR90011", 0.7, False, False), ("CXR90011", 0.45, True, False), ("CXR 7*~", 0.0, False, False),
              ("CXR90001", 1.7, True, False), ("<b>", 0.31, False, False), ("upload-abcdefghijklmnop", 0.3, True, True)]
    labels = [(0.7, 0.3, 0.7), (0.5, 0.3, 0.7), (0.3, 0.3, 0.7), (0.3, 0.5, 0.7), (None, 0.3, 0.7), (0.9, None, 0.7)]
    calls = ([{"name": "restoreView", "args": list(args)} for args in views]
             + [{"name": "viewSearch", "args": list(args)} for args in writes]
             + [{"name": "panelLabels", "args": list(args)} for args in labels])
    expected = ([url_state.restore_view(*args) for args in views] + [url_state.view_search(*args) for args in writes]
                + [list(url_state.panel_labels(*args)) for args in labels])
    assert run_javascript(calls) == expected


DEFAULTS = {"studies": STUDIES, "default_study": "CXR90001", "tau": 0.7, "tau_range": threshold_control.SLIDER_RANGE}
UPLOAD_OPTIONS = [{"label": "Uploaded: film.png", "value": "upload-abcdefghijklmnop"},
                  *({"label": study, "value": study} for study in STUDIES)]
HIDDEN, SHOWN = url_state.HIDDEN, url_state.SHOWN


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_sync_view_restores_from_the_url_and_writes_user_changes_as_history_entries():
    url, picker, compare = "url.search", "study-picker.value", "compare-mode.value"
    upload = "upload-abcdefghijklmnop"
    # (triggered, search, study, compare, tau, options) -> [url.search, picker, slider, compare, message, its style,
    # note, its style]
    cases = [
        ([], None, None, False, 0.7, None),  # dcc.Location has not read the address yet: nothing
        ([], "", None, False, 0.7, None),  # page load at "/": the first study, default tau
        ([url], "?study=CXR90011&tau=0.3&compare=1", "CXR90001", False, 0.7, None),  # Back to a shared view
        ([url], "?study=CXR90011&tau=0.30", "CXR90011", False, 0.3, None),  # the view already matches: nothing changes
        ([url], "?study=NOPE", "CXR90011", False, 0.3, None),  # unknown study: opens nothing, says so
        ([picker], "?study=NOPE", "CXR90011", False, 0.3, None),  # ... then the user picks one: a new entry
        ([picker], "?study=CXR90001&tau=0.3", "CXR90011", False, 0.3, None),
        ([compare], "?study=CXR90011&tau=0.3", "CXR90011", True, 0.3, None),
        ([picker], "?study=CXR90011&tau=0.3", "CXR90011", False, 0.3, None),  # same view: no second entry
        ([picker], "?study=CXR90011&tau=0.3", upload, False, 0.3, UPLOAD_OPTIONS),  # an upload: named as one
        ([picker], "?study=CXR90011&tau=0.3", "upload-unknown-12345678", False, 0.3, UPLOAD_OPTIONS),  # not this page's
        ([picker], "", "CXR90001", False, 0.7, None),  # "/" already names the first study at the default tau
        ([url], f"?upload={upload}&tau=0.30", "CXR90011", False, 0.3, UPLOAD_OPTIONS),  # Back to the upload
        ([], f"?upload={upload}&tau=0.30", None, False, 0.7, None),  # a reload: the upload is gone, nothing opens
        ([], "?study=CXR90011&tau=5", None, False, 0.7, None),  # a τ off the slider: opened at 1.00 and said once
    ]
    calls = [{"name": "syncView", "triggered": triggered, "args": [search, study, on, tau, DEFAULTS, options]}
             for triggered, search, study, on, tau, options in cases]
    n = NO_UPDATE
    assert run_javascript(calls) == [
        [n, n, n, n, n, n, n, n],
        [n, "CXR90001", n, n, None, HIDDEN, None, HIDDEN],
        [n, "CXR90011", 0.3, True, None, HIDDEN, None, HIDDEN],
        [n, n, n, n, None, HIDDEN, None, HIDDEN],
        [n, None, 0.7, n, "No study NOPE here; pick one from the list.", SHOWN, None, HIDDEN],  # default tau
        ["?study=CXR90011&tau=0.30", n, n, n, None, HIDDEN, None, HIDDEN],
        ["?study=CXR90011&tau=0.30", n, n, n, None, HIDDEN, None, HIDDEN],
        ["?study=CXR90011&tau=0.30&compare=1", n, n, n, None, HIDDEN, None, HIDDEN],
        [n, n, n, n, None, HIDDEN, None, HIDDEN],
        [f"?upload={upload}&tau=0.30", n, n, n, None, HIDDEN, None, HIDDEN],
        [n, n, n, n, None, HIDDEN, None, HIDDEN],
        [n, n, n, n, None, HIDDEN, None, HIDDEN],
        [n, upload, n, n, None, HIDDEN, None, HIDDEN],
        [n, n, 0.3, n, url_state.UPLOAD_GONE_MESSAGE, SHOWN, None, HIDDEN],
        [n, "CXR90011", 1.0, n, None, HIDDEN,
         "τ 5 from the link is outside the slider's range (0–1 in steps of 0.02): shown at τ 1.00.", SHOWN],
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
