"""The served page: loads the bundle, lists the studies, shows a picked study with its prediction."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("dash")

import app as dashboard  # noqa: E402
from components import presenter  # noqa: E402
from components.presenter import StudyPanel  # noqa: E402
from cxrmodel.data import StudyCollection  # noqa: E402
from cxrmodel.modeling import load_bundle  # noqa: E402
from tests.load.dash_client import find_component as _find  # noqa: E402


@pytest.fixture(scope="module")
def served(tiny_bundle_directory, tiny_studies_directory, tmp_path_factory):
    config = dashboard.AppConfig(tiny_bundle_directory, tiny_studies_directory, tmp_path_factory.mktemp("cache"))
    return dashboard.create_app(config).server.test_client()


def test_page_lists_every_study_and_says_the_model_is_synthetic(served):
    response = served.get("/_dash-layout")
    assert response.status_code == 200
    layout = json.loads(response.data)
    picker = _find(layout, "study-picker")
    assert [option["value"] for option in picker["props"]["options"]] == [f"CXR{n}" for n in range(1, 7)]
    assert any("abnormal" in option["label"] for option in picker["props"]["options"])
    assert "not for clinical use" in json.dumps(_find(layout, "synthetic-banner"))


def test_picking_a_study_shows_its_explanation(tiny_bundle_directory, tiny_studies_directory, tmp_path):
    from cxrmodel.explain import ExplanationCache, StudyExplainer

    explainer = StudyExplainer(load_bundle(tiny_bundle_directory), ExplanationCache(tmp_path))
    collection = StudyCollection.from_folder(tiny_studies_directory)
    panel = presenter.study_panel("CXR2", explainer, collection)
    figure, sweep, prediction, report, error = (panel.xray_figure, panel.circle_sweep, panel.prediction_children,
                                                panel.report_text, panel.study_error)
    # The radiograph is one compressed layout image, never a numeric array.
    assert figure.layout.images[0].source.startswith("data:image/png;base64,")
    assert not any(getattr(trace, "z", None) is not None for trace in figure.data)
    assert len(sweep["thresholds"]) == len(sweep["circles"]) == 51
    assert sweep["image"] == {"width": 160, "height": 176}
    assert report == collection.get("CXR2").report_text and report
    text = json.dumps([child.to_plotly_json() for child in prediction], default=str)
    assert "P(abnormal)" in text and "report label: abnormal" in text and "completeness error" in text
    assert error is None
    assert presenter.study_panel("CXR999", explainer, collection).circle_sweep is None


def test_deep_link_opens_a_study_at_a_threshold(tiny_studies_directory):
    from dash import no_update

    collection = StudyCollection.from_folder(tiny_studies_directory)
    assert presenter.deep_link("?study=CXR3&threshold=0.34", collection) == ("CXR3", 0.34)
    # Snapped to the slider grid and clamped, as every view snaps tau (threshold_control.snap_sight_sensitivity).
    assert presenter.deep_link("?study=CXR3&threshold=0.35", collection) == ("CXR3", 0.36)
    assert presenter.deep_link("?study=CXR999&threshold=7", collection) == (no_update, 1.0)
    assert presenter.deep_link("?threshold=-1", collection) == (no_update, 0.0)
    assert presenter.deep_link("?threshold=nan", collection) == (no_update, no_update)
    assert presenter.deep_link("?threshold=abc", collection) == (no_update, no_update)
    assert presenter.deep_link("", collection) == (no_update, no_update)


def test_the_address_bar_and_the_slider_never_start_a_server_callback(served):
    """Issue #17: the view lives in the URL, and moving or resting the slider must not cost a round trip."""
    dependencies = json.loads(served.get("/_dash-dependencies").data)
    server = [callback for callback in dependencies if not callback.get("clientside_function")]
    watched = {(item["id"], item["property"]) for callback in server for item in callback["inputs"]}
    assert ("url", "search") not in watched
    assert not {item for item in watched if item[0].startswith("sight-sensitivity")}
    sync = [callback for callback in dependencies
            if (callback.get("clientside_function") or {}).get("function_name") == "syncView"]
    assert len(sync) == 1 and sync[0]["inputs"][0] == {"id": "url", "property": "search"}


def test_the_page_opens_no_study_until_the_address_bar_names_one(served):
    """Issue #17: a link to an unknown study opened the first study silently; the picker now starts empty."""
    layout = json.loads(served.get("/_dash-layout").data)
    assert _find(layout, "study-picker")["props"]["value"] is None
    defaults = _find(layout, "view-defaults")["props"]["data"]
    assert defaults["default_study"] == "CXR1" and defaults["studies"] == [f"CXR{n}" for n in range(1, 7)]


def test_the_study_callback_outputs_are_the_study_panel_fields(served):
    from components.study_opening import StudyOutputs

    dependencies = json.loads(served.get("/_dash-dependencies").data)
    expected = [f"{output.component_id}.{output.component_property}" for output in StudyPanel.outputs()]
    matches = [callback for callback in dependencies if callback["output"].startswith(".." + "...".join(expected))]
    assert len(matches) == 1
    outputs = [spec.split("@")[0] for spec in matches[0]["output"].strip(".").split("...")]
    assert outputs == [f"{o.component_id}.{o.component_property}" for o in StudyOutputs.outputs()]
    assert outputs[len(expected):] == ["shown-study.data", "explanation-request.data",
                                       "explanation-switch-cancel.data", "explanation-cancelled.style",
                                       "shown-study-tag.children"]
    assert [item["id"] for item in matches[0]["inputs"]][0] == "study-picker"
    # A cached study is drawn by this plain callback: it is no background callback, and the job has its own.
    assert "background" not in matches[0] or not matches[0]["background"]
    (job,) = [callback for callback in dependencies if callback["output"].startswith("..explanation-ready.data")]
    assert [item["id"] for item in job["inputs"]] == ["explanation-request"]


def test_broken_model_directory_is_a_clear_startup_error(tmp_path, tiny_studies_directory, capsys):
    status = dashboard.main(["--model", str(tmp_path / "missing"), "--studies", str(tiny_studies_directory)])
    assert status == 2
    assert "does not exist" in capsys.readouterr().err


def test_a_missing_trust_profile_override_is_a_clear_startup_error(tmp_path, tiny_studies_directory, capsys,
                                                                   monkeypatch):
    status = dashboard.main(["--studies", str(tiny_studies_directory), "--trust-profile", str(tmp_path),
                             "--no-model-worker", "--cache-dir", str(tmp_path / "cache")])
    error = capsys.readouterr().err.strip()
    assert status == 2 and "no trust_profile.json there" in error and "\n" not in error
    monkeypatch.setenv("CXR_TRUST_PROFILE", str(tmp_path))
    assert dashboard.config_from_environment().trust_profile == tmp_path


def test_the_web_process_never_loads_the_model(tiny_bundle_directory, tiny_studies_directory, tmp_path, monkeypatch):
    """Background jobs are forked from the web process; TensorFlow's runtime would not survive that fork."""
    from cxrmodel.modeling import bundle as bundle_module

    loads = []
    original = bundle_module._load_model
    monkeypatch.setattr(bundle_module, "_load_model", lambda *args: loads.append(args) or original(*args))
    client = dashboard.create_app(
        dashboard.AppConfig(tiny_bundle_directory, tiny_studies_directory, tmp_path)).server.test_client()
    assert client.get("/_dash-layout").status_code == 200
    assert loads == []


def test_every_page_load_gets_its_own_session(served):
    first = _find(json.loads(served.get("/_dash-layout").data), "session-id")["props"]["data"]
    second = _find(json.loads(served.get("/_dash-layout").data), "session-id")["props"]["data"]
    assert first != second and len(first) >= 21


def test_a_corrupt_model_archive_is_a_clear_startup_error(tiny_bundle_directory, tiny_studies_directory, tmp_path,
                                                          capsys):
    import shutil

    broken = tmp_path / "bundle"
    shutil.copytree(tiny_bundle_directory, broken)
    data = bytearray((broken / "model.keras").read_bytes())
    middle = len(data) // 2
    data[middle: middle + 64] = bytes(byte ^ 0xFF for byte in data[middle: middle + 64])  # flip every bit
    (broken / "model.keras").write_bytes(bytes(data))
    status = dashboard.main(["--model", str(broken), "--studies", str(tiny_studies_directory),
                             "--cache-dir", str(tmp_path / "cache")])
    assert status == 2
    assert "model.keras" in capsys.readouterr().err


def test_python_app_warms_the_studies_up_in_its_own_worker_unless_told_not_to(tmp_path):
    from app import parse_arguments, worker_arguments

    studies = tmp_path / "studies"
    assert worker_arguments(parse_arguments(["--studies", str(studies)])) == ("--warm-up-studies", str(studies))
    assert worker_arguments(parse_arguments(["--studies", str(studies), "--no-warm-up"])) == ()
    profile = tmp_path / "profile"
    assert worker_arguments(parse_arguments(["--no-warm-up", "--trust-profile", str(profile)])) == (
        "--trust-profile", str(profile))
