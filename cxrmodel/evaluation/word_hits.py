"""Do an explanation's top words name the report's MeSH major terms? The hit rule of ``evaluate-words``.

Issue #20 asks, for a correctly classified abnormal IU X-ray report, whether one of the *k* words with the largest
attribution is a word of the report's MeSH major terms (``Opacity/lung/base/left/mild``, ``Calcinosis/lung/hilum``,
``Pulmonary Atelectasis/base/left``). The rule, decided before the evaluation was run:

* **Word keys.** A report word is compared by its model form (:attr:`cxrmodel.text.Token.normalized`: lower case,
  digits and hyphens removed), Porter-stemmed (gensim's :class:`gensim.parsing.porter.PorterStemmer`; gensim is
  already pinned for word2vec, so no dependency is added): ``effusions`` and ``effusion`` are one key, ``scarring``
  and ``scar`` another. A MeSH term is split at ``/`` into components (descriptor, then IU's qualifiers); each
  component's words (letters only, stop words of :func:`cxrmodel.text.stop_words` dropped: ``Technical Quality of
  Image Unsatisfactory`` has no ``of``) and its synonyms (:mod:`cxrmodel.evaluation.mesh_synonyms`: ``calcinosis``
  ~ ``calcification``, ``calcified``) are stemmed the same way.
* **Top-k words are distinct keys.** The words the model saw (:attr:`cxrmodel.explain.results.WordAttribution.seen`)
  are grouped by key, each key scored by its best instance (largest signed score); the *k* keys with the largest
  scores are the top-k (ties: the earlier word first). "Right" written three times is one candidate, so the top 3
  are three different words.
* **Hit, with modifiers**: a top-k key is a key of any component of any of the report's major terms.
* **Hit, strict**: the same, except that keys of :data:`MODIFIER_WORDS` never count — laterality, position in the
  chest, size, severity, number, distribution, time, and the organ most findings sit in (``lung``, ``pulmonary``),
  words that say where or how much, not what. Organs that are themselves the coded finding's subject in IU's terms
  (``Aorta/tortuous``, ``Thoracic Vertebrae/degenerative``, ``Diaphragm/elevated``) do count.

Everything here is plain Python (gensim's stemmer is imported on first use); the scoring of words by a fitted
TF-IDF + logistic regression pipeline (:func:`linear_word_scores`) only calls the pipeline's own methods.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from cxrmodel.evaluation.mesh_synonyms import synonyms_of
from cxrmodel.text import MIN_WORD_LENGTH, stop_words

MODIFIER_WORDS: tuple[str, ...] = (
    # laterality
    "right", "left", "bilateral", "bilaterally", "unilateral",
    # position in the chest or in the lung
    "upper", "lower", "middle", "mid", "base", "bases", "basal", "basilar", "apex", "apices", "apical", "anterior",
    "posterior", "lateral", "medial", "central", "peripheral", "superior", "inferior", "lobe", "lobes", "lobar",
    "lingula", "lingular", "hilum", "hilar", "perihilar", "retrocardiac", "paratracheal",
    # the organ most findings sit in: says where, not what
    "lung", "lungs", "pulmonary",
    # size and severity
    "mild", "mildly", "minimal", "minimally", "slight", "slightly", "moderate", "moderately", "severe",
    "small", "large", "tiny", "borderline", "prominent",
    # number and distribution
    "multiple", "single", "focal", "multifocal", "diffuse", "diffusely", "scattered", "patchy", "streaky",
    "multilobar",
    # time
    "chronic", "acute", "old",
)
"""Location and severity modifiers: words that do not count as a hit in the strict rule (compared stemmed).

"marked" is not in the list although it is a severity word: its stem ``mark`` is also the stem of "markings"
(IU's ``Markings/lung/bilateral/interstitial``), which must stay a strict hit."""

_LETTERS = re.compile(r"[a-z]+")


@functools.cache
def _stemmer():
    from gensim.parsing.porter import PorterStemmer  # noqa: PLC0415 - gensim (1 s to import) only when words are compared

    return PorterStemmer()


@functools.lru_cache(maxsize=65536)
def word_key(word: str) -> str:
    """The comparison key of a normalised word: lower case, Porter stem (``"Calcifications"`` -> ``"calcif"``)."""
    return _stemmer().stem(word.lower())


@functools.cache
def modifier_keys() -> frozenset[str]:
    """The keys of :data:`MODIFIER_WORDS`."""
    return frozenset(word_key(word) for word in MODIFIER_WORDS)


def is_modifier(key: str) -> bool:
    """Whether a word key is a location or severity modifier (:data:`MODIFIER_WORDS`)."""
    return key in modifier_keys()


def component_words(component: str) -> list[str]:
    """The words of one MeSH term component and its synonyms, lower case, stop words and 1-letter words dropped."""
    words = _LETTERS.findall(component.lower()) + list(synonyms_of(component))
    stops = stop_words()
    return [word for word in dict.fromkeys(words) if len(word) >= MIN_WORD_LENGTH and word not in stops]


@dataclass(frozen=True)
class MeshWords:
    """The word keys a report's MeSH major terms accept.

    Attributes:
        terms: The major terms (``Study.mesh_major``).
        keys: Keys of every word of every component and of their synonyms (the with-modifiers rule).
        strict_keys: ``keys`` without the modifier keys (the strict rule).
    """

    terms: tuple[str, ...]
    keys: frozenset[str]
    strict_keys: frozenset[str]

    def hit(self, word_keys: Iterable[str], strict: bool) -> bool:
        """Whether one of ``word_keys`` is accepted (strict: modifiers never are)."""
        accepted = self.strict_keys if strict else self.keys
        return any(key in accepted for key in word_keys)


def mesh_words(mesh_major: Sequence[str]) -> MeshWords:
    """The :class:`MeshWords` of a report's major terms (see the module docstring)."""
    keys = frozenset(word_key(word) for term in mesh_major for component in term.split("/")
                     for word in component_words(component))
    return MeshWords(tuple(mesh_major), keys, frozenset(key for key in keys if not is_modifier(key)))


@dataclass(frozen=True)
class RankedWord:
    """One distinct word of a ranking: its best-scoring instance as written, its key and that score."""

    text: str
    key: str
    score: float


def rank_words(words: Iterable[tuple[str, str, float]]) -> list[RankedWord]:
    """Distinct word keys by decreasing score (the best instance of each key; ties: the earlier word first).

    Args:
        words: ``(text as written, normalised form, score)`` of each seen word, in report order.
    """
    best: dict[str, tuple[float, int, str]] = {}
    for order, (text, normalized, score) in enumerate(words):
        key = word_key(normalized)
        if key not in best or score > best[key][0]:
            best[key] = (float(score), best[key][1] if key in best else order, text)
    ranked = sorted(best.items(), key=lambda item: (-item[1][0], item[1][1]))
    return [RankedWord(text, key, score) for key, (score, _, text) in ranked]


def top_keys(ranking: Sequence[RankedWord], k: int) -> list[str]:
    """The keys of the first ``k`` words of a ranking."""
    return [word.key for word in ranking[:k]]


def random_hit_rates(keys: Sequence[str], mesh: MeshWords, k: int, rng: np.random.Generator,
                     draws: int) -> tuple[float, float]:
    """Mean (strict, with modifiers) hit rates of ``k`` distinct keys drawn at random, over ``draws`` draws.

    Args:
        keys: The report's distinct seen word keys (the candidates of :func:`rank_words`).
        mesh: The report's MeSH words.
        k: Words per draw (all of them when the report has fewer).
        rng: The random generator (seeded by the caller).
        draws: Number of draws.
    """
    if not keys:
        return 0.0, 0.0
    size = min(k, len(keys))
    strict = loose = 0
    for _ in range(draws):
        chosen = [keys[index] for index in rng.choice(len(keys), size=size, replace=False)]
        strict += mesh.hit(chosen, strict=True)
        loose += mesh.hit(chosen, strict=False)
    return strict / draws, loose / draws


def linear_word_scores(pipeline, report: str, words: Sequence[str]) -> list[float]:
    """Each written word's weight in a fitted TF-IDF + logistic regression pipeline's decision on ``report``.

    The score of a word is Σ coefficient × tf-idf value over the pipeline's features that the word alone produces
    (its unigram; a hyphenated word gives its parts), in the report's tf-idf row: the word's share of the linear
    logit. Bigram features (two words) are not given to either word.

    Args:
        pipeline: A fitted scikit-learn pipeline whose first step is a ``TfidfVectorizer`` and whose last is a
            linear classifier with ``coef_`` (:func:`cxrmodel.training.evaluate_text.fit_tfidf_baseline`).
        report: The report text the pipeline reads.
        words: The words to score, as written.
    """
    vectorizer, classifier = pipeline[0], pipeline[-1]
    row = vectorizer.transform([report]).tocsr()
    values = dict(zip(row.indices.tolist(), row.data.tolist(), strict=True))
    coefficients = np.asarray(classifier.coef_).ravel()
    analyse = vectorizer.build_analyzer()
    vocabulary = vectorizer.vocabulary_
    scores = []
    for word in words:
        features = {vocabulary[feature] for feature in analyse(word) if " " not in feature and feature in vocabulary}
        scores.append(float(sum(coefficients[index] * values.get(index, 0.0) for index in features)))
    return scores
