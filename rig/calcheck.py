"""The live-view calibration's check: drive the lens with what was measured, and see.

Before a live-view calibration is kept (:func:`rig.calibrate._finish`),
:func:`verify` drives the lens by the calibration's own model from both
stops, with counted commands of every size, and places each arrival in
the live view.  It stands on what the earlier phases found, handed over as
one :class:`Ground`: the working zone and side of the sharp point, the
range, each size's spread, how well frames place, and a way to place the
lens.  The verdict on the arrivals is :func:`rig.calestimate.arrival_misses`.

Then every size but the smallest is driven alone from each stop into the
working zone (a *leg*): from an exact start to a precise placement, over
many commands, a leg measures that size's mean step over its stretch of
the range, independently of the runs its ends were fitted to (whose
placements in a blur can be biased the same way every run).  Its two
legs give the size's steps at both stops afresh; :func:`ends_verdict`
compares them with the calibration's, and a disagreement beyond the legs'
own spread refuses the calibration (``precision``: the two measurements
of one figure disagree).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from .calestimate import Arrival, arrival_misses, arrival_spread, arrival_tolerance, travel
from .calibration import Calibration
from .lens import FAR, NEAR, Lens
from .planner import LensModel

__all__ = ["Ground", "Leg", "EndsVerdict", "drive_arrivals", "drive_legs", "ends_verdict",
           "verify"]

log = logging.getLogger(__name__)

CHECK_LEAD_SHARE = 0.6  # of the way from the far stop to the check's zone, run by a middle size
CHECK_LEAD_MAX = 60     # ... in at most this many commands
ARRIVAL_MARGIN = 2.0    # a check's arrival lands this far inside the working side at least
LEG_MAX = 150           # commands of one size in a leg of the check, at most
LEG_COMMANDS = 60       # legs of a size from one stop until they sum to this many commands ...
LEG_REPEATS = 3         # ... or there are this many
DEEP_SENSITIVITY = 0.3  # a leg that crosses the sharp point goes on while the picture changes
                        # by this share of its most per step (it places well there) ...
DEEP_MARGIN = 10.0      # ... less this many steps
ENDS_CHI2 = 11.83       # a size's legs disagree with its ends beyond this (chi-square, two
                        # degrees of freedom: 3 sigma) ...
ENDS_MATERIAL = 0.04    # ... and by more than this share at one end at least (legs that
                        # tell the mean to a fraction of a percent find 1-4 % in good ones)

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
    sensitivity: Sequence[float] | None = None  # how much the picture changes per step, at
                                                # each position (none: only the zone places well)


def verify(lens: Lens, ground: Ground, calibration: Calibration,
           progress: Progress) -> list[Arrival]:
    """The check: :func:`drive_arrivals`, then :func:`drive_legs` and their verdict.

    The arrivals are returned for the caller's verdict
    (:func:`rig.calestimate.arrival_misses`); the legs are judged only as
    pairs, on the ends they imply, not each against the 2-step floor of an
    arrival: a long leg of a right calibration lands a step or two off (the
    Olympus profile's three legs of 14 size-3 commands, 280 steps, each
    -2.5), which says its ends are right to 1 %.  When every arrival
    agrees, a size whose legs disagree with its ends beyond their spread
    (:func:`ends_verdict`, ``ENDS_CHI2``) and by more than ``ENDS_MATERIAL``
    at one end is refused here, ``precision``: its runs and its legs
    measured it differently.
    """
    arrivals = drive_arrivals(lens, ground, calibration, progress)
    legs = drive_legs(lens, ground, progress)
    progress("check", 1.0)
    if not arrival_misses(arrivals):
        verdicts = ends_verdict(legs, float(ground.range_steps), calibration)
        for v in verdicts:
            log.info("calibration check: %s", v.describe())
        bad = [v for v in verdicts if v.refused]
        if bad:
            from .calibrate import CalibrationError     # (calibrate imports this module)
            raise CalibrationError(
                "; ".join(f"size {v.size}'s steps could not be measured consistently: "
                          + v.describe() for v in bad) + ". Nothing was saved", "precision",
                candidate=calibration)
    return arrivals


def drive_arrivals(lens: Lens, ground: Ground, calibration: Calibration,
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
        progress("check", 0.6 + 0.2 * i / max(len(middle), 1))
        _into_far_stop(lens)
        lead = None
        if size is not None:
            far_part = max(0.0, float(ground.range_steps) - 0.5 * (lo + hi)) * CHECK_LEAD_SHARE
            lead = (size, min(CHECK_LEAD_MAX, int(far_part // model.drive(size).far)))
        arrivals.append(_arrive(lens, ground, "far stop", big, NEAR, 0.5 * (lo + hi) - 5.0,
                                     lead=lead if lead and lead[1] > 0 else None))
    progress("check", 0.8)
    return arrivals


def drive_legs(lens: Lens, ground: Ground, progress: Progress) -> list["Leg"]:
    """Every size but the smallest alone from each stop onto the working side (:func:`_leg`).

    A leg runs from an exact start to a placement over many commands of
    one size: its arrival tells that size's mean step over the stretch it
    crossed, and legs from both stops its steps at both stops, afresh (the
    largest size first).  The leg from the stop on the working side's
    side ends in the zone; the other crosses the sharp point and goes on
    as deep into the working side as frames still place well
    (:func:`_deep`), so that the two stretches differ most.  Legs of a size
    from one stop are repeated until they sum to ``LEG_COMMANDS``
    commands (at most ``LEG_REPEATS``): a size's spread is what limits them.
    """
    sizes = lens.caps.sizes
    lo, hi = ground.zone
    deep = _deep(ground)
    legs: list[Leg] = []
    others = sorted((k for k in sizes if k != sizes[0]), reverse=True)
    for i, size in enumerate(others):
        progress("check", 0.8 + 0.2 * i / max(len(others), 1))
        for direction in (FAR, NEAR):
            crosses = (direction == NEAR) != ground.far_side
            goal, var = deep if crosses and deep else (0.5 * (lo + hi) - (direction == NEAR) * 5.0,
                                                        None)
            sent = 0
            for _ in range(LEG_REPEATS):
                if direction == FAR:
                    lens.home()
                else:
                    _into_far_stop(lens)
                legs.append(_leg(lens, ground, size, direction, goal, var))
                sent += legs[-1].commands
                if sent >= LEG_COMMANDS:
                    break
    return legs


def _deep(ground: Ground) -> tuple[float, float] | None:
    """Where on the working side, away from the sharp point, frames still place well:
    the goal of a leg that crosses the sharp point, and the placement's variance there
    (the zone's, scaled by how much less the picture changes per step).  None when
    that is not beyond the zone."""
    if ground.sensitivity is None or len(ground.sensitivity) < 2:
        return None
    sens = np.asarray(ground.sensitivity, dtype=float)
    lo, hi = ground.zone
    side_lo, side_hi = ground.side
    top = float(sens[int(max(side_lo, 0)):int(min(side_hi, len(sens) - 1)) + 1].max(initial=0.0))
    if top <= 0:
        return None
    # From the zone's far edge away from the sharp point, on while the picture changes enough.
    step = 1 if ground.far_side else -1
    x = int(round(hi if ground.far_side else lo))
    while (side_lo <= x + step <= side_hi and 0 <= x + step < len(sens)
           and sens[x + step] >= DEEP_SENSITIVITY * top):
        x += step
    goal = float(x) - step * DEEP_MARGIN
    zone_edge = hi if ground.far_side else lo
    if (goal - zone_edge) * step <= DEEP_MARGIN:
        return None
    window = sens[int(min(goal, x)):int(max(goal, x)) + 1]
    low = max(float(window.min()) if len(window) else top, 1e-6)
    return goal, ground.placement_var * (top / low) ** 2


def _arrive(lens: Lens, ground: Ground, origin: str, size: int, direction: int, goal: float,
            base: float | None = None, lead: tuple[int, int] | None = None) -> Arrival:
    """Commands of ``size`` toward ``goal`` (as many as the model says reach it), placed.

    From a stop the prediction is the model's position; from the
    previous arrival (``base``, where it was placed) it is that plus the
    model's move, so each arrival judges its own commands.  ``lead``:
    ``(size, count)`` commands sent first, the same way.
    """
    return _drive(lens, ground, origin, size, direction, goal, base, lead)[0]


def _drive(lens: Lens, ground: Ground, origin: str, size: int, direction: int, goal: float,
           base: float | None = None, lead: tuple[int, int] | None = None,
           placement_var: float | None = None) -> tuple[Arrival, float, int]:
    """:func:`_arrive`, and where the model had the lens after the lead, and how many
    commands of ``size`` followed it.  ``placement_var``: the placement's there, where
    it is not the zone's."""
    model = lens.model
    assert model is not None and lens.position is not None
    start = float(lens.position)
    counts: dict[int, int] = {}
    if lead is not None:
        for _ in range(lead[1]):
            lens.wait_free()
            lens.send(lead[0], direction)
        counts[lead[0]] = lead[1]
    after_lead = float(lens.position)
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
    spread = arrival_spread(counts, ground.jitter, ground.placement_var
                            if placement_var is None else placement_var)
    reach = arrival_tolerance(spread) + 8.0
    lo = max(predicted - reach, ground.side[0])
    hi = min(predicted + reach, ground.side[1])
    placed = ground.place(lo, hi) if hi > lo else math.nan
    sent = " and ".join(f"{n} size-{k} command{'s' if n > 1 else ''}"
                        for k, n in counts.items())
    arrival = Arrival(origin, int(round(predicted)), predicted, placed, spread, sent)
    log.info("calibration check: %s", arrival.describe())
    return arrival, after_lead, count


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


@dataclass(frozen=True)
class Leg:
    """Commands of one size from a stop into the working zone, and where they arrived."""

    size: int
    start: float          # the stop the leg left (0 or the range), exact
    direction: int        # FAR from the near stop, NEAR from the far stop
    commands: int
    arrival: Arrival      # predicted by the calibration, placed by the picture


def _leg(lens: Lens, ground: Ground, size: int, direction: int, goal: float,
         placement_var: float | None = None) -> Leg:
    """From the stop the lens is on, commands of ``size`` alone into the zone.

    At most ``LEG_MAX`` of them: where more would be needed, the largest
    size runs first over the rest of the way (its spread then counts in
    the arrival's, and the leg starts where the model has the lens after it).
    """
    model = lens.model
    assert model is not None and lens.position is not None
    big = max(lens.caps.sizes)
    lead = None
    way = abs(goal - float(lens.position))
    step = min(model.drive(size).steps, model.drive(size).far)
    if size != big and way > LEG_MAX * step:
        big_step = max(model.drive(big).steps, model.drive(big).far)
        lead = (big, int((way - LEG_MAX * step) // big_step) + 1)
    origin = "near stop" if direction == FAR else "far stop"
    arrival, start, count = _drive(lens, ground, origin, size, direction, goal, lead=lead,
                                   placement_var=placement_var)
    return Leg(size, start, direction, count, arrival)


@dataclass(frozen=True)
class EndsVerdict:
    """A size's steps at both stops as its legs tell them, against the calibration's."""

    size: int
    ends: tuple[float, float]        # the calibration's steps at the near and far stop
    legs: tuple[float, float]        # the same, as the legs tell them
    errors: tuple[float, float]      # the legs' standard errors of those
    chi2: float                      # the disagreement (two degrees of freedom)

    @property
    def apart(self) -> float:
        """The larger of the two ends' differences, as a share of the calibration's."""
        return max((abs(g / e - 1.0) for g, e in zip(self.legs, self.ends) if e > 0),
                   default=0.0)

    @property
    def refused(self) -> bool:
        """Apart beyond the legs' spread (``ENDS_CHI2``) and by a share that matters
        (``ENDS_MATERIAL``)."""
        return self.chi2 > ENDS_CHI2 and self.apart > ENDS_MATERIAL

    def describe(self) -> str:
        return (f"size {self.size}'s steps at the near and far stop: its runs put them at "
                f"{self.ends[0]:.2f} and {self.ends[1]:.2f}, its commands counted from each "
                f"stop onto the working side at {self.legs[0]:.2f} and {self.legs[1]:.2f} "
                f"(+-{self.errors[0]:.2f}, +-{self.errors[1]:.2f}): {100 * self.apart:.1f} % "
                f"apart, {math.sqrt(max(self.chi2, 0.0)):.1f} sigma")


def ends_verdict(legs: Sequence[Leg], span: float,
                 calibration: Calibration) -> list[EndsVerdict]:
    """Each size's legs from both stops against its steps at both stops (pure).

    A leg of ``n`` commands from a stop covers, by the calibration's line
    through the size's ``near`` and ``far`` steps, what
    :func:`rig.calestimate.travel` says; its arrival is off that by
    ``off``, with the spread the arrival expects (the commands' own and the
    placement's).  Linear in a change ``(dn, df)`` of the two ends, the legs
    give it by weighted least squares, with its covariance; ``chi2`` is how
    far it is from none in units of that covariance.  Sizes without a leg
    from each stop are left out.
    """
    drives = {d.size: d for d in calibration.drive}
    out = []
    for size in sorted({leg.size for leg in legs}):
        mine = [leg for leg in legs if leg.size == size]
        if size not in drives or {leg.direction for leg in mine} != {NEAR, FAR}:
            continue
        d = drives[size]
        near = float(d.steps_near if d.steps_near is not None else d.steps)
        far = float(d.steps_far if d.steps_far is not None else d.steps)
        h = 1e-3 * max(near, far, 1e-3)
        rows, residual, weight = [], [], []
        for leg in mine:
            def covered(n: float, f: float, leg: Leg = leg) -> float:
                return travel(n, f, span, leg.start, leg.direction, leg.commands)
            base = covered(near, far)
            rows.append(((covered(near + h, far) - base) / h, (covered(near, far + h) - base) / h))
            residual.append(leg.arrival.off * leg.direction)     # went further than predicted
            weight.append(1.0 / max(leg.arrival.spread ** 2, 1e-6))
        j, r, w = np.asarray(rows), np.asarray(residual), np.asarray(weight)
        info = j.T @ (w[:, None] * j)
        try:
            cov = np.linalg.inv(info)
        except np.linalg.LinAlgError:
            continue
        delta = cov @ (j.T @ (w * r))
        chi2 = float(delta @ info @ delta)
        errors = np.sqrt(np.maximum(np.diag(cov), 0.0))
        out.append(EndsVerdict(size, (near, far), (near + float(delta[0]), far + float(delta[1])),
                               (float(errors[0]), float(errors[1])), chi2))
    return out
