"""Each cached study's view drawn once (components.study_views): a stored view is exactly what drawing it gives,
names no session, is drawn again when corrupt or when its explanation is stored again, is never stored while the
evidence is still coming, and is keyed by everything it shows; its overlays go only to their own study and session.
"""

from __future__ import annotations

import json
import shutil
import time

import pytest
from dash import no_update
from flask import Flask
from plotly.io.json import to_json_plotly

from components import presenter, study_opening, study_views
from components.presenter import StudyResolver, radiograph_png
from components.server import authentication, study_images
from components.server.uploads import UploadStore, new_session_id
from cxrmodel.data import StudyCollection
from cxrmodel.explain import ExplanationCache, ExplanationSettings, StudyExplainer
from cxrmodel.inputs import UploadedStudy
from cxrmodel.modeling import load_bundle

SETTINGS = ExplanationSettings()


class World:
    """One dashboard's study side with stored views, and the same without them (the direct computation)."""

    def __init__(self, bundle_directory, studies_directory, root):
        self.root = root
        self.explainer = StudyExplainer(load_bundle(bundle_directory), ExplanationCache(root / "explanations"))
        self.views = study_views.StudyViews(self.explainer, study_images.view_image_url)
        self.collection = StudyCollection.from_folder(studies_directory)
        self.uploads = UploadStore(root / "uploads")
        self.resolver = StudyResolver(self.collection, self.uploads, image_urls=True, views=self.views)
        self.direct = StudyResolver(self.collection, self.uploads, image_urls=True)

    def open(self, study_id, session_id, settings=SETTINGS, resolver=None, shown_anyway=False):
        """(study callback outputs, details outputs) as JSON, as Dash would send them."""
        resolver = resolver or self.resolver
        panel = study_opening.open_study(study_opening.PICKED, study_id, None, session_id, settings, [],
                                         self.explainer, resolver, shown_anyway=shown_anyway)
        details = study_opening.details_outputs({"study": study_id}, study_id, session_id, settings, self.explainer,
                                                resolver, shown_anyway)
        return json.loads(to_json_plotly(panel.as_tuple())), json.loads(to_json_plotly(details))

    def stored_key(self, study_id, session_id, settings=SETTINGS, shown_anyway=False):
        source = self.resolver.source(study_id, session_id)
        return self.views.key(source, settings, shown_anyway, study_views.PANEL, self.collection.root)[0]


@pytest.fixture(scope="module")
def world(tiny_bundle_directory, tiny_studies_directory, tmp_path_factory):
    world = World(tiny_bundle_directory, tiny_studies_directory, tmp_path_factory.mktemp("views"))
    for study_id in ("CXR2", "CXR3"):
        world.explainer.attribute(*world.resolver(study_id, None), SETTINGS)  # with all its evidence
    return world


def _overlay_sources(outputs):
    return [image["source"] for image in outputs[0]["layout"]["images"] if image.get("name") != "radiograph"]


def _without_overlays(outputs):
    for image in outputs[0]["layout"]["images"]:
        if image.get("name") != "radiograph":
            image["source"] = "overlay"
    return outputs


def test_a_stored_view_is_exactly_what_drawing_it_gives(world, monkeypatch):
    session = new_session_id()
    first, first_details = world.open("CXR2", session)
    assert world.stored_key("CXR2", session) in world.views.store
    # Read back: no attribution read, no sweep, no figure built.
    for name in ("cached", "attribute"):
        monkeypatch.setattr(world.explainer, name, _must_not_run)
    monkeypatch.setattr(presenter, "circle_sweep", _must_not_run)
    monkeypatch.setattr(presenter.xray_view, "xray_figure", _must_not_run)
    monkeypatch.setattr(presenter, "explanation_details", _must_not_run)
    again, again_details = world.open("CXR2", session)
    monkeypatch.undo()
    direct, direct_details = world.open("CXR2", session, resolver=world.direct)
    assert again_details == first_details == direct_details
    assert "data:image" in json.dumps(direct) and "data:image" not in json.dumps(again)  # no base64 overlay
    overlays = _overlay_sources(again)
    assert overlays and all(source.startswith("study-view-image/CXR2/") and f"session={session}" in source
                            for source in overlays)  # the heatmap and lesion outlines by URL, not base64
    assert _without_overlays(again) == _without_overlays(first) == _without_overlays(direct)


def _must_not_run(*_arguments, **_keywords):
    raise AssertionError("a stored view was drawn again")


def test_a_view_names_no_session_and_serves_each_its_own_urls(world):
    reader, other = new_session_id(), new_session_id()
    world.open("CXR3", reader)
    key = world.stored_key("CXR3", reader)
    assert key == world.stored_key("CXR3", other)  # one view per study and settings, whoever opened it
    assert reader not in world.views.store.get(key).decode()
    opened, _details = world.open("CXR3", other)
    sources = [image["source"] for image in opened[0]["layout"]["images"]]
    assert all(reader not in source for source in sources)
    assert all(f"session={other}" in source for source in sources if source.startswith("study-"))


def test_a_corrupt_stored_view_is_drawn_again_never_served(world, caplog):
    session = new_session_id()
    direct = _without_overlays(world.open("CXR2", session, resolver=world.direct)[0])
    world.open("CXR2", session)
    key = world.stored_key("CXR2", session)
    record = bytearray(world.views.store._cache.get(key))
    record[-10] ^= 0xFF  # one flipped byte in the JSON: the checksum fails
    world.views.store._cache.set(key, bytes(record))
    assert _without_overlays(world.open("CXR2", session)[0]) == direct
    assert "deleting corrupt study view" in caplog.text
    assert world.views.store.get(key) is not None  # drawn and stored again
    world.views.store._cache.set(key, b"not a view at all")
    assert _without_overlays(world.open("CXR2", session)[0]) == direct


def test_deleting_the_view_store_loses_nothing_but_time(world, tiny_bundle_directory):
    session = new_session_id()
    world.open("CXR2", session)
    world.views.store.close()
    shutil.rmtree(world.views.store.directory)
    restarted = World(tiny_bundle_directory, world.collection.root, world.root)  # same cache folder, views gone
    opened = restarted.open("CXR2", session)
    direct = restarted.open("CXR2", session, resolver=restarted.direct)
    assert _without_overlays(opened[0]) == _without_overlays(direct[0])
    assert restarted.stored_key("CXR2", session) in restarted.views.store
    world.views = restarted.views
    world.resolver, world.explainer = restarted.resolver, restarted.explainer


def test_storing_the_explanation_again_drops_its_views(world):
    session = new_session_id()
    world.open("CXR3", session)
    source = world.resolver.source("CXR3", session)
    key, attribution_key = world.views.key(source, SETTINGS, False, study_views.PANEL, world.collection.root)
    assert key in world.views.store
    world.explainer.cache.put(attribution_key, world.explainer.cache.get(attribution_key))
    assert key not in world.views.store


def test_an_explanation_whose_evidence_is_still_coming_is_not_stored(world):
    session = new_session_id()
    world.explainer.attribute(*world.resolver("CXR4", None), SETTINGS, evidence_scope="none")
    opened = world.open("CXR4", session)
    assert world.stored_key("CXR4", session) not in world.views.store
    assert "being computed" in json.dumps(opened[0])  # the page says the evidence is still coming
    world.explainer.attribute(*world.resolver("CXR4", None), SETTINGS)  # the rest of the evidence lands
    completed = world.open("CXR4", session)
    assert world.stored_key("CXR4", session) in world.views.store
    assert "being computed" not in json.dumps(completed[0])


def test_the_settings_show_anyway_and_the_study_key_the_view(world):
    session = new_session_id()
    lower = ExplanationSettings(sight_sensitivity=0.5)
    keys = {world.stored_key("CXR2", session), world.stored_key("CXR2", session, lower),
            world.stored_key("CXR2", session, shown_anyway=True),
            world.stored_key("CXR2", session, ExplanationSettings(link_distance=7.0)),
            world.stored_key("CXR2", session, ExplanationSettings(min_points=3))}
    assert len(keys) == 5
    at_lower = world.open("CXR2", session, lower)
    assert _without_overlays(world.open("CXR2", session, lower)[0]) == _without_overlays(at_lower[0])
    assert _without_overlays(at_lower[0]) == _without_overlays(world.open("CXR2", session, lower, world.direct)[0])
    # The same film uploaded under another name is another study: never drawn under CXR2's name or title.
    image_bytes, report = world.resolver("CXR2", None)
    upload_id = world.uploads.add(session, UploadedStudy(image_bytes, report, "film.png", time.time()))
    assert world.stored_key(upload_id, session) != world.stored_key("CXR2", session)
    uploaded, _details = world.open(upload_id, session)
    assert uploaded[0]["layout"]["uirevision"] == upload_id and "CXR2" not in json.dumps(uploaded[0])


def test_changed_code_never_serves_an_old_view(world, monkeypatch):
    session = new_session_id()
    before = world.stored_key("CXR2", session)
    monkeypatch.setattr(study_views, "code_version", lambda: "another version of the code")
    assert world.stored_key("CXR2", session) != before


def test_stored_views_can_be_turned_off():
    assert study_views.stored_views_enabled({})
    assert study_views.stored_views_enabled({study_views.STORED_VIEWS_ENV: "1"})
    assert not study_views.stored_views_enabled({study_views.STORED_VIEWS_ENV: "0"})
    assert not study_views.stored_views_enabled({study_views.STORED_VIEWS_ENV: "off"})


def test_an_overlay_goes_only_to_its_own_study_and_session(world):
    owner, other = new_session_id(), new_session_id()
    image_bytes, report = world.resolver("CXR3", None)
    upload_id = world.uploads.add(owner, UploadedStudy(image_bytes, report, "mine.png", time.time()))
    world.explainer.attribute(image_bytes, report, SETTINGS)
    opened, _details = world.open(upload_id, owner)
    world.open(upload_id, owner)
    overlay = _overlay_sources(world.open(upload_id, owner)[0])[0]
    server = Flask(__name__)
    study_images.register(server, world.resolver.image_bytes, radiograph_png, world.views.image)
    client = server.test_client()
    answer = client.get("/" + overlay)
    assert answer.status_code == 200 and answer.mimetype == "image/png"
    assert answer.headers["Cache-Control"] == study_images.IMMUTABLE_CACHE
    assert client.get("/" + overlay, headers={"If-None-Match": answer.headers["ETag"]}).status_code == 304
    key = overlay.split("?")[0].rsplit("/", 1)[1]
    assert client.get(f"/study-view-image/{upload_id}/{key}?session={other}").status_code == 404
    assert client.get(f"/study-view-image/{upload_id}/{key}").status_code == 404
    assert client.get(f"/study-view-image/CXR3/{key}?session={owner}").status_code == 404  # another study's
    assert client.get(f"/study-view-image/CXR3/{'0' * 64}?session={owner}").status_code == 404
    guarded = Flask(__name__)
    credentials = authentication.parse_credentials(authentication.credential_line("reader", "s3cret"))
    authentication.require_basic_auth(guarded, credentials)
    study_images.register(guarded, world.resolver.image_bytes, radiograph_png, world.views.image)
    assert guarded.test_client().get("/" + overlay).status_code == 401


def test_a_film_is_converted_for_the_viewer_once(world):
    calls = []

    def convert(image_bytes):
        calls.append(image_bytes)
        return radiograph_png(image_bytes)

    display = world.views.display_png(convert)
    image_bytes, _report = world.resolver("CXR5", None)
    assert display(image_bytes) == display(image_bytes) == radiograph_png(image_bytes)
    assert len(calls) == 1


def test_the_defaults_and_the_controls_showing_them_meet_on_one_view(world):
    # A script draws with the defaults unresolved; the page sends its controls' values (the bundle's defaults).
    config = world.explainer.bundle.config
    job = presenter.explanation_settings(None, None, 0.7)
    page = presenter.explanation_settings(config.default_link_distance, SETTINGS.min_points, 0.7,
                                          round(config.default_attribution_smoothing, 2))
    assert job != page
    session = new_session_id()
    assert world.stored_key("CXR5", session, job) == world.stored_key("CXR5", session, page)
    assert world.stored_key("CXR5", session, job) != world.stored_key("CXR5", session,
                                                                       presenter.explanation_settings(None, None, 0.72))


def test_the_defaults_and_the_controls_showing_them_draw_the_same_view(world):
    config = world.explainer.bundle.config
    job = presenter.explanation_settings(None, None, 0.7)
    page = presenter.explanation_settings(config.default_link_distance, SETTINGS.min_points, 0.7,
                                          round(config.default_attribution_smoothing, 2))
    session = new_session_id()
    assert world.open("CXR2", session, job, world.direct) == world.open("CXR2", session, page, world.direct)


def test_the_view_is_stored_when_the_last_of_its_evidence_lands_on_the_page(world):
    session = new_session_id()
    image_bytes, report = world.resolver("CXR6", None)
    world.explainer.attribute(image_bytes, report, SETTINGS, evidence_scope="none")  # the circles' phase
    world.open("CXR6", session)
    source = world.resolver.source("CXR6", session)
    keys = [world.views.key(source, SETTINGS, False, part, world.collection.root)[0]
            for part in (study_views.PANEL, study_views.DETAILS)]
    assert not any(key in world.views.store for key in keys)
    world.explainer.attribute(image_bytes, report, SETTINGS)  # the job's last phase
    refreshed = study_opening.evidence_outputs({"study": "CXR6", "phase": "complete"}, "CXR6",
                                               {"study": "CXR6", "drawn": True}, session, SETTINGS, world.explainer,
                                               world.resolver)
    assert refreshed[1] is not no_update  # the card is filled in as before
    assert all(key in world.views.store for key in keys)  # and the next open is a stored one
