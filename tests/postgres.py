"""A private PostgreSQL server for tests: Debian's ``postgresql`` binaries, a temporary data folder, a free
127.0.0.1 port, trust authentication for the local ``postgres`` role; stopped (``pg_ctl stop -m immediate``) and
deleted when the ``with`` block ends.

PostgreSQL refuses to run as root: when the tests run as root, the server runs as ``nobody`` (``runuser``).
``.ci/run`` installs the package and starts one server for the whole run (``python -m tests.postgres start``,
:data:`PORT_VARIABLE`); elsewhere each test module starts its own. Without the package :func:`postgres_binaries`
returns None and the tests that need the server are skipped with that reason.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

from tests.serving import free_port

SKIP_REASON = "Debian's postgresql (initdb, pg_ctl) is not installed; .ci/run installs it"


def postgres_binaries() -> Path | None:
    """The folder with ``initdb`` and ``pg_ctl`` (the newest /usr/lib/postgresql/*/bin, or on PATH), or None."""
    for folder in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda path: int(path.split("/")[-2]),
                         reverse=True):
        if Path(folder, "initdb").exists() and Path(folder, "pg_ctl").exists():
            return Path(folder)
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb and shutil.which("pg_ctl") else None


def _as_server_user(command: list[str]) -> list[str]:
    return ["runuser", "-u", "nobody", "--", *command] if os.geteuid() == 0 else command


class PostgresServer:
    """A running private server; :meth:`new_database` makes an empty database and returns its URL."""

    def __init__(self, port: int) -> None:
        self.port = port

    @property
    def admin_url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def new_database(self) -> str:
        """A new, empty database on the server; its ``postgresql+psycopg://`` URL."""
        import psycopg  # noqa: PLC0415 - only where PostgreSQL runs

        name = "reviews_" + uuid.uuid4().hex[:12]
        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres",
                             autocommit=True) as connection:
            connection.execute(f"CREATE DATABASE {name}")
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{name}"


PORT_VARIABLE = "CXR_TEST_POSTGRES_PORT"
"""Set by ``.ci/run``: the port of the private server it started (``python -m tests.postgres start``); the tests then
use that server instead of starting their own."""


def start_server(folder: Path, startup_seconds: float = 60.0) -> PostgresServer:
    """Initialise a data folder in ``folder`` and start a server on a free 127.0.0.1 port, accepting connections.

    Raises:
        RuntimeError: the binaries are missing, or the server did not start (with its log).
    """
    binaries = postgres_binaries()
    if binaries is None:
        raise RuntimeError(SKIP_REASON)
    data, log = folder / "data", folder / "server.log"
    if os.geteuid() == 0:
        shutil.chown(folder, "nobody", "nogroup")
    port = free_port()
    try:
        subprocess.run(_as_server_user([str(binaries / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
                                        "--no-sync", "-E", "UTF8", "--locale=C"]),
                       check=True, capture_output=True, timeout=120)
        options = f"-h 127.0.0.1 -p {port} -k {folder} -c fsync=off -c max_connections=60"
        subprocess.run(_as_server_user([str(binaries / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", options,
                                        "-w", "-t", str(int(startup_seconds)), "start"]),
                       check=True, capture_output=True, timeout=startup_seconds + 10)
    except subprocess.CalledProcessError as error:
        raise RuntimeError(f"PostgreSQL did not start: {error.stderr.decode(errors='replace')[-2000:]}\n"
                           + (log.read_text()[-2000:] if log.exists() else "")) from None
    server = PostgresServer(port)
    deadline = time.monotonic() + startup_seconds
    while True:
        try:
            server.new_database()
            return server
        except Exception:  # noqa: BLE001 - not accepting connections yet
            if time.monotonic() > deadline:
                raise RuntimeError("PostgreSQL did not accept connections:\n" + log.read_text()[-3000:]) from None
            time.sleep(0.2)


def stop_server(folder: Path) -> None:
    """Stop the server of ``folder`` (if it runs) and delete the folder."""
    binaries = postgres_binaries()
    data = folder / "data"
    if binaries is not None and (data / "postmaster.pid").exists():
        subprocess.run(_as_server_user([str(binaries / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"]),
                       capture_output=True, timeout=60)
    shutil.rmtree(folder, ignore_errors=True)


def started_by_ci() -> PostgresServer | None:
    """The server ``.ci/run`` started (:data:`PORT_VARIABLE`), or None."""
    port = os.environ.get(PORT_VARIABLE)
    return PostgresServer(int(port)) if port else None


@contextlib.contextmanager
def private_postgres(startup_seconds: float = 60.0) -> Iterator[PostgresServer]:
    """The server ``.ci/run`` started, or a private one started on 127.0.0.1 for the ``with`` block.

    Raises:
        RuntimeError: the binaries are missing, or the server did not start (with its log).
    """
    running = started_by_ci()
    if running is not None:
        yield running
        return
    folder = Path(tempfile.mkdtemp(prefix="cxr-postgres-"))
    try:
        yield start_server(folder, startup_seconds)
    finally:
        stop_server(folder)


def main(argv: list[str] | None = None) -> int:
    """``start FOLDER`` prints ``export CXR_TEST_POSTGRES_PORT=<port>`` (``eval`` in ``.ci/run``); ``stop FOLDER``."""
    import sys  # noqa: PLC0415

    arguments = sys.argv[1:] if argv is None else argv
    if len(arguments) != 2 or arguments[0] not in ("start", "stop"):
        print("usage: python -m tests.postgres start|stop FOLDER", file=sys.stderr)
        return 2
    folder = Path(arguments[1])
    if arguments[0] == "stop":
        stop_server(folder)
        return 0
    folder.mkdir(parents=True, exist_ok=True)
    try:
        server = start_server(folder)
    except RuntimeError as error:
        print(f"PostgreSQL for the review tests: {error}", file=sys.stderr)
        return 1
    print(f"export {PORT_VARIABLE}={server.port}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
