"""Integrated gradients: which pixels and which report words made the model say "abnormal".

The multimodal is the main case; the text-only and image-only models of :func:`cxrmodel.modeling.builders.build_model`
are explained by the same engine, with the path running through the one input they read (the missing half has no
attribution: ``image_attribution`` or ``token_attribution`` / ``token_share`` is None and its modality share NaN).

Method (Sundararajan et al., 2017) on ONE joint straight-line path from a baseline pair ``(x′_image, x′_text)``
to the study ``(x_image, x_text)``::

    x(α) = x′ + α (x − x′),   α ∈ [0, 1]   (image and embedded report move together)
    attribution_i = (x_i − x′_i) · ∫_0^1 ∂F/∂x_i (x(α)) dα

``F`` is the model's output P(abnormal) (the sigmoid, not the logit). Gradients are taken with respect to the
image pixels and with respect to the *output of the embedding layer* (token ids are not differentiable), on
:func:`cxrmodel.modeling.builders.embedding_space_model`.

Baselines:

* image — ``"black"`` (all zeros, the default), ``"blur"`` (the input blurred with a Gaussian of
  sigma = :data:`cxrmodel.explain.baselines.BLUR_SIGMA_FRACTION` × image side, per channel) or ``"mean"`` (a
  dataset-mean image given to the explainer) or any (S, S, 3) / (S, S) array.
* text — the embedding of the padding token (id 0) in every slot. Slots that hold padding in the study are
  therefore identical to the baseline and get an attribution of exactly 0.

Integration: the path integral is a weighted sum of gradients at nodes α_k (:mod:`cxrmodel.explain.quadrature`).
Nodes are evaluated in batches of a FIXED size inside one ``tf.function`` with an ``input_signature`` (the last
batch is padded), so the graph is traced once per explainer and never again between studies.

Completeness: IG guarantees ``Σ attributions = F(x) − F(x′)`` for the exact integral; the quadrature error
shows up as a mismatch. :class:`Completeness` reports

* ``absolute_error = |Σ attributions − (F(x) − F(x′))|`` and
* ``relative_error = absolute_error / max(|F(x) − F(x′)|, DIFFERENCE_FLOOR)``.

When the study and the baseline get nearly the same score (``|F(x) − F(x′)| < DIFFERENCE_FLOOR`` = 0.001 in
probability units) a relative error is meaningless; the floor turns it into the absolute error measured in
units of 0.001, so the default 1 % target then means ``absolute_error <= 1e-5``.

``steps="auto"`` with the trapezoid rule (the default) is *adaptive interval refinement*: the first batch
evaluates ``batch_size`` equally spaced nodes including both ends (16 nodes, 15 intervals by default). The
trapezoid rule needs P(abnormal) only at the nodes it already evaluated, so every interval [a, b] has its own
completeness check: the directional derivative ``g(α) = ∇F(x(α)) · (x − x′)`` integrated over the interval,
``(b − a)(g(a) + g(b)) / 2``, against the exact ``F(x(b)) − F(x(a))``. The interval errors add up (the F
differences telescope) to the study's completeness error. Each further batch puts its ``batch_size`` new
nodes into the intervals with the largest errors (one midpoint each, or several equally spaced cuts in an
interval whose error dominates), until ``relative_error <= target_error`` or ``max_steps`` nodes. On a ReLU network the
integrand is piecewise smooth with jumps where units switch, so the error sits in a few intervals; refining only those
is what makes this cheaper than doubling every interval (measured on the 32 demo studies and on the paper's
DenseNet-121, benchmarks/integrated_gradients_benchmark.py).

With the other rules ``steps="auto"`` raises the step count level by level (8, 16, 32, 64, capped at
``max_steps``) until ``relative_error <= target_error``. Nodes are reused where a rule nests (left, right:
every node of a level is a node of the next). For rules that do not nest (Gauss–Legendre, midpoint) nothing
can be reused, so instead each level's step count is raised to fill the fixed-size batches it pays for anyway:
the first level shares its batch with the two end points F(x′) and F(x), so with ``batch_size=16``
Gauss–Legendre tries 14 nodes, then 32, 64, 128.

Caveat (measured, see benchmarks/integrated_gradients_benchmark.py): the model is a ReLU / max-pooling network,
so along the path its gradient is only piecewise smooth — it jumps wherever a unit of the small dense layers
switches on or off or a max-pool's argmax moves. Between jumps Gauss–Legendre converges fast; across them every
rule converges only about like 1/steps, and the completeness error then fluctuates with the step count. A
completeness error under the target at few steps can be a lucky cancellation: on a random-weight DenseNet at
64² Gauss–Legendre passed with 14 nodes (0.27 %) while its pixel map was 11 % (relative L2) away from a
512-step reference, against 2 % for 64 midpoint steps. Completeness is necessary, not sufficient. Adaptive
refinement measures every interval's error and refines the largest, but it stops on the study's total error
(the completeness the product reports), so errors of opposite sign in different intervals can still cancel.

Sign conventions: attributions are signed. Positive = moving this pixel / word from the baseline to the study
moved P(abnormal) up. ``modality_share`` divides each modality's summed attribution by ``F(x) − F(x′)``; the
shares add up to 1 (within the completeness error) and a share is positive when that modality pushed the
output the same way as the total change (it can be negative, or above 1, when the modalities pull against
each other). When ``|F(x) − F(x′)| < DIFFERENCE_FLOOR`` the shares are undefined and reported as NaN.

Token share (the paper's per-word score): for each model slot, the SQUARED elementwise IG attributions of its
embedding vector, ``Σ_d ((e_d − e′_d) · avg_grad_d)²`` — i.e. squared "gradient times (input − baseline)" —
summed over the embedding dimension, then divided by the same quantity summed over all used (non-padding)
slots. Shares are unsigned, sum to 1 over the used slots, and padding slots get 0.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from cxrmodel.explain.baselines import make_image_baseline
from cxrmodel.explain.quadrature import (
    FIRST_AUTO_STEPS,
    METHODS,
    NESTED_METHODS,
    integration_rule,
    minimum_steps,
    next_auto_steps,
)
from cxrmodel.explain.results import DIFFERENCE_FLOOR, Completeness, StudyAttribution
from cxrmodel.explain.settings import ADAPTIVE_METHOD, DEFAULT_INTEGRATION, IntegrationSettings
from cxrmodel.text import PADDING_ID

if TYPE_CHECKING:  # pragma: no cover - typing only; TensorFlow is imported when an explainer is built
    import keras

logger = logging.getLogger(__name__)

_END_POINTS = (0.0, 1.0)

_PLACEHOLDER_IMAGE_SHAPE = (1, 1, 1)
_PLACEHOLDER_TEXT_SHAPE = (1, 1)

SMALLEST_INTERVAL = 2.0**-16
"""Adaptive refinement never splits an interval narrower than this (in α)."""


def probability_from_log_odds(log_odds: np.ndarray) -> np.ndarray:
    """P(abnormal) from log-odds, (n,) float64: the sigmoid, rounded through float32 as the model's output is."""
    values = np.asarray(log_odds, np.float64)
    with np.errstate(over="ignore"):  # exp of a large negative log-odds is inf: P is then exactly 0
        return (1.0 / (1.0 + np.exp(-values))).astype(np.float32).astype(np.float64)


def _used_slots(token_ids: np.ndarray) -> np.ndarray:
    return np.asarray(token_ids) != PADDING_ID


def _token_share(text_attribution: np.ndarray, token_ids: np.ndarray) -> np.ndarray:
    """Squared elementwise attributions (T, D) summed per slot, normalised over the used slots -> (T,)."""
    squared = np.sum(np.square(text_attribution, dtype=np.float64), axis=-1)
    squared[~_used_slots(token_ids)] = 0.0
    total = squared.sum()
    return (squared / total if total > 0 else squared).astype(np.float32)


def _refinement_nodes(starts: np.ndarray, ends: np.ndarray, interval_errors: np.ndarray, budget: int) -> list[float]:
    """Where the next batch of adaptive refinement evaluates: ``budget`` new nodes inside the worst intervals.

    Nodes are handed out one at a time to the interval whose error is expected to stay largest, assuming an
    interval cut into ``c + 1`` equal parts keeps ``|error| / (c + 1)²`` (the trapezoid rule's order on a
    smooth piece). An interval whose error dominates therefore gets several nodes in one batch (on a jump of
    the gradient the error only falls like 1 / (c + 1), and bisecting one interval per batch would need a
    batch per halving), while comparable errors get one midpoint each. No part gets narrower than
    :data:`SMALLEST_INTERVAL`.

    Args:
        starts, ends: (n,) interval bounds in α, ascending.
        interval_errors: (n,) each interval's completeness error (trapezoid estimate − change of F).
        budget: Most nodes to add (the batch size, or what the step cap leaves).

    Returns:
        The new nodes, ascending; empty when ``budget`` is 0 or no interval can be cut.
    """
    # A heap would make this O(budget log n); with budget = the batch size (16) a vectorised argmax is simpler.
    widths = ends - starts
    magnitudes = np.abs(interval_errors).astype(np.float64)
    cuts = np.zeros(len(starts), dtype=int)
    for _ in range(budget):
        expected = magnitudes / (cuts + 1.0) ** 2
        expected[widths / (cuts + 2.0) < SMALLEST_INTERVAL] = -1.0  # cannot be cut further
        index = int(np.argmax(expected))
        if expected[index] < 0:
            break
        cuts[index] += 1
    return [
        float(starts[index] + widths[index] * part / (cuts[index] + 1))
        for index in np.flatnonzero(cuts)
        for part in range(1, cuts[index] + 1)
    ]


class _PathEvaluations:
    """What is known about the points of one path: P(abnormal) per α and, where kept, the gradients."""

    def __init__(self) -> None:
        self.probabilities: dict[float, float] = {}
        self.gradients: dict[float, tuple[np.ndarray, np.ndarray]] = {}
        self.evaluated_points = 0
        self.batches = 0


ProgressCallback = Callable[[float, str], None]
"""``progress(fraction_done, message)``: fraction in [0, 1], message for a progress bar's label."""


class IntegratedGradientsExplainer:
    """Integrated gradients for one model (multimodal, text-only or image-only), compiled once, reused per study.

    Example::

        explainer = IntegratedGradientsExplainer(bundle.model)
        study = bundle.prepare(pixels, report)
        attribution = explainer.explain(study.model_image, study.report.token_ids)
        words = word_attributions(study.report, attribution)
    """

    def __init__(self, model: "keras.Model", batch_size: int = DEFAULT_INTEGRATION.batch_size, *,
                 mean_image: np.ndarray | None = None) -> None:
        """Build the embedding-space model and the compiled gradient functions.

        Args:
            model: A model built by :func:`cxrmodel.modeling.builders.build_model`: the multimodal (inputs
                ``image``, ``report_tokens``), the text-only (``report_tokens``) or the image-only (``image``).
            batch_size: Path points per call of the compiled gradient function (fixed; the last call of a
                study is padded). Memory grows linearly with it (a DenseNet-121 at 224² needs a few GB at 16).
            mean_image: Optional dataset-mean image, (S, S, 3) or (S, S) in [0, 1], for ``image_baseline="mean"``.
        """
        import tensorflow as tf  # noqa: PLC0415 - TensorFlow only when an explainer is really built

        from cxrmodel.modeling.builders import (  # noqa: PLC0415
            embedding_space_model,
            log_odds_model,
            model_modality,
        )

        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.model = model
        self.modality = model_modality(model)
        self.reads_image = self.modality in ("multimodal", "image")
        self.reads_report = self.modality in ("multimodal", "text")
        self.batch_size = int(batch_size)
        self.mean_image = None if mean_image is None else np.asarray(mean_image, np.float32)
        self._embedding_model = embedding_space_model(model)
        self._log_odds_model = log_odds_model(model)
        self._embedding_layer = model.get_layer("word_embedding") if self.reads_report else None
        # A half the model does not read rides along the path as a one-element placeholder that the compiled
        # functions never feed to the model (so one code path serves all three models).
        self.image_shape = (tuple(int(size) for size in model.get_layer("image_encoder").input.shape[1:])
                            if self.reads_image else None)
        self.text_shape = (tuple(int(size) for size in model.get_layer("text_encoder").input.shape[1:])
                           if self.reads_report else None)
        self.max_tokens = (int(model.get_layer("report_tokens").output.shape[-1]) if self.reads_report else None)
        self._path_image_shape = self.image_shape or _PLACEHOLDER_IMAGE_SHAPE
        self._path_text_shape = self.text_shape or _PLACEHOLDER_TEXT_SHAPE
        self.trace_counts = {"path_gradients": 0, "end_point_probabilities": 0}

        image_spec = tf.TensorSpec(self._path_image_shape, tf.float32)
        text_spec = tf.TensorSpec(self._path_text_shape, tf.float32)
        embedding_model = self._embedding_model
        reads_image, reads_report = self.reads_image, self.reads_report

        def embedded_probabilities(images, embeddings):
            inputs = {}
            if reads_image:
                inputs["image"] = images
            if reads_report:
                inputs["embedded_report"] = embeddings
            return tf.reshape(embedding_model(inputs, training=False), (-1,))

        @tf.function(input_signature=[tf.TensorSpec((self.batch_size,), tf.float32), image_spec, image_spec,
                                      text_spec, text_spec], autograph=False)
        def path_gradients(alphas, image, image_baseline, embedded, embedded_baseline):
            """P(abnormal) and its gradients at ``batch_size`` points x′ + α (x − x′) of the joint path."""
            self.trace_counts["path_gradients"] += 1  # Python side effect: runs once per trace.
            images = image_baseline[None] + tf.reshape(alphas, (-1, 1, 1, 1)) * (image - image_baseline)[None]
            embeddings = embedded_baseline[None] + tf.reshape(alphas, (-1, 1, 1)) * (embedded - embedded_baseline)[None]
            with tf.GradientTape() as tape:
                tape.watch(images)
                tape.watch(embeddings)
                probabilities = embedded_probabilities(images, embeddings)
            # Rows are independent in inference mode, so the gradient of the sum is each row's own gradient.
            # A placeholder half is not connected to the output: its gradient is zero.
            image_gradients, embedding_gradients = tape.gradient(
                probabilities, [images, embeddings], unconnected_gradients=tf.UnconnectedGradients.ZERO)
            return probabilities, image_gradients, embedding_gradients

        @tf.function(input_signature=[image_spec, image_spec, text_spec, text_spec], autograph=False)
        def end_point_probabilities(image, image_baseline, embedded, embedded_baseline):
            """(F(x′), F(x)) with a forward pass only."""
            self.trace_counts["end_point_probabilities"] += 1
            images = tf.stack([image_baseline, image])
            embeddings = tf.stack([embedded_baseline, embedded])
            return embedded_probabilities(images, embeddings)

        forward_specs = []
        if reads_image:
            forward_specs.append(tf.TensorSpec((None, *self.image_shape), tf.float32))
        if reads_report:
            forward_specs.append(tf.TensorSpec((None, self.max_tokens), tf.int32))

        log_odds_network = self._log_odds_model

        @tf.function(input_signature=forward_specs, autograph=False)
        def forward(*batch):
            """Log-odds of abnormal (the pre-sigmoid output) of a batch of model inputs (any batch size: one trace)."""
            self.trace_counts["forward"] = self.trace_counts.get("forward", 0) + 1
            names = [name for name, read in (("image", reads_image), ("report_tokens", reads_report)) if read]
            return tf.reshape(log_odds_network(dict(zip(names, batch, strict=True)), training=False), (-1,))

        self._path_gradients = path_gradients
        self._end_point_probabilities = end_point_probabilities
        self._forward = forward

    def predict_log_odds(self, model_images: np.ndarray | None, token_ids: np.ndarray | None,
                         chunk: int = 32) -> np.ndarray:
        """Log-odds of abnormal of a batch, (n,) float64 (natural log), through one compiled forward function.

        Read from the model's pre-sigmoid output (:func:`cxrmodel.modeling.builders.log_odds_model`), never from
        P: in float32, P rounds to exactly 1.0 beyond about 16.6 log-odds, where log(P / (1 − P)) is infinite.

        Args:
            model_images: (n, S, S, 3) float32 in [0, 1]; ignored (may be None) for a text-only model.
            token_ids: (n, max_tokens) int; ignored (may be None) for an image-only model.
            chunk: Inputs per call.
        """
        batch = []
        if self.reads_image:
            batch.append(np.asarray(model_images, np.float32))
        if self.reads_report:
            batch.append(np.asarray(token_ids, np.int32))
        count = len(batch[0])
        parts = [self._forward(*(array[start : start + chunk] for array in batch)).numpy()
                 for start in range(0, count, chunk)]
        return np.concatenate(parts).astype(np.float64) if parts else np.zeros(0)

    def predict(self, model_images: np.ndarray | None, token_ids: np.ndarray | None, chunk: int = 32) -> np.ndarray:
        """P(abnormal) of a batch, (n,) float64: the sigmoid of :meth:`predict_log_odds`.

        The same model as :meth:`cxrmodel.modeling.Bundle.predict` (Keras ``predict``), about half its cost per
        image on CPU for the few hundred inputs of the deletion evidence (BENCHMARKS.md).

        Args:
            model_images: (n, S, S, 3) float32 in [0, 1]; ignored (may be None) for a text-only model.
            token_ids: (n, max_tokens) int; ignored (may be None) for an image-only model.
            chunk: Inputs per call.
        """
        return probability_from_log_odds(self.predict_log_odds(model_images, token_ids, chunk))

    @property
    def trace_count(self) -> int:
        """How often the compiled gradient function was traced (1 after the first study, and it stays 1)."""
        return self.trace_counts["path_gradients"]

    def settings(
        self,
        *,
        steps: int | str = DEFAULT_INTEGRATION.steps,
        method: str = DEFAULT_INTEGRATION.method,
        image_baseline: str | np.ndarray = DEFAULT_INTEGRATION.image_baseline,
        target_error: float = DEFAULT_INTEGRATION.target_error,
        max_steps: int = DEFAULT_INTEGRATION.max_steps,
    ) -> dict:
        """Everything besides the study and the model that determines :meth:`explain`'s result (a cache key part).

        See :meth:`IntegrationSettings.cache_key_part`; this explainer contributes its mean image and batch size.
        """
        integration = IntegrationSettings(steps=steps, method=method, target_error=target_error,
                                          max_steps=max_steps, batch_size=self.batch_size)
        return integration.cache_key_part(image_baseline, self.mean_image)

    def explain(
        self,
        model_image: np.ndarray | None,
        token_ids: Sequence[int] | np.ndarray | None,
        *,
        steps: int | str = DEFAULT_INTEGRATION.steps,
        method: str = DEFAULT_INTEGRATION.method,
        image_baseline: str | np.ndarray = DEFAULT_INTEGRATION.image_baseline,
        target_error: float = DEFAULT_INTEGRATION.target_error,
        max_steps: int = DEFAULT_INTEGRATION.max_steps,
        progress: ProgressCallback | None = None,
    ) -> StudyAttribution:
        """Attribute P(abnormal) of one study to its pixels and report slots.

        Args:
            model_image: (S, S, 3) float32 in [0, 1], the study on the model grid; ignored (may be None) when the
                model does not read the image.
            token_ids: (max_tokens,) int token ids (padding 0 at the end); ignored (may be None) when the model
                does not read the report.
            steps: Number of nodes of the integration rule, or ``"auto"`` (see the module docstring).
            method: One of :data:`cxrmodel.explain.quadrature.METHODS`.
            image_baseline: ``"black"``, ``"blur"``, ``"mean"`` or an array (see :func:`make_image_baseline`).
            target_error: Completeness relative error that ``"auto"`` stops at (and ``converged`` refers to).
            max_steps: Cap on the step count of ``"auto"``.
            progress: Called after each integration level with the fraction of ``max_steps`` spent and a
                message (e.g. for a progress bar); the fraction is 1 when the result is ready.

        Returns:
            The :class:`StudyAttribution`. With ``"auto"`` and the target missed at ``max_steps``, the result of
            the last level is returned with ``completeness.converged == False`` (and a warning is logged).
        """
        if method not in METHODS:
            raise ValueError(f"unknown integration method {method!r}; choose one of {', '.join(METHODS)}")
        if steps != "auto" and (isinstance(steps, str) or int(steps) < minimum_steps(method)):
            raise ValueError(f"steps must be 'auto' or an integer >= {minimum_steps(method)}, got {steps!r}")
        if steps == "auto" and int(max_steps) < minimum_steps(method):
            raise ValueError(f"max_steps must be >= {minimum_steps(method)} for {method}, got {max_steps!r}")

        # 1. Put the study and the baseline pair into the spaces the gradients are taken in.
        if self.reads_image:
            image = np.asarray(model_image, np.float32)
            if image.shape != self.image_shape:
                raise ValueError(f"model_image has shape {image.shape}, the model expects {self.image_shape}")
            if not np.all(np.isfinite(image)):
                raise ValueError("model_image contains NaN or infinite values")
            baseline_image = make_image_baseline(image, image_baseline, self.mean_image)
        else:
            image = np.zeros(_PLACEHOLDER_IMAGE_SHAPE, np.float32)
            baseline_image = image.copy()
        if self.reads_report:
            token_ids = np.asarray(token_ids)
            embedding_matrix = np.asarray(self._embedding_layer.embeddings, np.float32)
            if token_ids.shape != self.text_shape[:1] or not np.issubdtype(token_ids.dtype, np.integer):
                raise ValueError(
                    f"token_ids must be {self.text_shape[:1]} integers, got {token_ids.dtype} {token_ids.shape}"
                )
            if token_ids.min() < 0 or token_ids.max() >= embedding_matrix.shape[0]:
                raise ValueError(f"token ids must lie in 0 .. {embedding_matrix.shape[0] - 1}")
            embedded = embedding_matrix[token_ids]
            embedded_baseline = np.broadcast_to(embedding_matrix[PADDING_ID], embedded.shape).copy()
        else:
            token_ids = None
            embedded = np.zeros(_PLACEHOLDER_TEXT_SHAPE, np.float32)
            embedded_baseline = embedded.copy()
        path = (image, baseline_image, embedded, embedded_baseline)
        evaluations = _PathEvaluations()

        # 2. Fixed step count: one level.
        if steps != "auto":
            attribution = self._integrate_level(path, token_ids, method, int(steps), evaluations, target_error)
            if progress is not None:
                progress(1.0, f"{int(steps)} steps: completeness error {attribution.completeness.relative_error:.1%}")
            return attribution

        # 3. "auto" with the trapezoid rule: refine the intervals whose own completeness check fails.
        if method == ADAPTIVE_METHOD:
            return self._adaptive_trapezoid(path, token_ids, evaluations, target_error, int(max_steps), progress)

        # 4. "auto" with another rule: levels of rising step count until the completeness error reaches the target.
        level_steps = None
        while True:
            level_steps = next_auto_steps(method, level_steps, max_steps)
            if method not in NESTED_METHODS:
                # Nothing is reused, so take as many nodes as the batches this level pays for can hold.
                reserved = sum(alpha not in evaluations.probabilities for alpha in _END_POINTS)
                batches = math.ceil((level_steps + reserved) / self.batch_size)
                level_steps = max(level_steps, min(batches * self.batch_size - reserved, max_steps))
            attribution = self._integrate_level(path, token_ids, method, level_steps, evaluations, target_error)
            completeness = attribution.completeness
            logger.info(
                "IG %s with %d steps: completeness error %.3g", method, level_steps, completeness.relative_error
            )
            finished = completeness.converged or next_auto_steps(method, level_steps, max_steps) is None
            if progress is not None:
                progress(1.0 if finished else min(level_steps / max_steps, 0.95),
                         f"{level_steps} steps: completeness error {completeness.relative_error:.1%}")
            if completeness.converged:
                return attribution
            if next_auto_steps(method, level_steps, max_steps) is None:
                logger.warning(
                    "IG %s did not reach the completeness target %.3g within %d steps (error %.3g)",
                    method, target_error, max_steps, completeness.relative_error,
                )
                return attribution
            if method not in NESTED_METHODS:
                evaluations.gradients.clear()  # The next level shares no node with this one.

    def _adaptive_trapezoid(
        self,
        path: tuple[np.ndarray, ...],
        token_ids: np.ndarray,
        evaluations: _PathEvaluations,
        target_error: float,
        max_steps: int,
        progress: ProgressCallback | None,
    ) -> StudyAttribution:
        """Trapezoid rule on intervals refined where their own completeness check fails (module docstring).

        Every batch is full: the first holds equally spaced nodes (``batch_size`` rounded up to at least
        :data:`FIRST_AUTO_STEPS`, at least 2, at most ``max_steps``), each later one the nodes
        :func:`_refinement_nodes` places in the intervals with the largest errors.
        """
        image, baseline_image, embedded, embedded_baseline = path
        image_step = image.astype(np.float64) - baseline_image
        embedding_step = embedded.astype(np.float64) - embedded_baseline
        directional: dict[float, float] = {}  # g(α) = ∇F(x(α)) · (x − x′) at every evaluated node

        def evaluate(alphas: list[float]) -> None:
            self._evaluate(path, alphas, evaluations)
            for alpha in alphas:
                image_gradient, embedding_gradient = evaluations.gradients[alpha]
                directional[alpha] = float(
                    np.sum(image_gradient * image_step) + np.sum(embedding_gradient * embedding_step)
                )

        wanted = min(FIRST_AUTO_STEPS, max_steps)
        first = max(2, min(max_steps, self.batch_size * math.ceil(wanted / self.batch_size)))
        nodes = [float(alpha) for alpha in np.linspace(0.0, 1.0, first)]
        evaluate(nodes)
        probabilities = evaluations.probabilities
        denominator = max(abs(probabilities[1.0] - probabilities[0.0]), DIFFERENCE_FLOOR)
        while True:
            starts, ends = np.array(nodes[:-1]), np.array(nodes[1:])
            # Each interval's own completeness error: trapezoid estimate − exact change in P(abnormal).
            node_directional = np.array([directional[alpha] for alpha in nodes])
            node_probabilities = np.array([probabilities[alpha] for alpha in nodes])
            estimates = (ends - starts) / 2.0 * (node_directional[:-1] + node_directional[1:])
            changes = np.diff(node_probabilities)
            interval_errors = estimates - changes
            relative_error = abs(interval_errors.sum()) / denominator
            logger.info("IG adaptive trapezoid with %d nodes: completeness error %.3g", len(nodes), relative_error)
            new_nodes = _refinement_nodes(starts, ends, interval_errors, min(max_steps - len(nodes), self.batch_size))
            finished = relative_error <= target_error or not new_nodes
            if progress is not None:
                progress(1.0 if finished else min(len(nodes) / max_steps, 0.95),
                         f"{len(nodes)} steps: completeness error {relative_error:.1%}")
            if finished:
                break
            evaluate(new_nodes)
            nodes = sorted(nodes + new_nodes)

        alphas = np.array(nodes)
        widths = np.diff(alphas)
        weights = np.zeros_like(alphas)
        weights[:-1] += widths / 2.0
        weights[1:] += widths / 2.0
        attribution = self._attribution(path, token_ids, ADAPTIVE_METHOD, list(nodes), weights, evaluations,
                                        target_error)
        if not attribution.completeness.converged:
            logger.warning(
                "IG adaptive trapezoid did not reach the completeness target %.3g within %d steps (error %.3g)",
                target_error, max_steps, attribution.completeness.relative_error,
            )
        return attribution

    def _evaluate(self, path: tuple[np.ndarray, ...], alphas: list[float], evaluations: _PathEvaluations) -> None:
        """Compute P(abnormal) and the gradients at ``alphas`` in fixed-size batches (last one padded)."""
        import tensorflow as tf  # noqa: PLC0415

        tensors = [tf.constant(array) for array in path]
        for start in range(0, len(alphas), self.batch_size):
            chunk = alphas[start : start + self.batch_size]
            padded = np.zeros(self.batch_size, np.float32)
            padded[: len(chunk)] = chunk
            probabilities, image_gradients, embedding_gradients = (
                tensor.numpy() for tensor in self._path_gradients(tf.constant(padded), *tensors)
            )
            for row, alpha in enumerate(chunk):
                evaluations.probabilities[alpha] = float(probabilities[row])
                evaluations.gradients[alpha] = (image_gradients[row], embedding_gradients[row])
            evaluations.evaluated_points += len(chunk)
            evaluations.batches += 1

    def _integrate_level(
        self,
        path: tuple[np.ndarray, ...],
        token_ids: np.ndarray,
        method: str,
        steps: int,
        evaluations: _PathEvaluations,
        target_error: float,
    ) -> StudyAttribution:
        """Integrated gradients with one rule and step count, reusing what ``evaluations`` already holds."""
        alphas, weights = integration_rule(method, steps)
        alphas = [float(alpha) for alpha in alphas]

        # 1. Gradients at the nodes not yet evaluated; the end points ride along when the padding has room.
        new_alphas = [alpha for alpha in dict.fromkeys(alphas) if alpha not in evaluations.gradients]
        missing_end_points = [a for a in _END_POINTS if a not in evaluations.probabilities and a not in new_alphas]
        batches_for_nodes = math.ceil(len(new_alphas) / self.batch_size)
        if missing_end_points and math.ceil((len(new_alphas) + len(missing_end_points)) / self.batch_size) == (
            batches_for_nodes
        ):
            new_alphas += missing_end_points
            missing_end_points = []
        self._evaluate(path, new_alphas, evaluations)
        if missing_end_points:
            baseline_probability, probability = self._end_point_probabilities(*path).numpy()
            evaluations.probabilities[0.0] = float(baseline_probability)
            evaluations.probabilities[1.0] = float(probability)
            evaluations.evaluated_points += len(_END_POINTS)
        return self._attribution(path, token_ids, method, alphas, weights, evaluations, target_error)

    def _attribution(
        self,
        path: tuple[np.ndarray, ...],
        token_ids: np.ndarray,
        method: str,
        alphas: list[float],
        weights: np.ndarray,
        evaluations: _PathEvaluations,
        target_error: float,
    ) -> StudyAttribution:
        """Attributions from the gradients at ``alphas`` (all evaluated) weighted by ``weights``."""
        image, baseline_image, embedded, embedded_baseline = path
        steps = len(alphas)

        # 2. Path-averaged gradients: the weighted sum over the nodes (float64 accumulation).
        image_gradient = np.zeros(self._path_image_shape, np.float64)
        embedding_gradient = np.zeros(self._path_text_shape, np.float64)
        for alpha, weight in zip(alphas, weights, strict=True):
            node_image_gradient, node_embedding_gradient = evaluations.gradients[alpha]
            image_gradient += weight * node_image_gradient
            embedding_gradient += weight * node_embedding_gradient

        # 3. Attributions = (input − baseline) × averaged gradient, elementwise.
        image_attribution = (image.astype(np.float64) - baseline_image) * image_gradient
        text_attribution = (embedded.astype(np.float64) - embedded_baseline) * embedding_gradient
        image_total, text_total = float(image_attribution.sum()), float(text_attribution.sum())

        # 4. Completeness: Σ attributions against F(x) − F(x′).
        probability = evaluations.probabilities[1.0]
        baseline_probability = evaluations.probabilities[0.0]
        expected = probability - baseline_probability
        absolute_error = abs(image_total + text_total - expected)
        relative_error = absolute_error / max(abs(expected), DIFFERENCE_FLOOR)
        completeness = Completeness(
            expected=expected,
            sum=image_total + text_total,
            relative_error=relative_error,
            steps=steps,
            method=method,
            converged=relative_error <= target_error,
            absolute_error=absolute_error,
            target_error=float(target_error),
            evaluated_points=evaluations.evaluated_points,
            batches=evaluations.batches,
        )
        # A half the model does not read has no share (NaN), like both halves when the change is too small.
        modality_share = {
            "image": image_total / expected if self.reads_image and abs(expected) >= DIFFERENCE_FLOOR else math.nan,
            "text": text_total / expected if self.reads_report and abs(expected) >= DIFFERENCE_FLOOR else math.nan,
        }
        return StudyAttribution(
            probability=probability,
            baseline_probability=baseline_probability,
            image_attribution=image_attribution.sum(axis=-1).astype(np.float32) if self.reads_image else None,
            token_attribution=text_attribution.sum(axis=-1).astype(np.float32) if self.reads_report else None,
            token_share=_token_share(text_attribution, token_ids) if self.reads_report else None,
            completeness=completeness,
            modality_share=modality_share,
        )
