"""HTTP basic authentication on every route of the dashboard's Flask server (not a visual piece).

``python app.py --auth-file FILE``: each non-empty line of FILE is ``username:<werkzeug password hash>`` (lines
starting with ``#`` are comments). Create a line with ``python app.py --hash-password USERNAME`` (asks for the
password, or reads one line from standard input when it is not a terminal) and append it to the file.

The check runs in a Flask ``before_request`` hook, so it covers every route: the page, ``/_dash-layout``,
``/_dash-dependencies``, ``/_dash-update-component`` (all callbacks, uploads included), the component bundles
and ``/assets``. Passwords are verified with Werkzeug's ``check_password_hash`` (scrypt or pbkdf2 hashes, as
``generate_password_hash`` writes them). Basic auth sends the password with every request: put the dashboard
behind HTTPS (a reverse proxy) when it is reachable beyond 127.0.0.1.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

from flask import Flask, Response, request
from werkzeug.security import check_password_hash, generate_password_hash

logger = logging.getLogger(__name__)

REALM = "Chest X-ray explanations"
SUPPORTED_METHODS = ("scrypt", "pbkdf2")
_USERNAME = re.compile(r"^[A-Za-z0-9._@-]{1,64}$")
# A hash that never matches, checked for unknown users too, so a response's timing does not reveal who exists.
_DUMMY_HASH = generate_password_hash("not a password", method="pbkdf2:sha256:1000")


class AuthFileError(ValueError):
    """The auth file is missing or malformed; the message names the file, the line and the fix."""


def parse_credentials(text: str, source: str = "auth file") -> dict[str, str]:
    """``{username: password hash}`` from the text of an auth file.

    Raises:
        AuthFileError: a malformed line, an unsupported hash, a repeated user, or no user at all.
    """
    credentials: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        username, separator, password_hash = line.partition(":")
        if not separator or not password_hash:
            raise AuthFileError(f"{source} line {number}: expected username:<password hash>; create lines with "
                                "`python app.py --hash-password USERNAME`")
        if not _USERNAME.match(username):
            raise AuthFileError(f"{source} line {number}: user name {username!r} must be 1-64 letters, digits or ._@-")
        method = password_hash.split(":", 1)[0].split("$", 1)[0]
        if method not in SUPPORTED_METHODS or password_hash.count("$") != 2:
            raise AuthFileError(
                f"{source} line {number}: the password of {username!r} is not a Werkzeug scrypt/pbkdf2 hash "
                "(never store plain passwords); create it with `python app.py --hash-password USERNAME`"
            )
        if username in credentials:
            raise AuthFileError(f"{source} line {number}: user {username!r} appears twice")
        credentials[username] = password_hash
    if not credentials:
        raise AuthFileError(f"{source} lists no user; add a line with `python app.py --hash-password USERNAME`")
    return credentials


def load_credentials(path: str | os.PathLike) -> dict[str, str]:
    """Read and check an auth file (see :func:`parse_credentials`)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise AuthFileError(f"auth file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as error:
        raise AuthFileError(f"auth file {path} cannot be read ({error})") from error
    return parse_credentials(text, str(path))


def is_authorised(username: str | None, password: str | None, credentials: dict[str, str]) -> bool:
    """True when the user exists and the password matches its hash."""
    password_hash = credentials.get(username or "")
    matches = check_password_hash(password_hash or _DUMMY_HASH, password or "")
    return password_hash is not None and matches


def require_basic_auth(server: Flask, credentials: dict[str, str]) -> None:
    """Answer 401 to every request without valid basic-auth credentials."""

    @server.before_request
    def check_credentials():
        authorization = request.authorization
        if authorization is not None and authorization.type == "basic" and is_authorised(
            authorization.username, authorization.password, credentials
        ):
            return None
        if authorization is not None:
            logger.warning("rejected credentials for %s from %s", request.path, request.remote_addr)
        return Response("Sign in to use the chest X-ray dashboard.\n", 401,
                        {"WWW-Authenticate": f'Basic realm="{REALM}", charset="UTF-8"'})

    logger.info("basic authentication on every route, %d user(s)", len(credentials))


def credential_line(username: str, password: str) -> str:
    """One auth-file line for a user (scrypt hash).

    Raises:
        AuthFileError: an unusable user name or an empty password.
    """
    if not _USERNAME.match(username or ""):
        raise AuthFileError(f"user name {username!r} must be 1-64 letters, digits or ._@-")
    if not password:
        raise AuthFileError("the password is empty")
    return f"{username}:{generate_password_hash(password)}"
