#!/usr/bin/env python3
"""Find (and install) the torch wheel built from a given torch commit, in a folder of wheels.

Nightly and CI wheels carry their commit in ``torch/version.py`` (``git_version``),
not in the file name, so each wheel's version file is read from the zip. This is
the install step of ``asv.torch-commits.conf.json``: asv runs it in each commit's
environment with ``--commit {commit} --install``, so a range of torch commits is
benchmarked without compiling torch.

The wheel folder: --wheels, else $TORCH_WHEEL_DIR. Exit 2 when no wheel matches,
listing the commits that have one.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

from cli import ToolError, one_line, run_tool

GIT_VERSION = re.compile(r"""^git_version\s*(?::\s*str\s*)?=\s*['"]([0-9a-f]{7,40})['"]""", re.M)


def wheel_commit(wheel: Path) -> str | None:
    """torch.version.git_version of a torch wheel, read from its torch/version.py."""
    try:
        with zipfile.ZipFile(wheel) as archive:
            text = archive.read("torch/version.py").decode()
    except (OSError, KeyError, zipfile.BadZipFile):
        return None
    match = GIT_VERSION.search(text)
    return match.group(1) if match else None


def wheels_by_commit(folder: Path) -> dict[str, Path]:
    if not folder.is_dir():
        raise ToolError(f"no wheel folder at {folder}")
    found = {}
    for wheel in sorted(folder.glob("torch-*.whl")):
        commit = wheel_commit(wheel)
        if commit:
            found[commit] = wheel
    return found


def find_wheel(folder: Path, commit: str) -> Path:
    """The wheel whose git_version starts with ``commit`` (or that ``commit`` starts with)."""
    found = wheels_by_commit(folder)
    matches = {c: w for c, w in found.items() if c.startswith(commit) or commit.startswith(c)}
    if len(matches) == 1:
        return next(iter(matches.values()))
    if len(matches) > 1:
        raise ToolError(f"commit {commit} matches several wheels in {folder}: {', '.join(sorted(matches))}")
    available = ", ".join(c[:12] for c in found) or "none"
    raise ToolError(f"no torch wheel for commit {commit[:12]} in {folder}; wheels there are for: {available}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--wheels", type=Path, default=os.environ.get("TORCH_WHEEL_DIR"),
                        help="folder of torch wheels (default: $TORCH_WHEEL_DIR)")
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--commit", help="torch commit (full hash or prefix)")
    group.add_argument("--list", action="store_true", help="list the commits that have a wheel")
    parser.add_argument("--install", action="store_true", help="pip install the wheel into this Python")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.wheels is None:
        raise ToolError("no wheel folder: pass --wheels or set TORCH_WHEEL_DIR")
    if args.list:
        for commit, wheel in wheels_by_commit(args.wheels).items():
            print(f"{commit}  {wheel.name}")
        return 0
    wheel = find_wheel(args.wheels, args.commit)
    print(wheel)
    if args.install:
        command = [sys.executable, "-m", "pip", "install", "--no-deps", "--force-reinstall", str(wheel)]
        try:
            subprocess.run(command, check=True)
        except subprocess.CalledProcessError as error:
            raise ToolError(f"pip could not install {wheel.name}: {one_line(error)}") from None
    return 0


if __name__ == "__main__":
    sys.exit(run_tool(main))
