"""Where the repository is, and the suite's schema (``benchmarks/schema.py``) for the tools.

The schema imports no torch and nothing of the measuring code; the tools read
every name of the suite from it. ``night_state`` (no torch either) is what the
night hands its children, which the recorder records. Standard library only.
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_CONF = REPO_ROOT / "asv.conf.json"
# The conf of torch's own commits (a PyTorch clone's history, torch wheels per commit): its repository, and its
# commit links, are PyTorch's.
TORCH_COMMITS_CONF = REPO_ROOT / "asv.torch-commits.conf.json"
INJECTOR_DIR = REPO_ROOT / "inject"  # the slowdown injector (inject/attention_slowdown.py): standard library only
if str(REPO_ROOT) not in sys.path:
    sys.path.append(str(REPO_ROOT))

from benchmarks import night_state, schema  # noqa: E402
from benchmarks.whole_file import write_whole  # noqa: E402

__all__ = ["DEFAULT_CONF", "INJECTOR_DIR", "REPO_ROOT", "TORCH_COMMITS_CONF", "night_state", "schema",
           "write_whole"]
