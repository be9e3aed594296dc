"""The dashboard with a stability check that cannot converge, for the browser test of how the page says so
(test-only: nothing in app.py or components knows about it).

    python -m tests.browser.unconverged_stability_dashboard [app.py arguments]

runs ``app.main`` with :meth:`cxrmodel.explain.StudyExplainer.stability` integrating both of its explanations with
two fixed steps instead of the adaptive rule: a real computation whose completeness error is far above the target,
so the check did not converge. The check runs in a background job forked from this process (and reads the cache
here), so both carry it.
"""

from __future__ import annotations

import dataclasses
import functools

import app as dashboard
from cxrmodel.explain import StudyExplainer

STEPS = 2


def main(argv: list[str] | None = None) -> int:
    """``app.main`` with a two-step stability check."""
    original = StudyExplainer.stability

    @functools.wraps(original)
    def two_steps(self, image_bytes, report_text, settings, **keywords):
        return original(self, image_bytes, report_text, dataclasses.replace(settings, steps=STEPS), **keywords)

    StudyExplainer.stability = two_steps
    return dashboard.main(argv)


if __name__ == "__main__":
    raise SystemExit(main())
