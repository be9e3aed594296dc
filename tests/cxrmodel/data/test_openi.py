"""Tests for the OpenI (IU X-ray) loader, on hand-written fixtures in the real archive's layout."""

from __future__ import annotations

import io
import shutil
import tarfile
from pathlib import Path

import pytest

from cxrmodel.data.openi import (
    OPENI_NORMAL,
    Study,
    compose_report_text,
    load_openi,
    openi_label,
    parse_openi_xml,
)

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "openi"
REPORTS = FIXTURES / "ecgen-radiology"


def _by_id(studies: list[Study]) -> dict[str, Study]:
    return {study.study_id: study for study in studies}


def _write_pngs(folder: Path, image_ids: list[str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for image_id in image_ids:
        (folder / f"{image_id}.png").write_bytes(b"\x89PNG\r\n\x1a\n")


def _tgz(path: Path, members: dict[str, bytes], directory_entry: str | None = "ecgen-radiology") -> Path:
    with tarfile.open(path, "w:gz") as archive:
        if directory_entry:
            info = tarfile.TarInfo(directory_entry)
            info.type = tarfile.DIRTYPE
            archive.addfile(info)
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


def _fixture_archive(path: Path) -> Path:
    members = {f"ecgen-radiology/{xml.name}": xml.read_bytes() for xml in sorted(REPORTS.glob("*.xml"))}
    members["ecgen-radiology/README.txt"] = b"not a report"
    return _tgz(path, members)


def test_fields_of_a_normal_study() -> None:
    study = _by_id(load_openi(FIXTURES))["CXR1"]
    assert study.comparison == "None."
    assert study.indication == "Fixture: routine preoperative film"
    assert study.findings.startswith("The heart is of normal size") and study.findings.endswith("no pneumothorax.")
    assert study.impression == "Clear lungs, no acute findings."
    assert study.mesh_major == ["normal"] and study.mesh_automatic == []
    assert study.image_ids == ["CXR1_1_IM-0001-1001", "CXR1_1_IM-0001-2001"]
    assert study.image_paths == []  # no image folder given
    assert study.label == 0 and study.label_name == "normal"
    assert study.report_text == study.findings + "\n\n" + study.impression


def test_fields_of_an_abnormal_study_with_several_mesh_terms() -> None:
    study = _by_id(load_openi(FIXTURES))["CXR2"]
    assert study.mesh_major == ["Cardiomegaly/mild", "Opacity/lung/base/right", "Thoracic Vertebrae/degenerative"]
    assert study.mesh_automatic == ["Pulmonary Atelectasis", "Spine"]
    assert study.image_ids == ["CXR2_1_IM-0002-1001", "CXR2_1_IM-0002-2001"]
    assert study.label == 1 and study.label_name == "abnormal"
    assert "There are no XXXX of pneumothorax." in study.findings
    assert study.impression.endswith("chest x-XXXX, follow-up suggested.")
    assert study.indication == "XXXX-year-old with shortness of breath"


def test_empty_sections_and_no_images() -> None:
    studies = _by_id(load_openi(FIXTURES))
    empty_findings = studies["CXR10"]
    assert empty_findings.findings == ""
    assert empty_findings.report_text == empty_findings.impression  # no leading blank line
    assert empty_findings.label == 1
    no_images = studies["CXR3"]
    assert no_images.comparison == ""
    assert no_images.image_ids == [] and no_images.image_paths == []
    assert no_images.label == 0


def test_report_text_form() -> None:
    assert Study("CXR9", findings="Lungs clear.", impression="Normal.").report_text == "Lungs clear.\n\nNormal."
    assert Study("CXR9", impression="Normal.").report_text == "Normal."
    assert Study("CXR9", findings="Lungs clear.").report_text == "Lungs clear."
    assert Study("CXR9").report_text == ""
    assert compose_report_text("  Lungs clear. ", "\nNormal.\n") == "Lungs clear.\n\nNormal."
    assert compose_report_text(" ", "") == ""


def test_openi_label() -> None:
    assert OPENI_NORMAL == "normal"
    assert openi_label(["normal"]) == 0
    assert openi_label([" Normal "]) == 0
    assert openi_label(["normal", "Cardiomegaly"]) == 1
    assert openi_label(["Cardiomegaly/mild"]) == 1
    assert openi_label([]) == 1


def test_sorted_by_number_not_by_file_name() -> None:
    assert [study.study_id for study in load_openi(FIXTURES)] == ["CXR1", "CXR2", "CXR3", "CXR10"]


def test_folder_layouts_and_single_file_agree() -> None:
    parent_folder = load_openi(FIXTURES)
    xml_folder = load_openi(REPORTS)
    assert parent_folder == xml_folder
    assert load_openi(REPORTS / "2.xml") == [_by_id(parent_folder)["CXR2"]]


def test_archive_gives_the_same_studies_as_the_folder(tmp_path) -> None:
    archive = _fixture_archive(tmp_path / "NLMCXR_reports.tgz")
    assert load_openi(archive) == load_openi(FIXTURES)
    images = tmp_path / "NLMCXR_png"
    _write_pngs(images, ["CXR2_1_IM-0002-2001"])
    assert load_openi(archive, images) == load_openi(FIXTURES, images)
    assert not any(path.name.endswith(".xml") for path in tmp_path.iterdir())  # nothing extracted to disk


def test_image_paths_resolved_in_the_image_folder(tmp_path) -> None:
    images = tmp_path / "NLMCXR_png"
    # CXR2's first image is missing on disk; an unrelated file is ignored.
    _write_pngs(images, ["CXR1_1_IM-0001-1001", "CXR1_1_IM-0001-2001", "CXR2_1_IM-0002-2001", "CXR999_1_IM-9-1"])
    studies = _by_id(load_openi(FIXTURES, images))
    assert studies["CXR1"].image_paths == [images / "CXR1_1_IM-0001-1001.png", images / "CXR1_1_IM-0001-2001.png"]
    assert studies["CXR2"].image_paths == [images / "CXR2_1_IM-0002-2001.png"]
    assert studies["CXR2"].image_ids == ["CXR2_1_IM-0002-1001", "CXR2_1_IM-0002-2001"]
    assert studies["CXR10"].image_paths == []
    assert studies["CXR3"].image_paths == []
    assert all(path.is_file() for study in studies.values() for path in study.image_paths)


def test_malformed_xml_names_the_file(tmp_path) -> None:
    folder = tmp_path / "ecgen-radiology"
    shutil.copytree(REPORTS, folder)
    (folder / "7.xml").write_text("<eCitation><uId id='CXR7'/><MeSH>", encoding="utf-8")
    with pytest.raises(ValueError, match=r"7\.xml: malformed XML"):
        load_openi(tmp_path)


def test_malformed_xml_in_archive_names_the_member(tmp_path) -> None:
    archive = _tgz(tmp_path / "reports.tgz", {"ecgen-radiology/8.xml": b"<eCitation><uId"})
    with pytest.raises(ValueError, match=r"reports\.tgz:ecgen-radiology/8\.xml: malformed XML"):
        load_openi(archive)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("<eCitation><pmcId id='1'/></eCitation>", "missing <uId"),
        ("<eCitation><uId id=''/></eCitation>", "missing <uId"),
        ("<other><uId id='CXR1'/></other>", "expected an <eCitation>"),
        ("", "malformed XML"),
    ],
)
def test_parse_errors_name_the_source(content: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as error:
        parse_openi_xml(content, "somewhere/5.xml")
    assert "somewhere/5.xml" in str(error.value)


def test_parse_accepts_bytes_and_str() -> None:
    data = (REPORTS / "1.xml").read_bytes()
    assert parse_openi_xml(data, "1.xml") == parse_openi_xml(data.decode("utf-8"), "1.xml")


@pytest.mark.parametrize("name", ["../evil.xml", "/abs/evil.xml", "ecgen-radiology/../../evil.xml"])
def test_archive_with_unsafe_member_names_is_rejected(tmp_path, name: str) -> None:
    data = (REPORTS / "1.xml").read_bytes()
    archive = _tgz(tmp_path / "bad.tgz", {"ecgen-radiology/1.xml": data, name: data})
    with pytest.raises(ValueError, match="unsafe name"):
        load_openi(archive)


def test_duplicate_study_ids_are_rejected(tmp_path) -> None:
    data = (REPORTS / "1.xml").read_bytes()
    (tmp_path / "1.xml").write_bytes(data)
    (tmp_path / "1-copy.xml").write_bytes(data)
    with pytest.raises(ValueError, match="duplicate study id 'CXR1'"):
        load_openi(tmp_path)


def test_missing_inputs_give_clear_errors(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="OpenI reports not found"):
        load_openi(tmp_path / "missing.tgz")
    with pytest.raises(FileNotFoundError, match="image folder not found"):
        load_openi(FIXTURES, tmp_path / "no-images")
    with pytest.raises(FileNotFoundError, match="no OpenI report XML"):
        load_openi(tmp_path)
    not_an_archive = tmp_path / "reports.tgz"
    not_an_archive.write_bytes(b"plain text, not a tar archive")
    with pytest.raises(ValueError, match="not a folder, .xml file or tar archive"):
        load_openi(not_an_archive)
