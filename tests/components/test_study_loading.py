"""One study on screen: every panel of a study is tagged by a study tag that the page holds, written by the callback
that fills the panel, in the same response (components.study_loading, components.study_view.study_panels)."""

from __future__ import annotations

import json

import pytest

from components import study_loading, study_view
from tests.load.dash_client import find_component

DERIVED_IN_THE_BROWSER = {"stability-panel"}
"""Panels the browser draws from a store of ``{"study", ...}`` values (the stability badge): their tag is computed in
the browser from the same store (study_loading.register_store_tag)."""


@pytest.fixture(scope="module")
def dashboard(tiny_bundle_directory, tiny_text_bundle_directory, tiny_image_bundle_directory, tiny_studies_directory,
              tmp_path_factory):
    import app as dashboard_app

    config = dashboard_app.AppConfig(tiny_bundle_directory, tiny_studies_directory, tmp_path_factory.mktemp("cache"),
                                     comparison_directories=(tiny_text_bundle_directory, tiny_image_bundle_directory))
    app = dashboard_app.create_app(config)
    layout = json.loads(app.server.test_client().get("/_dash-layout").get_data(as_text=True))
    return app, layout


def _ids_under(node) -> set[str]:
    """Every string id in a serialized layout subtree."""
    found = set()
    if isinstance(node, dict):
        component_id = (node.get("props") or {}).get("id")
        if isinstance(component_id, str):
            found.add(component_id)
        for value in node.values():
            found |= _ids_under(value)
    elif isinstance(node, list):
        for value in node:
            found |= _ids_under(value)
    return found


def _outputs(callback: dict) -> list[str]:
    """The component ids a registered callback writes (``"id.prop[@hash]"``, or ``"..a.p...b.q.."`` for several)."""
    spec = callback["output"]
    items = spec[2:-2].split("...") if spec.startswith("..") else [spec]
    return [item.split("@")[0].rsplit(".", 1)[0] for item in items]


def test_every_panel_and_its_tag_are_on_the_page_and_the_tag_comes_with_the_panels_content(dashboard):
    app, layout = dashboard
    panels = study_view.study_panels(with_comparison=True)
    label = find_component(layout, study_loading.STUDY_LOADING_ID)
    assert json.loads(label["props"]["data-cxr-panels"]) == panels  # the page gets exactly this map
    callbacks = app._callback_list
    for panel, tag_id in panels.items():
        element = find_component(layout, panel)
        tag = find_component(layout, tag_id)
        assert element is not None and tag is not None, (panel, tag_id)
        assert tag["props"]["className"] == study_loading.TAG_CLASS and tag["props"]["hidden"] is True
        writers = [callback for callback in callbacks if tag_id in _outputs(callback)]
        assert len(writers) == 1, (tag_id, len(writers))  # one callback tags the content, never a second one
        if panel in DERIVED_IN_THE_BROWSER:
            continue
        # The tag's callback also writes into the panel (or the panel itself): content and tag in one response.
        content = _ids_under(element) | {panel}
        assert set(_outputs(writers[0])) & (content - {tag_id}), (panel, tag_id)


def test_the_panels_cover_what_the_issue_names():
    panels = study_view.study_panels(with_comparison=True)
    for panel in ("xray-frame", "prediction", "stability-panel", "words-graph", "strongest-words", "study-report",
                  "what-if-card", "comparison-card", "sweep-chart"):
        assert panel in panels, panel
    assert "comparison-card" not in study_view.study_panels(with_comparison=False)
