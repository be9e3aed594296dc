"""How far to trust P(abnormal) as a probability: temperature scaling, reliability bins, expected calibration error.

numpy, scipy and scikit-learn's fold splitter only (no TensorFlow): the dashboard's process and
``load_bundle(..., load_model=False)`` use the results, and the fitting needs nothing but the model's probabilities
and the labels.

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

**When a temperature is kept** (:func:`calibration_decision`, applied by ``train`` to each bundle it writes and by
``calibrate``). A temperature fitted on too few studies, or one that does not help, makes P(abnormal) worse while
the card calls it calibrated; so the bundle is calibrated only when all of these hold, and otherwise its
``calibration.json`` says ``"method": "none"`` with the reason:

1. *Enough studies.* The fitting split has at least :data:`MINIMUM_STUDIES` (50) studies with at least
   :data:`MINIMUM_PER_LABEL` (10) of each label. Why 50: in a seeded simulation of a perfectly calibrated model
   (logits drawn from N(0, 2.5²), labels drawn from the model's own P), the temperature fitted on 50 studies lies
   outside 0.68–1.38 one time in five (the true T is 1), on 20 studies outside 0.46–1.62, and on 10 no finite
   temperature exists one time in six; the 10-bin ECE of that perfectly calibrated model averages 0.13 on 50
   studies and 0.22 on 10, larger than the miscalibration a temperature usually corrects. Below 50 the fit and
   the check of rule 2 are mostly noise (``benchmarks/calibration_minimum.py`` prints these figures). Why 10 of
   each label: each of the 5 cross-validation folds must leave both labels in its fitting part (at least 8 of
   each) and put both in its left-out part (at least 2 of each).
2. *It lowers ECE on studies it was not fitted on.* Stratified 5-fold cross-validation on the fitting split,
   repeated :data:`CROSS_VALIDATION_REPEATS` (5) times with seeded shuffles: each fold's studies are scaled by
   the temperature fitted on the other four, the out-of-fold probabilities of one repeat are pooled into one ECE,
   and the mean over repeats must be strictly below the raw ECE of the same studies. Repeats, because one
   5-fold split moves the pooled ECE by more than the effect measured (the demo's text-only model: 0.021 to
   0.028 across five seeds, raw 0.024).
3. *It does not raise the held-out ECE.* When a held-out split is measured (the card's reliability diagram), the
   temperature fitted on the whole fitting split must not raise its ECE. The held-out split only vetoes: it never
   chooses the temperature, so the figures the card shows are still those of a temperature fitted elsewhere.
   It is as noisy as any 10-bin ECE: it can refuse a right temperature whose improvement is smaller than that
   noise, and the bundle then says so rather than claim a calibration it cannot show.

The held-out figures are measured and recorded whenever a temperature was fitted, kept or not, so the card can
say what it would have done.
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
NOT_CALIBRATED = "none"
"""``method`` of a ``calibration.json`` that records why the bundle is not calibrated."""
MINIMUM_STUDIES = 50
"""Fewest studies a temperature is fitted on (module docstring: the spread of the fit and of a 10-bin ECE)."""
MINIMUM_PER_LABEL = 10
"""Fewest studies of each label a temperature is fitted on (both labels in every cross-validation fold)."""
CROSS_VALIDATION_FOLDS = 5
CROSS_VALIDATION_REPEATS = 5
CROSS_VALIDATION_SEED = 0


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
    It fits whatever it is given; :func:`calibration_decision` is what decides whether a bundle keeps it.

    Raises:
        CalibrationError: From :func:`fit_temperature`, or an empty held-out split.
    """
    temperature = round(fit_temperature(fit_probabilities, fit_labels), 6)  # the figures are of the stored T
    p, y = _checked(held_out_probabilities, held_out_labels)
    if len(p) == 0:
        raise CalibrationError("the held-out split is empty")
    return {
        "method": METHOD,
        "temperature": temperature,
        "fitted_on": str(fitted_on),
        "fitted_count": int(np.asarray(fit_labels).size),
        "bins": bins,
        "held_out": _held_out_figures(p, y, temperature, bins),
        "created": created or _datetime.datetime.now(_datetime.timezone.utc).replace(microsecond=0).isoformat(),
    }


def calibration_shortfall(labels, *, minimum_studies: int = MINIMUM_STUDIES,
                          minimum_per_label: int = MINIMUM_PER_LABEL) -> str | None:
    """Why ``labels`` are too few to fit a temperature on (rule 1 of the module docstring), or None when enough."""
    y = np.asarray(labels).reshape(-1)
    abnormal = int(np.sum(y == 1))
    normal = int(len(y) - abnormal)
    rule = f"the rule needs at least {minimum_studies}, with {minimum_per_label} of each label"
    if len(y) < minimum_studies:
        return f"{len(y)} studies ({abnormal} abnormal, {normal} normal) are too few to fit a temperature on: {rule}"
    if min(abnormal, normal) < minimum_per_label:
        fewer = "abnormal" if abnormal < normal else "normal"
        return (f"{len(y)} studies with only {min(abnormal, normal)} {fewer} are too few to fit a temperature on: "
                f"{rule}")
    return None


def cross_validated_ece(
    probabilities,
    labels,
    *,
    folds: int = CROSS_VALIDATION_FOLDS,
    repeats: int = CROSS_VALIDATION_REPEATS,
    seed: int = CROSS_VALIDATION_SEED,
    bins: int = DEFAULT_BINS,
) -> dict:
    """ECE of the studies raw and temperature-scaled by a temperature never fitted on them (rule 2).

    Stratified ``folds``-fold splits, ``repeats`` times with the shuffle seeded ``seed``, ``seed + 1``, ...: each
    fold is scaled by the temperature fitted on the others; a repeat's out-of-fold probabilities are pooled into
    one ECE.

    Returns:
        ``{"count", "folds", "repeats", "seed", "ece_raw", "ece_calibrated", "ece_calibrated_per_repeat"}``
        (``ece_calibrated`` is the mean over repeats).

    Raises:
        CalibrationError: A label has fewer studies than ``folds``, or no temperature fits a fold's fitting part.
    """
    from sklearn.model_selection import StratifiedKFold  # noqa: PLC0415 - scikit-learn only when deciding

    p, y = _checked(probabilities, labels)
    counts = np.bincount(y.astype(np.int64), minlength=2)
    if counts.min() < folds:
        raise CalibrationError(f"{folds}-fold cross-validation needs at least {folds} studies of each label, got "
                               f"{int(counts[1])} abnormal and {int(counts[0])} normal")
    per_repeat = []
    for repeat in range(repeats):
        scaled = np.empty_like(p)
        splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed + repeat)
        for fold, (fitting, left_out) in enumerate(splitter.split(np.zeros(len(y)), y)):
            try:
                temperature = fit_temperature(p[fitting], y[fitting])
            except CalibrationError as error:
                raise CalibrationError(f"cross-validation fold {fold + 1} of repeat {repeat + 1}: {error}") from error
            scaled[left_out] = apply_temperature(p[left_out], temperature)
        per_repeat.append(expected_calibration_error(scaled, y, bins))
    return {
        "count": int(len(p)),
        "folds": folds,
        "repeats": repeats,
        "seed": seed,
        "ece_raw": round(expected_calibration_error(p, y, bins), 6),
        "ece_calibrated": round(float(np.mean(per_repeat)), 6),
        "ece_calibrated_per_repeat": [round(value, 6) for value in per_repeat],
    }


def _held_out_figures(p: np.ndarray, y: np.ndarray, temperature: float, bins: int) -> dict:
    calibrated = apply_temperature(p, temperature)
    return {
        "count": int(len(p)),
        "ece_raw": round(expected_calibration_error(p, y, bins), 6),
        "ece_calibrated": round(expected_calibration_error(calibrated, y, bins), 6),
        "bins_raw": _rounded(reliability_bins(p, y, bins)),
        "bins_calibrated": _rounded(reliability_bins(calibrated, y, bins)),
        "accuracy_raw": round(_accuracy(p, y), 6),
        "accuracy_calibrated": round(_accuracy(calibrated, y), 6),
        "nll_raw": round(negative_log_likelihood(p, y), 6),
        "nll_calibrated": round(negative_log_likelihood(p, y, temperature), 6),
    }


def _figure(value: float) -> str:
    """An ECE in a reason: four significant digits, so two close figures still read as different."""
    return f"{value:.4g}"


def calibration_decision(
    fit_probabilities,
    fit_labels,
    held_out_probabilities,
    held_out_labels,
    fitted_on: str,
    *,
    bins: int = DEFAULT_BINS,
    folds: int = CROSS_VALIDATION_FOLDS,
    repeats: int = CROSS_VALIDATION_REPEATS,
    seed: int = CROSS_VALIDATION_SEED,
    minimum_studies: int = MINIMUM_STUDIES,
    minimum_per_label: int = MINIMUM_PER_LABEL,
    created: str | None = None,
) -> dict:
    """Apply the rule of the module docstring: the content of a bundle's ``calibration.json``, kept or not.

    Kept: :func:`calibration_document`'s fields plus ``"decision"``. Not kept: ``{"method": "none", "reason",
    "fitted_on", "fitted_count", "bins", "decision", "created"}``, and when a temperature was fitted also
    ``"rejected_temperature"`` and the ``"held_out"`` figures it would have given. ``"decision"`` records the rule's
    settings (``minimum_studies``, ``minimum_per_label``) and, once computed, the ``"cross_validated"`` figures of
    :func:`cross_validated_ece`.

    Raises:
        CalibrationError: Bad input (shapes, values) or an empty held-out split: not a decision but a mistake.
    """
    p_fit, y_fit = _checked(fit_probabilities, fit_labels)
    p_held, y_held = _checked(held_out_probabilities, held_out_labels)
    if len(p_held) == 0:
        raise CalibrationError("the held-out split is empty")
    decision: dict = {"minimum_studies": minimum_studies, "minimum_per_label": minimum_per_label}
    base = {"fitted_on": str(fitted_on), "fitted_count": int(len(p_fit)), "bins": bins, "decision": decision,
            "created": created or _datetime.datetime.now(_datetime.timezone.utc).replace(microsecond=0).isoformat()}

    def refused(reason: str, **extra) -> dict:
        return {"method": NOT_CALIBRATED, "reason": reason, **base, **extra}

    shortfall = calibration_shortfall(y_fit, minimum_studies=minimum_studies, minimum_per_label=minimum_per_label)
    if shortfall is not None:
        return refused(shortfall)
    try:
        temperature = round(fit_temperature(p_fit, y_fit), 6)  # the figures are of the stored T
        decision["cross_validated"] = cross_validated_ece(p_fit, y_fit, folds=folds, repeats=repeats, seed=seed,
                                                          bins=bins)
    except CalibrationError as error:
        return refused(str(error))
    cross = decision["cross_validated"]
    held_out = _held_out_figures(p_held, y_held, temperature, bins)
    if cross["ece_calibrated"] >= cross["ece_raw"]:
        return refused(f"temperature scaling does not lower the ECE of studies the temperature was not fitted on: "
                       f"cross-validated on the {cross['count']} fitting studies ({folds} folds, {repeats} repeats) "
                       f"it is {_figure(cross['ece_calibrated'])} scaled against {_figure(cross['ece_raw'])} raw",
                       rejected_temperature=temperature, held_out=held_out)
    if held_out["ece_calibrated"] > held_out["ece_raw"]:
        return refused(f"the temperature T={temperature:.3f} raises the ECE of the {held_out['count']} held-out "
                       f"studies from {_figure(held_out['ece_raw'])} to {_figure(held_out['ece_calibrated'])} "
                       f"(cross-validated on the {cross['count']} fitting studies it lowered it from "
                       f"{_figure(cross['ece_raw'])} to {_figure(cross['ece_calibrated'])})",
                       rejected_temperature=temperature, held_out=held_out)
    return {"method": METHOD, "temperature": temperature, **base, "held_out": held_out}
