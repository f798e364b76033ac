"""The live-view calibration's fits: frames and placements in, figures out (pure, numpy only).

The live-view phases (:mod:`rig.calibrate`) drive the lens and keep what
the picture showed; these turn it into positions and figures, each
unit-tested on synthetic data (``tests/test_calfit.py``).  An ``encoder``
argument is a :class:`rig.vision.Encoder` (or anything with its
``table``, ``distances``, ``locate`` and ``sensitivity``):

* :func:`stalled` - whether the sweep has come to rest on the far stop;
* :func:`far_stop_back`, :func:`far_stop_fit` - how far to step back from
  the far stop, and where the far stop is, from the way back from it
  aligned with the sweep;
* :func:`sharpest` - the sharp point of the sweep and its contrast;
* :func:`shifted` - the sweep in true positions once the play is known;
* :func:`placement_var` - how far frames at known positions place from them;
* :func:`fit_run`, :func:`track` - a run of one size from a stop: its step
  from the whole run, then each frame placed;
* :func:`step_from_runs`, :func:`command_spread`, :func:`ends_seen`,
  :func:`run_ends` - a size's mean step, the spread of its commands, and its
  own steps at both stops, from the placed runs;
* :func:`motion_time` - the motion time that explains what every speed
  train lost, on a camera that drops or refuses;
* :func:`readings_off`, :func:`same_readings`, :func:`linear` - Sony's
  0-100 ``focalposition`` against the sweep;
* :func:`snap`, :func:`whole_steps` - a step this close to a whole number is
  whole;
* :func:`precise_enough`, :func:`first_guess` - when a size's runs have
  measured it well enough, and how long to make its first run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Mapping, Sequence

import numpy as np

from .calestimate import Placed, fit_to_travel, steps_from_runs

if TYPE_CHECKING:
    from .vision import Encoder

__all__ = ["Run", "segments", "step_from_runs", "fit_run", "track", "command_spread",
           "ends_seen", "run_ends", "placement_var", "placement_profile", "well_placed",
           "run_spread", "motion_time", "stalled", "far_stop_back", "far_stop_fit", "sharpest",
           "shifted", "readings_off", "same_readings", "linear", "snap", "whole_steps",
           "precise_enough", "first_guess"]

SPREAD_CLIP = 4.0       # increments beyond this many robust sigmas are clipped (misplacements)
SPREAD_EVIDENCE = 3.84  # likelihood ratio a spread needs to count (chi-square, 1 dof, 95 %)
MIN_INCREMENTS = 20     # placed increments a command's spread rests on, at least
WELL_PLACED = 0.5       # a run's frame counts where the table changes per step by at least
                        # this share of its most (in a blur frames place steps off) ...
WELL_MIN = 12           # ... when that leaves this many increments at least
MISFIT_STEPS = 0.5      # how well a train's end is read, one sigma, steps
READING_SLACK = 1.0     # focalposition units a reading may be off (rounding, cutting)
READINGS_OFF = 0.05     # share of readings further off that disagrees (the range, or a
                        # second sweep's readings)


@dataclass(frozen=True)
class Run:
    """Commands of one size from a stop toward the other, a frame after each."""

    start: float          # the stop it started from (exact)
    direction: int
    room: float           # steps to the other stop
    frames: list[np.ndarray]


# ------------------------------------------------------------ the range


def _apart(a: np.ndarray, b: np.ndarray) -> float:
    """Mean squared difference of two fingerprints (as :func:`rig.vision.distance`)."""
    d = a - b
    return float(np.dot(d, d) / d.size)


def stalled(table: Sequence[np.ndarray], c: int, window: int, block: int, noise: float,
            still: float = 1.35) -> bool:
    """Whether the sweep has stalled at entry ``c``: the frame still (within ``still``
    noise floors) against frames up to ``window`` back, and the mean of the last
    ``block`` frames still against the mean of as many ``window`` back, within
    ``still`` floors over ``block`` (averaged, a lens whose picture changes less
    than one frame's noise over the window shows its move)."""
    if c < window + block - 1:
        return False
    if not all(_apart(table[c], table[c - k]) < still * noise
               for k in (window // 4, window // 2, 3 * window // 4, window)):
        return False
    return (_apart(np.mean(table[c - block + 1: c + 1], axis=0),
                   np.mean(table[c - window - block + 1: c - window + 1], axis=0))
            < still * noise / block)


def far_stop_back(estimate: int, subject: int, far_side: bool, window: int, end: int) -> int:
    """How many size-1 steps to take back from the far stop to place it: to well past
    the sharp point on the working side (on the near side, across it and
    ``window`` more), at least 60 (or half the range) to vote, never into the
    near stop (``estimate`` the range as the sweep's stall put it, ``end`` the
    sweep's last entry)."""
    if far_side:  # end the way back on the far side of the sharp point
        back = estimate - (subject + 15)
    else:         # cross the sharp point and end well on the near side
        back = estimate - (subject - 15) + window
    # Long enough to vote, never into the near stop.
    return int(min(max(back, min(60, estimate // 2)), estimate - 5, end - 5))


def far_stop_fit(table: Sequence[np.ndarray], record: Sequence[np.ndarray],
                 first_still: int, window: int) -> int | None:
    """The far stop: where the ``record`` of size-1 steps back from it (one frame after
    each) matches the sweep's ``table`` best, compared as whole sequences; None when
    no stretch can hold it."""
    back = len(record)
    end = len(table) - 1
    rec = np.stack(record)
    tab = np.stack(table)
    best, best_cost = None, math.inf
    for r in range(max(back + 1, first_still - 2 * window), end + 1):
        rows = tab[r - back: r][::-1]  # positions r-1 ... r-back
        cost = float(np.mean((rows - rec) ** 2))
        if cost < best_cost:
            best, best_cost = r, cost
    return best


def sharpest(sharp: Sequence[float], estimate: int) -> tuple[int, float]:
    """The sharp point of the sweep up to ``estimate`` (smoothed over five steps), and
    how many times sharper it is than the median frame."""
    focus = np.convolve(sharp[: estimate + 1], np.ones(5) / 5, mode="same")
    subject = int(np.argmax(focus))
    contrast = float(focus.max() / max(float(np.median(focus)), 1e-6))
    return subject, contrast


def shifted(table: Sequence[np.ndarray], sharp: Sequence[float], range_steps: int,
            play: float) -> tuple[list[np.ndarray], list[float], int]:
    """A sweep's table and sharpness in true positions, once the ``play`` is known.

    The sweep's first commands after the near stop only took up the play,
    so its entry ``c`` shows position ``c - play``; the far stop's alignment
    came out ``2 play`` too far.  Resampled at ``p + play``; returns the
    table, the sharpness and the range.
    """
    tab = np.stack(table)
    sharp_a = np.asarray(sharp, dtype=float)
    span = int(round(range_steps - 2.0 * play))
    where = np.minimum(np.arange(span + 1) + play, len(tab) - 1)
    i0 = np.floor(where).astype(int)
    i1 = np.minimum(i0 + 1, len(tab) - 1)
    f = (where - i0)
    new_table = (1 - f)[:, None] * tab[i0] + f[:, None] * tab[i1]
    new_sharp = (1 - f) * sharp_a[i0] + f * sharp_a[i1]
    return list(new_table.astype(np.float32)), list(new_sharp), span


def placement_var(encoder: "Encoder", frames: Sequence[np.ndarray], positions: Sequence[float],
                  subject: int, range_steps: int) -> float:
    """How far frames at known positions place from them (squared steps).

    Placed as the runs are placed (on their side of the sharp point), they
    show the placement error: noise, and the bias of up to half a step that
    the same position shows every time.  (Their median offset is taken out,
    in case the range is off by a step.)  0.1 with fewer than five usable.
    """
    errors = []
    for frame, p in zip(frames, positions):
        if abs(p - subject) < 10 or not 3 <= p <= range_steps - 3:
            continue
        lo, hi = ((0.0, subject - 5.0) if p < subject
                  else (subject + 5.0, float(range_steps)))
        errors.append(encoder.locate(frame, max(p - 6.0, lo),
                                     min(p + 6.0, hi)).position - p)
    if len(errors) < 5:
        return 0.1
    e = np.asarray(errors)
    return float(np.mean((e - np.median(e)) ** 2))


# ------------------------------------------------------------ a size's runs


def segments(values: np.ndarray) -> list[np.ndarray]:
    """The stretches of ``values`` without NaN."""
    return [np.asarray(values[first:last], dtype=float) for first, last in _stretches(values)]


def step_from_runs(runs: Sequence[Run], tracks: Sequence[np.ndarray],
                   fallback: float, play: float = 0.0) -> tuple[float, int]:
    """Mean step: distance from the stops to the last frames placed, over the commands
    (each run's first command also turned the ``play``)."""
    covered, commands = 0.0, 0
    for run, x in zip(runs, tracks):
        placed = np.flatnonzero(~np.isnan(x))
        if len(placed):
            covered += abs(float(x[placed[-1]]) - run.start) + play
            commands += int(placed[-1]) + 1
    if commands == 0:
        return fallback, len(runs[0].frames)
    return covered / commands, commands


def fit_run(run: Run, encoder: "Encoder", range_steps: int, play: float) -> float:
    """The step that makes the whole run match the table best (no guess needed).

    For a candidate step ``e`` the lens would be at ``clip(start + i * e)``
    after command i (the first command also turning the ``play``): the
    ``e`` whose table entries best match all the frames wins, on a coarse
    grid first, then refined; again without the frames that may already sit
    on the far stop.
    """
    start, direction, room = run.start, run.direction, run.room
    table = encoder.table
    rec = np.stack(run.frames)
    # Distances of every frame to every table entry, then the best step on
    # a coarse grid (distances interpolated between entries) ...
    dist = np.stack([encoder.distances(f) for f in rec])        # frames x positions
    counts = np.arange(1, len(rec) + 1)
    grid = np.arange(0.5, max(1.0, range_steps / 2), 0.05)
    xs = np.clip(start + direction * (np.outer(grid, counts) - play), 0, range_steps)
    lo = np.floor(xs).astype(int)
    hi = np.minimum(lo + 1, range_steps)
    frac = xs - lo
    rows = np.arange(len(rec))
    coarse = ((1 - frac) * dist[rows, lo] + frac * dist[rows, hi]).mean(axis=1)
    best = float(grid[int(np.argmin(coarse))])

    # ... then refined against interpolated table rows.
    def cost(e: float) -> float:
        x = np.clip(start + direction * (e * counts - play), 0, range_steps)
        i0 = np.floor(x).astype(int)
        i1 = np.minimum(i0 + 1, range_steps)
        f = (x - i0)[:, None]
        pred = (1 - f) * table[i0] + f * table[i1]
        return float(np.mean((pred - rec) ** 2))

    fine = np.arange(best - 0.1, best + 0.1, 0.002)
    value = float(fine[int(np.argmin([cost(e) for e in fine]))])
    # Again without the frames that may already sit on the far stop: when
    # commands spread, the lens reaches it earlier or later than a straight
    # line says, and clamped frames would pull the step short.
    usable = int(np.sum(np.abs(room - counts * value) >= 2.5 * value))
    usable = min(usable, int(np.sum(counts * value <= room - 2.5 * value)))
    if 5 <= usable < len(rec):
        rec, counts = rec[:usable], counts[:usable]
        fine = np.arange(value - 0.6, value + 0.6, 0.002)
        value = float(fine[int(np.argmin([cost(e) for e in fine]))])
    return value


def track(run: Run, step: float, encoder: "Encoder", subject: int, range_steps: int,
          play: float) -> np.ndarray:
    """Each frame of a run placed on the table (NaN where it cannot be trusted).

    Each frame is searched next to where the one before was placed, plus
    ``step`` (the first, less the ``play``), and only on that side of the
    sharp point (``subject``): defocus looks alike either side of it.
    Frames close to the sharp point or to a stop (where the lens may be
    clamped already) are left out.
    """
    sharp_margin = 6 + 0.3 * step
    window = 3 + 0.3 * step
    out = np.full(len(run.frames), np.nan)
    last = float(run.start)
    for i, frame in enumerate(run.frames):
        predicted = last + run.direction * (step - (play if i == 0 else 0.0))
        if (i + 1) * step > run.room - 2.5 * step:
            break
        if abs(predicted - subject) < sharp_margin or not 3 <= predicted <= range_steps - 3:
            last = predicted
            continue
        lo, hi = ((0.0, subject - 5.0) if predicted < subject
                  else (subject + 5.0, float(range_steps)))
        out[i] = last = encoder.locate(frame, max(predicted - window, lo),
                                       min(predicted + window, hi)).position
    return out


def placement_profile(encoder: "Encoder", noise: float, placement_var: float) -> np.ndarray:
    """How far a run's frame (two looks averaged) places from where the lens is, squared
    steps, at each table entry.

    The frame's noise over the table's change per step there (small next to
    the sharp point, large in a blur), on top of the placement error
    measured at known positions (``placement_var``, at least 0.02).
    """
    sens = encoder.sensitivity()
    top = float(sens.max()) or 1.0
    size = encoder.table.shape[1]
    # A run's frame is two looks averaged: pixel variance noise / 4.
    placement = (noise / 4.0) / (size * np.maximum(sens, 1e-3 * top) ** 2)
    return placement + max(placement_var, 0.02)


def well_placed(encoder: "Encoder", tracks: Sequence[np.ndarray]) -> list[np.ndarray]:
    """The runs' placed frames, NaN where the table changes per step by less than
    ``WELL_PLACED`` of its most.

    There, in a blur, a frame places steps off, and the same way run after
    run (zoo seed 8, a 180 mm macro focused at 2 m: increments of size 2
    scattered by 1.3-6.6 steps in the blur, 0.4-0.5 where the picture
    changes fast, though the frame's noise over the table's change
    predicted 0.2-0.3 for the blur): such frames made the spread 2.5 times
    the commands' own and tilted the ends 5.6 % each way.
    """
    sens = encoder.sensitivity()
    good = sens >= WELL_PLACED * (float(sens.max()) or 1.0)
    out = []
    for x in tracks:
        y = np.array(x, dtype=float)
        placed = ~np.isnan(y)
        where = np.clip(np.round(np.where(placed, y, 0.0)).astype(int), 0, len(sens) - 1)
        y[placed & ~good[where]] = np.nan
        out.append(y)
    return out


def _increments(tracks: Sequence[np.ndarray]) -> int:
    return int(sum(np.sum(~np.isnan(np.diff(x))) for x in tracks))


def run_spread(runs: Sequence[Run], tracks: Sequence[np.ndarray], step: float, *,
               encoder: "Encoder", noise: float, placement_var: float) -> tuple[float, int]:
    """:func:`command_spread` over the well-placed frames (:func:`well_placed`), each
    with its own placement error (:func:`placement_profile`); over all frames when
    fewer than ``WELL_MIN`` increments are well placed."""
    well = well_placed(encoder, tracks)
    use = well if _increments(well) >= WELL_MIN else list(tracks)
    return command_spread(runs, use, step, placement_var,
                          placement_profile(encoder, noise, placement_var))


def command_spread(runs: Sequence[Run], tracks: Sequence[np.ndarray], step: float,
                   placement_var: float,
                   placement: np.ndarray | None = None) -> tuple[float, int]:
    """Spread of single commands (one sigma, steps) from the placed runs, and the
    number of increments it rests on.

    Placed after command i, the lens is at x_i = x_(i-1) + step + s_i +
    p_i - p_(i-1): s_i the command's own spread (sigma), p_i the error of
    placing that frame, of variance tau_i^2.  The increments of a run are
    then a moving average of order 1 (variance sigma^2 + tau_i^2 +
    tau_(i-1)^2, neighbours correlated by -tau_i^2): sigma is the value
    that makes the increments most likely, the taus given.  Knowing them
    keeps the placement error out of sigma.  ``placement`` gives tau^2 at
    each table entry (:func:`placement_profile`: large in a blur, where a
    frame places loosely); without it every frame has ``placement_var``
    (measured at known positions next to the sharp point).  A single
    tau for all frames let the blur's loose placements pass for spread:
    a 180 mm macro's size 2 (spread 0.43) measured 1.18, and the check,
    whose tolerance grows with the spread, let its ends 5.6 % off through.
    """
    eig, power = [], []
    # A frame placed on a wrong look-alike entry makes two increments off by
    # steps: such increments are clipped at SPREAD_CLIP robust sigmas, so that
    # a few misplacements cannot pass for the commands' spread.
    deviations = [np.diff(x) * run.direction - step for run, x in zip(runs, tracks)]
    pooled = np.concatenate(deviations) if deviations else np.array([])
    pooled = pooled[~np.isnan(pooled)]
    clip = (SPREAD_CLIP * 1.4826 * float(np.median(np.abs(pooled - np.median(pooled))))
            if len(pooled) >= 5 else math.inf)
    clip = max(clip, 1.0)
    tau2_floor = max(placement_var, 1e-4)
    for run, x in zip(runs, tracks):
        d = np.clip(np.diff(x) * run.direction - step, -clip, clip)
        for first, last in _stretches(d):
            segment = d[first:last]
            n = len(segment)
            frames = x[first:last + 1]           # the n + 1 frames of the n increments
            if placement is None:
                tau2 = np.full(n + 1, tau2_floor)
            else:
                where = np.clip(np.round(frames).astype(int), 0, len(placement) - 1)
                tau2 = np.maximum(placement[where], tau2_floor)
            # The MA(1) covariance of the increments, less the commands' own
            # sigma^2 I: its eigenbasis makes the likelihood a sum.
            cov = np.diag(tau2[:-1] + tau2[1:])
            if n > 1:
                off = -tau2[1:-1]
                cov += np.diag(off, 1) + np.diag(off, -1)
            lam, basis = np.linalg.eigh(cov)
            eig.append(np.maximum(lam, 0.0))
            power.append((basis.T @ segment) ** 2)
    count = sum(len(e) for e in eig)
    if count < 3:
        return 0.0, count
    lam, z2 = np.concatenate(eig), np.concatenate(power)
    s2 = np.linspace(0.0, 3.0 * float(np.mean(z2)) + 0.1, 3001)[:, None]
    c = s2 + lam[None, :] + 1e-9
    loglik = -0.5 * np.sum(np.log(c) + z2 / c, axis=1)
    best = int(np.argmax(loglik))
    # A spread the increments cannot tell from none (likelihood ratio
    # under the 95 % point of chi-square, one degree) is none: placement
    # noise alone must not slow a size down (the speed allows for spread).
    if 2.0 * (loglik[best] - loglik[0]) < SPREAD_EVIDENCE:
        return 0.0, count
    return math.sqrt(float(s2[best, 0])), count


def _stretches(values: np.ndarray) -> list[tuple[int, int]]:
    """``(first, last)`` of each stretch of ``values[first:last]`` without NaN."""
    out, first = [], None
    for i, v in enumerate(values):
        if np.isnan(v):
            if first is not None:
                out.append((first, i))
            first = None
        elif first is None:
            first = i
    if first is not None:
        out.append((first, len(values)))
    return out


def ends_seen(runs: Sequence[Run], tracks: Sequence[np.ndarray],
              range_steps: int) -> tuple[bool, bool]:
    """Whether the runs measured the size next to the near and to the far stop: a run
    started there, or placed frames within a quarter of the range of it."""
    placed = np.concatenate([x[~np.isnan(x)] for x in tracks]) if tracks else np.array([])
    reach = 0.25 * range_steps
    return (any(r.start <= 0 for r in runs) or bool(np.any(placed <= reach)),
            (any(r.start >= range_steps for r in runs)
             or bool(np.any(placed >= range_steps - reach))))


def run_ends(runs: Sequence[Run], tracks: Sequence[np.ndarray], mean: float, sigma: float, *,
             encoder: "Encoder", noise: float, placement_var: float, range_steps: int,
             play: float) -> tuple[float, float, float]:
    """The size's own steps at the near and far stop, from the placed frames of its runs.

    Pairs run from the stop to the first frame placed and on from each
    placed frame to the next (over frames left out too), so every command
    counts, fitted with their covariance (:func:`rig.calestimate.steps_from_runs`):
    the commands' own spread ``sigma`` and the placement's at both ends, which is
    small where the picture changes fast (next to the sharp point) and
    large in a blur (the frame's ``noise`` over the table's change per step
    there), on top of the placement error measured at known positions.
    The line is then scaled to what the runs
    covered from their stops (:func:`rig.calestimate.fit_to_travel`).
    Only the well-placed frames count (:func:`well_placed`: a blur's frames
    place off the same way every run, and tilted seed 8's size 2 5.6 % each
    way), from the stop to the first of them over all the commands between;
    all frames when fewer than ``WELL_MIN`` increments are well placed or
    they do not tell the ends apart.
    Also returns the standard error of far - near (inf: not measured).
    """
    well = well_placed(encoder, tracks)
    if _increments(well) >= WELL_MIN:
        found = _run_ends(runs, well, mean, sigma, encoder, noise, placement_var,
                          range_steps, play)
        if math.isfinite(found[2]):
            return found
    return _run_ends(runs, tracks, mean, sigma, encoder, noise, placement_var, range_steps,
                     play)


def _run_ends(runs: Sequence[Run], tracks: Sequence[np.ndarray], mean: float, sigma: float,
              encoder: "Encoder", noise: float, placement_var: float, range_steps: int,
              play: float) -> tuple[float, float, float]:
    placement = placement_profile(encoder, noise, placement_var)
    chains = []
    for run, x in zip(runs, tracks):
        # From the stop (exact, less the play its first command turned) to the first
        # frame placed, then from each placed frame to the next, across frames left
        # out (next to the sharp point) too: every command of the run counts.
        chain = [Placed(0, run.start - run.direction * play, 0.1)]
        for i, b in enumerate(x):
            if not np.isnan(b):
                chain.append(Placed(i + 1, float(b), float(
                    placement[int(np.clip(round(b), 0, len(placement) - 1))])))
        chains.append(chain)
    if sum(len(c) - 1 for c in chains) < 3:
        return mean, mean, math.inf
    near, far, error = steps_from_runs(chains, float(range_steps), sigma)
    # Ends and runs must agree: scale the line to what the runs covered from the
    # exact stops, over their own commands, keeping its slope's share.
    legs = []
    for run, x in zip(runs, tracks):
        placed = np.flatnonzero(~np.isnan(x))
        if len(placed):
            legs.append((run.start, run.direction, int(placed[-1]) + 1,
                         abs(float(x[placed[-1]]) - run.start) + play))
    centre = 0.5 * (near + far)
    if not legs or centre <= 0 or abs(centre / mean - 1.0) >= 0.5:
        return mean, mean, math.inf
    return (*fit_to_travel(near, far, float(range_steps), legs), error)


def snap(value: float, snap: float) -> float:
    """``value`` as a whole number when it is within ``snap`` of one (1 or more)."""
    whole = round(value)
    return float(whole) if whole >= 1 and abs(value - whole) <= snap else value



def whole_steps(value: float, near: float, far: float,
                within: float) -> tuple[float, float, float]:
    """A size's mean steps and its steps at both stops, snapped: the mean is whole when
    within ``within`` of a whole number (:func:`snap`); the ends too when both snap
    to that same number (a whole number everywhere: the motor's own steps)."""
    whole = snap(value, within)
    if whole != value and snap(near, within) == snap(far, within) == whole:
        near = far = whole
    return whole, near, far


def precise_enough(value: float, sigma: float, increments: int, commands: int,
                   precision: float, precision_steps: float,
                   min_increments: int = MIN_INCREMENTS) -> bool:
    """Whether runs of ``commands`` commands of a size measured its mean step ``value``
    well enough: its standard error, with the spread ``sigma`` (from ``increments``
    placed increments) taken at the top of its own one-sigma range, within
    ``precision`` of the step or ``precision_steps`` steps, whichever is larger,
    and the spread resting on ``min_increments`` increments at least."""
    target = max(precision_steps, precision * value)
    upper = sigma * (1.0 + 1.0 / math.sqrt(2.0 * max(increments, 1)))
    return increments >= min_increments and upper <= target * math.sqrt(max(commands, 1))


def first_guess(measured: Mapping[int, float], size: int) -> float:
    """A first guess of a size's steps before it is measured: a quarter of the
    smallest larger size measured (larger sizes are measured first), else 20."""
    bigger = [v for k, v in measured.items() if k > size]
    return min(bigger) / 4.0 if bigger else 20.0

# ------------------------------------------------------------ speeds


def motion_time(trains: Sequence[tuple[Sequence[float], float]], steps: float,
                sigma: float) -> float:
    """The motion time of one command that best explains what every train lost.

    A camera that drops (or refuses) a command reaching a moving lens loses,
    for a motion time ``m``, exactly the commands that come less than ``m``
    after the last one it took: the return times of a train say which.  So
    each candidate ``m`` predicts each train's shortfall (``steps`` per lost
    command); a train's end is read to a few tenths of a step, and commands
    that spread add ``sigma`` per command taken.  The candidates are scored
    by their squared misfits in those units (capped, so that one odd train
    cannot outvote the rest); of those within one unit of the best, the
    longest wins: a motion time too short is the one that loses commands.

    Every gap of every train counts, those that lost commands too, so the
    answer sits between the longest gap that lost a command and the
    shortest that did not: far tighter than the smallest gap of a passing
    train, and not fooled by one train whose loss went unseen.
    """
    gaps = np.concatenate([np.diff(t) for t, _ in trains if len(t) > 1])
    gaps = gaps[gaps > 0]
    grid = np.geomspace(float(gaps.min()) / 4.0, float(gaps.max()), 4000)
    score = np.zeros(len(grid))
    for returns, short in trains:
        t = np.asarray(returns)
        last = np.full(len(grid), t[0])
        lost = np.zeros(len(grid))
        for arrival in t[1:]:
            taken = arrival - last >= grid
            last = np.where(taken, arrival, last)
            lost += ~taken
        spread = np.sqrt(MISFIT_STEPS ** 2 + (len(t) - lost) * sigma ** 2)
        misfit = (short - steps * lost) / spread
        score += np.minimum(misfit * misfit, 9.0)
    return float(grid[np.flatnonzero(score <= score.min() + 1.0).max()])


# ------------------------------------------------------------ Sony's reading


def _columns(readings: Sequence[tuple[int, float]]) -> tuple[np.ndarray, np.ndarray]:
    """Sweep steps and readings as two arrays."""
    table = np.array(readings, dtype=float).reshape(-1, 2)
    return table[:, 0], table[:, 1]


def readings_off(readings: Sequence[tuple[int, float]], range_steps: int) -> tuple[float, float]:
    """How far Sony's readings of a sweep are from ``100 c / R``: (share off, most off).

    The sweep went from the near stop in size-1 steps and read the camera's
    0-100 position after each, so, if the reading is linear in steps, step
    c reads 100 c / R (100 from the far stop on).  Each reading is only
    good to a unit (a hundredth of the range; rounded or cut, depending on
    the body), so a reading more than ``READING_SLACK`` units off is a
    disagreement.
    """
    c, u = _columns(readings)
    off = np.abs(u - 100.0 * np.minimum(c, range_steps) / range_steps)
    return float(np.mean(off > READING_SLACK)), float(off.max())


def same_readings(first: Sequence[tuple[int, float]], second: Sequence[tuple[int, float]],
                  last: int) -> bool:
    """Did two sweeps read the same positions, step for step, up to step ``last``?

    Within a unit, as for the straight line, and with the same share of
    exceptions: what a body reads at a position is the same every time,
    while commands lost at random are not lost at the same steps twice.
    """
    a, b = dict(first), dict(second)
    common = [c for c in a if c in b and c <= last]
    if not common:
        return False
    off = np.abs(np.array([a[c] - b[c] for c in common]))
    return float(np.mean(off > READING_SLACK)) <= READINGS_OFF


def linear(readings: Sequence[tuple[int, float]], range_steps: int,
           sweeps: int) -> dict[str, object]:
    """What the calibration keeps of readings that agree with the live view.

    ``focalposition_range``: the range the readings alone say (least
    squares between the stops), for the record only.  (Nothing is
    corrected from it: a sweep that lost commands counted them all the
    same, so its table, not just its range, is off.)
    """
    c, u = _columns(readings)
    inside = (u > 0) & (u < 100) & (c < range_steps)
    fit = (100.0 * float(np.sum(c[inside] ** 2)) / float(np.sum(u[inside] * c[inside]))
           if inside.any() else math.nan)
    return {"focalposition_range": round(fit, 1), "focalposition_linear": True,
            "sweeps": sweeps}
