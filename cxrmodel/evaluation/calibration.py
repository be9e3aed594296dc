"""How far to trust P(abnormal) as a probability: temperature scaling, reliability bins, expected calibration error.

numpy and scipy only (no TensorFlow): the dashboard's process and ``load_bundle(..., load_model=False)`` use the
results, and the fitting needs nothing but the model's probabilities and the labels.

**Temperature scaling** (Guo et al., *On Calibration of Modern Neural Networks*, ICML 2017): the model's sigmoid
output ``p`` is turned back into its logit ``z = log(p / (1 - p))`` (``p`` clipped to ``[EPSILON, 1 - EPSILON]``,
the float32 sigmoid of the model gives exactly 0 or 1 beyond |z| ≈ 17) and divided by one temperature ``T > 0``:
``p_T = sigmoid(z / T)``. ``T`` is the value minimising the mean negative log-likelihood (binary cross-entropy)
on a split the model was not fitted on (the validation split). ``T > 1`` softens an over-confident model,
``T < 1`` sharpens an under-confident one; the sign of ``z`` is kept, so the label at P = 0.5, the accuracy
and the ROC AUC do not change.

Why it is written here: Keras has no post-hoc calibration; scikit-learn's ``CalibratedClassifierCV`` fits Platt
scaling (an affine map of the logit, two parameters, on its own estimator API) or isotonic regression, not the
one-parameter temperature; ``netcal`` does temperature scaling but brings PyTorch. The temperature is a bounded
1-D convex problem (the NLL is convex in ``1 / T``), solved with ``scipy.optimize.minimize_scalar``.

**Reliability bins and ECE.** The probabilities are put into ``B`` equal-width bins of ``[0, 1]``: bin ``b``
holds the ``p`` with ``floor(p * B) == b`` (``p = 1`` in the last bin). Each bin has its count ``n_b``, mean
predicted P(abnormal) ``conf_b`` and observed frequency of abnormal studies ``acc_b``. The expected calibration
error is the count-weighted mean gap ``ECE = sum_b (n_b / N) * |acc_b - conf_b|`` over the non-empty bins (0 =
perfectly calibrated; at most 1). This is the binary ("positive-class") form that matches the reliability
diagram of P(abnormal); the top-label form of Guo et al. bins ``max(p, 1 - p)`` against "prediction correct"
instead and gives different numbers on the same predictions.
"""

from __future__ import annotations

import datetime as _datetime
import math

import numpy as np

EPSILON = 1e-7
"""Probabilities are clipped to ``[EPSILON, 1 - EPSILON]`` before taking the logit (|logit| ≤ 16.1)."""
TEMPERATURE_BOUNDS = (0.05, 20.0)
"""The temperatures searched; a fit that ends on a bound means no finite temperature fits (see
:func:`fit_temperature`)."""
DEFAULT_BINS = 10
METHOD = "temperature"


class CalibrationError(ValueError):
    """The probabilities and labels cannot be calibrated (wrong shapes, one class only, perfectly separated)."""


def _checked(probabilities, labels=None) -> tuple[np.ndarray, np.ndarray | None]:
    p = np.asarray(probabilities, np.float64).reshape(-1)
    if not np.all(np.isfinite(p)) or np.any((p < 0.0) | (p > 1.0)):
        raise CalibrationError("probabilities must be finite numbers between 0 and 1")
    if labels is None:
        return p, None
    y = np.asarray(labels).reshape(-1)
    if y.shape != p.shape:
        raise CalibrationError(f"{len(p)} probabilities but {len(y)} labels")
    if not np.all((y == 0) | (y == 1)):
        raise CalibrationError("labels must be 0 (normal) or 1 (abnormal)")
    return p, y.astype(np.float64)


def logits(probabilities) -> np.ndarray:
    """``log(p / (1 - p))`` of probabilities clipped to ``[EPSILON, 1 - EPSILON]`` (float64, same shape)."""
    p = np.clip(np.asarray(probabilities, np.float64), EPSILON, 1.0 - EPSILON)
    return np.log(p) - np.log1p(-p)


def apply_temperature(probabilities, temperature: float) -> np.ndarray:
    """``sigmoid(logit(p) / T)``: the temperature-scaled probabilities (float64, same shape).

    :meth:`cxrmodel.modeling.Bundle.calibrated_probability` computes the same for one value (the layering keeps
    the bundle from importing this package; ``tests/cxrmodel/test_calibration.py`` checks that they agree).
    """
    try:
        value = float(temperature)
    except (TypeError, ValueError):
        value = math.nan
    if isinstance(temperature, bool) or not (math.isfinite(value) and value > 0):
        raise CalibrationError(f"the temperature must be a positive number, got {temperature!r}")
    scaled = logits(probabilities) / value
    return 0.5 * (1.0 + np.tanh(0.5 * scaled))  # the logistic function, without overflow warnings


def negative_log_likelihood(probabilities, labels, temperature: float = 1.0) -> float:
    """Mean binary cross-entropy (natural log) of the labels under ``apply_temperature(p, T)``."""
    p, y = _checked(probabilities, labels)
    z = logits(p) / float(temperature)
    return float(np.mean(np.logaddexp(0.0, z) - y * z))  # = -[y log s(z) + (1 - y) log(1 - s(z))]


def fit_temperature(probabilities, labels) -> float:
    """The temperature minimising the negative log-likelihood of ``labels`` (1 = abnormal) under ``p``.

    Bounded Brent search over ``log T`` in :data:`TEMPERATURE_BOUNDS`.

    Raises:
        CalibrationError: Bad input, one class only, or no finite temperature (the optimum is on a bound: e.g.
            every study is on the right side of 0.5, where the likelihood keeps rising as ``T`` goes to 0).
    """
    from scipy.optimize import minimize_scalar  # noqa: PLC0415 - scipy only when fitting

    p, y = _checked(probabilities, labels)
    if len(p) < 2 or y.min() == y.max():
        raise CalibrationError(f"fitting a temperature needs studies of both labels, got {len(p)} studies with "
                               f"{int(y.sum())} abnormal")
    z = logits(p)

    def nll(log_temperature: float) -> float:
        scaled = z / math.exp(log_temperature)
        return float(np.mean(np.logaddexp(0.0, scaled) - y * scaled))

    low, high = (math.log(bound) for bound in TEMPERATURE_BOUNDS)
    result = minimize_scalar(nll, bounds=(low, high), method="bounded", options={"xatol": 1e-6})
    temperature = math.exp(float(result.x))
    if not result.success or min(abs(result.x - low), abs(result.x - high)) < 1e-3:
        raise CalibrationError(
            f"no temperature in {TEMPERATURE_BOUNDS[0]}..{TEMPERATURE_BOUNDS[1]} minimises the likelihood "
            f"(the search ended at T={temperature:.3g}): the {len(p)} studies are (nearly) perfectly separated "
            "at P = 0.5; calibrate on a larger split")
    return temperature


def reliability_bins(probabilities, labels, bins: int = DEFAULT_BINS) -> list[dict]:
    """Equal-width bins of P(abnormal): ``[{"lower", "upper", "count", "mean_confidence", "observed_frequency"}]``.

    Bin ``b`` holds ``floor(p * bins) == b`` (``p = 1`` in the last); ``mean_confidence`` is the mean P(abnormal)
    of its studies and ``observed_frequency`` the share of them that are abnormal, both None for an empty bin.
    Plain JSON (the bundle's ``calibration.json`` stores these lists).
    """
    if not isinstance(bins, int) or isinstance(bins, bool) or bins < 1:
        raise CalibrationError(f"bins must be a positive whole number, got {bins!r}")
    p, y = _checked(probabilities, labels)
    index = np.minimum(np.floor(p * bins).astype(np.int64), bins - 1)
    rows = []
    for b in range(bins):
        members = index == b
        count = int(members.sum())
        rows.append({
            "lower": round(b / bins, 10),
            "upper": round((b + 1) / bins, 10),
            "count": count,
            "mean_confidence": float(p[members].mean()) if count else None,
            "observed_frequency": float(y[members].mean()) if count else None,
        })
    return rows


def expected_calibration_error(probabilities, labels, bins: int = DEFAULT_BINS) -> float:
    """``sum_b (n_b / N) |observed_frequency_b - mean_confidence_b|`` over equal-width bins (module docstring)."""
    rows = reliability_bins(probabilities, labels, bins)
    total = sum(row["count"] for row in rows)
    if total == 0:
        raise CalibrationError("the expected calibration error needs at least one study")
    return float(sum(row["count"] * abs(row["observed_frequency"] - row["mean_confidence"])
                     for row in rows if row["count"]) / total)


def _rounded(rows: list[dict], digits: int = 6) -> list[dict]:
    return [{key: round(value, digits) if isinstance(value, float) else value for key, value in row.items()}
            for row in rows]


def _accuracy(p: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean((p >= 0.5) == (y == 1)))


def calibration_document(
    fit_probabilities,
    fit_labels,
    held_out_probabilities,
    held_out_labels,
    fitted_on: str,
    *,
    bins: int = DEFAULT_BINS,
    created: str | None = None,
) -> dict:
    """Fit the temperature on one split and measure it on another: the content of a bundle's ``calibration.json``.

    ``{"method": "temperature", "temperature", "fitted_on", "fitted_count", "bins", "held_out": {"count",
    "ece_raw", "ece_calibrated", "bins_raw", "bins_calibrated", "accuracy_raw", "accuracy_calibrated", "nll_raw",
    "nll_calibrated"}, "created"}``. ``fitted_on`` says in words which studies the temperature was fitted on.

    Raises:
        CalibrationError: From :func:`fit_temperature`, or an empty held-out split.
    """
    temperature = round(fit_temperature(fit_probabilities, fit_labels), 6)  # the figures are of the stored T
    p, y = _checked(held_out_probabilities, held_out_labels)
    if len(p) == 0:
        raise CalibrationError("the held-out split is empty")
    calibrated = apply_temperature(p, temperature)
    return {
        "method": METHOD,
        "temperature": temperature,
        "fitted_on": str(fitted_on),
        "fitted_count": int(np.asarray(fit_labels).size),
        "bins": bins,
        "held_out": {
            "count": int(len(p)),
            "ece_raw": round(expected_calibration_error(p, y, bins), 6),
            "ece_calibrated": round(expected_calibration_error(calibrated, y, bins), 6),
            "bins_raw": _rounded(reliability_bins(p, y, bins)),
            "bins_calibrated": _rounded(reliability_bins(calibrated, y, bins)),
            "accuracy_raw": round(_accuracy(p, y), 6),
            "accuracy_calibrated": round(_accuracy(calibrated, y), 6),
            "nll_raw": round(negative_log_likelihood(p, y), 6),
            "nll_calibrated": round(negative_log_likelihood(p, y, temperature), 6),
        },
        "created": created or _datetime.datetime.now(_datetime.timezone.utc).replace(microsecond=0).isoformat(),
    }
