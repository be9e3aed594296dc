"""cxrmodel.data.fetch: extraction from a (fake) wheel, sha256 pinning, cache reuse, CLI exit codes. No network."""

from __future__ import annotations

import hashlib
import io
import subprocess
import tarfile
import zipfile
from pathlib import Path

import pytest

from cxrmodel.cli.main import main
from cxrmodel.data import fetch
from cxrmodel.data.openi import load_openi

REPORT_XML = b"""<?xml version="1.0" encoding="utf-8"?>
<eCitation><uId id="CXR1"/><MedlineCitation><Article><Abstract>
<AbstractText Label="FINDINGS">The lungs are clear.</AbstractText>
<AbstractText Label="IMPRESSION">No acute disease.</AbstractText>
</Abstract></Article></MedlineCitation><MeSH><major>normal</major></MeSH></eCitation>
"""


def _small_tgz() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        info = tarfile.TarInfo("ecgen-radiology/1.xml")
        info.size = len(REPORT_XML)
        archive.addfile(info, io.BytesIO(REPORT_XML))
    return buffer.getvalue()


@pytest.fixture
def fake_wheel(tmp_path, monkeypatch) -> Path:
    """A zip laid out like the torchxrayvision wheel holding a small reports .tgz whose sha256 is pinned."""
    tgz = _small_tgz()
    monkeypatch.setattr(fetch, "REPORTS_SHA256", hashlib.sha256(tgz).hexdigest())
    wheel = tmp_path / "wheels" / "torchxrayvision-1.5.7-py3-none-any.whl"
    wheel.parent.mkdir()
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("torchxrayvision/__init__.py", "")
        archive.writestr(fetch.WHEEL_MEMBER, tgz)
    return wheel


@pytest.fixture(autouse=True)
def no_pip(monkeypatch):
    """Unit tests never reach the network: pip is replaced unless a test installs its own fake."""

    def refuse(*_arguments, **_keywords):
        raise AssertionError("pip must not run in this test")

    monkeypatch.setattr(fetch.subprocess, "run", refuse)


def test_default_directory_follows_xdg_cache_home(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert fetch.default_reports_path() == tmp_path / "cache" / "cxrmodel" / "data" / "NLMCXR_reports.tgz"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert fetch.default_data_directory() == tmp_path / "home" / ".cache" / "cxrmodel" / "data"


def test_pinned_sha256_is_the_documented_one():
    assert fetch.REPORTS_SHA256 == "8fb6de7eec73d8c3665067ad4bb003ccd57f971ae316d2642e1627ac7268667a"


def test_extracts_only_the_member_and_verifies_it(fake_wheel, tmp_path):
    path = fetch.fetch_openi_reports(tmp_path / "data", wheel=fake_wheel)
    assert path == tmp_path / "data" / "NLMCXR_reports.tgz"
    assert sorted(p.name for p in path.parent.iterdir()) == ["NLMCXR_reports.tgz"]  # no temporary left
    assert [study.study_id for study in load_openi(path)] == ["CXR1"]


def test_existing_file_with_right_sha256_is_kept(fake_wheel, tmp_path):
    path = fetch.fetch_openi_reports(tmp_path, wheel=fake_wheel)
    fake_wheel.unlink()
    assert fetch.fetch_openi_reports(tmp_path) == path  # no wheel, no pip: already there


def test_wrong_sha256_is_refused_and_nothing_is_left(fake_wheel, tmp_path, monkeypatch):
    monkeypatch.setattr(fetch, "REPORTS_SHA256", "0" * 64)
    with pytest.raises(fetch.FetchError, match="sha256"):
        fetch.fetch_openi_reports(tmp_path / "data", wheel=fake_wheel)
    assert list((tmp_path / "data").iterdir()) == []


def test_corrupt_cached_file_is_replaced(fake_wheel, tmp_path):
    (tmp_path / "NLMCXR_reports.tgz").write_bytes(b"truncated")
    path = fetch.fetch_openi_reports(tmp_path, wheel=fake_wheel)
    assert fetch.file_sha256(path) == fetch.REPORTS_SHA256


def test_wheel_without_the_member(tmp_path):
    wheel = tmp_path / "other.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("other/__init__.py", "")
    with pytest.raises(fetch.FetchError, match="has no torchxrayvision/data/NLMCXR_reports.tgz"):
        fetch.fetch_openi_reports(tmp_path / "data", wheel=wheel)
    not_zip = tmp_path / "not.whl"
    not_zip.write_text("hello")
    with pytest.raises(fetch.FetchError, match="not a wheel"):
        fetch.fetch_openi_reports(tmp_path / "data", wheel=not_zip)


def test_download_runs_pip_with_this_interpreter(fake_wheel, tmp_path, monkeypatch):
    calls = []

    def fake_run(command, **keywords):
        calls.append((command, keywords))
        destination = Path(command[command.index("--dest") + 1])
        (destination / fake_wheel.name).write_bytes(fake_wheel.read_bytes())
        return subprocess.CompletedProcess(command, 0, "", "")

    monkeypatch.setattr(fetch.subprocess, "run", fake_run)
    path = fetch.fetch_openi_reports(tmp_path / "data")
    assert path.is_file()
    (command, keywords), = calls
    assert command[:5] == [fetch.sys.executable, "-m", "pip", "download", "torchxrayvision==1.5.7"]
    assert "--no-deps" in command and keywords["timeout"] > 0


def test_offline_pip_failure_is_one_line_exit_2(tmp_path, monkeypatch, capsys):
    def offline(command, **_keywords):
        return subprocess.CompletedProcess(command, 1, "", "ERROR: Could not find a version\nERROR: No network\n")

    monkeypatch.setattr(fetch.subprocess, "run", offline)
    assert main(["data", "fetch-openi-reports", "--output", str(tmp_path)]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1
    assert "No network" in error and "by hand" in error and fetch.REPORTS_SHA256 in error


def test_pip_timeout(tmp_path, monkeypatch):
    def slow(command, **keywords):
        raise subprocess.TimeoutExpired(command, keywords["timeout"])

    monkeypatch.setattr(fetch.subprocess, "run", slow)
    with pytest.raises(fetch.FetchError, match="did not finish"):
        fetch.fetch_openi_reports(tmp_path, timeout=5)


def test_cli_from_wheel_prints_the_path(fake_wheel, tmp_path, capsys):
    assert main(["data", "fetch-openi-reports", "--output", str(tmp_path / "d"), "--from-wheel", str(fake_wheel)]) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "d" / "NLMCXR_reports.tgz")


# --- ChestX-ray14 label and box files (same wheel, same extraction path) ---

LABELS_CSV = (b"Image Index,Finding Labels,Follow-up #,Patient ID,Patient Age,Patient Gender,View Position,"
              b"OriginalImage[Width,Height],OriginalImagePixelSpacing[x,y]\n"
              b"00000001_000.png,Cardiomegaly,0,1,57,M,PA,2682,2749,0.14300000000000002,0.14300000000000002\n")
BOXES_CSV = b"Image Index,Finding Label,Bbox [x,y,w,h],,,\n00000001_000.png,Cardiomegaly,1,2,3,4\n"


@pytest.fixture
def chestxray14_wheel(tmp_path, monkeypatch) -> Path:
    """A zip laid out like the torchxrayvision wheel with small gzipped ChestX-ray14 files whose sha256 is pinned."""
    import gzip

    members = {fetch.CHESTXRAY14_LABELS_FILENAME: gzip.compress(LABELS_CSV, mtime=0),
               fetch.CHESTXRAY14_BOXES_FILENAME: gzip.compress(BOXES_CSV, mtime=0)}
    monkeypatch.setattr(fetch, "CHESTXRAY14_LABELS_SHA256",
                        hashlib.sha256(members[fetch.CHESTXRAY14_LABELS_FILENAME]).hexdigest())
    monkeypatch.setattr(fetch, "CHESTXRAY14_BOXES_SHA256",
                        hashlib.sha256(members[fetch.CHESTXRAY14_BOXES_FILENAME]).hexdigest())
    wheel = tmp_path / "wheels" / "torchxrayvision-1.5.7-py3-none-any.whl"
    wheel.parent.mkdir()
    with zipfile.ZipFile(wheel, "w") as archive:
        for name, data in members.items():
            archive.writestr(f"torchxrayvision/data/{name}", data)
    return wheel


def test_chestxray14_pins_are_the_documented_ones():
    assert fetch.CHESTXRAY14_LABELS_SHA256 == "9d4de640ee4f760215d8be98376b20387ca52f9c6b4d1b727cb588fb82f40b80"
    assert fetch.CHESTXRAY14_BOXES_SHA256 == "cf9dc6029f65daa8b389415b0546af0eeeb91fbac7d63ec49d7f8de2fd8f40cd"


def test_chestxray14_files_extracted_and_readable(chestxray14_wheel, tmp_path):
    from cxrmodel.data.chestxray14 import load_bounding_boxes, load_chestxray14_labels

    labels, boxes = fetch.fetch_chestxray14_labels(tmp_path / "data", wheel=chestxray14_wheel)
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["BBox_List_2017.csv.gz",
                                                                     "Data_Entry_2017_v2020.csv.gz"]
    assert [entry.findings for entry in load_chestxray14_labels(labels)] == [("Cardiomegaly",)]
    assert load_bounding_boxes(boxes)["00000001_000.png"][0].width == 3.0


def test_only_the_missing_chestxray14_file_is_extracted(chestxray14_wheel, tmp_path):
    labels, boxes = fetch.fetch_chestxray14_labels(tmp_path, wheel=chestxray14_wheel)
    boxes.unlink()
    labels_time = labels.stat().st_mtime_ns
    chestxray14_wheel.unlink()
    with pytest.raises(fetch.FetchError, match="does not exist"):  # the box file needs the (now absent) wheel
        fetch.fetch_chestxray14_labels(tmp_path, wheel=chestxray14_wheel)
    assert labels.stat().st_mtime_ns == labels_time and not boxes.exists()


def test_chestxray14_wrong_sha256_leaves_nothing(chestxray14_wheel, tmp_path, monkeypatch):
    monkeypatch.setattr(fetch, "CHESTXRAY14_BOXES_SHA256", "0" * 64)
    with pytest.raises(fetch.FetchError, match="BBox_List_2017.csv.gz in .* has sha256"):
        fetch.fetch_chestxray14_labels(tmp_path / "data", wheel=chestxray14_wheel)
    assert [p.name for p in (tmp_path / "data").iterdir()] == ["Data_Entry_2017_v2020.csv.gz"]  # verified one kept


def test_chestxray14_cli_prints_both_paths_and_offline_hint(chestxray14_wheel, tmp_path, monkeypatch, capsys):
    assert main(["data", "fetch-chestxray14-labels", "--output", str(tmp_path / "d"),
                 "--from-wheel", str(chestxray14_wheel)]) == 0
    assert capsys.readouterr().out.split() == [str(tmp_path / "d" / "Data_Entry_2017_v2020.csv.gz"),
                                               str(tmp_path / "d" / "BBox_List_2017.csv.gz")]

    def offline(command, **_keywords):
        return subprocess.CompletedProcess(command, 1, "", "ERROR: No network\n")

    monkeypatch.setattr(fetch.subprocess, "run", offline)
    assert main(["data", "fetch-chestxray14-labels", "--output", str(tmp_path / "empty")]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "No network" in error and "by hand" in error
    assert "Data_Entry_2017_v2020.csv.gz" in error and "fetch-chestxray14-labels --from-wheel" in error
