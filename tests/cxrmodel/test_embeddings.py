"""cxrmodel.training.embeddings and ``python -m cxrmodel embeddings``: word2vec on reports, text formats,
initialisation.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cxrmodel.cli.main import main
from cxrmodel.text import Vocabulary
from cxrmodel.training.embeddings import (
    WordVectors,
    embedding_coverage,
    embedding_matrix,
    initialise_word_embedding,
    load_word_vectors,
    save_word_vectors,
    train_word2vec,
)

REPOSITORY = Path(__file__).resolve().parents[2]


def _corpus(copies: int = 40) -> list[str]:
    """Reports where effusion/pneumothorax (and heart/mediastinum) share contexts and the two groups never meet."""
    templates = [
        "No pleural {a} identified on the left. Lungs clear bilaterally.",
        "Small {a} suspected at the right costophrenic angle, lungs clear.",
        "The {b} silhouette is normal in size and contour.",
        "Stable {b} contour, normal {b} size, unremarkable silhouette.",
    ]
    reports = []
    for index in range(copies):
        a = ("effusion", "pneumothorax")[index % 2]
        b = ("heart", "mediastinum")[index % 2]
        reports.extend(template.format(a=a, b=b) for template in templates)
    return reports


@pytest.fixture(scope="module")
def small_vectors() -> WordVectors:
    return train_word2vec(_corpus(), dimension=16, window=3, min_count=1, epochs=40, seed=3)


def test_word2vec_puts_words_of_the_same_context_closer(small_vectors):
    assert small_vectors.dimension == 16 and small_vectors.vectors.dtype == np.float32
    same_context = small_vectors.similarity("effusion", "pneumothorax")
    assert same_context > small_vectors.similarity("effusion", "contour") + 0.2
    assert same_context > small_vectors.similarity("effusion", "silhouette") + 0.2
    assert small_vectors.similarity("heart", "mediastinum") > small_vectors.similarity("heart", "costophrenic") + 0.2


def test_word2vec_words_are_the_models_normalised_words():
    vectors = train_word2vec(["No pneumothorax. The XXXX-year-old's T12-L1 x-ray, no pneumothorax."] * 3,
                             dimension=4, min_count=1, epochs=2, seed=0)
    # Lower-cased, negation kept, stop words and one-letter words dropped, redactions as "xxxx", hyphens removed.
    assert set(vectors.words) == {"no", "pneumothorax", "xxxx", "tl", "xray"}


def test_word2vec_is_repeatable_with_a_seed_and_varies_without(small_vectors):
    again = train_word2vec(_corpus(), dimension=16, window=3, min_count=1, epochs=40, seed=3)
    other = train_word2vec(_corpus(), dimension=16, window=3, min_count=1, epochs=40, seed=4)
    assert again.words == small_vectors.words
    assert np.array_equal(again.vectors, small_vectors.vectors)
    assert not np.array_equal(other.vectors, small_vectors.vectors)


def test_word2vec_does_not_depend_on_python_hash_seed(tmp_path):
    script = (
        "import hashlib, sys\n"
        "from cxrmodel.training.embeddings import train_word2vec\n"
        f"sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
        "from test_embeddings import _corpus\n"
        "v = train_word2vec(_corpus(10), dimension=8, min_count=1, epochs=3, seed=1)\n"
        "print(hashlib.sha256(v.vectors.tobytes() + ' '.join(v.words).encode()).hexdigest())\n"
    )
    digests = set()
    for hash_seed in ("1", "2"):
        environment = {**os.environ, "PYTHONHASHSEED": hash_seed, "PYTHONPATH": str(REPOSITORY)}
        result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=environment,
                                cwd=REPOSITORY, timeout=120, check=True)
        digests.add(result.stdout.strip())
    assert len(digests) == 1


def test_word2vec_rejects_a_corpus_without_repeated_words():
    with pytest.raises(ValueError, match="too small"):
        train_word2vec(["pneumothorax effusion"], dimension=4, min_count=2)


@pytest.mark.parametrize("name", ["vectors.txt", "vectors.txt.gz"])
def test_word2vec_text_round_trip_is_exact(small_vectors, tmp_path, name):
    path = save_word_vectors(small_vectors, tmp_path / name)
    with (gzip.open if name.endswith(".gz") else open)(path, "rt", encoding="utf-8") as stream:
        assert stream.readline() == f"{len(small_vectors)} 16\n"  # the word2vec text header
    loaded = load_word_vectors(path, dimension=16)
    assert loaded.words == small_vectors.words
    assert np.array_equal(loaded.vectors, small_vectors.vectors)


@pytest.mark.parametrize("compressed", [False, True])
def test_glove_text_without_header_loads(tmp_path, compressed):
    text = "the 0.1 -0.2 0.3\neffusion 1e-3 2.5 -4\n\nheart 0 0 1\n"
    path = tmp_path / ("glove.txt.gz" if compressed else "glove.txt")
    if compressed:
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)
    vectors = load_word_vectors(path)
    assert vectors.words == ("the", "effusion", "heart") and vectors.dimension == 3
    np.testing.assert_array_equal(vectors.vector("effusion"), np.float32([0.001, 2.5, -4.0]))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "no word vectors found"),
        ("2 3\n", "no word vectors found"),
        ("2 3\nheart 1 2 3\nlung 1 2\n", "line 3: word 'lung' has 2 numbers, expected 3"),
        ("heart 1 2 3\nlung 1 2 3 4\n", "line 2: word 'lung' has 4 numbers, expected 3"),
        ("heart 1 2 3\nlung 1 two 3\n", "line 2: 'two' is not a number"),
        ("heart 1 nan 3\n", "line 1: word 'heart' has a NaN"),
        ("3 2\nheart 1 2\nlung 1 2\n", "header announces 3 words but the file has 2"),
        ("heart\n", "line 1: expected a word followed by numbers"),
    ],
)
def test_bad_vector_files_name_the_problem_and_line(tmp_path, content, message):
    path = tmp_path / "vectors.txt"
    path.write_text(content)
    with pytest.raises(ValueError, match=message):
        load_word_vectors(path)


def test_dimension_mismatch_binary_and_missing_files(tmp_path):
    path = tmp_path / "vectors.txt"
    path.write_text("heart 1 2 3\n")
    with pytest.raises(ValueError, match="dimension 3, expected 300"):
        load_word_vectors(path, dimension=300)
    binary = tmp_path / "vectors.bin"
    binary.write_bytes(b"2 3\nheart \xff\xfe\x00\x01\x9a\x99\x99\x3f")
    with pytest.raises(ValueError, match="not UTF-8 text .*binary word2vec"):
        load_word_vectors(binary)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_word_vectors(tmp_path / "absent.txt")


def test_embedding_matrix_rows_follow_vocabulary_ids():
    vectors = WordVectors(("effusion", "heart", "unused"), np.float32([[1, 2, 3], [4, 5, 6], [7, 8, 9]]))
    vocabulary = Vocabulary(["heart", "lung", "effusion"])  # ids 2, 3, 4; "lung" has no vector
    matrix = embedding_matrix(vectors, vocabulary, 3, seed=0)
    assert matrix.shape == (5, 3) and matrix.dtype == np.float32
    assert not matrix[0].any()  # padding
    np.testing.assert_array_equal(matrix[vocabulary.id_of("heart")], [4, 5, 6])
    np.testing.assert_array_equal(matrix[vocabulary.id_of("effusion")], [1, 2, 3])
    known_spread = np.std(np.float32([[1, 2, 3], [4, 5, 6]]))
    for random_row in (1, vocabulary.id_of("lung")):  # <oov> and a word without a vector
        assert matrix[random_row].any() and np.abs(matrix[random_row]).max() <= np.sqrt(3) * known_spread
    np.testing.assert_array_equal(matrix, embedding_matrix(vectors, vocabulary, 3, seed=0))
    assert not np.array_equal(matrix[3], embedding_matrix(vectors, vocabulary, 3, seed=1)[3])
    assert embedding_coverage(vectors, vocabulary) == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="dimension 3 but the model's embedding has 300"):
        embedding_matrix(vectors, vocabulary, 300, seed=0)


def test_initialise_word_embedding_sets_the_layer_and_checks_shapes():
    from cxrmodel.modeling import ModelConfig
    from cxrmodel.modeling.builders import build_model

    model = build_model("text", ModelConfig(vocabulary_size=5, embedding_dimension=3, text_filters=2, max_tokens=8))
    matrix = np.arange(15, dtype=np.float32).reshape(5, 3)
    initialise_word_embedding(model, matrix)
    np.testing.assert_array_equal(model.get_layer("word_embedding").get_weights()[0], matrix)
    assert model.get_layer("word_embedding").trainable  # not frozen, as in the paper
    with pytest.raises(ValueError, match=r"shape \(4, 3\) but the model's word_embedding layer has \(5, 3\)"):
        initialise_word_embedding(model, matrix[:4])
    image_model = build_model("image", ModelConfig(image_size=32, compact_widths=(4,)))
    with pytest.raises(ValueError, match="no 'word_embedding' layer"):
        initialise_word_embedding(image_model, matrix)


def _train(corpus: Path, output: Path, *extra: str) -> list[str]:
    return ["embeddings", "train", "--corpus", str(corpus), "--output", str(output), "--dimension", "8",
            "--min-count", "1", "--epochs", "2", *extra]


def test_cli_train_writes_vectors_and_resumes(tmp_path, capsys, monkeypatch):
    corpus = tmp_path / "reports.txt"
    corpus.write_text("\n".join(_corpus(5)) + "\n\n")
    output = tmp_path / "out" / "vectors.txt"
    assert main(_train(corpus, output)) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["reports"] == 20 and summary["dimension"] == 8 and summary["reused"] is False
    vectors = load_word_vectors(output)
    assert summary["words"] == len(vectors) and "pneumothorax" in vectors

    # A finished output is reused, not recomputed.
    import cxrmodel.training.embeddings

    monkeypatch.setattr(cxrmodel.training.embeddings, "train_word2vec", lambda *a, **k: pytest.fail("retrained"))
    assert main(_train(corpus, output)) == 0
    assert json.loads(capsys.readouterr().out)["reused"] is True
    # Other settings: refused unless --force.
    assert main(_train(corpus, output, "--window", "2")) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "--force" in error
    monkeypatch.undo()
    assert main(_train(corpus, output, "--window", "2", "--force")) == 0
    assert json.loads(capsys.readouterr().out)["window"] == 2


def test_cli_train_reads_openi_archives(tmp_path, capsys):
    from tests.cxrmodel.test_evaluate_text import write_reports_archive

    archive = write_reports_archive(tmp_path / "NLMCXR_reports.tgz", 12)
    assert main(_train(archive, tmp_path / "vectors.txt.gz")) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["reports"] == 12 and load_word_vectors(tmp_path / "vectors.txt.gz").dimension == 8


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("missing", "does not exist"),
        ("empty", "holds no report text"),
        ("csv", "expected an OpenI reports archive"),
        ("foreign-output", "was not written by this command"),
    ],
)
def test_cli_train_bad_input_is_one_line_exit_2(tmp_path, capsys, setup, message):
    corpus = tmp_path / "reports.txt"
    corpus.write_text("No pneumothorax. No pneumothorax.\n")
    output = tmp_path / "vectors.txt"
    if setup == "missing":
        corpus = tmp_path / "absent.txt"
    elif setup == "empty":
        corpus.write_text("\n \n")
    elif setup == "csv":
        corpus = tmp_path / "reports.csv"
        corpus.write_text("a,b\n")
    elif setup == "foreign-output":
        output.write_text("heart 1 2\n")
    assert main(_train(corpus, output)) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and error.startswith("error: ") and message in error


def test_cli_check(tmp_path, capsys):
    path = tmp_path / "glove.txt"
    path.write_text("heart 1 2 3\nlung 4 5 6\n")
    assert main(["embeddings", "check", str(path)]) == 0
    assert json.loads(capsys.readouterr().out) == {"file": str(path), "words": 2, "dimension": 3}
    path.write_text("heart 1 2 3\nlung 4 5\n")
    assert main(["embeddings", "check", str(path)]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "line 2" in error
