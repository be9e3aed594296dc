"""Basic auth: every route refuses anonymous and wrong credentials; a listed user gets through; bad files fail early."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path

import pytest

import app as dashboard
from components.server.authentication import AuthFileError, credential_line, parse_credentials

ROOT = Path(__file__).resolve().parents[2]


def _basic(username: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()}


@pytest.fixture(scope="module")
def protected(tiny_bundle_directory, tiny_studies_directory, tmp_path_factory):
    root = tmp_path_factory.mktemp("auth")
    auth_file = root / "users.txt"
    auth_file.write_text("# radiology reading room\n" + credential_line("reader", "correct horse") + "\n")
    config = dashboard.AppConfig(tiny_bundle_directory, tiny_studies_directory, root / "cache", auth_file)
    return dashboard.create_app(config).server.test_client()


def _routes(client, headers) -> dict[str, int]:
    """Status of every kind of route the dashboard serves."""
    page = client.get("/", headers=headers)
    statuses = {
        "/": page.status_code,
        "/_dash-layout": client.get("/_dash-layout", headers=headers).status_code,
        "/_dash-dependencies": client.get("/_dash-dependencies", headers=headers).status_code,
        "/assets/style.css": client.get("/assets/style.css", headers=headers).status_code,
        "/_favicon.ico": client.get("/_favicon.ico", headers=headers).status_code,
        "/_reload-hash": client.get("/_reload-hash", headers=headers).status_code,
        "/_dash-component-suites": client.get(
            "/_dash-component-suites/dash/deps/polyfill@7.v4_4_1m1.12.1.min.js", headers=headers).status_code,
    }
    update = client.post("/_dash-update-component", headers=headers, json={
        "output": "upload-image-name.children", "outputs": {"id": "upload-image-name", "property": "children"},
        "inputs": [{"id": "upload-image", "property": "filename", "value": "film.png"}],
        "changedPropIds": ["upload-image.filename"], "state": []})
    statuses["/_dash-update-component"] = update.status_code
    return statuses


def test_anonymous_and_wrong_credentials_get_401_on_every_route(protected):
    for headers in ({}, _basic("reader", "wrong"), _basic("nobody", "correct horse")):
        statuses = _routes(protected, headers)
        assert set(statuses.values()) == {401}, statuses
    response = protected.get("/_dash-layout")
    assert response.headers["WWW-Authenticate"].startswith("Basic realm=")
    assert b"study-picker" not in response.data


def test_a_listed_user_gets_through(protected):
    statuses = _routes(protected, _basic("reader", "correct horse"))
    assert statuses["/"] == statuses["/_dash-layout"] == statuses["/_dash-dependencies"] == 200
    assert statuses["/assets/style.css"] == 200
    assert statuses["/_dash-update-component"] == 200
    layout = protected.get("/_dash-layout", headers=_basic("reader", "correct horse"))
    assert "study-picker" in json.dumps(layout.get_json())


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "lists no user"),
        ("reader\n", "line 1: expected username:<password hash>"),
        ("reader:correct horse\n", "not a Werkzeug scrypt/pbkdf2 hash"),
        ("reader:md5$abc$def\n", "not a Werkzeug"),
        ("bad user:" + credential_line("x", "y").split(":", 1)[1], "must be 1-64"),
        (credential_line("a", "b") + "\n" + credential_line("a", "c"), "line 2: user 'a' appears twice"),
    ],
)
def test_bad_auth_files_name_the_line_and_the_fix(text, message):
    with pytest.raises(AuthFileError, match=message):
        parse_credentials(text)


def test_a_bad_auth_file_stops_the_server_at_start(tiny_bundle_directory, tiny_studies_directory, tmp_path, capsys):
    auth_file = tmp_path / "users.txt"
    auth_file.write_text("reader:plaintext-password\n")
    status = dashboard.main(["--model", str(tiny_bundle_directory), "--studies", str(tiny_studies_directory),
                             "--cache-dir", str(tmp_path / "cache"), "--auth-file", str(auth_file)])
    assert status == 2
    error = capsys.readouterr().err
    assert "line 1" in error and "--hash-password" in error
    status = dashboard.main(["--model", str(tiny_bundle_directory), "--studies", str(tiny_studies_directory),
                             "--auth-file", str(tmp_path / "missing.txt")])
    assert status == 2 and "does not exist" in capsys.readouterr().err


def test_hash_password_prints_a_line_the_server_accepts():
    result = subprocess.run([sys.executable, "app.py", "--hash-password", "reader"], input="s3cret pass\n",
                            capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stderr
    line = result.stdout.strip()
    credentials = parse_credentials(line)
    from werkzeug.security import check_password_hash

    assert check_password_hash(credentials["reader"], "s3cret pass")
    assert "s3cret" not in line
