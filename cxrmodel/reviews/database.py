"""Where the reviews live: the database URL, the engine, and the migrations run on open.

The embedded default is a SQLite file (``reviews.sqlite3`` under the dashboard's cache directory) in WAL mode, so
``make run`` needs no server and readers never wait for a writer. ``--database-url`` / ``CXR_DATABASE_URL`` take
a PostgreSQL URL instead (``postgresql+psycopg://user:password@host/db``; ``postgresql://`` means the same, with
the psycopg 3 driver), for several web workers or machines. Opening a database upgrades it to the newest schema
(Alembic, :mod:`cxrmodel.reviews.migrations`), under a lock so that several processes opening it at once
migrate it once.
"""

from __future__ import annotations

import fcntl
import logging
import os
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

logger = logging.getLogger(__name__)

DATABASE_URL_VARIABLE = "CXR_DATABASE_URL"
DATABASE_FILE_NAME = "reviews.sqlite3"
DEFAULT_CACHE_DIRECTORY = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "cxrmodel" / "dashboard"
"""The dashboard's default cache directory (``python app.py --cache-dir``); the default database lies in it."""
SQLITE_BUSY_SECONDS = 30.0
"""How long a SQLite writer waits for another's lock before failing (several server processes may write)."""
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
_MIGRATION_LOCK_KEY = 270_127  # PostgreSQL advisory lock held while migrating (any fixed 64-bit number)


class DatabaseError(ValueError):
    """The database URL is unusable or the database cannot be opened; the message says what to fix."""


def default_database_url(cache_directory: str | os.PathLike | None = None) -> str:
    """``CXR_DATABASE_URL`` when set, else the SQLite file under ``cache_directory`` (default: the dashboard's)."""
    configured = os.environ.get(DATABASE_URL_VARIABLE)
    if configured:
        return configured
    directory = Path(cache_directory) if cache_directory is not None else DEFAULT_CACHE_DIRECTORY
    return f"sqlite:///{directory / DATABASE_FILE_NAME}"


def normalise_database_url(url: str) -> str:
    """The URL with the driver the project uses (``postgresql+psycopg``), after checking it is one we support.

    Args:
        url: ``sqlite:///PATH``, ``postgresql://...`` or ``postgresql+psycopg://...``; a bare path is taken as a
            SQLite file.

    Raises:
        DatabaseError: another database or driver, or a malformed URL.
    """
    text = str(url).strip()
    if not text:
        raise DatabaseError("the database URL is empty; give sqlite:///PATH or postgresql+psycopg://USER@HOST/DB")
    if "://" not in text:
        text = f"sqlite:///{Path(text).expanduser().resolve()}"
    try:
        parsed = make_url(text)
    except ArgumentError as error:
        raise DatabaseError(f"cannot read database URL {_hidden(text)!r} ({error}); give sqlite:///PATH or "
                            "postgresql+psycopg://USER@HOST/DB") from None
    if parsed.drivername in ("postgresql", "postgresql+psycopg"):
        return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    if parsed.drivername in ("sqlite", "sqlite+pysqlite"):
        if not parsed.database or parsed.database == ":memory:":
            raise DatabaseError("an in-memory SQLite database would forget every review; give sqlite:///PATH")
        return text
    raise DatabaseError(f"database {parsed.drivername!r} is not supported: use sqlite:///PATH (the default) or "
                        "postgresql+psycopg://USER@HOST/DB")


def _hidden(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unreadable URL>"


def _on_sqlite_connect(dbapi_connection, _record) -> None:
    # WAL: readers do not block the writer and a killed writer leaves a consistent file; NORMAL synchronisation
    # is durable against a killed process (only a power cut may lose the last commits). Foreign keys are off in
    # SQLite unless asked for on every connection.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_SECONDS * 1000)}")
    cursor.close()
    # SQLAlchemy, not the sqlite3 module, begins transactions (_on_sqlite_begin), so that DDL is transactional and
    # a writer can take the write lock when it begins.
    dbapi_connection.isolation_level = None


WRITE_OPTION = "cxr_write"
"""Execution option of a connection that will write: on SQLite its transaction begins IMMEDIATE."""


def _on_sqlite_begin(connection) -> None:
    # A writer takes the write lock up front (BEGIN IMMEDIATE) and so waits on busy_timeout for another writer;
    # a deferred transaction that reads and then writes may instead fail at once with "database is locked" when
    # another process committed in between (WAL's snapshot rule).
    write = connection.get_execution_options().get(WRITE_OPTION)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def create_database_engine(url: str) -> Engine:
    """An engine for a review database (not migrated; :func:`open_database` migrates too).

    Raises:
        DatabaseError: an unsupported URL, or a SQLite folder that cannot be created.
    """
    url = normalise_database_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        path = Path(parsed.database)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise DatabaseError(f"cannot create the folder of review database {path}: {error}") from None
        engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_SECONDS, "check_same_thread": False})
        event.listen(engine, "connect", _on_sqlite_connect)
        event.listen(engine, "begin", _on_sqlite_begin)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10)


def head_revision() -> str:
    """The newest schema revision of :mod:`cxrmodel.reviews.migrations`."""
    return ScriptDirectory.from_config(_alembic_config()).get_current_head()


def _alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def current_revision(engine: Engine) -> str | None:
    """The schema revision the database is at (None: never migrated)."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def _upgrade(engine: Engine) -> None:
    config = _alembic_config()
    with engine.execution_options(**{WRITE_OPTION: True}).begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK_KEY})")
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def open_database(url: str) -> Engine:
    """An engine on the review database at ``url``, upgraded to the newest schema.

    Raises:
        DatabaseError: the URL is unsupported, or the database cannot be reached or migrated (the message names
            the database, never its password).
    """
    from sqlalchemy.exc import SQLAlchemyError  # noqa: PLC0415 - only for the error message

    engine = create_database_engine(url)
    alembic_logger = logging.getLogger("alembic")
    if alembic_logger.level == logging.NOTSET:  # its INFO lines ("Context impl ...") on every open are noise
        alembic_logger.setLevel(logging.WARNING)
    try:
        if engine.dialect.name == "sqlite":
            lock_path = Path(engine.url.database).with_suffix(".migration-lock")
            with lock_path.open("a") as lock:  # one process migrates a file at a time
                fcntl.flock(lock, fcntl.LOCK_EX)
                _upgrade(engine)
        else:
            _upgrade(engine)
    except (SQLAlchemyError, OSError) as error:
        engine.dispose()
        reason = " ".join(str(getattr(error, "orig", None) or error).split())[:300]
        raise DatabaseError(f"cannot open review database {_hidden(str(engine.url.render_as_string(False)))}: "
                            f"{reason}") from None
    logger.info("review database %s at schema %s", _hidden(engine.url.render_as_string(False)), head_revision())
    return engine
