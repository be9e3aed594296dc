"""`train` on an own-data folder with a corrupt film, a missing film and an empty report: it trains on the rest,
prints what it dropped by reason and records it in the model card; a progress bar counts the epochs on stderr."""

from __future__ import annotations

import json
import re

import pytest

from cxrmodel.cli import main
from cxrmodel.data.synthetic.findings import Finding
from cxrmodel.data.synthetic.studies import sample_study_spec, write_openi_dataset

FINDINGS = [Finding("cardiomegaly", 0.9), Finding("effusion", 0.8, side="left"),
            Finding("nodule", 0.9, side="right", zone="upper")]


@pytest.fixture(scope="module")
def own_folder(tmp_path_factory):
    """19 small synthetic studies in the OpenI layout, 3 of them broken: a corrupt PNG (CXR1), a missing PNG
    (CXR2) and a report whose FINDINGS and IMPRESSION are empty (CXR3)."""
    specs = [sample_study_spec(number, 5, findings=[] if number % 2 else [FINDINGS[number % 3]])
             for number in range(1, 20)]
    root = tmp_path_factory.mktemp("own") / "folder"
    write_openi_dataset(root, specs, 5, width=128, height=128, workers=1)
    images = root / "NLMCXR_png"
    assert (images / "CXR1_IM-0001-1001.png").is_file()  # the generator's file name, broken below
    (images / "CXR1_IM-0001-1001.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"not the rest of a png" * 10)
    (images / "CXR2_IM-0002-1001.png").unlink()
    report = root / "ecgen-radiology" / "3.xml"
    text = re.sub(r'(<AbstractText Label="(FINDINGS|IMPRESSION)">)[^<]*(</AbstractText>)', r"\1\3",
                  report.read_text(encoding="utf-8"))
    report.write_text(text, encoding="utf-8")
    return root


@pytest.mark.slow
def test_train_skips_the_broken_studies_and_records_them_by_reason(own_folder, tmp_path, capsys):
    output = tmp_path / "bundle"
    status = main(["train", "--studies", str(own_folder), "--output", str(output), "--image-size", "32",
                   "--epochs", "1", "--batch-size", "8", "--embedding-dimension", "8", "--seed", "1",
                   "--word-vectors", "word2vec"])
    captured = capsys.readouterr()
    assert status == 0, captured.err[-2000:]
    expected = {"no_image": 1, "empty_report": 1, "no_indexing": 0, "corrupt_image": 1}

    printed = json.loads(captured.out)
    assert printed["selection"]["dropped"] == expected
    assert printed["selection"]["loaded"] == 19 and printed["selection"]["kept"] == 16
    assert [entry["study"] for entry in printed["selection"]["unreadable"]] == ["CXR1"]
    assert "selection: kept 16 of 19 studies; dropped 1 no_image, 1 empty_report, 1 corrupt_image" in captured.err

    card = json.loads((output / "card.json").read_text(encoding="utf-8"))
    assert card["selection"] == printed["selection"]
    held_out = sum(card["label_counts"][split][label] for split in card["label_counts"]
                   for label in ("normal", "abnormal"))
    assert held_out == 16  # trained, validated and tested on the 16 kept studies only
    assert "training split's reports only" in card["transfer"]["word_embedding"]

    # The progress bars: every fit counts its epochs on stderr, and the images are counted as they are decoded.
    assert re.search(r"image model epochs: 100%\|.*\| 1/1 ", captured.err)
    assert re.search(r"decoding images: 100%\|.*\| 17/17 ", captured.err)


def test_word2vec_on_the_training_split_never_sees_a_held_out_report():
    from types import SimpleNamespace

    import numpy as np

    from cxrmodel.training.target import PreparedTarget, TargetSettings, with_training_split_word2vec
    from cxrmodel.training.transfer import TransferSources, TransferWeights

    reports = ["heart size normal lungs clear"] * 6 + ["pneumothorax pneumothorax on the left apex apex"]
    prepared = PreparedTarget(SimpleNamespace(reports=reports), TransferWeights(), {}, None, "fingerprint")
    sources = TransferSources(word2vec_on_training_split=True)
    trained = with_training_split_word2vec(prepared, TargetSettings(embedding_dimension=8), sources,
                                           np.arange(6), seed=1)
    words = set(trained.transfer.word_vectors.words)
    assert {"heart", "lungs", "clear"} <= words and not {"pneumothorax", "apex"} & words
    assert with_training_split_word2vec(prepared, TargetSettings(), TransferSources(), np.arange(6), 1) is prepared
