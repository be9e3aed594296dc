"""Upload a study: an X-ray file and its report (typed, pasted, or a .txt / OpenI .xml file), then "Analyze".

Owns the ids ``upload-image`` (dcc.Upload of the X-ray), ``upload-image-name`` (the chosen file's name),
``report-text`` (textarea), ``upload-report`` (dcc.Upload of a report file, which fills the textarea),
``analyze`` (button) and ``upload-status`` (alerts). "Analyze" validates both at the boundary
(:func:`cxrmodel.inputs.validate_upload`), refuses a film the model must not be run on (a lateral view:
``screen``, components.distribution_gate), stores the study for this browser session only, selects it in the
study picker and clears the form for the next study; a rejected upload becomes an alert that says what to do,
and nothing else changes.

Choosing a file replaces the previous choice at once, in the browser (assets/upload_guard.js, on the file
input's ``change`` and the drop zone's ``drop``): dcc.Upload fires nothing for a file over its ``max_size``, so
without this a too-large file left the previous file in place and Analyze explained that one. An over-size file
clears the choice and says why (:func:`oversize_message`, mirrored by the script); Analyze then asks for a
file.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import dash_bootstrap_components as dbc
from dash import Input, Output, State, dcc, html, no_update

from components.server.uploads import UploadStore
from components.session import SESSION_ID
from components.study_browser import STUDY_PICKER_ID
from cxrmodel.inputs import DEFAULT_MAX_IMAGE_BYTES, UploadError, decode_data_url, report_from_file, validate_upload

logger = logging.getLogger(__name__)

UPLOAD_IMAGE_ID = "upload-image"
UPLOAD_IMAGE_NAME_ID = "upload-image-name"
REPORT_TEXT_ID = "report-text"
UPLOAD_REPORT_ID = "upload-report"
ANALYZE_ID = "analyze"
UPLOAD_STATUS_ID = "upload-status"

UPLOADED_LABEL_PREFIX = "Uploaded: "
# dcc.Upload refuses larger files in the browser; the server checks again (validate_upload).
_BROWSER_SIZE_LIMIT = DEFAULT_MAX_IMAGE_BYTES
UPLOAD_GUARD_CLASS = "upload-guard"


def size_limit_text(max_image_bytes: int) -> str:
    """The size cap as the form states it: ``"20"`` (MB, 2**20 bytes) (pure)."""
    return f"{max_image_bytes / 2**20:.0f}" if max_image_bytes >= 2**20 else f"{max_image_bytes / 2**20:.2f}"


def oversize_message(filename: str, size: int, limit_text: str) -> str:
    """What the page says when the chosen X-ray file is over the cap (mirrors ``oversizeMessage`` in
    assets/upload_guard.js)."""
    return (f"X-ray file not used: \u201c{filename}\u201d is {size / 2**20:.1f} MB, over the {limit_text} MB limit. "
            "The previously chosen file was cleared too. Choose a smaller file, for example the X-ray exported as "
            "PNG or JPEG.")


def layout(max_image_bytes: int = DEFAULT_MAX_IMAGE_BYTES) -> html.Details:
    """A collapsible form: X-ray drop zone, report textarea or file, Analyze."""
    limit_text = size_limit_text(max_image_bytes)
    drop_zone = html.Div(
        dcc.Upload(
            id=UPLOAD_IMAGE_ID,
            children=html.Div(["Drop an X-ray here or ", html.A("choose a file"), html.Br(),
                               html.Small(f"PNG, JPEG or DICOM, up to {limit_text} MB", className="text-muted")]),
            max_size=max_image_bytes,
            multiple=False,
            className="upload-drop-zone",
        ),
        # Read by assets/upload_guard.js: the cap, and the ids a new choice clears or writes.
        className=UPLOAD_GUARD_CLASS,
        **{"data-cxr-max-bytes": str(max_image_bytes), "data-cxr-max-label": limit_text,
           "data-cxr-upload": UPLOAD_IMAGE_ID, "data-cxr-name": UPLOAD_IMAGE_NAME_ID,
           "data-cxr-status": UPLOAD_STATUS_ID},
    )
    report_file = dcc.Upload(
        id=UPLOAD_REPORT_ID,
        children=dbc.Button("Load report from .txt or OpenI .xml", color="link", size="sm", className="p-0"),
        accept=".txt,.xml,text/plain,application/xml,text/xml",
        max_size=1024 * 1024,
        multiple=False,
    )
    return html.Details(
        [
            html.Summary("Upload a study", className="fw-semibold"),
            dbc.Row(
                [
                    dbc.Col([drop_zone, html.Div(id=UPLOAD_IMAGE_NAME_ID, className="small text-muted mt-1")], md=4),
                    dbc.Col(
                        [
                            dbc.Label("Report", html_for=REPORT_TEXT_ID, className="small mb-0"),
                            dcc.Textarea(
                                id=REPORT_TEXT_ID,
                                placeholder="Type or paste the findings and impression…",
                                className="form-control report-input",
                                style={"height": "96px"},
                            ),
                            report_file,
                        ],
                        md=6,
                    ),
                    dbc.Col(dbc.Button("Analyze", id=ANALYZE_ID, color="primary", className="mt-4 w-100"), md=2),
                ],
                className="g-2 mt-1",
            ),
            html.Div(id=UPLOAD_STATUS_ID, className="mt-2"),
        ],
        className="upload-panel mt-2",
    )


def error_alert(message: str) -> dbc.Alert:
    """An upload problem as a dismissable alert (Dash renders the text as text: no HTML injection)."""
    return dbc.Alert(message, color="warning", dismissable=True, className="py-2 mb-0")


def report_file_to_text(contents: str | None, filename: str | None) -> tuple:
    """(textarea value, status) for an uploaded report file (pure)."""
    if not contents:
        return no_update, no_update
    try:
        return report_from_file(filename, decode_data_url(contents, "report file")), None
    except UploadError as error:
        return no_update, error_alert(f"Report file not used: {error}")


def analyze_upload(
    image_contents: str | None,
    image_filename: str | None,
    report_text: str | None,
    session_id: str | None,
    options: list[dict] | None,
    store: UploadStore,
    max_image_bytes: int = DEFAULT_MAX_IMAGE_BYTES,
    screen: Callable[[bytes, str], str | None] | None = None,
) -> tuple:
    """(picker options, picker value, status) for a click on Analyze.

    Validates the upload, refuses it when ``screen(image_bytes, report)`` names a reason (a lateral view: the model
    must not be run on it), stores it for ``session_id`` and adds it to (and selects it in) the picker. A
    rejected upload leaves the picker alone and returns an alert naming the problem.
    """
    try:
        if not image_contents:
            raise UploadError("choose an X-ray file (PNG, JPEG or DICOM) first")
        image_bytes = decode_data_url(image_contents, "X-ray file")
        study = validate_upload(image_bytes, report_text, image_filename, max_image_bytes=max_image_bytes)
        refusal = screen(study.image_bytes, study.report_text) if screen is not None else None
        if refusal:
            raise UploadError(refusal)
        upload_id = store.add(session_id, study)
    except UploadError as error:
        return no_update, no_update, error_alert(f"Upload not analyzed: {error}")
    option = {"label": f"{UPLOADED_LABEL_PREFIX}{study.filename}", "value": upload_id}
    return [option, *(options or [])], upload_id, None


def analyzed_message(filename: str) -> str:
    """What the form says once an upload is analyzed (the form is cleared for the next study)."""
    return (f"Analyzed {filename}: it is \u201c{UPLOADED_LABEL_PREFIX}{filename}\u201d in the study list. "
            "The form is cleared for the next study.")


def register_callbacks(app, store: UploadStore, max_image_bytes: int = DEFAULT_MAX_IMAGE_BYTES,
                       screen: Callable[[bytes, str], str | None] | None = None) -> None:
    """Report file -> textarea, chosen image -> its name, Analyze -> a new study in the picker (form cleared).

    ``screen``: see :func:`analyze_upload`.
    """

    @app.callback(
        Output(REPORT_TEXT_ID, "value"),
        Output(UPLOAD_STATUS_ID, "children", allow_duplicate=True),
        Input(UPLOAD_REPORT_ID, "contents"),
        State(UPLOAD_REPORT_ID, "filename"),
        prevent_initial_call=True,
    )
    def load_report_file(contents, filename):
        return report_file_to_text(contents, filename)

    @app.callback(
        Output(UPLOAD_IMAGE_NAME_ID, "children"),
        Input(UPLOAD_IMAGE_ID, "filename"),
        prevent_initial_call=True,
    )
    def show_image_name(filename):
        # A cleared choice (Analyze, or a rejected file: assets/upload_guard.js) leaves what those wrote.
        return f"Chosen: {filename}" if filename else no_update

    @app.callback(
        Output(STUDY_PICKER_ID, "options", allow_duplicate=True),
        Output(STUDY_PICKER_ID, "value", allow_duplicate=True),
        Output(UPLOAD_STATUS_ID, "children", allow_duplicate=True),
        # The form, cleared once the study is in the list: no old report or file is left for the next one.
        Output(REPORT_TEXT_ID, "value", allow_duplicate=True),
        Output(UPLOAD_IMAGE_ID, "contents"),
        Output(UPLOAD_IMAGE_ID, "filename"),
        Output(UPLOAD_IMAGE_NAME_ID, "children", allow_duplicate=True),
        Input(ANALYZE_ID, "n_clicks"),
        State(UPLOAD_IMAGE_ID, "contents"),
        State(UPLOAD_IMAGE_ID, "filename"),
        State(REPORT_TEXT_ID, "value"),
        State(SESSION_ID, "data"),
        State(STUDY_PICKER_ID, "options"),
        prevent_initial_call=True,
    )
    def analyze(_clicks, image_contents, image_filename, report_text, session_id, options):
        unchanged_form = (no_update,) * 4
        try:
            options, value, status = analyze_upload(image_contents, image_filename, report_text, session_id,
                                                    options, store, max_image_bytes, screen)
        except Exception:  # noqa: BLE001 - any failure becomes an alert; the server keeps serving
            logger.exception("storing an upload failed")
            failure = error_alert("The upload could not be stored; see the server log.")
            return (no_update, no_update, failure, *unchanged_form)
        if value is no_update:
            return options, value, status, *unchanged_form
        return options, value, status, "", None, None, analyzed_message(image_filename or "the X-ray")
