"""Out of distribution means out of the way (issue #17): numbers and circles withheld behind "Show anyway", a
non-frontal view refused, uploads to a synthetic model warned, a lateral upload refused on Analyze."""

from __future__ import annotations

import base64
import io
import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import pytest
from dash import no_update
from PIL import Image

from components import distribution_gate, presenter, xray_view
from components.server.uploads import UploadStore, new_session_id
from components.upload_panel import analyze_upload, analyzed_message, oversize_message, size_limit_text
from cxrmodel.data import StudyCollection
from cxrmodel.modeling import load_bundle

ASSETS = Path(__file__).resolve().parents[2] / "assets"
REASON = "does not look like the films this model was trained on (similarity 0.07, threshold 0.88)"


def document(in_distribution=True, refuse=False, view=None, synthetic=True, top_view=None) -> dict:
    distribution = {"in_distribution": in_distribution, "score": 0.5, "reasons": [] if in_distribution else [REASON],
                    "refuse": refuse}
    if view is not None:
        distribution["view"] = view
    result = {"probability": 0.91, "label": "abnormal", "modality_share": {"image": 0.6, "text": 0.4},
              "completeness": {"relative_error": 0.004}, "distribution": distribution,
              "model": {"name": "demo", "fingerprint": "f", "synthetic": synthetic}, "circles": []}
    if top_view is not None:
        result["view"] = top_view
    return result


LATERAL = {"frontal": False, "score": 0.15, "reason": "This looks like a lateral view; upload the frontal film."}


def text_of(children) -> str:
    return json.dumps([child.to_plotly_json() if hasattr(child, "to_plotly_json") else child for child in children],
                      default=str)


def test_the_decision_follows_the_distribution_and_view_checks():
    assert distribution_gate.decide(document()) == distribution_gate.SHOW
    assert distribution_gate.decide(document(in_distribution=None)) == distribution_gate.SHOW  # not checkable
    assert distribution_gate.decide(document(in_distribution=False)) == distribution_gate.WITHHOLD
    refused = document(in_distribution=False, refuse=True, view=LATERAL)
    assert distribution_gate.decide(refused) == distribution_gate.REFUSE
    assert distribution_gate.refusal(refused) == LATERAL["reason"]
    # The hook for a view result at the top level of the document (when explanation_document gains one).
    assert distribution_gate.decide(document(top_view=LATERAL)) == distribution_gate.REFUSE
    assert distribution_gate.decide(document(top_view={"frontal": True})) == distribution_gate.SHOW
    # refuse without a view message: the first reason, or a default.
    assert distribution_gate.refusal(document(in_distribution=False, refuse=True)) == REASON
    assert distribution_gate.refusal({"distribution": {"refuse": True}}) == distribution_gate.DEFAULT_REFUSAL
    assert distribution_gate.shown_probability(document()) == 0.91
    assert distribution_gate.shown_probability(document(in_distribution=False)) is None


def _panel(sweep: dict | None = None) -> presenter.StudyPanel:
    circles = [{"x": 10.0, "y": 12.0, "r": 3.0, "points": 5, "mass": 0.4}]
    figure = xray_view.xray_figure("data:image/png;base64,iVBORw0KGgo=", 40, 40, circles)
    children = presenter.prediction_children(document(), "abnormal")
    return presenter.StudyPanel(xray_figure=figure, circle_sweep=sweep, words_figure=go.Figure(), strongest_words=[],
                                prediction_children=children, report_text="r", study_error=None,
                                sweep_chart=go.Figure(), picker_options=no_update)


def test_a_withheld_study_shows_the_notice_and_show_anyway_and_none_of_its_numbers():
    sweep = {"thresholds": [0.7], "circles": [[{"x": 1, "y": 1, "r": 1, "points": 2, "mass": 0.1}]]}
    gated = distribution_gate.gate_panel(_panel(sweep), document(in_distribution=False), "CXR7", False)
    assert gated.circle_sweep is None and list(gated.xray_figure.layout.shapes) == []
    marker = next(trace for trace in gated.xray_figure.data if trace.name == xray_view.CIRCLE_TRACE_NAME)
    assert list(marker.x) == []
    (notice,) = gated.prediction_children
    text = text_of([notice])
    assert "cannot judge this image" in text and REASON in text and "Show anyway" in text and "are hidden" in text
    assert notice.id == {"type": distribution_gate.WITHHELD_TYPE, "study": "CXR7"}
    # The prediction is not in the page at all (not merely hidden): no P, no verdict.
    assert "0.910" not in text and "model: abnormal" not in text
    # The study as drawn is untouched for an image like the training films.
    plain = _panel(sweep)
    assert distribution_gate.gate_panel(plain, document(), "CXR7", False) is plain


def test_after_show_anyway_the_prediction_is_drawn_under_a_notice_without_hidden_wording():
    withheld = document(in_distribution=False)
    decided = distribution_gate.disclosure(withheld, shown_anyway=True)
    shown = distribution_gate.gate_panel(_panel(), withheld, "CXR7", False, decided)
    notice, *prediction = shown.prediction_children
    text = text_of([notice])
    assert "Shown anyway" in text and "not a judgement" in text and REASON in text
    assert "hidden" not in text and "Show anyway" not in text.replace("Shown anyway", "")  # no button any more
    assert "0.910" in text_of(prediction) and "model: abnormal" in text_of(prediction)


def test_the_notice_says_which_trust_profile_judged_the_film():
    withheld = document(in_distribution=False)
    withheld["distribution"]["profile"] = {"description": "fitted on 35 training films of runs/bundle"}
    text = text_of(distribution_gate.gate_panel(_panel(), withheld, "CXR7", False).prediction_children)
    assert "Judged by: fitted on 35 training films of runs/bundle" in text


def test_a_film_the_profile_accepts_says_which_profile_checked_it_and_an_unchecked_film_says_why():
    accepted = document()
    accepted["distribution"]["profile"] = {"description": "this bundle's own trust profile, fitted on 700 films",
                                           "source": "bundle"}
    text = text_of(distribution_gate.gate_panel(_panel(), accepted, "CXR7", False).prediction_children)
    assert "Film checked against: this bundle's own trust profile, fitted on 700 films" in text
    assert "0.910" in text
    unchecked = document()
    unchecked["distribution"].update(in_distribution=None, kind="no_profile",
                                     reasons=["this model's trust profile could not be fitted (only 20 films)"])
    text = text_of(distribution_gate.gate_panel(_panel(), unchecked, "CXR7", False).prediction_children)
    assert "Film not checked: this model's trust profile could not be fitted (only 20 films)" in text


def test_the_shown_anyway_store_counts_only_for_its_own_study():
    assert distribution_gate.shown_anyway_for({"study": "CXR7"}, "CXR7")
    assert not distribution_gate.shown_anyway_for({"study": "CXR8"}, "CXR7")
    assert not distribution_gate.shown_anyway_for(None, "CXR7")
    assert not distribution_gate.shown_anyway_for({"study": None}, None)
    assert not distribution_gate.shown_anyway_for("CXR7", "CXR7")


def test_a_refused_study_shows_the_refusal_and_no_numbers():
    refused = document(in_distribution=False, refuse=True, view=LATERAL)
    for shown_anyway in (False, True):  # a lateral cannot be shown anyway
        decided = distribution_gate.disclosure(refused, shown_anyway=shown_anyway)
        gated = distribution_gate.gate_panel(_panel(), refused, "CXR7", False, decided)
        text = text_of(gated.prediction_children)
        assert LATERAL["reason"] in text and "0.910" not in text and "Show anyway" not in text
        assert gated.circle_sweep is None and gated.strongest_words is None


def test_an_upload_to_a_synthetic_model_is_warned_whatever_the_verdict():
    for verdict in (document(), document(in_distribution=False)):
        text = text_of(distribution_gate.gate_panel(_panel(), verdict, "upload-x", True).prediction_children)
        assert "never seen a real radiograph" in text
    assert "never seen" not in text_of(distribution_gate.gate_panel(_panel(), document(), "CXR1", False)
                                       .prediction_children)
    real_model = document(synthetic=False)
    assert text_of(distribution_gate.gate_panel(_panel(), real_model, "upload-x", True).prediction_children) \
        == text_of(_panel().prediction_children)


def _png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG")
    return buffer.getvalue()


def _data_url(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode()


def test_analyze_refuses_what_the_screen_refuses_and_stores_nothing(tmp_path):
    store = UploadStore(tmp_path)
    session = new_session_id()
    film = _png(np.full((90, 70), 128, np.uint8))
    options, value, status = analyze_upload(_data_url(film), "side.png", "Lateral.", session, [], store,
                                            screen=lambda image, report: "This looks like a lateral view.")
    assert options is no_update and value is no_update and "This looks like a lateral view." in text_of([status])
    options, value, status = analyze_upload(_data_url(film), "front.png", "Clear.", session, [], store,
                                            screen=lambda image, report: None)
    assert status is None and value.startswith("upload-")
    assert "Uploaded: front.png" in analyzed_message("front.png") and "cleared" in analyzed_message("front.png")


def test_the_upload_screen_refuses_a_lateral_film_and_passes_a_frontal_one(tiny_bundle_directory,
                                                                           tiny_studies_directory):
    try:
        from cxrmodel.data.synthetic.lateral import lateral_chest
    except ImportError:
        lateral_chest = pytest.importorskip("cxrmodel.imaging.lateral_model").lateral_chest
    screen = distribution_gate.upload_screen(load_bundle(tiny_bundle_directory, load_model=False))
    lateral = _png((lateral_chest(480, 512, seed=0) * 255).round().astype(np.uint8))
    message = screen(lateral, "Lateral view.")
    assert message and "lateral view" in message
    collection = StudyCollection.from_folder(tiny_studies_directory)
    frontal = collection.image_path("CXR2").read_bytes()
    assert screen(frontal, "Clear.") is None


def test_the_oversize_message_names_size_limit_and_what_to_do():
    message = oversize_message("big.dcm", 25 * 2**20, size_limit_text(20 * 2**20))
    assert "big.dcm" in message and "25.0 MB" in message and "20 MB limit" in message
    assert "cleared" in message and "smaller file" in message
    assert size_limit_text(int(0.5 * 2**20)) == "0.50"


NODE_RUNNER = """
const fs = require("fs");
const vm = require("vm");
const sandbox = {window: {dash_clientside: {no_update: {"__no_update__": true}}}};
vm.createContext(sandbox);
for (const script of JSON.parse(process.env.CXR_SCRIPTS)) {
  vm.runInContext(fs.readFileSync(script, "utf8"), sandbox);
}
const cxr = sandbox.window.dash_clientside.cxr;
const calls = JSON.parse(fs.readFileSync(0, "utf8"));
process.stdout.write(JSON.stringify(calls.map((call) => cxr[call.name].apply(null, call.args))));
"""


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_the_scripts_agree_with_their_python_mirrors():
    sizes = [(("big.dcm", 25 * 2**20, "20")), ("film — 1.png", 20 * 2**20 + 1, "20"), ("x.png", 123456, "0.10")]
    ids = [{"type": distribution_gate.SHOW_ANYWAY_TYPE, "study": "upload-1"}]
    calls = ([{"name": "oversizeMessage", "args": list(args)} for args in sizes]
             + [{"name": "showAnyway", "args": [[None], ids]},
                {"name": "showAnyway", "args": [[1], ids]},
                {"name": "showAnyway", "args": [[], []]}])
    scripts = json.dumps([str(ASSETS / "upload_guard.js"), str(ASSETS / "distribution_gate.js")])
    result = subprocess.run(["node", "-e", NODE_RUNNER], input=json.dumps(calls), capture_output=True, text=True,
                            timeout=60, check=True, env={**os.environ, "CXR_SCRIPTS": scripts})
    results = json.loads(result.stdout)
    assert results[: len(sizes)] == [oversize_message(*args) for args in sizes]
    no = {"__no_update__": True}
    # The store names the pressed button's own study, and nothing before a press.
    assert results[len(sizes):] == [no, {"study": "upload-1"}, no]
