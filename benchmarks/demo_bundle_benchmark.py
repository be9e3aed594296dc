"""How long the demo bundle takes to load and to predict every demo study, against baselines in the same run.

Each measurement runs in a fresh Python process (so nothing is warm), three times; medians are printed.
Baseline: the same fresh process that only imports Keras/TensorFlow, which every model load pays first.

Usage: .venv/bin/python benchmarks/demo_bundle_benchmark.py [--model models/demo] [--studies studies/demo]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

IMPORT_ONLY = """
import time, json
started = time.perf_counter()
import keras
print(json.dumps({"seconds": time.perf_counter() - started}))
"""

LOAD_AND_PREDICT = """
import time, json, sys
started = time.perf_counter()
from cxrmodel.modeling import load_bundle
bundle = load_bundle(sys.argv[1])
loaded = time.perf_counter()
from cxrmodel.data import StudyCollection
from cxrmodel.imaging import decode_image_file
collection = StudyCollection.from_folder(sys.argv[2])
prepared = [bundle.prepare(decode_image_file(s.image_paths[0]).pixels, s.report_text)
            for s in collection.studies.values()]
bundle.predict_studies(prepared)
print(json.dumps({"load": loaded - started, "predict": time.perf_counter() - loaded, "studies": len(prepared)}))
"""


def _run(code: str, *arguments: str) -> dict:
    output = subprocess.run(
        [sys.executable, "-c", code, *arguments], cwd=ROOT, capture_output=True, text=True, check=True,
        env={"TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )
    return json.loads(output.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default=str(ROOT / "models" / "demo"))
    parser.add_argument("--studies", default=str(ROOT / "studies" / "demo"))
    parser.add_argument("--repeats", type=int, default=3)
    arguments = parser.parse_args()
    imports = [_run(IMPORT_ONLY)["seconds"] for _ in range(arguments.repeats)]
    runs = [_run(LOAD_AND_PREDICT, arguments.model, arguments.studies) for _ in range(arguments.repeats)]
    import_median = statistics.median(imports)
    load_median = statistics.median(run["load"] for run in runs)
    predict_median = statistics.median(run["predict"] for run in runs)
    print("| measurement (fresh process, median of %d) | seconds | ratio to importing Keras |" % arguments.repeats)
    print("|---|---|---|")
    print(f"| import keras (baseline) | {import_median:.2f} | 1.00 |")
    print(f"| load_bundle(models/demo), imports included | {load_median:.2f} | {load_median / import_median:.2f} |")
    print(f"| decode + prepare + predict {runs[0]['studies']} demo studies | {predict_median:.2f} | "
          f"{predict_median / import_median:.2f} |")


if __name__ == "__main__":
    main()
