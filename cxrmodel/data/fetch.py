"""Fetch the real OpenI (IU X-ray) reports archive ``NLMCXR_reports.tgz`` into a local cache.

OpenI's own download is not reachable from every machine, but the PyPI wheel ``torchxrayvision==1.5.7`` ships
the identical archive as ``torchxrayvision/data/NLMCXR_reports.tgz``. ``pip download --no-deps`` brings the wheel
(about 29 MB) without PyTorch; only that one member is extracted (nothing is installed or imported), its sha256 is
checked against a pinned constant, and it is moved into place atomically.

Licence: the reports are CC BY-NC-ND 4.0 (stated in each XML). They are cached outside the repository and must
never be committed, nor anything derived from them.

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
from pathlib import Path

logger = logging.getLogger(__name__)

REPORTS_FILENAME = "NLMCXR_reports.tgz"

WHEEL_REQUIREMENT = "torchxrayvision==1.5.7"
WHEEL_MEMBER = "torchxrayvision/data/NLMCXR_reports.tgz"

REPORTS_SHA256 = "8fb6de7eec73d8c3665067ad4bb003ccd57f971ae316d2642e1627ac7268667a"
"""sha256 of ``NLMCXR_reports.tgz`` (3,955 reports, 1,391 with MeSH major ``normal``), computed from the member
``torchxrayvision/data/NLMCXR_reports.tgz`` of the PyPI wheel ``torchxrayvision-1.5.7-py3-none-any.whl``
(wheel sha256 95f6c3475661f3515d4258deb0855bd5d1b1a56e0b65384251d3dd3fa61fac41)."""

DOWNLOAD_TIMEOUT_SECONDS = 600


class FetchError(Exception):
    """The archive could not be obtained; the message says what to do (one line)."""


def default_data_directory() -> Path:
    """``$XDG_CACHE_HOME/cxrmodel/data`` when ``XDG_CACHE_HOME`` is set (and not empty), else ``~/.cache/cxrmodel/data``."""
    cache = os.environ.get("XDG_CACHE_HOME", "").strip()
    base = Path(cache) if cache else Path.home() / ".cache"
    return base / "cxrmodel" / "data"


def default_reports_path() -> Path:
    """Where :func:`fetch_openi_reports` puts the archive by default."""
    return default_data_directory() / REPORTS_FILENAME


def file_sha256(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _manual_hint(destination: Path) -> str:
    return (
        f"copy {REPORTS_FILENAME} (OpenI IU X-ray reports, sha256 {REPORTS_SHA256}) to {destination} by hand, "
        f"or download the wheel elsewhere ('pip download {WHEEL_REQUIREMENT} --no-deps') and run "
        f"'python -m cxrmodel data fetch-openi-reports --from-wheel WHEEL'"
    )


def extract_reports_from_wheel(wheel: Path, destination: Path) -> Path:
    """Extract the reports archive from a torchxrayvision wheel, verify it and move it to ``destination``.

    The member is written to a temporary file in ``destination``'s folder, its sha256 checked against
    :data:`REPORTS_SHA256`, then renamed over ``destination`` (atomic on one file system), so a partial or wrong
    file is never left at ``destination``.

    Raises:
        FetchError: The wheel is missing, not a zip, lacks the member, or the member's sha256 differs.
    """
    wheel = Path(wheel)
    destination = Path(destination)
    if not wheel.is_file():
        raise FetchError(f"wheel {wheel} does not exist")
    try:
        archive = zipfile.ZipFile(wheel)
    except zipfile.BadZipFile:
        raise FetchError(f"{wheel} is not a wheel (zip) file") from None
    destination.parent.mkdir(parents=True, exist_ok=True)
    with archive:
        try:
            info = archive.getinfo(WHEEL_MEMBER)
        except KeyError:
            raise FetchError(f"{wheel} has no {WHEEL_MEMBER}; expected the {WHEEL_REQUIREMENT} wheel") from None
        descriptor, temporary_name = tempfile.mkstemp(prefix=f".{REPORTS_FILENAME}.", dir=destination.parent)
        temporary = Path(temporary_name)
        try:
            digest = hashlib.sha256()
            with os.fdopen(descriptor, "wb") as output, archive.open(info) as member:
                for block in iter(lambda: member.read(1 << 20), b""):
                    digest.update(block)
                    output.write(block)
            if digest.hexdigest() != REPORTS_SHA256:
                raise FetchError(
                    f"{WHEEL_MEMBER} in {wheel} has sha256 {digest.hexdigest()}, expected {REPORTS_SHA256}"
                )
            os.chmod(temporary, 0o644)
            os.replace(temporary, destination)
        finally:
            temporary.unlink(missing_ok=True)
    logger.info("extracted %s from %s to %s", WHEEL_MEMBER, wheel, destination)
    return destination


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


def fetch_openi_reports(
    directory: Path | None = None, *, wheel: Path | None = None, timeout: float = DOWNLOAD_TIMEOUT_SECONDS
) -> Path:
    """Make sure ``directory/NLMCXR_reports.tgz`` exists with the pinned sha256; return its path.

    Args:
        directory: Cache folder (default :func:`default_data_directory`); created when missing.
        wheel: An already downloaded ``torchxrayvision-1.5.7`` wheel to extract from (no network). Without it,
            the wheel is downloaded with pip into a temporary folder that is removed afterwards.
        timeout: Seconds pip may take.

    Raises:
        FetchError: The archive could not be obtained; the message ends with what to do by hand.
    """
    directory = Path(directory) if directory is not None else default_data_directory()
    destination = directory / REPORTS_FILENAME
    if destination.is_file():
        actual = file_sha256(destination)
        if actual == REPORTS_SHA256:
            logger.info("%s already present with the expected sha256", destination)
            return destination
        logger.warning("%s has sha256 %s, expected %s: fetching it again", destination, actual, REPORTS_SHA256)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise FetchError(f"cannot create {directory} ({error.strerror})") from None
    try:
        if wheel is not None:
            return extract_reports_from_wheel(Path(wheel), destination)
        with tempfile.TemporaryDirectory(prefix="cxrmodel-wheel-") as folder:
            return extract_reports_from_wheel(download_wheel(Path(folder), timeout), destination)
    except FetchError as error:
        raise FetchError(f"{error}; {_manual_hint(destination)}") from None
