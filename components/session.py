"""The browser session: one unguessable id per page load, kept in the page (never in a cookie or a URL).

Owns the id ``session-id`` (dcc.Store, memory storage). Uploads and their explanations are stored under this id
(:class:`components.server.uploads.UploadStore`), so another page load — another user, or the same user in
another tab — can neither list nor open them. Reloading the page starts a new session.
"""

from __future__ import annotations

from dash import dcc

from components.server.uploads import new_session_id

SESSION_ID = "session-id"


def layout() -> dcc.Store:
    """A store holding a fresh session id; call it from a layout *function* so every page load gets its own."""
    return dcc.Store(id=SESSION_ID, data=new_session_id(), storage_type="memory")
