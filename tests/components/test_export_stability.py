"""The JSON export carries the stability check (components.export_tools), and a check that did not converge is
exported, printed and drawn as such, with no verdict."""

from __future__ import annotations

import dataclasses
import json

import pytest

pytest.importorskip("keras")

from components import export_tools, presenter  # noqa: E402
from components.server.uploads import UploadStore  # noqa: E402
from cxrmodel.cli.explain import evidence_lines  # noqa: E402
from cxrmodel.data import StudyCollection  # noqa: E402
from cxrmodel.explain import ExplanationCache, ExplanationSettings, StudyExplainer  # noqa: E402
from cxrmodel.modeling import load_bundle  # noqa: E402


@pytest.fixture(scope="module")
def world(tiny_bundle_directory, tiny_studies_directory, tmp_path_factory):
    root = tmp_path_factory.mktemp("export-stability")
    explainer = StudyExplainer(load_bundle(tiny_bundle_directory), ExplanationCache(root / "explanations"))
    resolver = presenter.StudyResolver(StudyCollection.from_folder(tiny_studies_directory), UploadStore(root / "up"))
    return explainer, resolver


def _exported(world) -> dict:
    explainer, resolver = world
    document, source = export_tools.export_document("CXR2", 0.5, None, None, None, explainer, resolver)
    return json.loads(export_tools.export_payload("json", document, source, False)["content"])


def test_the_json_export_carries_the_stability_result_once_it_was_checked(world):
    explainer, resolver = world
    image_bytes, report = resolver("CXR2", None)
    explainer.attribute(image_bytes, report, ExplanationSettings())
    assert _exported(world)["evidence"]["stability"] is None  # not checked yet: nothing to carry
    checked = explainer.stability(image_bytes, report, ExplanationSettings())
    assert checked is not None
    stability = _exported(world)["evidence"]["stability"]
    assert stability["reference"] == checked["reference"]
    assert stability["converged"] is checked["converged"]
    if checked["converged"]:
        assert stability["verdict"] in ("stable", "partly", "unstable")
    else:
        assert stability["verdict"] is None


def test_a_stability_check_that_did_not_converge_is_exported_and_printed_with_no_verdict(world):
    explainer, resolver = world
    image_bytes, report = resolver("CXR2", None)
    base = ExplanationSettings()
    explainer.attribute(image_bytes, report, base)
    second = dataclasses.replace(base, image_baseline=explainer.stability_reference(base))
    explainer.stability(image_bytes, report, base)  # both attributions in the cache
    # The second reference's run missed its target: 806 % after 128 steps (as measured on a demo study).
    key = explainer.cache_key(image_bytes, report, second)
    stored = explainer.cache.get(key)
    explainer.cache.put(key, dataclasses.replace(stored, completeness=dataclasses.replace(
        stored.completeness, relative_error=8.06, steps=128, converged=False)))
    document = _exported(world)
    stability = document["evidence"]["stability"]
    assert stability["converged"] is False and stability["verdict"] is None
    assert stability["completeness_error"] == pytest.approx(8.06) and stability["target_error"] == 0.01
    lines = evidence_lines(document)
    assert (f"stability against the {stability['reference']} reference: did not converge, no verdict "
            "(completeness error 806.0%, target 1.0%)") in lines
    assert not any("unstable" in line for line in lines)
