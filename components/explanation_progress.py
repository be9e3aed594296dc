"""Explanations computed off the request path: a Dash background callback with a progress bar and Cancel.

Owns the ids ``progress`` (dbc.Progress), ``progress-panel`` (shown while a job computes),
``cancel-explanation`` (button), ``explanation-request`` (dcc.Store: what the job is asked to explain),
``explanation-ready`` (dcc.Store), ``explanation-switch-cancel`` (dcc.Store: cancels a running job when another
study is picked), ``explanation-cancelled`` (the "cancelled" panel with ``restart-explanation``, a button) and
``explanation-status`` (alerts).

The flow: picking a study runs the study view's plain server callback, which draws a cached study at once and
never touches a background job (no process, no polling: components.study_view). Only for a study the cache does
not have does it write ``explanation-request`` (``{"study", "at"}``), which starts :func:`run_explanation`, a
background job (DiskcacheManager: a separate process, so no request thread and no other user waits on it). The
job shows the progress panel, computes the integrated gradients into the shared cache, reporting each
integration level, and writes ``explanation-ready`` (``{"study", "finished", "request"}``); the browser passes that
on to the study view only while the same study is still picked (components.study_loading), and the study view
then draws it from the cache. Cancel stops the job's process and says so, with a Restart button; picking
another study cancels a running job too (``explanation-switch-cancel``). (The job's result reaches the study
view through the browser, not as a callback input: study view -> job -> study view would be a circular callback
graph.)
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable

import dash_bootstrap_components as dbc
from dash import Input, Output, State, dcc, html, no_update

from components.server.uploads import is_upload_id
from components.session import SESSION_ID
from components.study_browser import STUDY_PICKER_ID
from components.xray_view import XRAY_GRAPH_ID

logger = logging.getLogger(__name__)

PROGRESS_ID = "progress"
PROGRESS_PANEL_ID = "progress-panel"
CANCEL_ID = "cancel-explanation"
EXPLANATION_REQUEST_ID = "explanation-request"
EXPLANATION_READY_ID = "explanation-ready"
EXPLANATION_STATUS_ID = "explanation-status"
SWITCH_CANCEL_ID = "explanation-switch-cancel"
CANCELLED_ID = "explanation-cancelled"
CANCELLED_TEXT_ID = "explanation-cancelled-text"
RESTART_ID = "restart-explanation"

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
            html.Div(
                dbc.Alert(
                    [html.Span(id=CANCELLED_TEXT_ID, className="me-2"),
                     dbc.Button("Restart", id=RESTART_ID, color="primary", size="sm", outline=True)],
                    color="secondary", className="py-2 mb-0 d-flex align-items-center",
                ),
                id=CANCELLED_ID, style=HIDDEN, className="mb-2",
            ),
            html.Div(id=EXPLANATION_STATUS_ID),
            dcc.Store(id=EXPLANATION_REQUEST_ID),
            dcc.Store(id=EXPLANATION_READY_ID),
            dcc.Store(id=SWITCH_CANCEL_ID),
        ]
    )


def explanation_request(study_id: str) -> dict:
    """The ``explanation-request`` value that starts a job for ``study_id`` (a new one every time: ``at``)."""
    return {"study": study_id, "at": time.time()}


def job_may_be_running(request: dict | None, ready: dict | None) -> bool:
    """True when the latest request has not been answered by ``explanation-ready`` (it may still compute, or have
    been cancelled or failed; a cancel then is harmless)."""
    if not isinstance(request, dict):
        return False
    return not (isinstance(ready, dict) and ready.get("request") == request.get("at"))


def cancelled_message(title: str) -> str:
    """What the page says after Cancel."""
    return f"The explanation of {title} was cancelled; nothing was computed for it."


def cancelled_placeholder(title: str) -> str:
    """What the viewer shows after Cancel, instead of "Explaining…"."""
    return f"{title} was not explained (cancelled). Press Restart above, or pick another study."


def run_explanation(
    set_progress: Callable[[tuple], None],
    study_id: str | None,
    session_id: str | None,
    resolve: Resolver,
    is_cached: Callable[[bytes, str], bool],
    compute: Callable[[bytes, str, Callable[[float, str], None]], None],
    *,
    request_at: float | None = None,
    always_ready: bool = False,
) -> tuple:
    """Body of the background job: (``explanation-ready`` value, status alert).

    Args:
        set_progress: Dash's progress setter, called with (percent, label, progress panel style).
        study_id: The picked study.
        session_id: The page's session id (uploads are only found for their own session).
        resolve: Study id -> (image bytes, report), or None.
        is_cached: True when the study's explanation is already in the cache (then nothing is shown or done).
        compute: Computes and caches the explanation, reporting (fraction, message).
        request_at: The request's ``at``, echoed in the result (so the page knows which request it answers).
        always_ready: Answer a cached study with ``explanation-ready`` too (the study view is then drawn through
            the job: the old path, kept for benchmarks/cached_open_browser_benchmark.py's baseline).
    """
    if not study_id:
        return no_update, no_update
    source = resolve(study_id, session_id)
    if source is None:
        return no_update, no_update  # the study view says why
    image_bytes, report_text = source
    if is_cached(image_bytes, report_text):
        if always_ready:
            return {"study": study_id, "finished": time.time(), "request": request_at}, None
        return no_update, no_update
    set_progress((3, "Starting the explanation…", SHOWN))

    def report(fraction: float, message: str) -> None:
        set_progress((int(5 + 90 * max(0.0, min(1.0, fraction))), readable_progress(message), SHOWN))

    started = time.perf_counter()
    try:
        compute(image_bytes, report_text, report)
    except Exception:  # noqa: BLE001 - a failing job becomes an alert; the server keeps serving
        logger.exception("explaining a study failed")
        return no_update, dbc.Alert("The explanation failed; see the server log.", color="danger")
    logger.info("explained a study in a background job in %.1f s", time.perf_counter() - started)
    return {"study": study_id, "finished": time.time(), "request": request_at}, None


INTEGRATING_WORDS = "Tracing the decision back to the film and the report…"
COMPUTING_WORDS = "Computing the explanation…"
_INTEGRATION_LEVEL = re.compile(r"^\d+ steps: completeness error")


def readable_progress(message: str) -> str:
    """The progress bar's words for a clinician, from what the computation reports.

    An integration level ("32 steps: completeness error 0.7%") becomes plain words (the server log keeps the
    numbers); anything naming an internal address is replaced, the detail logged. Other messages are already
    written for the page and pass unchanged.
    """
    if _INTEGRATION_LEVEL.match(message):
        return INTEGRATING_WORDS
    if "http://" in message or "127.0.0.1" in message:
        logger.info("explanation progress (not shown): %s", message)
        return COMPUTING_WORDS
    return message


def register_callbacks(app, resolve: Resolver, is_cached, compute, *, always_ready: bool = False,
                       placeholder_figure: Callable[[str], object] | None = None) -> None:
    """The background job and what Cancel shows.

    Args:
        app: The Dash app (created with a ``background_callback_manager``).
        resolve: See :data:`Resolver`.
        is_cached: ``is_cached(image_bytes, report_text)``; runs in the job's process (and in the web process on
            Cancel: a study that is already cached is not "cancelled").
        compute: ``compute(image_bytes, report_text, progress)``; runs in the job's process.
        always_ready: See :func:`run_explanation` (the benchmark baseline's old path).
        placeholder_figure: ``message -> figure`` of the X-ray viewer, shown after Cancel (None: left as is).
    """

    @app.callback(
        Output(EXPLANATION_READY_ID, "data"),
        Output(EXPLANATION_STATUS_ID, "children"),
        Input(EXPLANATION_REQUEST_ID, "data"),
        State(SESSION_ID, "data"),
        background=True,
        # The panel is shown by the first progress report; Dash puts the progress outputs back to these defaults
        # (panel hidden) when the job ends or is cancelled.
        progress=[Output(PROGRESS_ID, "value"), Output(PROGRESS_ID, "label"), Output(PROGRESS_PANEL_ID, "style")],
        progress_default=[0, "", HIDDEN],
        cancel=[Input(CANCEL_ID, "n_clicks"), Input(SWITCH_CANCEL_ID, "data")],
        interval=500,
        prevent_initial_call=True,
    )
    def explain_in_background(set_progress, request, session_id):
        if not isinstance(request, dict):
            return no_update, no_update
        return run_explanation(set_progress, request.get("study"), session_id, resolve, is_cached, compute,
                               request_at=request.get("at"), always_ready=always_ready)

    figure_output = [Output(XRAY_GRAPH_ID, "figure", allow_duplicate=True)] if placeholder_figure is not None else []

    @app.callback(
        Output(CANCELLED_ID, "style"),
        Output(CANCELLED_TEXT_ID, "children"),
        *figure_output,
        Input(CANCEL_ID, "n_clicks"),
        State(EXPLANATION_REQUEST_ID, "data"),
        State(SESSION_ID, "data"),
        State(STUDY_PICKER_ID, "value"),
        prevent_initial_call=True,
    )
    def cancelled(_clicks, request, session_id, picked):
        return cancelled_outputs(request, session_id, picked, resolve, is_cached, placeholder_figure)


def cancelled_outputs(request, session_id, picked, resolve: Resolver, is_cached, placeholder_figure=None) -> tuple:
    """(cancelled panel style, its text[, viewer figure]) after a click on Cancel.

    Nothing changes when the job's study is no longer the one picked, or is already in the cache (the click came
    too late: the study is being drawn).
    """
    unchanged = (no_update, no_update) + ((no_update,) if placeholder_figure is not None else ())
    study_id = request.get("study") if isinstance(request, dict) else None
    if not study_id or study_id != picked:
        return unchanged
    source = resolve(study_id, session_id)
    if source is None or is_cached(*source):
        return unchanged
    title = title_of(study_id)
    outputs = (SHOWN, cancelled_message(title))
    if placeholder_figure is not None:
        outputs += (placeholder_figure(cancelled_placeholder(title)),)
    return outputs


def title_of(study_id: str) -> str:
    """How a study is named in the progress messages: its id, or "the uploaded study" for an upload id."""
    return "the uploaded study" if is_upload_id(study_id) else study_id
