"""Explanations computed off the request path: a Dash background callback with a progress bar and Cancel.

Owns the ids ``progress`` (dbc.Progress), ``progress-panel`` (shown while a job computes),
``cancel-explanation`` (button), ``explanation-ready`` (dcc.Store) and ``explanation-status`` (alerts).

The flow: picking a study triggers both the study view (which draws the explanation at once when the on-disk
cache has it, else a "being explained" placeholder) and :func:`run_explanation`, a background job
(DiskcacheManager: a separate process, so no request thread and no other user waits on it). The job returns
at once when the study is cached; otherwise it shows the progress panel, computes the integrated gradients
into the shared cache, reporting each integration level, and writes ``explanation-ready``, on which the
study view draws the study from the cache. Cancel stops the job's process. (The job is triggered by the picker,
not by the study view: a study view -> job -> study view chain would be a circular callback graph.)
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import dash_bootstrap_components as dbc
from dash import Input, Output, State, dcc, html, no_update

from components.session import SESSION_ID
from components.study_browser import STUDY_PICKER_ID

logger = logging.getLogger(__name__)

PROGRESS_ID = "progress"
PROGRESS_PANEL_ID = "progress-panel"
CANCEL_ID = "cancel-explanation"
EXPLANATION_READY_ID = "explanation-ready"
EXPLANATION_STATUS_ID = "explanation-status"

HIDDEN = {"display": "none"}
SHOWN = {"display": "block"}

Resolver = Callable[[str, str | None], tuple[bytes, str] | None]
"""``resolve(study_id, session_id) -> (image bytes, report text)`` or None when the study is not this session's."""


def layout() -> html.Div:
    """Progress bar and Cancel (hidden until a job runs), the two stores, and a place for job errors."""
    return html.Div(
        [
            html.Div(
                dbc.Row(
                    [
                        dbc.Col(dbc.Progress(id=PROGRESS_ID, value=0, label="", striped=True, animated=True,
                                             style={"height": "22px"}), className="align-self-center"),
                        dbc.Col(dbc.Button("Cancel", id=CANCEL_ID, color="secondary", size="sm", outline=True),
                                width="auto"),
                    ],
                    className="g-2",
                ),
                id=PROGRESS_PANEL_ID,
                style=HIDDEN,
                className="mb-2",
            ),
            html.Div(id=EXPLANATION_STATUS_ID),
            dcc.Store(id=EXPLANATION_READY_ID),
        ]
    )


def run_explanation(
    set_progress: Callable[[tuple], None],
    study_id: str | None,
    session_id: str | None,
    resolve: Resolver,
    is_cached: Callable[[bytes, str], bool],
    compute: Callable[[bytes, str, Callable[[float, str], None]], None],
) -> tuple:
    """Body of the background job: (``explanation-ready`` value, status alert).

    Args:
        set_progress: Dash's progress setter, called with (percent, label, progress panel style).
        study_id: The picked study.
        session_id: The page's session id (uploads are only found for their own session).
        resolve: Study id -> (image bytes, report), or None.
        is_cached: True when the study's explanation is already in the cache (then nothing is shown or done).
        compute: Computes and caches the explanation, reporting (fraction, message).
    """
    if not study_id:
        return no_update, no_update
    source = resolve(study_id, session_id)
    if source is None:
        return no_update, no_update  # the study view says why
    image_bytes, report_text = source
    if is_cached(image_bytes, report_text):
        return no_update, no_update
    set_progress((3, "loading the model…", SHOWN))

    def report(fraction: float, message: str) -> None:
        set_progress((int(5 + 90 * max(0.0, min(1.0, fraction))), message, SHOWN))

    started = time.perf_counter()
    try:
        compute(image_bytes, report_text, report)
    except Exception:  # noqa: BLE001 - a failing job becomes an alert; the server keeps serving
        logger.exception("explaining a study failed")
        return no_update, dbc.Alert("The explanation failed; see the server log.", color="danger")
    logger.info("explained a study in a background job in %.1f s", time.perf_counter() - started)
    return {"study": study_id, "finished": time.time()}, None


def register_callbacks(app, resolve: Resolver, is_cached, compute) -> None:
    """The background job and the Cancel message.

    Args:
        app: The Dash app (created with a ``background_callback_manager``).
        resolve: See :data:`Resolver`.
        is_cached: ``is_cached(image_bytes, report_text)``; runs in the job's process.
        compute: ``compute(image_bytes, report_text, progress)``; runs in the job's process.
    """

    @app.callback(
        Output(EXPLANATION_READY_ID, "data"),
        Output(EXPLANATION_STATUS_ID, "children"),
        Input(STUDY_PICKER_ID, "value"),
        State(SESSION_ID, "data"),
        background=True,
        # The panel is shown by the first progress report, so a cached study never flashes it; Dash puts the
        # progress outputs back to these defaults (panel hidden) when the job ends or is cancelled.
        progress=[Output(PROGRESS_ID, "value"), Output(PROGRESS_ID, "label"), Output(PROGRESS_PANEL_ID, "style")],
        progress_default=[0, "", HIDDEN],
        cancel=[Input(CANCEL_ID, "n_clicks")],
        interval=500,
        prevent_initial_call=False,
    )
    def explain_in_background(set_progress, study_id, session_id):
        return run_explanation(set_progress, study_id, session_id, resolve, is_cached, compute)

    @app.callback(
        Output(EXPLANATION_STATUS_ID, "children", allow_duplicate=True),
        Input(CANCEL_ID, "n_clicks"),
        prevent_initial_call=True,
    )
    def cancelled(_clicks):
        return dbc.Alert("Explanation cancelled. Pick the study again to restart it.", color="secondary",
                         dismissable=True, className="py-2")
