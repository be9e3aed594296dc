"""Review databases for the tests: every storage test runs on SQLite and on a private PostgreSQL server."""

from __future__ import annotations

import hashlib
import os

import pytest

from cxrmodel.reviews import StudyRecord
from tests.postgres import SKIP_REASON, postgres_binaries, private_postgres

IN_CI = os.environ.get("CI", "").lower() not in ("", "0", "false")
FINGERPRINT = "0123456789abcdef"
WIDTH, HEIGHT = 200, 160
THRESHOLDS = [0.1, 0.2, 0.3]


@pytest.fixture(scope="session")
def postgres_server():
    """One private PostgreSQL server per test process (tests.postgres); skipped where it is not installed."""
    if postgres_binaries() is None:
        if IN_CI:
            pytest.fail(SKIP_REASON)
        pytest.skip(SKIP_REASON)
    with private_postgres() as server:
        yield server


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path) -> str:
    """An empty review database: a SQLite file, or a new database on the private PostgreSQL server."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'reviews.sqlite3'}"
    return request.getfixturevalue("postgres_server").new_database()


def circle(x: float, y: float, r: float) -> dict:
    return {"x": x, "y": y, "r": r, "points": 5, "mass": 0.1}


def study_record(name: str = "CXR1", probability: float = 0.8, fingerprint: str = FINGERPRINT,
                 sweep: dict | None = None) -> StudyRecord:
    """A study of WIDTH x HEIGHT pixels whose content hash is derived from its name."""
    if sweep is None:
        sweep = {"thresholds": THRESHOLDS,
                 "circles": [[circle(50, 40, 20), circle(150, 100, 10)], [circle(50, 40, 12)], []]}
    return StudyRecord(hashlib.sha256(name.encode()).hexdigest(), fingerprint, name, WIDTH, HEIGHT, probability, sweep)
