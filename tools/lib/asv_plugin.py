"""asv plugin of the suite's default conf (``"plugins": [".tools.lib.asv_plugin"]``).

``asv find`` over an ``existing`` environment runs the same torch at every commit
of the range, names one of them and writes its results over each commit's
recorded ones. asv refuses ranges for ``asv run`` and ``asv continuous`` there, but
not for ``find``; this refuses it too, with one line, before anything runs.
Bisecting torch builds is ``tools/torch_commits.py find`` (asv.torch-commits.conf.json).
"""

from __future__ import annotations

from asv import util
from asv.commands.find import Find

REFUSAL = ("asv find over an existing environment would run the same torch at every commit and overwrite "
           "their recorded results; bisect torch builds with tools/torch_commits.py find "
           "(README, 'Against torch commits')")


def _existing(conf, env_spec) -> bool:
    """Whether asv would run in an existing environment: '-E existing:...', or the conf's type where a
    spec leaves it out ('--python=same' is ':same')."""
    kinds = [spec.split(":", 1)[0] or conf.environment_type for spec in env_spec or []]
    return "existing" in (kinds or [conf.environment_type])


_guarded: list[bool] = []


def setup() -> None:
    """Called by asv when it loads the conf's plugins: wraps ``asv find`` once."""
    if _guarded:
        return
    _guarded.append(True)
    original = Find.run.__func__

    def run(cls, conf, range_spec, bench, *args, env_spec=None, **kwargs):
        if _existing(conf, env_spec):
            raise util.UserError(REFUSAL)
        return original(cls, conf, range_spec, bench, *args, env_spec=env_spec, **kwargs)

    Find.run = classmethod(run)  # type: ignore[method-assign, assignment]
