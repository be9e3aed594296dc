"""ChestX-ray14 loaders on tiny files written in the exact real formats, and on the real files when fetched."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np
import pytest

from cxrmodel.data.chestxray14 import (
    CHESTXRAY14_FINDINGS,
    ChestXray14Dataset,
    ChestXray14FormatError,
    find_chestxray14_images,
    label_matrix,
    load_bounding_boxes,
    load_chestxray14_labels,
)
from cxrmodel.data.fetch import (
    CHESTXRAY14_BOXES_SHA256,
    CHESTXRAY14_LABELS_SHA256,
    default_chestxray14_paths,
    file_sha256,
)

HEADER = ("Image Index,Finding Labels,Follow-up #,Patient ID,Patient Age,Patient Gender,View Position,"
          "OriginalImage[Width,Height],OriginalImagePixelSpacing[x,y]")
# The original NIH file: trailing comma on the header and on every row.
ORIGINAL = f"""{HEADER},
00000001_000.png,Cardiomegaly,0,1,58,M,PA,2682,2749,0.143,0.143,
00000001_001.png,Cardiomegaly|Emphysema,1,1,058Y,M,PA,2894,2729,0.143,0.143,
00000002_000.png,No Finding,0,2,81,M,PA,2500,2048,0.171,0.171,
00000003_000.png,Hernia,0,3,81,F,AP,2582,2991,0.143,0.143,
"""
# The v2020 revision as shipped (gzipped): no trailing comma, long float spacings.
V2020 = f"""{HEADER}
00000001_000.png,Cardiomegaly,0,1,57,M,PA,2682,2749,0.14300000000000002,0.14300000000000002
00000001_001.png,Cardiomegaly|Emphysema,1,1,58,M,PA,2894,2729,0.14300000000000002,0.14300000000000002
00000002_000.png,No Finding,0,2,80,M,PA,2500,2048,0.171,0.171
"""
BOXES = """Image Index,Finding Label,Bbox [x,y,w,h],,,
00000001_000.png,Cardiomegaly,225.084745762712,547.019216763771,86.7796610169491,79.1864406779661
00000003_000.png,Infiltrate,686.101694915254,131.543498411017,185.491525423729,313.491525423729
00000003_000.png,Mass,10,20,30,40
"""


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".gz":
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text, encoding="utf-8")
    return path


def _png(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x89PNG\r\n\x1a\n")


def test_original_format_with_trailing_commas(tmp_path):
    entries = load_chestxray14_labels(_write(tmp_path / "Data_Entry_2017.csv", ORIGINAL))
    assert [entry.image_index for entry in entries] == ["00000001_000.png", "00000001_001.png", "00000002_000.png",
                                                         "00000003_000.png"]
    first, second, normal, hernia = entries
    assert first.findings == ("Cardiomegaly",) and first.follow_up == 0 and first.patient_id == 1
    assert (first.patient_age, first.patient_gender, first.view_position) == (58, "M", "PA")
    assert (first.original_width, first.original_height, first.pixel_spacing_x) == (2682, 2749, 0.143)
    assert second.findings == ("Cardiomegaly", "Emphysema") and second.patient_age == 58  # "058Y" form
    assert normal.findings == () and not normal.label_vector().any()
    assert hernia.view_position == "AP" and hernia.frontal
    vector = second.label_vector()
    assert vector.dtype == np.float32 and vector.shape == (14,)
    assert [CHESTXRAY14_FINDINGS[i] for i in np.flatnonzero(vector)] == ["Cardiomegaly", "Emphysema"]
    assert label_matrix(entries).shape == (4, 14) and label_matrix(entries).sum() == 4


def test_v2020_gzipped_variant(tmp_path):
    entries = load_chestxray14_labels(_write(tmp_path / "Data_Entry_2017_v2020.csv.gz", V2020))
    assert len(entries) == 3
    assert entries[0].patient_age == 57 and entries[0].pixel_spacing_y == pytest.approx(0.143)
    assert entries[1].findings == ("Cardiomegaly", "Emphysema")


@pytest.mark.parametrize(("text", "message"), [
    (ORIGINAL.replace("Patient Gender,", ""), r"line 1 is not .*missing column\(s\) 'Patient Gender'"),
    ("", "empty file"),
    (ORIGINAL.replace("Cardiomegaly|Emphysema", "Cardiomegaly|Pneumonitis"),
     r"line 3: unknown finding label 'Pneumonitis'"),
    (ORIGINAL.replace(",2,81,M,", ",2,eighty,M,"), r"line 4: unparsable row \(Patient Age 'eighty'\)"),
    (ORIGINAL.replace("0,3,81,F,AP", "x,3,81,F,AP"), r"line 5: unparsable row"),
    (ORIGINAL.replace(",PA,2500,2048,", ",PA,2500,"), r"line 4: expected 11 values .* found 10"),
    (ORIGINAL + "00000001_000.png,No Finding,0,1,58,M,PA,1,1,0.1,0.1,\n", r"line 6: image '00000001_000.png' "
     r"already listed on line 2"),
])
def test_label_file_errors_name_file_and_line(tmp_path, text, message):
    path = _write(tmp_path / "Data_Entry_2017.csv", text)
    with pytest.raises(ChestXray14FormatError, match=message) as error:
        load_chestxray14_labels(path)
    assert str(path) in str(error.value) and "\n" not in str(error.value)


def test_missing_or_binary_label_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_chestxray14_labels(tmp_path / "absent.csv")
    broken = tmp_path / "broken.csv.gz"
    broken.write_bytes(b"\x1f\x8b" + b"\x00" * 20)
    with pytest.raises(ChestXray14FormatError, match="not a readable CSV"):
        load_chestxray14_labels(broken)


def test_boxes_with_empty_trailing_header_columns(tmp_path):
    boxes = load_bounding_boxes(_write(tmp_path / "BBox_List_2017.csv", BOXES))
    assert sorted(boxes) == ["00000001_000.png", "00000003_000.png"]
    box = boxes["00000001_000.png"][0]
    assert box.finding == "Cardiomegaly" and box.x == pytest.approx(225.0847457)
    assert box.height == pytest.approx(79.18646)
    assert [b.finding for b in boxes["00000003_000.png"]] == ["Infiltration", "Mass"]  # 'Infiltrate' in the file
    with pytest.raises(ChestXray14FormatError, match=r"line 3: unknown finding label 'Hernia2'"):
        load_bounding_boxes(_write(tmp_path / "bad.csv", BOXES.replace("Infiltrate", "Hernia2")))
    with pytest.raises(ChestXray14FormatError, match=r"line 4: box .* is not four numbers"):
        load_bounding_boxes(_write(tmp_path / "bad2.csv", BOXES.replace("10,20", "ten,20")))
    with pytest.raises(ChestXray14FormatError, match=r"missing column\(s\) 'Bbox \[x,y,w,h\]'"):
        load_bounding_boxes(_write(tmp_path / "bad3.csv", "Image Index,Finding Label,x,y,w,h\n"))


def test_image_folder_layouts(tmp_path):
    _png(tmp_path / "nih" / "images" / "00000001_000.png")
    _png(tmp_path / "kaggle" / "images_001" / "images" / "00000001_000.png")
    _png(tmp_path / "kaggle" / "images_012" / "images" / "00000003_000.png")
    _png(tmp_path / "kaggle" / "images_012" / "images" / "notes.txt")
    assert find_chestxray14_images(tmp_path / "nih") == {"00000001_000.png": tmp_path / "nih/images/00000001_000.png"}
    assert find_chestxray14_images(tmp_path / "kaggle") == {
        "00000001_000.png": tmp_path / "kaggle/images_001/images/00000001_000.png",
        "00000003_000.png": tmp_path / "kaggle/images_012/images/00000003_000.png",
    }
    with pytest.raises(FileNotFoundError, match="does not exist"):
        find_chestxray14_images(tmp_path / "absent")


def test_dataset_pairs_entries_with_images(tmp_path):
    _write(tmp_path / "Data_Entry_2017.csv", ORIGINAL)
    _write(tmp_path / "BBox_List_2017.csv", BOXES)
    for name in ("00000001_000.png", "00000002_000.png", "00000003_000.png"):
        _png(tmp_path / "images_001" / "images" / name)
    dataset = ChestXray14Dataset.from_folder(tmp_path)
    assert [entry.image_index for entry in dataset.entries] == ["00000001_000.png", "00000002_000.png",
                                                                 "00000003_000.png"]
    assert dataset.missing_images == 1 and len(dataset) == 3
    assert dataset.image_paths[2] == tmp_path / "images_001" / "images" / "00000003_000.png"
    assert dataset.labels.shape == (3, 14) and len(dataset.boxes) == 2
    frontal_pa = ChestXray14Dataset.from_folder(tmp_path, frontal_only=True)
    assert len(frontal_pa) == 3  # PA and AP are both frontal
    with pytest.raises(FileNotFoundError, match=r"1 of the 4 images .* missing .* \(first: 00000001_001.png\)"):
        ChestXray14Dataset.from_folder(tmp_path, require_all_images=True)


def test_dataset_errors_say_what_is_missing(tmp_path):
    with pytest.raises(FileNotFoundError, match="no ChestX-ray14 label file .* fetch-chestxray14-labels"):
        ChestXray14Dataset.from_folder(tmp_path)
    _write(tmp_path / "Data_Entry_2017.csv", ORIGINAL)
    with pytest.raises(FileNotFoundError, match=r"none of the 4 images listed in Data_Entry_2017.csv was found"):
        ChestXray14Dataset.from_folder(tmp_path)


def _real_files() -> tuple[Path, Path]:
    """The fetched real files ('data fetch-chestxray14-labels'): skipped only when absent outside CI."""
    labels, boxes = default_chestxray14_paths()
    if not (labels.is_file() and boxes.is_file()):
        if os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no"):
            pytest.fail(f"{labels.parent} lacks the ChestX-ray14 files in CI: run "
                        "'python -m cxrmodel data fetch-chestxray14-labels' first")
        pytest.skip(f"real ChestX-ray14 label files not fetched ({labels.parent})")
    return labels, boxes


def test_real_label_file_when_present():
    labels, _ = _real_files()
    assert file_sha256(labels) == CHESTXRAY14_LABELS_SHA256
    entries = load_chestxray14_labels(labels)
    assert len(entries) == 112120
    matrix = label_matrix(entries)
    assert int((matrix.sum(axis=1) == 0).sum()) == 60361  # No Finding
    counts = dict(zip(CHESTXRAY14_FINDINGS, matrix.sum(axis=0).astype(int).tolist(), strict=True))
    assert counts["Infiltration"] == 19894
    assert {entry.view_position for entry in entries} == {"PA", "AP"}
    assert len({entry.patient_id for entry in entries}) == 30805


def test_real_box_file_when_present():
    _, boxes_path = _real_files()
    assert file_sha256(boxes_path) == CHESTXRAY14_BOXES_SHA256
    boxes = load_bounding_boxes(boxes_path)
    assert sum(len(image_boxes) for image_boxes in boxes.values()) == 984
    assert len(boxes) == 880
    assert sum(box.finding == "Infiltration" for image_boxes in boxes.values() for box in image_boxes) == 123
