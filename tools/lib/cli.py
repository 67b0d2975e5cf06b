"""The tools' command-line conventions, in one place for every entry point.

Exit codes: 0 success, 1 a finding (a regression, a slower build) and only a
finding, 2 a user error (bad input or arguments), 3 the tool itself failed (a bug,
a full disk, out of memory): never a finding, so the nightly treats it as a broken
job. Errors are one line on stderr; ``ATTENTION_BIAS_TRACEBACK=1`` adds the traceback
to a failure of the tool (exit 3).
A reader of stdout or stderr that goes away loses the output, never the work or the exit code.
Writes are whole or absent. Standard library only: asv's bare per-commit
virtualenv imports it.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import json
import math
import os
import re
import shutil
import sys
import traceback
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, NoReturn

from lib.suite import write_whole  # noqa: F401  (the tools' one writer, re-exported)

SUCCESS, FINDING, USER_ERROR, TOOL_FAILED = 0, 1, 2, 3
# A write that fails with one of these is the machine's fault (exit 3), whatever the user asked for.
MACHINE_WRITE_ERRORS = (errno.ENOSPC, errno.EDQUOT, errno.EIO)
TRACEBACK_VARIABLE = "ATTENTION_BIAS_TRACEBACK"


class ToolError(Exception):
    """A user error: printed as one line, exit code 2."""


# ---------------------------------------------------------------- command line


MACHINE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,99}")


def machine_name(text: str) -> str:
    """An asv machine name that stays a folder of the results folder: no separators, no '..'."""
    if not MACHINE_NAME.fullmatch(text) or ".." in text:
        raise argparse.ArgumentTypeError(f"not a machine name (letters, digits, '.', '_', '+', '-'): {text!r}")
    return text


def python_path(text: str) -> str:
    """A Python given on the command line: a path is the caller's folder's, made absolute as given (asv, the
    nightly's steps and the re-measurement's workers run from other folders; a link stays a link, as a
    virtualenv's python is one, and '..' is not collapsed across one); '~' is the home folder; a bare name is
    looked up on PATH, as the shell would."""
    if os.sep not in text and not text.startswith("~"):
        return text
    return str(Path(text).expanduser().absolute())


class ToolParser(argparse.ArgumentParser):
    """argparse's parser, its errors one line (exit 2) that point to --help for the usage."""

    def error(self, message: str) -> NoReturn:
        self.exit(USER_ERROR, f"{self.prog}: error: {message} (--help: the usage)\n")


def tool_parser(doc: str | None) -> ToolParser:
    """A tool's parser: its module's docstring as the help's text, as written."""
    return ToolParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)


def runnable_pythons(pythons: dict[str, str | None]) -> None:
    """The Pythons a tool will start, by option (one not given left out), checked before any work: each an
    executable file, or a name on PATH. Found missing only when its turn came, one would cost the work before
    it, or turn a user's typo into a fault of the tool."""
    for option, python in pythons.items():
        if python and shutil.which(python) is None:
            raise ToolError(f"{option} {python}: not an executable")


def add_results_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--results-dir",
        type=Path,
        help="asv results directory (default: results_dir of asv.conf.json)",
    )
    parser.add_argument(
        "--machine", type=machine_name,
        help="asv machine name (default: the only one, else the most recently run)"
    )


def add_asv_arguments(parser: argparse.ArgumentParser, text: str) -> None:
    """Every word after the tool's own: more arguments for asv, none at all allowed (argparse lists a
    positional remainder among the missing arguments of a usage error unless it is marked optional)."""
    parser.add_argument("asv_args", nargs=argparse.REMAINDER, default=[], help=text).required = False


def add_format_argument(parser: argparse.ArgumentParser, choices: Sequence[str]) -> None:
    parser.add_argument("--format", choices=choices, default=choices[0], help="output format")


@contextlib.contextmanager
def importing() -> Iterator[None]:
    """Around a tool's imports beyond the standard library and this module: one that fails (a package missing
    from a broken environment, an error in a module) is exit 3, one line. Python's own exit would be 1,
    which reads as a finding."""
    try:
        yield
    except Exception as error:
        print(f"failed: cannot import what the tool needs: {type(error).__name__}: {one_line(error)[:300]} "
              "(a fault of the environment or the tool, not a finding)", file=sys.stderr)
        raise SystemExit(TOOL_FAILED) from None


class LosableOutput:
    """A tool's stdout or stderr: where its reader has gone (a closed pipe, a dead log collector, ``| head``),
    what is printed from then on is lost and the tool goes on, so that the files it writes and its exit code
    still say what it did and found."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream

    def write(self, text: str) -> int:
        try:
            return self.stream.write(text)
        except BrokenPipeError:
            self.lose()
            return len(text)

    def flush(self) -> None:
        try:
            self.stream.flush()
        except BrokenPipeError:
            self.lose()

    def lose(self) -> None:
        """From now on the stream is the null device, this process's and the processes it starts: Python's flush
        at exit would fail again on the pipe."""
        with contextlib.suppress(OSError, ValueError):
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, self.stream.fileno())
            os.close(null)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)


def run_tool(main: Callable[[list[str] | None], int], argv: list[str] | None = None) -> int:
    """Call a tool's main: a ToolError is one line and exit 2; anything unexpected one line and exit 3. Its
    stdout and stderr may lose their reader without changing either (LosableOutput)."""
    streams = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = LosableOutput(sys.stdout), LosableOutput(sys.stderr)  # type: ignore[assignment]
    try:
        return main(argv)
    except ToolError as error:
        print(f"error: {error}", file=sys.stderr)
        return USER_ERROR
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return TOOL_FAILED
    except (Exception, RecursionError, MemoryError) as error:  # the one place that catches everything
        if os.environ.get(TRACEBACK_VARIABLE):
            traceback.print_exc()
        print(f"failed: {type(error).__name__}: {one_line(error)[:300]} "
              f"(a fault of the tool or the machine, not a finding; {TRACEBACK_VARIABLE}=1 shows where)",
              file=sys.stderr)
        return TOOL_FAILED
    finally:
        # A block-buffered stdout (a pipe) holds a short output until here: flushed while the pipe's loss is
        # still caught, not at the interpreter's exit, where it would end the process with 120.
        sys.stdout.flush()
        sys.stderr.flush()
        sys.stdout, sys.stderr = streams


def checked_factor(factor: float) -> float:
    """A slowdown factor as the tools take it (asv compare's too): a finite number above 1."""
    if not (math.isfinite(factor) and factor > 1.0):
        raise ToolError(f"--factor must be a finite number above 1, not {factor}")
    return factor


def writable_folder(path: Path) -> None:
    """Checked before any work: the folder of a file the user asked for exists and takes files, and the file's
    name is not a folder's."""
    if path.is_dir():
        raise ToolError(f"cannot write {path}: it is a folder")
    if path.is_symlink() or (path.exists() and not path.is_file()):  # replaced whole, never written through
        raise ToolError(f"cannot write {path}: it is a link or a device, not a file")
    if not path.parent.is_dir():
        raise ToolError(f"cannot write {path}: no folder {path.parent}")
    if not os.access(path.parent, os.W_OK):
        raise ToolError(f"cannot write {path}: {path.parent} is read-only")


def outside_results(path: Path, results_dir: Path) -> None:
    """A report is never written among the results: its name could be a night's, replaced by markdown."""
    if path.resolve().is_relative_to(results_dir.resolve()):
        raise ToolError(f"cannot write {path}: it is inside the results folder {results_dir}")


def write_report(path: Path, text: str) -> None:
    """A report the user asked for: a missing or read-only folder is a user error, named; a full disk is the
    machine's fault."""
    writable_folder(path)
    try:
        write_whole(path, text)
    except OSError as error:
        if error.errno in MACHINE_WRITE_ERRORS:
            raise
        raise ToolError(f"cannot write {path}: {one_line(error)}") from None


def read_json_object(path: Path, damaged: str, loads: Callable[[str], object] = json.loads) -> dict:
    """A JSON file that must hold an object; where it cannot be read or parsed, or holds anything else, one
    line: ``damaged`` (say "corrupt names file"), the path, why."""
    try:
        data = loads(path.read_text())
    except (OSError, ValueError, RecursionError) as error:
        raise ToolError(f"{damaged} {path}: {one_line(error)}") from None
    if not isinstance(data, dict):
        raise ToolError(f"{damaged} {path}: not a JSON object")
    return data


def one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__
