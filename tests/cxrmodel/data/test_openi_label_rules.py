"""OpenI label rules (issue #20 item 1): No-Indexing-only, empty reports and studies without images, on
exact-format report XML (:mod:`tests.cxrmodel.data.openi_label_fixtures`)."""

from __future__ import annotations

import logging

import pytest

from cxrmodel.data.openi import (
    EXCLUSION_REASONS,
    LabelDecision,
    LabelRules,
    is_no_indexing,
    label_decision,
    load_openi,
    openi_label,
    parse_openi_xml,
    select_studies,
)
from tests.cxrmodel.data.openi_label_fixtures import openi_report_xml, rule_collection, write_archive


def _study(number: int, findings: str, impression: str, major: list[str], images: int = 2):
    return parse_openi_xml(openi_report_xml(number, findings, impression, major, images), f"{number}.xml")


def test_no_indexing_only_is_dropped_by_default_and_kept_with_the_label_asked_for():
    study = _study(7, "Both lungs are clear and expanded.", "No active disease.", ["No Indexing"])
    assert study.mesh_major == ["No Indexing"] and is_no_indexing(study.mesh_major)
    assert study.label == openi_label(study.mesh_major) == 1  # the old convention, kept on Study.label
    assert label_decision(study) == LabelDecision(None, "no_indexing")
    assert label_decision(study, LabelRules(include_no_indexing=True)) == LabelDecision(1)
    assert label_decision(study, LabelRules(include_no_indexing=True, no_indexing_label=0)) == LabelDecision(0)
    assert is_no_indexing([" no indexing "]) and not is_no_indexing(["No Indexing", "Cardiomegaly"])
    with pytest.raises(ValueError, match="no_indexing_label must be 0 or 1"):
        LabelRules(no_indexing_label=2)


def test_empty_findings_and_impression_are_dropped_unless_included():
    study = _study(8, "", "", ["normal"])  # <AbstractText Label="FINDINGS"/>, as the real 1137.xml
    assert study.report_text == ""
    assert label_decision(study) == LabelDecision(None, "empty_report")
    assert label_decision(study, LabelRules(include_empty_reports=True)) == LabelDecision(0)
    only_impression = _study(9, "", "No active disease.", ["normal"])
    assert label_decision(only_impression) == LabelDecision(0)  # one section is enough


def test_no_image_applies_to_image_tasks_only():
    listed_none = _study(10, "Lungs clear.", "Normal chest.", ["normal"], images=0)
    assert listed_none.image_ids == [] and not listed_none.has_image
    assert label_decision(listed_none) == LabelDecision(0)  # text tasks keep it
    assert label_decision(listed_none, LabelRules(require_image=True)) == LabelDecision(None, "no_image")
    listed = _study(11, "Lungs clear.", "Normal chest.", ["normal"], images=1)
    assert listed.has_image and label_decision(listed, LabelRules(require_image=True)) == LabelDecision(0)


def test_no_image_with_an_image_folder_means_none_on_disk(tmp_path):
    reports = tmp_path / "reports"
    (reports / "ecgen-radiology").mkdir(parents=True)
    for number, images in ((1, 2), (2, 1)):
        (reports / "ecgen-radiology" / f"{number}.xml").write_text(
            openi_report_xml(number, "Lungs clear.", "Normal.", ["normal"], images), encoding="utf-8")
    png = tmp_path / "NLMCXR_png"
    png.mkdir()
    (png / "CXR1_1_IM-0001-1002.png").write_bytes(b"\x89PNG\r\n\x1a\n")  # CXR2's only image is not there
    studies = {study.study_id: study for study in load_openi(reports, png)}
    assert studies["CXR1"].has_image and not studies["CXR2"].has_image
    selection = select_studies(list(studies.values()), LabelRules(require_image=True))
    assert [study.study_id for study in selection.studies] == ["CXR1"]
    assert selection.dropped == {"no_image": 1, "empty_report": 0, "no_indexing": 0}
    assert not load_openi(reports)[1].images_checked and load_openi(reports)[1].has_image  # listed, not checked


def test_selection_counts_each_study_once_in_rule_order(tmp_path, caplog):
    studies = load_openi(write_archive(tmp_path / "NLMCXR_reports.tgz", rule_collection(normal=5, abnormal=4)))
    assert len(studies) == 14
    assert EXCLUSION_REASONS == ("no_image", "empty_report", "no_indexing")
    with caplog.at_level(logging.INFO, logger="cxrmodel.data.openi"):
        selection = select_studies(studies)
    assert selection.dropped == {"no_image": 0, "empty_report": 2, "no_indexing": 2}
    assert selection.dropped_ids == {"no_image": [], "empty_report": ["CXR903", "CXR905"],
                                     "no_indexing": ["CXR901", "CXR902"]}
    assert [study.study_id for study in selection.studies][-1] == "CXR904"  # text task keeps the image-less one
    assert selection.to_dict() == {
        "kept": 10, "kept_normal": 6, "kept_abnormal": 4,
        "dropped": {"no_image": 0, "empty_report": 2, "no_indexing": 2}, "included_no_indexing": 0,
        "rules": {"include_no_indexing": False, "no_indexing_label": None, "include_empty_reports": False,
                  "require_image": False},
    }
    assert "kept 10 studies, dropped 0 no_image, 2 empty_report, 2 no_indexing" in caplog.text

    image_task = select_studies(studies, LabelRules(require_image=True))
    assert image_task.dropped == {"no_image": 1, "empty_report": 2, "no_indexing": 2}
    assert len(image_task.studies) == 9


def test_including_no_indexing_logs_the_count_and_relabels_copies(tmp_path, caplog):
    studies = load_openi(write_archive(tmp_path / "NLMCXR_reports.tgz", rule_collection(normal=3, abnormal=3)))
    with caplog.at_level(logging.INFO, logger="cxrmodel.data.openi"):
        as_normal = select_studies(studies, LabelRules(include_no_indexing=True, no_indexing_label=0))
    assert "included 2 No-Indexing-only studies as normal" in caplog.text
    assert as_normal.included_no_indexing == 2
    assert as_normal.dropped == {"no_image": 0, "empty_report": 2, "no_indexing": 0}  # 905 stays out: empty
    kept = {study.study_id: study for study in as_normal.studies}
    assert kept["CXR901"].label == 0 and kept["CXR902"].label == 0
    assert {study.study_id: study.label for study in studies}["CXR901"] == 1  # the input is not modified
    as_abnormal = select_studies(studies, LabelRules(include_no_indexing=True))
    assert {study.study_id: study.label for study in as_abnormal.studies}["CXR901"] == 1
    assert as_abnormal.to_dict()["rules"]["no_indexing_label"] == 1
    everything = select_studies(studies, LabelRules(include_no_indexing=True, include_empty_reports=True))
    assert len(everything.studies) == len(studies) and sum(everything.dropped.values()) == 0
