"""Files written whole or not at all, for the night's side files and every tool's output.

Standard library only: the tools import it through ``tools/lib/suite.py``, and
asv's bare per-commit virtualenv runs one of them.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_whole(path: Path, text: str | bytes) -> None:
    """Write ``text`` to ``path`` whole or not at all: a temporary file in the same folder, renamed
    into place, so a full disk or a kill leaves the old file (or none), never a partial one."""
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        umask = os.umask(0o022)
        os.umask(umask)
        os.fchmod(handle, 0o666 & ~umask)  # mkstemp's 0600, not the folder's usual mode
        with os.fdopen(handle, "wb" if isinstance(text, bytes) else "w") as out:
            out.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
