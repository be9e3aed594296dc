"""While a picked study loads, the page never passes the previous one off as it: stale content is dimmed and
labelled at once, and only the picked study's response is ever drawn.

Owns the ids ``shown-study`` (dcc.Store ``{"study": id}``: the study the viewer, prediction and report show now,
written by the study callback in the same response as them), ``details-study`` (the same for the word heatmap,
the strongest words and the sweep chart, which a second callback fills: components.study_opening),
``study-loading`` (the "Loading CXR90015…" label, with its text in ``study-loading-text``), ``study-refresh``
(dcc.Store set in the browser when a background job has explained the study that is still picked) and
``explanation-ready-seen`` (a sink).

All of it runs in the browser (assets/study_loading.js):

* On every change of the picker's shown value (a MutationObserver on the picker's own DOM, so in the very frame
  the new name appears, before any callback or server round trip) and whenever ``shown-study`` or
  ``details-study`` changes (the clientside callback ``cxr.studyShown``, one per store), the script compares the
  picked study with ``shown-study``: while they differ, ``<body>`` has the class ``cxr-study-stale``, which dims
  the viewer, side-by-side and details columns
  (named by the label's ``data-cxr-columns``; not clickable meanwhile) and shows the label "Loading <study>…". A
  response for an older pick leaves the page dimmed. (A Dash callback on the picker ran up to a few hundred ms
  after the picker showed the new name: Dash holds it back behind the callbacks in flight.) Likewise, while
  ``details-study`` is not the picked study, ``<body>`` has ``cxr-details-stale``, which dims the word heatmap,
  the strongest words and the sweep chart (named by the label's ``data-cxr-details``).
* ``cxr.explanationReady`` — input: ``explanation-ready`` (components.explanation_progress). A finished job is
  passed to the study callback (``study-refresh``, set with ``dash_clientside.set_props``) only while its study is
  still the picked one: a job for an older pick is dropped. ``set_props`` rather than an output: study callback
  -> job -> study callback would be a circular callback graph.

The study callback itself is one Dash callback (components.study_view): when it is triggered again while a
response is in flight, Dash drops the older response, and one triggered by ``study-refresh`` checks the study
against the picker's value on the server too. :func:`loading_state` and :func:`study_title` are the Python
mirrors of the script's functions (tests run both on the same inputs).
"""

from __future__ import annotations

from collections.abc import Sequence

from dash import ClientsideFunction, Input, Output, State, dcc, html

from components.study_browser import PROBABILITY_SEPARATOR, STUDY_PICKER_ID
from components.upload_panel import UPLOADED_LABEL_PREFIX

SHOWN_STUDY_ID = "shown-study"
DETAILS_STUDY_ID = "details-study"
STUDY_LOADING_ID = "study-loading"
STUDY_LOADING_TEXT_ID = "study-loading-text"
STUDY_REFRESH_ID = "study-refresh"
READY_SEEN_ID = "explanation-ready-seen"
STALE_CLASS = "cxr-study-stale"
"""The class of ``<body>`` while the picked study is not the one shown."""
DETAILS_STALE_CLASS = "cxr-details-stale"
"""The class of ``<body>`` while the words and the sweep chart are not the picked study's."""
LABEL_SEPARATOR = " — "
"""What separates a bundled study's id from its label and MeSH terms in the picker (study_browser)."""
CLIENTSIDE_NAMESPACE = "cxr"


def shown(study_id: str | None) -> dict:
    """The ``shown-study`` (or ``details-study``) value for content drawn for ``study_id``."""
    return {"study": study_id}


def study_title(picked: str | None, options: Sequence[dict] | None) -> str:
    """How the loading label names the picked study: ``CXR90015``, or an upload's file name (pure).

    Mirrors ``studyTitle`` in assets/study_loading.js.
    """
    if not isinstance(picked, str):
        return ""
    for option in options or []:
        if isinstance(option, dict) and option.get("value") == picked:
            label = str(option.get("label", picked)).split(PROBABILITY_SEPARATOR)[0]
            if label.startswith(UPLOADED_LABEL_PREFIX):
                return label[len(UPLOADED_LABEL_PREFIX):]
            return label.split(LABEL_SEPARATOR)[0]
    return picked


def _study_of(marker: dict | None) -> str | None:
    return marker.get("study") if isinstance(marker, dict) else None


def loading_state(picked: str | None, shown_study: dict | None, details_study: dict | None,
                  options: Sequence[dict] | None) -> dict:
    """``{"stale", "details_stale", "label"}`` (pure).

    ``stale`` while a study is picked and the viewer, prediction and report shown are not that study's;
    ``details_stale`` while the words and sweep chart are not. Mirrors ``loadingState`` in
    assets/study_loading.js.
    """
    picked_study = isinstance(picked, str) and picked != ""
    stale = picked_study and picked != _study_of(shown_study)
    return {"stale": stale, "details_stale": picked_study and picked != _study_of(details_study),
            "label": f"Loading {study_title(picked, options)}…" if stale else ""}


def layout(columns: Sequence[str], details: Sequence[str]) -> html.Div:
    """The stores and the loading label (shown by the stylesheet only while ``<body>`` is stale).

    Args:
        columns: The ids of the columns dimmed while stale (viewer, side by side, details).
        details: The ids of the word heatmap, strongest words and sweep chart (dimmed while theirs is stale).
    """
    return html.Div(
        [
            dcc.Store(id=SHOWN_STUDY_ID),
            dcc.Store(id=DETAILS_STUDY_ID),
            dcc.Store(id=STUDY_REFRESH_ID),
            dcc.Store(id=READY_SEEN_ID),
            html.Div(
                [html.Span(className="spinner-border spinner-border-sm me-2", **{"aria-hidden": "true"}),
                 html.Span(id=STUDY_LOADING_TEXT_ID)],
                id=STUDY_LOADING_ID, className="cxr-study-loading alert alert-info py-2 mb-2 align-items-center",
                role="status", **{"aria-live": "polite", "data-cxr-columns": " ".join(columns),
                                  "data-cxr-details": " ".join(details), "data-cxr-picker": STUDY_PICKER_ID,
                                  "data-cxr-shown": SHOWN_STUDY_ID, "data-cxr-details-shown": DETAILS_STUDY_ID},
            ),
        ]
    )


def register_callbacks(app, ready_id: str) -> None:
    """The two clientside callbacks (see the module docstring; the picker itself is watched in the DOM).

    Args:
        app: The Dash app.
        ready_id: The ``explanation-ready`` store of components.explanation_progress.
    """
    # One callback per store: a callback waits while any of its inputs is the output of a callback in flight, and
    # the words' callback follows the study callback, so one callback on both would restore the page late.
    for store_id in (SHOWN_STUDY_ID, DETAILS_STUDY_ID):
        app.clientside_callback(
            ClientsideFunction(namespace=CLIENTSIDE_NAMESPACE, function_name="studyShown"),
            Output(STUDY_LOADING_TEXT_ID, "title", allow_duplicate=True),
            Input(store_id, "data"),
            prevent_initial_call=True,
        )
    app.clientside_callback(
        ClientsideFunction(namespace=CLIENTSIDE_NAMESPACE, function_name="explanationReady"),
        Output(READY_SEEN_ID, "data"),
        Input(ready_id, "data"),
        State(STUDY_PICKER_ID, "value"),
        prevent_initial_call=True,
    )
