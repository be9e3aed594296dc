"""One study on screen: every panel draws only content tagged with the picked study; while a panel holds another
study's content (or none yet), a loading state stands in its place, from the very moment a study is picked.

Each panel's content is tagged with the study it belongs to by a hidden **study tag** element (:func:`tag_element`,
its text the study id, :func:`tag`), written by the same callback and in the same response as the content, so the
page can never hold a panel's content and a tag of another study at once:

* ``shown-study-tag`` — the radiograph, circles, prediction card and report (the study callback,
  components.study_opening), next to the ``shown-study`` store (``{"study": id}``) the other callbacks take as input;
* ``details-study-tag`` — the word heatmap, strongest words and sweep chart (a second callback on ``shown-study``);
* the what-if card's, the model comparison's and the stability badge's tags (their own components).

Which panel is tagged by which tag is declared once (:func:`layout`'s ``panels``, handed to the page on the
loading label as ``data-cxr-panels``). All the rest runs in the browser (assets/study_loading.js):

* At every change of the picker's shown value (a MutationObserver on the picker's own DOM: the very frame the new
  name appears, before any callback or server round trip) and of any study tag (a MutationObserver on the tags:
  the frame their content lands), each panel whose tag is not the picked study gets the attribute
  ``data-cxr-loading="Loading CXR90015…"``: the stylesheet hides its content (not dimmed: not readable, not
  clickable) and draws that text in its place. ``<body>`` has the class ``cxr-study-stale`` and the label at the
  top says the same while any panel on the page is loading (not one in the hidden side-by-side column or a closed
  section).
* ``cxr.explanationReady`` — inputs: ``explanation-phase`` and ``explanation-ready``
  (components.explanation_progress). Each phase of a job is passed on only while its study is still the picked
  one (a job for an older pick is dropped), and once: the circles (or any phase of a study not drawn yet:
  ``shown-study``'s ``drawn``) to the study callback (``study-refresh``), the evidence of a study already drawn to
  the evidence callback (``evidence-refresh``, components.study_view), both set with
  ``dash_clientside.set_props``. ``set_props`` rather than an output: study callback -> job -> study callback
  would be a circular callback graph.
* ``cxr.storeTag`` — the tag of a panel that the browser draws from a store of ``{"study", ...}`` values and
  ``shown-study`` (the stability badge): the store's study once it is the one shown (:func:`register_store_tag`).

The study callback itself is one Dash callback (components.study_view): when it is triggered again while a
response is in flight, Dash drops the older response, and one triggered by ``study-refresh`` checks the study
against the picker's value on the server too. :func:`loading_state`, :func:`store_tag` and :func:`study_title` are
the Python mirrors of the script's functions (tests run both on the same inputs).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from dash import ClientsideFunction, Input, Output, State, dcc, html

from components.study_browser import PROBABILITY_SEPARATOR, STUDY_PICKER_ID
from components.upload_panel import UPLOADED_LABEL_PREFIX

SHOWN_STUDY_ID = "shown-study"
SHOWN_STUDY_PAINTED_ID = "shown-study-painted"
"""``shown-study`` again, set once the browser has painted the content it names: the callbacks that follow a
study's opening (its words and sweep chart, the stability and what-if checks) listen to this one, so that
preparing their requests does not hold the radiograph and circles back from the screen."""
PAINT_RELAY_FALLBACK_MS = 200
"""The painted store is set at the latest this long after ``shown-study`` (a hidden tab paints no frame)."""
SHOWN_STUDY_TAG_ID = "shown-study-tag"
DETAILS_STUDY_TAG_ID = "details-study-tag"
STUDY_LOADING_ID = "study-loading"
STUDY_LOADING_TEXT_ID = "study-loading-text"
STUDY_REFRESH_ID = "study-refresh"
EVIDENCE_REFRESH_ID = "evidence-refresh"
READY_SEEN_ID = "explanation-ready-seen"
PHASE_SEEN_ID = "explanation-phase-seen"
STALE_CLASS = "cxr-study-stale"
"""The class of ``<body>`` while any panel is not the picked study's."""
TAG_CLASS = "cxr-study-tag"
"""The class of every study tag element (the script watches them)."""
IMAGE_LOADING_ATTRIBUTE = "data-cxr-image-loading"
"""Set by the script on a figure's image while its file loads (it is hidden meanwhile: study_loading.css)."""
QUIET_LOADING_CLASS = "cxr-loading-quiet"
"""A panel with this class is hidden while loading but gets no loading text (a one-line alert slot)."""
CLIENTSIDE_NAMESPACE = "cxr"


def shown(study_id: str | None, drawn: bool = False) -> dict:
    """The ``shown-study`` value for content drawn for ``study_id``; ``drawn``: an explanation from the cache (not
    a placeholder), so a later phase of its job only fills in the evidence (``evidence-refresh``)."""
    return {"study": study_id, "drawn": bool(drawn)}


def tag(study_id: str | None) -> str:
    """A study tag's text: the study id, or "" for content of no study (pure)."""
    return study_id if isinstance(study_id, str) else ""


def tag_element(tag_id: str) -> html.Span:
    """The hidden element whose text tags a panel's content with its study (filled with :func:`tag`)."""
    return html.Span(id=tag_id, hidden=True, className=TAG_CLASS)


def study_title(picked: str | None, options: Sequence[dict] | None) -> str:
    """How the loading label names the picked study: ``CXR90015``, or an upload's file name (pure).

    Mirrors ``studyTitle`` in assets/study_loading.js.
    """
    if not isinstance(picked, str):
        return ""
    for option in options or []:
        if isinstance(option, dict) and option.get("value") == picked:
            # (The worklist may put a review mark in front of the label: an upload is found by its prefix anywhere;
            # a bundled study is named by its id.)
            label = str(option.get("label", picked)).split(PROBABILITY_SEPARATOR)[0]
            upload = label.find(UPLOADED_LABEL_PREFIX)
            if upload >= 0:
                return label[upload + len(UPLOADED_LABEL_PREFIX):]
            return picked
    return picked


def loading_state(picked: str | None, tags: Mapping[str, str | None], options: Sequence[dict] | None) -> dict:
    """``{"panels": [panel ids], "label": "Loading CXR90015…"}``: the panels whose content is tagged with another
    study than the picked one (or with none while one is picked), in ``tags`` order, and what stands in their
    place ("" when none is loading) (pure).

    Args:
        picked: The picker's value (None or "" when no study is picked).
        tags: ``{panel id: the text of its study tag}``.
        options: The picker's options (for the study's title).

    Mirrors ``loadingState`` in assets/study_loading.js.
    """
    wanted = picked if isinstance(picked, str) else ""
    panels = [panel for panel, study in tags.items() if (study if isinstance(study, str) else "") != wanted]
    title = study_title(picked, options)
    label = (f"Loading {title}…" if title else "Loading…") if panels else ""
    return {"panels": panels, "label": label}


def store_tag(data: dict | None, shown_study: dict | None) -> str:
    """The tag of a panel drawn in the browser from ``data`` (``{"study", ...}`` or None) and ``shown-study``: the
    shown study once ``data`` is for it, or while there is no data (nothing is drawn then); otherwise "" (pure).

    Mirrors ``storeTag`` in assets/study_loading.js.
    """
    study = shown_study.get("study") if isinstance(shown_study, dict) else None
    if data is None or (isinstance(data, dict) and data.get("study") == study):
        return tag(study)
    return ""


def layout(panels: Mapping[str, str]) -> html.Div:
    """The stores, the two study tags this module fills, and the loading label (shown while any panel loads).

    Args:
        panels: ``{panel element id: the id of the study tag that tags its content}``.
    """
    return html.Div(
        [
            dcc.Store(id=SHOWN_STUDY_ID),
            dcc.Store(id=SHOWN_STUDY_PAINTED_ID),
            tag_element(SHOWN_STUDY_TAG_ID),
            tag_element(DETAILS_STUDY_TAG_ID),
            dcc.Store(id=STUDY_REFRESH_ID),
            dcc.Store(id=EVIDENCE_REFRESH_ID),
            dcc.Store(id=READY_SEEN_ID),
            dcc.Store(id=PHASE_SEEN_ID),
            html.Div(
                [html.Span(className="spinner-border spinner-border-sm me-2", **{"aria-hidden": "true"}),
                 html.Span(id=STUDY_LOADING_TEXT_ID)],
                id=STUDY_LOADING_ID, className="cxr-study-loading alert alert-info py-2 mb-2 align-items-center",
                role="status", **{"aria-live": "polite", "data-cxr-panels": json.dumps(dict(panels)),
                                  "data-cxr-picker": STUDY_PICKER_ID,
                                  "data-cxr-paint-fallback-ms": str(PAINT_RELAY_FALLBACK_MS)},
            ),
        ]
    )


def register_store_tag(app, tag_id: str, data_id: str) -> None:
    """Fill ``tag_id`` with :func:`store_tag` of the store ``data_id`` and ``shown-study``, in the browser.

    For a panel the browser draws from that store (the stability badge): it draws the store's study only once it
    is the shown one, and the store changes a server round trip after ``shown-study``, so the badge of the
    previous study is gone by the time this tag names the new one.
    """
    app.clientside_callback(
        ClientsideFunction(namespace=CLIENTSIDE_NAMESPACE, function_name="storeTag"),
        Output(tag_id, "children"),
        Input(data_id, "data"),
        Input(SHOWN_STUDY_ID, "data"),
    )


def register_callbacks(app, ready_id: str, phase_id: str) -> None:
    """The job hand-over (see the module docstring; the picker and the tags are watched in the DOM).

    Args:
        app: The Dash app.
        ready_id: The ``explanation-ready`` store of components.explanation_progress.
        phase_id: Its ``explanation-phase`` store (the phase a running job has finished).
    """
    # shown-study -> shown-study-painted after the next painted frame (the script; the store's id comes from here,
    # the fallback delay from the loading label's data-cxr-paint-fallback-ms).
    app.clientside_callback(
        ClientsideFunction(namespace=CLIENTSIDE_NAMESPACE, function_name="relayAfterPaint"),
        Output(SHOWN_STUDY_PAINTED_ID, "data"),
        Input(SHOWN_STUDY_ID, "data"),
        State(SHOWN_STUDY_PAINTED_ID, "id"),
        prevent_initial_call=True,
    )
    for store_id, seen_id in ((ready_id, READY_SEEN_ID), (phase_id, PHASE_SEEN_ID)):
        app.clientside_callback(
            ClientsideFunction(namespace=CLIENTSIDE_NAMESPACE, function_name="explanationReady"),
            Output(seen_id, "data"),
            Input(store_id, "data"),
            State(STUDY_PICKER_ID, "value"),
            State(SHOWN_STUDY_ID, "data"),
            prevent_initial_call=True,
        )
