"""Out of distribution means out of the way: for an image the model cannot judge, no numbers until asked.

The decision is :class:`cxrmodel.explain.Disclosure` (one per study, taken by every output: this page's panels,
the exports, the CLI and the model worker); this module is its page side. From the explanation document's
``distribution`` and the reader's **Show anyway** (:func:`disclosure`):

* :data:`SHOW` — the image looks like the training films: everything, as before.
* :data:`WITHHOLD` — ``in_distribution`` is False: P(abnormal), the verdict badge (and the heading that names it),
  the circles and the attribution overlays, the region and word deletion evidence, the modality ledger, the
  what-if, the model comparison and the stability badge are not sent to the browser at all. The notice says
  plainly that the model cannot judge this image, why (the check's ``reasons``) and, when the check names one,
  which trust profile judged it; its **Show anyway** button records the study in the ``shown-anyway`` store, and
  the panels are drawn again with everything shown, under "Shown anyway: …" (no "hidden" wording any more). The
  exports read the same store. The picker's label never gets the probability.
* :data:`REFUSE` — ``refuse`` is True or the view check (``distribution["view"]``, or a top-level
  ``document["view"]``) says the film is not frontal: the refusal message only, no numbers, no circles, no
  words, and no way to show them. Uploads are refused before they are explained
  (:func:`upload_refusal`, called by components.upload_panel on Analyze).

Whatever the verdict, an **uploaded** film explained by a bundle whose card says ``synthetic: true`` carries a
warning that the model has never seen a real radiograph (:func:`synthetic_upload_warning`).

Owns the ids ``shown-anyway`` (dcc.Store ``{"study": id}``: the study the reader chose to see anyway; content
for any other study never counts as shown anyway: :func:`shown_anyway_for`), the pattern-matching
``{"type": "cxr-show-anyway", "study": id}`` (the button, only inside a withheld prediction card) and
``{"type": "cxr-withheld", "study": id}`` (the notice).
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from collections.abc import Callable
from typing import Any

import dash_bootstrap_components as dbc
import plotly.graph_objects as go
from dash import ALL, ClientsideFunction, Input, Output, State, dcc, html, no_update

from components import report_view, research_tools
from components.verdict_view import VERDICT_ID
from components.xray_view import CIRCLE_TRACE_NAME, OVERLAY_IMAGE_NAME, POINTS_TRACE_NAME
from cxrmodel.explain import (
    REFUSE,
    SHOW,
    WITHHOLD,
    Disclosure,
    ExplanationSettings,
    explanation_document,
    study_distribution,
)
from cxrmodel.explain.disclosure import (
    DEFAULT_REFUSAL,
    NOT_JUDGED_HEADING,
    SHOWN_ANYWAY_STAMP,
    SHOWN_ANYWAY_TEXT,
    WITHHELD_TEXT,
)
from cxrmodel.imaging import decode_image

logger = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_REFUSAL",
    "CachedDisclosures",
    "REFUSE",
    "SHOW",
    "SHOWN_ANYWAY_ID",
    "SHOWN_ANYWAY_STAMP",
    "SHOWN_ANYWAY_TEXT",
    "WITHHELD_HEADING",
    "WITHHELD_TEXT",
    "WITHHOLD",
    "decide",
    "disclosure",
    "gate_panel",
    "layout",
    "refusal",
    "register_callbacks",
    "shown_anyway_for",
    "shown_probability",
    "upload_refusal",
    "upload_screen",
]

SHOWN_ANYWAY_ID = "shown-anyway"
SHOW_ANYWAY_TYPE = "cxr-show-anyway"
WITHHELD_TYPE = "cxr-withheld"
CLIENTSIDE_NAMESPACE = "cxr"

WITHHELD_HEADING = NOT_JUDGED_HEADING
REFUSED_HEADING = "Not explained"
SYNTHETIC_UPLOAD_TEXT = ("This demo model was trained on computer-generated phantoms only and has never seen a real "
                         "radiograph: whatever it shows for an uploaded film is not a judgement of that film.")


def layout() -> dcc.Store:
    """The ``shown-anyway`` store (one per page, empty until Show anyway is pressed)."""
    return dcc.Store(id=SHOWN_ANYWAY_ID, data=None)


def shown_anyway_for(store: Any, study_id: str | None) -> bool:
    """True when the ``shown-anyway`` store names ``study_id`` (a value for another study never counts)."""
    return bool(study_id) and isinstance(store, dict) and store.get("study") == study_id


def disclosure(document: dict, shown_anyway: bool = False) -> Disclosure:
    """The study's :class:`~cxrmodel.explain.Disclosure`: its gate verdict and the reader's Show anyway."""
    return Disclosure.of(document, shown_anyway=shown_anyway)


def refusal(document: dict) -> str | None:
    """The message when the model must not be run on this image at all (a non-frontal view), else None (pure)."""
    decided = Disclosure.of(document, shown_anyway=False)
    return decided.not_judged_reason if decided.decision == REFUSE else None


def decide(document: dict) -> str:
    """:data:`SHOW`, :data:`WITHHOLD` or :data:`REFUSE` for an explanation document (pure)."""
    return Disclosure.of(document, shown_anyway=False).decision


def synthetic_upload_warning(document: dict, is_upload: bool) -> dbc.Alert | None:
    """The "has never seen a real radiograph" warning for an upload explained by a synthetic bundle, else None."""
    if not (is_upload and (document.get("model") or {}).get("synthetic")):
        return None
    return dbc.Alert(SYNTHETIC_UPLOAD_TEXT, color="danger", className="small mb-2 py-2 synthetic-upload-warning")


def _reasons(decided: Disclosure) -> html.Ul | None:
    return html.Ul([html.Li(reason) for reason in decided.reasons], className="mb-0 mt-1") if decided.reasons else None


def _judged_by(decided: Disclosure) -> html.Div | None:
    if not decided.judged_by:
        return None
    return html.Div(f"Judged by: {decided.judged_by}", className="small text-muted mt-1 judged-by")


def withheld_children(decided: Disclosure, prediction: list, study_id: str, warning: dbc.Alert | None = None) -> list:
    """The prediction card of a :data:`WITHHOLD` study.

    Before Show anyway: the warning, the notice ("… they are hidden") and the button; ``prediction`` is not
    drawn (nothing of it reaches the browser). After: the notice "Shown anyway: …" above ``prediction``.
    """
    # Before Show anyway "cannot judge" is the study's verdict, so the heading carries the verdict's id; after it
    # the card below has its own verdict line.
    heading = (html.Strong(WITHHELD_HEADING) if decided.shown_anyway
               else html.Strong(WITHHELD_HEADING, id=VERDICT_ID))
    notice = [heading, html.Div(decided.notice(), className="mt-1"), _reasons(decided), _judged_by(decided)]
    if decided.can_show_anyway:
        notice.append(dbc.Button("Show anyway", id={"type": SHOW_ANYWAY_TYPE, "study": study_id}, color="warning",
                                 outline=True, size="sm", className="mt-2"))
    state = "distribution-shown-anyway" if decided.shown_anyway else "distribution-withheld"
    alert = dbc.Alert([item for item in notice if item is not None], id={"type": WITHHELD_TYPE, "study": study_id},
                      color="warning", className=f"small mb-2 py-2 {state}")
    return [item for item in (warning, alert) if item is not None] + (list(prediction) if decided.shown_anyway
                                                                       else [])


def refused_children(message: str) -> list:
    """The prediction card of a :data:`REFUSE` study: the refusal, nothing else."""
    return [dbc.Alert([html.Strong(REFUSED_HEADING, id=VERDICT_ID), html.Div(message, className="mt-1")],
                      color="danger", className="small mb-0 py-2 distribution-refused")]


def _without_circles(figure: Any) -> Any:
    """The X-ray figure with no circle shapes, circle-centre markers, signal points or attribution overlay."""
    if not isinstance(figure, go.Figure):
        return figure
    stripped = go.Figure(figure)
    stripped.layout.shapes = ()
    stripped.layout.images = [image for image in stripped.layout.images if image.name != OVERLAY_IMAGE_NAME]
    for trace in stripped.data:
        if trace.name in (CIRCLE_TRACE_NAME, POINTS_TRACE_NAME):
            trace.update(x=[], y=[], hovertext=[])
            if trace.name == CIRCLE_TRACE_NAME:
                trace.hoverlabel.bordercolor = []
    return stripped


def gate_panel(panel: Any, document: dict, study_id: str, is_upload: bool, decided: Disclosure | None = None) -> Any:
    """The study panel of an explained study, with what the disclosure withholds or refuses taken out.

    Args:
        panel: A :class:`components.presenter.StudyPanel` built for the explanation (built by the presenter
            with ``decided``, so a withheld study's numbers are not in it; taken out here again all the same).
        document: Its explanation document.
        study_id: The study (the ids of the Show anyway button and of the notice).
        is_upload: True for an uploaded film (the synthetic-bundle warning).
        decided: The study's disclosure; None = the document's gate, not shown anyway.
    """
    decided = decided or disclosure(document)
    warning = synthetic_upload_warning(document, is_upload)
    if decided.decision == SHOW:
        # Which limits found the film like the training films: the bundle's own trust profile, an override, or
        # the built-in limits (a film is only as "in distribution" as the profile that judged it).
        # A film that could not be checked (no reference film, no fitted profile) says so and why.
        judged_by = ([html.Div(f"Film not checked: {'; '.join(decided.reasons)}", className="small text-warning "
                               "mt-1 judged-by")] if decided.reasons else
                     [html.Div(f"Film checked against: {decided.judged_by}", className="small text-muted mt-1 "
                               "judged-by")] if decided.judged_by else [])
        if warning is None and not judged_by:
            return panel
        return dataclasses.replace(panel, prediction_children=[item for item in (warning,) if item is not None]
                                   + [*panel.prediction_children, *judged_by])
    if decided.decision == WITHHOLD:
        logger.info("study %s: the model cannot judge it (%s)%s", study_id,
                    (document.get("distribution") or {}).get("failed"), "; shown anyway" if decided.shown_anyway
                    else "")
        prediction = withheld_children(decided, panel.prediction_children, study_id, warning)
        if decided.shown_anyway:
            return dataclasses.replace(panel, prediction_children=prediction)
        sweep_chart = (research_tools.sweep_chart_figure({"thresholds": [], "circles": []}, None, 0.0)
                       if panel.sweep_chart is not no_update else no_update)
        return dataclasses.replace(panel, xray_figure=_without_circles(panel.xray_figure), circle_sweep=None,
                                   prediction_children=prediction, sweep_chart=sweep_chart)
    words_figure = report_view.empty_words_figure() if panel.words_figure is not no_update else no_update
    sweep_chart = (research_tools.sweep_chart_figure({"thresholds": [], "circles": []}, None, 0.0)
                   if panel.sweep_chart is not no_update else no_update)
    return dataclasses.replace(
        panel, xray_figure=_without_circles(panel.xray_figure), circle_sweep=None,
        words_figure=words_figure, strongest_words=None if panel.strongest_words is not no_update else no_update,
        prediction_children=[item for item in (warning,) if item is not None]
        + refused_children(decided.not_judged_reason or DEFAULT_REFUSAL),
        sweep_chart=sweep_chart)


def shown_probability(document: dict) -> float | None:
    """P(abnormal) for the picker's label (the calibrated one when the bundle has it), or None when the model
    cannot judge the film (shown anyway or not: the picker carries no stamp)."""
    if not disclosure(document).judged:
        return None
    calibrated = document.get("calibrated_probability")
    return document["probability"] if calibrated is None else calibrated


class _NotExplained(LookupError):
    """The study is not in the explanation cache (raised, so that the per-study memo does not keep the miss)."""


class CachedDisclosures:
    """The disclosure of a study from its cached explanation, for the outputs that have no document at hand (the
    what-if, the stability badge): the cache read, the document and its distribution check once per study, not
    once per what-if edit.

    Args:
        explainer: Reads the explanation cache (never computes).
        memo_size: Studies remembered.
    """

    def __init__(self, explainer, memo_size: int = 16) -> None:
        self.explainer = explainer
        self._read = functools.lru_cache(maxsize=memo_size)(self._verdict)

    def _verdict(self, image_bytes: bytes, report_text: str) -> tuple[Disclosure, float]:
        settings = ExplanationSettings()
        explanation = self.explainer.cached(image_bytes, report_text, settings)
        if explanation is None:
            raise _NotExplained()
        document = explanation_document(self.explainer.bundle, explanation, settings)
        return disclosure(document), float(explanation.attribution.probability)

    def __call__(self, image_bytes: bytes, report_text: str, shown_anyway: bool = False) -> Disclosure | None:
        """The study's disclosure with the reader's Show anyway, or None when it is not explained yet."""
        try:
            decided, _probability = self._read(image_bytes, report_text)
        except _NotExplained:
            return None
        return decided.with_shown_anyway(shown_anyway)

    def probability(self, image_bytes: bytes, report_text: str) -> float:
        """The model output P(abnormal) of the explained study (ask :meth:`__call__` first whether it may be shown).

        Raises:
            LookupError: the study is not explained yet.
        """
        return self._read(image_bytes, report_text)[1]


def upload_refusal(check: dict) -> str | None:
    """The refusal message of an upload's distribution check (``DistributionCheck.to_dict()``), or None."""
    decided = Disclosure.from_distribution(check)
    return decided.not_judged_reason if decided.decision == REFUSE else None


def upload_screen(bundle) -> Callable[[bytes, str], str | None]:
    """``screen(image_bytes, report) -> refusal message or None`` for the upload form (components.upload_panel):
    the film on the bundle's model grid, through the same check as the explanation document
    (:func:`cxrmodel.explain.study_distribution`, which includes the view check), before anything is explained.
    TensorFlow-free: the web process runs it."""

    def screen(image_bytes: bytes, report_text: str) -> str | None:
        if not bundle.reads_image:
            return None  # a text-only model never reads the film, so no film is refused for it
        check = study_distribution(bundle, bundle.prepare(decode_image(image_bytes).pixels, report_text))
        message = upload_refusal(check or {})
        if message:
            logger.info("an upload was refused before explaining: %s", (check or {}).get("kind"))
        return message

    return screen


def register_callbacks(app) -> None:
    """Show anyway: the pressed button's study goes into the ``shown-anyway`` store, in the browser; the study
    callback, the details, the what-if, the per-study checks and the exports read it from there."""
    app.clientside_callback(
        ClientsideFunction(namespace=CLIENTSIDE_NAMESPACE, function_name="showAnyway"),
        Output(SHOWN_ANYWAY_ID, "data"),
        Input({"type": SHOW_ANYWAY_TYPE, "study": ALL}, "n_clicks"),
        State({"type": SHOW_ANYWAY_TYPE, "study": ALL}, "id"),
        prevent_initial_call=True,
    )
