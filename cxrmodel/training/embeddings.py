"""Word embeddings for the text submodel: word2vec on a report corpus, word2vec/GloVe text files, initialisation.

The paper initialises the Kim CNN's 300-d embedding from word vectors trained on a domain corpus (and keeps it
trainable). This module provides that stage:

* :func:`train_word2vec` trains word2vec (gensim's maintained implementation) on reports tokenised exactly as the
  model tokenises them (:func:`cxrmodel.text.tokenize_report` / :func:`cxrmodel.text.model_tokens`), so the
  vectors' words are the vocabulary's words (lower-cased, stop words except negations removed, ``xxxx`` for
  redactions). One report is one word2vec "sentence".
* :func:`save_word_vectors` / :func:`load_word_vectors` write and read the standard text formats: word2vec text
  (first line ``"<count> <dimension>"``) and GloVe text (no header), plain or gzip-compressed.
* :func:`embedding_matrix` lays vectors out in vocabulary id order and :func:`initialise_word_embedding` puts
  that matrix into a model's ``word_embedding`` layer.

Reproducibility: with ``workers=1`` and a fixed ``seed``, gensim 4.4 training is bit-for-bit repeatable, also
across processes with different ``PYTHONHASHSEED`` values (tested): its initial vectors come from
``numpy.random.default_rng(seed)`` and its sampling from a seeded generator; Python's salted ``hash`` is only
used when a vocabulary is *extended* after training, which this module never does. With ``workers > 1`` the
threads' interleaving makes results vary from run to run (gensim documents this).
"""

from __future__ import annotations

import gzip
import io
import logging
import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cxrmodel.progress import progress_meter
from cxrmodel.text import PADDING_ID, Vocabulary, model_tokens, tokenize_report

logger = logging.getLogger(__name__)

DEFAULT_DIMENSION = 300
"""The paper's word vector length."""

DEFAULT_EPOCHS = 20
"""word2vec passes over the corpus: a few thousand short reports need more than gensim's default 5."""

DEFAULT_SEED = 2019

UNKNOWN_WORD_FALLBACK_SCALE = 0.05
"""Half-width of the uniform draw for words without a vector when no word has one (Keras' Embedding default)."""


@dataclass(frozen=True, eq=False)
class WordVectors:
    """Word vectors: one row of ``vectors`` per entry of ``words``.

    Attributes:
        words: Distinct words (no whitespace), in file/training order.
        vectors: Shape ``(len(words), dimension)`` float32, finite.
    """

    words: tuple[str, ...]
    vectors: np.ndarray
    _index: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        words = tuple(self.words)
        vectors = np.asarray(self.vectors, dtype=np.float32)
        if vectors.ndim != 2:
            raise ValueError(f"word vectors must be a 2-D (words, dimension) array, got shape {vectors.shape}")
        if vectors.shape[0] != len(words):
            raise ValueError(f"{len(words)} words but {vectors.shape[0]} vector rows")
        if vectors.shape[1] < 1:
            raise ValueError("word vectors need a dimension of at least 1")
        if not np.isfinite(vectors).all():
            raise ValueError("word vectors contain NaN or infinite values")
        index: dict[str, int] = {}
        for position, word in enumerate(words):
            if not isinstance(word, str) or not word or any(character.isspace() for character in word):
                raise ValueError(f"word {position + 1} ({word!r}) must be a non-empty string without whitespace")
            if word in index:
                raise ValueError(f"word {word!r} appears twice (rows {index[word] + 1} and {position + 1})")
            index[word] = position
        object.__setattr__(self, "words", words)
        object.__setattr__(self, "vectors", vectors)
        object.__setattr__(self, "_index", index)

    @property
    def dimension(self) -> int:
        """Vector length."""
        return int(self.vectors.shape[1])

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: object) -> bool:
        return word in self._index

    def __repr__(self) -> str:
        return f"WordVectors({len(self)} words, dimension {self.dimension})"

    def vector(self, word: str) -> np.ndarray:
        """The (dimension,) float32 vector of ``word``.

        Raises:
            KeyError: If the word has no vector.
        """
        return self.vectors[self._index[word]]

    def similarity(self, first: str, second: str) -> float:
        """Cosine similarity of two words' vectors (in [-1, 1]; 0 when either vector is zero)."""
        a, b = self.vector(first).astype(np.float64), self.vector(second).astype(np.float64)
        norms = float(np.linalg.norm(a) * np.linalg.norm(b))
        return float(a @ b / norms) if norms > 0 else 0.0


def report_sentences(reports: Iterable[str]) -> list[list[str]]:
    """Each report as the list of normalised words the model sees (empty reports are left out)."""
    sentences = []
    for report in reports:
        words = [token.normalized for token in model_tokens(tokenize_report(report))]
        if words:
            sentences.append(words)
    return sentences


def train_word2vec(
    reports: Iterable[str],
    *,
    dimension: int = DEFAULT_DIMENSION,
    window: int = 5,
    min_count: int = 2,
    epochs: int = DEFAULT_EPOCHS,
    seed: int = DEFAULT_SEED,
    workers: int = 1,
    skip_gram: bool = True,
) -> WordVectors:
    """Train word2vec (gensim) on report texts tokenised as the model tokenises them.

    Args:
        reports: Report texts (one report = one sentence; see :func:`report_sentences`).
        dimension: Vector length (the paper: 300).
        window: Words either side of a word that count as its context.
        min_count: Words seen fewer times get no vector.
        epochs: Passes over the corpus.
        seed: Seeds the initial vectors and the sampling.
        workers: Training threads; only ``1`` is reproducible (see the module docstring).
        skip_gram: Skip-gram (default; better for rare words in small corpora) instead of CBOW.

    Returns:
        The vectors of every word seen at least ``min_count`` times, most frequent first.

    Raises:
        ValueError: For a non-positive setting, or when no word occurs ``min_count`` times.
    """
    for name, value in (("dimension", dimension), ("window", window), ("min_count", min_count),
                        ("epochs", epochs), ("workers", workers)):
        if int(value) < 1:
            raise ValueError(f"{name} must be at least 1, got {value}")
    from gensim.models import Word2Vec  # noqa: PLC0415 - gensim only when training
    from gensim.models.callbacks import CallbackAny2Vec  # noqa: PLC0415 - same

    sentences = report_sentences(reports)
    counts: dict[str, int] = {}
    for sentence in sentences:
        for word in sentence:
            counts[word] = counts.get(word, 0) + 1
    if not any(count >= min_count for count in counts.values()):
        raise ValueError(
            f"no word occurs at least {min_count} times in the {len(sentences)} non-empty reports: "
            "the corpus is too small for word2vec (lower --min-count or give more reports)"
        )
    started = time.perf_counter()

    class EpochProgress(CallbackAny2Vec):
        """Counts word2vec's passes over the corpus on a progress bar."""

        def __init__(self) -> None:
            self.meter = progress_meter(total=int(epochs), description="word2vec epochs", unit="epoch")

        def on_epoch_end(self, model) -> None:
            self.meter.update(1)

        def on_train_end(self, model) -> None:
            self.meter.close()

    model = Word2Vec(
        sentences=sentences, vector_size=int(dimension), window=int(window), min_count=int(min_count),
        sg=1 if skip_gram else 0, epochs=int(epochs), seed=int(seed), workers=int(workers),
        callbacks=[EpochProgress()],
    )
    words = tuple(model.wv.index_to_key)
    vectors = WordVectors(words, np.array(model.wv.vectors, dtype=np.float32))
    logger.info(
        "word2vec: %d reports, %d tokens, %d words with vectors (min_count %d), dimension %d, %d epochs, %.1f s",
        len(sentences), sum(counts.values()), len(vectors), min_count, dimension, epochs,
        time.perf_counter() - started,
    )
    return vectors


def save_word_vectors(vectors: WordVectors, path: str | Path) -> Path:
    """Write vectors in the word2vec text format: ``"<count> <dimension>"``, then ``word v1 v2 ...`` per line.

    A path ending in ``.gz`` is gzip-compressed. Values are written with 9 significant digits, which
    reproduces float32 exactly. The file is written next to the target and renamed into place, so a reader
    never sees a half-written file.

    Returns:
        The path written.
    """
    path = Path(path)
    temporary = path.with_name(f".{path.name}.partial")
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(temporary, "wt", encoding="utf-8", newline="\n") as stream:
        stream.write(f"{len(vectors)} {vectors.dimension}\n")
        for word, row in zip(vectors.words, vectors.vectors, strict=True):
            stream.write(word + " " + " ".join(f"{value:.9g}" for value in row.tolist()) + "\n")
    temporary.replace(path)
    logger.info("wrote %d word vectors of dimension %d to %s", len(vectors), vectors.dimension, path)
    return path


def _open_text(path: Path) -> io.TextIOBase:
    with open(path, "rb") as stream:
        magic = stream.read(2)
    if magic == b"\x1f\x8b":
        return gzip.open(path, "rt", encoding="utf-8", newline=None)
    return open(path, encoding="utf-8", newline=None)


def _parse_header(parts: Sequence[str]) -> tuple[int, int] | None:
    if len(parts) != 2 or not all(part.isdigit() for part in parts):
        return None
    return int(parts[0]), int(parts[1])


def load_word_vectors(path: str | Path, *, dimension: int | None = None) -> WordVectors:
    """Read word vectors in word2vec text format (with header) or GloVe text format (no header), plain or gzip.

    Hand-written rather than gensim's ``KeyedVectors.load_word2vec_format`` because that reader needs to be told
    whether a header exists, and its errors on a broken file do not say which line is wrong; here every problem
    names the file and the line. Binary word2vec files are not supported (convert them to text).

    A first line of exactly two whole numbers is the word2vec header (count, dimension); otherwise the file is
    GloVe text and the dimension is that of the first row. Blank lines are skipped. When a word appears twice
    the first vector is kept (with a warning), as gensim does.

    Args:
        path: The vectors file (``.txt``, ``.vec``, ``.gz``, ...).
        dimension: When given, the vectors must have this length.

    Returns:
        The vectors in file order.

    Raises:
        FileNotFoundError: If the file does not exist.
        ValueError: Naming the file and line: not UTF-8 text, empty, a ragged row, a value that is not a
            finite number, a header whose count or dimension disagrees with the rows, or a dimension other
            than ``dimension``.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"word vectors file {path} does not exist")
    words: list[str] = []
    rows: list[np.ndarray] = []
    seen: set[str] = set()
    duplicates = 0
    header: tuple[int, int] | None = None
    width: int | None = None
    line_number = 0
    try:
        with _open_text(path) as stream:
            for line_number, line in enumerate(stream, 1):
                parts = line.split()
                if not parts:
                    continue
                if header is None and width is None and not words:
                    header = _parse_header(parts)
                    if header is not None:
                        if header[1] < 1:
                            raise ValueError(f"{path}: line {line_number}: header gives dimension {header[1]}")
                        width = header[1]
                        continue
                if len(parts) < 2:
                    raise ValueError(f"{path}: line {line_number}: expected a word followed by numbers, "
                                     f"got {line.strip()[:40]!r}")
                if width is None:
                    width = len(parts) - 1
                if len(parts) - 1 != width:
                    raise ValueError(f"{path}: line {line_number}: word {parts[0]!r} has {len(parts) - 1} numbers, "
                                     f"expected {width} (ragged row)")
                try:
                    row = np.array([float(value) for value in parts[1:]], dtype=np.float32)
                except ValueError:
                    bad = next(value for value in parts[1:] if not _is_float(value))
                    raise ValueError(f"{path}: line {line_number}: {bad[:30]!r} is not a number") from None
                if not np.isfinite(row).all():
                    raise ValueError(f"{path}: line {line_number}: word {parts[0]!r} has a NaN or infinite value")
                if parts[0] in seen:
                    duplicates += 1
                    continue
                seen.add(parts[0])
                words.append(parts[0])
                rows.append(row)
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not UTF-8 text (binary word2vec files are not supported: convert them to the "
                         "text format)") from None
    except (gzip.BadGzipFile, EOFError) as error:
        raise ValueError(f"{path}: damaged gzip file ({error})") from None
    if not words:
        raise ValueError(f"{path}: no word vectors found (empty file or header only)")
    if header is not None and header[0] != len(words) + duplicates:
        raise ValueError(f"{path}: header announces {header[0]} words but the file has {len(words) + duplicates}")
    if dimension is not None and width != dimension:
        raise ValueError(f"{path}: vectors have dimension {width}, expected {dimension}")
    if duplicates:
        logger.warning("%s: %d repeated words ignored (first vector kept)", path, duplicates)
    vectors = WordVectors(tuple(words), np.stack(rows))
    logger.info("read %d word vectors of dimension %d from %s", len(vectors), vectors.dimension, path)
    return vectors


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def embedding_coverage(vectors: WordVectors, vocabulary: Vocabulary) -> float:
    """Share of the vocabulary's real words (padding and out-of-vocabulary excluded) that have a vector."""
    words = vocabulary.words[2:]
    return sum(word in vectors for word in words) / len(words) if words else 0.0


def embedding_matrix(vectors: WordVectors, vocabulary: Vocabulary, dimension: int, seed: int) -> np.ndarray:
    """Initial weights of the ``word_embedding`` layer, one row per vocabulary id.

    * Row 0 (padding) is all zeros.
    * A vocabulary word with a vector gets that vector.
    * Every other row (the out-of-vocabulary id 1 and words without a vector) is drawn uniformly from
      ``[-a, a]`` with ``a = sqrt(3) * s``, ``s`` the standard deviation of the known words' vector values, so
      the random rows have the same spread as the pre-trained ones (Kim 2014 initialises unknown words this
      way); ``a`` = :data:`UNKNOWN_WORD_FALLBACK_SCALE` when no vocabulary word has a vector. Seeded by ``seed``.

    The share of vocabulary words found is logged (see :func:`embedding_coverage`).

    Args:
        vectors: Pre-trained vectors.
        vocabulary: The model's vocabulary (id order).
        dimension: The model's embedding dimension.
        seed: Seeds the random rows.

    Returns:
        Shape ``(len(vocabulary), dimension)`` float32.

    Raises:
        ValueError: When the vectors' dimension is not ``dimension``.
    """
    if vectors.dimension != dimension:
        raise ValueError(f"word vectors have dimension {vectors.dimension} but the model's embedding has {dimension}")
    known = [(word_id, word) for word_id, word in enumerate(vocabulary.words) if word_id > 1 and word in vectors]
    if known:
        spread = float(np.std(np.stack([vectors.vector(word) for _, word in known]), dtype=np.float64))
        scale = math.sqrt(3.0) * spread if spread > 0 else UNKNOWN_WORD_FALLBACK_SCALE
    else:
        scale = UNKNOWN_WORD_FALLBACK_SCALE
    rng = np.random.default_rng(seed)
    matrix = rng.uniform(-scale, scale, size=(len(vocabulary), dimension)).astype(np.float32)
    matrix[PADDING_ID] = 0.0
    for word_id, word in known:
        matrix[word_id] = vectors.vector(word)
    coverage = embedding_coverage(vectors, vocabulary)
    logger.info("embedding matrix: %d of %d vocabulary words have a pre-trained vector (%.1f %%), "
                "others uniform in +/-%.4f", len(known), max(0, len(vocabulary) - 2), 100 * coverage, scale)
    return matrix


def initialise_word_embedding(model, matrix: np.ndarray) -> None:
    """Set the weights of ``model``'s ``word_embedding`` layer to ``matrix`` (the layer stays trainable).

    Args:
        model: A Keras model built by :func:`cxrmodel.modeling.builders.build_model` with a text branch.
        matrix: Shape ``(vocabulary_size, embedding_dimension)`` as from :func:`embedding_matrix`.

    Raises:
        ValueError: When the model has no ``word_embedding`` layer or the shapes differ.
    """
    try:
        layer = model.get_layer("word_embedding")
    except ValueError:
        raise ValueError(
            f"model {model.name!r} has no 'word_embedding' layer (not a text or multimodal model)"
        ) from None
    (current,) = layer.get_weights()
    matrix = np.asarray(matrix, dtype=np.float32)
    if matrix.shape != current.shape:
        raise ValueError(f"embedding matrix has shape {matrix.shape} but the model's word_embedding layer has "
                         f"{current.shape} (vocabulary size, embedding dimension)")
    layer.set_weights([matrix])
