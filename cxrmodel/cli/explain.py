"""The ``predict`` and ``explain`` commands: a bundle's probabilities for a folder, or one study explained.

    python -m cxrmodel predict --model BUNDLE (--studies DIR | [--image FILE] [--report FILE | --report-text TEXT])
        [--json] [--show-anyway]
    python -m cxrmodel explain --model BUNDLE [--image FILE] [--report FILE | --report-text TEXT] [--threshold TAU]
        [--distance PX] [--min-points N] [--steps auto|N] [--method RULE] [--baseline black|blur|mean]
        [--smoothing SIGMA] [--evidence none|current|all] [--removal imputation|surroundings|reference]
        [--cache-dir DIR] [--save-attributions OUT.npz] [--json] [--show-anyway]

``predict`` prints one line per study, the same in both modes (:func:`prediction_record`): readable, or with
``--json`` ``{"study", "label", "probability", "calibrated_probability", ..., "truth_label"}``; ``explain`` prints
the explanation as readable lines, or with ``--json`` as one JSON document: that output is the commands' product. In
every command's JSON ``label`` is the model's prediction, ``"abnormal"`` at P(abnormal) >= 0.5 else ``"normal"``
(:func:`predicted_label`); the study's own label (from its MeSH terms) is ``truth_label``, in the same words. The
readable lines round probabilities to 3 decimals and shares to one-decimal percent, and carry the warning when the
image could not be checked. A film the model cannot judge (unlike its training films, or a lateral view:
:class:`cxrmodel.explain.disclosure.Disclosure`, the decision the dashboard and the model worker take too) is
printed as ``not judged: <reason>`` with no P(abnormal), verdict, circles or deletion evidence, and its JSON
(``explain --json``, ``predict --json``) has ``"judged": false``, ``"not_judged_reason"`` and those numbers null;
``--show-anyway`` prints them, stamped ``shown anyway`` (``"shown_anyway": true``), except for a lateral view.
Inputs are checked before the model is loaded. Both commands work for a bundle of any modality and ask only for what
its model reads: a text-only bundle needs no ``--image`` (one given is not read), an image-only one no report (one
given is not read; the words list is empty). ``--evidence`` says how much deletion evidence to compute: ``current``
(the default) removes the circles drawn at the chosen sight sensitivity, ``all`` those of every slider threshold,
``none`` computes none (the explanation alone, faster; ``evidence`` is null). The figures at a threshold are the
page's for the same study and settings. :func:`cxrmodel.cli.main.build_parser` registers both with
:func:`add_parsers`; the model, explainer and decoder are imported when a command runs, so ``--help`` loads no
TensorFlow.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

from cxrmodel.cli._common import (
    MIN_POINTS_HELP,
    SMOOTHING_HELP,
    STEPS_HELP,
    CommandError,
    attribution_smoothing,
    existing_directory,
    integration_steps,
    positive_float,
    positive_int,
    sight_sensitivity,
)
from cxrmodel.progress import progress_meter

if TYPE_CHECKING:
    from cxrmodel.explain.disclosure import Disclosure

DECISION_THRESHOLD = 0.5
"""P(abnormal) at or above which a study is called abnormal (the ``label`` of ``explain``'s document too)."""

NOT_CHECKED_WARNING = "not checked whether this image looks like the model's training images"
SHOW_ANYWAY_HELP = ("print P(abnormal), the circles and the evidence even for a film the model cannot judge (unlike "
                    "its training films), stamped 'shown anyway'; without it such a film gets 'not judged: <reason>' "
                    "and, in --json, \"probability\": null. A lateral view is never shown")
SINGLE_MODALITY_NOTES = {
    "text": "text-only model: it reads the report alone; no radiograph is part of its decision (no circles)",
    "image": "image-only model: it reads the radiograph alone; the report is not part of its decision (no words)",
}


def predicted_label(probability: float) -> str:
    """``"abnormal"`` when ``probability >= 0.5`` (:data:`DECISION_THRESHOLD`), else ``"normal"``."""
    return "abnormal" if probability >= DECISION_THRESHOLD else "normal"


def percent(share: float | None) -> str:
    """A share as text output prints it: one-decimal percent (``0.9192`` -> ``"91.9%"``), ``"n/a"`` when unknown."""
    return "n/a" if share is None else f"{round(100 * share, 1) + 0.0:.1f}%"  # + 0.0: never "-0.0%"


def disclosure_lines(disclosure: Disclosure) -> list[str]:
    """What the text output says first about a study the model cannot judge (nothing for a judged one)."""
    from cxrmodel.explain.disclosure import SHOWN_ANYWAY_TEXT, WITHHOLD  # noqa: PLC0415 - light, with the command

    if disclosure.judged:
        return []
    lines = [disclosure.stamp()]
    if disclosure.judged_by:
        lines.append(f"judged by: {disclosure.judged_by}")
    if disclosure.decision == WITHHOLD and not disclosure.shown_anyway:
        lines.append("P(abnormal), the verdict, the circles and the deletion evidence are withheld: the model's "
                     "numbers would say nothing about this film (--show-anyway prints them, stamped)")
    elif disclosure.shown_anyway:
        lines.append(SHOWN_ANYWAY_TEXT)
    return lines


def readable_explanation(document: dict, disclosure: Disclosure | None = None) -> list[str]:
    """The lines ``explain`` prints without ``--json``, from its document.

    Args:
        document: The explanation document (redacted or not).
        disclosure: What may be shown; None = the document's own gate (:meth:`Disclosure.of`). A study the
            model cannot judge gets ``"not judged: <reason>"`` and, unless shown anyway, no P(abnormal), circles
            or deletion evidence.
    """
    from cxrmodel.explain.disclosure import Disclosure  # noqa: PLC0415 - light, with the command

    disclosure = disclosure or Disclosure.of(document)
    document = disclosure.redact(document)
    modality = document.get("modality", "multimodal")
    if not disclosure.shows_numbers:
        lines = disclosure_lines(disclosure)
        if modality != "multimodal":
            lines.append(SINGLE_MODALITY_NOTES[modality])
        return lines
    lines = [*disclosure_lines(disclosure), f"P(abnormal) = {document['probability']:.3f} ({document['label']})"]
    if document.get("verdict"):
        lines.insert(len(lines) - 1, f"verdict: {document['verdict']['sentence']}")
    if modality != "multimodal":
        lines.append(SINGLE_MODALITY_NOTES[modality])

    distribution = document.get("distribution") or {}
    if modality != "text" and distribution.get("in_distribution") is None:  # flagged films: disclosure_lines
        reasons = "; ".join(distribution.get("reasons") or [])
        lines.append(f"warning: {NOT_CHECKED_WARNING}" + (f": {reasons}" if reasons else ""))
    share = document["modality_share"]
    shares = {"multimodal": f"image share {percent(share['image'])}, report share {percent(share['text'])}",
              "text": f"report share {percent(share['text'])}", "image": f"image share {percent(share['image'])}"}
    lines.append(f"{shares[modality]}; completeness error {document['completeness']['relative_error']:.2%}")
    lines.extend(f"circle at ({circle['x']:.0f}, {circle['y']:.0f}) r={circle['r']:.0f} mass={percent(circle['mass'])}"
                 for circle in document["circles"])
    if "calibrated_probability" in document:
        calibrated = document["calibrated_probability"]
        lines.append("calibrated P(abnormal) = " + (f"{calibrated:.3f}" if calibrated is not None
                                                     else "n/a (the bundle is not calibrated)"))
    lines.extend(evidence_lines(document))
    return lines


def evidence_lines(document: dict) -> list[str]:
    """The deletion evidence in words (the same numbers and region sentence as the page's prediction card and word
    table; changes in log-odds, the model's pre-sigmoid output)."""
    from cxrmodel.explain.evidence_text import region_sentence, signed_change  # noqa: PLC0415 - with the command

    evidence = document.get("evidence")
    if not evidence:
        return []
    probability, log_odds = float(evidence["probability"]), float(evidence["log_odds"])
    tau = document["settings"]["sight_sensitivity"]
    lines = [f"log-odds of abnormal = {log_odds:.2f} (the model output before its sigmoid)"]
    regions = evidence["regions"]  # none for a text-only model
    region = min(regions, key=lambda entry: abs(entry["threshold"] - tau)) if regions else None
    if region is not None:
        lines.append(f"at tau {region['threshold']:.2f}: " + region_sentence(
            region["circles"], region["threshold"], probability, log_odds, region["probability"],
            region["log_odds"], region["random_log_odds"], evidence.get("removal")))
    for word in evidence["words"]:
        lines.append(f"remove the top {word['k']} word(s) ({', '.join(word['words'])}): "
                     f"P -> {word['probability']:.3f}, log-odds {signed_change(log_odds, word['log_odds'])} "
                     f"({word['k']} random word(s): {signed_change(log_odds, word['random_log_odds'])})")
    ledger, ledger_log_odds = evidence["modality"], evidence["modality"]["log_odds"]
    modality = document.get("modality", "multimodal")
    # Removing the half a single-modality model does not read changes nothing; only its own half is worth a line.
    halves = {"multimodal": (("image", "image_removed"), ("report", "report_removed"), ("both", "both_removed")),
              "text": (("report", "both_removed"),), "image": (("image", "both_removed"),)}[modality]
    lines.append("removed -> P (log-odds change): " + ", ".join(
        f"{half} {ledger[name]:.3f} ({signed_change(log_odds, ledger_log_odds[name])})" for half, name in halves))
    checked = evidence.get("stability")
    if checked:
        overlap = "n/a" if checked["overlap"] is None else f"{checked['overlap']:.2f}"
        rho = "n/a" if checked["rank_correlation"] is None else f"{checked['rank_correlation']:.2f}"
        if checked.get("converged", True):
            lines.append(f"stability against the {checked['reference']} reference: {checked['verdict']} "
                         f"(signal overlap {overlap}, rank correlation {rho})")
        else:
            lines.append(f"stability against the {checked['reference']} reference: did not converge, no verdict "
                         f"(completeness error {checked['completeness_error']:.1%}, target "
                         f"{checked['target_error']:.1%})")
    return lines


PREDICTION_DECIMALS = 6
"""Decimals of ``probability`` and ``calibrated_probability`` in ``predict --json`` (``explain --json``'s too)."""


def prediction_record(study: str | None, probability: float, calibrated: float | None,
                      truth_label: str | None, disclosure: Disclosure) -> dict:
    """One ``predict`` result, the same fields in both modes: ``study``, ``label``, ``probability``,
    ``calibrated_probability`` (null when the bundle is not calibrated), the disclosure fields and
    ``truth_label`` (the study's own label from its MeSH terms; null for one study given by file). A film the
    model cannot judge has its numbers nulled unless shown anyway (:meth:`Disclosure.redact`)."""
    record = {"study": study, "label": predicted_label(probability),
              "probability": round(probability, PREDICTION_DECIMALS),
              "calibrated_probability": None if calibrated is None else round(calibrated, PREDICTION_DECIMALS)}
    return {**disclosure.redact(record), "truth_label": truth_label}


def readable_prediction(record: dict, disclosure: Disclosure, *, named: bool) -> str:
    """``predict``'s line without ``--json``: ``[STUDY: ]P(abnormal) = 0.987 (abnormal)[; calibrated 0.953]
    [; truth abnormal]``, probabilities to 3 decimals; ``not judged: <reason>`` instead of P for a film the model
    cannot judge (stamped when shown anyway). ``named``: start with the study id (a folder's lines)."""
    prefix = f"{record['study']}: " if named else ""
    truth = f"; truth {record['truth_label']}" if record["truth_label"] is not None else ""
    parts = disclosure_lines(disclosure)[:1]
    if disclosure.shows_numbers:
        calibrated = record["calibrated_probability"]
        parts.append(f"P(abnormal) = {record['probability']:.3f} ({record['label']})"
                     + ("" if calibrated is None else f"; calibrated {calibrated:.3f}"))
    return prefix + "; ".join(parts) + truth


def _command_predict(arguments: argparse.Namespace) -> int:
    from cxrmodel.data import StudyCollection  # noqa: PLC0415 - TensorFlow only when the command runs
    from cxrmodel.explain import Disclosure, study_distribution  # noqa: PLC0415
    from cxrmodel.imaging import decode_image, decode_image_file  # noqa: PLC0415
    from cxrmodel.inputs import clean_report_text  # noqa: PLC0415
    from cxrmodel.modeling import load_bundle  # noqa: PLC0415

    one_study = arguments.image is not None or arguments.report is not None or arguments.report_text is not None
    if arguments.studies is not None and one_study:
        raise CommandError("--studies reads its own images and reports; --image, --report and --report-text give "
                           "one study instead")
    if arguments.studies is None and not one_study:
        raise CommandError("give a folder (--studies DIR) or one study (--image FILE and --report FILE or "
                           "--report-text TEXT)")
    # Inputs are checked before the model is loaded: a bad file fails in milliseconds.
    bundle = load_bundle(arguments.model, load_model=False, trust_profile=arguments.trust_profile)
    if arguments.studies is not None:
        try:
            studies = list(StudyCollection.from_folder(arguments.studies).studies.values())
        except ValueError as error:
            raise CommandError(f"no studies with images found in {arguments.studies}: {error}") from None
        inputs = [(study.study_id, study.label_name, decode_image_file(study.image_paths[0]).pixels
                   if bundle.reads_image else None, study.report_text) for study in studies]
    else:
        if bundle.reads_image and arguments.image is None:
            raise CommandError(f"the {bundle.modality_label} model of {arguments.model} reads the radiograph: give "
                               "it with --image FILE")
        if bundle.reads_report and arguments.report is None and arguments.report_text is None:
            raise CommandError(f"the {bundle.modality_label} model of {arguments.model} reads the report: give it "
                               "with --report FILE or --report-text TEXT")
        pixels, report = None, ""  # a half the model does not read is neither needed nor read
        if bundle.reads_image:
            if not arguments.image.is_file():
                raise CommandError(f"image file {arguments.image} does not exist")
            pixels = decode_image(arguments.image.read_bytes()).pixels
        if bundle.reads_report:
            report = clean_report_text(read_report_file(arguments.report) if arguments.report
                                       else arguments.report_text)
        study_name = str(arguments.image) if arguments.image is not None else None
        inputs = [(study_name, None, pixels, report)]
    prepared = [bundle.prepare(pixels, report) for _, _, pixels, report in inputs]
    probabilities = bundle.predict_studies(prepared)
    for (study, truth_label, _, _), item, probability in zip(inputs, prepared, probabilities, strict=True):
        probability = float(probability)
        calibrated = bundle.calibrated_probability(probability) if bundle.calibration is not None else None
        # Every study takes the disclosure decision its explanation takes (the dashboard's and the model
        # worker's too): no P for a film the model cannot judge, unless --show-anyway.
        disclosure = Disclosure.from_distribution(study_distribution(bundle, item),
                                                  shown_anyway=arguments.show_anyway)
        record = prediction_record(study, probability, calibrated, truth_label, disclosure)
        print(json.dumps(record) if arguments.json
              else readable_prediction(record, disclosure, named=arguments.studies is not None))
    return 0


def read_report_file(path: Path) -> str:
    """A report from a plain-text file (UTF-8/16, Windows-1252) or an OpenI XML (FINDINGS + IMPRESSION).

    Read and checked exactly as a dashboard upload is (:func:`cxrmodel.inputs.report_from_file`).
    """
    from cxrmodel.inputs import report_from_file  # noqa: PLC0415 - the report readers only when the command runs

    if not path.is_file():
        raise CommandError(f"report file {path} does not exist")
    return report_from_file(str(path), path.read_bytes())


def _command_explain(arguments: argparse.Namespace) -> int:
    import numpy as np  # noqa: PLC0415 - TensorFlow only when the command runs

    from cxrmodel.explain import (  # noqa: PLC0415
        Disclosure,
        ExplanationSettings,
        StudyExplainer,
        attribution_arrays,
        explanation_document,
    )
    from cxrmodel.imaging import decode_image  # noqa: PLC0415
    from cxrmodel.inputs import clean_report_text  # noqa: PLC0415
    from cxrmodel.modeling import load_bundle  # noqa: PLC0415

    # The bundle's files are checked and its modality read from the card; the Keras model loads on first use.
    bundle = load_bundle(arguments.model, load_model=False, trust_profile=arguments.trust_profile)
    if bundle.reads_image and arguments.image is None:
        raise CommandError(f"the {bundle.modality_label} model of {arguments.model} reads the radiograph: "
                           "give it with --image FILE")
    if arguments.image is not None and not arguments.image.is_file():
        raise CommandError(f"image file {arguments.image} does not exist")
    if arguments.save_attributions:  # checked before the gradients are computed, not after
        target = Path(arguments.save_attributions)
        if target.is_dir() or not target.absolute().parent.is_dir():
            raise CommandError(f"--save-attributions {target}: expected a file in an existing folder")
    image_bytes = None
    if bundle.reads_image:
        image_bytes = arguments.image.read_bytes()
        # Inputs are checked (as a dashboard upload is) before the model is loaded: a bad file fails in milliseconds.
        decode_image(image_bytes)
    report = ""  # an image-only model reads no report: none is needed, one given is still shown in no words
    if bundle.reads_report or arguments.report is not None or arguments.report_text is not None:
        if arguments.report is None and arguments.report_text is None:
            raise CommandError(f"the {bundle.modality_label} model of {arguments.model} reads the report: give it "
                               "with --report FILE or --report-text TEXT")
        report = clean_report_text(read_report_file(arguments.report) if arguments.report else arguments.report_text)
    settings = ExplanationSettings(
        sight_sensitivity=arguments.threshold,
        link_distance=arguments.distance,
        min_points=arguments.min_points,
        steps=arguments.steps,
        method=arguments.method,
        image_baseline=arguments.baseline,
        attribution_smoothing=arguments.smoothing,
        removal=arguments.removal,
    )
    cache = None
    if arguments.cache_dir:
        from cxrmodel.explain import ExplanationCache  # noqa: PLC0415

        cache = ExplanationCache(arguments.cache_dir)
    explainer = StudyExplainer(bundle, cache)
    with progress_meter(total=100, description="integrated gradients", unit="%") as meter:
        def progress(fraction: float, message: str) -> None:
            meter.set_postfix_str(message, refresh=False)
            meter.update(max(0, round(100 * fraction) - meter.n))

        explanation = explainer.explain(image_bytes, report, settings, progress=progress,
                                        evidence_scope=arguments.evidence)
        meter.update(100 - meter.n)  # done (a cached explanation reports no progress of its own)
    checked = explainer.stability(image_bytes, report, settings) if arguments.stability else None
    document = explanation_document(bundle, explanation, settings, checked, evidence_scope=arguments.evidence)
    # One decision for both outputs: a film the model cannot judge is printed without its numbers, unless asked.
    disclosure = Disclosure.of(document, shown_anyway=arguments.show_anyway)
    if arguments.save_attributions:
        np.savez_compressed(arguments.save_attributions, **attribution_arrays(explanation))
    if arguments.json:
        print(json.dumps(disclosure.redact(document)))
    else:
        print("\n".join(readable_explanation(document, disclosure)))
    return 0


def add_parsers(subparsers: argparse._SubParsersAction) -> None:
    """Register ``predict`` and ``explain``, in that order.

    Args:
        subparsers: The CLI's sub-command set (``ArgumentParser.add_subparsers()``).
    """
    predict = subparsers.add_parser(
        "predict",
        help="P(abnormal) of every study of an OpenI folder, or of one study",
        description="One line per study, the same in both modes: readable (P(abnormal) and its calibrated value to 3 "
        'decimals, the study\'s own label as "truth"), or with --json one JSON object per line: {"study", "label", '
        '"probability", "calibrated_probability", "judged", "not_judged_reason", "shown_anyway", "truth_label"} '
        '(probabilities to 6 decimals; label = the prediction, "abnormal" at P(abnormal) >= 0.5, else "normal"; '
        "truth_label = the study's own label from its MeSH terms, null for one study given by file). A model that "
        "does not read one half of the study needs no input for it.",
    )
    predict.add_argument("--model", type=existing_directory, required=True, help="model bundle directory")
    predict.add_argument("--trust-profile", type=existing_directory, default=None, metavar="FOLDER",
                         help="judge the film with this trust profile instead of the bundle's own")
    predict.add_argument("--studies", type=existing_directory, default=None,
                         help="OpenI folder (ecgen-radiology/ + NLMCXR_png/, or the Kaggle indiana_*.csv layout)")
    predict.add_argument("--image", type=Path, default=None,
                         help="one study's PNG, JPEG or DICOM radiograph (not needed by a text-only model)")
    single_report = predict.add_mutually_exclusive_group()
    single_report.add_argument("--report", type=Path,
                               help="one study's report as a text file or an OpenI XML (not needed by an image-only "
                                    "model)")
    single_report.add_argument("--report-text", help="one study's report text (instead of --report)")
    predict.add_argument("--json", action="store_true",
                         help="print one JSON object per study instead of readable lines")
    predict.add_argument("--show-anyway", action="store_true", help=SHOW_ANYWAY_HELP)
    predict.set_defaults(handler=_command_predict)

    from cxrmodel.explain import METHODS  # noqa: PLC0415 - with the parser, not with cxrmodel.cli
    from cxrmodel.explain.evidence import EVIDENCE_SCOPES  # noqa: PLC0415
    from cxrmodel.explain.removal import REMOVALS  # noqa: PLC0415

    explain = subparsers.add_parser(
        "explain",
        help="explain one study: probability, circles, word attributions",
        description="Readable lines (P(abnormal) to 3 decimals, shares in one-decimal percent, the distribution "
        'warning), or with --json the explanation document; its "label" is the prediction ("abnormal" at '
        'P(abnormal) >= 0.5, else "normal"). Circles are in original-image pixels. Section headers of the report '
        '("FINDINGS:", "IMPRESSION:", ...) are shown but not fed to the model.',
    )
    explain.add_argument("--model", type=existing_directory, required=True, help="model bundle directory")
    explain.add_argument("--trust-profile", type=existing_directory, default=None, metavar="FOLDER",
                        help="judge the film with this trust profile instead of the bundle's own")
    explain.add_argument("--image", type=Path,
                         help="PNG, JPEG or DICOM radiograph (required unless the bundle holds the text-only model)")
    report = explain.add_mutually_exclusive_group()
    report.add_argument("--report", type=Path,
                        help="report as a text file or an OpenI XML (required unless the bundle holds the image-only "
                             "model)")
    report.add_argument("--report-text", help="report text (instead of --report)")
    explain.add_argument("--threshold", type=sight_sensitivity, default=None,
                         help="sight sensitivity in [0, 1] (default: the bundle's, 0.70)")
    explain.add_argument("--distance", type=positive_float, default=None,
                         help="link distance in model-grid pixels (default: 10 x grid/224)")
    explain.add_argument("--min-points", type=positive_int, default=2, help=MIN_POINTS_HELP)
    explain.add_argument("--steps", type=integration_steps, default="auto", help=STEPS_HELP)
    explain.add_argument("--method", choices=METHODS, default="riemann_trapezoid",
                         help="integration rule (default riemann_trapezoid; with --steps auto it refines the intervals "
                         "whose own completeness check fails)")
    explain.add_argument("--baseline", choices=("black", "blur", "mean"), default=None,
                         help="image baseline (default: the bundle's; 'mean' = its mean normal training image)")
    explain.add_argument("--smoothing", type=attribution_smoothing, default=None, metavar="SIGMA", help=SMOOTHING_HELP)
    explain.add_argument("--evidence", choices=EVIDENCE_SCOPES, default="current",
                         help="deletion evidence to compute: 'current' (default) removes the circles drawn at "
                         "--threshold, 'all' those of every slider threshold, 'none' computes none (faster; "
                         "evidence is null)")
    explain.add_argument("--removal", choices=REMOVALS, default=None,
                         help="how the evidence removes a region: 'imputation' (default: filled in from the pixels "
                         "around it, noisy linear imputation), 'surroundings' (its blurred surroundings) or "
                         "'reference' (the reference image pasted in)")
    explain.add_argument("--cache-dir", type=Path, default=None, help="reuse attributions from this cache")
    explain.add_argument("--save-attributions", type=Path, default=None,
                         help="write the maps, token scores and grid-to-image mapping to this .npz (read by detect)")
    explain.add_argument("--stability", action="store_true",
                         help="also explain with a second reference image (blur for mean, else mean) and report in "
                         "evidence.stability whether the circles survive it (doubles the gradient work)")
    explain.add_argument("--json", action="store_true", help="print the JSON document")
    explain.add_argument("--show-anyway", action="store_true", help=SHOW_ANYWAY_HELP)
    explain.set_defaults(handler=_command_explain)
