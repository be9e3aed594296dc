"""What an explanation is: the completeness check, the study's attribution arrays, and its words.

Plain data (numpy only), shared by the integrated-gradients engine that produces them, the cache that stores
them and the dashboard that shows them; the sign conventions and the completeness error are defined in
:mod:`cxrmodel.explain.integrated_gradients`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cxrmodel.text import EncodedReport

DIFFERENCE_FLOOR = 1e-3
"""Smallest |F(x) − F(x′)| (probability units) used as the denominator of the completeness error."""


@dataclass(frozen=True)
class Completeness:
    """How well the attributions add up to the change in the model's output.

    Attributes:
        expected: F(x) − F(x′), the change in P(abnormal) from the baseline pair to the study.
        sum: Σ of all attributions (image pixels and channels + report slots and embedding dimensions).
        relative_error: ``|sum − expected| / max(|expected|, DIFFERENCE_FLOOR)`` (see the module docstring).
        steps: Nodes of the integration rule that produced the attributions (gradient evaluations).
        method: Integration rule name (:data:`cxrmodel.explain.quadrature.METHODS`).
        converged: ``relative_error <= target_error``.
        absolute_error: ``|sum − expected|`` in probability units.
        target_error: The error target that ``converged`` refers to.
        evaluated_points: Path points evaluated in total, over all levels of ``steps="auto"``, including the
            two end points (which get a forward pass only when the last batch has no room for them); padding
            rows not counted.
        batches: Calls of the compiled gradient function (each costs ``batch_size`` gradient evaluations).
    """

    expected: float
    sum: float
    relative_error: float
    steps: int
    method: str
    converged: bool
    absolute_error: float = float("nan")
    target_error: float = 0.01
    evaluated_points: int = 0
    batches: int = 0


@dataclass(frozen=True)
class StudyAttribution:
    """Integrated-gradients explanation of one study.

    Attributes:
        probability: F(x), P(abnormal) of the study.
        baseline_probability: F(x′), P(abnormal) of the baseline pair.
        image_attribution: (S, S) float32 on the model grid: signed IG attribution summed over the 3 channels;
            None when the model does not read the image (a text-only model).
        token_attribution: (max_tokens,) float32, one per model slot: signed IG attribution summed over the
            embedding dimension; exactly 0 in padding slots; None when the model does not read the report (an
            image-only model).
        token_share: (max_tokens,) float32: squared elementwise attributions summed per slot, normalised to
            sum 1 over the used slots (0 in padding slots; all 0 when the text has no attribution at all); None
            with ``token_attribution``.
        completeness: The completeness check and the integration settings that produced these arrays.
        modality_share: ``{"image": Σ image / (F(x) − F(x′)), "text": Σ text / (F(x) − F(x′))}``; NaN when
            ``|F(x) − F(x′)| < DIFFERENCE_FLOOR``.
        raw_image_attribution: When ``image_attribution`` has been smoothed for display and circles
            (:mod:`cxrmodel.detection.smoothing`, same total), the unsmoothed (S, S) map; None otherwise.
        evidence: The deletion evidence computed with the attribution (:mod:`cxrmodel.explain.evidence`,
            its ``Evidence.to_dict()`` form), or None when it was not computed.
    """

    probability: float
    baseline_probability: float
    image_attribution: np.ndarray | None
    token_attribution: np.ndarray | None
    token_share: np.ndarray | None
    completeness: Completeness
    modality_share: dict[str, float]
    raw_image_attribution: np.ndarray | None = None
    evidence: dict | None = None

    @property
    def modality(self) -> str:
        """Which model produced it: ``"multimodal"``, ``"image"`` (no word attributions) or ``"text"`` (no map)."""
        if self.image_attribution is None:
            return "text"
        return "image" if self.token_attribution is None else "multimodal"


@dataclass(frozen=True)
class WordAttribution:
    """One written word of the report with its attribution.

    Attributes:
        text: The word exactly as written (``report[start:end] == text``).
        start: Character offset of its first character in the report.
        end: Offset one past its last character.
        score: Signed IG attribution of its model slot; 0 when the model did not see the word.
        share: Its :attr:`StudyAttribution.token_share`; 0 when the model did not see the word.
        seen: False for words the tokenizer dropped (stop words, too short) or beyond the slot cut.
    """

    text: str
    start: int
    end: int
    score: float
    share: float
    seen: bool


def word_attributions(encoded_report: EncodedReport, attribution: StudyAttribution) -> list[WordAttribution]:
    """Every word of the report as written, in order, with its slot's attribution.

    Args:
        encoded_report: The report the attribution was computed for (its ``token_ids`` were explained).
        attribution: The explanation.

    Returns:
        One :class:`WordAttribution` per word of ``encoded_report.tokens`` (kept or not). For an image-only model
        (no token attribution) every word is unseen with score and share 0: the model never read the report.
    """
    if attribution.token_attribution is None:
        return [WordAttribution(text=token.text, start=token.start, end=token.end, score=0.0, share=0.0, seen=False)
                for token in encoded_report.tokens]
    scores = encoded_report.slot_values_to_tokens(attribution.token_attribution)
    shares = encoded_report.slot_values_to_tokens(attribution.token_share)
    seen = set(encoded_report.positions)
    return [
        WordAttribution(
            text=token.text,
            start=token.start,
            end=token.end,
            score=float(scores[index]),
            share=float(shares[index]),
            seen=index in seen,
        )
        for index, token in enumerate(encoded_report.tokens)
    ]
