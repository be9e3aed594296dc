"""The model comparison card: the dashboard model and its single-modality parents on the shown study (#20)."""

from __future__ import annotations

import json

import pytest

from components import model_comparison
from components.model_comparison import GATED_TEXT, HIDDEN, NOT_COMPARED_TEXT, SHOWN, comparison_table
from cxrmodel.data import StudyCollection
from cxrmodel.explain import ExplanationSettings, StudyExplainer
from cxrmodel.modeling import BundleError, load_bundle


@pytest.fixture(scope="module")
def compared(tiny_bundle_directory, tiny_text_bundle_directory, tiny_image_bundle_directory, tiny_studies_directory):
    bundles = [load_bundle(directory) for directory in (tiny_bundle_directory, tiny_text_bundle_directory,
                                                         tiny_image_bundle_directory)]
    collection = StudyCollection.from_folder(tiny_studies_directory)
    study_id = next(iter(collection.studies))
    image_bytes = collection.image_path(study_id).read_bytes()
    report = collection.get(study_id).report_text
    explanations = [StudyExplainer(bundle, with_evidence=False).explain(image_bytes, report, ExplanationSettings())
                    for bundle in bundles]
    return study_id, bundles, explanations, model_comparison.comparison_document(bundles, explanations)


def _text(children) -> str:
    return json.dumps([child.to_plotly_json() for child in children], default=lambda value: (
        value.to_plotly_json() if hasattr(value, "to_plotly_json") else str(value)))


def test_the_card_lists_each_model_and_compares_only_the_halves_both_read(compared):
    study_id, bundles, explanations, document = compared
    assert [model["label"] for model in document["models"]] == ["Multimodal", "Report only", "Image only"]
    table, button, caption = comparison_table({"study": study_id, "comparison": document}, {"study": study_id})
    assert button == HIDDEN and study_id in caption
    text = _text(table)
    for explanation in explanations:  # each model's own P(abnormal), as its explanation gives it
        assert f"{explanation.attribution.probability:.3f}" in text
    assert "Multimodal vs Report only" in text and "Multimodal vs Image only" in text
    assert "Report only vs Image only" in text
    pairs = document["record"]["pairs"]
    # multimodal vs text: words compared, regions not; multimodal vs image: the reverse; text vs image: neither.
    assert pairs[0]["words"] is not None and pairs[0]["regions"] is None
    assert pairs[1]["words"] is None and pairs[1]["regions"] is not None
    assert pairs[2]["words"] is None and pairs[2]["regions"] is None
    assert text.count("not compared: a text-only model reads no radiograph") == 2
    assert text.count("not compared: an image-only model reads no report") == 2


def test_the_card_draws_nothing_under_another_study_and_offers_the_button_when_not_compared(compared):
    study_id, _, _, document = compared
    assert comparison_table({"study": study_id, "comparison": document}, {"study": "CXR-other"}) == (None, HIDDEN, "")
    assert comparison_table({"study": study_id, "comparison": None}, {"study": study_id}) == (
        None, SHOWN, NOT_COMPARED_TEXT)
    assert comparison_table({"study": study_id, "gated": True}, {"study": study_id}) == (None, HIDDEN, GATED_TEXT)
    assert comparison_table(None, {"study": study_id}) == (None, HIDDEN, "")


def test_the_dashboard_lays_out_the_card_only_with_comparison_bundles(tiny_bundle_directory, tiny_text_bundle_directory,
                                                                      tiny_image_bundle_directory,
                                                                      tiny_studies_directory, tmp_path):
    import app as dashboard

    plain = dashboard.create_app(dashboard.AppConfig(tiny_bundle_directory, tiny_studies_directory, tmp_path / "a"))
    assert model_comparison.COMPARISON_TABLE_ID not in plain.server.test_client().get("/_dash-layout").get_data(
        as_text=True)
    config = dashboard.AppConfig(tiny_bundle_directory, tiny_studies_directory, tmp_path / "b",
                                 comparison_directories=(tiny_text_bundle_directory, tiny_image_bundle_directory))
    layout = dashboard.create_app(config).server.test_client().get("/_dash-layout").get_data(as_text=True)
    assert model_comparison.COMPARISON_TABLE_ID in layout and "Compared: Multimodal; Report only; Image only" in layout
    broken = dashboard.AppConfig(tiny_bundle_directory, tiny_studies_directory, tmp_path / "c",
                                 comparison_directories=(tmp_path / "missing",))
    with pytest.raises(BundleError, match="does not exist"):
        dashboard.create_app(broken)
