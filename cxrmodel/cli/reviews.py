"""The ``reviews`` commands: what reviewers said of the explanations, from the review database.

    python -m cxrmodel reviews summary [--database URL] [--fingerprint FP] [--json]
    python -m cxrmodel reviews export [--database URL] [--format json|csv] [--output FILE]
    python -m cxrmodel reviews import FILE [--database URL]
    python -m cxrmodel reviews export-sr --study STUDY --reviewer NAME --image FILE.dcm --output FILE [--database URL]

``--database`` is the dashboard's (``python app.py --database-url``): a ``sqlite:///PATH`` or
``postgresql+psycopg://USER@HOST/DB`` URL; the default is ``CXR_DATABASE_URL`` or the SQLite file in the
dashboard's default cache directory. ``summary`` prints the pointing game per sight sensitivity, the best tau and
Cohen's kappa (:mod:`cxrmodel.reviews.agreement`); ``--json`` prints it as one JSON document. ``export`` writes
every verdict, point, word flag and comment (:mod:`cxrmodel.reviews.exchange`) to standard output or ``--output``;
``import`` reads a JSON export back. ``export-sr`` writes one reviewer's finding points on one study as a DICOM
Structured Report that refers to the study's DICOM radiograph (:mod:`cxrmodel.reviews.dicom_sr`). User errors exit
with status 2 and one line on stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from cxrmodel.cli._common import CommandError

FORMATS = ("json", "csv")


def _open_store(url: str | None, must_exist: bool = True):
    from sqlalchemy.engine import make_url  # noqa: PLC0415 - SQLAlchemy only for the review commands

    from cxrmodel.reviews import ReviewStore, default_database_url, normalise_database_url  # noqa: PLC0415

    url = normalise_database_url(url or default_database_url())  # DatabaseError (a ValueError): one line
    parsed = make_url(url)
    if must_exist and parsed.get_backend_name() == "sqlite" and not Path(parsed.database).is_file():
        raise CommandError(f"there is no review database at {parsed.database}; give the dashboard's with "
                           "--database URL (or set CXR_DATABASE_URL)")
    return ReviewStore(url)


def _database_errors(handler):
    """Run a command, turning a database failure into one line on stderr."""
    def run(arguments: argparse.Namespace) -> int:
        from sqlalchemy.exc import SQLAlchemyError  # noqa: PLC0415

        try:
            return handler(arguments)
        except SQLAlchemyError as error:
            reason = " ".join(str(getattr(error, "orig", None) or error).split())[:300]
            raise CommandError(f"the review database failed: {reason}") from None
    return run


def _summary_lines(summary: dict) -> list[str]:
    def percent(value: float | None) -> str:
        return "—" if value is None else f"{100 * value:.0f}%"

    lines = [f"{summary['reviews']} reviews by {summary['reviewers']} reviewers of {summary['studies']} studies, "
             f"model {summary['bundle_fingerprint']}"
             + (f" ({summary['reviews_on_earlier_models']} more on other models)"
                if summary["reviews_on_earlier_models"] else ""),
             f"{'tau':>5}  {'points hit':>12}  {'chance':>6}  {'above chance':>12}  {'circles with a point':>20}  "
             f"{'circles agreed':>14}"]
    for row in summary["thresholds"]:
        lines.append(f"{row['sight_sensitivity']:>5.2f}  {percent(row['pointing_hit_rate']):>5} of {row['points']:<4}"
                     f"  {percent(row['coverage']):>6}  {percent(row['above_chance']):>12}"
                     f"  {percent(row['circle_precision']):>9} of {row['circles']:<8}"
                     f"  {percent(row['agreed_share']):>5} of {row['circle_verdicts']:<6}")
    best = summary["best_sight_sensitivity"]
    lines.append("best tau: " + ("— (no finding points yet)" if best is None else f"{best:.2f}"))
    for name, key in (("model label vs reviewers", "model_vs_reviewers"), ("between reviewers", "between_reviewers")):
        kappa = summary[key]
        value = "—" if kappa["kappa"] is None else f"{kappa['kappa']:.2f}"
        lines.append(f"Cohen's kappa, {name}: {value} over {kappa['pairs']} pairs"
                     + (f" ({kappa['note']})" if kappa["note"] else ""))
    return lines


@_database_errors
def _command_summary(arguments: argparse.Namespace) -> int:
    from cxrmodel.reviews import agreement_summary  # noqa: PLC0415

    store = _open_store(arguments.database)
    try:
        summary = agreement_summary(store.all_reviews(), arguments.fingerprint).to_dict()
    finally:
        store.close()
    if arguments.fingerprint is not None and summary["reviews"] == 0:
        raise CommandError(f"no reviews were made with model {arguments.fingerprint}")
    print(json.dumps(summary, indent=1) if arguments.json else "\n".join(_summary_lines(summary)))
    return 0


@_database_errors
def _command_export(arguments: argparse.Namespace) -> int:
    from cxrmodel.reviews import reviews_to_csv, reviews_to_json  # noqa: PLC0415

    store = _open_store(arguments.database)
    try:
        reviews = store.all_reviews()
    finally:
        store.close()
    document = reviews_to_json(reviews) if arguments.format == "json" else reviews_to_csv(reviews)
    if arguments.output is None:
        sys.stdout.write(document)
    else:
        arguments.output.write_text(document, encoding="utf-8")
        print(json.dumps({"written": str(arguments.output), "reviews": len(reviews), "format": arguments.format}))
    return 0


@_database_errors
def _command_import(arguments: argparse.Namespace) -> int:
    from cxrmodel.reviews import reviews_from_json  # noqa: PLC0415

    try:
        text = arguments.file.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise CommandError(f"{arguments.file} is not UTF-8 text; give a JSON review export") from None
    reviews = reviews_from_json(text, str(arguments.file))  # ReviewError (a ValueError): one line
    store = _open_store(arguments.database, must_exist=False)
    try:
        count = store.import_reviews(reviews)
    finally:
        store.close()
    print(json.dumps({"imported": count, "file": str(arguments.file)}))
    return 0


@_database_errors
def _command_export_sr(arguments: argparse.Namespace) -> int:
    import pydicom  # noqa: PLC0415 - pydicom and highdicom only for this export
    from pydicom.errors import InvalidDicomError  # noqa: PLC0415

    from cxrmodel.reviews.dicom_sr import points_structured_report  # noqa: PLC0415

    try:
        image = pydicom.dcmread(arguments.image, stop_before_pixels=True)
    except InvalidDicomError:
        raise CommandError(f"{arguments.image} is not a DICOM file; an SR can only refer to a DICOM radiograph "
                           "(PNG and JPEG studies have no SOP instance to point at)") from None
    store = _open_store(arguments.database)
    try:
        reviews = [review for review in store.all_reviews() if review.reviewer == arguments.reviewer
                   and arguments.study in (review.study.study_name, review.study.content_hash)]
    finally:
        store.close()
    if not reviews:
        raise CommandError(f"{arguments.reviewer} has no review of {arguments.study} (give the study's name or its "
                           "64-digit content hash, as `reviews export` lists them)")
    review = max(reviews, key=lambda candidate: candidate.updated_at)  # the newest model's, if several
    report = points_structured_report(image, review)  # ReviewError (a ValueError): one line
    report.save_as(arguments.output, enforce_file_format=True)
    print(json.dumps({"written": str(arguments.output), "study": review.study.study_name,
                      "reviewer": review.reviewer, "bundle_fingerprint": review.study.bundle_fingerprint,
                      "points": len(review.draft.points), "referenced_sop_instance_uid": str(image.SOPInstanceUID)}))
    return 0


def _existing_file(text: str) -> Path:
    path = Path(text)
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"{text} is not a file")
    return path


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``reviews summary|export|import`` on the CLI's sub-command set."""
    group = subparsers.add_parser("reviews", help="reviewers' verdicts on the explanations: summary, export, import")
    commands = group.add_subparsers(dest="reviews_command", metavar="SUBCOMMAND", required=True)
    database_help = ("review database URL: sqlite:///PATH or postgresql+psycopg://USER@HOST/DB (default: "
                     "CXR_DATABASE_URL, else reviews.sqlite3 in the dashboard's default cache directory)")

    summary = commands.add_parser("summary", help="pointing game per sight sensitivity (and its chance level), "
                                                  "best tau, Cohen's kappa")
    summary.add_argument("--database", default=None, metavar="URL", help=database_help)
    summary.add_argument("--fingerprint", default=None, metavar="FP",
                         help="the model (bundle fingerprint) whose explanations are scored (default: the one with "
                              "the most reviews)")
    summary.add_argument("--json", action="store_true", help="print the summary as JSON (default: a table)")
    summary.set_defaults(handler=_command_summary)

    export = commands.add_parser("export", help="write every verdict, point, word flag and comment")
    export.add_argument("--database", default=None, metavar="URL", help=database_help)
    export.add_argument("--format", choices=FORMATS, default="json",
                        help="json (complete; read back by `reviews import`) or csv (one row per mark) "
                             "(default: json)")
    export.add_argument("--output", type=Path, default=None, metavar="FILE",
                        help="write to FILE (default: standard output)")
    export.set_defaults(handler=_command_export)

    importing = commands.add_parser("import", help="store the reviews of a JSON export (replacing each reviewer's "
                                                   "own review of the same study and model)")
    importing.add_argument("file", type=_existing_file, metavar="FILE", help="a `reviews export --format json` file")
    importing.add_argument("--database", default=None, metavar="URL", help=database_help + "; created if missing")
    importing.set_defaults(handler=_command_import)

    structured = commands.add_parser("export-sr", help="one reviewer's finding points on one DICOM study as a DICOM "
                                                       "Structured Report (TID 1500, points as SCOORD POINT)")
    structured.add_argument("--database", default=None, metavar="URL", help=database_help)
    structured.add_argument("--study", required=True, help="the study's name (e.g. its id) or content hash")
    structured.add_argument("--reviewer", required=True, help="whose points (the reviewer's name)")
    structured.add_argument("--image", type=_existing_file, required=True, metavar="FILE.dcm",
                            help="the study's DICOM radiograph, which the SR refers to (its size must be the "
                                 "reviewed image's)")
    structured.add_argument("--output", type=Path, required=True, metavar="FILE", help="the SR file to write")
    structured.set_defaults(handler=_command_export_sr)
