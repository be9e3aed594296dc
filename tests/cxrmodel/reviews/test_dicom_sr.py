"""A reviewer's finding points on a DICOM radiograph as a DICOM SR (highdicom), and ``reviews export-sr``."""

from __future__ import annotations

import io
import json
from datetime import datetime, timezone

import numpy as np
import pydicom
import pytest

from cxrmodel.cli.main import main
from cxrmodel.reviews import FindingMark, ReviewDraft, ReviewError, ReviewStore, StoredReview, StudyRecord
from cxrmodel.reviews.dicom_sr import points_structured_report
from tests.cxrmodel.test_imaging import dicom_bytes, dicom_dataset

WIDTH, HEIGHT = 50, 40
NOW = datetime(2026, 5, 6, 7, 8, tzinfo=timezone.utc)
POINTS = (FindingMark(10, 20, "nodule"), FindingMark(3.25, 4, ""))


def _study(width: int = WIDTH, height: int = HEIGHT) -> StudyRecord:
    return StudyRecord("b" * 64, "0123456789abcdef", "film.dcm", width, height, 0.8,
                       {"thresholds": [0.5], "circles": [[]]})


def _content(dataset) -> list:
    """(value type, what it says) of every content item, depth first."""
    found = []
    for item in dataset.get("ContentSequence", []):
        if item.ValueType == "SCOORD":
            reference = item.ContentSequence[0].ReferencedSOPSequence[0].ReferencedSOPInstanceUID
            found.append(("SCOORD", item.GraphicType, [float(v) for v in item.GraphicData], str(reference)))
        elif item.ValueType == "TEXT":
            found.append(("TEXT", item.ConceptNameCodeSequence[0].CodeMeaning, item.TextValue))
        elif item.ValueType == "PNAME":
            found.append(("PNAME", str(item.PersonName)))
        found.extend(_content(item))
    return found


def test_each_point_is_a_scoord_point_on_the_reviewed_radiograph():
    image = dicom_dataset(np.zeros((HEIGHT, WIDTH)))
    report = points_structured_report(image, StoredReview("alice", _study(), ReviewDraft(points=POINTS), NOW, NOW))
    buffer = io.BytesIO()
    report.save_as(buffer, enforce_file_format=True)
    back = pydicom.dcmread(io.BytesIO(buffer.getvalue()))
    assert back.SOPClassUID == pydicom.uid.ComprehensiveSRStorage and back.Modality == "SR"
    assert back.StudyInstanceUID == image.StudyInstanceUID and back.PatientID == image.PatientID
    content = _content(back)
    assert ("PNAME", "alice^") in content
    assert [item for item in content if item[0] == "SCOORD"] == [
        ("SCOORD", "POINT", [10.5, 20.5], image.SOPInstanceUID),  # pixel centre (10, 20) -> SCOORD (10.5, 20.5)
        ("SCOORD", "POINT", [3.75, 4.5], image.SOPInstanceUID)]
    assert [item[2] for item in content if item[:2] == ("TEXT", "Tracking Identifier")] == ["nodule 1", "finding 2"]


@pytest.mark.parametrize("study, draft, message", [
    (_study(WIDTH + 1, HEIGHT), ReviewDraft(points=POINTS), "it is not the reviewed film"),
    (_study(), ReviewDraft(verdict="helpful"), "has no finding point"),
])
def test_the_wrong_film_or_a_review_without_points_is_refused(study, draft, message):
    with pytest.raises(ReviewError, match=message):
        points_structured_report(dicom_dataset(np.zeros((HEIGHT, WIDTH))),
                                 StoredReview("alice", study, draft, NOW, NOW))
    image = dicom_dataset(np.zeros((HEIGHT, WIDTH)))
    del image.SOPInstanceUID
    with pytest.raises(ReviewError, match="lacks SOPInstanceUID"):
        points_structured_report(image, StoredReview("alice", _study(), ReviewDraft(points=POINTS), NOW, NOW))


def test_reviews_export_sr_writes_the_file_and_refuses_what_it_cannot_refer_to(tmp_path, capsys):
    database = f"sqlite:///{tmp_path / 'reviews.sqlite3'}"
    store = ReviewStore(database)
    store.save("alice", _study(), ReviewDraft(points=POINTS))
    store.close()
    image = dicom_dataset(np.zeros((HEIGHT, WIDTH)))
    (tmp_path / "film.dcm").write_bytes(dicom_bytes(image))
    (tmp_path / "film.png").write_bytes(b"\x89PNG\r\n\x1a\nnot dicom")
    output = tmp_path / "points.dcm"
    common = ["reviews", "export-sr", "--database", database, "--study", "film.dcm", "--output", str(output)]

    assert main([*common, "--reviewer", "alice", "--image", str(tmp_path / "film.dcm")]) == 0
    said = json.loads(capsys.readouterr().out)
    assert (said["points"], said["referenced_sop_instance_uid"]) == (2, image.SOPInstanceUID)
    assert pydicom.dcmread(output).SOPClassUID == pydicom.uid.ComprehensiveSRStorage

    assert main([*common, "--reviewer", "alice", "--image", str(tmp_path / "film.png")]) == 2
    assert "is not a DICOM file" in capsys.readouterr().err
    assert main([*common, "--reviewer", "bob", "--image", str(tmp_path / "film.dcm")]) == 2
    assert "bob has no review of film.dcm" in capsys.readouterr().err
