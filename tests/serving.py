"""Starting a dashboard process for tests, benchmarks and screenshots: a free 127.0.0.1 port, start, wait, stop.

Used by tests/browser, tests/load, benchmarks/load_benchmark.py and docs/screenshots.py (standard library only).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def gunicorn_command(workers: int, port: int, timeout_seconds: int = 120) -> list[str]:
    """``gunicorn --workers N app:server`` on 127.0.0.1 (sync workers, as README's Deploying section says)."""
    gunicorn = Path(sys.executable).with_name("gunicorn")
    executable = str(gunicorn) if gunicorn.exists() else shutil.which("gunicorn")
    return [executable, "--workers", str(workers), "--timeout", str(timeout_seconds), "--bind", f"127.0.0.1:{port}",
            "app:server"]


def answers(url: str, behind_auth: bool = False) -> bool:
    """True when ``url`` answers HTTP 200 (or, ``behind_auth``, 401: a server asking for credentials is up)."""
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return response.status == 200
    except urllib.error.HTTPError as error:
        return behind_auth and error.code == 401
    except OSError:
        return False


@contextlib.contextmanager
def serving(
    command: list[str],
    url: str,
    *,
    environment: dict[str, str] | None = None,
    log_path: Path | None = None,
    startup_seconds: float = 120.0,
    behind_auth: bool = False,
) -> Iterator[subprocess.Popen]:
    """Run ``command`` in the repository root until the ``with`` block ends; wait until ``url`` answers first
    (``behind_auth``: a server that asks for credentials, whose 401 counts as answering).

    Raises:
        RuntimeError: the process exited or did not answer within ``startup_seconds`` (with its log's tail).
    """
    log = log_path.open("w") if log_path is not None else subprocess.DEVNULL
    process = subprocess.Popen(command, cwd=ROOT, env={**os.environ, **(environment or {})}, stdout=log,
                               stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + startup_seconds
        while not answers(url, behind_auth):
            if process.poll() is not None or time.monotonic() > deadline:
                tail = log_path.read_text()[-2000:] if log_path is not None else ""
                state = "exited" if process.poll() is not None else "did not answer"
                raise RuntimeError(f"{' '.join(command[:3])} {state} during start-up:\n{tail}")
            time.sleep(0.5)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
        if log_path is not None:
            log.close()
