"""Which wheels belong to which torch commit, in a folder of wheels.

An index file ``torch-wheels.json`` at the folder's top, where there is one
(commit -> the build's wheel files, companions included, relative to the
folder and inside it; an empty list: the base torch alone, where the install
step is given one); otherwise every ``torch-*.whl`` below the folder (nightlies in a
folder per date), by the ``git_version`` in its ``torch/version.py``.
Standard library only: asv's bare virtualenv runs the install step with it.
"""

from __future__ import annotations

import base64
import hashlib
import re
import zipfile
from pathlib import Path

from lib.cli import ToolError, read_json_object

INDEX_NAME = "torch-wheels.json"
# How torch_commits.py hands asv's per-commit install command (torch_wheel_for_commit.py) the wheel folder and
# the site-packages whose torch an environment uses under a commit's wheels.
WHEEL_DIR_VARIABLE = "TORCH_WHEEL_DIR"
BASE_SITE_VARIABLE = "TORCH_BASE_SITE"
GIT_VERSION = re.compile(r"""^git_version\s*(?::\s*str\s*)?=\s*['"]([0-9a-f]{7,40})['"]""", re.M)


def wheel_commit(wheel: Path) -> str | None:
    """torch.version.git_version of a torch wheel, read from its torch/version.py."""
    try:
        with zipfile.ZipFile(wheel) as archive:
            text = archive.read("torch/version.py").decode()
    except (OSError, KeyError, zipfile.BadZipFile, UnicodeDecodeError):  # not a torch wheel this tool can read
        return None
    match = GIT_VERSION.search(text)
    return match.group(1) if match else None


def distribution_name(wheel: Path) -> str:
    """The wheel's project name as pip knows it (the file name's first field, normalized)."""
    return re.sub(r"[-_.]+", "-", wheel.name.split("-")[0]).lower()


def read_index(folder: Path) -> dict[str, list[Path]] | None:
    path = folder / INDEX_NAME
    if not path.is_file():
        return None
    entries = read_json_object(path, "cannot read")
    for commit, names in entries.items():
        if not (isinstance(names, list) and all(isinstance(name, str) for name in names)):
            raise ToolError(f"cannot read {path}: {commit} names no list of wheel files: {names!r}"[:300])
    index = {commit: [folder / name for name in names] for commit, names in entries.items()}
    inside = folder.resolve()
    for wheels in index.values():
        outside = [str(w) for w in wheels if not w.resolve().is_relative_to(inside)]
        if outside:
            raise ToolError(f"{path} names wheels outside {folder}: {', '.join(outside)}")
        missing = [str(w) for w in wheels if not w.is_file()]
        if missing:
            raise ToolError(f"{path} names wheels that are not there: {', '.join(missing)}")
    return index


def wheels_by_commit(folder: Path) -> dict[str, list[Path]]:
    """Every commit of the folder with its wheels: from the index file, else from torch wheels."""
    if not folder.is_dir():
        raise ToolError(f"no wheel folder at {folder}")
    index = read_index(folder)
    if index is not None:
        return index
    found: dict[str, list[Path]] = {}
    for wheel in sorted(folder.rglob("torch-*.whl")):
        commit = wheel_commit(wheel)
        if commit:
            found[commit] = [wheel]
    return found


def same_commit(a: str, b: str) -> bool:
    """Two spellings of one commit: full hashes or abbreviations of each other."""
    return a.startswith(b) or b.startswith(a)


def find_wheels(folder: Path, commit: str) -> list[Path]:
    """The wheels whose commit starts with ``commit`` (or that ``commit`` starts with)."""
    found = wheels_by_commit(folder)
    matches = {c: w for c, w in found.items() if same_commit(c, commit)}
    if len(matches) == 1:
        return next(iter(matches.values()))
    if len(matches) > 1:
        raise ToolError(f"commit {commit} matches several builds in {folder}: {', '.join(sorted(matches))}")
    available = ", ".join(c[:12] for c in found) or "none"
    raise ToolError(f"no torch wheel for commit {commit[:12]} in {folder}, skipped; "
                    f"wheels there are for: {available}")


def without_wheels(folder: Path, commits: list[str]) -> list[str]:
    """The commits (full hashes) that no build in the folder belongs to."""
    built = wheels_by_commit(folder)
    return [commit for commit in commits if not any(same_commit(commit, c) for c in built)]


def write_wheel(out_dir: Path, project: str, version: str, files: dict[str, bytes]) -> Path:
    """A pure-Python wheel of these files, with the metadata and RECORD that pip checks."""
    dist_info = f"{project}-{version}.dist-info"
    contents = {
        **files,
        f"{dist_info}/METADATA": f"Metadata-Version: 2.1\nName: {project}\nVersion: {version}\n".encode(),
        f"{dist_info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: attention-bias-benchmarks\n"
                              b"Root-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = [f"{name},sha256={base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()},"
              f"{len(data)}" for name, data in contents.items()]
    contents[f"{dist_info}/RECORD"] = ("\n".join([*record, f"{dist_info}/RECORD,,"]) + "\n").encode()
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{project}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in contents.items():
            archive.writestr(name, data)
    return path
