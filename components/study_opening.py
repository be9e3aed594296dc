"""What the study callback does for one trigger: draw a cached study at once, or ask a background job for it.

A cached study is drawn by the study callback itself, a plain server callback (no background job, no process,
no polling). Only a study the cache does not have gets the "Explaining…" placeholder and an
``explanation-request`` for the background job (components.explanation_progress); the job's result comes back
as ``study-refresh`` (components.study_loading) and is drawn only when it is for the study still picked.

The radiograph, circles, prediction and report come first, tagged with their study (``shown-study-tag``,
components.study_loading); the word heatmap, the strongest words and the sweep chart (about a third of the
server's and the browser's work for a study) are left as they are in that response (a loading state in the
browser until theirs arrive, tagged ``details-study-tag``) and filled by a second, small callback on
``shown-study`` (:func:`details_outputs`), so the circles are on screen sooner. That second response is drawn
only while its study is the one picked and shown.

:func:`open_study` is the whole decision, pure apart from reading the cache; the callback wiring is in
components.study_view. Its result is :class:`StudyOutputs`: the :class:`~components.presenter.StudyPanel` plus the
stores the callback also sets.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass, fields
from typing import Any

import dash_bootstrap_components as dbc
from dash import Output, no_update

from components import explanation_progress, presenter, study_loading
from components.presenter import (
    StudyPanel,
    StudyResolver,
    drawn_study,
    empty_details,
    empty_panel,
    gated_before_explaining,
    study_details,
)
from cxrmodel.explain import ExplanationSettings, StudyExplainer

logger = logging.getLogger(__name__)

PICKED, REFRESH, RESTART, CONTROLS = "picked", "refresh", "restart", "controls"
"""What triggered the study callback: a pick (or the page load), a finished job, Restart, a clustering control."""

EXPLAINING_MESSAGE = "Explaining {title}… (integrated gradients, see the progress bar)"
CACHED_OPEN_VIA_JOB_ENV = "CXR_CACHED_OPEN_VIA_JOB"
"""Set to 1 to open cached studies through the background job, the old path: only the baseline of
benchmarks/cached_open_browser_benchmark.py uses it."""


@dataclass(frozen=True)
class StudyOutputs:
    """Everything the study callback sets: the panel, then the stores, in the callback's output order.

    Attributes:
        panel: The study panel (components.presenter.StudyPanel).
        shown_study: ``{"study": id, "drawn": bool}`` of the content this response draws (``shown-study.data``;
            ``drawn``: an explanation, not a placeholder); the same study goes into ``shown-study-tag``, the tag of
            that content in the page.
        request: A new ``explanation-request`` for the background job, or ``no_update``.
        switch_cancel: A value that cancels a running job (``explanation-switch-cancel.data``), or ``no_update``.
        cancelled_style: The style of the "cancelled" panel (hidden once a study is picked or restarted).
    """

    panel: StudyPanel
    shown_study: Any = no_update
    request: Any = no_update
    switch_cancel: Any = no_update
    cancelled_style: Any = no_update

    @staticmethod
    def outputs() -> list[Output]:
        """The study callback's outputs: the panel's, then the stores', then the study tag."""
        return [
            *StudyPanel.outputs(),
            Output(study_loading.SHOWN_STUDY_ID, "data"),
            Output(explanation_progress.EXPLANATION_REQUEST_ID, "data"),
            Output(explanation_progress.SWITCH_CANCEL_ID, "data"),
            Output(explanation_progress.CANCELLED_ID, "style", allow_duplicate=True),
            Output(study_loading.SHOWN_STUDY_TAG_ID, "children"),
        ]

    @classmethod
    def dropped(cls) -> StudyOutputs:
        """A response that changes nothing (it was for a study no longer picked)."""
        return cls(StudyPanel.unchanged())

    def as_tuple(self) -> tuple:
        """The values in output order; the tag names the study of ``shown_study`` (unchanged when it is)."""
        shown_tag = (no_update if self.shown_study is no_update
                     else study_loading.tag((self.shown_study or {}).get("study")))
        return self.panel.as_tuple() + tuple(getattr(self, item.name) for item in fields(self)[1:]) + (shown_tag,)


def trigger_of(triggered: Any, refresh_id: str, restart_id: str, control_ids: tuple[str, ...]) -> str:
    """:data:`PICKED`, :data:`REFRESH`, :data:`RESTART` or :data:`CONTROLS` from what triggered the callback.

    Args:
        triggered: Dash's ``triggered_id``, or the ids of every input that fired together (a list: the values of
            ``callback_context.triggered_prop_ids``). A pick (or the page load: no id) among them wins: an input
            that changed in the same render as the picker must not turn the pick into a redraw of the study
            shown, which would start no explanation for it.
        refresh_id: ``study-refresh`` (a finished job).
        restart_id: The Restart button.
        control_ids: Inputs that redraw the study shown (clustering controls, Show anyway).
    """
    ids = list(triggered) if isinstance(triggered, (list, tuple)) else [triggered]
    if not ids or any(item not in (refresh_id, restart_id, *control_ids) for item in ids):
        return PICKED
    if refresh_id in ids:
        return REFRESH
    if restart_id in ids:
        return RESTART
    return CONTROLS


def open_study(
    trigger: str,
    study_id: str | None,
    refresh: dict | None,
    session_id: str | None,
    settings: ExplanationSettings,
    options: list[dict] | None,
    explainer: StudyExplainer,
    resolver: StudyResolver,
    *,
    job_may_be_running: bool = False,
    cached_open_via_job: bool = False,
    shown_anyway: bool = False,
) -> StudyOutputs:
    """The study callback's outputs for one trigger (see the module docstring).

    Args:
        trigger: What triggered the callback (:func:`trigger_of`).
        study_id: The picked study (the picker's value now).
        refresh: ``study-refresh``: the finished job's ``{"study", ...}`` (for :data:`REFRESH`).
        session_id: The page's session (uploads are only found for their own session).
        settings: From the slider and the clustering controls.
        options: The picker's options (a drawn study's probability is added to its label).
        explainer: Reads the cache (never computes here).
        resolver: Finds the study.
        job_may_be_running: A job of an earlier request may still run: a pick that needs none cancels it.
        cached_open_via_job: Open cached studies through the job too (the benchmark baseline's old path).
        shown_anyway: The reader pressed Show anyway for this study (components.distribution_gate).
    """
    if trigger == REFRESH and not (isinstance(refresh, dict) and refresh.get("study") == study_id):
        return StudyOutputs.dropped()  # a job for another study than the one picked now
    new_pick = trigger in (PICKED, RESTART)
    hide_cancelled = explanation_progress.HIDDEN if new_pick else no_update
    source = resolver.source(study_id, session_id)
    needs_job = source is not None and trigger != REFRESH and (
        (cached_open_via_job and new_pick)
        or not explainer.is_cached(source.image_bytes, source.report_text, ExplanationSettings()))
    tau = settings.sight_sensitivity
    if needs_job:
        if cached_open_via_job and new_pick and explainer.is_cached(source.image_bytes, source.report_text,
                                                                    ExplanationSettings()):
            # The old path: nothing is drawn until the job has answered (the page stays "Loading…").
            return StudyOutputs(StudyPanel.unchanged(),
                                request=explanation_progress.explanation_request(study_id, tau),
                                cancelled_style=hide_cancelled)
        # Phase (a): a film the model cannot judge says so at once, before any gradient. A withheld one is still
        # explained in the background (for Show anyway and the exports; its numbers stay hidden), a refused one
        # (not a frontal view) never.
        gated = gated_before_explaining(source, explainer, shown_anyway)
        if gated is not None:
            if gated.explain and new_pick:
                return StudyOutputs(gated.panel, study_loading.shown(study_id),
                                    explanation_progress.explanation_request(study_id, tau), no_update,
                                    hide_cancelled)
            cancel = {"at": time.time()} if new_pick and job_may_be_running else no_update
            return StudyOutputs(gated.panel, study_loading.shown(study_id), no_update, cancel, hide_cancelled)
        panel = empty_panel(EXPLAINING_MESSAGE.format(title=source.title))
        # A pick starts the job; so does Show anyway on a gated film whose job is no longer running (cancelled).
        starts = new_pick or (trigger == CONTROLS and shown_anyway and not job_may_be_running)
        request = explanation_progress.explanation_request(study_id, tau) if starts else no_update
        return StudyOutputs(panel, study_loading.shown(study_id), request, no_update, hide_cancelled)
    started = time.perf_counter()
    drawn = drawn_study(study_id, session_id, trigger == REFRESH, settings, options, explainer, resolver,
                        details=False, shown_anyway=shown_anyway, source=source)
    logger.debug("study %s drawn in %.0f ms (%s)", study_id, (time.perf_counter() - started) * 1000.0, trigger)
    if new_pick and drawn.evidence_pending:
        # Drawn from the cache, its evidence still to compute (a job cancelled after the circles): the job
        # computes only the evidence, and the page fills it in as it lands.
        request = explanation_progress.explanation_request(study_id, tau)
        return StudyOutputs(drawn.panel, study_loading.shown(study_id, drawn.drawn), request, no_update,
                            hide_cancelled)
    cancel = {"at": time.time()} if new_pick and job_may_be_running else no_update
    return StudyOutputs(drawn.panel, study_loading.shown(study_id, drawn.drawn), no_update, cancel, hide_cancelled)


def details_outputs(
    shown_study: dict | None,
    picked: str | None,
    session_id: str | None,
    settings: ExplanationSettings,
    explainer: StudyExplainer,
    resolver: StudyResolver,
    shown_anyway: bool = False,
) -> tuple:
    """(words figure, strongest words, sweep chart, ``details-study-tag``) for the study just drawn: empty ones
    when it has none to draw (not explained yet, or unknown), or four ``no_update`` when it is not the picked one
    any more (what is there stays, behind the loading state of the picked one).
    ``shown_anyway``: the reader pressed Show anyway for this study."""
    study_id = shown_study.get("study") if isinstance(shown_study, dict) else None
    if study_id != picked:
        return no_update, no_update, no_update, no_update
    details = study_details(study_id, session_id, settings, explainer, resolver, shown_anyway)
    return (*(empty_details() if details is None else details), study_loading.tag(study_id))


def evidence_outputs(
    refresh: dict | None,
    picked: str | None,
    shown_study: dict | None,
    session_id: str | None,
    settings: ExplanationSettings,
    explainer: StudyExplainer,
    resolver: StudyResolver,
    shown_anyway: bool = False,
) -> tuple:
    """(circle sweep patch, prediction card, strongest words) when a later phase of the job has added evidence to
    the study on screen (``evidence-refresh``: ``{"study", "request", "phase"}``); three ``no_update`` when that
    study is no longer the one picked and drawn, or has nothing to fill in
    (:func:`components.presenter.evidence_outputs`)."""
    study_id = refresh.get("study") if isinstance(refresh, dict) else None
    shown = shown_study.get("study") if isinstance(shown_study, dict) else None
    if not study_id or study_id != picked or study_id != shown:
        return no_update, no_update, no_update
    filled = presenter.evidence_outputs(study_id, session_id, settings, explainer, resolver, shown_anyway)
    return (no_update, no_update, no_update) if filled is None else filled


def details_failed(shown_study: dict | None, picked: str | None) -> tuple:
    """What the second step sets when drawing the details raised: empty ones, tagged with their study (so that the
    page shows them rather than a loading state for ever), or nothing when that study is not the picked one."""
    study_id = shown_study.get("study") if isinstance(shown_study, dict) else None
    if study_id != picked:
        return no_update, no_update, no_update, no_update
    return (*empty_details(), study_loading.tag(study_id))


def failed(study_id: str | None) -> StudyOutputs:
    """What the page shows when drawing a study raised: nothing of the previous study, and an alert."""
    alert = dbc.Alert("Could not show this study; see the server log.", color="danger")
    return StudyOutputs(dataclasses.replace(empty_panel("Could not show this study."), study_error=alert),
                        study_loading.shown(study_id))
