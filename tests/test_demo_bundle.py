"""The committed demo: models/demo loads, predicts every demo study, and its card tells the truth."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

pytest.importorskip("keras")

from cxrmodel.data import StudyCollection  # noqa: E402
from cxrmodel.data.synthetic.findings import FINDING_KINDS  # noqa: E402
from cxrmodel.imaging import decode_image_file  # noqa: E402
from cxrmodel.modeling import load_bundle  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DEMO_MODEL = ROOT / "models" / "demo"
DEMO_STUDIES = ROOT / "studies" / "demo"


@pytest.fixture(scope="module")
def demo():
    return load_bundle(DEMO_MODEL), StudyCollection.from_folder(DEMO_STUDIES)


def test_card_reports_a_multimodal_at_least_as_good_as_either_single_modality(demo):
    bundle, _ = demo
    metrics = bundle.card["metrics"]
    assert bundle.synthetic is True
    assert metrics["multimodal"]["auc"] >= 0.90
    assert metrics["multimodal"]["auc"] >= metrics["image"]["auc"]
    assert metrics["multimodal"]["auc"] >= metrics["text"]["auc"]


def test_demo_studies_cover_both_labels_and_every_finding_with_masks(demo):
    _, collection = demo
    assert len(collection) >= 24
    labels = {study.label for study in collection.studies.values()}
    assert labels == {0, 1}
    kinds = {kind for record in collection.truth.values() for kind in record["masks"]}
    assert kinds == set(FINDING_KINDS)
    for record in collection.truth.values():
        for relative_path in record["masks"].values():
            assert (DEMO_STUDIES / relative_path).is_file()


def test_demo_model_predicts_every_demo_study_and_separates_the_labels(demo):
    bundle, collection = demo
    studies = list(collection.studies.values())
    prepared = [bundle.prepare(decode_image_file(study.image_paths[0]).pixels, study.report_text) for study in studies]
    probabilities = bundle.predict_studies(prepared)
    labels = np.array([study.label for study in studies])
    assert probabilities.shape == (len(studies),)
    assert np.all((probabilities >= 0) & (probabilities <= 1))
    assert roc_auc_score(labels, probabilities) >= 0.85


def test_demo_explanations_measure_against_a_normal_reference_and_add_up(demo):
    from cxrmodel.explain import ExplanationSettings, StudyExplainer

    bundle, collection = demo
    explainer = StudyExplainer(bundle)
    for study_id in ("CXR90001", "CXR90014"):  # a normal study and an obvious nodule
        study = collection.get(study_id)
        explanation = explainer.explain(study.image_paths[0].read_bytes(), study.report_text, ExplanationSettings())
        attribution = explanation.attribution
        # The reference (mean normal image + empty report) is read as normal, so IG explains the difference.
        assert attribution.baseline_probability < 0.5
        assert attribution.completeness.relative_error <= 0.01
        shares = attribution.modality_share
        assert shares["image"] + shares["text"] == pytest.approx(1.0, abs=0.02)


def test_auto_reaches_one_percent_completeness_on_every_demo_study(demo):
    """Issue #3: with the default settings (steps auto) every demo study's attributions add up within 1 %."""
    from cxrmodel.explain import ExplanationSettings, StudyExplainer

    bundle, collection = demo
    explainer = StudyExplainer(bundle)
    errors = {}
    for study_id, study in collection.studies.items():
        _, attribution, _, _ = explainer.attribute(study.image_paths[0].read_bytes(), study.report_text,
                                                   ExplanationSettings())
        assert attribution.completeness.converged, study_id
        errors[study_id] = attribution.completeness.relative_error
    assert len(errors) == len(collection) and max(errors.values()) <= 0.01, errors
