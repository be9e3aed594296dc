"""The radiograph reaches the browser as a URL with a strong validator, not as base64 inside every study response.

``GET /study-image/<study id>?session=<page session id>&v=<content hash>`` answers the study's display PNG (the
bytes the viewer would otherwise carry as a data URI: components.presenter.radiograph_png):

* found through the page's :class:`~components.presenter.StudyResolver`, so an upload's image goes only to the
  session that uploaded it (another session's id, or none, is answered 404, as an unknown study is);
* behind the same basic auth as every route (components.server.authentication: 401 without credentials);
* with ``ETag`` (the hash of the study's image file) and ``Cache-Control: private``: a URL whose ``v`` is the
  current hash is cached for a day (``immutable``: a study the browser has seen sends no request when reopened);
  any other is revalidated, and a matching ``If-None-Match`` gets 304 with no body.

:func:`image_url` builds the URL the figure carries; :func:`register` adds the route to the Flask server.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from urllib.parse import quote, urlencode

from flask import Flask, Response, abort, request

logger = logging.getLogger(__name__)

ROUTE = "/study-image/"
IMMUTABLE_CACHE = "private, max-age=86400, immutable"
REVALIDATE_CACHE = "private, no-cache"


def content_version(image_bytes: bytes) -> str:
    """The image file's validator: the first 32 hex digits of its sha256 (the display PNG is a function of it)."""
    return hashlib.sha256(image_bytes).hexdigest()[:32]


def image_url(study_id: str, session_id: str | None, image_bytes: bytes) -> str:
    """The viewer's image source for a study (relative to the page, so it follows any URL prefix)."""
    query = {"session": session_id or "", "v": content_version(image_bytes)}
    return f"{ROUTE.lstrip('/')}{quote(study_id, safe='')}?{urlencode(query)}"


def register(server: Flask, find: Callable[[str, str | None], bytes | None],
             display_png: Callable[[bytes], bytes]) -> None:
    """Serve study images on ``server``.

    Args:
        server: The dashboard's Flask server (its auth hook runs first).
        find: ``find(study_id, session_id)`` -> the study's image file bytes, or None when the study is unknown or
            not this session's (:class:`components.presenter.StudyResolver`).
        display_png: Image file bytes -> the PNG the viewer shows.
    """

    @server.route(ROUTE + "<path:study_id>")
    def study_image(study_id: str):
        session_id = request.args.get("session") or None
        try:
            image_bytes = find(study_id, session_id)
        except Exception:  # noqa: BLE001 - a broken study file is the study's error, not the server's
            logger.exception("reading the image of study %s failed", study_id)
            image_bytes = None
        if image_bytes is None:
            abort(404)
        version = content_version(image_bytes)
        response = Response(display_png(image_bytes), mimetype="image/png")
        response.set_etag(version)
        response.headers["Cache-Control"] = (IMMUTABLE_CACHE if request.args.get("v") == version
                                             else REVALIDATE_CACHE)
        return response.make_conditional(request)
