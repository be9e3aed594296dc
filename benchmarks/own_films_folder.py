"""Arrange the 1,000 real NIH films in the OpenI layout, each paired with a real IU report, for `train`.

    .venv/bin/python benchmarks/own_films_folder.py OUTPUT [--nih DIR] [--reports TGZ] [--splits train valid test]

Writes ``OUTPUT/ecgen-radiology/<n>.xml`` (the real IU XML, unchanged) and ``OUTPUT/NLMCXR_png/<parentImage id>.png``
(a link to one NIH film, read in place; never copied into the repository). Reports are taken in their archive order
among those that list an image and have a usable label and report (the rules of ``train``), films in sorted order
of the chosen splits: the pairing is meaningless (the film is not the report's), but the films are real, which is
what the trust profile of a bundle trained on them is measured on. Deterministic: the same inputs give the same
folder. ``OUTPUT/films.json`` records which film went with which report and from which NIH split.
"""

from __future__ import annotations

import argparse
import json
import sys
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cxrmodel.data.openi import is_no_indexing, parse_openi_xml  # noqa: E402

DEFAULT_NIH = ROOT.parent / "shared" / "data" / "nih-chestxray14-64px"
DEFAULT_REPORTS = Path.home() / ".cache" / "cxrmodel" / "data" / "NLMCXR_reports.tgz"


def usable_reports(archive: Path):
    """``(member name, xml bytes, first image id)`` of the reports ``train`` would keep, in archive order."""
    with tarfile.open(archive, "r:gz") as reports:
        for member in reports:
            if not (member.isfile() and member.name.endswith(".xml")):
                continue
            data = reports.extractfile(member).read()
            study = parse_openi_xml(data, member.name)
            if study.image_ids and study.report_text.strip() and not is_no_indexing(study.mesh_major):
                yield Path(member.name).name, data, study.image_ids[0]


def build_folder(output: Path, nih: Path, reports: Path, splits: tuple[str, ...]) -> list[dict]:
    """Write the folder (see the module docstring); returns the pairing records."""
    films = sorted(path for split in splits for path in (nih / split).glob("*/*.png"))
    if not films:
        raise SystemExit(f"no NIH films under {nih} for splits {splits}")
    (output / "ecgen-radiology").mkdir(parents=True, exist_ok=True)
    (output / "NLMCXR_png").mkdir(parents=True, exist_ok=True)
    records = []
    # One report per film, in order; the archive holds more usable reports than there are films.
    for film, (name, data, image_id) in zip(films, usable_reports(reports), strict=False):
        (output / "ecgen-radiology" / name).write_bytes(data)
        link = output / "NLMCXR_png" / f"{image_id}.png"
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(film.resolve())
        records.append({"report": name, "image_id": image_id, "film": film.name,
                        "nih_split": film.parent.parent.name})
    (output / "films.json").write_text(json.dumps(records, indent=1) + "\n", encoding="utf-8")
    return records


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", type=Path)
    parser.add_argument("--nih", type=Path, default=DEFAULT_NIH)
    parser.add_argument("--reports", type=Path, default=DEFAULT_REPORTS,
                        help="NLMCXR_reports.tgz (python -m cxrmodel data fetch-openi-reports)")
    parser.add_argument("--splits", nargs="+", default=["train", "valid", "test"])
    arguments = parser.parse_args()
    records = build_folder(arguments.output, arguments.nih, arguments.reports, tuple(arguments.splits))
    print(f"{len(records)} studies in {arguments.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
