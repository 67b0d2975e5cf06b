"""The tools' command-line conventions: exit 2 with one line for a user error, no traceback.

Standard library only: a bare virtualenv (asv's per-commit environment) can import it.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path


class ToolError(Exception):
    """A user error: printed as one line, exit code 2."""


# ---------------------------------------------------------------- command line


def add_results_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--results-dir",
        type=Path,
        help="asv results directory (default: results_dir of asv.conf.json)",
    )
    parser.add_argument(
        "--machine", help="asv machine name (default: the only one, else the most recently run)"
    )


def add_format_argument(parser: argparse.ArgumentParser, choices: Sequence[str]) -> None:
    parser.add_argument("--format", choices=choices, default=choices[0], help="output format")


def run_tool(main: Callable[[list[str] | None], int], argv: list[str] | None = None) -> int:
    """Call a tool's main, turning ToolError into one line on stderr and exit code 2."""
    try:
        return main(argv)
    except ToolError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # e.g. piped into head
        return 0


def one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__
