"""Out-of-distribution and view checks measured: real films, synthetic films, constructed cases, constructed laterals.

Every image goes the way an upload goes (PNG/JPEG bytes -> ``decode_image`` -> ``Bundle.prepare``) and is judged
by ``cxrmodel.imaging.check_distribution`` against the bundle's reference image (which runs the view check,
``cxrmodel.imaging.check_view``, too). The sets, each split into a **calibration** part (the thresholds were set
on it) and a **held-out** part (only reported):

* real frontal films: the 1,000 NIH ChestX-ray14 films of ``shared/data/nih-chestxray14-64px`` (64 px, read in
  place, never copied): ``train`` = calibration, ``valid`` + ``test`` = held out; a few held-out films also
  upscaled to 5000 x 5000 (issue #17's upload);
* synthetic films, which the demo model was trained on: fresh studies of a calibration seed and of a held-out
  seed (neither the demo's seed 2019), the held-out ones also shrunk to 64 px first (a control: the real films
  must not be flagged for their resolution), and the 32 demo studies (held out);
* constructed out-of-distribution cases built from one fresh normal phantom (or from nothing);
* constructed laterals from the geometric model ``cxrmodel.data.synthetic.lateral`` (no real lateral film is
  available): calibration seeds 0-99, held-out seeds 1000-1199, and a few held-out ones at other sizes.

Prints Markdown tables (the distribution check: set, n, flagged, rate, similarity; the constructed cases; the
view check: set, n, refused as lateral, rate, view score) and the calibration gaps the thresholds come from
(``-v`` logs every flagged image's reasons); never runs the model. About 2-3 minutes on 2 cores.

Usage: .venv/bin/python benchmarks/distribution_check_cases.py [--model models/demo] [--studies studies/demo]
       [--nih ../shared/data/nih-chestxray14-64px] [--count 400] [--seed 777] [--held-out-seed 2024] [-v]
"""

from __future__ import annotations

import argparse
import io
import logging
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cxrmodel.data.synthetic.lateral import lateral_chest  # noqa: E402
from cxrmodel.data.synthetic.studies import render_study, sample_study_spec  # noqa: E402
from cxrmodel.imaging import (  # noqa: E402
    DistributionCheck,
    check_distribution,
    decode_image,
)
from cxrmodel.imaging.distribution import SIMILARITY_THRESHOLD  # noqa: E402
from cxrmodel.imaging.view import LATERAL_THRESHOLD  # noqa: E402
from cxrmodel.modeling import Bundle, load_bundle  # noqa: E402

logger = logging.getLogger(__name__)

CASE_SEED = 11
DEFAULT_NIH = ROOT.parent / "shared" / "data" / "nih-chestxray14-64px"
LATERAL_CALIBRATION_SEEDS = range(0, 100)
LATERAL_HELD_OUT_SEEDS = range(1000, 1200)
LATERAL_OTHER_SIZES = ((1024, 1024), (1800, 2200), (2500, 2048), (640, 800), (300, 300))
"""(width, height) of the held-out laterals drawn at other sizes (seeds 2000, 2001, ...)."""


def png_bytes(pixels: np.ndarray) -> bytes:
    """(h, w) float in [0, 1] or uint8 -> 8-bit grayscale PNG bytes."""
    array = pixels if pixels.dtype == np.uint8 else np.clip(np.rint(pixels * 255.0), 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, "PNG")
    return buffer.getvalue()


def _resized(pixels: np.ndarray, width: int, height: int) -> np.ndarray:
    image = Image.fromarray(np.clip(np.rint(pixels * 255.0), 0, 255).astype(np.uint8))
    return np.asarray(image.resize((width, height), Image.Resampling.BILINEAR), np.float64) / 255.0


def photograph_stand_in() -> bytes:
    """A colour 'photograph': smooth sky-to-ground gradient with a few coloured shapes, as a JPEG (640 x 480)."""
    rows, columns = np.mgrid[0:480, 0:640] / 480.0
    rgb = np.stack([0.3 + 0.4 * columns / 1.33, 0.5 + 0.3 * rows, 0.8 - 0.4 * rows], axis=-1)
    image = Image.fromarray((np.clip(rgb, 0, 1) * 255).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    draw.ellipse((100, 150, 300, 400), fill=(200, 60, 40))
    draw.rectangle((380, 250, 560, 470), fill=(40, 120, 30))
    draw.ellipse((420, 40, 520, 140), fill=(250, 230, 80))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def lateral_silhouette(width: int = 480, height: int = 512, seed: int = 1) -> np.ndarray:
    """A crude lateral chest view: oval trunk, one big lung field, heart in front, spine at the back."""
    rows, columns = np.mgrid[0:height, 0:width].astype(np.float64)
    image = np.zeros((height, width))
    body = ((columns - 240) / 170) ** 2 + ((rows - 300) / 260) ** 2 < 1
    image[body] = 0.75
    image[((columns - 230) / 110) ** 2 + ((rows - 230) / 150) ** 2 < 1] = 0.35
    image[(columns > 330) & (columns < 370) & body] = 0.9
    image[((columns - 170) / 70) ** 2 + ((rows - 320) / 80) ** 2 < 1] = 0.65
    noise = np.random.default_rng(seed).normal(0.0, 0.02, image.shape)
    return np.clip(ndimage.gaussian_filter(image, 4) + noise, 0.0, 1.0)


def out_of_distribution_cases(frontal: np.ndarray) -> dict[str, bytes]:
    """Constructed out-of-distribution uploads (name -> file bytes) from one normal frontal phantom in [0, 1]."""
    height, width = frontal.shape
    return {
        "blank black": png_bytes(np.zeros((height, width))),
        "blank white": png_bytes(np.ones((height, width))),
        "uniform noise": png_bytes(np.random.default_rng(0).random((height, width))),
        "lateral-like: frontal turned 90 degrees": png_bytes(np.rot90(frontal).copy()),
        "lateral-like: crude lateral silhouette": png_bytes(lateral_silhouette(width, height)),
        "lateral: geometric lateral model (seed 5000)": png_bytes(lateral_chest(width, height, 5000)),
        "lateral-like: frontal squashed to 40 % width": png_bytes(_resized(frontal, int(width * 0.4), height)),
        "one half of the film": png_bytes(frontal[:, : width // 2].copy()),
        "colour photograph stand-in (JPEG)": photograph_stand_in(),
        "upside-down chest": png_bytes(frontal[::-1].copy()),
        "zoom on one lung": png_bytes(_resized(frontal[100:350, 40:230], width, height)),
        "inverted polarity (white lungs)": png_bytes(1.0 - frontal),
        "washed-out film (0.6 + 0.3 x)": png_bytes(0.6 + 0.3 * frontal),
        "over-darkened film (x ** 3)": png_bytes(frontal**3),
    }


def judge(bundle: Bundle, data: bytes) -> DistributionCheck:
    """The check on an upload's bytes, exactly as the dashboard runs it."""
    prepared = bundle.prepare(decode_image(data).pixels, "")
    return check_distribution(prepared.model_image, prepared.mapping, bundle.image_baseline)


def _synthetic_pixels(number: int, seed: int) -> np.ndarray:
    return render_study(sample_study_spec(number, seed), seed).phantom.image


def synthetic_study_bytes(count: int, seed: int, first_number: int = 1, workers: int = 1,
                          shrink_to: int | None = None) -> list[bytes]:
    """PNG bytes of ``count`` fresh synthetic studies (as ``python -m cxrmodel synthetic`` renders them).

    Args:
        shrink_to: When given, each film is first box-averaged so that its longer side has this many pixels
            (the resolution of the real NIH films, for the control row).
    """
    numbers = range(first_number, first_number + count)
    if workers > 1:
        with ProcessPoolExecutor(workers) as pool:
            images = list(pool.map(_synthetic_pixels, numbers, [seed] * count, chunksize=8))
    else:
        images = [_synthetic_pixels(number, seed) for number in numbers]
    if shrink_to:
        images = [_shrunk(image, shrink_to) for image in images]
    return [png_bytes(image) for image in images]


def _shrunk(image: np.ndarray, longest: int) -> np.ndarray:
    height, width = image.shape
    scale = longest / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return np.asarray(Image.fromarray(image).resize(size, Image.Resampling.BOX))


def normal_frontal(seed: int = CASE_SEED) -> np.ndarray:
    """One normal phantom (480 x 512) in [0, 1], the raw material of the constructed cases."""
    return render_study(sample_study_spec(5, seed, findings=[]), seed).phantom.image.astype(np.float64) / 255.0


def nih_films(root: Path, splits: tuple[str, ...]) -> list[Path]:
    """The NIH ChestX-ray14 64 px films of the given splits (both labels), sorted."""
    return sorted(path for split in splits for path in (root / split).glob("*/*.png"))


def upscaled_bytes(path: Path, side: int) -> bytes:
    """A 64 px NIH film upscaled (bicubic) to ``side`` x ``side`` and re-encoded, like issue #17's large upload."""
    with Image.open(path) as image:
        gray = image.convert("L").resize((side, side), Image.Resampling.BICUBIC)
    buffer = io.BytesIO()
    gray.save(buffer, "PNG", compress_level=1)
    return buffer.getvalue()


CHECK_NAMES = {
    "no_reference": "no reference",
    "elongated": "elongated",
    "blank": "blank",
    "lateral": "lateral (refused)",
    "inverted": "inverted",
    "upside_down": "upside down",
    "rotated": "rotated",
    "unlike_training": "unlike the training films",
    "grey_levels": "grey levels",
    "contrast": "contrast",
}
"""``DistributionCheck.failed`` entries -> short names for the tables."""


def failed_checks(check: DistributionCheck) -> str:
    """Short names of the failed checks, e.g. ``"unlike the training films, contrast"``."""
    return ", ".join(CHECK_NAMES[name] for name in check.failed)


@dataclass
class Row:
    """One measured set."""

    name: str
    part: str
    checks: list[DistributionCheck]


def _stats(values: list[float]) -> str:
    finite = [value for value in values if np.isfinite(value)]
    if not finite:
        return "n/a"
    return f"{min(finite):.3f} / {statistics.median(finite):.3f} / {max(finite):.3f}"


def distribution_table(rows: list[Row]) -> list[str]:
    """Markdown: set, part, n, flagged, rate, similarity min / median / max."""
    lines = ["| set | part | n | flagged | rate | similarity min / median / max |", "|---|---|---|---|---|---|"]
    for row in rows:
        flagged = sum(check.in_distribution is False for check in row.checks)
        lines.append(f"| {row.name} | {row.part} | {len(row.checks)} | {flagged} | "
                     f"{100.0 * flagged / len(row.checks):.1f} % | {_stats([c.score for c in row.checks])} |")
    return lines


def view_table(rows: list[Row]) -> list[str]:
    """Markdown: set, part, n, refused as lateral, rate, view score min / median / max."""
    lines = ["| set | part | n | refused as lateral | rate | view score min / median / max |",
             "|---|---|---|---|---|---|"]
    for row in rows:
        refused = sum(check.refuse for check in row.checks)
        scores = [check.view.score if check.view is not None else float("nan") for check in row.checks]
        lines.append(f"| {row.name} | {row.part} | {len(row.checks)} | {refused} | "
                     f"{100.0 * refused / len(row.checks):.1f} % | {_stats(scores)} |")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=ROOT / "models" / "demo")
    parser.add_argument("--studies", type=Path, default=ROOT / "studies" / "demo")
    parser.add_argument("--nih", type=Path, default=DEFAULT_NIH, help="the 64 px NIH ChestX-ray14 folder")
    parser.add_argument("--count", type=int, default=400, help="fresh synthetic studies per seed")
    parser.add_argument("--seed", type=int, default=777, help="seed of the calibration synthetic studies")
    parser.add_argument("--held-out-seed", type=int, default=2024, help="seed of the held-out synthetic studies")
    parser.add_argument("--upscaled", type=int, default=4, help="held-out NIH films also judged at 5000 x 5000")
    parser.add_argument("--workers", type=int, default=2, help="processes rendering synthetic studies")
    parser.add_argument("--verbose", "-v", action="store_true", help="log every flagged image's reasons")
    arguments = parser.parse_args()
    logging.basicConfig(level=logging.INFO if arguments.verbose else logging.WARNING, format="%(message)s")
    started = time.perf_counter()

    bundle = load_bundle(arguments.model, load_model=False)
    if not arguments.nih.is_dir():
        print(f"NIH films not found at {arguments.nih} (see its README: read in place, never copied)")
        return 1

    def judged(items: list[bytes]) -> list[DistributionCheck]:
        return [judge(bundle, data) for data in items]

    nih_calibration = judged([path.read_bytes() for path in nih_films(arguments.nih, ("train",))])
    held_out_paths = nih_films(arguments.nih, ("valid", "test"))
    nih_held_out = judged([path.read_bytes() for path in held_out_paths])
    step = max(1, len(held_out_paths) // max(1, arguments.upscaled))
    nih_upscaled = judged([upscaled_bytes(path, 5000) for path in held_out_paths[::step][: arguments.upscaled]])
    demo = judged([path.read_bytes() for path in sorted((arguments.studies / "NLMCXR_png").glob("*.png"))])
    synthetic_calibration = judged(synthetic_study_bytes(arguments.count, arguments.seed, workers=arguments.workers))
    synthetic_held_out = judged(synthetic_study_bytes(arguments.count, arguments.held_out_seed,
                                                      workers=arguments.workers))
    synthetic_small = judged(synthetic_study_bytes(arguments.count, arguments.held_out_seed,
                                                   workers=arguments.workers, shrink_to=64))
    lateral_calibration = judged([png_bytes(lateral_chest(480, 512, seed)) for seed in LATERAL_CALIBRATION_SEEDS])
    lateral_held_out = judged([png_bytes(lateral_chest(480, 512, seed)) for seed in LATERAL_HELD_OUT_SEEDS])
    lateral_sizes = judged([png_bytes(lateral_chest(width, height, 2000 + index))
                            for index, (width, height) in enumerate(LATERAL_OTHER_SIZES)])
    cases = {name: judge(bundle, data) for name, data in out_of_distribution_cases(normal_frontal()).items()}

    real = [Row("NIH ChestX-ray14, train (real frontal, 64 px)", "calibration", nih_calibration),
            Row("NIH ChestX-ray14, valid + test (real frontal, 64 px)", "held out", nih_held_out),
            Row(f"NIH held-out films upscaled to 5000 x 5000 (every {step}th)", "held out", nih_upscaled)]
    synthetic = [Row(f"synthetic studies, seed {arguments.seed}", "calibration", synthetic_calibration),
                 Row(f"synthetic studies, seed {arguments.held_out_seed}", "held out", synthetic_held_out),
                 Row(f"synthetic studies, seed {arguments.held_out_seed}, shrunk to 64 px (control)", "held out",
                     synthetic_small),
                 Row("demo studies", "held out", demo)]
    laterals = [Row("constructed laterals, seeds 0-99", "calibration", lateral_calibration),
                Row("constructed laterals, seeds 1000-1199", "held out", lateral_held_out),
                Row(f"constructed laterals at other sizes ({len(LATERAL_OTHER_SIZES)})", "held out", lateral_sizes)]

    print(f"# distribution check, {time.strftime('%Y-%m-%d')}, bundle {arguments.model.name} "
          f"({bundle.config.image_size} px grid)\n")
    print("## Distribution check (flagged = in_distribution false)\n")
    print("\n".join(distribution_table(real + synthetic)))
    print("\n## Constructed out-of-distribution cases\n")
    print("| case | similarity | flagged | refused | failed checks |")
    print("|---|---|---|---|---|")
    for name, check in cases.items():
        flagged = "yes" if check.in_distribution is False else "**no**"
        print(f"| {name} | {check.score:.3f} | {flagged} | {'yes' if check.refuse else 'no'} | "
              f"{failed_checks(check)} |")
    print("\n## View check (refused = judged a lateral view)\n")
    print("\n".join(view_table(real + synthetic + laterals)))

    def similarity(checks: list[DistributionCheck]) -> list[float]:
        return [check.score for check in checks]

    def view(checks: list[DistributionCheck]) -> list[float]:
        return [check.view.score for check in checks if check.view is not None]

    real_top, synthetic_low = max(similarity(nih_calibration)), min(similarity(synthetic_calibration))
    frontal_low, lateral_top = min(view(nih_calibration)), max(view(lateral_calibration))
    print("\n## Calibration gaps\n")
    print(f"similarity: NIH train at most {real_top:.3f}, synthetic seed {arguments.seed} at least "
          f"{synthetic_low:.3f}: middle {(real_top + synthetic_low) / 2:.3f} (SIMILARITY_THRESHOLD "
          f"{SIMILARITY_THRESHOLD})")
    print(f"view score: NIH train at least {frontal_low:.3f}, constructed laterals (calibration) at most "
          f"{lateral_top:.3f}: middle {(frontal_low + lateral_top) / 2:.3f} (LATERAL_THRESHOLD {LATERAL_THRESHOLD})")

    in_distribution = synthetic_calibration + synthetic_held_out + synthetic_small + demo
    false_alarms = sum(check.in_distribution is False for check in in_distribution)
    frontal = nih_calibration + nih_held_out + nih_upscaled + in_distribution
    false_refusals = sum(check.refuse for check in frontal)
    lateral = lateral_calibration + lateral_held_out + lateral_sizes
    print(f"\nfalse alarms: {false_alarms} / {len(in_distribution)} synthetic films; real films flagged: "
          f"{sum(c.in_distribution is False for c in nih_calibration + nih_held_out)} / 1000; constructed cases "
          f"flagged: {sum(c.in_distribution is False for c in cases.values())} / {len(cases)}; frontal films "
          f"refused as lateral: {false_refusals} / {len(frontal)}; constructed laterals refused: "
          f"{sum(c.refuse for c in lateral)} / {len(lateral)}; {time.perf_counter() - started:.0f} s")
    for name, checks in (("NIH", nih_calibration + nih_held_out), ("synthetic", in_distribution),
                         ("lateral", lateral)):
        for index, check in enumerate(checks):
            if check.in_distribution is False:
                logger.info("%s %d: %s", name, index, "; ".join(check.reasons))
    for name, check in cases.items():
        logger.info("%s: %s", name, "; ".join(check.reasons))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
