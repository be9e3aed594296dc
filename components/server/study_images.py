"""The radiograph reaches the browser as a URL with a strong validator, not as base64 inside every study response.

``GET /study-image/<study id>?session=<page session id>&v=<content hash>`` answers the study's display PNG (the
bytes the viewer would otherwise carry as a data URI: components.presenter.radiograph_png):

* found through the page's :class:`~components.presenter.StudyResolver`, so an upload's image goes only to the
  session that uploaded it (another session's id, or none, is answered 404, as an unknown study is);
* behind the same basic auth as every route (components.server.authentication: 401 without credentials);
* with ``ETag`` (the hash of the study's image file) and ``Cache-Control: private``: a URL whose ``v`` is the
  current hash is cached for a day (``immutable``: a study the browser has seen sends no request when reopened);
  any other is revalidated, and a matching ``If-None-Match`` gets 304 with no body.

``GET /study-view-image/<study id>/<key>?session=<page session id>`` answers one overlay of a stored study view
(the attribution heatmap, the lesion outlines: components.study_views), under the same rules: the study must be
found for that session, and the PNG must have been drawn for that study; its key is the hash of its content, so
it is always ``immutable``.

:func:`image_url` and :func:`view_image_url` build the URLs the figure carries; :func:`register` adds the routes
to the Flask server.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from urllib.parse import quote, urlencode

from flask import Flask, Response, abort, request

logger = logging.getLogger(__name__)

ROUTE = "/study-image/"
VIEW_IMAGE_ROUTE = "/study-view-image/"
IMMUTABLE_CACHE = "private, max-age=86400, immutable"
REVALIDATE_CACHE = "private, no-cache"


def content_version(image_bytes: bytes) -> str:
    """The image file's validator: the first 32 hex digits of its sha256 (the display PNG is a function of it)."""
    return hashlib.sha256(image_bytes).hexdigest()[:32]


def image_url(study_id: str, session_id: str | None, image_bytes: bytes) -> str:
    """The viewer's image source for a study (relative to the page, so it follows any URL prefix)."""
    query = {"session": session_id or "", "v": content_version(image_bytes)}
    return f"{ROUTE.lstrip('/')}{quote(study_id, safe='')}?{urlencode(query)}"


def view_image_url(study_id: str, session_id: str | None, key: str) -> str:
    """The URL of a stored view's overlay PNG (relative to the page)."""
    return f"{VIEW_IMAGE_ROUTE.lstrip('/')}{quote(study_id, safe='')}/{key}?{urlencode({'session': session_id or ''})}"


def _found(find: Callable[[str, str | None], bytes | None], study_id: str, session_id: str | None) -> bytes | None:
    try:
        return find(study_id, session_id)
    except Exception:  # noqa: BLE001 - a broken study file is the study's error, not the server's
        logger.exception("reading the image of study %s failed", study_id)
        return None


def register(server: Flask, find: Callable[[str, str | None], bytes | None],
             display_png: Callable[[bytes], bytes],
             view_image: Callable[[str, str], bytes | None] | None = None) -> None:
    """Serve study images on ``server``.

    Args:
        server: The dashboard's Flask server (its auth hook runs first).
        find: ``find(study_id, session_id)`` -> the study's image file bytes, or None when the study is unknown or
            not this session's (:class:`components.presenter.StudyResolver`).
        display_png: Image file bytes -> the PNG the viewer shows.
        view_image: ``view_image(key, study_id)`` -> a stored view's overlay PNG drawn for that study, or None
            (components.study_views.StudyViews.image); None = no overlay route.
    """

    if view_image is not None:
        @server.route(VIEW_IMAGE_ROUTE + "<path:study_id>/<key>")
        def study_view_image(study_id: str, key: str):
            if _found(find, study_id, request.args.get("session") or None) is None:
                abort(404)
            png = view_image(key, study_id)
            if png is None:
                abort(404)
            response = Response(png, mimetype="image/png")
            response.set_etag(key)
            response.headers["Cache-Control"] = IMMUTABLE_CACHE
            return response.make_conditional(request)

    @server.route(ROUTE + "<path:study_id>")
    def study_image(study_id: str):
        session_id = request.args.get("session") or None
        image_bytes = _found(find, study_id, session_id)
        if image_bytes is None:
            abort(404)
        version = content_version(image_bytes)
        response = Response(display_png(image_bytes), mimetype="image/png")
        response.set_etag(version)
        response.headers["Cache-Control"] = (IMMUTABLE_CACHE if request.args.get("v") == version
                                             else REVALIDATE_CACHE)
        return response.make_conditional(request)
