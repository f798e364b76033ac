"""The live-view calibration's steps phase: each size's effective steps, their spread,
and the size's own steps at both stops.

:func:`measure_steps` measures every size but the finest, largest first,
by runs from one stop into the other (:func:`effective`, one frozen
:class:`SizeSteps` per size), and returns them together as one frozen
:class:`Steps`.  The fits are in :mod:`rig.calfit` (:func:`rig.calfit.fit_run`,
:func:`rig.calfit.track`, :func:`rig.calfit.step_from_runs`,
:func:`rig.calfit.command_spread`, :func:`rig.calfit.run_ends`); the method is
in ``docs/calibration.md``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable

import numpy as np

from .calerror import CalibrationError
from .calfit import (Run, ends_seen, first_guess, fit_run, precise_enough, run_ends,
                     run_spread, step_from_runs, track, whole_steps)
from .calframes import until_still
from .calplace import Placer
from .lens import FAR, NEAR

__all__ = ["SizeSteps", "Steps", "measure_steps", "effective", "into_stop"]

log = logging.getLogger(__name__)

ENDS_PRECISION = 0.05   # a size's steps at each stop known to this share, at 3 sigma
ENDS_MAX_RUNS = 14      # runs a size may take when its ends are not yet known well enough

Progress = Callable[[str, float], None]


@dataclass(frozen=True)
class SizeSteps:
    """What the runs of one size found."""

    size: int
    steps: float        # effective steps of one command, the mean over the range
    near: float         # ... next to the near stop
    far: float          # ... next to the far stop
    jitter: float       # spread of one command, one sigma, steps
    runs: int           # runs from stop to stop it took


@dataclass(frozen=True)
class Steps:
    """What the steps phase found, by size (the finest is 1.0 by definition)."""

    steps: dict[int, float]
    jitter: dict[int, float]
    runs: dict[int, int]
    ends: dict[int, tuple[float, float]]


def measure_steps(at: Placer, progress: Progress) -> Steps:
    """Every size's steps but the finest, largest first, each from a stop."""
    motor = at.motor
    steps = {motor.sizes[0]: 1.0}
    measured: dict[int, float] = {}
    found: list[SizeSteps] = []
    for i, size in enumerate(sorted(motor.sizes[1:], reverse=True)):
        into_stop(at, NEAR if i == 0 or motor.here > 0 else FAR)
        one = effective(at, size, first_guess(measured, size), progress)
        measured[size] = steps[size] = one.steps
        found.append(one)
    return Steps(steps, {f.size: f.jitter for f in found}, {f.size: f.runs for f in found},
                 {f.size: (f.near, f.far) for f in found})


def into_stop(at: Placer, direction: int) -> None:
    """Drive the largest size until the picture stops changing, and one more: clamped.

    "Still" is judged against each of the three frames before, so two
    positions mirrored about the sharp point cannot pass for a stop.
    """
    motor = at.motor
    big, settle = motor.big, motor.s.settle_large_s
    if not until_still(at.frames, lambda: motor.step(big, direction, settle),
                       motor.s.max_steps // 4, 3):
        raise CalibrationError("driving into a stop, the picture kept changing: keep "
                               "the camera and the scene still while calibrating", "scene")
    motor.step(big, direction, settle)
    motor.here = float(at.placing.range_steps if direction == FAR else 0)


def effective(at: Placer, size: int, guess: float, progress: Progress) -> SizeSteps:
    """Effective steps and spread of ``size``: runs from one stop into the other.

    The first run (``guess`` its steps, to know how long to make it), one
    frame after each command, is fitted whole: for a candidate step ``e``
    the lens would be at ``clip(start + i * e)`` after command i, and the
    ``e`` whose table entries best match all the frames wins.  That needs
    no guess, settles the look-alike positions either side of the sharp
    point and models the clamp at the far end.

    Then every frame of every run is placed on the table, following the
    run (each frame searched next to the one before, plus ``e``, on its
    side of the sharp point).  The step is the distance covered from the
    stop, where the position is exact, to the last frame placed before the
    clamp, over the commands sent: the mean of every command of the runs.
    The spread comes from the same placements, the well-placed frames only
    (:func:`rig.calfit.run_spread`).  A jittery size gets more runs,
    back and forth, until the mean is known to ``precision`` of a step
    (standard error sigma / sqrt(n)) or ``max_runs`` have been made
    (:func:`rig.calfit.precise_enough`).

    The size's own steps at both stops (:func:`rig.calfit.run_ends`) need
    runs next to both (a run from the far stop when the first ones stayed
    near the near one) and more runs, up to ``ENDS_MAX_RUNS``, until each
    end is known to ``ENDS_PRECISION`` at 3 sigma; a size whose ends stay
    looser is refused (``precision``): a wrong calibration is worse than none.
    """
    motor, place, s = at.motor, at.placing, at.motor.s
    encoder, range_steps, play = place.encoder, place.range_steps, motor.play
    progress(f"size {size} steps", 0.0)
    runs = [_run(at, size, guess, progress)]
    first = fit_run(runs[0], encoder, range_steps, play)
    while True:
        tracks = [track(run, first, encoder, place.subject, range_steps, play) for run in runs]
        value, commands = step_from_runs(runs, tracks, first, play)
        sigma, increments = run_spread(runs, tracks, value, encoder=encoder,
                                       noise=at.frames.noise,
                                       placement_var=place.placement_var)
        enough = precise_enough(value, sigma, increments, commands, s.precision,
                                s.precision_steps)
        seen = dict(zip((NEAR, FAR), ends_seen(runs, tracks, range_steps)))
        near, far, slope_error = run_ends(runs, tracks, value, sigma, encoder=encoder,
                                          noise=at.frames.noise,
                                          placement_var=place.placement_var,
                                          range_steps=range_steps, play=play)
        # The ends are each about half the slope's error off: known to within
        # ENDS_PRECISION of a step at 3 sigma.
        sure = 1.5 * slope_error <= ENDS_PRECISION * value
        log.info("size %d, %d run(s): steps %.3f, near %.3f, far %.3f (slope +- %.3f)%s",
                 size, len(runs), value, near, far, slope_error,
                 "" if sure else ": not yet sure of the ends")
        most = s.max_runs if sure else max(s.max_runs, ENDS_MAX_RUNS)
        if (enough and all(seen.values()) and sure) or len(runs) >= most:
            break
        progress(f"size {size} steps", len(runs) / s.max_runs)
        # Its own steps at both stops: a run from a stop the runs have not
        # come near yet, else from the one the lens is closer to.
        unseen = [end for end, ok in seen.items() if not ok]
        into_stop(at, unseen[0] if unseen else FAR if motor.here > range_steps / 2 else NEAR)
        runs.append(_run(at, size, value, progress))
    last = runs[-1]
    motor.here = float(np.clip(last.start + last.direction * value * len(last.frames),
                               0, range_steps))
    if value * commands < 3 and first * len(runs[0].frames) < 3:
        raise CalibrationError(f"size {size} commands moved the lens by {value * commands:.1f} "
                               f"steps in {commands} commands, though size-1 steps move it",
                               "precision")
    if not sure:
        raise CalibrationError(
            f"size {size}: {len(runs)} runs could not tell its steps at the two stops "
            f"apart well enough (their difference known to +-{slope_error:.2f} of "
            f"{value:.2f} steps)", "precision")
    value, near, far = whole_steps(value, near, far, s.snap)
    return SizeSteps(size, value, near, far, round(sigma, 3), len(runs))


def _run(at: Placer, size: int, guess: float, progress: Progress) -> Run:
    """Commands of ``size`` from the stop the lens is on toward the other, a frame each.

    Ends when the picture has stopped changing (the lens is clamped on
    the other stop) or after enough commands to cross the range.
    """
    motor, frames, range_steps = at.motor, at.frames, at.placing.range_steps
    start = motor.here
    direction = FAR if start <= range_steps / 2 else NEAR
    room = range_steps - start if direction == FAR else start
    # Long enough to cross the sharp region, where placement is precise.
    limit = int(min(100, max(40, 0.8 * range_steps / guess)))
    shots = []
    for i in range(limit):
        motor.step(size, direction, motor.s.settle_large_s)
        shots.append((frames.fp() + frames.fp()) / 2)   # two looks: less noise
        progress(f"size {size} steps", (i + 1) / limit)
        # Clamped on the other stop?  Only worth asking once the run could
        # be there: far from the sharp point a few small steps hardly
        # change a blurred picture.
        if ((i + 1) * guess >= 0.6 * room and len(shots) >= 7
                and all(frames.still(shots[-1], shots[-k]) for k in range(2, 8))):
            break
    return Run(start, direction, room, shots)
