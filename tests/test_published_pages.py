"""asv publish over three recorded commits, served on localhost and loaded in headless Chromium."""

from __future__ import annotations

import functools
import http.server
import json
import os
import shutil
import subprocess
import sys
import threading

import pytest
from conftest import REPO_ROOT, run_tool

CHROMIUM = shutil.which("chromium")
ARTIFACTS = REPO_ROOT / "artifacts"
GRAPH = "attention_bias.AttentionBiasNightCPU.track_wall_time_causal_bias"
MISSING = [name for name in ("chromium", "npm") if not shutil.which(name)]
if MISSING and os.environ.get("CI"):
    # CI installs them (.ci/run): a browser test that cannot run there is a failure, never a skip.
    pytest.fail(f"CI has no {' or '.join(MISSING)}: the published pages go untested", pytrace=False)
pytestmark = pytest.mark.skipif(bool(MISSING), reason=f"needs Debian's chromium and npm; missing: {MISSING}")


def chromium(tmp_path, url: str, *args: str) -> str:
    # Flags that keep a headless Chromium off the network it cannot reach here.
    command = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               f"--user-data-dir={tmp_path / 'chromium'}", "--virtual-time-budget=10000", *args, url]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=True).stdout


@pytest.fixture
def site(cpu_runs, tmp_path):
    """html/ of the three CPU runs, with local libraries, served on 127.0.0.1."""
    conf = {
        "version": 1, "project": "attention-bias-benchmarks", "repo": str(cpu_runs["root"] / "repo"),
        "branches": ["main"], "environment_type": "existing", "benchmark_dir": str(REPO_ROOT / "benchmarks"),
        "results_dir": str(cpu_runs["results"]), "html_dir": str(tmp_path / "html"),
        "env_dir": str(tmp_path / "env"),
    }
    (tmp_path / "asv.conf.json").write_text(json.dumps(conf))
    subprocess.run([sys.executable, "-m", "asv", "publish", "--config", str(tmp_path / "asv.conf.json")],
                   check=True, capture_output=True, env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"})
    localized = run_tool("localize_pages.py", str(tmp_path / "html"), "--cache", str(tmp_path / "npm"))
    assert localized.returncode == 0, localized.stderr
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path / "html"))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/", tmp_path / "html"
    server.shutdown()


def test_benchmark_list_shows_both_methods(site, tmp_path):
    url, _ = site
    dom = chromium(tmp_path, url + "#/summarylist", "--dump-dom")
    assert "continental origin of swallow" not in dom  # the libraries loaded
    for method in ("track_wall_time_materialized", "track_wall_time_causal_bias"):
        assert f"AttentionBiasNightCPU.{method}" in dom


def test_graph_of_time_causal_bias_has_the_three_commits(site, tmp_path, cpu_runs):
    url, html = site
    graph_files = list(html.glob(f"graphs/**/{GRAPH}.json"))
    assert graph_files
    for path in graph_files:  # one per parameter combination shown; each holds every commit
        points = json.loads(path.read_text())
        assert len(points) == 3, path
    dom = chromium(tmp_path, url + f"#{GRAPH}", "--dump-dom")
    assert 'class="flot-base"' in dom  # flot drew its canvas
    ARTIFACTS.mkdir(exist_ok=True)
    screenshot = ARTIFACTS / "asv_graph_time_causal_bias.png"
    chromium(tmp_path, url + f"#{GRAPH}", "--window-size=1280,900", f"--screenshot={screenshot}")
    # Seen here: 75 kB for the drawn graph, 28 kB for asv's "failed to load" page.
    assert screenshot.stat().st_size > 50_000
