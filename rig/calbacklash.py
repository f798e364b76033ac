"""The live-view calibration's backlash phase: the play of the focus gear.

:func:`measure_backlash` drives size-1 legs back and forth next to the
sharp point, places each leg's end in the live view, and returns the play
as one frozen :class:`Play`.  The estimate is
:func:`rig.calestimate.backlash`; the method is in ``docs/calibration.md``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable

from .calerror import CalibrationError
from .calestimate import backlash, backlash_error
from .calplace import Placer
from .lens import FAR, NEAR

__all__ = ["Play", "measure_backlash"]

log = logging.getLogger(__name__)

BACKLASH_SPAN = 36.0    # steps next to the sharp point where the play is measured
BACKLASH_LEGS = (10, 13, 11, 14, 12, 9, 12, 15, 10, 11)  # size-1 commands per leg, reversing
BACKLASH_ROUNDS = 3     # rounds of those legs at most, until the play is known to ...
BACKLASH_PRECISION = 1.0  # ... this many steps at BACKLASH_SIGMAS standard errors
BACKLASH_SIGMAS = 3.0
BACKLASH_SNAP = 0.5     # play under this is placement bias (0.32 seen on a lens without
                        # any), and only the play's whole steps are ever taken up
BACKLASH_FRAMES = 6     # frames averaged to place each leg's end

Progress = Callable[[str, float], None]


@dataclass(frozen=True)
class Play:
    """What the backlash phase found."""

    steps: float                          # size-1 steps of play (0 under BACKLASH_SNAP)
    error: float                          # its standard error, steps
    legs: tuple[tuple[int, float], ...]   # (commands, placed movement) of every leg


def measure_backlash(at: Placer, progress: Progress) -> Play:
    """The play: size-1 legs back and forth next to the sharp point, each placed.

    After a reversal the motor turns the play before the lens follows,
    so each leg of ``n`` commands moves the lens ``n - play``
    (:func:`rig.calestimate.backlash`).  Legs of different lengths end on
    different positions, so the placement's bias (the same at one
    position every time) averages out.  Leaves the lens placed
    (``at.motor.here``); the play is not taken up yet (``at.motor.play``
    is the caller's to set).
    """
    motor, place = at.motor, at.placing
    settle = motor.s.settle_small_s
    progress("backlash", 0.0)
    lo, hi = place.zone(BACKLASH_SPAN)
    window = (max(lo - 4, place.side[0]), min(hi + 4, place.side[1]))
    start = (lo + 16) if place.far_side else (hi - 16)
    at.goto(start, {motor.sizes[0]: 1.0})
    outward = FAR if place.far_side else NEAR    # away from the sharp point
    for _ in range(BACKLASH_LEGS[0]):
        motor.step(1, -outward, settle)   # the play taken up inward
    placed = [at.fix(*window, frames=BACKLASH_FRAMES)]
    legs: list[tuple[int, float]] = []
    direction = outward
    total = BACKLASH_ROUNDS * len(BACKLASH_LEGS)
    for round_ in range(BACKLASH_ROUNDS):
        # Every other round in reverse order: the rounds' drifts cancel, so
        # the legs stay next to where they started.
        for n in BACKLASH_LEGS[::-1] if round_ % 2 else BACKLASH_LEGS:
            for _ in range(n):
                motor.step(1, direction, settle)
            placed.append(at.fix(*window, frames=BACKLASH_FRAMES))
            legs.append((n, placed[-1] - placed[-2]))
            direction = -direction
            progress("backlash", len(legs) / total)
        value = backlash(legs, snap=BACKLASH_SNAP)
        error = backlash_error(legs)
        log.info("backlash: %.2f +- %.2f size-1 steps after %d legs (legs lost %s)", value,
                 error, len(legs), ", ".join(f"{n - abs(m):.1f}" for n, m in legs))
        # Known to a step at 3 sigma (a play off by a step or more lands every
        # reversal that far off); legs that scatter more get another round.
        if BACKLASH_SIGMAS * error <= BACKLASH_PRECISION:
            break
    else:
        raise CalibrationError(
            f"the play of the focus gear could not be measured to a step: {len(legs)} "
            f"reversing legs next to the sharp point lost {value:.1f} +- {error:.1f} "
            f"steps on average (the picture places the lens too loosely there)",
            "precision")
    motor.here = placed[-1]
    return Play(value, error, tuple(legs))
