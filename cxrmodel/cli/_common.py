"""What every command module shares: the user-error type and status, and the argparse ``type=`` validators.

A command raises :class:`CommandError` for a problem the user can fix; :func:`cxrmodel.cli.main.main` prints it
as one line on stderr and returns :data:`USER_ERROR_STATUS`. Each validator turns a bad value into
``argparse.ArgumentTypeError`` with a message the user can act on; argparse then prints it as one line and exits
with the same status 2.

Only the standard library and :mod:`cxrmodel.detection` (no TensorFlow) are imported here, so every command
module can import this one at its top.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable, TypeVar

from cxrmodel.detection import validate_smoothing

Number = TypeVar("Number", int, float)

SUCCESS_STATUS = 0
"""Exit status of a command that did its work (also when the reader of its output, e.g. ``head``, stopped early)."""

FAILURE_STATUS = 1
"""Exit status of an unexpected failure: Python prints the traceback (a bug worth reporting)."""

USER_ERROR_STATUS = 2
"""Exit status of a user error, the same as argparse's for a bad argument."""

INTERRUPTED_STATUS = 130
"""Exit status after Ctrl-C (128 + SIGINT, as a shell reports it)."""

SEED_HELP = "random seed of the splits, the initial weights and any sampling: the same seed gives the same result"
"""Help text of every ``--seed``."""

MIN_POINTS_HELP = "smallest cluster of strong pixels drawn as a circle"
"""Help text of ``--min-points`` (``explain`` and ``evaluate-detection``)."""

STEPS_HELP = ("'auto' (raise the integration steps until the completeness error is at most 1 %%, cap 128) or a "
              "number of integration steps")
"""Help text of ``--steps`` (``explain`` and ``evaluate-detection``)."""

SMOOTHING_HELP = ("sigma in model-grid pixels of the sum-preserving blur of the image attribution map before the "
                  "circles (0 = the raw map; default: the bundle's)")
"""Help text of ``--smoothing`` (``explain`` and ``evaluate-detection``)."""


class CommandError(Exception):
    """A problem the user can fix (bad argument, missing file); printed as one line, exit status 2."""


class DefaultsShownFormatter(argparse.HelpFormatter):
    """``--help`` shows every option's default: ``(default: VALUE)`` is appended to a help text that names none.

    As :class:`argparse.ArgumentDefaultsHelpFormatter`, except that a help text already saying its default in
    words ("default: the bundle's") is left alone, and a default of None (the option is off or derived) or False (a
    flag) is not printed.
    """

    def _get_help_string(self, action: argparse.Action) -> str:
        help_text = action.help or ""
        if "%(default)" in help_text or "default" in help_text or not action.option_strings:
            return help_text
        if action.default is None or action.default is False or action.default is argparse.SUPPRESS:
            return help_text
        return help_text + " (default: %(default)s)"


class CommandParser(argparse.ArgumentParser):
    """The parser of the CLI and of every command (``add_subparsers`` hands its class down): defaults shown."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("formatter_class", DefaultsShownFormatter)
        super().__init__(*args, **kwargs)


class DeprecatedOption(argparse.Action):
    """An old spelling of an option, kept for one release: it stores into the new option's destination and says on
    stderr, once per use, which spelling replaces it.

    Register it with ``dest`` set to the new option's and ``replacement`` naming it, e.g.
    ``parser.add_argument("--output-json", dest="output", action=DeprecatedOption, replacement="--output",
    type=Path)``; its help says which spelling replaces it.
    """

    def __init__(self, option_strings, dest, replacement: str, **kwargs) -> None:
        self.replacement = replacement
        kwargs.setdefault("help", f"deprecated spelling of {replacement} (removed in the next release)")
        kwargs.setdefault("default", argparse.SUPPRESS)  # the new option's default stands
        super().__init__(option_strings, dest, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        deprecation_notice(f"{option_string} is deprecated and will be removed in the next release; "
                           f"use {self.replacement}")
        setattr(namespace, self.dest, values)


def deprecation_notice(message: str) -> None:
    """One ``deprecated: ...`` line on stderr (not a log record: it shows without ``-v`` and never on stdout)."""
    print(f"deprecated: {message}", file=sys.stderr)


def _parsed(text: str, parse: Callable[[str], Number], expected: str) -> Number:
    try:
        return parse(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None


def _checked(value: Number, holds: bool, message: str) -> Number:
    if not holds:
        raise argparse.ArgumentTypeError(f"{message}, got {value}")
    return value


def whole_number(text: str) -> int:
    """Any whole number (the command checks its range, with its own message)."""
    return _parsed(text, int, "a whole number")


def positive_int(text: str) -> int:
    """A whole number ≥ 1."""
    value = _parsed(text, int, "a whole number")
    return _checked(value, value > 0, "expected a positive number")


def positive_float(text: str) -> float:
    """A number > 0."""
    value = _parsed(text, float, "a positive number")
    return _checked(value, value > 0, "expected a positive number")


def fraction_below_half(text: str) -> float:
    """A share of a data set in (0, 0.5), e.g. a validation or test fraction."""
    value = _parsed(text, float, "a fraction such as 0.1")
    return _checked(value, 0.0 < value < 0.5, "expected a fraction between 0 and 0.5")


def image_size(text: str) -> int:
    """A model grid side in pixels, at least 32."""
    value = positive_int(text)
    return _checked(value, value >= 32, "the model grid must be at least 32 pixels")


def sight_sensitivity(text: str) -> float:
    """A threshold τ in [0, 1]."""
    value = _parsed(text, float, "a number between 0 and 1")
    return _checked(value, 0.0 <= value <= 1.0, "sight sensitivity must be between 0 and 1")


def attribution_smoothing(text: str) -> float:
    """Sigma of the attribution-map blur in model-grid pixels (the range of :func:`validate_smoothing`)."""
    value = _parsed(text, float, "a number of model-grid pixels such as 3")
    try:
        return validate_smoothing(value)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def output_folder(text: str) -> Path:
    """A folder to write into: it exists as a folder, or can be created (its nearest existing ancestor is one).

    Checked when the arguments are parsed, so a long command fails at once rather than after its work.
    """
    path = Path(text).expanduser()
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text} exists and is not a folder")
    ancestor = next((parent for parent in path.absolute().parents if parent.exists()), None)
    if not path.exists() and ancestor is not None and not ancestor.is_dir():
        raise argparse.ArgumentTypeError(f"cannot create {text}: {ancestor} is a file, not a folder")
    return path


def writable_file(path: Path, option: str) -> None:
    """Check that ``option``'s ``path`` can be written as a file: not a folder, in a folder that exists.

    Raises:
        CommandError: naming the option and the problem (checked before a long command does its work).
    """
    if path.is_dir():
        raise CommandError(f"{option}: {path} is a folder, not a file")
    parent = path.absolute().parent
    if not parent.is_dir():
        raise CommandError(f"{option}: folder {parent} does not exist")


def existing_directory(text: str) -> Path:
    """A folder that exists (a model bundle, a studies folder)."""
    path = Path(text)
    if not path.is_dir():
        raise argparse.ArgumentTypeError(f"directory {text!r} does not exist")
    return path


def integration_steps(text: str) -> int | str:
    """``"auto"`` or a number of integration steps, at least 2."""
    if text == "auto":
        return text
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"steps must be 'auto' or a whole number, got {text!r}") from None
    if value < 2:
        raise argparse.ArgumentTypeError(f"steps must be at least 2, got {value}")
    return value
