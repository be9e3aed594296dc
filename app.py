"""The dashboard: `python app.py [--model DIR] [--studies DIR] [--compare DIR ...] [--host 127.0.0.1] [--port 8050]`.

Composition only: loads the model bundle and the studies, lays out the components, registers their callbacks.
`server` is the Flask app for WSGI servers (the bundled demo is used unless CXR_MODEL / CXR_STUDIES say otherwise).
"""

from __future__ import annotations

import argparse
import functools
import getpass
import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import dash_bootstrap_components as dbc
import diskcache
from dash import CeleryManager, Dash, DiskcacheManager, html
from flask_compress import Compress

from components import (
    distribution_gate,
    model_card,
    model_comparison,
    review_panel,
    session,
    study_browser,
    study_view,
    upload_panel,
    worklist,
)
from components.presenter import StudyResolver, radiograph_png
from components.server import authentication, model_worker, study_images
from components.server.job_slots import DEFAULT_SLOTS, JobSlots
from components.server.reviews import LOCAL_REVIEWER_VARIABLE, ReviewService, local_reviewer_name
from components.server.uploads import UploadStore
from components.study_views import StudyViews, stored_views_enabled
from cxrmodel.data import StudyCollection
from cxrmodel.detection import load_compiled_detection
from cxrmodel.explain import ExplanationCache, StudyExplainer
from cxrmodel.inputs import DEFAULT_MAX_IMAGE_BYTES
from cxrmodel.modeling import BundleError, load_bundle
from cxrmodel.reviews import DATABASE_URL_VARIABLE, ReviewStore, default_database_url

logger = logging.getLogger("app")

PROJECT_ROOT = Path(__file__).resolve().parent
DEFAULT_MODEL = PROJECT_ROOT / "models" / "demo"
DEFAULT_STUDIES = PROJECT_ROOT / "studies" / "demo"
DEFAULT_CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "cxrmodel" / "dashboard"


@dataclass(frozen=True)
class AppConfig:
    """What the dashboard serves."""

    model_directory: Path = DEFAULT_MODEL
    studies_directory: Path = DEFAULT_STUDIES
    cache_directory: Path = DEFAULT_CACHE
    """Root of the on-disk state: ``explanations/`` (IG cache), ``uploads/`` (per-session), ``jobs/`` (background
    callback results). Several server processes may share it."""
    auth_file: Path | None = None
    """``username:<werkzeug hash>`` lines; when set, every route needs HTTP basic auth
    (components.server.authentication)."""
    max_upload_bytes: int = DEFAULT_MAX_IMAGE_BYTES
    """Largest X-ray file accepted by the upload form (``--max-upload-mb``)."""
    max_jobs: int = DEFAULT_SLOTS
    """Explanations computed at once on this machine (``--max-jobs``); more wait in a queue."""
    redis_url: str | None = None
    """When set (``CXR_REDIS_URL``), background jobs run on Celery workers through this Redis (scale-out);
    otherwise each job is a local process (DiskcacheManager)."""
    comparison_directories: tuple[Path, ...] = ()
    """Further bundles whose explanations of the shown study are compared with the dashboard model's
    (``--compare``, ``CXR_COMPARE``: paths separated by the OS path separator; components.model_comparison)."""
    model_worker_url: str | None = None
    """``http://127.0.0.1:PORT`` of the long-lived model worker (``CXR_MODEL_WORKER_URL``; ``python app.py``
    starts and supervises one, components.server.model_worker); None = none."""
    trust_profile: Path | None = None
    """A trust profile folder that judges which films the model can judge, instead of the bundle's own
    (``--trust-profile``, ``CXR_TRUST_PROFILE``; written by ``python -m cxrmodel trust-profile --output``)."""
    database_url: str | None = None
    """Where reviewers' verdicts are stored (``--database-url``, ``CXR_DATABASE_URL``): a PostgreSQL URL for several
    web workers or machines; None = ``reviews.sqlite3`` in the cache directory (cxrmodel.reviews.database)."""


def create_app(config: AppConfig) -> Dash:
    """Build the Dash app for a model bundle and a studies folder.

    Raises:
        BundleError: the bundle is missing or broken (the message names the file).
        AuthFileError: the auth file is missing or malformed (the message names the line).
        FileNotFoundError / ValueError: the studies folder is missing or empty.
    """
    credentials = authentication.load_credentials(config.auth_file) if config.auth_file else None
    # The model is loaded by the first process that computes an explanation (a background job), never by the
    # web process: TensorFlow's runtime does not survive the fork that starts each job (see cxrmodel.modeling.bundle).
    bundle = load_bundle(config.model_directory, load_model=False, trust_profile=config.trust_profile)
    load_compiled_detection()  # the first slider move must not wait for numba
    collection = StudyCollection.from_folder(config.studies_directory)
    cache = ExplanationCache(config.cache_directory / "explanations")
    explainer = StudyExplainer(bundle, cache)
    # Compared bundles share the cache; they are checked now (a broken one stops the start) and load lazily too.
    comparison_explainers = tuple(StudyExplainer(load_bundle(directory, load_model=False), cache, with_evidence=False)
                                  for directory in config.comparison_directories)
    uploads = UploadStore(config.cache_directory / "uploads")
    # The radiograph is loaded from the image route (components.server.study_images), not sent in each response.
    # Each cached study's view is drawn once and read back on later opens (components.study_views).
    views = StudyViews(explainer, study_images.view_image_url) if stored_views_enabled() else None
    resolver = StudyResolver(collection, uploads, image_urls=True, views=views)
    celery_app = make_celery(config.redis_url) if config.redis_url else None
    # Generous SQLite timeout: job results must not be lost when the machine is busy (default 60 s).
    background_manager = (CeleryManager(celery_app) if celery_app is not None
                          else DiskcacheManager(diskcache.Cache(str(config.cache_directory / "jobs"), timeout=600)))
    job_slots = JobSlots(config.cache_directory / "job-slots", config.max_jobs)
    summaries = collection.summaries()
    reviews = ReviewService(ReviewStore(config.database_url or default_database_url(config.cache_directory)),
                            explainer, resolver, authenticated=credentials is not None,
                            local_reviewer=local_reviewer_name(os.environ.get(LOCAL_REVIEWER_VARIABLE)))
    compared_models = (tuple(model_comparison.model_labels([bundle, *(e.bundle for e in comparison_explainers)]))
                       if comparison_explainers else ())
    app = Dash(
        __name__,
        title="Chest X-ray explanations",
        # Bootstrap 5.3.6 (MIT) is served from assets/bootstrap.min.css: dbc.themes points at a CDN, which
        # offline hospital networks and these build machines cannot reach.
        external_stylesheets=[],
        assets_folder=str(PROJECT_ROOT / "assets"),
        background_callback_manager=background_manager,
    )

    def page() -> dbc.Container:
        # A function, so that every page load gets its own session id (components.session).
        # A compact header (title and banner on one line, the study row beside the model card), so that on a
        # 1366 x 768 screen most of the radiograph is above the fold. The picker starts empty: the address bar
        # decides which study opens (components.url_state), and a link to an unknown study opens none.
        return dbc.Container(
            [
                session.layout(),
                html.Div(
                    [html.H1("Chest X-ray explanations", className="page-title mb-0 me-3"),
                     model_card.synthetic_banner(bundle.card)],
                    className="d-flex flex-wrap align-items-center gap-2 mt-2 mb-2 page-header",
                ),
                dbc.Row(
                    [
                        dbc.Col([study_browser.layout(summaries, None), worklist.layout(),
                                 upload_panel.layout(config.max_upload_bytes)], md=8, className="study-row"),
                        dbc.Col(model_card.layout(bundle.card, bundle.fingerprint, bundle.calibration_record),
                                md=4),
                    ]
                ),
                study_view.layout(bundle.config.default_sight_sensitivity, bundle.config.default_link_distance,
                                  bundle.config.default_attribution_smoothing,
                                  studies=tuple(summary.study_id for summary in summaries),
                                  default_study=summaries[0].study_id, max_tokens=bundle.config.max_tokens,
                                  compared_models=compared_models, reads_image=bundle.reads_image),
            ],
            fluid=True,
        )

    app.layout = page
    if credentials is not None:
        authentication.require_basic_auth(app.server, credentials)
    study_images.register(app.server, resolver.image_bytes,
                          views.display_png(radiograph_png) if views is not None else radiograph_png,
                          views.image if views is not None else None)
    # Responses are compressed (gzip / brotli) as the browser accepts, by a kept library: flask-compress.
    Compress(app.server)
    study_view.register_callbacks(app, explainer, resolver, job_slots, config.model_worker_url,
                                  comparison_explainers)
    # A film the model must not be run on (a lateral view) is refused on Analyze, before it is explained.
    upload_panel.register_callbacks(app, uploads, config.max_upload_bytes,
                                    screen=distribution_gate.upload_screen(bundle))
    review_panel.register_callbacks(app, reviews)
    worklist.register_callbacks(app, reviews, summaries)
    app.celery_app = celery_app  # what `celery -A app:celery_app worker` runs (None without Redis)
    app.model_worker_url = config.model_worker_url  # the model worker's address, None without one
    return app


def make_celery(redis_url: str):
    """A Celery app with Redis as broker and result backend, for Dash's CeleryManager.

    Workers (``celery -A app:celery_app worker``) import this module and build the same Dash app, which
    registers every background callback as a Celery task; each worker process loads the model on its first job
    and keeps it (the explanation cache and uploads are shared through ``CXR_CACHE_DIR``).
    """
    from celery import Celery  # noqa: PLC0415 - only when scaling out

    celery_app = Celery("cxr_dashboard", broker=redis_url, backend=redis_url)
    celery_app.conf.update(result_expires=3600, worker_prefetch_multiplier=1, task_acks_late=True,
                           broker_connection_retry_on_startup=True)
    return celery_app


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line arguments of the dashboard."""
    parser = argparse.ArgumentParser(description="Serve the chest X-ray explanation dashboard.")
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL, help="model bundle directory (default: the demo)")
    parser.add_argument("--studies", type=Path, default=DEFAULT_STUDIES, help="OpenI-layout studies folder")
    parser.add_argument("--compare", type=Path, nargs="+", default=(), metavar="BUNDLE",
                        help="further bundles (e.g. the model's text-only and image-only parents, BUNDLE/text-only "
                             "BUNDLE/image-only) whose explanations of each study are compared with the model's")
    parser.add_argument("--trust-profile", type=Path, default=None, metavar="FOLDER",
                        help="judge films with this trust profile (python -m cxrmodel trust-profile --output) "
                             "instead of the bundle's own")
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE,
                        help="on-disk state: explanation cache, uploads, background jobs")
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8050)
    parser.add_argument("--max-upload-mb", type=float, default=DEFAULT_MAX_IMAGE_BYTES / 2**20,
                        help="largest X-ray file the upload form accepts, MiB (default 20)")
    parser.add_argument("--max-jobs", type=int, default=DEFAULT_SLOTS,
                        help=f"explanations computed at once, the rest queue (default: CPU cores = {DEFAULT_SLOTS})")
    parser.add_argument("--auth-file", type=Path, default=None,
                        help="require HTTP basic auth: one 'username:<werkzeug password hash>' per line")
    parser.add_argument("--database-url", default=None, metavar="URL",
                        help="where reviewers' verdicts are stored: postgresql+psycopg://USER@HOST/DB for several web "
                             "workers or machines (default: CXR_DATABASE_URL, else reviews.sqlite3 in --cache-dir)")
    parser.add_argument("--hash-password", metavar="USERNAME", default=None,
                        help="print an auth-file line for USERNAME (password asked for, or read from stdin) and exit")
    parser.add_argument("--model-worker", action=argparse.BooleanOptionalAction, default=True,
                        help="start and supervise a model worker that keeps the model loaded (default: on; off "
                             "with CXR_REDIS_URL, and when CXR_MODEL_WORKER_URL names a running one)")
    parser.add_argument("--warm-up", action=argparse.BooleanOptionalAction, default=True,
                        help="have the model worker explain the studies in the background, in the study list's order, "
                             "so that opening one is a cache hit; readers' requests go first (default: on; only with "
                             "the model worker this command starts)")
    parser.add_argument("--debug", action="store_true", help="Dash debug mode (development only)")
    arguments = parser.parse_args(argv)
    if not 1 <= arguments.port <= 65535:
        parser.error(f"--port must be 1-65535, got {arguments.port}")
    if not 1 <= arguments.max_jobs <= 256:
        parser.error(f"--max-jobs must be 1-256, got {arguments.max_jobs}")
    if not 0.01 <= arguments.max_upload_mb <= 1024:
        parser.error(f"--max-upload-mb must be between 0.01 and 1024, got {arguments.max_upload_mb}")
    return arguments


def worker_arguments(arguments: argparse.Namespace) -> tuple[str, ...]:
    """The model worker's further arguments: the trust profile, and the studies to warm up.

    The warm-up belongs to the one worker ``python app.py`` starts, so that one process explains each study
    once; under gunicorn or Celery nobody starts it unless the worker is started with ``--warm-up-studies``.
    """
    extra: tuple[str, ...] = ()
    if arguments.trust_profile:
        extra += ("--trust-profile", str(arguments.trust_profile))
    if arguments.warm_up:
        extra += ("--warm-up-studies", str(arguments.studies))
    return extra


def print_credential_line(username: str) -> int:
    """``--hash-password``: read a password and print the auth-file line."""
    if sys.stdin.isatty():
        password = getpass.getpass(f"password for {username}: ")
        if getpass.getpass("again: ") != password:
            print("error: the passwords differ", file=sys.stderr)
            return 2
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    try:
        print(authentication.credential_line(username, password))
    except authentication.AuthFileError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point: validate arguments, build the app, serve."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    arguments = parse_arguments(argv)
    if arguments.hash_password is not None:
        return print_credential_line(arguments.hash_password)
    redis_url = os.environ.get("CXR_REDIS_URL") or None
    worker_url = os.environ.get(model_worker.WORKER_URL_VARIABLE) or None
    supervisor = None
    if arguments.model_worker and redis_url is None and worker_url is None:
        supervisor = model_worker.ModelWorkerSupervisor(arguments.model, arguments.cache_dir,
                                                        extra_arguments=worker_arguments(arguments))
        worker_url = supervisor.url
    try:
        app = create_app(AppConfig(arguments.model, arguments.studies, arguments.cache_dir, arguments.auth_file,
                                   int(arguments.max_upload_mb * 2**20), arguments.max_jobs, redis_url,
                                   tuple(arguments.compare), worker_url, arguments.trust_profile,
                                   arguments.database_url))
    except (BundleError, FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if supervisor is not None:
        # Started once the bundle is known to be good; it loads the model while the page starts. The variable
        # tells processes started from here (Flask's debug reloader) to use this worker, not start another.
        supervisor.start()
        os.environ[model_worker.WORKER_URL_VARIABLE] = supervisor.url
    if arguments.host not in ("127.0.0.1", "localhost", "::1") and arguments.auth_file is None:
        logger.warning("binding to %s WITHOUT --auth-file: anyone who can reach this address can use the dashboard "
                       "and see every bundled study", arguments.host)
    # One thread: each explanation job is a fork of this process (Dash's DiskcacheManager), and a fork taken while
    # another request thread holds a lock (SQLite's, in the on-disk stores) hangs the job forever. Long work runs
    # in those jobs, so requests stay short; for parallel requests use gunicorn's (single-threaded) sync workers.
    app.run(host=arguments.host, port=arguments.port, debug=arguments.debug, threaded=False)
    return 0


def config_from_environment() -> AppConfig:
    """The configuration of `gunicorn app:server` and `celery -A app:celery_app worker`: CXR_MODEL, CXR_STUDIES,
    CXR_CACHE_DIR, CXR_AUTH_FILE, CXR_REDIS_URL, CXR_COMPARE, CXR_MODEL_WORKER_URL, CXR_TRUST_PROFILE and
    CXR_DATABASE_URL (defaults: the demo, ~/.cache/cxrmodel/dashboard, no auth, local background processes, no model
    worker, the bundle's own trust profile, reviews.sqlite3 in the cache directory)."""
    return AppConfig(
        Path(os.environ.get("CXR_MODEL", DEFAULT_MODEL)),
        Path(os.environ.get("CXR_STUDIES", DEFAULT_STUDIES)),
        Path(os.environ.get("CXR_CACHE_DIR", DEFAULT_CACHE)),
        Path(os.environ["CXR_AUTH_FILE"]) if os.environ.get("CXR_AUTH_FILE") else None,
        int(float(os.environ.get("CXR_MAX_UPLOAD_MB", DEFAULT_MAX_IMAGE_BYTES / 2**20)) * 2**20),
        int(os.environ.get("CXR_MAX_JOBS", DEFAULT_SLOTS)),
        os.environ.get("CXR_REDIS_URL") or None,
        tuple(Path(part) for part in os.environ.get("CXR_COMPARE", "").split(os.pathsep) if part),
        os.environ.get("CXR_MODEL_WORKER_URL") or None,
        Path(os.environ["CXR_TRUST_PROFILE"]) if os.environ.get("CXR_TRUST_PROFILE") else None,
        os.environ.get(DATABASE_URL_VARIABLE) or None,
    )


@functools.cache
def _environment_app() -> Dash:
    """One app per process for the WSGI server and the Celery worker, built on first use."""
    return create_app(config_from_environment())


def __getattr__(name: str):
    # `server` and `celery_app` are built on first access, so importing app.py (e.g. in tests) loads nothing.
    if name == "server":
        return _environment_app().server
    if name == "celery_app":
        celery_app = _environment_app().celery_app
        if celery_app is None:
            raise AttributeError("celery_app needs CXR_REDIS_URL (e.g. redis://127.0.0.1:6379/0)")
        return celery_app
    raise AttributeError(name)


if __name__ == "__main__":
    raise SystemExit(main())
