"""What the verdict says of one result and signal: a finding, and its level."""

from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # at run time nothing of lib: lib.results reads the levels' lists back
    from lib.nights import Key

REGRESSION, SUSPECT, NOISE = "regression", "suspect", "noise"
LEVELS = (REGRESSION, SUSPECT, NOISE)  # the gravest first
# Each level's list of findings in a check's JSON report and in a night's verdict file.
LISTED = {REGRESSION: "regressions", SUSPECT: "suspects", NOISE: "noise"}


@dataclasses.dataclass
class Finding:
    level: str  # one of LEVELS
    key: Key
    signal: str
    reference: float
    contender: float
    klass: str  # nights.result_classes'
    floor: float  # smallest slowdown one night shows on this key and signal
    why: str
    confirmation: dict | None = None
    one_night: bool = False  # beyond what the noise model allows on one night alone
    move: float = 1.0  # its class's common move tonight, taken out of its ratio before it is judged
    common: int = 0  # for a class's common move: how many results moved with it (this key stands for them)
    # Slower by less than the factor, within two spreads of it: re-measured with what the budget leaves,
    # reported only where confirmed (a change of the factor shows under it one night in two).
    short: bool = False
    # A GPU time's one-night call that each of its night's builds would call alone (verdict.mark_standing):
    # re-measured with what the others leave; where the budget leaves it out, its night calls it.
    stands: bool = False
    # A wall time outside the launch-bound class on a night that class moved slower as one by the factor or more:
    # how far the host's slower dispatch alone would push this forward's wall time, where farther than its class
    # moved (verdict.host_shares; None otherwise). Its one-night call and a suspect's persisting are judged over
    # it, and the plan ranks it by its move beyond it (``beyond_host``).
    host_move: float | None = None
    # A suspect kept last night before the history had a spread, still the factor beyond the nights before it:
    # where both builds are re-measured, against last night's build, a regression where tonight's is slower
    # (verdict.decide); else listed again.
    persisting: bool = False
    # For a class's move, re-measured: the class's results that moved the factor or more tonight, each a
    # regression with it where the move is confirmed (a move of the build's, not of the host's).
    members: list[Finding] = dataclasses.field(default_factory=list)
    # Short of the factor over its class's move, the factor slower than the class's lower quartile, where only
    # part of the class moved: a candidate judged over that quartile (``move``), re-measured (verdict.judge).
    partial: bool = False
    # A member listed with its class's confirmed move (verdict.with_members): the (config, mask) of the finding
    # that stands for the class (``common`` > 0), so that a reader of the JSON groups them without parsing the why.
    member_of: tuple[str, str] | None = None
    # A class's stand-in listed apart from its class's finding, at its own outcome (verdict.decide_together): the
    # (config, mask) of the finding that stands for the class. A finding of its own on the key decides instead.
    stood_for: tuple[str, str] | None = None

    @property
    def ratio(self) -> float:
        """Tonight over the reference; a count that rose from none (a forward that starts syncing) is inf."""
        if self.reference == 0:
            return math.inf if self.contender > 0 else 1.0
        return self.contender / self.reference

    @property
    def relative(self) -> float:
        """Its ratio with its class's common move taken out: how far it moved away from its class."""
        return self.ratio / self.move

    @property
    def host_explains(self) -> bool:
        """Whether the host's share in its wall time (``host_move``) is more than its class's move."""
        return self.host_move is not None and self.host_move > self.move

    @property
    def beyond_host(self) -> float:
        """Its ratio over the larger of its class's common move and the host's share in it (``host_move``)."""
        return self.ratio / self.host_move if self.host_explains and self.host_move else self.relative

    @property
    def config_mask(self) -> tuple[str, str]:
        """(config, mask): how the re-measurement and the names files key a result."""
        return self.key[1], self.key[2]

    def as_dict(self) -> dict:
        grid, config, mask = self.key
        return {"level": self.level, "grid": grid, "config": config, "mask": mask,
                "signal": self.signal, "reference": self.reference, "contender": self.contender,
                "ratio": finite(self.ratio), "move": self.move, "relative": finite(self.relative),
                "common": self.common, "class": self.klass, "floor": finite(self.floor), "why": self.why,
                "confirmation": self.confirmation, "stands": self.stands, "host_move": self.host_move,
                "persisting": self.persisting, "partial": self.partial,
                "member_of": dict(zip(("config", "mask"), self.member_of)) if self.member_of else None,
                "stood_for": dict(zip(("config", "mask"), self.stood_for)) if self.stood_for else None}


def finite(value: float) -> float | None:
    """JSON has no infinity: a floor the history cannot set, or a ratio from zero, is null."""
    return value if math.isfinite(value) else None
