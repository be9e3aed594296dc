"""The dashboard's side of the review store: who is reviewing, and which study a review is about (not a visual piece).

The reviewer is the HTTP basic-auth user when the dashboard runs with ``--auth-file`` (the before-request hook of
:mod:`components.server.authentication` has already checked the password), otherwise the one local reviewer named
on screen. It is never read from a request body, so a forged name in a callback's payload changes nothing.

The study a review is about is resolved on the server from the picked id and the page's session
(:class:`components.presenter.StudyResolver`: a bundled study or one of *this* session's uploads), and its circles
are recomputed from the cached explanation with the page's clustering settings: the browser sends ids and marks,
never the content hash, the image size or the circles that the marks are checked against.
"""

from __future__ import annotations

import functools
import getpass
import logging
import re

from flask import has_request_context, request

from components.presenter import StudyResolver
from cxrmodel.detection import circle_sweep
from cxrmodel.explain import ExplanationSettings, StudyExplainer
from cxrmodel.reviews import ReviewError, ReviewStore, StudyRecord, study_content_hash

logger = logging.getLogger(__name__)

LOCAL_REVIEWER_VARIABLE = "CXR_REVIEWER"


def local_reviewer_name(configured: str | None = None) -> str:
    """The local reviewer's name: ``configured`` (``CXR_REVIEWER``), else the login name, reduced to the
    characters a reviewer name may hold; ``"local"`` when nothing is left."""
    name = configured or getpass.getuser() or "local"
    return re.sub(r"[^A-Za-z0-9._@-]", "", name)[:64] or "local"


class ReviewService:
    """Reviews of the dashboard's studies, for the reviewer of the current request.

    Args:
        store: The review database.
        explainer: The dashboard's explainer (its cache holds the explanations the reviewer sees).
        resolver: Finds a picked study (bundled, or an upload of the page's session).
        authenticated: True when every request carries a checked basic-auth user (``--auth-file``).
        local_reviewer: The reviewer's name otherwise.
    """

    def __init__(self, store: ReviewStore, explainer: StudyExplainer, resolver: StudyResolver,
                 authenticated: bool, local_reviewer: str) -> None:
        self.store = store
        self.explainer = explainer
        self.resolver = resolver
        self.authenticated = authenticated
        self.local_reviewer = local_reviewer
        self.fingerprint = explainer.bundle.fingerprint

    def reviewer(self) -> str:
        """Who makes the current request: the basic-auth user with ``--auth-file``, else the local reviewer.

        Raises:
            ReviewError: authentication is on but the request carries no user (cannot happen behind the hook).
        """
        if not self.authenticated:
            return self.local_reviewer
        authorization = request.authorization if has_request_context() else None
        if authorization is None or not authorization.username:
            raise ReviewError("sign in to review")
        return authorization.username

    def study_record(self, study_id: str | None, session_id: str | None,
                     settings: ExplanationSettings) -> StudyRecord:
        """The picked study as the reviewer sees it explained.

        Raises:
            ReviewError: the id is unknown to this page (including another session's upload), or the study has
                no explanation yet.
        """
        source = self.resolver.source(study_id, session_id)
        if source is None:
            raise ReviewError(f"study {str(study_id)[:80]!r} is not one this page can open, so it cannot be reviewed")
        return self._record(source.study_id, source.title, source.image_bytes, source.report_text, settings)

    def content_hash(self, study_id: str | None, session_id: str | None) -> str | None:
        """The picked study's content hash (None: not one this page can open)."""
        source = self.resolver.source(study_id, session_id)
        return None if source is None else _content_hash(source.image_bytes, source.report_text)

    def _record(self, study_id: str, title: str, image_bytes: bytes, report_text: str,
                settings: ExplanationSettings) -> StudyRecord:
        explanation = self.explainer.cached(image_bytes, report_text, settings)
        if explanation is None:
            raise ReviewError("the explanation is still being computed; your marks are saved when it is shown")
        attribution_map = explanation.attribution.image_attribution
        mapping = explanation.prepared.mapping
        if attribution_map is None:  # a text-only model: no circles
            sweep = {"thresholds": [], "circles": []}
            width, height = _image_size(image_bytes)
        else:
            sweep = circle_sweep(attribution_map, mapping, explanation.link_distance, settings.min_points)
            width, height = sweep["image"]["width"], sweep["image"]["height"]
        return StudyRecord(_content_hash(image_bytes, report_text), self.fingerprint, title, width, height,
                           float(explanation.attribution.probability), sweep)

    def bundled_content_hashes(self) -> dict[str, str]:
        """``{study id: content hash}`` of the bundled studies (for the worklist; computed once)."""
        return _bundled_hashes(self.resolver)


@functools.lru_cache(maxsize=512)
def _content_hash(image_bytes: bytes, report_text: str) -> str:
    return study_content_hash(image_bytes, report_text)


@functools.cache
def _bundled_hashes(resolver: StudyResolver) -> dict[str, str]:
    collection = resolver.collection
    return {study_id: _content_hash(collection.image_path(study_id).read_bytes(), study.report_text)
            for study_id, study in collection.studies.items()}


def _image_size(image_bytes: bytes) -> tuple[int, int]:
    from cxrmodel.imaging import decode_image  # noqa: PLC0415 - only for text-only models

    pixels = decode_image(image_bytes).pixels
    return int(pixels.shape[1]), int(pixels.shape[0])
