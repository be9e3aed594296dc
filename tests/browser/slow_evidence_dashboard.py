"""The dashboard with the deletion evidence held back, for browser tests of what the page shows while the evidence
is still being computed (test-only: nothing in app.py or components knows about the delay).

    python -m tests.browser.slow_evidence_dashboard --evidence-delay-s 6 [app.py arguments]

runs ``app.main`` with :meth:`cxrmodel.explain.StudyExplainer.evidence` waiting ``--evidence-delay-s`` seconds
before it computes. Pass ``--no-model-worker``: the explanation jobs then compute in processes forked from this
one, which carry the delay (a model worker is a fresh interpreter and would not).
"""

from __future__ import annotations

import argparse
import functools
import time

import app as dashboard
from cxrmodel.explain import StudyExplainer


def main(argv: list[str] | None = None) -> int:
    """``--evidence-delay-s`` for this wrapper; every other argument goes to ``app.main``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--evidence-delay-s", type=float, required=True, help="added to every evidence computation")
    arguments, rest = parser.parse_known_args(argv)
    if not 0 <= arguments.evidence_delay_s <= 120:
        parser.error(f"--evidence-delay-s must be between 0 and 120, got {arguments.evidence_delay_s}")
    original = StudyExplainer.evidence

    @functools.wraps(original)
    def held_back(self, *args, **kwargs):
        time.sleep(arguments.evidence_delay_s)
        return original(self, *args, **kwargs)

    StudyExplainer.evidence = held_back
    return dashboard.main(rest)


if __name__ == "__main__":
    raise SystemExit(main())
