"""Command-line interface: `python -m cxrmodel --help` lists the commands.

Every command validates its arguments at the boundary; a user error ends with exit status 2 and one clear
line on stderr, never a traceback. The exit statuses (docs/training.md, "Conventions"): 0 done (also when the
reader of stdout stopped early, ``predict ... | head -1``), 1 an unexpected failure (with its traceback), 2 a user
error, 130 interrupted (Ctrl-C). The result goes to stdout, everything else (progress bars, logs, deprecation
notices) to stderr. TensorFlow's and gensim's logs are quiet by default: ``-v`` shows cxrmodel's own progress
lines, ``-vv`` the libraries' details too.

This module only assembles the parser and runs a command. The commands live in one module per group, each
registering its own with ``add_parser(subparsers)`` or ``add_parsers(subparsers)``: :mod:`~cxrmodel.cli.demo`
(``demo``, ``synthetic``), :mod:`~cxrmodel.cli.explain` (``predict``, ``explain``), :mod:`~cxrmodel.cli.detect`,
:mod:`~cxrmodel.cli.pretrain`, :mod:`~cxrmodel.cli.embeddings`, :mod:`~cxrmodel.cli.train`,
:mod:`~cxrmodel.cli.evaluate` (``evaluate-detection``, ``evaluate``), :mod:`~cxrmodel.cli.evaluate_words`
(``evaluate-words``) and :mod:`~cxrmodel.cli.data`
(``data fetch-*``); what they share (:class:`~cxrmodel.cli._common.CommandError`, the validators) is in
:mod:`cxrmodel.cli._common`. Each command imports its heavy dependencies (TensorFlow, matplotlib, gensim) when
it runs, so building the parser, ``--help`` and ``detect`` load none of them.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import Callable, Sequence

from cxrmodel.cli import (
    calibrate,
    compare_explanations,
    data,
    demo,
    detect,
    embeddings,
    evaluate,
    evaluate_words,
    explain,
    pretrain,
    reviews,
    train,
    trust_profile,
)
from cxrmodel.cli._common import (
    INTERRUPTED_STATUS,
    SUCCESS_STATUS,
    USER_ERROR_STATUS,
    CommandError,
    CommandParser,
)

LIBRARY_LOGGERS = ("tensorflow", "absl", "keras", "gensim", "smart_open", "numba", "matplotlib", "PIL")
"""Third-party loggers kept at WARNING (TensorFlow: ERROR) unless ``-vv``: gensim alone logs dozens of lines per
word2vec run, TensorFlow a retracing warning per new input shape."""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every command, in the order ``--help`` lists them.

    Returns:
        The parser; each command's namespace has a ``handler(arguments) -> exit status``.
    """
    parser = CommandParser(
        prog="python -m cxrmodel",
        description="Chest X-ray multimodal: synthetic data, demo model, predictions. Exit status: 0 done, 1 an "
        "unexpected failure (traceback), 2 a user error (one line on stderr), 130 interrupted.",
    )
    parser.add_argument("--verbose", "-v", action="count", default=0,
                        help="-v: cxrmodel's log at INFO level; -vv: also TensorFlow's and gensim's details")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo.add_parsers(commands)  # demo build|baseline|selection, synthetic
    explain.add_parsers(commands)  # predict, explain
    detect.add_parser(commands)
    pretrain.add_parsers(commands)  # synthetic-chestxray14, pretrain-image
    embeddings.add_parser(commands)  # embeddings train|check
    train.add_parsers(commands)  # train, evaluate-models, pipeline
    calibrate.add_parser(commands)  # calibrate
    trust_profile.add_parser(commands)  # trust-profile
    evaluate.add_detection_parser(commands)  # evaluate-detection
    data.add_parser(commands)  # data fetch-openi-reports|fetch-chestxray14-labels
    evaluate.add_parser(commands)  # evaluate
    evaluate_words.add_parser(commands)  # evaluate-words
    compare_explanations.add_parser(commands)  # compare-explanations
    reviews.add_parser(commands)  # reviews summary|export|import
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run a command.

    Args:
        argv: The arguments after ``python -m cxrmodel``; ``None`` reads ``sys.argv``.

    Returns:
        The process exit status: the command's, or 2 (:data:`~cxrmodel.cli._common.USER_ERROR_STATUS`) after
        one line on stderr for a :class:`~cxrmodel.cli._common.CommandError`, ``ValueError`` or ``OSError``.
    """
    parser = build_parser()
    arguments = parser.parse_args(argv)
    _configure_logging(arguments.verbose)
    handler: Callable[[argparse.Namespace], int] | None = getattr(arguments, "handler", None)
    if handler is None:
        parser.print_help()
        return 0 if arguments.command is None else USER_ERROR_STATUS
    try:
        status = handler(arguments)
        sys.stdout.flush()  # a closed pipe shows here, inside the handler below, not at interpreter exit
        return status
    except BrokenPipeError:
        return _reader_went_away()
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return INTERRUPTED_STATUS
    except (CommandError, ValueError, OSError) as error:  # OSError: missing, unwritable or clashing files
        print("error: " + " ".join(str(error).split()), file=sys.stderr)  # always one line
        return USER_ERROR_STATUS


def _reader_went_away() -> int:
    """The reader of stdout closed it (``predict ... | head -1``): stop quietly with status 0.

    Python's recipe (https://docs.python.org/3/library/signal.html#note-on-sigpipe): point stdout at devnull so
    the flush at interpreter exit raises no second BrokenPipeError. Unlike the recipe, the status is 0: the reader
    had all it asked for.
    """
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    return SUCCESS_STATUS


def _configure_logging(verbosity: int) -> None:
    """cxrmodel at INFO with ``-v`` (else WARNING); TensorFlow and gensim quiet unless ``-vv``."""
    logging.basicConfig(
        level=logging.INFO if verbosity >= 1 else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if verbosity < 2:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's C++ start-up lines (read at its import)
        for name in LIBRARY_LOGGERS:
            logging.getLogger(name).setLevel(logging.ERROR if name == "tensorflow" else logging.WARNING)
