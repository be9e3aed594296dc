"""Why a temperature is fitted on at least 50 studies: the spread of the fit and of a 10-bin ECE by study count.

    .venv/bin/python benchmarks/calibration_minimum.py [--repeats 400] [--seed 0]

A perfectly calibrated model is simulated: logits ``z ~ N(0, 2.5²)``, P = sigmoid(z), each label drawn from P.
For each study count, ``--repeats`` such samples; per count it prints the mean and 90th percentile of the 10-bin
ECE (all of it is noise: the model is calibrated), the 10–90 % range of the fitted temperature (the truth is 1)
and how often no finite temperature fits. These are the figures quoted in the docstring of
:mod:`cxrmodel.evaluation.calibration` and in docs/training.md (seed 0, 400 repeats; a few seconds on one core).
"""

from __future__ import annotations

import argparse
import math

import numpy as np

from cxrmodel.evaluation.calibration import CalibrationError, expected_calibration_error, fit_temperature

COUNTS = (10, 20, 30, 50, 100, 300)


def spread(count: int, repeats: int, rng: np.random.Generator) -> dict:
    """ECE and fitted-temperature spread of ``repeats`` samples of ``count`` studies of a calibrated model."""
    eces, log_temperatures, failed = [], [], 0
    for _ in range(repeats):
        z = rng.normal(0.0, 2.5, count)
        p = 1.0 / (1.0 + np.exp(-z))
        labels = (rng.random(count) < p).astype(int)
        eces.append(expected_calibration_error(p, labels))
        try:
            log_temperatures.append(math.log(fit_temperature(p, labels)))
        except CalibrationError:
            failed += 1
    low, high = np.exp(np.quantile(log_temperatures, [0.1, 0.9]))
    return {"studies": count, "ece_mean": round(float(np.mean(eces)), 3),
            "ece_p90": round(float(np.quantile(eces, 0.9)), 3), "temperature_p10": round(float(low), 2),
            "temperature_p90": round(float(high), 2), "no_finite_temperature": round(failed / repeats, 3)}


def main() -> None:
    """Print one line per study count."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=400)
    parser.add_argument("--seed", type=int, default=0)
    arguments = parser.parse_args()
    rng = np.random.default_rng(arguments.seed)
    for count in COUNTS:
        print(spread(count, arguments.repeats, rng))


if __name__ == "__main__":
    main()
