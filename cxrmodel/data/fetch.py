"""Fetch real data files into a local cache: the OpenI (IU X-ray) reports archive ``NLMCXR_reports.tgz`` and the
NIH ChestX-ray14 label files ``Data_Entry_2017_v2020.csv.gz`` and ``BBox_List_2017.csv.gz``.

OpenI's and NIH's own downloads are not reachable from every machine, but the PyPI wheel ``torchxrayvision==1.5.7``
ships identical copies under ``torchxrayvision/data/``. ``pip download --no-deps`` brings the wheel (about 29 MB)
without PyTorch; only the wanted members are extracted (nothing is installed or imported), each one's sha256 is
checked against a pinned constant, and each is moved into place atomically.

Licence: the reports are CC BY-NC-ND 4.0 (stated in each XML); ChestX-ray14 is NIH data. They are cached outside
the repository and must never be committed, nor anything derived from them.

Default cache folder: ``$XDG_CACHE_HOME/cxrmodel/data``, else ``~/.cache/cxrmodel/data``.
"""

from __future__ import annotations

import hashlib
import logging
import os
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

logger = logging.getLogger(__name__)

REPORTS_FILENAME = "NLMCXR_reports.tgz"

WHEEL_REQUIREMENT = "torchxrayvision==1.5.7"
WHEEL_MEMBER = "torchxrayvision/data/NLMCXR_reports.tgz"

REPORTS_SHA256 = "8fb6de7eec73d8c3665067ad4bb003ccd57f971ae316d2642e1627ac7268667a"
"""sha256 of ``NLMCXR_reports.tgz`` (3,955 reports, 1,391 with MeSH major ``normal``), computed from the member
``torchxrayvision/data/NLMCXR_reports.tgz`` of the PyPI wheel ``torchxrayvision-1.5.7-py3-none-any.whl``
(wheel sha256 95f6c3475661f3515d4258deb0855bd5d1b1a56e0b65384251d3dd3fa61fac41)."""

WHEEL_DATA_FOLDER = "torchxrayvision/data"
CHESTXRAY14_LABELS_FILENAME = "Data_Entry_2017_v2020.csv.gz"
CHESTXRAY14_BOXES_FILENAME = "BBox_List_2017.csv.gz"
CHESTXRAY14_LABELS_SHA256 = "9d4de640ee4f760215d8be98376b20387ca52f9c6b4d1b727cb588fb82f40b80"
"""sha256 of ``torchxrayvision/data/Data_Entry_2017_v2020.csv.gz`` in the same wheel (112,120 rows)."""
CHESTXRAY14_BOXES_SHA256 = "cf9dc6029f65daa8b389415b0546af0eeeb91fbac7d63ec49d7f8de2fd8f40cd"
"""sha256 of ``torchxrayvision/data/BBox_List_2017.csv.gz`` in the same wheel (984 boxes on 880 images)."""

DOWNLOAD_TIMEOUT_SECONDS = 600


class FetchError(Exception):
    """The archive could not be obtained; the message says what to do (one line)."""


def default_data_directory() -> Path:
    """``$XDG_CACHE_HOME/cxrmodel/data`` when ``XDG_CACHE_HOME`` is set (and not empty), else
    ``~/.cache/cxrmodel/data``.
    """
    cache = os.environ.get("XDG_CACHE_HOME", "").strip()
    base = Path(cache) if cache else Path.home() / ".cache"
    return base / "cxrmodel" / "data"


def default_reports_path() -> Path:
    """Where :func:`fetch_openi_reports` puts the archive by default."""
    return default_data_directory() / REPORTS_FILENAME


def default_chestxray14_paths() -> tuple[Path, Path]:
    """Where :func:`fetch_chestxray14_labels` puts the label and box files by default."""
    return (default_data_directory() / CHESTXRAY14_LABELS_FILENAME,
            default_data_directory() / CHESTXRAY14_BOXES_FILENAME)


def file_sha256(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class WheelFile:
    """One data file shipped in the torchxrayvision wheel.

    Attributes:
        filename: Name in the cache folder.
        member: Path inside the wheel.
        sha256: Pinned hex digest.
        description: What it is, for messages.
        command: The ``python -m cxrmodel data`` command that fetches it.
    """

    filename: str
    member: str
    sha256: str
    description: str
    command: str


def openi_reports_file() -> WheelFile:
    """The OpenI reports archive (read at call time, so the pinned constants are the module's current ones)."""
    return WheelFile(REPORTS_FILENAME, WHEEL_MEMBER, REPORTS_SHA256, "OpenI IU X-ray reports", "fetch-openi-reports")


def chestxray14_files() -> tuple[WheelFile, WheelFile]:
    """The ChestX-ray14 label file (v2020) and box file."""
    command = "fetch-chestxray14-labels"
    return (
        WheelFile(CHESTXRAY14_LABELS_FILENAME, f"{WHEEL_DATA_FOLDER}/{CHESTXRAY14_LABELS_FILENAME}",
                  CHESTXRAY14_LABELS_SHA256, "NIH ChestX-ray14 labels", command),
        WheelFile(CHESTXRAY14_BOXES_FILENAME, f"{WHEEL_DATA_FOLDER}/{CHESTXRAY14_BOXES_FILENAME}",
                  CHESTXRAY14_BOXES_SHA256, "NIH ChestX-ray14 boxes", command),
    )


def _manual_hint(files: Sequence[WheelFile], directory: Path) -> str:
    listed = ", ".join(f"{item.filename} ({item.description}, sha256 {item.sha256})" for item in files)
    return (
        f"copy {listed} to {directory} by hand, "
        f"or download the wheel elsewhere ('pip download {WHEEL_REQUIREMENT} --no-deps') and run "
        f"'python -m cxrmodel data {files[0].command} --from-wheel WHEEL'"
    )


def _extract_member(archive: zipfile.ZipFile, wheel: Path, item: WheelFile, destination: Path) -> Path:
    try:
        info = archive.getinfo(item.member)
    except KeyError:
        raise FetchError(f"{wheel} has no {item.member}; expected the {WHEEL_REQUIREMENT} wheel") from None
    descriptor, temporary_name = tempfile.mkstemp(prefix=f".{item.filename}.", dir=destination.parent)
    temporary = Path(temporary_name)
    try:
        digest = hashlib.sha256()
        with os.fdopen(descriptor, "wb") as output, archive.open(info) as member:
            for block in iter(lambda: member.read(1 << 20), b""):
                digest.update(block)
                output.write(block)
        if digest.hexdigest() != item.sha256:
            raise FetchError(f"{item.member} in {wheel} has sha256 {digest.hexdigest()}, expected {item.sha256}")
        os.chmod(temporary, 0o644)
        os.replace(temporary, destination)
    finally:
        temporary.unlink(missing_ok=True)
    logger.info("extracted %s from %s to %s", item.member, wheel, destination)
    return destination


def extract_from_wheel(wheel: Path, files: Sequence[WheelFile], directory: Path) -> list[Path]:
    """Extract ``files`` from a torchxrayvision wheel into ``directory``, each verified and moved atomically.

    Each member is written to a temporary file in ``directory``, its sha256 checked against the pin, then
    renamed over ``directory/<filename>`` (atomic on one file system), so a partial or wrong file is never left.

    Raises:
        FetchError: The wheel is missing, not a zip, lacks a member, or a member's sha256 differs.
    """
    wheel = Path(wheel)
    directory = Path(directory)
    if not wheel.is_file():
        raise FetchError(f"wheel {wheel} does not exist")
    try:
        archive = zipfile.ZipFile(wheel)
    except zipfile.BadZipFile:
        raise FetchError(f"{wheel} is not a wheel (zip) file") from None
    directory.mkdir(parents=True, exist_ok=True)
    with archive:
        return [_extract_member(archive, wheel, item, directory / item.filename) for item in files]


def download_wheel(folder: Path, timeout: float = DOWNLOAD_TIMEOUT_SECONDS) -> Path:
    """``python -m pip download torchxrayvision==1.5.7 --no-deps --dest folder`` with this interpreter.

    Returns:
        The downloaded wheel file.

    Raises:
        FetchError: pip failed (offline, index unreachable), timed out, or brought no wheel.
    """
    command = [sys.executable, "-m", "pip", "download", WHEEL_REQUIREMENT, "--no-deps", "--only-binary=:all:",
               "--disable-pip-version-check", "--dest", str(folder)]
    logger.info("running %s", " ".join(command))
    try:
        completed = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise FetchError(f"pip download {WHEEL_REQUIREMENT} did not finish in {timeout:.0f} s") from None
    except OSError as error:
        raise FetchError(f"could not run pip ({error})") from None
    if completed.returncode != 0:
        last = next((line for line in reversed(completed.stderr.splitlines()) if line.strip()), "no message")
        raise FetchError(f"pip download {WHEEL_REQUIREMENT} failed (exit {completed.returncode}: {last.strip()})")
    wheels = sorted(Path(folder).glob("torchxrayvision-*.whl"))
    if not wheels:
        raise FetchError(f"pip download {WHEEL_REQUIREMENT} brought no wheel")
    return wheels[0]


def fetch_wheel_files(
    files: Sequence[WheelFile],
    directory: Path | None = None,
    *,
    wheel: Path | None = None,
    timeout: float = DOWNLOAD_TIMEOUT_SECONDS,
) -> list[Path]:
    """Make sure every file of ``files`` is in ``directory`` with its pinned sha256; return their paths.

    Files already there with the right sha256 are kept; the others are extracted from ``wheel`` or, without it,
    from the wheel downloaded with pip into a temporary folder that is removed afterwards.

    Args:
        files: What to fetch (:func:`openi_reports_file`, :func:`chestxray14_files`).
        directory: Cache folder (default :func:`default_data_directory`); created when missing.
        wheel: An already downloaded ``torchxrayvision-1.5.7`` wheel to extract from (no network).
        timeout: Seconds pip may take.

    Raises:
        FetchError: A file could not be obtained; the message ends with what to do by hand.
    """
    directory = Path(directory) if directory is not None else default_data_directory()
    missing = []
    for item in files:
        destination = directory / item.filename
        if destination.is_file():
            actual = file_sha256(destination)
            if actual == item.sha256:
                logger.info("%s already present with the expected sha256", destination)
                continue
            logger.warning("%s has sha256 %s, expected %s: fetching it again", destination, actual, item.sha256)
        missing.append(item)
    try:
        if missing:
            try:
                directory.mkdir(parents=True, exist_ok=True)
            except OSError as error:
                raise FetchError(f"cannot create {directory} ({error.strerror})") from None
            if wheel is not None:
                extract_from_wheel(Path(wheel), missing, directory)
            else:
                with tempfile.TemporaryDirectory(prefix="cxrmodel-wheel-") as folder:
                    extract_from_wheel(download_wheel(Path(folder), timeout), missing, directory)
    except FetchError as error:
        raise FetchError(f"{error}; {_manual_hint(files, directory)}") from None
    return [directory / item.filename for item in files]


def fetch_openi_reports(
    directory: Path | None = None, *, wheel: Path | None = None, timeout: float = DOWNLOAD_TIMEOUT_SECONDS
) -> Path:
    """Make sure ``directory/NLMCXR_reports.tgz`` exists with the pinned sha256; return its path.

    See :func:`fetch_wheel_files` for the arguments and errors.
    """
    return fetch_wheel_files([openi_reports_file()], directory, wheel=wheel, timeout=timeout)[0]


def fetch_chestxray14_labels(
    directory: Path | None = None, *, wheel: Path | None = None, timeout: float = DOWNLOAD_TIMEOUT_SECONDS
) -> tuple[Path, Path]:
    """Make sure ``Data_Entry_2017_v2020.csv.gz`` and ``BBox_List_2017.csv.gz`` are in ``directory``.

    Both are NIH ChestX-ray14 files (112,120 label rows; 984 boxes on 880 images), read by
    :mod:`cxrmodel.data.chestxray14`. See :func:`fetch_wheel_files` for the arguments and errors.

    Returns:
        ``(labels, boxes)`` paths.
    """
    labels, boxes = fetch_wheel_files(chestxray14_files(), directory, wheel=wheel, timeout=timeout)
    return labels, boxes
