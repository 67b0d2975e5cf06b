"""asv plugin of the suite's default conf (``"plugins": [".tools.lib.asv_plugin"]``).

``asv find`` over an ``existing`` environment runs the same torch at every commit
of the range, names one of them and writes its results over each commit's
recorded ones. asv refuses ranges for ``asv run`` and ``asv continuous`` there, but
not for ``find``; this refuses it too, with one line, before anything runs.
Bisecting torch builds is ``tools/torch_commits.py find`` (asv.torch-commits.conf.json).

``asv profile`` of a parameter set that measured nothing here (a GPU config on a
machine without CUDA: its ``setup`` skips it) ends in asv's KeyError traceback;
this says so in one line.
"""

from __future__ import annotations

from asv import util
from asv.commands.asv_profiling import Profile
from asv.commands.find import Find

REFUSAL = ("asv find over an existing environment would run the same torch at every commit and overwrite "
           "their recorded results; bisect torch builds with tools/torch_commits.py find "
           "(README, 'Against torch commits')")
NO_PROFILE = ("asv profile: {benchmark} measured nothing here, so there is no profile: it was skipped (a GPU "
              "config without CUDA: profile an AttentionBiasCPU config) or it failed (asv's output above says why)")


def _existing(conf, env_spec) -> bool:
    """Whether asv would run in an existing environment: '-E existing:...', or the conf's type where a
    spec leaves it out ('--python=same' is ':same')."""
    kinds = [spec.split(":", 1)[0] or conf.environment_type for spec in env_spec or []]
    return "existing" in (kinds or [conf.environment_type])


_guarded: list[bool] = []


def setup() -> None:
    """Called by asv when it loads the conf's plugins: wraps ``asv find`` and ``asv profile`` once."""
    if _guarded:
        return
    _guarded.append(True)
    find, profile = Find.run.__func__, Profile.run.__func__

    def run_find(cls, conf, range_spec, bench, *args, env_spec=None, **kwargs):
        if _existing(conf, env_spec):
            raise util.UserError(REFUSAL)
        return find(cls, conf, range_spec, bench, *args, env_spec=env_spec, **kwargs)

    def run_profile(cls, conf, benchmark, *args, **kwargs):
        try:
            return profile(cls, conf, benchmark, *args, **kwargs)
        except KeyError as error:  # the results hold no profile of the benchmark asv ran; any other: asv's own
            name = error.args[0] if error.args else None
            if not isinstance(name, str) or name not in benchmark.replace("\\", ""):
                raise
            raise util.UserError(NO_PROFILE.format(benchmark=name)) from None

    Find.run = classmethod(run_find)  # type: ignore[method-assign, assignment]
    Profile.run = classmethod(run_profile)  # type: ignore[method-assign, assignment]
