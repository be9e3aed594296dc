"""Explanations computed off the request path: a Dash background callback with a progress bar and Cancel.

Owns the ids ``progress`` (dbc.Progress), ``progress-panel`` (shown while a job computes),
``cancel-explanation`` (button), ``explanation-request`` (dcc.Store: what the job is asked to explain),
``explanation-phase`` (dcc.Store: the phase the job has finished), ``explanation-ready`` (dcc.Store),
``explanation-switch-cancel`` (dcc.Store: cancels a running job when another study is picked),
``explanation-cancelled`` (the "cancelled" panel with ``restart-explanation``, a button) and ``explanation-status``
(alerts).

The flow: picking a study runs the study view's plain server callback, which draws a cached study at once and
never touches a background job (no process, no polling: components.study_view). Only for a study the cache does
not have does it write ``explanation-request`` (``{"study", "at"}``), which starts :func:`run_explanation`, a
background job (DiskcacheManager: a separate process, so no request thread and no other user waits on it). The
job shows the progress panel and computes into the shared cache in phases (:func:`explain_in_phases`), each
drawn as it lands:

1. the integrated gradients (the film, P, the circles and the words): ``explanation-phase`` becomes
   ``{"study", "request", "phase": "circles"}`` and the study view draws the study from the cache while the
   evidence line says it is being checked;
2. the deletion evidence at the reader's sight sensitivity (``"phase": "evidence"``): the evidence line, the
   verdict and the word check are filled in (components.study_view's evidence refresh, no redraw of the film);
3. the evidence at every other slider threshold; then ``explanation-ready`` (``{"study", "finished", "request",
   "phase": "complete"}``).

The browser passes each phase on only while the same study is still picked (components.study_loading). A study
whose attribution is cached but whose evidence is not complete is drawn at once and the job computes only the
evidence. Cancel stops the job's process and says so, with a Restart button; picking
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
from dash import Input, Output, Patch, State, dcc, html, no_update

from components.evidence_view import EVIDENCE_CANCELLED_TEXT
from components.server.uploads import is_upload_id
from components.session import SESSION_ID
from components.study_browser import STUDY_PICKER_ID
from components.threshold_control import CIRCLE_SWEEP_ID
from components.xray_view import XRAY_GRAPH_ID

logger = logging.getLogger(__name__)

PROGRESS_ID = "progress"
PROGRESS_PANEL_ID = "progress-panel"
CANCEL_ID = "cancel-explanation"
EXPLANATION_REQUEST_ID = "explanation-request"
EXPLANATION_READY_ID = "explanation-ready"
EXPLANATION_PHASE_ID = "explanation-phase"
PHASE_CIRCLES = "circles"
"""The gradients are cached: the film, P, the circles and the words can be drawn."""
PHASE_EVIDENCE = "evidence"
"""The deletion evidence at the reader's sight sensitivity is cached."""
PHASE_COMPLETE = "complete"
"""Everything is cached: the evidence at every slider threshold too (``explanation-ready``)."""
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
            dcc.Store(id=EXPLANATION_PHASE_ID),
            dcc.Store(id=SWITCH_CANCEL_ID),
        ]
    )


def explanation_request(study_id: str, sight_sensitivity: float | None = None) -> dict:
    """The ``explanation-request`` value that starts a job for ``study_id`` (a new one every time: ``at``);
    ``sight_sensitivity`` is the reader's tau, whose evidence is computed first (None: the bundle's default)."""
    return {"study": study_id, "at": time.time(), "sight_sensitivity": sight_sensitivity}


def cancelled_evidence_message(title: str) -> str:
    """What the page says after Cancel while only the evidence was still being computed."""
    return (f"The deletion check of {title} was cancelled; the circles and words are drawn, the check is not. "
            "Press Restart to compute it.")


EVIDENCE_CURRENT_WORDS = "Checking the evidence: removing these circles and words…"
EVIDENCE_REST_WORDS = "Checking the evidence at the other sight sensitivities…"
_PHASE_SPANS = ((0.0, 0.8), (0.8, 0.9), (0.9, 1.0))
"""The share of the progress bar each phase fills (gradients, evidence at tau, the rest)."""


def explain_in_phases(attribute: Callable[[str, Callable[[float, str], None]], object],
                      progress: Callable[[float, str], None], phase_done: Callable[[str], None],
                      with_evidence: bool = True) -> None:
    """Compute a study's explanation into the cache in the phases the page draws (the module docstring).

    Args:
        attribute: ``attribute(evidence_scope, progress)`` computes the attribution (taken from the cache when it
            is there) with the deletion evidence of ``evidence_scope`` ("none", "current", "all"), completing what
            the cache holds (:meth:`cxrmodel.explain.StudyExplainer.attribute`).
        progress: ``progress(fraction of the whole, message)``.
        phase_done: Called with :data:`PHASE_CIRCLES`, then :data:`PHASE_EVIDENCE`, as each lands.
        with_evidence: False = the gradients only (an explainer that computes no evidence).
    """
    def spanned(index: int, words: str | None) -> Callable[[float, str], None]:
        start, end = _PHASE_SPANS[index]

        def report(fraction: float, message: str) -> None:
            progress(start + (end - start) * max(0.0, min(1.0, fraction)), words or message)

        return report

    attribute("none", spanned(0, None))
    phase_done(PHASE_CIRCLES)
    if not with_evidence:
        return
    # The evidence is batches of forward passes that report nothing of their own: each phase says when it starts.
    for index, scope, words, landed in ((1, "current", EVIDENCE_CURRENT_WORDS, PHASE_EVIDENCE),
                                        (2, "all", EVIDENCE_REST_WORDS, None)):
        report = spanned(index, words)
        report(0.0, words)
        attribute(scope, report)
        report(1.0, words)
        if landed is not None:
            phase_done(landed)


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
    compute: Callable[..., None],
    *,
    request_at: float | None = None,
    always_ready: bool = False,
    sight_sensitivity: float | None = None,
) -> tuple:
    """Body of the background job: (``explanation-ready`` value, status alert).

    Args:
        set_progress: Dash's progress setter, called with (percent, label, progress panel style,
            ``explanation-phase`` value: None until the first phase has landed).
        study_id: The picked study.
        session_id: The page's session id (uploads are only found for their own session).
        resolve: Study id -> (image bytes, report), or None.
        is_cached: True when the study's explanation is complete in the cache (then nothing is shown or done).
        compute: ``compute(image_bytes, report_text, progress, phase_done, sight_sensitivity)`` computes and
            caches the explanation, reporting ``progress(fraction, message)`` and each phase that has landed
            (``phase_done(name)``, :func:`explain_in_phases`).
        request_at: The request's ``at``, echoed in the result (so the page knows which request it answers).
        always_ready: Answer a cached study with ``explanation-ready`` too (the study view is then drawn through
            the job: the old path, kept for benchmarks/cached_open_browser_benchmark.py's baseline).
        sight_sensitivity: The reader's tau (the evidence computed first).
    """
    if not study_id:
        return no_update, no_update
    source = resolve(study_id, session_id)
    if source is None:
        return no_update, no_update  # the study view says why
    image_bytes, report_text = source
    finished = {"study": study_id, "request": request_at, "phase": PHASE_COMPLETE}
    if is_cached(image_bytes, report_text):
        if always_ready:
            return {**finished, "finished": time.time()}, None
        return no_update, no_update
    # Every progress report carries the latest phase: Dash hands the page only the last report of each poll.
    shown: dict = {"percent": 3, "label": "Starting the explanation…", "phase": None}
    set_progress((shown["percent"], shown["label"], SHOWN, shown["phase"]))

    def report(fraction: float, message: str) -> None:
        shown.update(percent=int(5 + 90 * max(0.0, min(1.0, fraction))), label=readable_progress(message))
        set_progress((shown["percent"], shown["label"], SHOWN, shown["phase"]))

    started = time.perf_counter()

    def phase_done(phase: str) -> None:
        shown["phase"] = {"study": study_id, "request": request_at, "phase": phase}
        logger.info("explanation phase %s landed after %.2f s", phase, time.perf_counter() - started)
        set_progress((shown["percent"], shown["label"], SHOWN, shown["phase"]))

    try:
        compute(image_bytes, report_text, report, phase_done, sight_sensitivity)
    except Exception:  # noqa: BLE001 - a failing job becomes an alert; the server keeps serving
        logger.exception("explaining a study failed")
        return no_update, dbc.Alert("The explanation failed; see the server log.", color="danger")
    logger.info("explained a study in a background job in %.1f s", time.perf_counter() - started)
    return {**finished, "finished": time.time()}, None


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
                       placeholder_figure: Callable[[str], object] | None = None,
                       attribution_cached: Callable[[bytes, str], bool] | None = None) -> None:
    """The background job and what Cancel shows.

    Args:
        app: The Dash app (created with a ``background_callback_manager``).
        resolve: See :data:`Resolver`.
        is_cached: ``is_cached(image_bytes, report_text)``: the explanation is complete in the cache (evidence
            included); runs in the job's process.
        compute: See :func:`run_explanation`; runs in the job's process.
        attribution_cached: ``attribution_cached(image_bytes, report_text)``: the circles can be drawn; used on
            Cancel in the web process (a study whose circles are drawn keeps them; its evidence is cancelled).
            None = ``is_cached``.
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
        progress=[Output(PROGRESS_ID, "value"), Output(PROGRESS_ID, "label"), Output(PROGRESS_PANEL_ID, "style"),
                  Output(EXPLANATION_PHASE_ID, "data")],
        progress_default=[0, "", HIDDEN, None],
        cancel=[Input(CANCEL_ID, "n_clicks"), Input(SWITCH_CANCEL_ID, "data")],
        interval=500,
        prevent_initial_call=True,
    )
    def explain_in_background(set_progress, request, session_id):
        if not isinstance(request, dict):
            return no_update, no_update
        return run_explanation(set_progress, request.get("study"), session_id, resolve, is_cached, compute,
                               request_at=request.get("at"), always_ready=always_ready,
                               sight_sensitivity=request.get("sight_sensitivity"))

    figure_output = [Output(XRAY_GRAPH_ID, "figure", allow_duplicate=True)] if placeholder_figure is not None else []
    drawable = attribution_cached or is_cached

    @app.callback(
        Output(CANCELLED_ID, "style"),
        Output(CANCELLED_TEXT_ID, "children"),
        Output(CIRCLE_SWEEP_ID, "data", allow_duplicate=True),
        *figure_output,
        Input(CANCEL_ID, "n_clicks"),
        State(EXPLANATION_REQUEST_ID, "data"),
        State(SESSION_ID, "data"),
        State(STUDY_PICKER_ID, "value"),
        prevent_initial_call=True,
    )
    def cancelled(_clicks, request, session_id, picked):
        return cancelled_outputs(request, session_id, picked, resolve, is_cached, placeholder_figure, drawable)


def cancelled_outputs(request, session_id, picked, resolve: Resolver, is_cached, placeholder_figure=None,
                      attribution_cached: Callable[[bytes, str], bool] | None = None) -> tuple:
    """(cancelled panel style, its text, circle sweep[, viewer figure]) after a click on Cancel.

    Nothing changes when the job's study is no longer the one picked, or is already complete in the cache (the
    click came too late). A study whose circles are drawn (``attribution_cached``) keeps them: only its evidence is
    cancelled, and the evidence line says so (a patch of the sweep's ``evidence_missing_text``).
    """
    unchanged = (no_update, no_update, no_update) + ((no_update,) if placeholder_figure is not None else ())
    study_id = request.get("study") if isinstance(request, dict) else None
    if not study_id or study_id != picked:
        return unchanged
    source = resolve(study_id, session_id)
    if source is None or is_cached(*source):
        return unchanged
    title = title_of(study_id)
    if attribution_cached is not None and attribution_cached(*source):
        sweep = Patch()
        sweep["evidence_missing_text"] = EVIDENCE_CANCELLED_TEXT
        return (SHOWN, cancelled_evidence_message(title), sweep) + (
            (no_update,) if placeholder_figure is not None else ())
    outputs = (SHOWN, cancelled_message(title), no_update)
    if placeholder_figure is not None:
        outputs += (placeholder_figure(cancelled_placeholder(title)),)
    return outputs


def title_of(study_id: str) -> str:
    """How a study is named in the progress messages: its id, or "the uploaded study" for an upload id."""
    return "the uploaded study" if is_upload_id(study_id) else study_id
