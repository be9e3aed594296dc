"""The ``data fetch-openi-reports`` and ``data fetch-chestxray14-labels`` commands: real datasets into the cache.

    python -m cxrmodel data fetch-openi-reports [--output DIR] [--from-wheel WHEEL] [--timeout SECONDS]
    python -m cxrmodel data fetch-chestxray14-labels [--output DIR] [--from-wheel WHEEL] [--timeout SECONDS]

Each runs the :mod:`cxrmodel.data.fetch` function of the same name (sha256-checked) and prints the path of every
file it put in the cache, one a line: that is the command's product. A failed fetch
(:class:`cxrmodel.data.fetch.FetchError`) is a user error: one line on stderr, exit status 2.
:func:`cxrmodel.cli.main.build_parser` registers the group with :func:`add_parser`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from cxrmodel.cli._common import CommandError, DeprecatedOption, positive_float


def _command_fetch(arguments: argparse.Namespace) -> int:
    from cxrmodel.data import fetch  # noqa: PLC0415 - the fetchers only when fetching

    try:
        paths = getattr(fetch, arguments.fetcher)(arguments.output, wheel=arguments.from_wheel,
                                                  timeout=arguments.timeout)
    except fetch.FetchError as error:
        raise CommandError(str(error)) from None
    for path in paths if isinstance(paths, tuple) else (paths,):
        print(path)
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``data`` with one ``fetch-*`` sub-command per dataset.

    Args:
        subparsers: The CLI's sub-command set (``ArgumentParser.add_subparsers()``).
    """
    data = subparsers.add_parser("data", help="fetch real datasets into the local cache")
    data_commands = data.add_subparsers(dest="data_command", metavar="DATA_COMMAND")
    for name, fetcher, what in (
        ("fetch-openi-reports", "fetch_openi_reports", "the OpenI IU X-ray reports (NLMCXR_reports.tgz, CC BY-NC-ND)"),
        ("fetch-chestxray14-labels", "fetch_chestxray14_labels",
         "the NIH ChestX-ray14 label and box files (Data_Entry_2017_v2020.csv.gz, BBox_List_2017.csv.gz)"),
    ):
        fetch = data_commands.add_parser(name, help=f"put {what} in the cache, sha256-checked")
        fetch.add_argument("--output", type=Path, default=None, metavar="FOLDER",
                           help="folder to put the files in (default: $XDG_CACHE_HOME/cxrmodel/data or "
                                "~/.cache/cxrmodel/data)")
        fetch.add_argument("--dest", dest="output", type=Path, metavar="FOLDER", action=DeprecatedOption,
                           replacement="--output")
        fetch.add_argument("--from-wheel", type=Path, default=None,
                           help="extract from this already downloaded torchxrayvision-1.5.7 wheel (no network)")
        fetch.add_argument("--timeout", type=positive_float, default=600.0, help="seconds pip download may take")
        fetch.set_defaults(handler=_command_fetch, fetcher=fetcher)
