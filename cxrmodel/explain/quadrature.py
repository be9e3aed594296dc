"""Quadrature rules for integrated gradients: where on the path to take gradients, and how to weight them.

Integrated gradients needs the path integral ``∫_0^1 ∂F/∂x(x′ + α (x − x′)) dα``. Every rule here turns it
into a weighted sum ``Σ_k w_k ∂F/∂x(x′ + α_k (x − x′))`` with nodes ``α_k`` in [0, 1] and weights that sum
to 1 (so a constant gradient is integrated exactly).

Convention: ``steps`` is always the number of nodes, i.e. the number of gradient evaluations the rule costs
(as in Captum). For ``riemann_trapezoid`` that means ``steps - 1`` intervals.

=================  ======================================  =======================  =====================
rule               nodes α_k                               weights w_k              nodes nest when the
                                                                                    step count doubles
=================  ======================================  =======================  =====================
riemann_left       k / n,          k = 0 .. n−1            1 / n                    yes
riemann_right      k / n,          k = 1 .. n              1 / n                    yes
riemann_midpoint   (k + ½) / n,    k = 0 .. n−1            1 / n                    no
riemann_trapezoid  k / (n−1),      k = 0 .. n−1 (n ≥ 2)    1/(n−1), halved at ends  yes (intervals double)
gausslegendre      (t_k + 1) / 2,  t_k the roots of P_n    leggauss weights / 2     no
=================  ======================================  =======================  =====================

Gauss–Legendre with ``n`` nodes integrates polynomials of degree ``2n − 1`` exactly; on the smooth pieces of a
ReLU network's path it converges much faster than the Riemann rules (first/second order).
"""

from __future__ import annotations

import numpy as np
from numpy.polynomial.legendre import leggauss

METHODS = ("riemann_trapezoid", "riemann_midpoint", "riemann_left", "riemann_right", "gausslegendre")
"""Names of the supported integration rules."""

NESTED_METHODS = frozenset({"riemann_left", "riemann_right", "riemann_trapezoid"})
"""Rules whose nodes at the next :func:`auto_step_ladder` level include every node of the previous one."""

FIRST_AUTO_STEPS = 8
"""Step count of the first level of ``steps="auto"``."""


def _check_method(method: str) -> None:
    if method not in METHODS:
        raise ValueError(f"unknown integration method {method!r}; choose one of {', '.join(METHODS)}")


def minimum_steps(method: str) -> int:
    """Fewest nodes the rule accepts (2 for the trapezoid rule, which needs both ends; 1 otherwise)."""
    _check_method(method)
    return 2 if method == "riemann_trapezoid" else 1


def integration_rule(method: str, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights of one quadrature rule on [0, 1].

    Args:
        method: One of :data:`METHODS`.
        steps: Number of nodes (gradient evaluations), at least :func:`minimum_steps`.

    Returns:
        ``(alphas, weights)``, both float64 arrays of shape ``(steps,)``; ``alphas`` ascending in [0, 1],
        ``weights`` positive and summing to 1.

    Raises:
        ValueError: For an unknown method or too few steps.
    """
    _check_method(method)
    steps = int(steps)
    if steps < minimum_steps(method):
        raise ValueError(f"{method} needs at least {minimum_steps(method)} steps, got {steps}")
    if method == "gausslegendre":
        roots, legendre_weights = leggauss(steps)
        return (roots + 1.0) / 2.0, legendre_weights / 2.0
    if method == "riemann_trapezoid":
        intervals = steps - 1
        alphas = np.arange(steps, dtype=np.float64) / intervals
        weights = np.full(steps, 1.0 / intervals)
        weights[[0, -1]] /= 2.0
        return alphas, weights
    offsets = {"riemann_left": 0.0, "riemann_right": 1.0, "riemann_midpoint": 0.5}
    alphas = (np.arange(steps, dtype=np.float64) + offsets[method]) / steps
    return alphas, np.full(steps, 1.0 / steps)


def next_auto_steps(method: str, previous_steps: int | None, max_steps: int = 128) -> int | None:
    """The step count of the next level of ``steps="auto"``.

    The count doubles from level to level, starting at :data:`FIRST_AUTO_STEPS`; for the trapezoid rule the
    number of *intervals* doubles (9, 17, 33, ... nodes) so that every level reuses all nodes of the previous
    one. The last level is ``max_steps`` when doubling would overshoot it. (``IntegratedGradientsExplainer``
    uses this ladder for every rule but the trapezoid rule, whose ``steps="auto"`` refines intervals
    adaptively instead.)

    Args:
        method: One of :data:`METHODS`.
        previous_steps: Step count of the level just evaluated, or ``None`` for the first level.
        max_steps: Cap on the step count (inclusive).

    Returns:
        The next step count, or ``None`` when ``previous_steps`` already reached ``max_steps``.

    Raises:
        ValueError: For an unknown method or a ``max_steps`` below :func:`minimum_steps`.
    """
    _check_method(method)
    if max_steps < minimum_steps(method):
        raise ValueError(f"{method} needs max_steps >= {minimum_steps(method)}, got {max_steps}")
    trapezoid = method == "riemann_trapezoid"
    if previous_steps is None:
        proposed = FIRST_AUTO_STEPS + (1 if trapezoid else 0)
    elif previous_steps >= max_steps:
        return None
    else:
        proposed = 2 * previous_steps - 1 if trapezoid else 2 * previous_steps
    return max(minimum_steps(method), min(proposed, max_steps))
