"""Uploaded studies kept per browser session on disk (web-session state, not a visual piece).

:class:`UploadStore` keeps the studies that :func:`cxrmodel.inputs.validate_upload` accepted on disk (so several
server processes and the background-job processes see them) under an unguessable id *and* the uploading
session's id: :meth:`UploadStore.get` with another session's id finds nothing, so one browser session can never
list or open another's upload. :func:`new_session_id` makes the per-page-load session id (components.session).
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import secrets
from pathlib import Path

import diskcache

from cxrmodel.inputs import UploadedStudy, UploadError

logger = logging.getLogger(__name__)

UPLOAD_ID_PREFIX = "upload-"
"""Every upload id starts with this, so it can never collide with a bundled study id."""

DEFAULT_MAX_AGE_SECONDS = 24 * 3600
"""How long an upload is kept on disk (it is deleted afterwards)."""

_UPLOAD_ID_PATTERN = re.compile(r"^upload-[A-Za-z0-9_-]{16,64}$")


def is_upload_id(study_id: str | None) -> bool:
    """True when ``study_id`` has the shape of an upload id (it says nothing about who may open it)."""
    return bool(study_id) and bool(_UPLOAD_ID_PATTERN.match(study_id))


def new_session_id() -> str:
    """An unguessable browser-session id (128 bits from the OS's CSPRNG)."""
    return secrets.token_urlsafe(16)


class UploadStore:
    """Uploaded studies on disk, each visible only to the session that uploaded it.

    Entries are keyed by ``(sha256(session id), upload id)``; both ids are random, 128 bits or more. Entries
    expire after ``max_age_seconds`` (diskcache's expiry; expired entries are culled on writes).
    """

    def __init__(self, directory: str | os.PathLike, max_age_seconds: float = DEFAULT_MAX_AGE_SECONDS) -> None:
        self.directory = Path(directory)
        self.max_age_seconds = float(max_age_seconds)
        self._cache = diskcache.Cache(str(self.directory))

    @staticmethod
    def _key(session_id: str, upload_id: str) -> tuple[str, str]:
        return hashlib.sha256(session_id.encode("utf-8")).hexdigest(), upload_id

    def add(self, session_id: str, study: UploadedStudy) -> str:
        """Store an accepted upload for ``session_id``; returns its new upload id."""
        if not session_id:
            raise UploadError("this page has no session; reload the page and upload again")
        upload_id = UPLOAD_ID_PREFIX + secrets.token_urlsafe(16)
        record = {
            "image_bytes": study.image_bytes,
            "report_text": study.report_text,
            "filename": study.filename,
            "created": study.created,
        }
        self._cache.set(self._key(session_id, upload_id), record, expire=self.max_age_seconds)
        self._cache.expire()
        logger.info("stored upload %s… (%d bytes)", upload_id[:12], len(study.image_bytes))
        return upload_id

    def get(self, session_id: str | None, upload_id: str | None) -> UploadedStudy | None:
        """The upload if it exists *and* belongs to ``session_id``; None otherwise (including expired)."""
        if not session_id or not is_upload_id(upload_id):
            return None
        record = self._cache.get(self._key(session_id, upload_id))
        if not isinstance(record, dict):
            return None
        return UploadedStudy(
            image_bytes=record["image_bytes"],
            report_text=record["report_text"],
            filename=record["filename"],
            created=record["created"],
        )

    def close(self) -> None:
        """Close the underlying disk cache."""
        self._cache.close()
