"""What if? Strike report words, edit the report or remove circled regions, and see P(abnormal) change (issue #19).

Owns the ids ``what-if-report`` (the editable copy of the report, pre-filled with it; re-predicted 300 ms after
typing stops), ``what-if-probability`` (the new P(abnormal), model output, three decimals, first number in the
element, beside the original), ``what-if-reset``, ``what-if-struck`` (dcc.Store: indices of the struck words,
into the report's words as :func:`cxrmodel.text.tokenize_report` gives them — the word heatmap's ``customdata``),
``what-if-removed`` (dcc.Store: the removed circles, original-image pixels), ``what-if-study`` (the study the
card is about), ``what-if-card`` and ``what-if-study-tag`` (the card's study tag, written with every answer:
components.study_loading shows the card only while that study is picked).

* Clicking a word in the report heatmap strikes it (drawn ``<s>struck</s>`` in the browser by
  ``cxr.strikeWords``, assets/what_if.js); clicking it again restores it. The editable copy becomes the report
  without the struck words (free edits are kept until the next strike, which rebuilds it from the report).
* Clicking a circle on the radiograph removes that region: its pixels take the explanation's reference image
  (:mod:`cxrmodel.imaging.masking`); clicking it again restores it.
* Each change asks the model (``predict(image bytes, report text, shown_anyway) -> {"probability", ...}``: the
  long-lived model worker, components.server.model_worker) and shows the new P beside the original, with where
  the change came from (the image half is unchanged by a report edit and the other way round).
* A study the model cannot judge (its :class:`cxrmodel.explain.Disclosure`) gets no probability, neither the
  original nor a new one, unless the reader pressed Show anyway for it (the ``shown-anyway`` store,
  components.distribution_gate): then every answer is stamped "Shown anyway" and the worker is asked with
  ``shown_anyway``. An edited film the worker itself cannot judge gets no probability either.
* "Reset" restores the report and the film. Switching studies resets everything; every answer names its study.

A model that cannot be reached gives a clear message, never a traceback; the page keeps working.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

import dash_bootstrap_components as dbc
import numpy as np
from dash import ClientsideFunction, Input, Output, State, callback_context, dcc, html, no_update

from components import report_view, study_loading
from components.distribution_gate import SHOWN_ANYWAY_ID, shown_anyway_for
from components.session import SESSION_ID
from components.threshold_control import CIRCLE_SWEEP_ID, SIGHT_SENSITIVITY_ID, nearest_threshold_index
from components.xray_view import XRAY_GRAPH_ID
from cxrmodel.text import tokenize_report

logger = logging.getLogger(__name__)

WHAT_IF_REPORT_ID = "what-if-report"
WHAT_IF_PROBABILITY_ID = "what-if-probability"
WHAT_IF_RESET_ID = "what-if-reset"
WHAT_IF_STRUCK_ID = "what-if-struck"
WHAT_IF_REMOVED_ID = "what-if-removed"
WHAT_IF_STUDY_ID = "what-if-study"
WHAT_IF_CARD_ID = "what-if-card"
WHAT_IF_STUDY_TAG_ID = "what-if-study-tag"
CLIENTSIDE_NAMESPACE = "cxr"

MAX_REPORT_CHARACTERS = 20_000
"""Longest edited report sent to the model (longer text is refused with a message; the model reads 140 words)."""

DEBOUNCE_MS = 300
SHOWN_ANYWAY_PREFIX = "Shown anyway: "
"""The stamp of a what-if answer about a study the model cannot judge, shown anyway."""


class WhatIfWithheld(Exception):
    """The study's numbers are withheld or refused (its :class:`cxrmodel.explain.Disclosure`, not shown anyway):
    the what-if shows none."""

    message = ("the model cannot judge this image (see the notice above), so the what-if shows no probability "
               "for it")


class WhatIfNotExplained(Exception):
    """The study is not explained yet: the what-if starts from its explanation."""


def layout() -> dbc.Card:
    """The what-if card: the editable report, the new P, Reset."""
    return dbc.Card(
        dbc.CardBody(
            [
                html.Div([html.Span("What if? ", className="fw-semibold"),
                          html.Span(id=WHAT_IF_STUDY_ID, className="small text-muted")]),
                html.Div("Click a word in the report to strike it, or a circle on the film to remove that region; "
                         "or edit the report below.", className="small text-muted mb-1"),
                dbc.Textarea(id=WHAT_IF_REPORT_ID, rows=4, debounce=DEBOUNCE_MS, className="small",
                             maxLength=MAX_REPORT_CHARACTERS * 10),
                html.Div(
                    [html.Div(id=WHAT_IF_PROBABILITY_ID, className="small mt-1 flex-grow-1", role="status",
                              **{"aria-live": "polite"}),
                     dbc.Button("Reset", id=WHAT_IF_RESET_ID, size="sm", color="secondary", outline=True,
                                className="ms-2 mt-1")],
                    className="d-flex align-items-start",
                ),
                dcc.Store(id=WHAT_IF_STRUCK_ID, data=[]),
                dcc.Store(id=WHAT_IF_REMOVED_ID, data=[]),
                study_loading.tag_element(WHAT_IF_STUDY_TAG_ID),
            ]
        ),
        id=WHAT_IF_CARD_ID,
        className="mt-3 what-if",
    )


def report_without(report: str, struck: list[int]) -> str:
    """The report with the struck words (indices into :func:`tokenize_report`'s words) cut out (pure)."""
    tokens = tokenize_report(report)
    spans = sorted((tokens[index].start, tokens[index].end) for index in set(struck) if 0 <= index < len(tokens))
    pieces, cursor = [], 0
    for start, end in spans:
        pieces.append(report[cursor:start])
        cursor = end
    pieces.append(report[cursor:])
    return re.sub(r"[ \t]{2,}", " ", "".join(pieces))


def toggled(values: list, value) -> list:
    """``values`` with ``value`` added, or removed when it is there (pure)."""
    return [item for item in values if item != value] if value in values else [*values, value]


def clicked_word(click: dict | None) -> int | None:
    """The word index of a click on the report heatmap (its cell's customdata), or None."""
    try:
        value = click["points"][0]["customdata"]
    except (KeyError, IndexError, TypeError):
        return None
    return int(value) if isinstance(value, (int, float)) and value >= 0 else None


def clicked_circle(click: dict | None, sweep: dict | None, sight_sensitivity: float | None) -> dict | None:
    """The circle (``{"x", "y", "r"}``, image pixels) of a click on a circle's centre marker, or None."""
    try:
        point = click["points"][0]
        index = int(point["pointIndex"] if "pointIndex" in point else point["pointNumber"])
        x, y = float(point["x"]), float(point["y"])
    except (KeyError, IndexError, TypeError, ValueError):
        return None
    if not sweep or not sweep.get("thresholds"):
        return None
    at = nearest_threshold_index(sweep["thresholds"], sight_sensitivity)
    circles = sweep["circles"][at] if at >= 0 else []
    if not 0 <= index < len(circles):
        return None
    circle = circles[index]
    if abs(circle["x"] - x) > 1e-6 or abs(circle["y"] - y) > 1e-6:  # another trace's point
        return None
    return {"x": circle["x"], "y": circle["y"], "r": circle["r"]}


def probability_children(study_title: str, original: float, new: float, report_changed: bool,
                         regions_removed: int, shown_anyway: bool = False) -> list:
    """``"P 0.245 (was 0.987; −0.742, all from the report: the image is unchanged)"`` as components (pure);
    prefixed "Shown anyway:" for a study the model cannot judge that the reader chose to see."""
    change = new - original
    if report_changed and regions_removed:
        source = f"from the edited report and {regions_removed} removed region{'s' if regions_removed != 1 else ''}"
    elif report_changed:
        source = "all from the report: the image is unchanged"
    elif regions_removed:
        source = (f"all from the image ({regions_removed} region{'s' if regions_removed != 1 else ''} removed): "
                  "the report is unchanged")
    else:
        source = "nothing changed"
    stamp = ([html.Span(SHOWN_ANYWAY_PREFIX, className="fw-semibold text-warning-emphasis what-if-shown-anyway")]
             if shown_anyway else [])
    return [*stamp, html.Span(f"{new:.3f}", className="fw-semibold what-if-value"),
            html.Span(f" P(abnormal), model output, for {study_title} (was {original:.3f}; "
                      f"{change:+.3f}, {source})", className="text-muted")]


def what_if_children(title: str, source: tuple[bytes, str], edited: str | None, removed: list, shown_anyway: bool,
                     original: Callable, predict: Callable, masked_film: Callable) -> Any:
    """What the card says for one edit of one study (pure apart from the callables).

    Args:
        title: How the page names the study.
        source: (image bytes, report) of the study.
        edited: The edited report (None: unchanged).
        removed: The removed circles.
        shown_anyway: The reader pressed Show anyway for this study (components.distribution_gate).
        original, predict, masked_film: See :func:`register_callbacks`.
    """
    image_bytes, report = source
    edited = report if edited is None else str(edited)
    try:
        try:
            before = original(image_bytes, report, shown_anyway)
        except WhatIfWithheld as withheld:
            return html.Span(f"What-if off: {withheld.message}.", className="text-muted")
        except WhatIfNotExplained:
            return "Explain the study first: the what-if starts from its explanation."
        if edited == report and not removed:
            return probability_children(title, before, before, False, 0, shown_anyway)
        if len(edited) > MAX_REPORT_CHARACTERS:
            return (f"The edited report has {len(edited):,} characters; the model reads at most 140 words, "
                    f"so keep it under {MAX_REPORT_CHARACTERS:,} characters.")
        film = masked_film(image_bytes, report, removed) if removed else image_bytes
        answer = predict(film, edited, shown_anyway)
    except Exception as error:  # noqa: BLE001 - any failure is a message on the page, never a traceback
        message = getattr(error, "message", None) or "the model could not be asked"
        logger.warning("what-if for %s failed: %s", title, error)
        rejected = getattr(error, "status", None) in (400, 413)  # the input, not the worker
        prefix = "The model cannot read this edit" if rejected else "What-if unavailable"
        return html.Span(f"{prefix}: {message}", className="text-danger")
    if answer.get("probability") is None:  # the worker judged the edited film and withheld its answer
        reason = answer.get("not_judged_reason") or "it does not look like the films the model was trained on"
        return html.Span(f"The model cannot judge the edited film, so the what-if shows no probability for it "
                         f"(not judged: {reason}).", className="text-muted")
    children = probability_children(title, before, float(answer["probability"]), edited != report, len(removed),
                                    shown_anyway or answer.get("shown_anyway") is True)
    if answer.get("note"):  # e.g. the model worker was restarted while answering
        children.append(html.Div(f"Model worker: {answer['note']}", className="small text-warning-emphasis"))
    return children


def register_callbacks(app, resolve: Callable, original: Callable, predict: Callable, masked_film: Callable,
                       title_of: Callable) -> None:
    """The what-if callbacks.

    Args:
        app: The Dash app.
        resolve: ``(study_id, session_id) -> (image bytes, report text) | None``.
        original: ``(image bytes, report, shown_anyway) -> P(abnormal) of the explanation shown`` (from the
            cache); raises :class:`WhatIfNotExplained`, or :class:`WhatIfWithheld` when the study's disclosure
            does not show the what-if.
        predict: ``(image bytes, report, shown_anyway) -> {"probability", ...}`` (the model worker's answer:
            ``probability`` None for a film it cannot judge, unless shown anyway); raises ``ModelWorkerError``
            with a message.
        masked_film: ``(image bytes, report, circles) -> PNG bytes`` of the film with those regions replaced.
        title_of: ``study id -> how the page names it``.
    """

    @app.callback(
        Output(WHAT_IF_REPORT_ID, "value"),
        Output(WHAT_IF_STRUCK_ID, "data"),
        Output(WHAT_IF_REMOVED_ID, "data"),
        Input(study_loading.SHOWN_STUDY_PAINTED_ID, "data"),
        Input(WHAT_IF_RESET_ID, "n_clicks"),
        Input(report_view.WORDS_GRAPH_ID, "clickData"),
        Input(XRAY_GRAPH_ID, "clickData"),
        State(WHAT_IF_STRUCK_ID, "data"),
        State(WHAT_IF_REMOVED_ID, "data"),
        State(CIRCLE_SWEEP_ID, "data"),
        State(SIGHT_SENSITIVITY_ID, "value"),
        State(SESSION_ID, "data"),
        prevent_initial_call=True,
    )
    def edit(shown, _reset, word_click, film_click, struck, removed, sweep, tau, session_id):
        study_id = shown.get("study") if isinstance(shown, dict) else None
        source = resolve(study_id, session_id) if study_id else None
        if source is None:
            return "", [], []
        report = source[1]
        trigger = callback_context.triggered_id
        if trigger == report_view.WORDS_GRAPH_ID:
            index = clicked_word(word_click)
            if index is None:
                return no_update, no_update, no_update
            struck = toggled(list(struck or []), index)
            return report_without(report, struck), struck, no_update
        if trigger == XRAY_GRAPH_ID:
            circle = clicked_circle(film_click, sweep, tau)
            if circle is None:
                return no_update, no_update, no_update
            return no_update, no_update, toggled(list(removed or []), circle)
        return report, [], []  # a new study shown, or Reset

    @app.callback(
        Output(WHAT_IF_PROBABILITY_ID, "children"),
        Output(WHAT_IF_STUDY_ID, "children"),
        # The card's study tag, with its answer: the page shows the card only while that study is picked.
        Output(WHAT_IF_STUDY_TAG_ID, "children"),
        Input(WHAT_IF_REPORT_ID, "value"),
        Input(WHAT_IF_REMOVED_ID, "data"),
        Input(SHOWN_ANYWAY_ID, "data"),
        State(study_loading.SHOWN_STUDY_ID, "data"),
        State(SESSION_ID, "data"),
        prevent_initial_call=True,
    )
    def what_if(edited, removed, shown_anyway, shown, session_id):
        study_id = shown.get("study") if isinstance(shown, dict) else None
        source = resolve(study_id, session_id) if study_id else None
        if source is None:
            return "", "", study_loading.tag(study_id)
        title = title_of(study_id)
        children = what_if_children(title, source, edited, list(removed or []),
                                    shown_anyway_for(shown_anyway, study_id), original, predict, masked_film)
        return children, f"— {title}", study_loading.tag(study_id)

    app.clientside_callback(
        ClientsideFunction(namespace=CLIENTSIDE_NAMESPACE, function_name="strikeWords"),
        Output(report_view.WORDS_GRAPH_ID, "figure", allow_duplicate=True),
        Input(WHAT_IF_STRUCK_ID, "data"),
        State(report_view.WORDS_GRAPH_ID, "figure"),
        prevent_initial_call=True,
    )
    app.clientside_callback(
        ClientsideFunction(namespace=CLIENTSIDE_NAMESPACE, function_name="markRemovedCircles"),
        Output(XRAY_GRAPH_ID, "figure", allow_duplicate=True),
        Input(WHAT_IF_REMOVED_ID, "data"),
        State(XRAY_GRAPH_ID, "figure"),
        prevent_initial_call=True,
    )


def original_probability(disclosures: Callable) -> Callable[[bytes, str, bool], float]:
    """The ``original`` of :func:`register_callbacks`: P(abnormal) of the explanation shown, when the study's
    disclosure shows the what-if.

    Args:
        disclosures: A :class:`components.distribution_gate.CachedDisclosures` (``(image bytes, report,
            shown_anyway) -> Disclosure | None`` with ``.probability(image bytes, report)``).
    """

    def original(image_bytes: bytes, report: str, shown_anyway: bool) -> float:
        decided = disclosures(image_bytes, report, shown_anyway)
        if decided is None:
            raise WhatIfNotExplained()
        if not decided.shows("what_if"):
            raise WhatIfWithheld()  # no P of a study the model cannot judge, in this card either
        return disclosures.probability(image_bytes, report)

    return original


def film_masker(explainer) -> Callable:
    """``(image bytes, report, circles) -> PNG bytes``: the film with the circles replaced by the explanation's
    reference image (the bundle's default baseline), in the film's own pixels (no TensorFlow)."""
    from cxrmodel.explain import ExplanationSettings, make_image_baseline  # noqa: PLC0415 - with the app
    from cxrmodel.imaging import decode_image  # noqa: PLC0415
    from cxrmodel.imaging.masking import encode_png16, mask_regions  # noqa: PLC0415

    def masked(image_bytes: bytes, report: str, circles: list[dict]) -> bytes:
        decoded = decode_image(image_bytes)
        prepared = explainer.bundle.prepare(decoded.pixels, report)
        reference = make_image_baseline(prepared.model_image, explainer.image_baseline(ExplanationSettings()),
                                        explainer.bundle.image_baseline)
        return encode_png16(mask_regions(decoded.pixels, circles, np.asarray(reference)[..., 0], prepared.mapping))

    return masked

