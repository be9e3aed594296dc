"""Upload a study: an X-ray file and its report (typed, pasted, or a .txt / OpenI .xml file), then "Analyze".

Owns the ids ``upload-image`` (dcc.Upload of the X-ray), ``upload-image-name`` (the chosen file's name),
``report-text`` (textarea), ``upload-report`` (dcc.Upload of a report file, which fills the textarea),
``analyze`` (button) and ``upload-status`` (alerts). "Analyze" validates both at the boundary
(:func:`cxrmodel.inputs.validate_upload`), stores the study for this browser session only and selects it in
the study picker; a rejected upload becomes an alert that says what to do, and nothing else changes.
"""

from __future__ import annotations

import logging

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


def layout(max_image_bytes: int = DEFAULT_MAX_IMAGE_BYTES) -> html.Details:
    """A collapsible form: X-ray drop zone, report textarea or file, Analyze."""
    drop_zone = dcc.Upload(
        id=UPLOAD_IMAGE_ID,
        children=html.Div(["Drop an X-ray here or ", html.A("choose a file"), html.Br(),
                           html.Small("PNG, JPEG or DICOM, up to "
                                      f"{max_image_bytes / 2**20:.0f} MB", className="text-muted")]),
        max_size=max_image_bytes,
        multiple=False,
        className="upload-drop-zone",
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
) -> tuple:
    """(picker options, picker value, status) for a click on Analyze.

    Validates the upload, stores it for ``session_id`` and adds it to (and selects it in) the picker. A
    rejected upload leaves the picker alone and returns an alert naming the problem.
    """
    try:
        if not image_contents:
            raise UploadError("choose an X-ray file (PNG, JPEG or DICOM) first")
        image_bytes = decode_data_url(image_contents, "X-ray file")
        study = validate_upload(image_bytes, report_text, image_filename, max_image_bytes=max_image_bytes)
        upload_id = store.add(session_id, study)
    except UploadError as error:
        return no_update, no_update, error_alert(f"Upload not analyzed: {error}")
    option = {"label": f"{UPLOADED_LABEL_PREFIX}{study.filename}", "value": upload_id}
    return [option, *(options or [])], upload_id, None


def register_callbacks(app, store: UploadStore, max_image_bytes: int = DEFAULT_MAX_IMAGE_BYTES) -> None:
    """Report file -> textarea, chosen image -> its name, Analyze -> a new study in the picker."""

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
        return f"Chosen: {filename}" if filename else ""

    @app.callback(
        Output(STUDY_PICKER_ID, "options", allow_duplicate=True),
        Output(STUDY_PICKER_ID, "value", allow_duplicate=True),
        Output(UPLOAD_STATUS_ID, "children", allow_duplicate=True),
        Input(ANALYZE_ID, "n_clicks"),
        State(UPLOAD_IMAGE_ID, "contents"),
        State(UPLOAD_IMAGE_ID, "filename"),
        State(REPORT_TEXT_ID, "value"),
        State(SESSION_ID, "data"),
        State(STUDY_PICKER_ID, "options"),
        prevent_initial_call=True,
    )
    def analyze(_clicks, image_contents, image_filename, report_text, session_id, options):
        try:
            return analyze_upload(image_contents, image_filename, report_text, session_id, options, store,
                                  max_image_bytes)
        except Exception:  # noqa: BLE001 - any failure becomes an alert; the server keeps serving
            logger.exception("storing an upload failed")
            return no_update, no_update, error_alert("The upload could not be stored; see the server log.")
