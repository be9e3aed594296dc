"""A bundle trained on real films accepts its own held-out films and still flags phantoms and odd inputs.

    .venv/bin/python benchmarks/trust_profile_own_films.py [--work /tmp/own-films] [--bundle EXISTING]
                                                           [--count 400] [--phantom-seed 4242] [--epochs 8]

1. The 1,000 real NIH films (64 px) are arranged in the OpenI layout, each paired with a real IU report
   (``benchmarks/own_films_folder.py``; the films are linked, never copied) and ``python -m cxrmodel train`` trains
   a bundle on them (64 px grid, compact backbone); ``train`` fits the bundle's trust profile on its training
   films and checks it on its validation films (``--bundle`` reuses a bundle trained so).
2. Judged as an upload is (file bytes -> ``decode_image`` -> ``Bundle.prepare`` -> ``Bundle.check_distribution``),
   with that bundle's own profile: its **held-out** films (the test split ``train`` drew, which neither the
   model nor the profile saw), ``--count`` fresh phantoms of a seed no calibration used, and the constructed
   out-of-distribution cases of ``benchmarks/distribution_check_cases.py``.
3. The demo bundle, with its built-in limits, on all 1,000 NIH films and on the 32 demo studies (its numbers
   must not move).

Prints Markdown tables and one line per acceptance target (held-out films accepted >= 95 %, phantoms flagged
>= 99 %, every constructed case flagged, demo: 1,000 of 1,000 NIH films flagged and no demo study flagged).
About 3-4 minutes on 2 cores (the training is about 100 s of it).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from distribution_check_cases import (  # noqa: E402
    DEFAULT_NIH,
    nih_films,
    normal_frontal,
    out_of_distribution_cases,
    synthetic_study_bytes,
)
from own_films_folder import DEFAULT_REPORTS, build_folder  # noqa: E402

from cxrmodel.imaging import DistributionCheck, decode_image  # noqa: E402
from cxrmodel.modeling import Bundle, load_bundle  # noqa: E402
from cxrmodel.training.target import holdout_split  # noqa: E402
from cxrmodel.training.target_data import load_target_dataset  # noqa: E402


def judge(bundle: Bundle, data: bytes) -> DistributionCheck:
    """The check on an upload's bytes, as the dashboard and the explanation document run it."""
    return bundle.check_distribution(bundle.prepare(decode_image(data).pixels, ""))


def train_bundle(work: Path, epochs: int) -> Path:
    """Build the folder and train the bundle with the project's own command; returns the bundle folder."""
    folder, bundle = work / "studies", work / "bundle"
    build_folder(folder, DEFAULT_NIH, DEFAULT_REPORTS, ("train", "valid", "test"))
    command = [sys.executable, "-m", "cxrmodel", "train", "--studies", str(folder), "--output", str(bundle),
               "--image-size", "64", "--epochs", str(epochs), "--seed", "2019"]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return bundle


def held_out_films(bundle: Bundle, studies: Path) -> list[Path]:
    """The image files of the test split ``train`` drew for this bundle (its card's settings)."""
    settings = bundle.card["settings"]
    dataset = load_target_dataset(studies)
    _, _, test = holdout_split(dataset.labels, settings["validation_fraction"], settings["test_fraction"],
                               settings["seed"])
    return [dataset.studies[index].image_path for index in test]


def rate_line(name: str, checks: list[DistributionCheck], counted: str) -> str:
    """A table row: set, n, accepted, flagged, rate of ``counted`` ("accepted" or "flagged"), failed checks."""
    accepted = sum(check.in_distribution is True for check in checks)
    flagged = sum(check.in_distribution is False for check in checks)
    rate = (accepted if counted == "accepted" else flagged) / len(checks)
    kinds = Counter(kind for check in checks for kind in check.failed)
    return (f"| {name} | {len(checks)} | {accepted} | {flagged} | {100 * rate:.1f} % {counted} | "
            f"{', '.join(f'{kind} {count}' for kind, count in kinds.most_common()) or '-'} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/own-films-benchmark"))
    parser.add_argument("--bundle", type=Path, default=None, help="a bundle already trained on --work/studies")
    parser.add_argument("--count", type=int, default=400, help="fresh phantoms")
    parser.add_argument("--phantom-seed", type=int, default=4242)
    parser.add_argument("--epochs", type=int, default=8)
    arguments = parser.parse_args()
    started = time.perf_counter()
    if not DEFAULT_NIH.is_dir() or not DEFAULT_REPORTS.is_file():
        print(f"needs the NIH films at {DEFAULT_NIH} and the IU reports at {DEFAULT_REPORTS} "
              "(python -m cxrmodel data fetch-openi-reports)")
        return 1
    bundle_folder = arguments.bundle or train_bundle(arguments.work, arguments.epochs)
    trained_seconds = time.perf_counter() - started
    bundle = load_bundle(bundle_folder, load_model=False)
    if bundle.trust_profile is None:
        print(f"{bundle_folder} has no trust profile: {bundle.card.get('trust_profile')}")
        return 1
    held_out = [judge(bundle, path.read_bytes()) for path in held_out_films(bundle, arguments.work / "studies")]
    phantoms = [judge(bundle, data) for data in synthetic_study_bytes(arguments.count, arguments.phantom_seed,
                                                                      workers=2)]
    cases = {name: judge(bundle, data) for name, data in out_of_distribution_cases(normal_frontal()).items()}

    demo = load_bundle(ROOT / "models" / "demo", load_model=False)
    demo_nih = [judge(demo, path.read_bytes()) for path in nih_films(DEFAULT_NIH, ("train", "valid", "test"))]
    demo_studies = [judge(demo, path.read_bytes())
                    for path in sorted((ROOT / "studies" / "demo" / "NLMCXR_png").glob("*.png"))]

    profile = bundle.trust_profile.to_dict()
    print(f"# trust profile of a bundle trained on real films, {time.strftime('%Y-%m-%d')}\n")
    print(f"bundle {bundle_folder} ({bundle.config.image_size} px grid), trained in {trained_seconds:.0f} s; profile "
          f"counts {json.dumps(profile['counts'])}, thresholds {json.dumps(profile['thresholds'])}\n")
    print("| films | n | accepted | flagged | rate | failed checks |\n|---|---|---|---|---|---|")
    print(rate_line("own bundle: its held-out real films (test split)", held_out, "accepted"))
    print(rate_line(f"own bundle: fresh phantoms, seed {arguments.phantom_seed}", phantoms, "flagged"))
    print(rate_line("own bundle: constructed cases", list(cases.values()), "flagged"))
    print(rate_line("demo bundle (built-in limits): the 1,000 NIH films", demo_nih, "flagged"))
    print(rate_line("demo bundle (built-in limits): the 32 demo studies", demo_studies, "accepted"))
    print("\n| constructed case | flagged | failed checks |\n|---|---|---|")
    for name, check in cases.items():
        print(f"| {name} | {'yes' if check.in_distribution is False else '**no**'} | {', '.join(check.failed)} |")

    def share(checks, value):
        return sum(check.in_distribution is value for check in checks) / len(checks)

    targets = [
        ("own held-out real films accepted >= 95 %", share(held_out, True) >= 0.95),
        ("fresh phantoms flagged >= 99 %", share(phantoms, False) >= 0.99),
        ("every constructed case flagged", share(list(cases.values()), False) == 1.0),
        ("demo: 1,000 of 1,000 NIH films flagged", share(demo_nih, False) == 1.0),
        ("demo: no demo study flagged", share(demo_studies, False) == 0.0),
    ]
    print()
    for name, met in targets:
        print(f"{'met' if met else 'NOT MET'}: {name}")
    print(f"\n{time.perf_counter() - started:.0f} s")
    return 0 if all(met for _, met in targets) else 1


if __name__ == "__main__":
    raise SystemExit(main())
