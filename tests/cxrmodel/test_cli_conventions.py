"""The command line's conventions (docs/training.md, "Conventions"): every option explained with its default shown,
a closed pipe ends quietly, ``predict`` the same in every mode, only the inputs a model reads are asked for, old
spellings still work with a notice."""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from cxrmodel.cli import build_parser, main

ROOT = Path(__file__).resolve().parents[2]
DEMO_MODEL = ROOT / "models" / "demo"
DEMO_STUDIES = ROOT / "studies" / "demo"
STUDY_IMAGE = DEMO_STUDIES / "NLMCXR_png" / "CXR90015_IM-90015-1001.png"
STUDY_REPORT = DEMO_STUDIES / "ecgen-radiology" / "90015.xml"


def _commands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    """Every (command path, parser) of the CLI, sub-commands of sub-commands included."""
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield from _commands(child, (*path, name))


def _option_help(help_text: str, option: str) -> str:
    """The help block of ``option`` in ``--help``'s text: its line and the indented lines after it."""
    lines = help_text.splitlines()
    for index, line in enumerate(lines):
        if re.match(rf"\s+{re.escape(option)}([ ,=]|$)", line):
            block = [line]
            for following in lines[index + 1:]:
                if not following.startswith(" " * 3):  # the next option, group or section
                    break
                block.append(following)
            return " ".join(" ".join(block).split())
    raise AssertionError(f"{option} is not in the help text")


def _shown_default(value) -> str:
    return str(value)


def test_every_option_of_every_command_has_help_and_its_default_shows_in_help(capsys):
    problems = []
    for path, parser in _commands(build_parser()):
        with pytest.raises(SystemExit) as exited:
            main([*path, "--help"])
        assert exited.value.code == 0
        help_text = capsys.readouterr().out
        for action in parser._actions:
            if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
                continue
            name = action.option_strings[0] if action.option_strings else action.dest
            where = " ".join(("python -m cxrmodel", *path, name))
            if not action.help or action.help == argparse.SUPPRESS:
                problems.append(f"{where}: no help text")
                continue
            if not action.option_strings:
                continue
            block = _option_help(help_text, action.option_strings[0])
            default = action.default
            if default is None or default is False or default is argparse.SUPPRESS:
                continue
            if _shown_default(default) not in block:
                problems.append(f"{where}: default {default!r} not shown in {block!r}")
    assert problems == [], "\n".join(problems)


def _run(*arguments: str, stdout=subprocess.PIPE) -> subprocess.Popen:
    environment = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    return subprocess.Popen([sys.executable, "-m", "cxrmodel", *arguments], cwd=ROOT, stdout=stdout,
                            stderr=subprocess.PIPE, text=True, env=environment)


@pytest.mark.slow
def test_a_reader_that_stops_early_ends_the_command_quietly_with_status_0():
    # The reader is gone before the first line (deterministic EPIPE): status 0, nothing on stderr.
    process = _run("predict", "--model", str(DEMO_MODEL), "--studies", str(DEMO_STUDIES), "--json")
    process.stdout.close()
    _, error = process.communicate(timeout=240)
    assert process.returncode == 0 and error == ""
    # And as a user types it.
    completed = subprocess.run(["bash", "-o", "pipefail", "-c",
                                f"{sys.executable} -m cxrmodel predict --model {DEMO_MODEL} --studies "
                                f"{DEMO_STUDIES} | head -1"],
                               cwd=ROOT, capture_output=True, text=True, timeout=240,
                               env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert completed.returncode == 0 and completed.stderr == ""
    assert completed.stdout.startswith("CXR90001: P(abnormal) = ") and completed.stdout.count("\n") == 1


def test_predict_gives_the_same_fields_and_rounding_in_both_modes(capsys):
    assert main(["predict", "--model", str(DEMO_MODEL), "--studies", str(DEMO_STUDIES), "--json"]) == 0
    folder = {line["study"]: line for line in map(json.loads, capsys.readouterr().out.splitlines())}
    assert main(["predict", "--model", str(DEMO_MODEL), "--image", str(STUDY_IMAGE), "--report", str(STUDY_REPORT),
                 "--json"]) == 0
    one = json.loads(capsys.readouterr().out)
    in_folder = folder["CXR90015"]
    assert list(one) == list(in_folder)
    assert "calibrated_probability" in one and one["calibrated_probability"] is not None  # the demo is calibrated
    assert one["probability"] == pytest.approx(in_folder["probability"], abs=2e-6)
    for record in (one, in_folder):
        for key in ("probability", "calibrated_probability"):
            assert round(record[key], 6) == record[key]
    assert in_folder["truth_label"] == "abnormal" and one["truth_label"] is None

    # Readable lines, the same wording in both modes; a folder's start with the study id.
    assert main(["predict", "--model", str(DEMO_MODEL), "--image", str(STUDY_IMAGE), "--report",
                 str(STUDY_REPORT)]) == 0
    readable_one = capsys.readouterr().out.strip()
    assert readable_one == (f"P(abnormal) = {one['probability']:.3f} ({one['label']}); "
                            f"calibrated {one['calibrated_probability']:.3f}")
    assert main(["predict", "--model", str(DEMO_MODEL), "--studies", str(DEMO_STUDIES)]) == 0
    captured = capsys.readouterr()
    readable_folder = {line.split(": ", 1)[0]: line for line in captured.out.splitlines()}
    assert readable_folder["CXR90015"].startswith(f"CXR90015: {readable_one}; truth abnormal")
    assert captured.err == ""


def test_a_model_that_does_not_read_a_half_needs_no_input_for_it(capsys):
    image_only, text_only = DEMO_MODEL / "image-only", DEMO_MODEL / "text-only"
    assert main(["explain", "--model", str(image_only), "--image", str(STUDY_IMAGE), "--evidence", "none",
                 "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["modality"] == "image" and document["words"] == [] and document["probability"] is not None
    assert main(["predict", "--model", str(image_only), "--image", str(STUDY_IMAGE), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["probability"] == pytest.approx(document["probability"], abs=2e-6)
    assert main(["predict", "--model", str(text_only), "--report", str(STUDY_REPORT), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["study"] is None
    # The half the model does read is still required, in one line.
    assert main(["explain", "--model", str(DEMO_MODEL), "--image", str(STUDY_IMAGE)]) == 2
    error = capsys.readouterr().err
    assert error.startswith("error: the multimodal model of ") and "--report" in error and error.count("\n") == 1


@pytest.mark.parametrize(("old", "new", "dest", "value"), [
    (["evaluate-models", "--studies", "S", "--output-json", "t.json"], "--output", "output", "t.json"),
    (["pretrain-image", "--dataset", "cxr14", "--output", "o"], "--chestxray14", "chestxray14", "cxr14"),
    (["data", "fetch-openi-reports", "--dest", "cache"], "--output", "output", "cache"),
])
def test_an_old_spelling_still_works_for_one_release_and_says_what_replaces_it(old, new, dest, value, capsys):
    assert getattr(build_parser().parse_args(old), dest) == Path(value)
    error = capsys.readouterr().err
    assert error.startswith("deprecated: ") and new in error and error.count("\n") == 1


def test_evaluate_detection_writes_nothing_into_docs_by_default():
    arguments = build_parser().parse_args(["evaluate-detection", "--model", str(DEMO_MODEL), "--studies",
                                           str(DEMO_STUDIES)])
    assert arguments.output is None and arguments.chart is None


def test_compare_limit_is_a_seeded_sample_stratified_by_label():
    from types import SimpleNamespace

    from cxrmodel.cli.compare_explanations import stratified_sample

    # The demo's order: the first studies are all normal, so "the first 4" would compare no abnormal study.
    studies = [SimpleNamespace(label_name="normal", number=n) for n in range(10)]
    studies += [SimpleNamespace(label_name="abnormal", number=n) for n in range(22)]
    sample = stratified_sample(studies, 4, seed=2019)
    assert [study.label_name for study in sample].count("normal") == 1 and len(sample) == 4
    assert stratified_sample(studies, 4, seed=2019) == sample
    assert [studies.index(study) for study in sample] == sorted(studies.index(study) for study in sample)
    draws = {tuple(study.number for study in stratified_sample(studies, 4, seed)) for seed in range(5)}
    assert len(draws) > 1  # the seed chooses the studies
    counts = [study.label_name for study in stratified_sample(studies, 16, seed=1)]
    assert counts.count("normal") == 5 and counts.count("abnormal") == 11  # 10:22 of 32 -> 5:11 of 16


def test_evaluate_detection_prints_a_table_or_with_json_the_document_it_writes(tmp_path, capsys, monkeypatch):
    from cxrmodel.cli import evaluate as evaluate_cli
    from cxrmodel.evaluation import detection_quality

    row = {"sight_sensitivity": 0.7, "lesion_hit_rate": 0.913, "chance_hit_rate": 0.14, "circles_per_study": 1.5,
           "marker_circles": 2, "circles_beat_random_share": None}
    document = {"model": {"name": "demo"}, "studies": "studies/demo", "default_sight_sensitivity": 0.7,
                "thresholds": [row]}
    lines = evaluate_cli.readable_detection(document)
    assert lines[0].startswith("demo on studies/demo") and lines[-1].split()[:3] == ["0.70", "0.913", "0.140"]

    class Report:  # what detection_report gives, without explaining anything
        thresholds, lesions, deletions = [], [], []

        @staticmethod
        def deletion_summary(tau):
            return {"sight_sensitivity": tau}

    monkeypatch.setattr(detection_quality, "detection_report", lambda *arguments, **options: Report())
    monkeypatch.setattr("cxrmodel.evaluation.detection_report", lambda *arguments, **options: Report())
    output = tmp_path / "quality.json"
    assert main(["evaluate-detection", "--model", str(DEMO_MODEL), "--studies", str(DEMO_STUDIES), "--output",
                 str(output), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert json.loads(output.read_text(encoding="utf-8")) == printed and printed["thresholds"] == []
