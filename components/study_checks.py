"""The server side of a per-study check beside the explanation: read from the cache when a study is shown, or
computed by a background job when its button is pressed.

The stability badge (components.stability_check) and the model comparison (components.model_comparison) work the
same way: a ``dcc.Store`` whose value names its study, filled by a plain callback from the explanation cache as
soon as a study is shown (no TensorFlow in the web process), and by a background job on the check's button
(progress shown; cancelled when another study is shown, so the previous study's result never replaces the new
one's). A failure is logged and becomes a value the page can draw in words; the server keeps serving.

Both callbacks read the ``shown-anyway`` store (components.distribution_gate) and tell the check whether the reader
pressed Show anyway for this very study: a check of a study the model cannot judge stores no numbers unless so.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from dash import Input, Output, State, no_update

from components import distribution_gate, study_loading
from components.session import SESSION_ID

logger = logging.getLogger(__name__)

Source = tuple[bytes, str]
"""(image bytes, report text) of a study, as the resolver gives them."""


def register_study_check(
    app,
    *,
    data_id: str,
    button_id: str,
    progress_id: str,
    resolve: Callable[[str, str | None], Source | None],
    read_cached: Callable[[str, Source, bool], dict | None],
    compute: Callable[[str, Source, Callable[[str], None], bool], dict],
    failed: Callable[[str], dict],
    starting: str,
    name: str,
) -> None:
    """Register the check's two server callbacks.

    Args:
        app: The Dash app (with a background callback manager).
        data_id: The check's ``dcc.Store``.
        button_id: The button that starts the background job (disabled while it runs).
        progress_id: Where the job's progress line is written.
        resolve: ``resolve(study_id, session_id) -> (image bytes, report text) | None``.
        read_cached: ``(study_id, source, shown_anyway) -> store value | None`` from the cache only (the web
            process); ``shown_anyway``: the reader pressed Show anyway for this study.
        compute: ``(study_id, source, say, shown_anyway) -> store value`` in the job's process; ``say(text)``
            shows progress.
        failed: ``study_id -> store value`` when ``compute`` raised.
        starting: The progress line shown when the job starts.
        name: The check in words, for the log.
    """

    @app.callback(
        Output(data_id, "data"),
        Input(study_loading.SHOWN_STUDY_PAINTED_ID, "data"),
        State(SESSION_ID, "data"),
        State(distribution_gate.SHOWN_ANYWAY_ID, "data"),
        prevent_initial_call=True,
    )
    def from_cache(shown, session_id, shown_anyway):
        study_id = shown.get("study") if isinstance(shown, dict) else None
        try:
            source = resolve(study_id, session_id) if study_id else None
            return None if source is None else read_cached(
                study_id, source, distribution_gate.shown_anyway_for(shown_anyway, study_id))
        except Exception:  # noqa: BLE001 - nothing drawn rather than a broken page
            logger.exception("reading the %s failed", name)
            return None

    @app.callback(
        Output(data_id, "data", allow_duplicate=True),
        Input(button_id, "n_clicks"),
        State(study_loading.SHOWN_STUDY_ID, "data"),
        State(SESSION_ID, "data"),
        State(distribution_gate.SHOWN_ANYWAY_ID, "data"),
        background=True,
        progress=[Output(progress_id, "children")],
        progress_default=[""],
        running=[(Output(button_id, "disabled"), True, False)],
        # Another study shown: the job for the previous one is stopped (its result would name that study and never
        # be drawn, but it would replace the new study's store value).
        cancel=[Input(study_loading.SHOWN_STUDY_ID, "data")],
        interval=500,
        prevent_initial_call=True,
    )
    def in_background(set_progress, clicks, shown, session_id, shown_anyway):
        study_id = shown.get("study") if isinstance(shown, dict) else None
        if not clicks or not study_id:
            return no_update
        source = resolve(study_id, session_id)
        if source is None:
            return no_update
        set_progress([starting])
        try:
            return compute(study_id, source, lambda text: set_progress([text]),
                           distribution_gate.shown_anyway_for(shown_anyway, study_id))
        except Exception:  # noqa: BLE001 - the job reports a failure in words, the page keeps working
            logger.exception("%s failed for %s", name, study_id)
            return failed(study_id)
