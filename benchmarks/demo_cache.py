"""The explanation cache the serving benchmarks open studies from: the demo studies explained once, evidence and all.

Shared by benchmarks/study_open_benchmark.py, cached_open_browser_benchmark.py and load_benchmark.py (a dashboard on
``CACHE/explanations`` finds them cached). Each is explained in this process, skipped when its explanation is
already complete there (``--cache-dir`` keeps it between runs).
"""

from __future__ import annotations

import time
from pathlib import Path


def explain_demo_studies(model: Path, studies: Path, cache: Path, limit: int) -> tuple[list[str], float]:
    """Explain the first ``limit`` studies of ``studies`` (list order) into ``cache / "explanations"``, with all
    their deletion evidence (a stored view needs it complete). Returns (their ids, seconds it took)."""
    from cxrmodel.data import StudyCollection  # noqa: PLC0415 - TensorFlow only when a study must be explained
    from cxrmodel.explain import ExplanationCache, ExplanationSettings, StudyExplainer  # noqa: PLC0415
    from cxrmodel.modeling import load_bundle  # noqa: PLC0415

    collection = StudyCollection.from_folder(studies)
    study_ids = [summary.study_id for summary in collection.summaries()][:limit]
    explainer = StudyExplainer(load_bundle(model, load_model=False), ExplanationCache(cache / "explanations"))
    settings = ExplanationSettings()
    started = time.perf_counter()
    for study_id in study_ids:
        image_bytes = collection.image_path(study_id).read_bytes()
        report = collection.get(study_id).report_text
        if not explainer.is_complete(image_bytes, report, settings):
            explainer.attribute(image_bytes, report, settings)
    return study_ids, time.perf_counter() - started
