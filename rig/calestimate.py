"""Calibration's estimators: numbers from measurements, nothing driven (pure, numpy only).

The phases that drive the lens (:mod:`rig.calibrate`) collect what the live
view showed; these turn it into figures and verdicts, each unit-tested on
synthetic data (``tests/test_calestimate.py``):

* :func:`backlash` - the play of the gear from moves made just after a
  reversal: size-1 commands sent against what the picture says moved;
* :func:`backlash_error` - how well the legs tell it (the shared placements
  counted);
* :func:`lag_limit` - how far behind a speed train's early frame must be for
  a queue's lag to be believed;
* :func:`queued_lag` and :func:`queue_motion_time` - on a camera that queues,
  how far a train is behind its end when a frame is taken, and the motion
  time that best explains every train's lag;
* :func:`varying_steps` - a size's steps at the near and at the far stop
  (linear in between) from pairs of positions the picture placed;
* :func:`travel` and :func:`fit_to_travel` - how far commands of a size
  whose steps vary linearly go, and such a line scaled to the runs that
  started on a stop (where the position is exact);
* :func:`arrival_misses` - the verification's verdict: each planned move's
  arrival, as placed, against where the calibration predicted it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

__all__ = ["backlash", "backlash_error", "lag_limit", "queued_lag", "queue_motion_time",
           "varying_steps", "steps_line", "Placed", "steps_from_runs", "travel", "fit_to_travel",
           "Arrival", "arrival_misses", "arrival_tolerance", "arrival_spread",
           "CHECK_MIN_STEPS", "CHECK_SIGMAS"]

CHECK_MIN_STEPS = 2.0   # an arrival this close to the prediction agrees, whatever the noise
OUTLIER = 4.0           # residuals beyond this many robust sigmas are misplaced frames
SCALE_FLOOR = 0.25      # the variances' unit is never taken below this share of the model's
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


def backlash_error(legs: Sequence[tuple[int, float]]) -> float:
    """The standard error of :func:`backlash` over ``legs`` (steps; ``inf`` under three legs).

    Each leg's loss has its two ends' placement errors in it.  Legs reverse
    one after another, so a placement shared by two neighbouring legs enters
    both losses with the same sign (one leg ends too far out where the next
    starts too far out): the errors add up rather than cancel, and the mean
    of ``n`` losses has about twice the variance of ``n`` independent ones.
    Their sample variance (``2 tau^2``) thus gives ``sqrt(2 s^2 / n)``.
    """
    if len(legs) < 3:
        return math.inf
    lost = np.array([n - abs(moved) for n, moved in legs], dtype=float)
    return math.sqrt(2.0 * float(np.var(lost, ddof=1)) / len(lost))


LAG_STEPS = 0.75  # a train's early frame this far behind its final one: the queue lagged ...
LAG_SIGMAS = 3.0  # ... or, where frames place loosely, this many sigmas of that difference


def lag_limit(placement_var: float, trains: int) -> float:
    """How far, on the mean of ``trains`` trains, the early frame must be behind the
    final one for a queue's lag to be believed (steps).

    The early frame is one placement, the final one two averaged: their
    difference has 1.5 placement variances, and the mean of ``trains`` of
    them a ``trains``-th of that.  Never under ``LAG_STEPS``.
    """
    return max(LAG_STEPS, LAG_SIGMAS * math.sqrt(1.5 * max(placement_var, 0.0) / max(trains, 1)))


def queued_lag(returns: Sequence[float], seen: float, move_s: float, steps: float) -> float:
    """Steps a train still has to go at ``seen`` on a camera that queues, if each
    command moves ``steps`` in ``move_s``.

    Each command starts when its call returns (``returns``) or when the one
    before it ends, whichever is later, and moves at an even rate.
    """
    lag, free = 0.0, -math.inf
    for returned in returns:
        start = max(returned, free)
        free = start + move_s
        lag += steps * min(max((free - seen) / move_s, 0.0), 1.0)
    return lag


def queue_motion_time(trains: Sequence[tuple[Sequence[float], float, float]], steps: float,
                      sigma: float, *, confidence: float = 4.0) -> float:
    """How long one command moves on a camera that queues, from every train's lag.

    ``trains`` are ``(return times, when the early frame was taken, how far
    it was placed behind the train's end)``; ``sigma`` is one lag's error
    (steps).  A queue loses nothing, so only the lag tells the motion time,
    and only a little per train: for size 1 a train of two lags half a step
    when its gap is 3/4 of the motion, within one placement's error.  So no
    single train is judged: each candidate motion time predicts every
    train's lag (:func:`queued_lag`), scored by the squared misfits in units
    of ``sigma`` (each capped at 9, so one odd placement cannot outvote the
    rest), and the longest candidate within ``confidence`` of the best score
    wins (4: two sigmas): a motion time too short is the one that fills the
    queue, one too long only slows the pulls.  ``sigma`` is taken as given,
    though the placement's bias it counts cancels in a lag whose frames are
    both on the anchor: the lags' own scatter, from a dozen trains, is too
    loose a guide (it set a size short in a tenth of synthetic runs).
    Trains whose gaps are all longer than the motion lag nothing whatever it
    is, and bound it from above only through those that were sent sooner.
    """
    if not trains:
        raise ValueError("no trains to time the motion on")
    spans = [seen - float(returns[0]) for returns, seen, _ in trains if len(returns)]
    gaps = np.concatenate([np.diff(np.asarray(r, dtype=float)) for r, _, _ in trains])
    gaps = gaps[gaps > 0]
    low = float(gaps.min()) / 4.0 if len(gaps) else 1e-3
    high = max(max(spans), low * 2.0)
    grid = np.geomspace(max(low, 1e-4), high, 2000)
    sigma = max(float(sigma), 1e-3)
    predicted = np.array([[queued_lag(returns, seen, m, steps) for m in grid]
                          for returns, seen, _ in trains])
    lags = np.array([lag for *_, lag in trains], dtype=float)[:, None]
    misfit = (lags - predicted) / sigma
    score = np.minimum(misfit * misfit, 9.0).sum(axis=0)
    return float(grid[np.flatnonzero(score <= score.min() + confidence).max()])


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
    near, far, _ = steps_line(pairs, span, weights, min_reach)
    return near, far


def steps_line(pairs: Sequence[tuple[float, float, int]], span: float,
               weights: Sequence[float] | None = None,
               min_reach: float = 0.25) -> tuple[float, float, float]:
    """:func:`varying_steps` and the standard error of the line's slope over the range
    (far - near), in steps: ``inf`` when the pairs do not reach far enough to tell it.

    The error is the weighted least squares one, the residuals' own scatter
    giving the unit of weight: the ends, once the line is scaled to what
    the runs covered (:func:`fit_to_travel`), are each about half of it off.
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
        return mean, mean, math.inf
    design = np.column_stack([np.ones(len(a)), mid]) * np.sqrt(w)[:, None]
    target = step * np.sqrt(w)
    (near, slope), *_ = np.linalg.lstsq(design, target, rcond=None)
    residual = target - design @ np.array([near, slope])
    scale = float(residual @ residual) / max(len(a) - 2, 1)
    try:
        cov = scale * np.linalg.inv(design.T @ design)
        error = math.sqrt(max(float(cov[1, 1]), 0.0))
    except np.linalg.LinAlgError:
        error = math.inf
    return float(near), float(near + slope), error


@dataclass(frozen=True)
class Placed:
    """A run's position after ``commands`` of its commands: ``x``, known to ``var``
    (squared steps; the run's stop is exact but for the play its first command turned)."""

    commands: int
    x: float
    var: float


def steps_from_runs(runs: Sequence[Sequence[Placed]], span: float,
                    sigma: float) -> tuple[float, float, float]:
    """A size's steps at the near and far stop, and the standard error of far - near.

    Each run is its positions in order, from its stop on.  Between two
    placed positions ``n`` commands moved the lens by ``n`` times the step
    at their midpoint (linear along the range), plus the commands' own
    spread (``sigma`` each, independent) and the two placements' errors;
    two neighbouring increments share a placement, so their errors are
    correlated (a placement too far makes one increment long and the next
    short).  The line is fitted by generalised least squares with that
    covariance, which credits a run whose placements are loose but whose
    commands do not spread with what its whole length says (consecutive
    errors cancel).  Increments whose whitened residual is beyond
    ``OUTLIER`` robust sigmas (a frame placed on a wrong look-alike entry)
    are left out, and the fit repeated.  The unit of the variances is
    scaled by the remaining residuals' own scatter (never below
    ``SCALE_FLOOR``), so a model too kind to the data cannot make the
    error small, and one too harsh (a spread measured high) does not make
    it large.  ``inf`` when fewer than three
    increments or their midpoints span less than a quarter of the range.
    """
    ys, xs, blocks, mids = [], [], [], []
    for run in runs:
        points = list(run)
        if len(points) < 2:
            continue
        n_inc = len(points) - 1
        cov = np.zeros((n_inc, n_inc))
        for i, (a, b) in enumerate(zip(points[:-1], points[1:])):
            n = b.commands - a.commands
            mid = 0.5 * (a.x + b.x) / span
            ys.append(abs(b.x - a.x))
            xs.append((n, n * mid))
            mids.append(mid)
            cov[i, i] = n * sigma ** 2 + a.var + b.var + 1e-4
            if i > 0:
                cov[i, i - 1] = cov[i - 1, i] = -a.var
        blocks.append(cov)
    if len(ys) < 3 or max(mids) - min(mids) < 0.25:
        if not ys:
            raise ValueError("no placed increments to measure the steps on")
        x = np.asarray(xs)
        mean = float(np.sum(ys) / np.sum(x[:, 0]))
        return mean, mean, math.inf
    y, x = np.asarray(ys, dtype=float), np.asarray(xs, dtype=float)
    whiten = np.zeros((len(y), len(y)))
    k = 0
    for cov in blocks:
        m = len(cov)
        whiten[k:k + m, k:k + m] = np.linalg.inv(np.linalg.cholesky(cov))
        k += m
    wx, wy = whiten @ x, whiten @ y
    keep = np.ones(len(y), dtype=bool)
    for _ in range(3):
        (near, slope), *_ = np.linalg.lstsq(wx[keep], wy[keep], rcond=None)
        residual = wy - wx @ np.array([near, slope])
        # A frame placed on the wrong look-alike entry is off by steps, not tenths:
        # such residuals (beyond OUTLIER robust sigmas) are left out of the line and
        # of its error.  The scale is the median's, robust to them.
        robust = float(np.median(residual[keep] ** 2)) / 0.455
        now = np.abs(residual) <= OUTLIER * math.sqrt(max(robust, 1e-12))
        if now.sum() < 3 or np.array_equal(now, keep):
            break
        keep = now
    inliers = residual[keep]
    scale = max(float(inliers @ inliers) / max(int(keep.sum()) - 2, 1), SCALE_FLOOR)
    try:
        error = math.sqrt(max(float(scale * np.linalg.inv(wx[keep].T @ wx[keep])[1, 1]), 0.0))
    except np.linalg.LinAlgError:
        error = math.inf
    return float(near), float(near + slope), error


def travel(near: float, far: float, span: float, start: float, direction: int,
           commands: int) -> float:
    """Steps ``commands`` commands cover from ``start`` toward ``direction`` (+1: far).

    The size's steps are ``near`` at 0 and ``far`` at ``span``, linear in
    between; one command moves by the step at the middle of its own move
    (as :meth:`rig.simprofile.DriveSpec.mean` and the planner have it).
    """
    g = (far - near) / span if span > 0 else 0.0
    x = float(start)
    for _ in range(int(commands)):
        x += direction * (near + g * x) / (1.0 - direction * g / 2.0)
    return abs(x - float(start))


def fit_to_travel(near: float, far: float, span: float,
                  legs: Sequence[tuple[float, int, int, float]]) -> tuple[float, float]:
    """A size's steps at both stops, scaled to what runs from the stops covered.

    ``near`` and ``far`` come from placed increments (their slope is what
    they tell best); ``legs`` are ``(start, direction, commands, covered)``:
    runs that started on a stop, an exact position, and were placed
    ``covered`` steps from it after ``commands`` commands.  The line keeps
    its slope's share and is scaled so that it covers, over those very
    commands (wherever along the range they were), what the runs covered.
    """
    predicted = sum(travel(near, far, span, s, d, n) for s, d, n, _ in legs)
    covered = sum(c for *_, c in legs)
    if predicted <= 0 or covered <= 0:
        return near, far
    k = covered / predicted
    return near * k, far * k


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
