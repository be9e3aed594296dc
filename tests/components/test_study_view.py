"""The study callback: cached studies are drawn at once, uncached ones wait for the job; sessions never mix."""

from __future__ import annotations

import base64
import dataclasses
import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from dash import no_update
from PIL import Image

from components import distribution_gate, explanation_progress, export_tools, presenter, xray_view
from components.presenter import StudyPanel
from components.server.uploads import UploadStore, new_session_id
from components.study_browser import PROBABILITY_SEPARATOR, with_probability
from cxrmodel.data import StudyCollection
from cxrmodel.evaluation import lesion_masks_for_study
from cxrmodel.explain import ExplanationCache, ExplanationSettings, StudyExplainer
from cxrmodel.inputs import validate_upload
from cxrmodel.modeling import load_bundle


@pytest.fixture(scope="module")
def world(tiny_bundle_directory, tiny_studies_directory, tmp_path_factory):
    root = tmp_path_factory.mktemp("view")
    explainer = StudyExplainer(load_bundle(tiny_bundle_directory), ExplanationCache(root / "explanations"))
    collection = StudyCollection.from_folder(tiny_studies_directory)
    resolver = presenter.StudyResolver(collection, UploadStore(root / "uploads"))
    return explainer, resolver


def _outputs(world, study_id, session_id=None, triggered_by_job=False, options=None):
    explainer, resolver = world
    return presenter.drawn_study(study_id, session_id, triggered_by_job, ExplanationSettings(), options,
                                 explainer, resolver).panel


def decode_png(data_uri: str) -> np.ndarray:
    assert data_uri.startswith("data:image/png;base64,")
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(data_uri.split(",", 1)[1]))))


def _png(seed: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(seed).integers(0, 255, (96, 80), dtype=np.uint8)).save(buffer, "PNG")
    return buffer.getvalue()


def test_uncached_study_shows_a_placeholder_then_the_job_result_is_drawn(world):
    explainer, resolver = world
    before = _outputs(world, "CXR4")
    assert isinstance(before, StudyPanel) and len(before.as_tuple()) == len(StudyPanel.outputs())
    assert before.circle_sweep is None  # no sweep yet: the slider has nothing to draw
    assert "Explaining CXR4" in json.dumps(before.xray_figure.to_plotly_json(), default=str)
    # The background job's body computes into the cache ...
    image_bytes, report = resolver("CXR4", None)
    explainer.attribute(image_bytes, report, ExplanationSettings())
    # ... after which the same callback draws it, and the study list learns its probability.
    options = [{"label": "CXR4 — abnormal", "value": "CXR4"}, {"label": "CXR5 — normal", "value": "CXR5"}]
    after = _outputs(world, "CXR4", triggered_by_job=True, options=options)
    figure, sweep, chart, new_options = after.xray_figure, after.circle_sweep, after.sweep_chart, after.picker_options
    error, report_text = after.study_error, after.report_text
    assert error is None and report_text == report
    assert figure.layout.images[0].source.startswith("data:image/png;base64,")
    assert len(sweep["circles"]) == 51 and "positive_mass" in sweep
    assert [trace.name for trace in chart.data][:1] == ["circles"]
    assert PROBABILITY_SEPARATOR in new_options[0]["label"] and new_options[1] == options[1]
    # A synthetic study with a finding carries its lesion outline (hidden until the "truth" toggle shows it).
    outlines = [image for image in figure.layout.images if image.name == xray_view.TRUTH_IMAGE_NAME]
    assert len(outlines) == 1 and outlines[0].visible is False
    (mask,) = lesion_masks_for_study(resolver.collection.root, "CXR4")
    opaque = decode_png(outlines[0].source)[..., 3] > 0
    assert opaque.any() and not (opaque & ~mask).any()


def test_a_normal_study_has_no_lesion_outline(world):
    explainer, resolver = world
    image_bytes, report = resolver("CXR1", None)
    explainer.attribute(image_bytes, report, ExplanationSettings())
    figure = _outputs(world, "CXR1", triggered_by_job=True).xray_figure
    assert [image.name for image in figure.layout.images] == [xray_view.RADIOGRAPH_IMAGE_NAME,
                                                              xray_view.OVERLAY_IMAGE_NAME]


def test_a_job_that_left_nothing_in_the_cache_is_reported(world):
    outputs = _outputs(world, "CXR6", triggered_by_job=True)
    assert "not in the cache" in json.dumps(outputs.study_error.to_plotly_json(), default=str)


def test_an_upload_opens_only_in_its_own_session(world):
    _, resolver = world
    alice, bob = new_session_id(), new_session_id()
    upload_id = resolver.uploads.add(alice, validate_upload(_png(1), "Large right effusion."))
    assert resolver.source(upload_id, alice).report_text == "Large right effusion."
    assert resolver.source(upload_id, alice).truth_label is None
    assert resolver.source(upload_id, bob) is None
    refused = _outputs(world, upload_id, session_id=bob)
    assert refused.circle_sweep is None
    assert "another session" in json.dumps(refused.study_error.to_plotly_json(), default=str)


def test_unknown_or_empty_study_draws_nothing(world):
    assert _outputs(world, None).circle_sweep is None and _outputs(world, None).study_error is None
    assert "not in this collection" in json.dumps(_outputs(world, "CXR999").study_error.to_plotly_json(),
                                                  default=str)


def test_clustering_controls_fall_back_to_defaults_on_nonsense():
    assert presenter.explanation_settings(None, None) == ExplanationSettings()
    assert presenter.explanation_settings(-3, 0) == ExplanationSettings()
    assert presenter.explanation_settings(4.5, 3) == ExplanationSettings(link_distance=4.5, min_points=3)
    assert presenter.explanation_settings(None, None, None, -1) == ExplanationSettings()
    assert presenter.explanation_settings(None, None, None, 99) == ExplanationSettings()
    assert presenter.explanation_settings(None, None, None, 0) == ExplanationSettings(attribution_smoothing=0.0)


def test_smoothing_control_redraws_the_circles_from_the_cached_attribution(world):
    explainer, resolver = world
    image_bytes, report = resolver("CXR2", None)
    explainer.attribute(image_bytes, report, ExplanationSettings())
    sweeps = {}
    for sigma in (0, 3):
        outputs = presenter.drawn_study(
            "CXR2", None, False, presenter.explanation_settings(None, 2, None, sigma), None, explainer, resolver).panel
        sweeps[sigma] = outputs.circle_sweep
    # The blur redistributes the map, so the circles change; its positive part can only shrink (positive and
    # negative neighbours cancel), never grow, since the blur keeps the total.
    assert sweeps[0]["circles"] != sweeps[3]["circles"]
    assert sweeps[3]["positive_mass"] <= sweeps[0]["positive_mass"] + 1e-9
    # The export of the same view carries the smoothing it was drawn with.
    document = export_tools.export_document("CXR2", 0.5, None, None, None, explainer, resolver,
                                            attribution_smoothing=3)[0]
    assert document["settings"]["attribution_smoothing"] == 3.0


def test_bigger_link_distance_merges_circles(world):
    explainer, resolver = world
    image_bytes, report = resolver("CXR2", None)
    explainer.attribute(image_bytes, report, ExplanationSettings())
    counts = []
    for distance in (1.0, 30.0):
        outputs = presenter.drawn_study("CXR2", None, False, presenter.explanation_settings(distance, 1),
                                        None, explainer, resolver).panel
        counts.append(sum(len(circles) for circles in outputs.circle_sweep["circles"]))
    assert counts[1] < counts[0]


def test_probability_is_added_once_to_the_study_label():
    options = [{"label": "CXR1 — normal", "value": "CXR1"}]
    once = with_probability(options, "CXR1", 0.123)
    twice = with_probability(once, "CXR1", 0.9)
    assert once[0]["label"] == f"CXR1 — normal{PROBABILITY_SEPARATOR}0.12"
    assert twice[0]["label"] == f"CXR1 — normal{PROBABILITY_SEPARATOR}0.90"
    assert with_probability(None, "CXR1", 0.5) is None


def test_background_job_body_reports_progress_and_skips_cached_studies():
    reports = []
    computed = []

    def resolve(study_id, session_id):
        return (b"image", "report") if study_id == "S1" else None

    def compute(image_bytes, report, progress, phase_done, sight_sensitivity):
        computed.append((image_bytes, sight_sensitivity))
        progress(0.5, "32 steps")
        phase_done(explanation_progress.PHASE_CIRCLES)
        progress(1.0, "64 steps")

    ready, status = explanation_progress.run_explanation(reports.append, "S1", "s", resolve, lambda *a: False, compute,
                                                         request_at=7.0, sight_sensitivity=0.4)
    assert ready["study"] == "S1" and ready["phase"] == explanation_progress.PHASE_COMPLETE and status is None
    assert computed == [(b"image", 0.4)]
    assert [value for value, _, _, _ in reports] == sorted(value for value, _, _, _ in reports)
    assert reports[-1][0] == 95 and reports[-1][1] == "64 steps"
    assert all(style == explanation_progress.SHOWN for _, _, style, _ in reports)
    # Every report after the circles landed carries that phase (the page gets only the last report of a poll).
    phases = [phase for _, _, _, phase in reports]
    assert phases[:2] == [None, None]
    assert phases[2:] == [{"study": "S1", "request": 7.0, "phase": explanation_progress.PHASE_CIRCLES}] * 2

    reports.clear()
    cached = explanation_progress.run_explanation(reports.append, "S1", "s", resolve, lambda *a: True, compute)
    assert cached == (no_update, no_update) and reports == []  # a cached study never shows the progress bar
    assert explanation_progress.run_explanation(reports.append, "S9", "s", resolve, lambda *a: False, compute) == (
        no_update, no_update)


def test_a_failing_job_becomes_an_alert():
    def compute(*args):
        raise RuntimeError("out of memory")

    ready, status = explanation_progress.run_explanation(
        lambda values: None, "S1", "s", lambda *a: (b"i", "r"), lambda *a: False, compute)
    assert ready is no_update and "explanation failed" in json.dumps(status.to_plotly_json())


def test_exports_use_the_current_threshold_and_the_explain_schema(world):
    explainer, resolver = world
    image_bytes, report = resolver("CXR2", None)
    explainer.attribute(image_bytes, report, ExplanationSettings())
    found = export_tools.export_document("CXR2", 0.3, None, None, None, explainer, resolver)
    document, source = found
    assert document["settings"]["sight_sensitivity"] == 0.3
    assert {"model", "probability", "label", "completeness", "modality_share", "image", "circles", "words",
            "settings", "timing_ms", "evidence", "calibrated_probability"} <= set(document)
    # Issue #18: the export carries the deletion evidence, at the circles it shows.
    region = next(r for r in document["evidence"]["regions"] if r["threshold"] == 0.3)
    assert region["circles"] == len(document["circles"])
    low = len(document["circles"])
    high = len(export_tools.export_document("CXR2", 0.95, None, None, None, explainer, resolver)[0]["circles"])
    assert high <= low
    caption = export_tools.caption_text(source.title, document)
    assert caption.startswith("CXR2 · P(abnormal)") and "τ 0.30" in caption and "not for clinical use" in caption
    assert export_tools.export_filename("../../etc/passwd film", 0.3, "png") == "etc_passwd_film_tau0.30.png"
    assert export_tools.export_document("CXR6", 0.3, None, None, None, explainer, resolver) is None  # not explained


def test_an_out_of_distribution_prediction_is_drawn_only_under_the_gate_notice():
    document = {"probability": 0.91, "label": "abnormal", "modality_share": {"image": 0.6, "text": 0.4},
                "completeness": {"relative_error": 0.004}, "model": {"synthetic": False},
                "distribution": {"in_distribution": False, "score": 0.05,
                                 "reasons": ["the image looks rotated by 90 degrees (similarity 0.06)"]}}

    def text(children) -> str:
        return json.dumps([child.to_plotly_json() for child in children], default=str)

    card = presenter.prediction_children(document, None)
    panel = StudyPanel.unchanged(prediction_children=card)
    withheld = distribution_gate.gate_panel(panel, document, "CXR1", False)
    assert "rotated by 90 degrees" in text(withheld.prediction_children) and "0.910" not in text(
        withheld.prediction_children)
    shown = distribution_gate.gate_panel(panel, document, "CXR1", False,
                                         distribution_gate.disclosure(document, shown_anyway=True))
    # The reasons once, in the notice above the card: the card itself carries no second warning.
    assert text(shown.prediction_children).count("rotated by 90 degrees") == 1 and "0.910" in text(
        shown.prediction_children)
    for verdict in (True, None):
        document["distribution"] = {"in_distribution": verdict, "score": 0.97, "reasons": []}
        clean = text(presenter.prediction_children(document, "normal"))
        assert "cannot judge" not in clean and "warning" not in clean


def test_the_study_panel_fields_are_the_callback_outputs_in_order():
    outputs = [(output.component_id, output.component_property) for output in StudyPanel.outputs()]
    assert outputs == [
        ("xray-graph", "figure"),
        ("circle-sweep", "data"),
        ("words-graph", "figure"),
        ("strongest-words", "children"),
        ("prediction", "children"),
        ("study-report", "children"),
        ("study-error", "children"),
        ("sweep-chart", "figure"),
        ("study-picker", "options"),
    ]
    assert [field.name for field in dataclasses.fields(StudyPanel)] == [
        "xray_figure", "circle_sweep", "words_figure", "strongest_words", "prediction_children", "report_text",
        "study_error", "sweep_chart", "picker_options"]
    sweep = {"thresholds": [0.0], "circles": [[]]}
    panel = dataclasses.replace(presenter.empty_panel("Pick a study."), circle_sweep=sweep)
    values = panel.as_tuple()
    assert len(values) == len(outputs) and values[1] is sweep  # shallow: the sweep is not copied
    assert values == tuple(getattr(panel, field.name) for field in dataclasses.fields(StudyPanel))
    with pytest.raises(dataclasses.FrozenInstanceError):
        panel.report_text = "changed"


def test_a_failed_study_callback_changes_only_the_error():
    alert = "could not show"
    panel = StudyPanel.unchanged(study_error=alert)
    assert panel.study_error == alert
    assert [name for name, value in zip([f.name for f in dataclasses.fields(panel)], panel.as_tuple(), strict=True)
            if value is not no_update] == ["study_error"]


def test_an_empty_panel_draws_nothing_and_leaves_the_picker_alone():
    panel = presenter.empty_panel("Pick a study.")
    assert panel.circle_sweep is None and panel.strongest_words is None and panel.prediction_children == []
    assert panel.report_text == "Pick a study." and panel.study_error is None and panel.picker_options is no_update
    assert "Pick a study." in json.dumps(panel.xray_figure.to_plotly_json(), default=str)


def test_exports_need_only_the_presenter_not_the_study_view():
    script = "import sys, components.export_tools; print('components.study_view' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                            cwd=Path(__file__).resolve().parents[2])
    assert result.stdout.strip() == "False"
