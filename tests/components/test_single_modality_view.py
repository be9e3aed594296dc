"""A text-only bundle shows the report view and no radiograph; an image-only one no word view; each says why."""

from __future__ import annotations

import json
import re

import pytest

from components import model_card, presenter
from components.distribution_gate import upload_screen
from components.evidence_view import REGION_EVIDENCE_ID
from components.presenter import RADIOGRAPH_NOT_READ, REPORT_NOT_READ
from cxrmodel.data import StudyCollection
from cxrmodel.explain import ExplanationSettings, StudyExplainer
from cxrmodel.modeling import load_bundle


def _panel(bundle_directory, studies_directory):
    bundle = load_bundle(bundle_directory)
    collection = StudyCollection.from_folder(studies_directory)
    study_id = next(iter(collection.studies))
    explainer = StudyExplainer(bundle)  # with the deletion evidence: the ledger is on the card
    settings = ExplanationSettings(steps=16)
    source = presenter.StudyResolver(collection).source(study_id, None)
    explanation = explainer.explain(source.image_bytes, source.report_text, settings)
    panel, probability = presenter.render_explanation(source, explanation, explainer, settings, collection)
    return panel, probability, explanation


def _text_of(component) -> str:
    return json.dumps(component.to_plotly_json() if hasattr(component, "to_plotly_json") else component,
                      default=lambda value: value.to_plotly_json() if hasattr(value, "to_plotly_json") else str(value))


def _annotations(figure) -> list[str]:
    return [annotation.text for annotation in figure.layout.annotations]


def test_a_text_only_bundle_draws_the_words_and_no_radiograph(tiny_text_bundle_directory, tiny_studies_directory):
    panel, probability, explanation = _panel(tiny_text_bundle_directory, tiny_studies_directory)
    assert RADIOGRAPH_NOT_READ in _annotations(panel.xray_figure)
    assert not panel.xray_figure.layout.images  # the film is not sent to the browser at all
    assert panel.circle_sweep is None
    words = panel.words_figure
    assert words.data and REPORT_NOT_READ not in _annotations(words)
    card = _text_of(panel.prediction_children)
    assert RADIOGRAPH_NOT_READ in card and '"children": "Report ' in card and '"children": "Image ' not in card
    # Only the report's removal is listed, and no region deletion line (there are no regions).
    assert re.search(r'"children": "report \d', card) and not re.search(r'"children": "image \d', card)
    assert f'"id": "{REGION_EVIDENCE_ID}"' not in card
    assert probability == pytest.approx(explanation.attribution.probability)


def test_an_image_only_bundle_draws_the_radiograph_and_no_word_scores(tiny_image_bundle_directory,
                                                                      tiny_studies_directory):
    panel, probability, explanation = _panel(tiny_image_bundle_directory, tiny_studies_directory)
    assert panel.xray_figure.layout.images  # the radiograph is drawn
    assert panel.circle_sweep is not None and panel.circle_sweep["thresholds"]
    assert REPORT_NOT_READ in _annotations(panel.words_figure) and panel.strongest_words is None
    card = _text_of(panel.prediction_children)
    assert REPORT_NOT_READ in card and '"children": "Image ' in card and '"children": "Report ' not in card
    assert re.search(r'"children": "image \d', card) and not re.search(r'"children": "report \d', card)
    assert probability == pytest.approx(explanation.attribution.probability)


@pytest.mark.parametrize(("fixture", "badge"), [("tiny_text_bundle_directory", "Report only"),
                                                ("tiny_image_bundle_directory", "Image only"),
                                                ("tiny_bundle_directory", "Multimodal")])
def test_the_model_card_says_which_model_it_is(request, fixture, badge):
    bundle = load_bundle(request.getfixturevalue(fixture), load_model=False)
    text = _text_of(model_card.layout(bundle.card, bundle.fingerprint))
    assert f'"children": "{badge}"' in text and f'"id": "{model_card.MODEL_MODALITY_ID}"' in text
    assert f"{badge} (this model)" in text


def test_a_text_only_bundle_refuses_no_film_at_upload(tiny_text_bundle_directory, tiny_studies_directory):
    # The upload screen refuses laterals for models that read the film; a text-only model never reads it.
    collection = StudyCollection.from_folder(tiny_studies_directory)
    study_id = next(iter(collection.studies))
    screen = upload_screen(load_bundle(tiny_text_bundle_directory, load_model=False))
    assert screen(b"not an image at all", collection.get(study_id).report_text) is None
