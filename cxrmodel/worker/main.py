"""The model worker's command line: load the bundle once, then answer on 127.0.0.1 until stopped."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from cxrmodel.worker.protocol import DEFAULT_EXPLAIN_CONCURRENCY, DEFAULT_HOST, DEFAULT_MAX_PENDING, DEFAULT_PORT


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line arguments of the model worker."""
    parser = argparse.ArgumentParser(
        prog="python -m cxrmodel.worker",
        description="Keep a model bundle loaded and answer predictions and explanations over HTTP on 127.0.0.1.")
    parser.add_argument("--model", type=Path, required=True, help="model bundle directory")
    parser.add_argument("--cache-dir", type=Path, required=True,
                        help="the dashboard's cache root (--cache-dir / CXR_CACHE_DIR): explanations go to "
                             "its explanations/ folder")
    parser.add_argument("--trust-profile", type=Path, default=None, metavar="FOLDER",
                        help="judge films with this trust profile instead of the bundle's own")
    parser.add_argument("--host", default=DEFAULT_HOST, help="interface (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"TCP port (default {DEFAULT_PORT})")
    parser.add_argument("--max-pending", type=int, default=DEFAULT_MAX_PENDING,
                        help="requests admitted at once; one more is answered 503 busy "
                             f"(default {DEFAULT_MAX_PENDING})")
    parser.add_argument("--explain-concurrency", type=int, default=DEFAULT_EXPLAIN_CONCURRENCY,
                        help=f"explanations computed at once (default {DEFAULT_EXPLAIN_CONCURRENCY})")
    parser.add_argument("--warm-up-studies", type=Path, default=None, metavar="FOLDER",
                        help="explain this studies folder in the background, in the study list's order, into the "
                             "cache (readers' requests always go first; cached studies are skipped)")
    parser.add_argument("--parent-pid", type=int, default=None,
                        help="stop when this process (the supervisor) is gone")
    # Set by the supervisor, reported by /health so that every web process can say the worker was restarted.
    parser.add_argument("--restarts", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--last-restart-reason", default="", help=argparse.SUPPRESS)
    parser.add_argument("--debug-delay", type=float, default=0.0, help=argparse.SUPPRESS)  # tests only
    arguments = parser.parse_args(argv)
    if not 0 <= arguments.port <= 65535:
        parser.error(f"--port must be 0-65535, got {arguments.port}")
    if not 1 <= arguments.max_pending <= 1024:
        parser.error(f"--max-pending must be 1-1024, got {arguments.max_pending}")
    if not 1 <= arguments.explain_concurrency <= 64:
        parser.error(f"--explain-concurrency must be 1-64, got {arguments.explain_concurrency}")
    return arguments


def main(argv: list[str] | None = None) -> int:
    """Load the bundle, then serve until SIGTERM; exit 2 with one line when the bundle is unusable."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    arguments = parse_arguments(argv)
    # TensorFlow is imported here, by loading the model: this process is the one that keeps it.
    from cxrmodel.modeling import BundleError  # noqa: PLC0415 - after the arguments are checked
    from cxrmodel.worker.server import serve  # noqa: PLC0415
    from cxrmodel.worker.service import ModelService  # noqa: PLC0415

    try:
        service = ModelService(arguments.model, arguments.cache_dir, trust_profile=arguments.trust_profile,
                               explain_concurrency=arguments.explain_concurrency,
                               delay_seconds=arguments.debug_delay,
                               supervision={"restarts": arguments.restarts,
                                            "last_restart_reason": arguments.last_restart_reason or None},
                               warm_up_studies=arguments.warm_up_studies)
    except (BundleError, FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    service.start_warm_up()
    try:
        serve(service, arguments.host, arguments.port, max_pending=arguments.max_pending,
              parent_pid=arguments.parent_pid)
    except OSError as error:  # the port is taken
        print(f"error: cannot listen on {arguments.host}:{arguments.port}: {error}", file=sys.stderr)
        service.close()
        return 2
    return 0
