"""Out-of-distribution check measured: false alarms on in-distribution films, detections on constructed cases.

Every image goes the way an upload goes (PNG/JPEG bytes -> ``decode_image`` -> ``Bundle.prepare``) and is
judged by ``cxrmodel.imaging.distribution.check_distribution`` against the bundle's reference image. In
distribution: the demo studies and freshly rendered synthetic studies (the generator behind
``python -m cxrmodel synthetic``). Out of distribution: constructed cases built from one fresh normal phantom
(or from nothing). Prints a Markdown table (case, score, flagged, failed checks) and the counts (``-v`` logs
each case's full reasons); never runs the model.

Usage: .venv/bin/python benchmarks/distribution_check_cases.py [--model models/demo] [--studies studies/demo]
       [--count 100] [--seed 777] [-v]
"""

from __future__ import annotations

import argparse
import io
import logging
import statistics
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cxrmodel.data.synthetic.studies import render_study, sample_study_spec  # noqa: E402
from cxrmodel.imaging import (  # noqa: E402
    DistributionCheck,
    check_distribution,
    decode_image,  # noqa: E402
)
from cxrmodel.modeling import Bundle, load_bundle  # noqa: E402

logger = logging.getLogger(__name__)

CASE_SEED = 11


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


def synthetic_study_bytes(count: int, seed: int, first_number: int = 1) -> list[bytes]:
    """PNG bytes of ``count`` fresh synthetic studies (as ``python -m cxrmodel synthetic`` renders them)."""
    return [png_bytes(render_study(sample_study_spec(first_number + index, seed), seed).phantom.image)
            for index in range(count)]


def normal_frontal(seed: int = CASE_SEED) -> np.ndarray:
    """One normal phantom (480 x 512) in [0, 1], the raw material of the constructed cases."""
    return render_study(sample_study_spec(5, seed, findings=[]), seed).phantom.image.astype(np.float64) / 255.0


CHECK_NAMES = {
    "uniform": "blank",
    "elongated": "elongated",
    "inverted": "inverted",
    "upside down": "upside down",
    "rotated": "rotated",
    "does not look like": "structure",
    "grey levels unlike": "grey levels",
    "contrast": "contrast",
}
"""Reason text -> short name of the check that failed (for the table)."""


def failed_checks(check: DistributionCheck) -> str:
    """Short names of the failed checks, e.g. ``"structure, contrast"``."""
    return ", ".join(name for key, name in CHECK_NAMES.items() if any(key in reason for reason in check.reasons))


def _summary_row(name: str, checks: list[DistributionCheck]) -> str:
    scores = [check.score for check in checks]
    flagged = sum(check.in_distribution is False for check in checks)
    return (f"| {name} ({len(checks)}) | min {min(scores):.3f} / median {statistics.median(scores):.3f} | "
            f"{flagged} flagged | |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=ROOT / "models" / "demo")
    parser.add_argument("--studies", type=Path, default=ROOT / "studies" / "demo")
    parser.add_argument("--count", type=int, default=100, help="fresh synthetic studies")
    parser.add_argument("--seed", type=int, default=777, help="seed of the fresh synthetic studies")
    parser.add_argument("--verbose", "-v", action="store_true", help="log every case's full reasons")
    arguments = parser.parse_args()
    logging.basicConfig(level=logging.INFO if arguments.verbose else logging.WARNING, format="%(message)s")

    bundle = load_bundle(arguments.model, load_model=False)
    demo = [judge(bundle, path.read_bytes()) for path in sorted((arguments.studies / "NLMCXR_png").glob("*.png"))]
    fresh = [judge(bundle, data) for data in synthetic_study_bytes(arguments.count, arguments.seed)]
    cases = {name: judge(bundle, data) for name, data in out_of_distribution_cases(normal_frontal()).items()}

    print("| case | score | flagged | failed checks |")
    print("|---|---|---|---|")
    print(_summary_row("demo studies", demo))
    print(_summary_row(f"fresh synthetic studies, seed {arguments.seed}", fresh))
    for name, check in cases.items():
        flagged = "yes" if check.in_distribution is False else "**no**"
        print(f"| {name} | {check.score:.3f} | {flagged} | {failed_checks(check)} |")
        logger.info("%s: %s", name, "; ".join(check.reasons))
    in_distribution = demo + fresh
    false_alarms = sum(check.in_distribution is False for check in in_distribution)
    detections = sum(check.in_distribution is False for check in cases.values())
    print(f"\nfalse alarms: {false_alarms} / {len(in_distribution)} in-distribution images; "
          f"detections: {detections} / {len(cases)} constructed out-of-distribution cases")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
