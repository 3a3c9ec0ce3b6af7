"""The issue's targets, and whether a run met them (printed, never asserted)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

Kind = Literal["within", "faster", "round_trips", "peak_within"]


@dataclass(frozen=True)
class Target:
    """One claim about ``contender`` on a workload.

    - ``within``: its median time is at most ``factor`` times ``other``'s;
    - ``faster``: ``other``'s median time is at least ``factor`` times its own;
    - ``round_trips``: its median round trips equal ``factor`` (``other`` is unused);
    - ``peak_within``: its peak memory (the ``peak_kib`` counter) is at most ``factor``
      times ``other``'s.
    """

    contender: str
    kind: Kind
    factor: float
    other: str = ""

    @property
    def text(self) -> str:
        if self.kind == "within":
            return f"{self.contender} within {self.factor:g}x of {self.other}"
        if self.kind == "peak_within":
            return f"{self.contender} peak memory within {self.factor:g}x of {self.other}'s"
        if self.kind == "faster" and self.factor == 1:
            return f"{self.contender} ahead of {self.other}"
        if self.kind == "faster":
            return f"{self.contender} >= {self.factor:g}x faster than {self.other}"
        return f"{self.contender} in {self.factor:g} round trips"


@dataclass(frozen=True)
class Verdict:
    section: str
    workload: str
    target: str
    met: bool
    measured: str


def judge(
    target: Target,
    section: str,
    workload: str,
    medians: Mapping[str, float],
    round_trips: Mapping[str, float],
    peaks: Mapping[str, float] | None = None,
) -> Verdict:
    """Compare the figures of one workload with one target."""
    mine = medians[target.contender]
    if target.kind == "round_trips":
        trips = round_trips.get(target.contender, float("nan"))
        return Verdict(section, workload, target.text, trips == target.factor,
                       f"{trips:g} round trips")
    if target.kind == "peak_within":
        peak, other = (peaks or {}).get(target.contender), (peaks or {}).get(target.other)
        if peak is None or not other:
            return Verdict(section, workload, target.text, False, "no peak measured")
        return Verdict(section, workload, target.text, peak <= target.factor * other,
                       f"{peak:,.0f} KiB vs {other:,.0f} KiB ({peak / other:.2f}x)")
    theirs = medians[target.other]
    if target.kind == "within":
        ratio = mine / theirs if theirs > 0 else float("inf")
        return Verdict(section, workload, target.text, ratio <= target.factor,
                       f"{ratio:.2f}x of {target.other}")
    speedup = theirs / mine if mine > 0 else float("inf")
    return Verdict(section, workload, target.text, speedup >= target.factor,
                   f"{speedup:.2f}x faster than {target.other}")
