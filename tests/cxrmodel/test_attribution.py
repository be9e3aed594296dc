"""Integrated gradients: completeness, quadrature, shapes, sign conventions, words on the report, no retracing."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from cxrmodel.explain.baselines import make_image_baseline
from cxrmodel.explain.integrated_gradients import IntegratedGradientsExplainer
from cxrmodel.explain.quadrature import METHODS, integration_rule, next_auto_steps  # noqa: E402
from cxrmodel.explain.results import DIFFERENCE_FLOOR, word_attributions
from cxrmodel.modeling import ModelConfig  # noqa: E402
from cxrmodel.modeling.builders import build_model
from cxrmodel.text import Vocabulary, encode_report, tokenize_report  # noqa: E402

TINY = ModelConfig(image_size=32, vocabulary_size=30, max_tokens=12, embedding_dimension=8, text_filters=4,
                   compact_widths=(4, 8), image_feature_units=4, text_feature_units=4, fusion_units=4)
MAX_POOLING = ModelConfig(**{**TINY.to_dict(), "compact_pooling": "max"})
# Wider dense layers than TINY: a tiny random ReLU network has a few units whose switching makes the IG
# integrand jump, and then no rule converges at all; 16 units give a path that 128 steps do resolve.
WIDER = ModelConfig(**{**TINY.to_dict(), "text_filters": 16, "text_feature_units": 16, "image_feature_units": 16,
                       "fusion_units": 16})


def _model(config: ModelConfig, seed: int = 0, output_scale: float = 20.0, text_off: bool = False) -> keras.Model:
    """A random-weight multimodal whose output unit is scaled so that F(x) − F(x′) is far from 0."""
    keras.utils.set_random_seed(seed)
    model = build_model("multimodal", config)
    output = model.get_layer("decision_head").get_layer("abnormal_probability")
    kernel, bias = output.get_weights()
    output.set_weights([kernel * output_scale, bias])
    if text_off:
        text_features = model.get_layer("text_encoder").get_layer("text_features")
        text_features.set_weights([np.zeros_like(weight) for weight in text_features.get_weights()])
    return model


def _study(config: ModelConfig, seed: int, used: int = 8) -> tuple[np.ndarray, np.ndarray]:
    random = np.random.default_rng(seed)
    image = random.random((config.image_size, config.image_size, 3), dtype=np.float32)
    token_ids = np.zeros(config.max_tokens, np.int32)
    token_ids[:used] = random.integers(1, config.vocabulary_size, used)
    return image, token_ids


@pytest.fixture(scope="module")
def wider_explainer():
    return IntegratedGradientsExplainer(_model(WIDER), batch_size=8)


@pytest.fixture(scope="module")
def image_only_explainer():
    # Text encoder output is 0 whatever the report; from a black image the compact, bias-free network is
    # positively homogeneous, so F(x(α)) = sigmoid(α c + b): a smooth path, a fair test of the quadrature.
    # Max pooling (the compact default before average pooling) keeps c large enough for the sigmoid to curve
    # over the path, so the rules' step counts differ clearly; with average pooling c is small, the path nearly
    # linear, and the midpoint rule too reaches 1e-4 within 3 steps, which would leave nothing to compare.
    return IntegratedGradientsExplainer(_model(MAX_POOLING, text_off=True), batch_size=8)


def test_integration_rules_integrate_polynomials_and_weights_sum_to_one():
    for method in METHODS:
        for steps in (2, 3, 8, 17):
            alphas, weights = integration_rule(method, steps)
            assert alphas.shape == weights.shape == (steps,)
            assert np.all((alphas >= 0) & (alphas <= 1)) and np.all(weights > 0)
            assert weights.sum() == pytest.approx(1.0, abs=1e-12)
    alphas, weights = integration_rule("gausslegendre", 4)  # exact up to degree 7
    assert np.sum(weights * alphas**7) == pytest.approx(1 / 8, abs=1e-12)
    ladder, steps = [], None
    while (steps := next_auto_steps("riemann_trapezoid", steps, 128)) is not None:
        ladder.append(steps)
    assert ladder == [9, 17, 33, 65, 128]
    with pytest.raises(ValueError, match="unknown integration method"):
        integration_rule("simpson", 4)


def test_auto_steps_reach_one_percent_completeness_on_random_inputs(wider_explainer):
    for seed in range(3):
        image, token_ids = _study(WIDER, seed)
        attribution = wider_explainer.explain(image, token_ids)  # steps="auto", adaptive trapezoid, black baseline
        completeness = attribution.completeness
        assert completeness.converged and completeness.relative_error <= 0.01
        assert abs(completeness.expected) > 10 * DIFFERENCE_FLOOR  # a real relative error, not the floor
        assert completeness.expected == pytest.approx(attribution.probability - attribution.baseline_probability)
        # The reported sum is the sum of the returned arrays (up to their float32 rounding).
        total = attribution.image_attribution.sum(dtype=np.float64)
        total += attribution.token_attribution.sum(dtype=np.float64)
        assert total == pytest.approx(completeness.sum, rel=1e-4, abs=1e-7)
        assert completeness.steps <= 128 and completeness.method == "riemann_trapezoid"
        # Adaptive refinement pays only for full batches (of 8 here) and never evaluates a node twice.
        assert completeness.steps % 8 == 0 and completeness.batches == completeness.steps // 8
        assert completeness.evaluated_points == completeness.steps


def test_gauss_legendre_needs_fewer_steps_than_trapezoid_on_a_smooth_path(image_only_explainer):
    image, token_ids = _study(TINY, seed=5)
    step_counts = (2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64)

    def steps_to_reach(method: str, target: float) -> int:
        for steps in step_counts:
            attribution = image_only_explainer.explain(image, token_ids, steps=steps, method=method)
            if attribution.completeness.relative_error <= target:
                return steps
        return 10**6

    gauss_legendre = steps_to_reach("gausslegendre", 1e-4)
    assert gauss_legendre <= 3
    assert steps_to_reach("riemann_midpoint", 1e-4) >= 4 * gauss_legendre
    # The trapezoid rule is slower still here: it also samples α = 0 itself, where every ReLU input of this
    # bias-free network is exactly 0 and TensorFlow's ReLU gradient is 0, so it converges only like 1/steps.
    assert steps_to_reach("riemann_trapezoid", 1e-4) > 64


def test_adaptive_auto_refines_where_the_path_needs_it(image_only_explainer):
    # From a black image this network's gradient at α = 0 is exactly 0 (every ReLU input is 0), so the uniform
    # trapezoid rule is off by about g(0⁺)/(2·steps) and needs more than 64 nodes for 1e-4 (test above). The
    # adaptive auto keeps splitting the first interval, whose own check fails, and gets there with far fewer.
    image, token_ids = _study(TINY, seed=5)
    uniform = image_only_explainer.explain(image, token_ids, steps=64, method="riemann_trapezoid")
    adaptive = image_only_explainer.explain(image, token_ids, target_error=1e-4)
    assert uniform.completeness.relative_error > 1e-4
    assert adaptive.completeness.converged and adaptive.completeness.relative_error <= 1e-4
    assert adaptive.completeness.steps <= 40 and adaptive.completeness.method == "riemann_trapezoid"
    # Same integral, so the pixel maps agree closely with a fine uniform rule.
    reference = image_only_explainer.explain(image, token_ids, steps=32, method="gausslegendre")
    difference = np.linalg.norm(adaptive.image_attribution - reference.image_attribution)
    assert difference <= 0.01 * np.linalg.norm(reference.image_attribution)


def test_attribution_shapes_and_padding_slots_are_exactly_zero(wider_explainer):
    image, token_ids = _study(WIDER, seed=7, used=5)
    attribution = wider_explainer.explain(image, token_ids, steps=10, method="riemann_midpoint")
    assert attribution.image_attribution.shape == (WIDER.image_size, WIDER.image_size)
    assert attribution.token_attribution.shape == attribution.token_share.shape == (WIDER.max_tokens,)
    assert attribution.image_attribution.dtype == attribution.token_attribution.dtype == np.float32
    assert np.all(attribution.token_attribution[5:] == 0.0) and np.all(attribution.token_share[5:] == 0.0)
    assert np.any(attribution.token_attribution[:5] != 0.0)
    assert attribution.token_share.sum() == pytest.approx(1.0, abs=1e-6) and np.all(attribution.token_share >= 0)


def test_modality_shares_add_up_to_one_within_the_completeness_error(wider_explainer):
    image, token_ids = _study(WIDER, seed=3)
    attribution = wider_explainer.explain(image, token_ids, steps=24, method="riemann_trapezoid")
    shares = attribution.modality_share
    assert set(shares) == {"image", "text"}
    assert abs(shares["image"] + shares["text"] - 1.0) <= attribution.completeness.relative_error + 1e-9
    expected = attribution.completeness.expected
    assert shares["image"] == pytest.approx(attribution.image_attribution.sum(dtype=np.float64) / expected, rel=1e-4)


def test_image_only_dependence_gives_zero_text_share(image_only_explainer):
    image, token_ids = _study(TINY, seed=1)
    attribution = image_only_explainer.explain(image, token_ids, steps=8, method="gausslegendre")
    assert attribution.modality_share["text"] == 0.0
    assert attribution.modality_share["image"] == pytest.approx(1.0, abs=1e-3)
    assert np.all(attribution.token_attribution == 0.0) and np.all(attribution.token_share == 0.0)


def test_no_retracing_across_studies_step_counts_and_baselines():
    explainer = IntegratedGradientsExplainer(_model(TINY, seed=2), batch_size=4, mean_image=np.full((32, 32), 0.4))
    for seed, steps, baseline in ((0, 3, "black"), (1, 9, "blur"), (2, "auto", "mean")):
        image, token_ids = _study(TINY, seed)
        explainer.explain(image, token_ids, steps=steps, image_baseline=baseline, max_steps=16)
    assert explainer.trace_count == 1
    assert explainer.trace_counts["end_point_probabilities"] <= 1


def test_auto_reuses_nodes_and_reports_a_missed_target():
    explainer = IntegratedGradientsExplainer(_model(TINY, seed=4), batch_size=8)
    image, token_ids = _study(TINY, seed=4)
    attribution = explainer.explain(image, token_ids, target_error=1e-12, max_steps=20)  # adaptive trapezoid
    completeness = attribution.completeness
    assert not completeness.converged and completeness.steps == 20
    # 8 equally spaced nodes (both ends included), then 8 midpoints, then the 4 the cap leaves room for.
    assert completeness.evaluated_points == 20 and completeness.batches == 3
    smallest = explainer.explain(image, token_ids, target_error=1e-12, max_steps=2)  # both ends, nothing else
    assert smallest.completeness.steps == 2 and smallest.completeness.batches == 1
    with pytest.raises(ValueError, match="max_steps"):
        explainer.explain(image, token_ids, max_steps=1)
    nested = explainer.explain(image, token_ids, method="riemann_right", target_error=1e-12, max_steps=32)
    # 8, 16, 32 nodes, every level reusing the previous one's; F(x′) needs one forward pass besides.
    assert nested.completeness.steps == 32 and nested.completeness.evaluated_points == 32 + 2
    # Gauss–Legendre's first level fills its batch: 8 nodes + 2 end points round up to 14 + 2 in a batch of 8 * 2.
    first = explainer.explain(image, token_ids, method="gausslegendre", target_error=10.0)
    assert first.completeness.steps == 14 and first.completeness.batches == 2


def test_image_baselines():
    image = np.random.default_rng(0).random((32, 32, 3), dtype=np.float32)
    assert np.all(make_image_baseline(image, "black") == 0)
    blurred = make_image_baseline(image, "blur")
    assert blurred.shape == image.shape and blurred.std() < 0.5 * image.std()
    assert np.all(make_image_baseline(image, np.full((32, 32), 0.5)) == 0.5)
    with pytest.raises(ValueError, match="mean_image"):
        make_image_baseline(image, "mean")
    with pytest.raises(ValueError, match="unknown image baseline"):
        make_image_baseline(image, "white")


def test_word_list_covers_the_whole_report_with_offsets(wider_explainer):
    report = "The heart is normal. No pleural effusion or pneumothorax; the x-ray shows mild cardiomegaly " * 2
    vocabulary = Vocabulary.build([report])
    assert len(vocabulary) <= WIDER.vocabulary_size
    encoded = encode_report(report, vocabulary, max_tokens=WIDER.max_tokens)
    assert encoded.truncated  # some kept words fall beyond the 12 slots
    image, _ = _study(WIDER, seed=0)
    attribution = wider_explainer.explain(image, encoded.token_ids, steps=6)
    words = word_attributions(encoded, attribution)
    assert [word.text for word in words] == [token.text for token in tokenize_report(report)]
    for index, word in enumerate(words):
        assert report[word.start : word.end] == word.text
        if word.seen:
            slot = encoded.positions.index(index)
            assert word.score == pytest.approx(float(attribution.token_attribution[slot]))
            assert word.share == pytest.approx(float(attribution.token_share[slot]))
        else:
            assert word.score == 0.0 and word.share == 0.0
    assert not next(word for word in words if word.text == "The").seen  # a stop word
    assert sum(word.seen for word in words) == WIDER.max_tokens
    assert not words[-1].seen  # "cardiomegaly" of the second sentence is beyond the cut
    assert sum(word.share for word in words) == pytest.approx(1.0, abs=1e-6)


def test_bad_inputs_are_rejected(wider_explainer):
    image, token_ids = _study(WIDER, seed=0)
    with pytest.raises(ValueError, match="model_image"):
        wider_explainer.explain(image[:16], token_ids)
    with pytest.raises(ValueError, match="token ids"):
        wider_explainer.explain(image, np.full(WIDER.max_tokens, 99))
    with pytest.raises(ValueError, match="steps"):
        wider_explainer.explain(image, token_ids, steps=1, method="riemann_trapezoid")
