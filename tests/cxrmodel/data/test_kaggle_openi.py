"""Kaggle CSV variant of OpenI: exact-format fixtures, same Study as the XML loader, dashboard collection."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from cxrmodel.data import StudyCollection
from cxrmodel.data.kaggle_openi import load_kaggle_openi

# Two rows as the Kaggle file has them (pandas-style quoting, ';'-separated MeSH and Problems).
HEAD = """uid,MeSH,Problems,image,indication,comparison,findings,impression
1,normal,normal,Xray Chest PA and Lateral,Positive TB test,None.,"The cardiac silhouette and mediastinum size are \
within normal limits. There is no pulmonary edema.",Normal chest x-XXXX.
2,Cardiomegaly/borderline;Pulmonary Artery/enlarged,Cardiomegaly;Pulmonary Artery,"Chest, 2 views, frontal and \
lateral",Preop bariatric surgery.,None.,Borderline cardiomegaly. Clear lungs.,"Borderline cardiomegaly, enlarged \
pulmonary arteries."
3,,normal,Xray Chest PA and Lateral,,,,No acute disease.
4,Lung/hypoinflation,Lung,Xray Chest PA and Lateral,Cough,None.,Low lung volumes.,
"""
PROJECTIONS = """uid,filename,projection
1,1_IM-0001-4001.dcm.png,Frontal
1,1_IM-0001-3001.dcm.png,Lateral
2,2_IM-0652-2001.dcm.png,Lateral
2,2_IM-0652-1001.dcm.png,Frontal
3,3_IM-1384-2001.dcm.png,Frontal
4,4_IM-2050-1001.dcm.png,Lateral
"""


def _png(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x89PNG\r\n\x1a\n")


@pytest.fixture
def kaggle_folder(tmp_path) -> Path:
    (tmp_path / "indiana_reports.csv").write_text(HEAD, encoding="utf-8")
    (tmp_path / "indiana_projections.csv").write_text(PROJECTIONS, encoding="utf-8")
    for name in ("1_IM-0001-4001.dcm.png", "1_IM-0001-3001.dcm.png", "2_IM-0652-1001.dcm.png",
                 "2_IM-0652-2001.dcm.png", "4_IM-2050-1001.dcm.png"):  # 3's frontal file is absent
        _png(tmp_path / "images" / "images_normalized" / name)
    return tmp_path


def test_studies_from_the_kaggle_csvs(kaggle_folder, caplog):
    caplog.set_level("INFO", logger="cxrmodel.data.kaggle_openi")
    studies = load_kaggle_openi(kaggle_folder)
    assert [study.study_id for study in studies] == ["CXR1", "CXR2"]
    normal, cardiomegaly = studies
    assert normal.label == 0 and normal.mesh_major == ["normal"]
    assert normal.findings.startswith("The cardiac silhouette") and normal.comparison == "None."
    assert normal.report_text == normal.findings + "\n\nNormal chest x-XXXX."
    assert normal.image_paths == [kaggle_folder / "images/images_normalized/1_IM-0001-4001.dcm.png"]
    assert normal.image_ids == ["1_IM-0001-4001.dcm", "1_IM-0001-3001.dcm"]
    assert cardiomegaly.label == 1
    assert cardiomegaly.mesh_major == ["Cardiomegaly/borderline", "Pulmonary Artery/enlarged"]
    assert cardiomegaly.image_paths[0].name == "2_IM-0652-1001.dcm.png"  # the frontal, although listed second
    assert cardiomegaly.impression == "Borderline cardiomegaly, enlarged pulmonary arteries."
    assert "skipped 1 studies without a frontal projection and 1 whose frontal file is not in" in caplog.text


def test_label_falls_back_to_problems_when_mesh_is_empty(kaggle_folder):
    _png(kaggle_folder / "images" / "images_normalized" / "3_IM-1384-2001.dcm.png")
    study = {s.study_id: s for s in load_kaggle_openi(kaggle_folder)}["CXR3"]
    assert study.label == 0 and study.mesh_major == [] and study.report_text == "No acute disease."


@pytest.mark.parametrize(("name", "old", "new", "message"), [
    ("indiana_reports.csv", "Problems,", "", "missing column(s) Problems"),
    ("indiana_projections.csv", "Lateral\n2,", "Oblique\n2,", "line 3: projection 'Oblique'"),
    ("indiana_reports.csv", "\n3,", "\nthree,", "uid 'three' is not a number"),
    ("indiana_reports.csv", "\n4,", "\n2,", "uid 2 appears twice"),
])
def test_format_errors_name_file_and_line(kaggle_folder, name, old, new, message):
    path = kaggle_folder / name
    path.write_text(path.read_text().replace(old, new, 1))
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")) as error:
        load_kaggle_openi(kaggle_folder)
    assert name in str(error.value)


def test_missing_pieces(kaggle_folder, tmp_path):
    shutil.rmtree(kaggle_folder / "images")
    with pytest.raises(FileNotFoundError, match="images_normalized does not exist"):
        load_kaggle_openi(kaggle_folder)
    (kaggle_folder / "indiana_projections.csv").unlink()
    with pytest.raises(FileNotFoundError, match="indiana_projections.csv does not exist"):
        load_kaggle_openi(kaggle_folder)


def test_dashboard_collection_opens_a_kaggle_folder(tiny_studies_directory, tiny_kaggle_studies_directory):
    collection = StudyCollection.from_folder(tiny_kaggle_studies_directory)
    xml_collection = StudyCollection.from_folder(tiny_studies_directory)
    assert list(collection.studies) == list(xml_collection.studies)
    for study_id, study in collection.studies.items():
        original = xml_collection.get(study_id)
        assert (study.report_text, study.label, study.mesh_major) == (original.report_text, original.label,
                                                                      original.mesh_major)
        assert collection.image_path(study_id).read_bytes() == xml_collection.image_path(study_id).read_bytes()
    assert [summary.label_name for summary in collection.summaries()] == [
        summary.label_name for summary in xml_collection.summaries()]


def test_app_serves_a_kaggle_folder(tiny_bundle_directory, tiny_kaggle_studies_directory, tmp_path):
    pytest.importorskip("dash")
    import json

    import app as dashboard
    from tests.load.dash_client import find_component

    config = dashboard.AppConfig(tiny_bundle_directory, tiny_kaggle_studies_directory, tmp_path / "cache")
    layout = json.loads(dashboard.create_app(config).server.test_client().get("/_dash-layout").data)
    picker = find_component(layout, "study-picker")
    assert [option["value"] for option in picker["props"]["options"]] == [f"CXR{n}" for n in range(1, 7)]
