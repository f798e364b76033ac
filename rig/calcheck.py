"""The live-view calibration's check: drive the lens with what was measured, and see.

Before a live-view calibration is kept (:func:`rig.calibrate._finish`),
:func:`verify` drives the lens by the calibration's own model from both
stops, with counted commands of every size, and places each arrival in
the live view.  It stands on what the earlier phases found, handed over as
one :class:`Ground`: the working zone and side of the sharp point, the
range, each size's spread, how well frames place, and a way to place the
lens.  The verdict on the arrivals is :func:`rig.calestimate.arrival_misses`.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Callable

from .calestimate import Arrival, arrival_spread, arrival_tolerance
from .calibration import Calibration
from .lens import FAR, NEAR, Lens
from .planner import LensModel

__all__ = ["Ground", "verify"]

log = logging.getLogger(__name__)

CHECK_LEAD_SHARE = 0.6  # of the way from the far stop to the check's zone, run by a middle size
CHECK_LEAD_MAX = 60     # ... in at most this many commands
ARRIVAL_MARGIN = 2.0    # a check's arrival lands this far inside the working side at least

Progress = Callable[[str, float], None]


@dataclass(frozen=True)
class Ground:
    """What the check stands on: the live-view phases' findings it drives and places by."""

    zone: tuple[float, float]        # where arrivals aim: 40 steps next to the sharp point
    side: tuple[float, float]        # the working side of the sharp point (where frames place)
    far_side: bool                   # that side is the far one
    range_steps: int
    jitter: dict[int, float]         # each size's spread, one sigma, steps
    placement_var: float             # how far a frame places from its position, squared steps
    settle_s: float                  # waited after the last command before an arrival is placed
    place: Callable[[float, float], float]   # the lens placed in the live view within [lo, hi]


def verify(lens: Lens, ground: Ground, calibration: Calibration,
           progress: Progress) -> list[Arrival]:
    """Counted commands of every size from both stops, each arrival placed.

    The lens is homed (on the near stop).  The middle size over part of
    the way (``CHECK_LEAD_SHARE``) and the largest size on from there
    into the working zone next to the sharp point, then each smaller
    size on from there (the smallest after a reversal, so the play
    counts), then into the far stop by counted commands, and the middle
    size over part of the way and the largest size on back into the zone
    (the middle size's steps at both ends are driven): the near stop, the steps of every size
    where they are used, the backlash and the range must all be right
    for each arrival to land where the calibration's own model says
    (within the commands' spread and the placement's).  Commands are
    spaced as the calibration says (a camera that queues: as the settled
    steps were), so a spacing too short loses commands and shows too.
    """
    model = lens.model
    assert model is not None
    progress("check", 0.0)
    sizes = lens.caps.sizes
    big = max(sizes)
    lo, hi = ground.zone
    inward = NEAR if ground.far_side else FAR        # toward the sharp point
    smaller = sorted((k for k in sizes if k != big), reverse=True)
    middle = [k for k in smaller if k != sizes[0]]
    # From the near stop, the largest middle size over the near part of the way first.
    lead = None
    if middle:
        near_part = 0.5 * (lo + hi) * CHECK_LEAD_SHARE
        lead = (middle[0], min(CHECK_LEAD_MAX, int(near_part // model.drive(middle[0]).steps)))
    arrivals = [_arrive(lens, ground, "near stop", big, FAR, 0.5 * (lo + hi),
                             lead=lead if lead and lead[1] > 0 else None)]
    for i, size in enumerate(smaller):
        progress("check", 0.2 + 0.4 * i / max(len(smaller), 1))
        direction = -inward if i % 2 == 0 else inward
        span = 12.0 if size != sizes[0] else 5.0
        target = float(lens.position) + direction * span
        arrivals.append(_arrive(lens, ground, "previous arrival", size, direction, target,
                                     base=arrivals[-1].placed))
    # Each middle size's steps at the far end: from the far stop, a run of it over
    # the far part of the range, then the largest size on into the zone.
    for i, size in enumerate(middle or [None]):
        progress("check", 0.6 + 0.4 * i / max(len(middle), 1))
        _into_far_stop(lens)
        lead = None
        if size is not None:
            far_part = max(0.0, float(ground.range_steps) - 0.5 * (lo + hi)) * CHECK_LEAD_SHARE
            lead = (size, min(CHECK_LEAD_MAX, int(far_part // model.drive(size).far)))
        arrivals.append(_arrive(lens, ground, "far stop", big, NEAR, 0.5 * (lo + hi) - 5.0,
                                     lead=lead if lead and lead[1] > 0 else None))
    progress("check", 1.0)
    return arrivals


def _arrive(lens: Lens, ground: Ground, origin: str, size: int, direction: int, goal: float,
            base: float | None = None, lead: tuple[int, int] | None = None) -> Arrival:
    """Commands of ``size`` toward ``goal`` (as many as the model says reach it), placed.

    From a stop the prediction is the model's position; from the
    previous arrival (``base``, where it was placed) it is that plus the
    model's move, so each arrival judges its own commands.  ``lead``:
    ``(size, count)`` commands sent first, the same way.
    """
    model = lens.model
    assert model is not None and lens.position is not None
    start = float(lens.position)
    counts: dict[int, int] = {}
    if lead is not None:
        for _ in range(lead[1]):
            lens.wait_free()
            lens.send(lead[0], direction)
        counts[lead[0]] = lead[1]
    count = _arrival_count(lens, ground, model, size, direction, goal)
    for _ in range(count):
        lens.wait_free()
        lens.send(size, direction)
    lens.wait_free()
    lens.clock.sleep(ground.settle_s)
    predicted = float(lens.position)
    if base is not None and math.isfinite(base):
        predicted = base + predicted - start
    counts[size] = counts.get(size, 0) + count
    spread = arrival_spread(counts, ground.jitter, ground.placement_var)
    reach = arrival_tolerance(spread) + 8.0
    lo = max(predicted - reach, ground.side[0])
    hi = min(predicted + reach, ground.side[1])
    placed = ground.place(lo, hi) if hi > lo else math.nan
    sent = " and ".join(f"{n} size-{k} command{'s' if n > 1 else ''}"
                        for k, n in counts.items())
    arrival = Arrival(origin, int(round(predicted)), predicted, placed, spread, sent)
    log.info("calibration check: %s", arrival.describe())
    return arrival


def _arrival_count(lens: Lens, ground: Ground, model: LensModel, size: int, direction: int,
                   goal: float) -> int:
    """How many commands of ``size`` from where the lens is land nearest ``goal``
    on the working side of the sharp point.

    The count whose predicted landing is nearest the goal may fall across
    the sharp point when one command is long (a Sony size 3 moves 60
    steps): there the picture hardly changes from step to step, and
    defocus looks alike either side, so the arrival could only be placed
    at the working side's edge, steps from where the lens is.  Such a
    landing is passed over for the nearest one on the working side
    (``ARRIVAL_MARGIN`` inside it); only when there is none is the nearest
    taken as it is.
    """
    lo, hi = ground.side[0] + ARRIVAL_MARGIN, ground.side[1] - ARRIVAL_MARGIN
    x, play = float(lens.position), lens.play
    landings: list[tuple[int, float]] = []
    beyond = 0
    while len(landings) < 1000 and beyond < 2:
        x, play = model.move(x, size, direction, play)
        landings.append((len(landings) + 1, x))
        if (x - goal) * direction >= 0:
            beyond += 1
        if x <= 0.0 or x >= float(model.steps):    # clamped on a stop
            break
    inside = [c for c in landings if lo <= c[1] <= hi]
    return min(inside or landings, key=lambda c: abs(c[1] - goal))[0]


def _into_far_stop(lens: Lens) -> None:
    """Into the far stop by counted commands of the largest size, as homing does."""
    model = lens.model
    assert model is not None
    size, count = model.into_stop()
    lens.position = None
    for _ in range(count):
        lens.wait_free()
        lens.send(size, FAR)
    lens.wait_free()
    lens.fix_position(float(model.steps), 0.0)
    lens.play = model.play(FAR)
