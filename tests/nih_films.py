"""Where the 1,000 real NIH ChestX-ray14 films (64 px) are read from, in place (never copied into the repository).

They live in the workspace's shared folder beside the checkout (``../shared/data/nih-chestxray14-64px``); a clone
elsewhere finds them through ``CXR_NIH_FILMS_DIR`` or the workspace path. A test that needs them is skipped with a
reason when no such folder exists (a user's fresh clone); a folder that exists but does not hold all 1,000 films
fails under ``CI`` (a broken copy must not pass silently).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FILM_COUNT = 1000
_RELATIVE = Path("data") / "nih-chestxray14-64px"


def nih_folder() -> Path | None:
    """The first folder of the candidates that exists, or None."""
    candidates = [os.environ.get("CXR_NIH_FILMS_DIR"), ROOT.parent / "shared" / _RELATIVE,
                  Path("/work/shared") / _RELATIVE]
    for candidate in candidates:
        if candidate and Path(candidate).is_dir():
            return Path(candidate)
    return None


def nih_film_paths() -> list[Path]:
    """The 1,000 films' paths (``{split}/{0_normal,1_abnormal}/*.png``), or skip / fail as the module says."""
    folder = nih_folder()
    if folder is None:
        pytest.skip("the real NIH ChestX-ray14 films are not here (../shared/data/nih-chestxray14-64px or "
                    "CXR_NIH_FILMS_DIR)")
    paths = sorted(folder.glob("*/*/*.png"))
    if len(paths) != FILM_COUNT:
        message = f"{folder} must hold the {FILM_COUNT} NIH ChestX-ray14 films (found {len(paths)})"
        if os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no"):
            pytest.fail(message)
        pytest.skip(message)
    return paths
