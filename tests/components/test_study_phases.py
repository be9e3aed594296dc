"""Answer first: a study is drawn as each phase of its explanation lands (the gate decision, the circles, the
evidence at the reader's tau, the rest), and each phase reaches the page only for the study still picked."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
from dash import no_update
from PIL import Image

from components import evidence_view, explanation_progress, study_loading, study_opening
from components.distribution_gate import WITHHELD_HEADING
from components.presenter import StudyResolver
from components.server.uploads import UploadStore, new_session_id
from cxrmodel.data import StudyCollection
from cxrmodel.explain import ExplanationCache, ExplanationSettings, StudyExplainer
from cxrmodel.imaging import decode_image
from cxrmodel.inputs import UploadedStudy
from cxrmodel.modeling import load_bundle
from cxrmodel.worker import protocol
from tests.components.test_study_opening import run_scripts, shutil

ROOT = Path(__file__).resolve().parents[2]
DEMO_MODEL = ROOT / "models" / "demo"
DEMO_STUDIES = ROOT / "studies" / "demo"
TAU = 0.4


def _text(value) -> str:
    return json.dumps(value.to_plotly_json() if hasattr(value, "to_plotly_json") else value, default=str,
                      ensure_ascii=False)


@pytest.fixture(scope="module")
def world(tiny_bundle_directory, tiny_studies_directory, tmp_path_factory):
    root = tmp_path_factory.mktemp("phases")
    explainer = StudyExplainer(load_bundle(tiny_bundle_directory), ExplanationCache(root / "explanations"))
    resolver = StudyResolver(StudyCollection.from_folder(tiny_studies_directory), UploadStore(root / "uploads"))
    return explainer, resolver


def _open(world, trigger, study_id, settings, **keywords):
    explainer, resolver = world
    return study_opening.open_study(trigger, study_id, {"study": study_id}, None, settings, [], explainer, resolver,
                                    **keywords)


def test_the_circles_are_drawn_before_the_evidence_and_the_evidence_fills_in_as_it_lands(world):
    explainer, resolver = world
    image_bytes, report = resolver("CXR4", None)
    settings = ExplanationSettings(sight_sensitivity=TAU)
    seen: dict[str, object] = {}
    scopes: list[str] = []
    fractions: list[float] = []

    def attribute(scope, progress):
        scopes.append(scope)
        explainer.attribute(image_bytes, report, settings, evidence_scope=scope, progress=progress)

    def phase_done(phase):
        if phase == explanation_progress.PHASE_CIRCLES:
            seen["circles"] = _open(world, study_opening.REFRESH, "CXR4", settings)
            seen["picked again"] = _open(world, study_opening.PICKED, "CXR4", settings)
        else:
            seen["evidence"] = study_opening.evidence_outputs(
                {"study": "CXR4", "phase": phase}, "CXR4", {"study": "CXR4", "drawn": True}, None, settings,
                explainer, resolver)

    explanation_progress.explain_in_phases(attribute, lambda fraction, _message: fractions.append(fraction),
                                           phase_done)
    assert scopes == ["none", "current", "all"]
    assert fractions == sorted(fractions) and fractions[-1] == pytest.approx(1.0)

    # Phase (b): the circles and P are drawn from the cache; the evidence line and the verdict say it is computing.
    circles = seen["circles"]
    assert circles.shown_study == {"study": "CXR4", "drawn": True} and circles.request is no_update
    sweep = circles.panel.circle_sweep
    assert sweep["circles"] and sweep["evidence"] is None
    assert sweep[evidence_view.MISSING_TEXT_KEY] == evidence_view.COMPUTING_TEXT
    card = _text(circles.panel.prediction_children)
    assert "the evidence is being checked" in card and evidence_view.COMPUTING_TEXT in card
    # A pick of the study meanwhile (its job cancelled after the circles) draws it and asks for the evidence only.
    again = seen["picked again"]
    assert again.panel.circle_sweep["circles"] == sweep["circles"]
    assert again.request["study"] == "CXR4" and again.request["sight_sensitivity"] == TAU

    # Phase (c): the evidence at the reader's tau, patched into the sweep without drawing the film again.
    patch, card, strongest = seen["evidence"]
    operations = {operation["location"][0]: operation["params"]["value"]
                  for operation in patch.to_plotly_json()["operations"]}
    rows = operations["evidence"]["regions"]
    thresholds = [round(value, 2) for value in circles.panel.circle_sweep["thresholds"]]
    assert rows[thresholds.index(TAU)] is not None
    assert sum(row is not None for row in rows) == 1  # only tau's row so far: the rest are still computing
    assert operations[evidence_view.MISSING_TEXT_KEY] == evidence_view.COMPUTING_TEXT
    assert "the evidence is being checked" not in _text(card)
    assert strongest is not None

    # Phase (d): every slider threshold; nothing is said to be computing any more.
    patch, card, _strongest = study_opening.evidence_outputs(
        {"study": "CXR4", "phase": "complete"}, "CXR4", {"study": "CXR4", "drawn": True}, None, settings, explainer,
        resolver)
    operations = {operation["location"][0]: operation["params"]["value"]
                  for operation in patch.to_plotly_json()["operations"]}
    assert all(row is not None for row in operations["evidence"]["regions"])
    assert operations[evidence_view.MISSING_TEXT_KEY] == evidence_view.NOT_COMPUTED_TEXT
    assert explainer.is_complete(image_bytes, report, ExplanationSettings())
    # A complete study picked again starts no job.
    assert _open(world, study_opening.PICKED, "CXR4", settings).request is no_update


def test_evidence_for_a_study_no_longer_picked_or_drawn_changes_nothing(world):
    explainer, resolver = world
    for refresh, picked, shown in (({"study": "CXR4"}, "CXR2", {"study": "CXR4", "drawn": True}),
                                   ({"study": "CXR4"}, "CXR4", {"study": "CXR2", "drawn": True}),
                                   (None, "CXR4", {"study": "CXR4", "drawn": True})):
        assert study_opening.evidence_outputs(refresh, picked, shown, None, ExplanationSettings(), explainer,
                                              resolver) == (no_update,) * 3


def test_a_job_without_evidence_stops_after_the_circles():
    scopes, phases = [], []
    explanation_progress.explain_in_phases(lambda scope, _progress: scopes.append(scope), lambda *_: None,
                                           phases.append, with_evidence=False)
    assert scopes == ["none"] and phases == [explanation_progress.PHASE_CIRCLES]


@pytest.fixture(scope="module")
def gated(tmp_path_factory):
    """An upside-down demo film, uploaded in one session, to the demo bundle (no model loaded: the web process)."""
    root = tmp_path_factory.mktemp("gated")
    pixels = decode_image((DEMO_STUDIES / "NLMCXR_png" / "CXR90003_IM-90003-1001.png").read_bytes()).pixels
    film = root / "upside-down.png"
    Image.fromarray(np.round(pixels[::-1] * 255).astype(np.uint8)).save(film)
    explainer = StudyExplainer(load_bundle(DEMO_MODEL, load_model=False), ExplanationCache(root / "explanations"))
    uploads = UploadStore(root / "uploads")
    session = new_session_id()
    upload_id = uploads.add(session, UploadedStudy(film.read_bytes(), "FINDINGS: Effusion.", film.name, time.time()))
    resolver = StudyResolver(StudyCollection.from_folder(DEMO_STUDIES), uploads)
    return explainer, resolver, session, upload_id


def test_a_film_the_model_cannot_judge_says_so_at_once_before_any_gradient(gated):
    explainer, resolver, session, upload_id = gated

    def open_(trigger, study_id, **keywords):
        return study_opening.open_study(trigger, study_id, None, session, ExplanationSettings(), [], explainer,
                                        resolver, **keywords)

    outputs = open_(study_opening.PICKED, upload_id)  # the bundle's model is not even loaded here: no gradient
    # Explained in the background all the same (Show anyway and the exports need it); nothing of it is drawn yet.
    assert outputs.request["study"] == upload_id
    card = _text(outputs.panel.prediction_children)
    assert WITHHELD_HEADING in card and "Show anyway" in card and "explanation-verdict" in card
    figure = outputs.panel.xray_figure.to_plotly_json()
    assert [image["name"] for image in figure["layout"]["images"]] == ["radiograph"]  # the film, no overlay
    assert not figure["layout"].get("shapes") and outputs.panel.circle_sweep is None
    assert outputs.shown_study == {"study": upload_id, "drawn": False}
    assert outputs.panel.report_text.startswith("FINDINGS")
    # Show anyway before the job is done: the placeholder (the job draws it); a cancelled job is started again.
    shown = open_(study_opening.CONTROLS, upload_id, shown_anyway=True)
    assert shown.request["study"] == upload_id and "Explaining" in _text(shown.panel.xray_figure)
    assert open_(study_opening.CONTROLS, upload_id, shown_anyway=True, job_may_be_running=True).request is no_update
    # A film the model can judge is explained as before: the placeholder and a job.
    judged = open_(study_opening.PICKED, "CXR90003")
    assert judged.request["study"] == "CXR90003" and "Explaining CXR90003" in _text(judged.panel.xray_figure)


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_each_phase_reaches_the_page_once_and_only_for_the_picked_study():
    circles = {"study": "CXR2", "request": 1.0, "phase": explanation_progress.PHASE_CIRCLES}
    evidence = {**circles, "phase": explanation_progress.PHASE_EVIDENCE}
    complete = {**circles, "phase": explanation_progress.PHASE_COMPLETE, "finished": 9.0}
    drawn, placeholder = {"study": "CXR2", "drawn": True}, {"study": "CXR2", "drawn": False}
    calls = [{"name": "explanationReady", "args": args} for args in (
        [circles, "CXR2", placeholder],      # the circles: the study callback draws them
        [circles, "CXR2", drawn],            # the same phase handed over again: dropped
        [evidence, "CXR1", drawn],           # another study picked: dropped
        [evidence, "CXR2", drawn],           # the evidence of the drawn study: the evidence callback
        [complete, "CXR2", placeholder],     # a study not drawn yet (its circles' poll was missed): drawn whole
    )]
    report = run_scripts(["study_loading.js"], calls)
    assert report["setProps"] == [[study_loading.STUDY_REFRESH_ID, {"data": circles}],
                                  [study_loading.EVIDENCE_REFRESH_ID, {"data": evidence}],
                                  [study_loading.STUDY_REFRESH_ID, {"data": complete}]]
    script = (ROOT / "assets" / "study_loading.js").read_text(encoding="utf-8")
    assert f'const EVIDENCE_REFRESH_ID = "{study_loading.EVIDENCE_REFRESH_ID}";' in script
    assert f'const CIRCLES_PHASE = "{explanation_progress.PHASE_CIRCLES}";' in script


def test_the_worker_protocol_carries_the_evidence_scope_and_tau():
    from cxrmodel.explain.evidence import EVIDENCE_SCOPES

    assert protocol.EVIDENCE_SCOPES == EVIDENCE_SCOPES
    asked = protocol.decode_request(protocol.encode_request(b"film", "report", "r1", evidence="current",
                                                            sight_sensitivity=0.35))
    assert (asked.evidence, asked.sight_sensitivity) == ("current", 0.35)
    default = protocol.decode_request(protocol.encode_request(b"film", "report"))
    assert (default.evidence, default.sight_sensitivity) == ("all", None)
    for bad in ({"evidence": "some"}, {"sight_sensitivity": 1.5}, {"sight_sensitivity": "0.3"},
                {"sight_sensitivity": True}):
        body = json.loads(protocol.encode_request(b"film", "report"))
        with pytest.raises(protocol.WorkerInputError):
            protocol.decode_request(json.dumps({**body, **bad}).encode())


def test_a_job_that_the_worker_took_for_cancelled_asks_once_more():
    from components.server.model_worker import ModelWorkerRejected, explain_via_worker
    from cxrmodel.worker.protocol import ABANDONED_MESSAGE, GAVE_WAY_MESSAGE

    class StallingWorker:
        url = "http://127.0.0.1:0"

        def __init__(self, rejections: int) -> None:
            self.rejections, self.asked = rejections, []

        def explain(self, image_bytes, report, request_id, *, evidence=None, sight_sensitivity=None):
            self.asked.append((evidence, sight_sensitivity))
            if len(self.asked) <= self.rejections:
                raise ModelWorkerRejected(ABANDONED_MESSAGE, 400)
            return {"cached": True}

        def progress(self, request_id):
            return None

    once = StallingWorker(1)
    assert explain_via_worker(once, b"film", "report", lambda *_: None, evidence="current",
                              sight_sensitivity=0.4) == {"cached": True}
    assert once.asked == [("current", 0.4)] * 2
    twice = StallingWorker(2)  # a second "abandoned" is the answer: the job says it failed
    with pytest.raises(ModelWorkerRejected, match="abandoned"):
        explain_via_worker(twice, b"film", "report", lambda *_: None, evidence="all")

    class GivingWay(StallingWorker):
        def explain(self, image_bytes, report, request_id, *, evidence=None, sight_sensitivity=None):
            self.asked.append(evidence)
            if len(self.asked) <= self.rejections:
                raise ModelWorkerRejected(GAVE_WAY_MESSAGE, 400)
            return {"cached": True}

    patient = GivingWay(5)  # the last phase gave way to other studies five times: asked again each time
    assert explain_via_worker(patient, b"film", "report", lambda *_: None, evidence="all") == {"cached": True}
    assert patient.asked == ["all"] * 6
