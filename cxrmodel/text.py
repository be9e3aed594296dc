"""Report text: word tokens with character offsets, normalisation, vocabulary and model encoding.

Integrated gradients attribute the text branch's decision to *model slots* (positions in the padded id
sequence). To show those attributions on the report as the radiologist wrote it, every model slot must be
traced back to a word and every word to its characters. This module keeps that chain explicit:

* :func:`tokenize_report` splits a report into :class:`Token` objects, one per written word, each with the
  exact character span (``report[token.start:token.end] == token.text``), its normalised form and whether
  normalisation kept it.
* :func:`model_tokens` is the subsequence the model sees.
* :class:`Vocabulary` maps normalised words to integer ids (0 = padding, 1 = out of vocabulary).
* :func:`encode_report` produces the fixed-length id array plus ``positions``, the index into the full
  token list of the word in each used model slot.

Normalisation follows the paper: lower-case, digits and punctuation stripped, English stop words removed,
words shorter than two characters dropped — except that negations are never dropped ("no pneumothorax" must
keep "no"; a negation flips the meaning of the finding that follows it).

Decisions (deliberate, tested):

* **What a word is.** A run of letters/digits, optionally joined into one word by single internal hyphens or
  apostrophes (``x-ray``, ``patient's``, ``T12-L1``). Leading/trailing hyphens and apostrophes (quotes,
  dashes) are punctuation, not part of the word. Unicode letters count as letters ("naïve"), including
  combining accents written as separate code points.
* **Hyphenated words stay one token**, normalised by removing the hyphen: ``x-ray`` -> ``xray``,
  ``well-defined`` -> ``welldefined``. This keeps the mapping one written word <-> at most one model slot,
  so a word's attribution is never split across slots; it also matches "punctuation stripped" in the paper.
  Side effect: a vertebral level such as ``T12-L1`` normalises to ``tl``.
* **De-identification ``XXXX``.** IU X-ray replaces redacted words with ``XXXX``, sometimes inside a word
  (``x-XXXX``, ``XXXX-year-old``, ``comparisXXXX``). Any word containing four or more consecutive ``x``
  (any case) is mapped, as a whole, to the single normalised token :data:`REDACTED_TOKEN` (``"xxxx"``) and
  kept. It carries no meaning of its own, but it occupies a position in the sentence ("There are no XXXX of
  a pleural effusion"); dropping it would silently glue neighbouring words together in the model's view and
  hide from the user that the model saw a redaction there. Collapsing all variants to one entry keeps the
  vocabulary from filling up with ``x-xxxx``, ``xxxxyearold`` and the like.
* **Stop words** are scikit-learn's ``ENGLISH_STOP_WORDS`` minus :data:`NEGATIONS`. scikit-learn is imported
  lazily on first use (it takes about a second), so importing this module stays cheap.
* **Section headers** ("FINDINGS:", "Impression:", "CLINICAL HISTORY:", ...; :func:`section_headers`) are dropped like
  stop words (``kept=False``, offsets exact): they are the same words in every report, carry no information and
  would still receive attributions (one uploaded report gave "IMPRESSION" half of the word share). A form of
  :data:`SECTION_HEADER_FORMS` is a header when, ignoring case,

  1. it starts a line (only spaces before it) and is followed by a colon or ends the line ("FINDINGS:",
     "Findings :", "IMPRESSION" alone on its line); or
  2. it is followed by a colon and is written in capitals ("... shortness of breath FINDINGS: The heart") or starts
     a sentence (". Impression: stable"), as in a report pasted as one paragraph.

  Anything else is a word like any other: "no acute findings", "Findings of COPD ..." and "Comparison XXXX, XXXX.
  Clear lungs." at the start of a line (IU X-ray writes both), "Chest Comparison: ...". The training texts
  (:func:`cxrmodel.data.openi.compose_report_text`, FINDINGS then IMPRESSION without headings) contain no header by
  this rule, except one IU X-ray report (CXR2415, whose flattened findings repeat "IMPRESSION:" and "FINDINGS:"), so
  the rule changes nothing for the bundled studies; it keeps an uploaded or typed report with headings in the same
  form the model was trained on. Page, CLI and training all encode with :func:`encode_report` (or
  :meth:`Vocabulary.build` / :func:`model_tokens`), so they apply the same rule.
"""

from __future__ import annotations

import functools
import json
import logging
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)

MAX_TOKENS = 140
"""Default length of the model's id sequence (reports are cut or padded to it)."""

PADDING_WORD = "<pad>"
OOV_WORD = "<oov>"
PADDING_ID = 0
OOV_ID = 1

REDACTED_TOKEN = "xxxx"
"""Normalised form of every word that contains IU X-ray's de-identification marker ``XXXX``."""

MIN_WORD_LENGTH = 2
"""Normalised words shorter than this are dropped (after digits and punctuation are stripped)."""

NEGATIONS: frozenset[str] = frozenset(
    {
        "no",
        "not",
        "nor",
        "neither",
        "none",
        "never",
        "without",
        "negative",
        "absent",
        # Also in scikit-learn's stop-word list and also negations: kept for the same reason.
        "cannot",  # "cannot be excluded"
        "cant",  # "can't" after the apostrophe is stripped
        "nothing",
        "nobody",
        "noone",
        "nowhere",
    }
)
"""Words that are never dropped as stop words: they flip the meaning of the finding that follows."""

VOCABULARY_FORMAT = "cxrmodel-vocabulary"
VOCABULARY_VERSION = 1

# A word: letters/digits (plus combining accents), optionally joined by single internal hyphens/apostrophes.
_WORD_CHARACTER = r"(?:[^\W_]|[\u0300-\u036f])"
_JOINER = r"['\u2019\u2010\u2011-]"  # ASCII/right single quote, ASCII hyphen, Unicode hyphens
_WORD_PATTERN = re.compile(rf"{_WORD_CHARACTER}+(?:{_JOINER}{_WORD_CHARACTER}+)*")
_REDACTION_PATTERN = re.compile(r"x{4,}", re.IGNORECASE)

SECTION_HEADER_FORMS: tuple[str, ...] = (
    "findings",
    "finding",
    "impression",
    "impressions",
    "comparison",
    "comparisons",
    "indication",
    "indications",
    "clinical indication",
    "history",
    "clinical history",
    "technique",
    "exam",
    "examination",
    "reason for exam",
    "reason for examination",
    "conclusion",
    "conclusions",
)
"""Section headings of chest X-ray reports (IU X-ray's COMPARISON, INDICATION, FINDINGS, IMPRESSION, and the
"Exam:", "History:", "Technique:" of reports written in one block), lower case; words separated by spaces.

Where one counts as a header rather than a word is the rule in the module docstring (:func:`section_headers`)."""

_HORIZONTAL_SPACE = r"[^\S\r\n\x0b\x0c\x1c-\x1e\x85\u2028\u2029]"  # whitespace that does not end a line
_SECTION_HEADER_PATTERN = re.compile(
    r"\b(?P<header>"
    + "|".join(
        rf"{_HORIZONTAL_SPACE}+".join(map(re.escape, form.split()))
        for form in sorted(SECTION_HEADER_FORMS, key=len, reverse=True)
    )
    + rf")\b(?P<colon>{_HORIZONTAL_SPACE}*:)?",
    re.IGNORECASE,
)
_SENTENCE_ENDS = (".", "!", "?")


@functools.cache
def stop_words() -> frozenset[str]:
    """The English stop words dropped by normalisation.

    Returns:
        scikit-learn's ``ENGLISH_STOP_WORDS`` without :data:`NEGATIONS`. Imported on first call and cached.
    """
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS  # noqa: PLC0415 - sklearn on first call only

    return frozenset(ENGLISH_STOP_WORDS) - NEGATIONS


@dataclass(frozen=True)
class Token:
    """One word of a report, as written and as the model sees it.

    Attributes:
        text: The word exactly as written in the report.
        start: Character offset of the word's first character in the report.
        end: Offset one past its last character, so ``report[start:end] == text``.
        normalized: The form the model sees (a vocabulary key), or ``None`` when the word was dropped.
        kept: ``False`` when normalisation dropped the word (stop word, too short, digits only).
    """

    text: str
    start: int
    end: int
    normalized: str | None
    kept: bool


def normalize_word(word: str) -> str | None:
    """Normalise one written word, or return ``None`` if the model should not see it.

    Args:
        word: A word as matched by :func:`tokenize_report` (no surrounding punctuation).

    Returns:
        :data:`REDACTED_TOKEN` for words containing the de-identification marker; otherwise the lower-cased
        word with digits, hyphens and apostrophes removed, or ``None`` when that is a stop word (negations
        excepted) or shorter than :data:`MIN_WORD_LENGTH` characters.
    """
    if _REDACTION_PATTERN.search(word):
        return REDACTED_TOKEN
    lowered = unicodedata.normalize("NFC", word.lower())
    letters = "".join(
        character for character in lowered if character.isalpha() or unicodedata.category(character).startswith("M")
    )
    if len(letters) < MIN_WORD_LENGTH:
        return None
    if letters in stop_words():
        return None
    return letters


def section_headers(report: str) -> list[tuple[int, int]]:
    """Character spans of the report's section headers (the rule is in the module docstring).

    Args:
        report: Free-text report.

    Returns:
        ``(start, end)`` of each header's words in reading order (the colon is not included), e.g.
        ``[(0, 8)]`` for ``"FINDINGS: Clear lungs."``; ``report[start:end]`` is the heading as written.
    """
    spans = []
    line_start = 0
    for line in report.splitlines(keepends=True):
        content = line.rstrip("\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")
        for match in _SECTION_HEADER_PATTERN.finditer(content):
            before = content[: match.start()].strip()
            has_colon = match.group("colon") is not None
            if not before:
                is_header = has_colon or not content[match.end() :].strip()
            else:
                is_header = has_colon and (match.group("header").isupper() or before.endswith(_SENTENCE_ENDS))
            if is_header:
                spans.append((line_start + match.start("header"), line_start + match.end("header")))
        line_start += len(line)
    return spans


def tokenize_report(report: str) -> list[Token]:
    """Split a report into every written word, in reading order, with offsets and normalised forms.

    Args:
        report: Free-text report (any whitespace, punctuation and Unicode).

    Returns:
        One :class:`Token` per word (see the module docstring for what a word is); punctuation and
        whitespace produce no token. Dropped words are included with ``kept=False``: stop words, too short
        words and the words of section headers (:func:`section_headers`).
    """
    headers = section_headers(report)
    tokens = []
    for match in _WORD_PATTERN.finditer(report):
        in_header = any(start <= match.start() and match.end() <= end for start, end in headers)
        normalized = None if in_header else normalize_word(match.group())
        tokens.append(
            Token(
                text=match.group(),
                start=match.start(),
                end=match.end(),
                normalized=normalized,
                kept=normalized is not None,
            )
        )
    return tokens


def model_tokens(tokens: Iterable[Token]) -> list[Token]:
    """The tokens the model sees: the kept ones, in order."""
    return [token for token in tokens if token.kept]


class Vocabulary:
    """Mapping between normalised words and integer ids.

    Id 0 is padding (:data:`PADDING_WORD`), id 1 is out-of-vocabulary (:data:`OOV_WORD`), then the words by
    descending corpus frequency, ties broken alphabetically, so building is deterministic.
    """

    def __init__(self, words: Sequence[str]) -> None:
        """Create a vocabulary from its real words in id order (ids 2, 3, ...).

        Args:
            words: Normalised words, without the padding and out-of-vocabulary entries.

        Raises:
            ValueError: For a duplicate, empty or reserved word.
        """
        self._words: list[str] = [PADDING_WORD, OOV_WORD]
        self._ids: dict[str, int] = {}
        for word in words:
            if not isinstance(word, str) or not word:
                raise ValueError(f"vocabulary words must be non-empty strings, got {word!r}")
            if word in (PADDING_WORD, OOV_WORD):
                raise ValueError(f"vocabulary word {word!r} is reserved for id {self._words.index(word)}")
            if word in self._ids:
                raise ValueError(f"vocabulary word {word!r} appears twice")
            self._ids[word] = len(self._words)
            self._words.append(word)

    @classmethod
    def build(cls, reports: Iterable[str], max_words: int = 15000, min_count: int = 1) -> Vocabulary:
        """Build a vocabulary from a corpus of reports.

        Args:
            reports: Report texts; each is tokenised with :func:`tokenize_report` and its kept words counted.
            max_words: Most real words to keep (the padding and out-of-vocabulary entries come on top, so
                ``len(vocabulary) <= max_words + 2``).
            min_count: Words seen fewer times than this are left out (they encode as out-of-vocabulary).

        Returns:
            The vocabulary, words ordered by descending count then alphabetically.
        """
        if max_words < 0:
            raise ValueError(f"max_words must be >= 0, got {max_words}")
        if min_count < 1:
            raise ValueError(f"min_count must be >= 1, got {min_count}")
        counts: Counter[str] = Counter()
        report_count = 0
        for report in reports:
            report_count += 1
            counts.update(token.normalized for token in model_tokens(tokenize_report(report)))
        frequent = [(word, count) for word, count in counts.items() if count >= min_count]
        ordered = sorted(frequent, key=lambda item: (-item[1], item[0]))
        words = [word for word, _ in ordered[:max_words]]
        logger.info(
            "vocabulary: %d reports, %d distinct words, kept %d (max_words=%d, min_count=%d)",
            report_count,
            len(counts),
            len(words),
            max_words,
            min_count,
        )
        return cls(words)

    @property
    def words(self) -> list[str]:
        """Every entry in id order, including ``<pad>`` (0) and ``<oov>`` (1)."""
        return list(self._words)

    def __len__(self) -> int:
        return len(self._words)

    def __contains__(self, word: object) -> bool:
        return word in self._ids

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Vocabulary):
            return NotImplemented
        return self._words == other._words

    def __repr__(self) -> str:
        return f"Vocabulary({len(self)} entries)"

    def id_of(self, word: str) -> int:
        """Id of a normalised word, or :data:`OOV_ID` when it is not in the vocabulary."""
        return self._ids.get(word, OOV_ID)

    def word_of(self, word_id: int) -> str:
        """The entry with this id (``<pad>``, ``<oov>`` or a normalised word).

        Raises:
            IndexError: If the id is outside ``0 .. len(self) - 1``.
        """
        if not 0 <= word_id < len(self._words):
            raise IndexError(f"word id {word_id} outside vocabulary of {len(self._words)} entries")
        return self._words[word_id]

    def to_json_dict(self) -> dict:
        """The JSON-serialisable form written by :meth:`save`."""
        return {
            "format": VOCABULARY_FORMAT,
            "version": VOCABULARY_VERSION,
            "padding_id": PADDING_ID,
            "oov_id": OOV_ID,
            "words": list(self._words),
        }

    @classmethod
    def from_json_dict(cls, data: object, source: str = "vocabulary") -> Vocabulary:
        """Validate and load the form produced by :meth:`to_json_dict`.

        Args:
            data: Parsed JSON.
            source: Name used in error messages (usually the file path).

        Raises:
            ValueError: Naming the source and the problem when the data is not a valid vocabulary.
        """
        if not isinstance(data, dict):
            raise ValueError(f"{source}: expected a JSON object, got {type(data).__name__}")
        if data.get("format") != VOCABULARY_FORMAT:
            raise ValueError(f"{source}: 'format' must be {VOCABULARY_FORMAT!r}, got {data.get('format')!r}")
        if data.get("version") != VOCABULARY_VERSION:
            raise ValueError(
                f"{source}: unsupported vocabulary version {data.get('version')!r} (expected {VOCABULARY_VERSION})"
            )
        if data.get("padding_id") != PADDING_ID or data.get("oov_id") != OOV_ID:
            raise ValueError(
                f"{source}: expected padding_id={PADDING_ID} and oov_id={OOV_ID}, "
                f"got padding_id={data.get('padding_id')!r}, oov_id={data.get('oov_id')!r}"
            )
        words = data.get("words")
        if not isinstance(words, list):
            raise ValueError(f"{source}: 'words' must be a list, got {type(words).__name__}")
        if words[:2] != [PADDING_WORD, OOV_WORD]:
            raise ValueError(f"{source}: 'words' must start with {PADDING_WORD!r}, {OOV_WORD!r}, got {words[:2]!r}")
        try:
            return cls(words[2:])
        except ValueError as error:
            raise ValueError(f"{source}: {error}") from error

    def save(self, path: str | Path) -> None:
        """Write the vocabulary as JSON (see the module's format constants)."""
        path = Path(path)
        path.write_text(json.dumps(self.to_json_dict(), ensure_ascii=False, indent=0) + "\n", encoding="utf-8")
        logger.info("wrote vocabulary of %d entries to %s", len(self), path)

    @classmethod
    def load(cls, path: str | Path) -> Vocabulary:
        """Read a vocabulary written by :meth:`save`.

        Raises:
            FileNotFoundError: If the file does not exist.
            ValueError: Naming the file and the problem when it is not valid JSON or not a valid vocabulary.
        """
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as error:
            raise ValueError(f"{path}: not valid JSON ({error})") from error
        except UnicodeDecodeError as error:
            raise ValueError(f"{path}: not UTF-8 text ({error})") from error
        return cls.from_json_dict(data, source=str(path))


@dataclass(frozen=True)
class EncodedReport:
    """A report as the model sees it, with the way back to the written words.

    Attributes:
        token_ids: Shape ``(max_tokens,)`` int32: the ids of the kept words, cut or padded with 0 at the end.
        tokens: Every word of the report (kept or not), as from :func:`tokenize_report`.
        positions: For each used model slot ``0 .. len(positions) - 1``, the index into ``tokens`` of the word
            in that slot. Slots from ``len(positions)`` on are padding.
        truncated: ``True`` when the report had more kept words than slots (the extra words are not seen).
    """

    token_ids: np.ndarray
    tokens: list[Token]
    positions: list[int]
    truncated: bool

    @property
    def used_slots(self) -> int:
        """Number of model slots holding a word (the rest are padding)."""
        return len(self.positions)

    def slot_values_to_tokens(self, slot_values: Sequence[float] | np.ndarray) -> np.ndarray:
        """Map one value per model slot (e.g. attributions) back onto the written words.

        Args:
            slot_values: Length ``len(token_ids)``; values in padding slots are ignored.

        Returns:
            float64 array of length ``len(tokens)``: each word's slot value, 0 for words the model did not see.
        """
        values = np.asarray(slot_values, dtype=np.float64)
        if values.shape != self.token_ids.shape:
            raise ValueError(f"expected {self.token_ids.shape[0]} slot values, got shape {values.shape}")
        per_token = np.zeros(len(self.tokens), dtype=np.float64)
        per_token[self.positions] = values[: len(self.positions)]
        return per_token


def encode_report(report: str, vocabulary: Vocabulary, max_tokens: int = MAX_TOKENS) -> EncodedReport:
    """Encode a report into the model's fixed-length id sequence.

    Args:
        report: Free-text report.
        vocabulary: Maps normalised words to ids; unknown words become :data:`OOV_ID` but keep their slot.
        max_tokens: Length of the id sequence.

    Returns:
        The :class:`EncodedReport`.
    """
    if max_tokens < 1:
        raise ValueError(f"max_tokens must be >= 1, got {max_tokens}")
    tokens = tokenize_report(report)
    kept_indices = [index for index, token in enumerate(tokens) if token.kept]
    positions = kept_indices[:max_tokens]
    token_ids = np.full(max_tokens, PADDING_ID, dtype=np.int32)
    for slot, index in enumerate(positions):
        token_ids[slot] = vocabulary.id_of(tokens[index].normalized)
    return EncodedReport(
        token_ids=token_ids, tokens=tokens, positions=positions, truncated=len(kept_indices) > max_tokens
    )


def encode_reports(reports: Iterable[str], vocabulary: Vocabulary, max_tokens: int = MAX_TOKENS) -> np.ndarray:
    """Encode many reports into a ``(n_reports, max_tokens)`` int32 array (for training and batch scoring)."""
    rows = [encode_report(report, vocabulary, max_tokens).token_ids for report in reports]
    if not rows:
        return np.zeros((0, max_tokens), dtype=np.int32)
    return np.stack(rows)
