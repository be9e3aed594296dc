"""The view in the address bar: study, sight sensitivity and side-by-side mode, shareable and undoable with Back.

Owns the ids ``view-defaults`` (dcc.Store: the bundled study ids, the default study and tau, and the slider's
range and grid, :data:`components.threshold_control.SLIDER_RANGE`), ``link-message`` (an alert for a link that
names no study of this collection, or an upload that is gone), ``link-note`` (a small notice when a link's τ was
moved onto the slider's range or grid), ``copy-link`` (button), ``copy-link-status``,
``share-link`` (a read-only box holding the link, the fallback when the clipboard is refused), and the side-by-side
panel labels ``panel-label`` / ``panel-label-compare``.

URL: ``/?study=<id>&tau=<τ>&compare=1`` (``compare`` only when side by side is on; the older ``threshold=`` is read
as ``tau``), or ``/?upload=<upload id>&tau=<τ>`` while an upload is shown. τ is always the SNAPPED value
(:func:`components.threshold_control.snap_sight_sensitivity`, the one rule every view uses). Everything runs in the
browser (``assets/url_state.js``), so moving the slider still sends nothing to the server:

* ``cxr.syncView`` — ONE clientside callback, inputs ``url.search``, the study picker and the side-by-side switch.
  When the URL changed (page load, Back, Forward) it restores the view from it: an unknown study id opens nothing
  and says so; an upload that is not in this page any more (the page was reloaded, or the link opened elsewhere)
  opens nothing and says the upload is gone; a missing part takes its default, so Back to a bare ``/`` is the
  first study at the default τ. A τ outside the slider's range or between its steps opens at the snapped τ, says
  so once (``link-note``, cleared by the next change of the view) and the address is replaced (no new history
  entry) by the one naming the τ shown. When the user picked a study or an upload, or flipped the switch, it
  writes the new view into ``url.search``, which dcc.Location pushes as a history entry. Restoring leaves what
  already matches alone (no callback fires for it).
* slider rest — assets/threshold.js announces ``cxr:slider-rest`` once the slider has rested (its 150 ms write-back);
  for the main slider the script sets ``url.search`` (one history entry per rest, not per move), and for either it
  relabels the side-by-side panels.
* ``cxr.copyLink`` — the "Copy link" button: the link of the current view to the clipboard, and always in the
  read-only box beside it (the fallback when the browser refuses the clipboard).

An upload lives in one page's session (components.session) and is not shareable: the address names it (so that it
never names another study while the upload is shown, and Back and Forward find it again in this page), but "Copy
link" refuses it, and a reload or another browser opens nothing for it.
:func:`restore_view`, :func:`view_search` and :func:`panel_labels` are the Python mirrors of the script's
functions (tests run both on the same inputs).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from urllib.parse import parse_qs, urlencode

import dash_bootstrap_components as dbc
from dash import ClientsideFunction, Input, Output, State, dcc, html

from components.threshold_control import SLIDER_RANGE, snap_sight_sensitivity

VIEW_DEFAULTS_ID = "view-defaults"
LINK_MESSAGE_ID = "link-message"
LINK_NOTE_ID = "link-note"
UPLOAD_PARAMETER = "upload"
COPY_LINK_ID = "copy-link"
COPY_STATUS_ID = "copy-link-status"
SHARE_LINK_ID = "share-link"
PANEL_LABEL_ID = "panel-label"
CLIENTSIDE_NAMESPACE = "cxr"
SYNC_FUNCTION = "syncView"
COPY_FUNCTION = "copyLink"
LABELS_FUNCTION = "panelLabelsFor"

HIDDEN = {"display": "none"}
SHOWN = {"display": "block"}
MAX_SHOWN_ID = 60
"""An unknown study id is quoted in the message up to this many characters."""
MAX_SHOWN_TAU = 12
"""A link's τ is quoted in the note up to this many characters."""
UPLOAD_GONE_MESSAGE = ("The upload this address named is gone: an upload stays only in the page it was analyzed in, "
                       "and a reload or another browser does not have it. Upload it again, or pick a study from "
                       "the list.")
_NUMBER = re.compile(r"^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$")
_COMPARE_ON = ("1", "true", "on", "yes")


def _first(query: dict[str, list[str]], *names: str) -> str | None:
    for name in names:
        values = [value for value in query.get(name, []) if value != ""]
        if values:
            return values[0]
    return None


def parse_tau(text: str | None) -> float | None:
    """A τ written in a URL, snapped to the slider's grid (clamped to [0, 1]); None when it is not a plain number.

    Plain decimal numbers only (``0.7``, ``.3``, ``1e-1``), so that the browser's ``Number`` and Python's ``float``
    read the same ones (``0x10``, ``1_0``, ``inf``, ``nan`` are not τ).
    """
    if text is None or not _NUMBER.match(text):
        return None
    value = float(text)
    return snap_sight_sensitivity(value) if math.isfinite(value) else None


def unknown_study_message(study_id: str) -> str:
    """What a link to a study that is not in this collection says."""
    shown = study_id if len(study_id) <= MAX_SHOWN_ID else study_id[: MAX_SHOWN_ID - 1] + "…"
    return f"No study {shown} here; pick one from the list."


def tau_note(text: str | None, tau: float | None, tau_range: Mapping[str, float] = SLIDER_RANGE) -> str | None:
    """What the page says when a link's τ ``text`` opened at another τ than it names (pure; mirrors ``tauNote``).

    Args:
        text: The τ as the link writes it.
        tau: The τ shown for it (:func:`parse_tau`), or None when ``text`` is not a τ.
        tau_range: The slider's ``{"min", "max", "step"}``.

    Returns:
        e.g. "τ 5 from the link is outside the slider's range (0–1 in steps of 0.02): shown at τ 1.00.", or None
        when the link's τ is on the slider's grid (or is not a τ: the default is shown then, as for no τ).
    """
    if text is None or tau is None:
        return None
    value = float(text)
    inside = tau_range["min"] <= value <= tau_range["max"]
    if inside and value == tau:
        return None
    written = text.strip()
    written = written if len(written) <= MAX_SHOWN_TAU else written[: MAX_SHOWN_TAU - 1] + "…"
    where = "between the slider's steps" if inside else "outside the slider's range"
    return (f"τ {written} from the link is {where} ({tau_range['min']:g}–{tau_range['max']:g} in steps of "
            f"{tau_range['step']:g}): shown at τ {tau:.2f}.")


def restore_view(search: str | None, studies: Sequence[str], default_study: str | None,
                 default_tau: float, uploads: Sequence[str] = (),
                 tau_range: Mapping[str, float] = SLIDER_RANGE) -> dict:
    """The view a URL's query names (pure; mirrors ``restoreView`` in assets/url_state.js).

    Args:
        search: ``location.search`` (``"?study=CXR1&tau=0.3"``, ``""``).
        studies: The bundled study ids (the only ones a link may open).
        default_study: The study shown when the link names none.
        default_tau: The τ when the link gives none (or no number).
        uploads: The ids of the uploads this page holds (``?upload=<id>`` opens one of them, and nothing else).
        tau_range: The slider's ``{"min", "max", "step"}`` (for the note).

    Returns:
        ``{"study": id or None, "tau": float, "compare": bool, "message": str or None, "note": str or None}``; an
        unknown study or an upload that is gone gives ``study`` None and a message; a τ moved onto the slider's
        range or grid gives a note.
    """
    query = parse_qs((search or "").lstrip("?"), keep_blank_values=True)
    study = _first(query, "study")
    tau_text = _first(query, "tau", "threshold")
    tau = parse_tau(tau_text)
    compare = (_first(query, "compare") or "").strip().lower() in _COMPARE_ON
    message = None
    if study is None and UPLOAD_PARAMETER in query:
        upload = _first(query, UPLOAD_PARAMETER)
        study, message = (upload, None) if upload in uploads else (None, UPLOAD_GONE_MESSAGE)
    elif study is None:
        study = default_study
    elif study not in studies:
        study, message = None, unknown_study_message(study)
    return {"study": study, "tau": snap_sight_sensitivity(default_tau) if tau is None else tau,
            "compare": compare, "message": message, "note": tau_note(tau_text, tau, tau_range)}


def view_search(study: str, tau: float, compare: bool, upload: bool = False) -> str:
    """``?study=<id>&tau=<τ, 2 decimals, snapped>[&compare=1]``, or ``?upload=<id>&…`` for an upload (pure; mirrors
    ``viewSearch`` in the script)."""
    parts = {UPLOAD_PARAMETER if upload else "study": study, "tau": f"{snap_sight_sensitivity(tau):.2f}"}
    if compare:
        parts["compare"] = "1"
    return "?" + urlencode(parts, safe="")


def panel_labels(main_tau: float | None, compare_tau: float | None, default_tau: float) -> tuple[str, str]:
    """The side-by-side panels' labels, e.g. ``("τ 0.70 (default)", "τ 0.30 (more regions)")`` (pure; mirrors
    ``panelLabels`` in the script).

    A panel at the bundle's default τ says "default"; otherwise the lower τ says "more regions" (more pixels count
    as signals) and the higher "fewer regions"; two equal τ say "same τ".
    """
    main, second = snap_sight_sensitivity(main_tau), snap_sight_sensitivity(compare_tau)
    default = snap_sight_sensitivity(default_tau)

    def label(tau: float | None, other: float | None) -> str:
        if tau is None:
            return ""
        if tau == default:
            note = "default"
        elif other is None or tau == other:
            note = "same τ"
        else:
            note = "more regions" if tau < other else "fewer regions"
        return f"τ {tau:.2f} ({note})"

    return label(main, second), label(second, main)


def layout(studies: Sequence[str], default_study: str | None, default_tau: float) -> html.Div:
    """The defaults store (with the slider's range, handed to the script), the link alert and the τ note."""
    return html.Div(
        [
            dcc.Store(id=VIEW_DEFAULTS_ID, data={"studies": list(studies), "default_study": default_study,
                                                 "tau": snap_sight_sensitivity(default_tau),
                                                 "tau_range": dict(SLIDER_RANGE)}),
            html.Div(id=LINK_MESSAGE_ID, className="alert alert-warning py-2 mb-2", role="alert", style=HIDDEN),
            html.Div(id=LINK_NOTE_ID, className="alert alert-info small py-1 px-2 mb-2", role="status",
                     style=HIDDEN),
        ]
    )


def copy_link_layout() -> html.Div:
    """The "Copy link" button, its status and the read-only link box (shown once the button is used)."""
    return html.Div(
        [
            dbc.Button("Copy link", id=COPY_LINK_ID, color="secondary", outline=True, size="sm",
                       title="Copy a link to this study, sight sensitivity and side-by-side mode"),
            html.Span(id=COPY_STATUS_ID, className="small text-muted ms-2", role="status",
                      **{"aria-live": "polite"}),
            html.Label("Link to this view", htmlFor=SHARE_LINK_ID, className="visually-hidden"),
            dcc.Input(id=SHARE_LINK_ID, type="text", readOnly=True, value="",
                      className="form-control form-control-sm share-link ms-2", style=HIDDEN),
        ],
        className="d-flex align-items-center copy-link",
    )


def panel_label(suffix: str = "") -> html.Div:
    """The label over one side-by-side panel (hidden while side by side is off)."""
    return html.Div(id=PANEL_LABEL_ID + suffix, className="panel-label fw-semibold small", style=HIDDEN)


def register_callbacks(app, url_id: str, picker_id: str, compare_id: str, slider_id: str,
                       compare_slider_id: str, compare_suffix: str = "-compare") -> None:
    """The URL <-> view callback, the copy-link button and the panel labels, all clientside.

    Args:
        app: The Dash app.
        url_id: The dcc.Location.
        picker_id: The study picker (its value is the study).
        compare_id: The side-by-side switch.
        slider_id: The main sight-sensitivity slider (the URL's τ).
        compare_slider_id: The second viewer's slider.
        compare_suffix: Id suffix of the second panel's label.
    """
    app.clientside_callback(
        ClientsideFunction(namespace=CLIENTSIDE_NAMESPACE, function_name=SYNC_FUNCTION),
        Output(url_id, "search"),
        Output(picker_id, "value"),
        Output(slider_id, "value"),
        Output(compare_id, "value"),
        Output(LINK_MESSAGE_ID, "children"),
        Output(LINK_MESSAGE_ID, "style"),
        Output(LINK_NOTE_ID, "children"),
        Output(LINK_NOTE_ID, "style"),
        Input(url_id, "search"),
        Input(picker_id, "value"),
        Input(compare_id, "value"),
        State(slider_id, "value"),
        State(VIEW_DEFAULTS_ID, "data"),
        State(picker_id, "options"),
    )
    app.clientside_callback(
        ClientsideFunction(namespace=CLIENTSIDE_NAMESPACE, function_name=COPY_FUNCTION),
        Output(COPY_STATUS_ID, "children"),
        Output(SHARE_LINK_ID, "value"),
        Output(SHARE_LINK_ID, "style"),
        Input(COPY_LINK_ID, "n_clicks"),
        State(picker_id, "value"),
        State(slider_id, "value"),
        State(compare_id, "value"),
        State(VIEW_DEFAULTS_ID, "data"),
        prevent_initial_call=True,
    )
    app.clientside_callback(
        ClientsideFunction(namespace=CLIENTSIDE_NAMESPACE, function_name=LABELS_FUNCTION),
        Output(PANEL_LABEL_ID, "children"),
        Output(PANEL_LABEL_ID + compare_suffix, "children"),
        Output(PANEL_LABEL_ID, "style"),
        Output(PANEL_LABEL_ID + compare_suffix, "style"),
        Input(compare_id, "value"),
        State(slider_id, "value"),
        State(compare_slider_id, "value"),
        State(VIEW_DEFAULTS_ID, "data"),
    )
