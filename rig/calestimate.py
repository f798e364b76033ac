"""Calibration's estimators: numbers from measurements, nothing driven (pure, numpy only).

The phases that drive the lens (:mod:`rig.calibrate`) collect what the live
view showed; these turn it into figures and verdicts, each unit-tested on
synthetic data (``tests/test_calestimate.py``):

* :func:`backlash` - the play of the gear from moves made just after a
  reversal: size-1 commands sent against what the picture says moved;
* :func:`varying_steps` - a size's steps at the near and at the far stop
  (linear in between) from pairs of positions the picture placed;
* :func:`arrival_misses` - the verification's verdict: each planned move's
  arrival, as placed, against where the calibration predicted it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

__all__ = ["backlash", "varying_steps", "Arrival", "arrival_misses", "arrival_tolerance",
           "arrival_spread",
           "CHECK_MIN_STEPS", "CHECK_SIGMAS"]

CHECK_MIN_STEPS = 2.0   # an arrival this close to the prediction agrees, whatever the noise
CHECK_SIGMAS = 3.5      # ... or within this many of its expected spread


def backlash(legs: Sequence[tuple[int, float]], *, snap: float = 0.3) -> float:
    """The gear's play in size-1 steps from ``(commands, moved)`` legs.

    Each leg is ``commands`` size-1 commands sent right after a reversal
    (the play taken up the other way before) and ``moved`` the steps the
    picture placed the lens from its start to its end.  The motor turns the
    play first, so each leg moved ``commands - play``.  The mean of what the
    legs lost, never below 0; a value under ``snap`` is 0 (placement noise).
    """
    if not legs:
        raise ValueError("no legs to measure the backlash on")
    lost = np.sort(np.array([n - abs(moved) for n, moved in legs], dtype=float))
    if len(lost) >= 5:
        lost = lost[1:-1]       # one odd placement either way must not pull the mean
    value = max(0.0, float(np.mean(lost)))
    return 0.0 if value < snap else value


def varying_steps(pairs: Sequence[tuple[float, float, int]], span: float,
                  weights: Sequence[float] | None = None,
                  min_reach: float = 0.25) -> tuple[float, float]:
    """A size's steps at the near stop and at the far stop, linear in between.

    ``pairs`` are ``(x_from, x_to, commands)``: where the picture placed the
    lens before and after ``commands`` commands of one size (same direction,
    no reversal between).  Each pair gives a per-command step at its
    midpoint; a weighted straight line through them gives the steps at 0 and
    at ``span``.  When the midpoints cover less than ``min_reach`` of the
    range, the slope is not to be trusted so far out: both ends are the mean.
    """
    if not pairs:
        raise ValueError("no placed pairs to measure the steps on")
    a = np.asarray(pairs, dtype=float)
    n = a[:, 2]
    step = np.abs(a[:, 1] - a[:, 0]) / n
    mid = 0.5 * (a[:, 0] + a[:, 1]) / span
    w = n * (np.ones(len(a)) if weights is None else np.asarray(weights, dtype=float))
    mean = float(np.sum(w * step) / np.sum(w))
    if len(a) < 3 or float(mid.max() - mid.min()) < min_reach:
        return mean, mean
    design = np.column_stack([np.ones(len(a)), mid]) * np.sqrt(w)[:, None]
    (near, slope), *_ = np.linalg.lstsq(design, step * np.sqrt(w), rcond=None)
    return float(near), float(near + slope)


@dataclass(frozen=True)
class Arrival:
    """One verification move: where the calibration said the lens would end, where it did."""

    origin: str                 # "near stop", "far stop" or "there" (the previous arrival)
    target: int
    predicted: float            # the calibration's own position after the move
    placed: float               # where the picture placed the lens
    spread: float               # expected spread of predicted - placed, one sigma, steps
    commands: str = ""          # what was sent, e.g. "9 size-3 commands"

    @property
    def off(self) -> float:
        return self.placed - self.predicted

    @property
    def tolerance(self) -> float:
        return arrival_tolerance(self.spread)

    def describe(self) -> str:
        what = f"{self.commands} " if self.commands else ""
        return (f"{what}from the {self.origin} to {self.target}: the picture puts the lens at "
                f"{self.placed:.1f}, {self.off:+.1f} steps from where the calibration "
                f"predicts it ({self.predicted:.1f}; allowed {self.tolerance:.1f})")


def arrival_tolerance(spread: float) -> float:
    """How far an arrival may be from its prediction and still agree."""
    return max(CHECK_MIN_STEPS, CHECK_SIGMAS * spread)


def arrival_spread(counts: dict[int, int], jitter: dict[int, float], placement_var: float) -> float:
    """One sigma of (placed - predicted): the commands' spreads and placing the frame."""
    variance = sum(n * jitter.get(k, 0.0) ** 2 for k, n in counts.items())
    return math.sqrt(variance + 2.0 * placement_var + 0.05)


def arrival_misses(arrivals: Sequence[Arrival]) -> list[Arrival]:
    """The arrivals that disagree with their prediction."""
    return [a for a in arrivals if abs(a.off) > a.tolerance]
