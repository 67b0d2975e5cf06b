"""A recorded check decided again by today's verdict, with the per-process values that check measured.

    python experiments/check_replay.py CHECK.json -- [check_regressions.py's arguments]

Runs ``tools/check_regressions.py`` (its arguments after ``--``: the recorded
nights, ``--baseline``, ``--contender``, ``--factor``, both ``--*-python``, the
recorded ``--seed``, ``--format json``) where the re-measurement returns what
CHECK.json recorded (its "confirmation": each key's per-process values; the
processes left out as disturbed by today's rule where it ran one round, else as
recorded) instead of measuring: today's rules over
yesterday's GPU measurements, on a CPU. A candidate (key and signal) that the
check did not measure is left out, as for the budget; the summary's counts of
keys dropped or refuted early are not replayed (they decide nothing). Write the
JSON to a file and pass it to ``tools/inject.py score --check FILE`` to score an
injected night again.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

TOOLS = Path(__file__).resolve().parent.parent / "tools"
sys.path.insert(0, str(TOOLS))
from lib import remeasure  # noqa: E402
from lib.findings import Finding  # noqa: E402


def recorded(check: Path) -> remeasure.Remeasured:
    """What the check's re-measurement measured, as its JSON report keeps it; the wall times left out for a
    burst as today's rule leaves them out where the check ran one round (a key's i-th value of a side is then
    that side's i-th process's), else as the check recorded them."""
    confirmation = json.loads(check.read_text())["confirmation"]
    values, disturbed = {}, {}
    for entry in confirmation["values"]:
        key = (entry.pop("config"), entry.pop("mask"))
        if "disturbed" in entry:
            disturbed[key] = {side: tuple(left) for side, left in entry.pop("disturbed").items()}
        values[key] = entry
    if confirmation.get("rounds") == 1:
        disturbed = remeasure.disturbed_processes(values)
    costs = tuple(remeasure.ProcessCost(**cost) for cost in confirmation.get("per_process", []))
    return remeasure.Remeasured(values, confirmation["seconds"], costs, disturbed=disturbed)


def main() -> int:
    check, args = Path(sys.argv[1]), sys.argv[sys.argv.index("--") + 1:]
    measured = recorded(check)

    def replayed_rounds(candidates: list[Finding], *_args, **_kwargs):
        left_out = [finding for finding in candidates
                    if not any(finding.signal in signals
                               for signals in measured.values.get(finding.config_mask, {}).values())]
        return measured, left_out, 1

    remeasure.remeasure_in_rounds = replayed_rounds  # type: ignore[assignment]  (the verdict calls it by module)
    import check_regressions

    return check_regressions.main(args)


if __name__ == "__main__":
    sys.exit(main())
