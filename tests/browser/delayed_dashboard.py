"""The dashboard with every HTTP request answered later, for browser tests of what the page shows while responses
are slow (test-only: nothing in app.py or components knows about the delay).

    python -m tests.browser.delayed_dashboard --delay-ms 300 [app.py arguments]

runs ``app.main`` with the Flask server of the app it builds holding each request ``--delay-ms`` milliseconds
before answering it (a ``before_request`` hook added by wrapping :func:`app.create_app` in this process). The
dashboard serves one request at a time (``threaded=False``), so, as behind a slow network or a busy server, the
callbacks of one study switch answer one after another, each at least the delay later.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import app as dashboard


def delayed(create_app: Callable, delay_seconds: float) -> Callable:
    """``create_app`` whose app's Flask server waits ``delay_seconds`` before each request."""

    def create(config):
        dash_app = create_app(config)

        @dash_app.server.before_request
        def wait() -> None:
            time.sleep(delay_seconds)

        return dash_app

    return create


def main(argv: list[str] | None = None) -> int:
    """``--delay-ms`` for this wrapper; every other argument goes to ``app.main``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--delay-ms", type=float, required=True, help="added to every request, milliseconds")
    arguments, rest = parser.parse_known_args(argv)
    if not 0 <= arguments.delay_ms <= 10_000:
        parser.error(f"--delay-ms must be between 0 and 10000, got {arguments.delay_ms}")
    dashboard.create_app = delayed(dashboard.create_app, arguments.delay_ms / 1000.0)
    return dashboard.main(rest)


if __name__ == "__main__":
    raise SystemExit(main())
