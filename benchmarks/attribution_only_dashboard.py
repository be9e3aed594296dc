"""The dashboard with no deletion evidence at all: the baseline "attribution-only path" of
benchmarks/phases_browser_benchmark.py (benchmark-only: nothing in app.py or components knows about it).

    python -m benchmarks.attribution_only_dashboard [app.py arguments]

runs ``app.main`` with every :class:`cxrmodel.explain.StudyExplainer` built without evidence. The web process's
explainer decides the explanation job's phases (components.explanation_progress.explain_in_phases), and the job
processes are forked from it, so the job stops after the circles and never asks the model worker for evidence.
"""

from __future__ import annotations

import functools

import app as dashboard
from cxrmodel.explain import StudyExplainer


def main(argv: list[str] | None = None) -> int:
    """``app.main`` with explainers that compute no evidence."""
    original = StudyExplainer.__init__

    @functools.wraps(original)
    def without_evidence(self, *args, **kwargs):
        kwargs["with_evidence"] = False
        original(self, *args, **kwargs)

    StudyExplainer.__init__ = without_evidence
    return dashboard.main(argv)


if __name__ == "__main__":
    raise SystemExit(main())
