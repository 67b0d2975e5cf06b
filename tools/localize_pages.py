#!/usr/bin/env python3
"""Make `asv publish`'s pages work without the internet: serve its JavaScript and CSS locally.

asv's index.html loads jQuery, flot, bootstrap and a few plugins from public
CDNs; on an intranet host, an offline runner or in a test the pages then show
only "Can not determine continental origin of swallow". This fetches the same
libraries from the npm registry (`npm pack`, cached), copies the files into
HTML_DIR/vendor/ and points the pages at them. stupidtable is 1.1.3 there: npm
has no 1.0.1.
"""

from __future__ import annotations

import argparse
import contextlib
import re
import subprocess
import sys
import tarfile
import zlib
from collections.abc import Iterator
from pathlib import Path

from lib.cli import MACHINE_WRITE_ERRORS, ToolError, one_line, run_tool, tool_parser, write_whole
from lib.suite import REPO_ROOT

# CDN address in asv 0.6's pages -> (npm package, file inside its tarball)
ASSETS = {
    "https://code.jquery.com/jquery-3.3.1.min.js": ("jquery@3.3.1", "package/dist/jquery.min.js"),
    "https://cdnjs.cloudflare.com/ajax/libs/flot/0.8.3/jquery.flot.min.js": ("flot@0.8.3", "package/jquery.flot.js"),
    "https://cdnjs.cloudflare.com/ajax/libs/flot/0.8.3/jquery.flot.time.min.js":
        ("flot@0.8.3", "package/jquery.flot.time.js"),
    "https://cdnjs.cloudflare.com/ajax/libs/flot/0.8.3/jquery.flot.selection.min.js":
        ("flot@0.8.3", "package/jquery.flot.selection.js"),
    "https://cdnjs.cloudflare.com/ajax/libs/flot/0.8.3/jquery.flot.categories.min.js":
        ("flot@0.8.3", "package/jquery.flot.categories.js"),
    "https://cdn.jsdelivr.net/npm/flot-orderbars@1.0.0/js/jquery.flot.orderBars.js":
        ("flot-orderbars@1.0.0", "package/js/jquery.flot.orderBars.js"),
    "https://cdnjs.cloudflare.com/ajax/libs/stupidtable/1.0.1/stupidtable.min.js":
        ("stupid-table-plugin@1.1.3", "package/stupidtable.min.js"),
    "https://cdnjs.cloudflare.com/ajax/libs/blueimp-md5/2.19.0/js/md5.min.js":
        ("blueimp-md5@2.19.0", "package/js/md5.min.js"),
    "https://cdn.jsdelivr.net/npm/bootstrap@3.1.1/dist/js/bootstrap.min.js":
        ("bootstrap@3.1.1", "package/dist/js/bootstrap.min.js"),
    "https://cdn.jsdelivr.net/npm/bootstrap@3.1.1/dist/css/bootstrap.min.css":
        ("bootstrap@3.1.1", "package/dist/css/bootstrap.min.css"),
}


LOCAL_INTEGRITY = re.compile(r'((?:src|href)="vendor/[^"]+")\s+integrity="[^"]*"(?:\s+crossorigin="[^"]*")?')


def tarball(spec: str, cache: Path) -> Path:
    """The npm tarball of ``spec`` (name@version), fetched once into ``cache``."""
    name, version = spec.rsplit("@", 1)
    path = cache / f"{name}-{version}.tgz"
    if not path.is_file():
        try:
            subprocess.run(["npm", "pack", "--silent", "--pack-destination", str(cache), spec],
                           check=True, capture_output=True, text=True)
        except (OSError, subprocess.CalledProcessError) as error:
            detail = getattr(error, "stderr", "") or one_line(error)
            raise ToolError(f"npm could not fetch {spec}: {one_line(Exception(detail))}") from None
    return path


def asset(spec: str, member: str, cache: Path) -> bytes:
    """``member`` of ``spec``'s tarball; a cached tarball that does not read (a fetch cut short) is removed and
    fetched again, once."""
    for _ in range(2):
        path = tarball(spec, cache)
        try:
            with tarfile.open(path) as archive:
                source = archive.extractfile(member)
                if source is None:
                    raise ToolError(f"{spec} has no file {member}")
                return source.read()
        except (tarfile.TarError, OSError, EOFError, zlib.error) as error:  # a gzip stream cut short: EOFError
            path.unlink(missing_ok=True)
            unreadable = f"{path}: {one_line(error)}"
    raise ToolError(f"npm's tarball of {spec} does not read: {unreadable}")


@contextlib.contextmanager
def as_users_fault(path: Path, doing: str) -> Iterator[None]:
    """Around a read or write of the user's pages: a folder that does not take it (a file where vendor/ goes, no
    permission) or a page that is not UTF-8 is a user error, one line naming ``path``; a full or failing disk
    stays the machine's fault (exit 3), as in the other tools."""
    try:
        yield
    except FileExistsError:
        raise ToolError(f"cannot {doing} {path}: a file of that name is there, not a folder") from None
    except UnicodeDecodeError as error:
        raise ToolError(f"cannot {doing} {path}: not UTF-8 text ({error.reason} at byte {error.start})") from None
    except OSError as error:
        if error.errno in MACHINE_WRITE_ERRORS:
            raise
        raise ToolError(f"cannot {doing} {path}: {error.strerror or one_line(error)}") from None


def localize(html_dir: Path, cache: Path) -> int:
    """Copy the assets into html_dir/vendor and rewrite the pages; returns the pages changed."""
    pages = sorted(html_dir.glob("*.html"))
    if not pages:
        raise ToolError(f"no asv pages in {html_dir}: run `asv publish` first")
    texts = {page: read_page(page) for page in pages}  # all read first: a page that does not is said before any fetch
    local = vendored(html_dir / "vendor", cache)
    changed = 0
    for page, text in texts.items():
        new = text
        for url, path in local.items():
            new = new.replace(url, path)
        # The CDN's subresource-integrity hashes are of its minified builds; the
        # local copies are served from the pages' own origin.
        new = LOCAL_INTEGRITY.sub(r"\1", new)
        if new != text:
            with as_users_fault(page, "write"):
                write_whole(page, new.encode())  # as read: UTF-8, whatever the locale
            changed += 1
    return changed


def read_page(page: Path) -> str:
    with as_users_fault(page, "read"):
        return page.read_text(encoding="utf-8")


def vendored(vendor: Path, cache: Path) -> dict[str, str]:
    """Each asset copied into ``vendor``: its CDN address -> its path beside the pages."""
    with as_users_fault(vendor, "make the folder"):
        vendor.mkdir(exist_ok=True)
    local = {}
    for url, (spec, member) in ASSETS.items():
        target = vendor / f"{spec.split('@')[0]}-{Path(member).name}"
        data = asset(spec, member, cache)
        with as_users_fault(target, "write"):
            write_whole(target, data)
        local[url] = f"vendor/{target.name}"
    return local


def build_parser() -> argparse.ArgumentParser:
    parser = tool_parser(__doc__)
    parser.add_argument("html_dir", type=Path, help="asv publish's output folder")
    parser.add_argument("--cache", type=Path, default=REPO_ROOT / ".asv" / "npm-cache",
                        help="where npm tarballs are kept")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.cache.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ToolError(f"--cache {args.cache}: not a folder: {one_line(error)}") from None
    changed = localize(args.html_dir, args.cache)
    print(f"{changed} pages in {args.html_dir} now load their libraries from vendor/")
    return 0


if __name__ == "__main__":
    sys.exit(run_tool(main))
