"""The radiograph's own route (components.server.study_images): the page's figure carries its URL instead of the
image; an upload's image goes only to its own session; basic auth applies; ETag revalidation answers 304 with no
body; the dashboard compresses its responses."""

from __future__ import annotations

import base64
import json
import time

import pytest
from flask import Flask

from components.presenter import StudyResolver, radiograph_png
from components.server import authentication, study_images
from components.server.uploads import UploadStore, new_session_id
from cxrmodel.data import StudyCollection
from cxrmodel.inputs import UploadedStudy


@pytest.fixture(scope="module")
def site(tiny_studies_directory, tmp_path_factory):
    uploads = UploadStore(tmp_path_factory.mktemp("uploads"))
    resolver = StudyResolver(StudyCollection.from_folder(tiny_studies_directory), uploads, image_urls=True)
    owner = new_session_id()
    film = resolver.collection.image_path("CXR3").read_bytes()
    upload_id = uploads.add(owner, UploadedStudy(film, "FINDINGS: Clear lungs.", "mine.png", time.time()))
    server = Flask(__name__)
    study_images.register(server, resolver.image_bytes, radiograph_png)
    return server.test_client(), resolver, owner, upload_id


def test_the_figure_carries_the_image_url_and_the_route_answers_the_display_png(site):
    client, resolver, owner, _upload = site
    source = resolver.source("CXR2", owner)
    assert source.radiograph_source == source.image_url and source.image_url.startswith("study-image/CXR2?")
    response = client.get("/" + source.image_url)
    assert response.status_code == 200 and response.mimetype == "image/png"
    assert response.data == radiograph_png(source.image_bytes)
    assert response.headers["Cache-Control"] == study_images.IMMUTABLE_CACHE  # the URL's version is current
    etag = response.headers["ETag"]
    assert etag.strip('"') == study_images.content_version(source.image_bytes)
    # Revalidation: a matching validator gets 304 and no body; an out-of-date version is revalidated every time.
    again = client.get("/study-image/CXR2?session=x&v=old", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.data == b""
    assert client.get("/study-image/CXR2?v=old").headers["Cache-Control"] == study_images.REVALIDATE_CACHE
    # Without the route (scripts), the figure carries the image itself, as before.
    plain = StudyResolver(resolver.collection).source("CXR2", None)
    assert plain.image_url is None and plain.radiograph_source.startswith("data:image/png;base64,")
    assert base64.b64decode(plain.radiograph_source.split(",", 1)[1]) == response.data


def test_an_uploads_image_goes_only_to_its_own_session(site):
    client, resolver, owner, upload_id = site
    url = resolver.source(upload_id, owner).image_url
    assert client.get("/" + url).status_code == 200
    other = new_session_id()
    assert client.get(f"/study-image/{upload_id}?session={other}").status_code == 404
    assert client.get(f"/study-image/{upload_id}").status_code == 404  # no session at all
    assert resolver.source(upload_id, other) is None
    assert client.get("/study-image/CXR999?session=" + owner).status_code == 404


def test_with_auth_on_an_anonymous_request_for_an_image_gets_401(tiny_studies_directory):
    resolver = StudyResolver(StudyCollection.from_folder(tiny_studies_directory), image_urls=True)
    server = Flask(__name__)
    credentials = authentication.parse_credentials(authentication.credential_line("reader", "s3cret"))
    authentication.require_basic_auth(server, credentials)
    study_images.register(server, resolver.image_bytes, radiograph_png)
    client = server.test_client()
    url = "/" + resolver.source("CXR2", None).image_url
    assert client.get(url).status_code == 401
    signed_in = {"Authorization": "Basic " + base64.b64encode(b"reader:s3cret").decode()}
    assert client.get(url, headers=signed_in).status_code == 200


def test_the_dashboard_serves_the_image_route_and_compresses_its_json(tiny_bundle_directory, tiny_studies_directory,
                                                                      tmp_path):
    import app as dashboard

    client = dashboard.create_app(dashboard.AppConfig(tiny_bundle_directory, tiny_studies_directory,
                                                      tmp_path)).server.test_client()
    layout = client.get("/_dash-layout", headers={"Accept-Encoding": "gzip"})
    assert layout.status_code == 200 and layout.headers.get("Content-Encoding") == "gzip"
    image = client.get("/study-image/CXR2")
    assert image.status_code == 200 and image.mimetype == "image/png" and image.headers["ETag"]
    assert json.loads(client.get("/_dash-layout").data)  # uncompressed when not asked for
