"""localize_pages.py's npm cache: a tarball cut short is fetched again, once; a user's wrong --cache, a pages folder
that takes no vendor/ or a page that is not UTF-8 is exit 2, one line; a full disk stays exit 3.

npm here is a stand-in on PATH that packs each asset's file, as `npm pack` would, or a broken tarball.
"""

from __future__ import annotations

import errno
import io
import json
import os
import sys
import tarfile
from pathlib import Path

import pytest
from conftest import TOOLS, run_tool

sys.path.insert(0, str(TOOLS))
import localize_pages  # noqa: E402
from lib import cli  # noqa: E402

PAGE = "<script src=\"https://code.jquery.com/jquery-3.3.1.min.js\" integrity=\"sha-x\" crossorigin=\"anonymous\">"
FAKE_NPM = """#!{python}
import io, json, sys, tarfile
from pathlib import Path
destination, spec = Path(sys.argv[sys.argv.index("--pack-destination") + 1]), sys.argv[-1]
name, version = spec.rsplit("@", 1)
with open({calls!r}, "a") as calls:
    calls.write(spec + "\\n")
path = destination / f"{{name}}-{{version}}.tgz"
if {broken}:
    path.write_bytes(b"not a tarball")
    sys.exit(0)
with tarfile.open(path, "w:gz") as archive:
    for member in json.loads({members!r}).get(spec, []):
        data = f"/* {{spec}} {{member}} */".encode()
        info = tarfile.TarInfo(member)
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
"""


def fake_npm(tmp_path: Path, broken: bool = False) -> tuple[dict, Path]:
    """PATH with a stand-in npm first, and the file it lists each spec it packed in."""
    members: dict[str, list[str]] = {}
    for spec, member in localize_pages.ASSETS.values():
        members.setdefault(spec, []).append(member)
    calls = tmp_path / "npm-calls"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    npm = bin_dir / "npm"
    npm.write_text(FAKE_NPM.format(python=sys.executable, calls=str(calls), broken=broken,
                                   members=json.dumps(members)))
    npm.chmod(0o755)
    return {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}, calls


def pages(tmp_path: Path) -> Path:
    html = tmp_path / "html"
    html.mkdir()
    (html / "index.html").write_text(PAGE)
    return html


@pytest.mark.parametrize("damage", ["not gzip", "cut short"])
def test_a_cached_tarball_that_does_not_read_is_fetched_again_and_the_pages_load_it(tmp_path, damage):
    env, calls = fake_npm(tmp_path)
    cache = tmp_path / "cache"
    cache.mkdir()
    cached = cache / "jquery-3.3.1.tgz"
    if damage == "not gzip":
        cached.write_bytes(b"not a tarball")
    else:  # a real one, half of it: a fetch cut off part-way
        with tarfile.open(cached, "w:gz") as archive:
            data = os.urandom(200_000)  # does not compress: its half ends inside the member
            info = tarfile.TarInfo("package/dist/jquery.min.js")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
        cached.write_bytes(cached.read_bytes()[: cached.stat().st_size // 2])
    calls.write_text("")
    completed = run_tool("localize_pages.py", str(pages(tmp_path)), "--cache", str(cache), env=env)
    assert completed.returncode == 0, completed.stderr
    assert (tmp_path / "html" / "index.html").read_text() == '<script src="vendor/jquery-jquery.min.js">'
    assert (tmp_path / "html" / "vendor" / "jquery-jquery.min.js").read_text() == (
        "/* jquery@3.3.1 package/dist/jquery.min.js */")
    # Each package fetched once: jquery's again for its broken copy, the others for the first time.
    assert sorted(calls.read_text().split()) == sorted({spec for spec, _ in localize_pages.ASSETS.values()})


def test_a_tarball_that_never_reads_is_a_user_error_in_one_line(tmp_path):
    env, calls = fake_npm(tmp_path, broken=True)
    completed = run_tool("localize_pages.py", str(pages(tmp_path)), "--cache", str(tmp_path / "cache"), env=env)
    assert completed.returncode == 2, completed.stderr
    assert completed.stderr.count("\n") == 1 and "npm's tarball of jquery@3.3.1 does not read" in completed.stderr
    assert calls.read_text().split() == ["jquery@3.3.1", "jquery@3.3.1"]  # fetched again once, then given up
    assert not (tmp_path / "cache" / "jquery-3.3.1.tgz").exists()  # the next run fetches it anew


@pytest.mark.parametrize("cache", ["a file", "a file's child"])
def test_a_cache_that_is_not_a_folder_is_a_user_error_in_one_line(tmp_path, cache):
    (tmp_path / "file").write_text("")
    path = tmp_path / "file" if cache == "a file" else tmp_path / "file" / "child"
    completed = run_tool("localize_pages.py", str(pages(tmp_path)), "--cache", str(path))
    assert completed.returncode == 2 and completed.stderr.count("\n") == 1, completed.stderr


def test_a_vendor_path_that_is_a_file_is_a_user_error_in_one_line_naming_it(tmp_path):
    env, _ = fake_npm(tmp_path)
    html = pages(tmp_path)
    (html / "vendor").write_text("")
    completed = run_tool("localize_pages.py", str(html), "--cache", str(tmp_path / "cache"), env=env)
    assert completed.returncode == 2, completed.stderr
    assert completed.stderr == (f"error: cannot make the folder {html / 'vendor'}: a file of that name is there, "
                                "not a folder\n")
    assert (html / "index.html").read_text() == PAGE


def test_a_page_that_is_not_utf8_is_a_user_error_in_one_line_naming_it_before_any_fetch(tmp_path):
    env, calls = fake_npm(tmp_path)
    html = pages(tmp_path)
    (html / "other.html").write_bytes(b"\xff" + PAGE.encode())
    completed = run_tool("localize_pages.py", str(html), "--cache", str(tmp_path / "cache"), env=env)
    assert completed.returncode == 2, completed.stderr
    assert completed.stderr == (f"error: cannot read {html / 'other.html'}: not UTF-8 text (invalid start byte at "
                                "byte 0)\n")
    assert not calls.exists() and not (html / "vendor").exists()  # refused before any fetch or write
    assert (html / "index.html").read_text() == PAGE


@pytest.mark.parametrize("code, exit_code", [(errno.EACCES, 2), (errno.EPERM, 2), (errno.ENOSPC, 3), (errno.EIO, 3)])
def test_a_write_the_pages_folder_refuses_is_a_user_error_a_full_or_failing_disk_the_machines(
        tmp_path, monkeypatch, capsys, code, exit_code):
    """In process: a folder without write permission cannot be made in a test run as root, which ignores modes."""
    def refused(path: Path, data: object) -> None:
        raise OSError(code, os.strerror(code), str(path))

    monkeypatch.setattr(localize_pages, "asset", lambda spec, member, cache: b"/* asset */")
    monkeypatch.setattr(localize_pages, "write_whole", refused)
    html = pages(tmp_path)
    assert cli.run_tool(localize_pages.main, [str(html), "--cache", str(tmp_path / "cache")]) == exit_code
    stderr = capsys.readouterr().err
    assert stderr.count("\n") == 1 and "Traceback" not in stderr, stderr
    if exit_code == 2:
        assert stderr == f"error: cannot write {html / 'vendor' / 'jquery-jquery.min.js'}: {os.strerror(code)}\n"
    else:
        assert stderr.startswith(f"failed: OSError: [Errno {code}] {os.strerror(code)}: ")
