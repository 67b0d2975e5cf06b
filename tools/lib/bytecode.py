"""The environment of the suite's Python processes: bytecode kept between them where the machine keeps none.

The H200 image sets PYTHONDONTWRITEBYTECODE and its torch has no ``.pyc``, so
every process that imports torch compiles it again (seconds; docs/design.md,
"Bytecode of its own"). There the processes the tools start write their bytecode
under the repository's ``.asv/`` instead, never beside an installed package.
Standard library only.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from lib.suite import REPO_ROOT

BYTECODE_FOLDER = REPO_ROOT / ".asv" / "bytecode"
NO_BYTECODE_VARIABLE = "PYTHONDONTWRITEBYTECODE"
BYTECODE_PREFIX_VARIABLE = "PYTHONPYCACHEPREFIX"


def child_environment(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """``environ`` (default: this process's) for a Python process of the suite's.

    Where it asks for no bytecode and names no folder for it, the bytecode goes to
    BYTECODE_FOLDER: read from the second process on. A folder the user named is
    left as it is (with it, the flag too); without the flag Python writes its own.
    """
    environ = dict(os.environ if environ is None else environ)
    if environ.get(NO_BYTECODE_VARIABLE) and not environ.get(BYTECODE_PREFIX_VARIABLE):
        del environ[NO_BYTECODE_VARIABLE]
        environ[BYTECODE_PREFIX_VARIABLE] = str(BYTECODE_FOLDER)
    return environ
