"""The study view's domain side: which study a pick means, and everything the page shows for it.

:class:`StudyResolver` turns a picked id into a :class:`StudySource` (a bundled study, or one of *this session's*
uploads). :func:`drawn_study` turns the source and its cached explanation into a :class:`StudyPanel`,
whose fields are the outputs of the study callback in :mod:`components.study_view`, in order:
``StudyPanel.outputs()`` is that callback's ``Output`` list and ``panel.as_tuple()`` its return value.
Nothing here lays out the page or registers a callback; the functions are pure apart from reading the study,
its masks and the explanation cache from disk.

The panel's own ids (``prediction``, ``study-report``, ``study-error``) are defined here, next to the contract
that fills them, and laid out by :func:`components.study_view.layout`.
"""

from __future__ import annotations

import base64
import dataclasses
import functools
import io
import logging
from dataclasses import dataclass, field, fields
from typing import Any
from urllib.parse import parse_qs

import dash_bootstrap_components as dbc
from dash import Output, Patch, html, no_update
from PIL import Image

from components import (
    distribution_gate,
    evidence_view,
    reading_guide,
    report_view,
    research_tools,
    threshold_control,
    verdict_view,
    xray_view,
)
from components.server import study_images
from components.server.uploads import UploadStore, is_upload_id
from components.study_browser import STUDY_PICKER_ID, with_probability
from components.study_views import DETAILS, PANEL, StudyViews
from cxrmodel.data import StudyCollection
from cxrmodel.detection import DEFAULT_MIN_POINTS, MAX_SMOOTHING, SLIDER_THRESHOLDS, circle_sweep
from cxrmodel.evaluation import lesion_masks_for_study, sweep_hit_rates
from cxrmodel.explain import (
    Disclosure,
    Explanation,
    ExplanationSettings,
    StudyExplainer,
    explanation_document,
    study_distribution,
)
from cxrmodel.imaging import decode_image, encode_png

logger = logging.getLogger(__name__)

PREDICTION_ID = "prediction"
MODALITY_NOTE_CLASS = "modality-note"
RADIOGRAPH_NOT_READ = ("This model reads the report only: the radiograph is not part of its decision, "
                       "so it is not shown and no circles are drawn.")
REPORT_NOT_READ = ("This model reads the radiograph only: the report is not part of its decision, "
                   "so no word is scored.")
MODALITY_NOTES = {"text": RADIOGRAPH_NOT_READ, "image": REPORT_NOT_READ}
"""What the page says, in the prediction card and in place of the view it does not draw, for a single-modality
bundle (keyed by the document's ``modality``)."""
STUDY_REPORT_ID = "study-report"
STUDY_ERROR_ID = "study-error"


@dataclass(frozen=True)
class StudySource:
    """What a picked study is made of.

    Attributes:
        study_id: Bundled study id or an upload id.
        image_bytes: The X-ray file.
        report_text: The report as written.
        truth_label: The label from the report's MeSH terms (bundled studies), or None (uploads).
        title: How the study is named on screen and in exports.
        has_masks: True when ground-truth lesion masks exist (synthetic bundled studies).
        image_url: Where the page loads the radiograph from (components.server.study_images), or None: the viewer
            carries it as a data URI (scripts, or a server without the image route).
    """

    study_id: str
    image_bytes: bytes
    report_text: str
    truth_label: str | None
    title: str
    has_masks: bool = False
    image_url: str | None = None

    @property
    def radiograph_source(self) -> str:
        """The viewer's image source: the image route's URL, or the display PNG as a data URI."""
        return self.image_url or radiograph_data_uri(self.image_bytes)


class StudyResolver:
    """Finds a study by id: a bundled one, or one of *this session's* uploads (never another session's).

    With ``image_urls`` (the dashboard, whose server has the image route: components.server.study_images), a
    source names the URL its radiograph is loaded from, so a study's response carries no image. With ``views``
    (components.study_views), a cached study's view is drawn once and read back on every later open.
    """

    def __init__(self, collection: StudyCollection, uploads: UploadStore | None = None,
                 image_urls: bool = False, views: StudyViews | None = None) -> None:
        self.collection = collection
        self.uploads = uploads
        self.image_urls = image_urls
        self.views = views

    def _url(self, study_id: str, session_id: str | None, image_bytes: bytes) -> str | None:
        return study_images.image_url(study_id, session_id, image_bytes) if self.image_urls else None

    def source(self, study_id: str | None, session_id: str | None) -> StudySource | None:
        """The study, or None when the id is unknown or the upload belongs to another session."""
        if not study_id:
            return None
        if study_id in self.collection:
            study = self.collection.get(study_id)
            image_bytes = self.collection.image_path(study_id).read_bytes()
            return StudySource(
                study_id=study_id,
                image_bytes=image_bytes,
                report_text=study.report_text,
                truth_label=study.label_name,
                title=study_id,
                has_masks=study_id in self.collection.truth,
                image_url=self._url(study_id, session_id, image_bytes),
            )
        if self.uploads is not None and is_upload_id(study_id):
            upload = self.uploads.get(session_id, study_id)
            if upload is not None:
                return StudySource(study_id, upload.image_bytes, upload.report_text, None, upload.filename,
                                   image_url=self._url(study_id, session_id, upload.image_bytes))
        return None

    def image_bytes(self, study_id: str, session_id: str | None) -> bytes | None:
        """The study's image file for the image route, or None (unknown, or another session's upload)."""
        source = self.source(study_id, session_id)
        return None if source is None else source.image_bytes

    def __call__(self, study_id: str, session_id: str | None) -> tuple[bytes, str] | None:
        """(image bytes, report) for the background job, or None."""
        source = self.source(study_id, session_id)
        return None if source is None else (source.image_bytes, source.report_text)


def _output(component_id: str, component_property: str) -> Any:
    """A :class:`StudyPanel` field filled into ``component_id.component_property``."""
    return field(metadata={"output": (component_id, component_property)})


@dataclass(frozen=True)
class StudyPanel:
    """Everything the study callback sets, one field per Dash output, in the callback's output order.

    Any field may be ``dash.no_update`` (that output is left as it is).

    Attributes:
        xray_figure: The radiograph with its circles (``xray-graph.figure``).
        circle_sweep: The circles at every slider threshold, drawn in the browser (``circle-sweep.data``);
            None when nothing is drawn.
        words_figure: The report word heatmap (``words-graph.figure``).
        strongest_words: The list of the most attributed words (``strongest-words.children``).
        prediction_children: The prediction card body (``prediction.children``).
        report_text: The report as written, or the placeholder message (``study-report.children``).
        study_error: An alert, or None (``study-error.children``).
        sweep_chart: Circles and retained attribution against tau (``sweep-chart.figure``).
        picker_options: The study list with this study's probability added (``study-picker.options``).
    """

    xray_figure: Any = _output(xray_view.XRAY_GRAPH_ID, "figure")
    circle_sweep: dict | None = _output(threshold_control.CIRCLE_SWEEP_ID, "data")
    words_figure: Any = _output(report_view.WORDS_GRAPH_ID, "figure")
    strongest_words: Any = _output(report_view.STRONGEST_WORDS_ID, "children")
    prediction_children: Any = _output(PREDICTION_ID, "children")
    report_text: str | None = _output(STUDY_REPORT_ID, "children")
    study_error: Any = _output(STUDY_ERROR_ID, "children")
    sweep_chart: Any = _output(research_tools.SWEEP_CHART_ID, "figure")
    picker_options: list[dict] | None = _output(STUDY_PICKER_ID, "options")

    @classmethod
    def outputs(cls) -> list[Output]:
        """The study callback's ``Output`` list, in field order (the one source of that order)."""
        return [Output(*item.metadata["output"]) for item in fields(cls)]

    @classmethod
    def unchanged(cls, **changes: Any) -> StudyPanel:
        """A panel that leaves every output as it is (``no_update``) except the ones given."""
        return cls(**{**{item.name: no_update for item in fields(cls)}, **changes})

    def as_tuple(self) -> tuple:
        """The field values in output order: what the callback returns (shallow, unlike ``dataclasses.astuple``)."""
        return tuple(getattr(self, item.name) for item in fields(self))


def png_data_uri(png_bytes: bytes) -> str:
    """A PNG as a data URI for an image source (pure)."""
    return "data:image/png;base64," + base64.b64encode(png_bytes).decode("ascii")


def _percent(value: float | None) -> str:
    return reading_guide.share_percent(value)  # "0 %", never "-0%"


def prediction_children(document: dict, truth_label: str | None, sweep: dict | None = None,
                        sight_sensitivity: float | None = None, evidence_pending: bool = False) -> list:
    """The prediction card body from an explanation document (pure).

    At the top the verdict (:mod:`components.verdict_view`, id ``explanation-verdict``) and one P(abnormal), the
    calibrated one when the bundle has it; the model output, the shares, the modality ledger, the region deletion
    line and the notes are folded under "Numbers behind the verdict".

    Args:
        document: The explanation document.
        truth_label: The study's label from its report, or None.
        sweep: The circle sweep shipped to the browser; with its ``evidence`` the card gets the deletion line
            for ``sight_sensitivity`` (components.evidence_view; the browser rewrites it as the slider moves).
        sight_sensitivity: The slider's tau.
        evidence_pending: The explanation job is still computing the evidence: the verdict and the deletion line
            say so rather than "cannot tell" / "not computed".
    """
    predicted = document["label"]
    share = document["modality_share"]
    error = document["completeness"]["relative_error"]
    modality = document.get("modality", "multimodal")
    tau = ((document.get("settings") or {}).get("sight_sensitivity") if sight_sensitivity is None
           else sight_sensitivity)
    # One verdict and one P at the top; every other number of the card folds under "Numbers behind the verdict".
    children = [
        verdict_view.verdict_line(document, tau, evidence_pending),
        html.H6(reading_guide.prediction_heading(document), id=reading_guide.PREDICTION_HEADING_ID,
                className="mb-1"),
        *verdict_view.probability_lines(document),
        dbc.Badge(f"model: {predicted}", color="danger" if predicted == "abnormal" else "success", className="me-2"),
    ]
    if truth_label is not None:
        children.append(dbc.Badge(f"report label: {truth_label}", color="secondary"))
    if modality in MODALITY_NOTES:
        children.append(html.Div(MODALITY_NOTES[modality], className=f"small mt-2 text-info-emphasis "
                                                                      f"{MODALITY_NOTE_CLASS}"))
    details = [item for item in (verdict_view.model_output_line(document),) if item is not None]
    details.append(
        html.Div(
            [
                *([html.Span(f"Image {_percent(share.get('image'))}", className="me-3")] if modality != "text" else []),
                *([html.Span(f"Report {_percent(share.get('text'))}", className="me-3")] if modality != "image"
                  else []),
                html.Span(f"completeness error {100 * error:.1f}%", className="text-muted"),
            ],
            className="small mt-2",
            title="Share of the change in P(abnormal), from the reference image and empty report to this study, "
            "that integrated gradients attribute to the image and to the report.",
        )
    )
    ledger = evidence_view.modality_ledger(document)
    if ledger is not None:
        details.append(ledger)
    if modality != "text" and (document.get("evidence") is not None or sweep is not None):  # regions: read films only
        thresholds = (sweep or {}).get("thresholds") or []
        index = threshold_control.nearest_threshold_index(thresholds, tau) if thresholds else -1
        details.append(evidence_view.region_evidence((sweep or {}).get("evidence"), index,
                                                     thresholds[index] if index >= 0 else tau,
                                                     evidence_view.missing_text(evidence_pending)))
    details.extend(reading_guide.prediction_notes(document))
    children.append(verdict_view.numbers(details))
    return children


def explanation_settings(
    link_distance: float | None,
    min_points: int | None,
    sight_sensitivity: float | None = None,
    attribution_smoothing: float | None = None,
) -> ExplanationSettings:
    """Settings from the slider and the clustering controls; invalid or empty values give the defaults (pure)."""
    distance = float(link_distance) if isinstance(link_distance, (int, float)) and link_distance > 0 else None
    points = int(min_points) if isinstance(min_points, (int, float)) and min_points >= 1 else DEFAULT_MIN_POINTS
    tau = threshold_control.snap_sight_sensitivity(sight_sensitivity)  # clamped and on the slider grid
    smoothing = (float(attribution_smoothing)
                 if isinstance(attribution_smoothing, (int, float)) and 0 <= attribution_smoothing <= MAX_SMOOTHING
                 else None)
    return ExplanationSettings(sight_sensitivity=tau, link_distance=distance, min_points=points,
                               attribution_smoothing=smoothing)


_DISPLAY_CHUNKS = ("gamma", "icc_profile", "exif", "transparency", "srgb", "chromaticity")


def radiograph_png(image_bytes: bytes) -> bytes:
    """The radiograph as the PNG the viewer shows (see :func:`radiograph_data_uri`)."""
    if image_bytes[:8] == b"\x89PNG\r\n\x1a\n":
        try:
            with Image.open(io.BytesIO(image_bytes)) as image:
                plain = image.mode == "L" and not any(key in image.info for key in _DISPLAY_CHUNKS)
        except Exception:  # noqa: BLE001 - anything unusual takes the decoding path, which reports it
            plain = False
        if plain:
            return image_bytes
    return encode_png(decode_image(image_bytes).pixels)


def radiograph_data_uri(image_bytes: bytes) -> str:
    """The radiograph as the viewer's PNG data URI.

    An 8-bit greyscale PNG with nothing that changes how a browser shows it (gamma, colour profile, EXIF,
    transparency) is sent as it is: :func:`cxrmodel.imaging.decode_image` reads exactly its pixel values, so
    re-encoding would give the same image and costs ~35 ms of a study's opening (issue #17). Anything else is
    decoded and re-encoded (DICOM, JPEG, 16-bit, colour, palette PNGs).
    """
    return png_data_uri(radiograph_png(image_bytes))


def with_evidence(sweep: dict, document: dict, evidence_pending: bool = False) -> dict:
    """The sweep with the deletion evidence the browser shows per tau (``sweep["evidence"]``, or None) and what the
    line says at a tau without it (``sweep["evidence_missing_text"]``: being computed, or not computed)."""
    sweep["evidence"] = evidence_view.sweep_evidence(document.get("evidence"), sweep["thresholds"])
    sweep[evidence_view.MISSING_TEXT_KEY] = evidence_view.missing_text(evidence_pending)
    return sweep


def evidence_pending(explainer: StudyExplainer, explanation: Explanation, settings: ExplanationSettings) -> bool:
    """True when the explanation job is still to complete this explanation's deletion evidence for the circles
    drawn: the explainer computes evidence (at the default clustering and removal), ``settings`` draw the circles
    at that clustering, and the cached attribution lacks some of it (:meth:`StudyExplainer.evidence_pending`)."""
    if not explainer.evidence_pending(explanation.attribution):
        return False
    default = ExplanationSettings()
    return (explainer.link_distance(settings) == explainer.link_distance(default)
            and settings.min_points == default.min_points
            and explainer.attribution_smoothing(settings) == explainer.attribution_smoothing(default)
            and settings.removal in (None, default.removal))


def strongest_words(document: dict, decided: Disclosure) -> html.Div:
    """The strongest words of an explained study, with the word deletion check under them (or, for a study the
    model cannot judge, the line saying it is not shown: components.evidence_view.word_evidence)."""
    strongest = report_view.strongest_words_list(document["words"])
    word_evidence = evidence_view.word_evidence(document.get("evidence"), decided)
    return strongest if word_evidence is None else html.Div([strongest, word_evidence])


@functools.cache
def empty_details() -> tuple:
    """(words figure, strongest words, sweep chart) with nothing in them (built once)."""
    return (report_view.empty_words_figure(), None,
            research_tools.sweep_chart_figure({"thresholds": [], "circles": []}, None, 0.0))


def explanation_details(source: StudySource, explanation: Explanation, document: dict, sweep: dict | None,
                        lesion_masks: list, decided: Disclosure | None = None) -> tuple:
    """(words figure, strongest words, sweep chart) of an explained study (pure).

    A text-only model has no sweep (an empty chart); an image-only one scores no word (the word view says why).
    ``decided`` (default: the document's gate, not shown anyway) decides whether the word deletion table is drawn
    (stamped "shown anyway" after Show anyway) and whether the sweep chart counts circles; a refused study gets
    nothing.
    """
    decided = decided or distribution_gate.disclosure(document)
    if decided.decision == distribution_gate.REFUSE:
        return empty_details()
    if document.get("modality") == "image":
        words_figure, strongest = report_view.empty_words_figure(REPORT_NOT_READ), None
    else:
        words_figure = report_view.words_figure(document["words"])
        strongest = strongest_words(document, decided)
    if sweep is None or not decided.shows("circles"):
        return words_figure, strongest, empty_details()[2]
    hit_rates = sweep_hit_rates(sweep, lesion_masks) if source.has_masks else None
    return words_figure, strongest, research_tools.sweep_chart_figure(sweep, hit_rates,
                                                                      explanation.sight_sensitivity)


def study_sweep(explanation: Explanation, document: dict, settings: ExplanationSettings,
                decided: Disclosure | None = None, pending: bool = False) -> dict | None:
    """The circles at every slider threshold with their evidence, or None for a model that reads no image or a
    study whose circles are not shown (``decided``; default: the document's gate, not shown anyway)."""
    attribution_map = explanation.attribution.image_attribution
    if attribution_map is None or not (decided or distribution_gate.disclosure(document)).shows("circles"):
        return None
    return with_evidence(circle_sweep(attribution_map, explanation.prepared.mapping, explanation.link_distance,
                                      settings.min_points), document, pending)


def render_explanation(
    source: StudySource,
    explanation: Explanation,
    explainer: StudyExplainer,
    settings: ExplanationSettings,
    collection: StudyCollection,
    details: bool = True,
    shown_anyway: bool = False,
    pending: bool | None = None,
) -> tuple[StudyPanel, float]:
    """Everything the page shows for an explained study (pure apart from reading masks from disk).

    Args:
        details: False = the word heatmap, the strongest words and the sweep chart are left as they are
            (``no_update``), for :func:`study_details` to fill in a second step: the radiograph and the circles
            are drawn sooner; the browser dims the previous study's words and chart meanwhile
            (components.study_opening, components.study_loading).
        shown_anyway: The reader pressed Show anyway for this study (components.distribution_gate): a
            withheld study's numbers are drawn, stamped. Without it they are not built at all.
        pending: Whether its evidence is still being computed (:func:`evidence_pending`); None = worked out here.

    Returns:
        ``(panel, probability)``: the panel leaves the study picker's options unchanged; ``probability`` is
        P(abnormal), for the caller to add to them (:func:`components.study_browser.with_probability`), or None
        when the model cannot judge the image (components.distribution_gate).
    """
    document = explanation_document(explainer.bundle, explanation, settings)
    # One decision for every panel: what the model cannot judge is not built, let alone sent (distribution_gate).
    decided = distribution_gate.disclosure(document, shown_anyway)
    circles_shown = decided.shows("circles")
    mapping = explanation.prepared.mapping
    attribution_map = explanation.attribution.image_attribution
    if pending is None:
        pending = evidence_pending(explainer, explanation, settings)
    sweep = study_sweep(explanation, document, settings, decided, pending)
    lesion_masks = lesion_masks_for_study(collection.root, source.study_id) if source.has_masks else []
    if attribution_map is None:  # a text-only model: the film is not part of the decision, so it is not drawn
        figure = xray_view.empty_xray_figure(RADIOGRAPH_NOT_READ)
    else:
        figure = xray_view.xray_figure(
            source.radiograph_source,
            mapping.image_width,
            mapping.image_height,
            _circles_at(sweep, explanation.sight_sensitivity, document) if circles_shown else [],
            points_trace=xray_view.signal_points_trace(attribution_map, mapping) if circles_shown else None,
            heatmap_source=xray_view.attribution_overlay_png(attribution_map, mapping) if circles_shown else None,
            show_heatmap=False,
            show_points=False,
            truth_source=xray_view.lesion_outline_png(lesion_masks),
            uirevision=source.study_id,
        )
    words_figure, strongest, sweep_chart = (
        explanation_details(source, explanation, document, sweep, lesion_masks, decided) if details
        else (no_update, no_update, no_update))
    panel = StudyPanel(
        xray_figure=figure,
        circle_sweep=sweep,
        words_figure=words_figure,
        strongest_words=strongest,
        prediction_children=(prediction_children(document, source.truth_label, sweep, explanation.sight_sensitivity,
                                                 pending)
                             if decided.shows_numbers else []),
        report_text=source.report_text,
        study_error=None,
        sweep_chart=sweep_chart,
        picker_options=no_update,
    )
    # The notice, Show anyway and the synthetic-upload warning; a non-frontal view refused (distribution_gate).
    panel = distribution_gate.gate_panel(panel, document, source.study_id, is_upload_id(source.study_id), decided)
    return panel, distribution_gate.shown_probability(document)


def _circles_at(sweep: dict | None, sight_sensitivity: float, document: dict) -> list[dict]:
    """The circles the viewer draws first: the sweep's at tau, exactly as the browser draws them when the slider
    moves (so its redraw on arrival finds nothing to change), or the document's when there is no sweep."""
    if not sweep or not sweep.get("thresholds"):
        return document["circles"]
    return sweep["circles"][threshold_control.nearest_threshold_index(sweep["thresholds"], sight_sensitivity)]


NOT_EXPLAINED_GATED = "Not explained: the model cannot judge this film (see the notice beside it)."


@dataclass(frozen=True)
class GatedStudy:
    """A film the model cannot judge, drawn before it is explained: the panel, and whether it is explained in the
    background all the same (a withheld film, for Show anyway and the exports; never a refused one)."""

    panel: StudyPanel
    explain: bool


def gated_before_explaining(source: StudySource, explainer: StudyExplainer,
                            shown_anyway: bool = False) -> GatedStudy | None:
    """The panel of a film the model cannot judge, drawn at once, before any gradient is computed (the distribution
    check needs none); None when the film is judged (or shown anyway, or the model reads no film): then it is
    explained as usual.

    The radiograph is drawn without circles, with the notice (and Show anyway, for a withheld film) in the
    prediction card; nothing of the model's answer is in it. TensorFlow-free: the web process runs it on every
    pick of a study that is not cached.
    """
    bundle = explainer.bundle
    if not bundle.reads_image:
        return None
    prepared = bundle.prepare(decode_image(source.image_bytes).pixels, source.report_text)
    check = study_distribution(bundle, prepared)
    decided = Disclosure.from_distribution(check, shown_anyway=shown_anyway)
    if decided.judged or decided.shown_anyway:
        return None
    mapping = prepared.mapping
    figure = xray_view.xray_figure(source.radiograph_source, mapping.image_width, mapping.image_height,
                                   [], uirevision=source.study_id)
    panel = dataclasses.replace(empty_panel(NOT_EXPLAINED_GATED), xray_figure=figure,
                                words_figure=report_view.empty_words_figure(NOT_EXPLAINED_GATED),
                                report_text=source.report_text)
    document = {"distribution": check, "model": {"synthetic": bundle.synthetic}}
    return GatedStudy(distribution_gate.gate_panel(panel, document, source.study_id, is_upload_id(source.study_id),
                                                   decided),
                      explain=decided.decision == distribution_gate.WITHHOLD)


def empty_panel(message: str, alert: dbc.Alert | None = None) -> StudyPanel:
    """A panel with nothing drawn, ``message`` in place of the report and an optional alert."""
    return StudyPanel(
        xray_figure=xray_view.empty_xray_figure(message),
        circle_sweep=None,
        words_figure=report_view.empty_words_figure(),
        strongest_words=None,
        prediction_children=[],
        report_text=message,
        study_error=alert,
        sweep_chart=research_tools.sweep_chart_figure({"thresholds": [], "circles": []}, None, 0.0),
        picker_options=no_update,
    )


@dataclass(frozen=True)
class DrawnStudy:
    """What :func:`drawn_study` drew: the panel, whether it draws an explanation from the cache (``drawn``: False
    for a placeholder or an alert), and whether that explanation's evidence is still to be computed."""

    panel: StudyPanel
    drawn: bool = False
    evidence_pending: bool = False


def drawn_study(
    study_id: str | None,
    session_id: str | None,
    triggered_by_job: bool,
    settings: ExplanationSettings,
    options: list[dict] | None,
    explainer: StudyExplainer,
    resolver: StudyResolver,
    details: bool = True,
    shown_anyway: bool = False,
    source: StudySource | None = None,
) -> DrawnStudy:
    """Everything the study callback sets for a picked study, and what it drew.

    A cached study is drawn (and its probability added to the picker's ``options``); an uncached one gets a
    "being explained" placeholder (the background job, triggered by the same pick, computes it). ``details``
    and ``shown_anyway``: see :func:`render_explanation`. ``source``: the study, when the caller has resolved it
    already (otherwise it is resolved here).

    With the resolver's stored views (components.study_views), a view drawn before for the same study, model,
    code and settings is read back as it was drawn (no attribution read, sweep or figure built); one drawn here
    is stored when its evidence is complete.
    """
    if source is None:
        source = resolver.source(study_id, session_id)
    if source is None:
        if study_id:
            alert = dbc.Alert("That study is not in this collection or belongs to another session.", color="warning")
            return DrawnStudy(empty_panel("Pick a study.", alert))
        return DrawnStudy(empty_panel("Pick a study."))
    stored_key, stored = _stored_view(resolver, source, session_id, settings, shown_anyway,
                                      PANEL if not details else PANEL + "+" + DETAILS)
    if stored is not None:  # drawn before, from this very explanation (its evidence complete)
        outputs = stored["outputs"]
        panel = StudyPanel(**{item.name: outputs.get(item.name, no_update) for item in fields(StudyPanel)})
        return DrawnStudy(_with_picker_probability(panel, options, source.study_id, stored["probability"]), True)
    explanation = explainer.cached(source.image_bytes, source.report_text, settings)
    if explanation is None:
        if triggered_by_job:
            alert = dbc.Alert("The explanation finished but is not in the cache; pick the study again.",
                              color="danger")
            return DrawnStudy(empty_panel("Not explained.", alert))
        return DrawnStudy(empty_panel(f"Explaining {source.title}… (integrated gradients, see the progress bar)"))
    pending = evidence_pending(explainer, explanation, settings)
    panel, probability = render_explanation(source, explanation, explainer, settings, resolver.collection, details,
                                            shown_anyway, pending)
    if stored_key is not None and not pending:
        resolver.views.save(*stored_key, source, session_id,
                   {item.name: getattr(panel, item.name) for item in fields(StudyPanel)
                    if item.name != "picker_options"}, probability)
    return DrawnStudy(_with_picker_probability(panel, options, source.study_id, probability), True, pending)


def _stored_view(resolver: StudyResolver, source: StudySource, session_id: str | None,
                 settings: ExplanationSettings, shown_anyway: bool, part: str) -> tuple[tuple[str, str] | None,
                                                                                     dict | None]:
    """``((view key, attribution key), stored part or None)`` of one part of a study's view, or ``(None, None)``
    when the resolver keeps no views. A stored part is served whether or not its attribution is still cached: it
    was drawn from that very content and model, and storing the attribution again drops it."""
    if resolver.views is None:
        return None, None
    keys = resolver.views.key(source, settings, shown_anyway, part, resolver.collection.root)
    return keys, resolver.views.load(keys[0], source, session_id)


def _with_picker_probability(panel: StudyPanel, options: list[dict] | None, study_id: str,
                             probability: float | None) -> StudyPanel:
    """The panel with the study's probability added to the picker's label (none for a film the model cannot
    judge)."""
    labelled = with_probability(options, study_id, probability) if probability is not None else options
    if labelled == options:
        return panel  # the label says it already: the picker is not drawn again
    return dataclasses.replace(panel, picker_options=labelled)


def study_details(
    study_id: str | None,
    session_id: str | None,
    settings: ExplanationSettings,
    explainer: StudyExplainer,
    resolver: StudyResolver,
    shown_anyway: bool = False,
) -> tuple | None:
    """(words figure, strongest words, sweep chart) of a cached study: the second step after
    ``drawn_study(..., details=False)``; None when the study is unknown or not cached. A study the
    distribution gate refuses keeps them empty; a withheld one gets no word deletion table and no circle counts
    unless ``shown_anyway``. Read back from the resolver's stored views when drawn before; stored when drawn here
    with complete evidence (components.study_views)."""
    source = resolver.source(study_id, session_id)
    if source is None:
        return None
    stored_key, stored = _stored_view(resolver, source, session_id, settings, shown_anyway, DETAILS)
    if stored is not None:
        return tuple(stored["outputs"].get(name) for name in _DETAILS_FIELDS)
    explanation = explainer.cached(source.image_bytes, source.report_text, settings)
    if explanation is None:
        return None
    document = explanation_document(explainer.bundle, explanation, settings)
    decided = distribution_gate.disclosure(document, shown_anyway)
    sweep = study_sweep(explanation, document, settings, decided)
    lesion_masks = lesion_masks_for_study(resolver.collection.root, source.study_id) if source.has_masks else []
    details = explanation_details(source, explanation, document, sweep, lesion_masks, decided)
    if stored_key is not None and not evidence_pending(explainer, explanation, settings):
        resolver.views.save(*stored_key, source, session_id, dict(zip(_DETAILS_FIELDS, details, strict=True)))
    return details


_DETAILS_FIELDS = ("words_figure", "strongest_words", "sweep_chart")
"""The outputs of :func:`study_details`, in order (the names of their :class:`StudyPanel` fields)."""


def evidence_outputs(
    study_id: str | None,
    session_id: str | None,
    settings: ExplanationSettings,
    explainer: StudyExplainer,
    resolver: StudyResolver,
    shown_anyway: bool = False,
) -> tuple | None:
    """(circle sweep patch, prediction card, strongest words) of a drawn study whose deletion evidence the
    explanation job has just added to the cache: the evidence line, the verdict and the word check are filled in
    without drawing the film again. None when there is nothing to fill in: the study is unknown, not cached or
    refused. A study the model cannot judge (not shown anyway) gets only its strongest words, whose word check
    says it is not shown: no number of it is built.

    The patch sets the sweep's ``evidence`` and ``evidence_missing_text`` only (the circles are unchanged: the
    evidence never changes the attribution); the strongest words are None for a model that does not read the
    report.
    """
    source = resolver.source(study_id, session_id)
    if source is None:
        return None
    explanation = explainer.cached(source.image_bytes, source.report_text, settings)
    if explanation is None:
        return None
    document = explanation_document(explainer.bundle, explanation, settings)
    decided = distribution_gate.disclosure(document, shown_anyway)
    if decided.decision == distribution_gate.REFUSE:
        return None
    strongest = strongest_words(document, decided) if document.get("modality") != "image" else None
    if not decided.shows_numbers:
        return no_update, no_update, strongest
    pending = evidence_pending(explainer, explanation, settings)
    sweep_patch: Any = no_update
    shipped_sweep = None
    if explanation.attribution.image_attribution is not None and decided.shows("circles"):
        shipped_sweep = with_evidence({"thresholds": list(SLIDER_THRESHOLDS)}, document, pending)
        sweep_patch = Patch()
        sweep_patch["evidence"] = shipped_sweep["evidence"]
        sweep_patch[evidence_view.MISSING_TEXT_KEY] = shipped_sweep[evidence_view.MISSING_TEXT_KEY]
    card = prediction_children(document, source.truth_label, shipped_sweep, explanation.sight_sensitivity, pending)
    # The same notices around the card as when the study was drawn (judged by, shown anyway, synthetic upload).
    card = distribution_gate.gate_panel(StudyPanel.unchanged(prediction_children=card), document, source.study_id,
                                        is_upload_id(source.study_id), decided).prediction_children
    if not pending and resolver.views is not None:
        # The last of its evidence has landed: its view is drawn and stored now, so that every later open of it,
        # by any reader, reads it back (components.study_views).
        drawn_study(source.study_id, session_id, False, settings, None, explainer, resolver, details=False,
                    shown_anyway=shown_anyway, source=source)
        study_details(source.study_id, session_id, settings, explainer, resolver, shown_anyway)
    return sweep_patch, card, strongest


def study_panel(study_id: str | None, explainer: StudyExplainer, collection: StudyCollection) -> StudyPanel:
    """Explain (computing if needed, in this process) and draw a bundled study, for scripts and benchmarks.

    The picker's options are left unchanged (``no_update``).
    """
    resolver = StudyResolver(collection)
    source = resolver.source(study_id, None)
    if source is None:
        return empty_panel("Pick a study.")
    settings = ExplanationSettings()
    explanation = explainer.explain(source.image_bytes, source.report_text, settings)
    return render_explanation(source, explanation, explainer, settings, collection)[0]


def deep_link(search: str | None, collection: StudyCollection) -> tuple:
    """(study id, sight sensitivity) from ``?study=<uId>&threshold=<tau>``; invalid parts are ignored.

    The threshold is snapped like every other tau (:func:`components.threshold_control.snap_sight_sensitivity`:
    ``0.45`` opens at 0.46, ``7`` at 1.0); one that is not a number is ignored.

    Deep links open bundled studies only: an upload lives in one page's session and is never shared by URL.
    """
    query = parse_qs((search or "").lstrip("?"))
    study_id = (query.get("study") or [None])[0]
    threshold = (query.get("threshold") or [None])[0]
    try:
        sight_sensitivity = float(threshold) if threshold is not None else None
    except ValueError:
        sight_sensitivity = None
    sight_sensitivity = threshold_control.snap_sight_sensitivity(sight_sensitivity)
    return (study_id if study_id in collection else no_update,
            sight_sensitivity if sight_sensitivity is not None else no_update)
