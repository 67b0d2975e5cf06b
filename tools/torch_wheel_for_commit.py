#!/usr/bin/env python3
"""Find (and install) the torch wheels built from a given torch commit, in a folder of wheels.

This is the install step of ``asv.torch-commits.conf.json``: asv runs it in its
virtualenv with ``--commit {commit} --install`` before benchmarking each commit,
so a range of torch commits is benchmarked, or bisected, without compiling torch.
It runs in that bare virtualenv: standard library only.

How a commit finds its wheels, first match wins:

1. an index file ``torch-wheels.json`` at the folder's top, for folders that hold
   more than torch (a triton or other companion wheel of the same build):
   ``{"<commit>": ["2026-11-24/torch-....whl", "2026-11-24/triton-....whl"], ...}``,
   paths relative to the folder, commits full or abbreviated;
2. otherwise every ``torch-*.whl`` in the folder and its subfolders (nightlies kept
   in a folder per date), by ``git_version`` in its ``torch/version.py``: nightly and
   CI wheels carry their commit there, not in the file name.

``--install`` installs the commit's wheels with pip (then what they need, once),
skips those already installed from the same files by this tool, and uninstalls the packages
it installed for the previous commit that this one does not have. The wheel
folder: --wheels, else $TORCH_WHEEL_DIR. A commit without wheels exits 2 with
one line (asv then skips that commit and shows the line).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

from lib.cli import ToolError, importing, one_line, run_tool, tool_parser

with importing():
    from lib.wheels import BASE_SITE_VARIABLE, WHEEL_DIR_VARIABLE, distribution_name, find_wheels, wheels_by_commit

# What this tool installed last, in the environment's site-packages.
MARKER_NAME = "torch-wheels-installed.json"
# The .pth file that lets the environment import a base torch from another site-packages.
BASE_PTH_NAME = "torch-wheels-base.pth"


def use_base_site(base_site: Path, site_packages: Path) -> None:
    """Let this environment import the packages of ``base_site`` (a machine's CUDA torch) after its own.

    A GPU runner's torch cannot be copied into each environment; the commit's wheels
    (a slowdown build, say) then go on top of it.
    """
    if not (base_site / "torch").is_dir():
        raise ToolError(f"no torch in the base site-packages {base_site}")
    (site_packages / BASE_PTH_NAME).write_text(f"{base_site.resolve()}\n")


def wheel_identity(wheel: Path) -> dict:
    stat = wheel.stat()
    return {"file": str(wheel.resolve()), "size": stat.st_size, "mtime": int(stat.st_mtime)}


def pip(*args: str) -> None:
    command = [sys.executable, "-m", "pip", "--disable-pip-version-check", *args]
    try:
        subprocess.run(command, check=True)
    except (OSError, subprocess.CalledProcessError) as error:
        raise ToolError(f"pip {args[0]} failed: {one_line(error)}") from None


def install(wheels: list[Path], site_packages: Path) -> list[str]:
    """Bring this Python's packages to exactly these wheels; returns what was (re)installed."""
    marker = site_packages / MARKER_NAME
    try:
        before = {entry["name"]: entry for entry in json.loads(marker.read_text())}
    except (OSError, ValueError, TypeError, KeyError):
        before = {}
    wanted = {distribution_name(w): {"name": distribution_name(w), **wheel_identity(w)} for w in wheels}
    # Written first as empty: an install cut short leaves nothing to trust.
    marker.write_text("[]")
    gone = sorted(set(before) - set(wanted))
    if gone:
        pip("uninstall", "-y", *gone)
    changed = [w for w in wheels if before.get(distribution_name(w)) != wanted[distribution_name(w)]]
    if changed:
        pip("install", "--no-deps", "--force-reinstall", *map(str, changed))
        # Then what they need (typing_extensions, sympy, ...), installed once per environment.
        pip("install", *map(str, changed))
    marker.write_text(json.dumps(list(wanted.values()), indent=1))
    return [w.name for w in changed]


def build_parser() -> argparse.ArgumentParser:
    parser = tool_parser(__doc__)
    parser.add_argument("--wheels", type=Path, default=os.environ.get(WHEEL_DIR_VARIABLE),
                        help=f"folder of torch wheels (default: ${WHEEL_DIR_VARIABLE})")
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--commit", help="torch commit (full hash or prefix)")
    group.add_argument("--list", action="store_true", help="list the commits that have wheels")
    parser.add_argument("--install", action="store_true", help="install the commit's wheels into this Python")
    parser.add_argument("--base-site", type=Path, default=os.environ.get(BASE_SITE_VARIABLE) or None,
                        help="a site-packages whose torch the environment uses under the commit's wheels "
                             f"(default: ${BASE_SITE_VARIABLE})")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.wheels is None:
        raise ToolError(f"no wheel folder: pass --wheels or set {WHEEL_DIR_VARIABLE}")
    folder = Path(args.wheels)
    if args.list:
        for commit, wheels in wheels_by_commit(folder).items():
            print(f"{commit}  {' '.join(str(w.relative_to(folder)) for w in wheels)}")
        return 0
    wheels = find_wheels(folder, args.commit)
    for wheel in wheels:
        print(wheel)
    if args.install:
        site_packages = Path(sysconfig.get_paths()["purelib"])
        if args.base_site:
            use_base_site(args.base_site, site_packages)
        changed = install(wheels, site_packages)
        print(f"installed: {', '.join(changed) or 'nothing new (same wheels as before)'}")
    return 0


if __name__ == "__main__":
    sys.exit(run_tool(main))
