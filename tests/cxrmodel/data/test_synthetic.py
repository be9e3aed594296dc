"""Synthetic studies in the OpenI layout: deterministic, readable by the OpenI loader, with true masks."""

from __future__ import annotations

import dataclasses
import hashlib

import numpy as np
import pytest

from cxrmodel.data.openi import load_openi
from cxrmodel.data.synthetic import IMAGES_FOLDER, load_mask, load_truth
from cxrmodel.data.synthetic.findings import Finding
from cxrmodel.data.synthetic.studies import (
    SyntheticDistribution,
    render_study,
    sample_study_spec,
    write_openi_dataset,
)
from cxrmodel.imaging import decode_image_file

SEED = 11
SIZE = {"width": 160, "height": 176}


def _folder_digest(root) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    specs = [sample_study_spec(number, SEED) for number in range(1, 9)]
    specs.append(sample_study_spec(9, SEED, findings=[Finding("nodule", 0.9, side="right", zone="upper")]))
    specs.append(sample_study_spec(10, SEED, findings=[]))
    root = tmp_path_factory.mktemp("synthetic")
    truth = write_openi_dataset(root, specs, SEED, workers=1, **SIZE)
    return root, specs, truth


def test_same_seed_writes_byte_identical_studies(written, tmp_path):
    root, specs, _ = written
    write_openi_dataset(tmp_path, specs, SEED, workers=1, **SIZE)
    assert _folder_digest(tmp_path) == _folder_digest(root)
    other = sample_study_spec(3, SEED + 1)
    assert (render_study(other, SEED + 1, **SIZE).phantom.image.tobytes()
            != render_study(specs[2], SEED, **SIZE).phantom.image.tobytes())


def test_openi_loader_reads_the_synthetic_folder_with_the_generators_labels(written):
    root, specs, truth = written
    studies = load_openi(root, root / IMAGES_FOLDER)
    assert [study.study_id for study in studies] == [spec.study_id for spec in specs]
    assert [study.label for study in studies] == [spec.label for spec in specs]
    assert all(len(study.image_paths) == 1 for study in studies)
    normal = next(study for study in studies if study.study_id == "CXR10")
    assert normal.mesh_major == ["normal"] and normal.label == 0
    nodule = next(study for study in studies if study.study_id == "CXR9")
    assert nodule.label == 1 and any(term.startswith("Nodule") for term in nodule.mesh_major)
    assert "right" in nodule.report_text.lower() or "nodule" not in nodule.report_text.lower()


def test_every_mask_on_disk_lies_on_its_lesion(written):
    root, specs, _ = written
    truth = load_truth(root)
    for spec in specs:
        record = truth[spec.study_id]
        assert sorted(record["masks"]) == sorted(finding.kind for finding in spec.findings)
        image = decode_image_file(root / IMAGES_FOLDER / f"{spec.image_id}.png").pixels
        # The same study rendered without its findings: the lesion changes the picture inside its mask.
        clean = render_study(dataclasses.replace(spec, findings=()), SEED, **SIZE).phantom.image / 255.0
        for kind, relative_path in record["masks"].items():
            mask = load_mask(root, relative_path)
            assert mask.shape == image.shape and mask.any()
            inside = np.abs(image - clean)[mask].mean()
            outside = np.abs(image - clean)[~mask].mean()
            assert inside > 3 * outside, (spec.study_id, kind, inside, outside)


def test_portable_markers_correlate_with_abnormality_and_reports_understate_only_abnormal_studies():
    distribution = SyntheticDistribution()
    specs = [sample_study_spec(number, 5, distribution) for number in range(1, 1201)]
    abnormal = [spec for spec in specs if spec.label]
    normal = [spec for spec in specs if not spec.label]
    assert 0.5 < len(abnormal) / len(specs) < 0.7
    portable_abnormal = np.mean([spec.portable for spec in abnormal])
    portable_normal = np.mean([spec.portable for spec in normal])
    assert portable_abnormal > 2.5 * portable_normal
    assert not any(spec.understated for spec in normal)
    assert 0.12 < np.mean([spec.understated for spec in abnormal]) < 0.32
    kinds = {finding.kind for spec in abnormal for finding in spec.findings}
    assert len(kinds) == 7
