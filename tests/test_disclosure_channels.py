"""Every output that can show a study's numbers takes the study's one disclosure decision.

:data:`CHANNELS` lists them: the page's panels (prediction card with its region deletion line and modality ledger,
the circles and attribution overlays, the word deletion table, the sweep chart, the picker's label), the JSON and
PNG exports, the ``explain`` and ``predict --image`` commands (text and ``--json``), the model worker's answers,
the what-if card, the model comparison and the stability badge. Each is rendered, through the code the app runs,
for a study the demo model cannot judge (a demo phantom turned upside down: the gate withholds it), first as the
page shows it before Show anyway (no P, no verdict, no circles; "not judged" where the output says anything), then
shown anyway (the numbers, stamped). A channel missing from a test here fails
:func:`test_every_channel_is_checked`.
"""

from __future__ import annotations

import io
import json
import re
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from dash import no_update
from PIL import Image

pytest.importorskip("keras")

from components import (  # noqa: E402
    distribution_gate,
    evidence_view,
    export_tools,
    model_comparison,
    presenter,
    stability_check,
    what_if,
    xray_view,
)
from components.server.uploads import UploadStore, new_session_id  # noqa: E402
from cxrmodel.cli.main import main as cli_main  # noqa: E402
from cxrmodel.data import StudyCollection  # noqa: E402
from cxrmodel.explain import (  # noqa: E402
    WITHHOLD,
    Disclosure,
    ExplanationCache,
    ExplanationSettings,
    StudyExplainer,
    explanation_document,
)
from cxrmodel.imaging import decode_image  # noqa: E402
from cxrmodel.inputs import UploadedStudy  # noqa: E402
from cxrmodel.modeling import load_bundle  # noqa: E402
from cxrmodel.rendering import annotated_png  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DEMO_MODEL = ROOT / "models" / "demo"
DEMO_STUDIES = ROOT / "studies" / "demo"
REPORT = "FINDINGS: Large right pleural effusion. IMPRESSION: Effusion."

CHANNELS = (
    "page: prediction card (P, verdict, region deletion, ledger)",
    "page: circles and attribution overlays",
    "page: word deletion table",
    "page: sweep chart",
    "page: picker label",
    "export: JSON",
    "export: PNG",
    "CLI: explain text",
    "CLI: explain --json",
    "CLI: predict --image",
    "CLI: predict --studies",
    "worker: predict answer",
    "worker: explain answer",
    "what-if",
    "model comparison",
    "stability",
)
CHECKED: set[str] = set()
"""The channels a test of this module has rendered, both ways (filled as the tests run)."""


@dataclass
class Study:
    """The gated study and everything that renders it."""

    film: Path
    image_bytes: bytes
    document: dict
    explanation: object
    explainer: StudyExplainer
    resolver: presenter.StudyResolver
    session: str
    upload_id: str
    cache_root: Path
    settings: ExplanationSettings

    @property
    def probabilities(self) -> list[float]:
        return [value for value in (self.document["probability"], self.document["calibrated_probability"])
                if value is not None]


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> Study:
    root = tmp_path_factory.mktemp("disclosure")
    pixels = decode_image((DEMO_STUDIES / "NLMCXR_png" / "CXR90003_IM-90003-1001.png").read_bytes()).pixels
    film = root / "upside-down.png"
    Image.fromarray(np.round(pixels[::-1] * 255).astype(np.uint8)).save(film)
    image_bytes = film.read_bytes()
    bundle = load_bundle(DEMO_MODEL)
    explainer = StudyExplainer(bundle, ExplanationCache(root / "explanations"))
    settings = ExplanationSettings()
    explanation = explainer.explain(image_bytes, REPORT, settings)
    document = explanation_document(bundle, explanation, settings)
    # The premise: the gate withholds this film, and there is something to withhold.
    assert Disclosure.of(document).decision == WITHHOLD, document["distribution"]
    assert document["circles"] and document["evidence"] is not None
    uploads = UploadStore(root / "uploads")
    session = new_session_id()
    upload_id = uploads.add(session, UploadedStudy(image_bytes, REPORT, film.name, time.time()))
    resolver = presenter.StudyResolver(StudyCollection.from_folder(DEMO_STUDIES), uploads)
    return Study(film, image_bytes, document, explanation, explainer, resolver, session, upload_id, root, settings)


def p_texts(probabilities: list[float]) -> set[str]:
    """How the outputs print a probability: 3 decimals (cards, tables, CLI) and 2 (picker, PNG caption)."""
    return {f"{value:.3f}" for value in probabilities} | {f"{value:.2f}" for value in probabilities}


P_PHRASE = re.compile(r"\bP(?:\(abnormal\))?\s*(?:=|:|->|→)?\s*\d\.\d{2}")
"""A probability as any output words it: "P 1.000", "P(abnormal) = 0.998", "P(abnormal) 1.00", "P -> 0.41"."""


def leaks(text: str, study: Study, allowed: tuple[str, ...] = ()) -> list[str]:
    """The model's P in ``text`` (its digits, or any "P <number>" phrase), after the texts in ``allowed`` (the
    gate's reasons, which carry measured similarities) are taken out."""
    for part in allowed:
        text = text.replace(part, "")
    found = [number for number in p_texts(study.probabilities) if number in text]
    return found + P_PHRASE.findall(text)


def text_of(value) -> str:
    """Everything a Dash component tree (or list of them) would put in the page, as JSON text."""
    if value is None or value is no_update:
        return ""
    items = value if isinstance(value, list) else [value]
    return json.dumps([item.to_plotly_json() if hasattr(item, "to_plotly_json") else item for item in items],
                      default=lambda item: item.to_plotly_json() if hasattr(item, "to_plotly_json") else str(item))


def reasons(study: Study) -> tuple[str, ...]:
    return tuple(study.document["distribution"]["reasons"])


def checked(channel: str) -> None:
    assert channel in CHANNELS, channel
    CHECKED.add(channel)


def panel(study: Study, shown_anyway: bool) -> tuple[presenter.StudyPanel, tuple]:
    options = [{"label": study.film.name, "value": study.upload_id}]
    drawn = presenter.drawn_study(study.upload_id, study.session, False, study.settings, options, study.explainer,
                                  study.resolver, details=False, shown_anyway=shown_anyway).panel
    details = presenter.study_details(study.upload_id, study.session, study.settings, study.explainer,
                                      study.resolver, shown_anyway)
    return drawn, details


def circle_marks(figure) -> dict:
    """What of the circles a figure would draw: shapes, centre markers, signal points, overlay images."""
    traces = {trace.name: len(trace.x or ()) for trace in figure.data}
    return {"shapes": len(figure.layout.shapes), "centres": traces.get(xray_view.CIRCLE_TRACE_NAME, 0),
            "points": traces.get(xray_view.POINTS_TRACE_NAME, 0),
            "overlays": sum(image.name == xray_view.OVERLAY_IMAGE_NAME for image in figure.layout.images)}


def test_the_page_panels_draw_none_of_a_withheld_studys_numbers(study):
    drawn, (words_figure, strongest, chart) = panel(study, shown_anyway=False)
    card = text_of(drawn.prediction_children)
    assert "cannot judge this image" in card and "are hidden" in card and "Show anyway" in card
    assert leaks(card, study, reasons(study)) == [], card
    assert evidence_view.REGION_EVIDENCE_ID not in card and evidence_view.MODALITY_LEDGER_ID not in card
    assert "model: abnormal" not in card and "model: normal" not in card
    checked("page: prediction card (P, verdict, region deletion, ledger)")

    assert circle_marks(drawn.xray_figure) == {"shapes": 0, "centres": 0, "points": 0, "overlays": 0}
    assert drawn.circle_sweep is None
    checked("page: circles and attribution overlays")

    words = text_of(strongest)
    assert evidence_view.WORDS_WITHHELD_TEXT in words and leaks(words, study) == [], words
    checked("page: word deletion table")

    assert all(len(trace.x or ()) == 0 for trace in chart.data), "the sweep chart counts the withheld circles"
    checked("page: sweep chart")

    assert drawn.picker_options is no_update  # the label gets no P(abnormal)
    checked("page: picker label")


def test_the_page_panels_draw_the_numbers_stamped_after_show_anyway(study):
    drawn, (_words, strongest, chart) = panel(study, shown_anyway=True)
    card = text_of(drawn.prediction_children)
    assert "Shown anyway" in card and "not a judgement" in card and "hidden" not in card
    assert "Show anyway" not in card.replace("Shown anyway", "")  # the button is gone
    assert leaks(card, study, reasons(study)), "the card shows no P after Show anyway"
    assert evidence_view.REGION_EVIDENCE_ID in card and evidence_view.MODALITY_LEDGER_ID in card
    marks = circle_marks(drawn.xray_figure)
    assert marks["shapes"] == marks["centres"] == len(study.document["circles"]) and marks["overlays"] == 1
    assert drawn.circle_sweep is not None
    words = text_of(strongest)
    assert "Shown anyway" in words and leaks(words, study), words
    assert any(len(trace.x or ()) for trace in chart.data)
    assert drawn.picker_options is no_update  # never: the picker carries no stamp


def _export(study: Study, kind: str, shown_anyway: bool):
    found = export_tools.export_document(study.upload_id, 0.7, None, None, study.session, study.explainer,
                                         study.resolver)
    assert found is not None
    document, source = found
    return export_tools.export_payload(kind, document, source, shown_anyway)


def _no_numbers_in(shown: dict, study: Study) -> None:
    """A JSON output of the withheld study: the disclosure keys and no number of the model."""
    assert shown["judged"] is False and shown["shown_anyway"] is False
    assert shown["not_judged_reason"] and "upside down" in shown["not_judged_reason"]
    for key in ("probability", "calibrated_probability", "label"):
        assert shown.get(key) is None, key
    if "circles" in shown:
        assert shown["circles"] == [] and shown["evidence"] is None and shown["verdict"] is None
        assert set(shown["modality_share"].values()) == {None}
    rest = json.dumps({key: value for key, value in shown.items() if key not in ("distribution", "words")})
    assert [number for number in p_texts(study.probabilities) if number in rest] == [], rest


def test_the_json_export_carries_no_p_and_says_not_judged(study):
    withheld = json.loads(_export(study, "json", False)["content"])
    _no_numbers_in(withheld, study)
    assert "frontal view" not in json.dumps(withheld)  # the view check does not vouch for a flagged film
    shown = json.loads(_export(study, "json", True)["content"])
    assert shown["shown_anyway"] is True and shown["judged"] is False
    assert shown["probability"] == study.document["probability"] and shown["circles"] == study.document["circles"]
    checked("export: JSON")


def test_the_png_export_is_the_bare_film_captioned_not_judged(study):
    pixels = decode_image(study.image_bytes).pixels
    decided = Disclosure.of(study.document)
    caption = export_tools.caption_text(study.film.name, study.document, decided)
    assert caption.startswith(f"{study.film.name} · not judged: ") and "upside down" in caption
    assert leaks(caption, study, reasons(study)) == [] and "circle" not in caption
    png = _export(study, "png", False)
    # Exactly the film with no circle drawn, and that caption.
    assert png["content"] == _b64(annotated_png(pixels, [], caption))

    shown_caption = export_tools.caption_text(study.film.name, study.document, decided.with_shown_anyway(True))
    assert shown_caption.startswith(f"{study.film.name} · shown anyway — not judged: ")
    assert leaks(shown_caption, study, reasons(study)) and "circle" in shown_caption
    shown_png = _export(study, "png", True)
    assert shown_png["content"] == _b64(annotated_png(pixels, study.document["circles"], shown_caption))
    assert shown_png["content"] != _b64(annotated_png(pixels, [], shown_caption))  # the circles are drawn
    radiograph = np.asarray(Image.open(io.BytesIO(annotated_png(pixels, [], caption))))[: pixels.shape[0]]
    assert np.array_equal(radiograph[..., 0], np.round(pixels * 255).astype(np.uint8))
    checked("export: PNG")


def _b64(png: bytes) -> str:
    import base64

    return base64.b64encode(png).decode("ascii")


def _cli(study: Study, capsys, *arguments: str) -> str:
    common = ["--model", str(DEMO_MODEL), "--image", str(study.film), "--report-text", REPORT]
    extra = ["--cache-dir", str(study.cache_root / "explanations")] if arguments[0] == "explain" else []
    assert cli_main([arguments[0], *common, *extra, *arguments[1:]]) == 0
    return capsys.readouterr().out


def test_the_explain_command_says_not_judged_and_prints_no_p_unless_shown_anyway(study, capsys):
    text = _cli(study, capsys, "explain")
    assert text.startswith("not judged: ") and "upside down" in text
    assert leaks(text, study, reasons(study)) == [] and "circle at" not in text and "remove the" not in text
    shown = _cli(study, capsys, "explain", "--show-anyway")
    assert shown.startswith("shown anyway — not judged: ") and "P(abnormal) = " in shown and "circle at" in shown
    checked("CLI: explain text")

    _no_numbers_in(json.loads(_cli(study, capsys, "explain", "--json")), study)
    shown_json = json.loads(_cli(study, capsys, "explain", "--json", "--show-anyway"))
    assert shown_json["shown_anyway"] is True and shown_json["probability"] == study.document["probability"]
    assert shown_json["circles"] == study.document["circles"]
    checked("CLI: explain --json")


def test_the_predict_command_for_one_film_takes_the_same_decision(study, capsys):
    text = _cli(study, capsys, "predict")
    assert text.startswith("not judged: ") and leaks(text, study, reasons(study)) == []
    _no_numbers_in(json.loads(_cli(study, capsys, "predict", "--json")), study)
    shown = json.loads(_cli(study, capsys, "predict", "--json", "--show-anyway"))
    assert shown["shown_anyway"] is True and shown["probability"] == pytest.approx(study.document["probability"],
                                                                                   abs=2e-6)
    checked("CLI: predict --image")


def test_the_predict_command_over_a_folder_gives_no_p_for_the_film_it_cannot_judge(study, tmp_path, capsys):
    import shutil

    folder = tmp_path / "studies"
    shutil.copytree(DEMO_STUDIES, folder)
    gated_film = folder / "NLMCXR_png" / "CXR90003_IM-90003-1001.png"
    gated_film.write_bytes(study.image_bytes)  # the same study's film, upside down
    assert cli_main(["predict", "--model", str(DEMO_MODEL), "--studies", str(folder), "--json"]) == 0
    lines = {line["study"]: line for line in map(json.loads, capsys.readouterr().out.splitlines())}
    gated = lines.pop("CXR90003")
    assert gated["judged"] is False and gated["probability"] is None and gated["label"] is None
    assert "upside down" in gated["not_judged_reason"]
    assert lines and all(line["judged"] is True and line["probability"] is not None for line in lines.values())
    assert cli_main(["predict", "--model", str(DEMO_MODEL), "--studies", str(folder), "--show-anyway",
                     "--json"]) == 0
    shown = {line["study"]: line for line in map(json.loads, capsys.readouterr().out.splitlines())}["CXR90003"]
    assert shown["shown_anyway"] is True and shown["probability"] == pytest.approx(study.document["probability"],
                                                                                   abs=1e-4)
    checked("CLI: predict --studies")


@pytest.fixture(scope="module")
def service(study):
    from cxrmodel.worker.service import ModelService

    model_service = ModelService(DEMO_MODEL, study.cache_root)
    yield model_service
    model_service.close()


def test_the_worker_answers_carry_no_p_unless_the_request_says_shown_anyway(study, service):
    _no_numbers_in(service.predict(study.image_bytes, REPORT), study)
    shown = service.predict(study.image_bytes, REPORT, shown_anyway=True)
    assert shown["shown_anyway"] is True and shown["probability"] == pytest.approx(study.document["probability"],
                                                                                   abs=2e-6)
    checked("worker: predict answer")
    answer = service.explain(study.image_bytes, REPORT)
    assert answer["cached"] is True  # the page's explanation, from the shared cache
    _no_numbers_in(answer, study)
    assert service.explain(study.image_bytes, REPORT, shown_anyway=True)["probability"] is not None
    checked("worker: explain answer")


def test_the_what_if_shows_no_probability_unless_shown_anyway(study, service):
    disclosures = distribution_gate.CachedDisclosures(study.explainer)
    original = what_if.original_probability(disclosures)

    def predict(film: bytes, report: str, shown_anyway: bool) -> dict:
        return service.predict(film, report, shown_anyway=shown_anyway)

    masked = what_if.film_masker(study.explainer)
    circle = {key: study.document["circles"][0][key] for key in ("x", "y", "r")}
    source = (study.image_bytes, REPORT)
    for edited, removed in ((None, []), ("FINDINGS: Effusion.", []), (None, [circle])):
        children = text_of(what_if.what_if_children(study.film.name, source, edited, removed, False, original,
                                                    predict, masked))
        assert "What-if off" in children and leaks(children, study) == [], children
    shown = text_of(what_if.what_if_children(study.film.name, source, "FINDINGS: Effusion.", [], True, original,
                                             predict, masked))
    assert what_if.SHOWN_ANYWAY_PREFIX in shown and "P(abnormal), model output" in shown, shown
    checked("what-if")


def test_the_model_comparison_stores_and_draws_no_number_unless_shown_anyway(study):
    bundle = study.explainer.bundle
    comparison = model_comparison.disclosed_comparison([bundle, bundle], [study.explanation, study.explanation])
    assert comparison["decision"] == WITHHOLD
    stored = model_comparison.named(study.upload_id, comparison, shown_anyway=False)
    assert stored == {"study": study.upload_id, "gated": True}  # nothing of it reaches the browser
    table, _button, caption = model_comparison.comparison_table(stored, {"study": study.upload_id})
    assert table is None and caption == model_comparison.GATED_TEXT
    shown = model_comparison.named(study.upload_id, comparison, shown_anyway=True)
    table, _button, caption = model_comparison.comparison_table(shown, {"study": study.upload_id})
    assert caption.startswith("Shown anyway:") and leaks(text_of(table), study)
    # A value stored for another study never draws under this one's name.
    assert model_comparison.comparison_table(shown, {"study": "CXR90003"})[0] is None
    checked("model comparison")


def test_the_stability_badge_stores_and_draws_nothing_unless_shown_anyway(study):
    disclosures = distribution_gate.CachedDisclosures(study.explainer)
    checked_stability = {"reference": "blur", "thresholds": [0.7], "overlaps": [0.4321], "rank_correlation": 0.5678}
    source = (study.image_bytes, REPORT)
    stored = stability_check.stability_data(study.upload_id, source, lambda *_: checked_stability,
                                            disclosures(*source, False))
    assert stored == {"study": study.upload_id, "gated": True}
    assert stability_check.badge_parts(stored, {"study": study.upload_id}, 0.7)[0] == ""
    shown = stability_check.stability_data(study.upload_id, source, lambda *_: checked_stability,
                                           disclosures(*source, True))
    badge = stability_check.badge_parts(shown, {"study": study.upload_id}, 0.7)[0]
    assert badge.startswith(stability_check.SHOWN_ANYWAY_PREFIX) and "0.43" in badge
    checked("stability")


def test_every_channel_is_checked():
    """Runs last (pytest keeps file order): a channel listed and never rendered both ways is a gap."""
    assert set(CHANNELS) == CHECKED, sorted(set(CHANNELS) - CHECKED)
