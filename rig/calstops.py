"""Counting against the stops: steps measured by where size-1 commands stall (pure, numpy only).

A study toward issue 13's time target (``docs/calibration.md``, "Counting
against the stops"; ``bench/cal_stops.py`` drives it on the lens zoo).
The stops are truth: size 1 is the unit of position, so a count of size-1
commands that ends where the lens stalls against a stop measures a
distance, whatever the picture looks like in between.  Only the stall
itself needs the picture.

* :func:`stall_point` - from frames taken one or a few size-1 commands
  apart next to a stop, the (fractional) command count at which the lens
  met the stop (``side="end"``) or left it (``side="start"``: the play
  taken up after a reversal, which is how the backlash shows), with its
  standard error and the contrast it rests on;
* :func:`leg_steps` - the motor steps ``n`` commands of a size turn, from a
  stop, when steps vary linearly along the range (the forward model);
* :func:`size_steps` - a size's steps at the near and at the far stop from
  one leg at each stop, with their errors.

Why backlash cancels in a leg: from a stop, with the play taken up toward
it, ``n`` commands of size ``s`` outward turn the motor ``S`` steps and move
the lens ``S - b`` (the first ``b`` close the play).  ``k`` size-1 commands
back reverse the motor again: the first ``b`` close the play the other way,
the rest move the lens, so it is back on the stop when ``k - b = S - b``,
at ``k = S``.  The count back is the motor's ``S`` without the play.  The
pass from one stop to the other (no reversal after the stop) counts
``range + b``: the range needs the backlash, measured at a stop by
``stall_point(side="start")``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

__all__ = ["Stall", "stall_point", "leg_steps", "SizeSteps", "size_steps", "count_spread",
           "pooled_spread", "spread_bound", "repeated", "mean_bound", "rms_bound", "settle_time"]

GRID = 0.02          # resolution of the stall search, commands
QUADRATIC = False    # fit a d**2 term too (worse on the zoo: docs/calibration.md)
RANK = 3             # directions of the picture's change the fit follows
MIN_LEGS = 3         # legs of one length a spread rests on, at least
# chi-square's 20 % point for 1..10 degrees of freedom: a variance from d of them is below
# d / this (its 80 % upper bound) four times in five
CHI2_20 = (0.0642, 0.446, 1.005, 1.649, 2.343, 3.070, 3.822, 4.594, 5.380, 6.179)
WINDOW = 20.0        # steps off the stop a second fit keeps (the picture's change is not
                     # linear over more; bench/cal_stops.py chose it on zoo seeds 1-12)


@dataclass(frozen=True)
class Stall:
    """Where the lens met (or left) a stop, in commands of the leg."""

    count: float        # commands at the stall
    sigma: float        # one standard error of count, commands
    contrast: float     # picture change per step next to the stop, in frame-noise sigmas
    frames: int         # frames the fit rested on


def _directions(z: np.ndarray, rank: int) -> np.ndarray:
    """The ``rank`` unit vectors (rows) along which ``z``'s rows mostly lie."""
    _, _, vt = np.linalg.svd(z, full_matrices=False)
    return vt[:rank]


def _fit(y: np.ndarray, d: np.ndarray, quadratic: bool) -> tuple[float, np.ndarray]:
    """Least squares of every column of ``y`` on 1, d (and d**2): (residual, coefficients)."""
    cols = [np.ones_like(d), d] + ([d * d] if quadratic else [])
    a = np.stack(cols, axis=1)
    coef, *_ = np.linalg.lstsq(a, y, rcond=None)
    r = y - a @ coef
    return float(np.sum(r * r)), coef


def stall_point(counts: Sequence[float], frames: Sequence[np.ndarray] | np.ndarray,
                plateau: Sequence[bool], *, side: str = "end",
                quadratic: bool = QUADRATIC, rank: int = RANK,
                window: float | None = WINDOW) -> Stall:
    """The command count at which the lens met a stop (``"end"``) or left it (``"start"``).

    ``counts[i]`` is how many commands of the leg were sent when frame ``i``
    (a fingerprint: a flat float vector) was taken, the lens settled;
    ``plateau[i]`` says the frame is surely at the stop (taken after enough
    commands past the stall, or before the first one).  The lens sits at
    distance ``d = max(0, K - count)`` from the stop (``"end"``) or
    ``max(0, count - K)`` (``"start"``); next to the stop a frame is the
    stop's picture plus ``d`` times a change (with ``quadratic``, plus
    ``d**2`` times another).  The frames are projected on the ``rank``
    directions they mostly differ from the stop's mean picture in, and
    ``K`` is the hinge that fits them all best, on a grid of :data:`GRID`;
    the picture's change is seldom linear over tens of steps, so a second
    fit keeps only the frames within ``window`` steps of that stall (and
    the plateau).  The error is where the residual grows by one noise
    variance (a profile likelihood), never below the grid; ``contrast`` is
    the change per step next to the stop over the residual noise of one
    projected frame.  Neither flags a biased stall (a picture flat just
    before the stop and steep farther out): a leg of known count does
    (``docs/calibration.md``).
    """
    if side not in ("end", "start"):
        raise ValueError(f"side must be 'end' or 'start', not {side!r}")
    fit = _stall(counts, frames, plateau, side, quadratic, rank)
    if window is None:
        return fit
    k = np.asarray(counts, dtype=float)
    at = np.asarray(plateau, dtype=bool)
    near = (k >= fit.count - window) if side == "end" else (k <= fit.count + window)
    keep = near | at
    if (~at[keep]).sum() < 5 or keep.all():
        return fit
    f = np.asarray(frames, dtype=float)
    return _stall(k[keep], f[keep], at[keep], side, quadratic, rank)


def _stall(counts: Sequence[float], frames: Sequence[np.ndarray] | np.ndarray,
           plateau: Sequence[bool], side: str, quadratic: bool, rank: int) -> Stall:
    k = np.asarray(counts, dtype=float)
    f = np.asarray(frames, dtype=float)
    at = np.asarray(plateau, dtype=bool)
    if f.ndim != 2 or len(f) != len(k) or len(at) != len(k):
        raise ValueError("counts, frames and plateau must describe the same frames")
    if at.sum() < 1 or (~at).sum() < 4:
        raise ValueError("a stall needs frames at the stop and at least 4 off it")
    stop = f[at].mean(axis=0)
    z = f - stop
    u = _directions(z[~at], min(rank, int((~at).sum()) - 1))
    y = z @ u.T
    # K lies between the plateau's frames and the others.
    if side == "end":
        grid = np.arange(float(k[~at].min()), float(k[at].min()) + GRID / 2, GRID)
        dist = lambda kk: np.maximum(0.0, kk - k)   # noqa: E731
    else:
        grid = np.arange(float(k[at].max()), float(k[~at].max()) + GRID / 2, GRID)
        dist = lambda kk: np.maximum(0.0, k - kk)   # noqa: E731
    sse = np.array([_fit(y, dist(kk), quadratic)[0] for kk in grid])
    best = int(np.argmin(sse))
    params = (3 if quadratic else 2) * y.shape[1] + 1
    var = max(float(sse[best]) / max(y.size - params, 1), 1e-12)
    inside = grid[sse <= sse[best] + var]
    sigma = max(float(inside.max() - inside.min()) / 2.0, GRID)
    _, coef = _fit(y, dist(grid[best]), quadratic)
    contrast = float(np.linalg.norm(coef[1])) / math.sqrt(var)
    return Stall(float(grid[best]), sigma, contrast, len(y))


# ------------------------------------------------------------ steps along the range


def leg_steps(near: float, far: float, span: float, n: int, *, start: float,
              direction: int, backlash: float = 0.0) -> float:
    """Motor steps that ``n`` commands of one size turn from ``start`` toward ``direction``.

    The size's effective step is ``e(x) = near + (far - near) x / span`` at
    lens position ``x``; a command from ``x`` turns ``e`` at the middle of
    its own move, ``e(x) / (1 - direction g / 2)`` (``rig.planner.LensModel``
    and the simulator use the same midpoint rule).  The lens follows the
    motor ``backlash`` steps late after the reversal that starts the leg, so
    every command after the first starts that much short.
    """
    g = (far - near) / span if span > 0 else 0.0
    x = float(start)
    total = 0.0
    for i in range(int(n)):
        e = near + g * min(max(x, 0.0), span)
        m = e / (1.0 - direction * g / 2.0)
        total += m
        x += direction * (m - (backlash if i == 0 else 0.0))
    return total


@dataclass(frozen=True)
class SizeSteps:
    """One size's steps at the two stops, from a leg at each."""

    near: float
    far: float
    near_sigma: float
    far_sigma: float
    mean: float          # the mean over the range (what a single figure would be)


def size_steps(near_leg: tuple[int, float, float], far_leg: tuple[int, float, float],
               span: float, *, backlash: float = 0.0, rounds: int = 8) -> SizeSteps:
    """A size's steps at the near and far stop from ``(commands, counted, sigma)`` legs.

    ``near_leg``: ``commands`` of the size from the near stop outward, and
    the size-1 commands ``counted`` back to the stall (``sigma`` its
    error); ``far_leg`` the same from the far stop.  Solves
    :func:`leg_steps` for both ends (Gauss-Newton from the legs' plain
    means; it is nearly linear), and carries the counts' errors through
    its Jacobian.  The spread of the commands themselves adds to a leg's
    count without showing in its ``sigma``.
    """
    (n1, s1, e1), (n2, s2, e2) = near_leg, far_leg
    if n1 < 1 or n2 < 1:
        raise ValueError("each leg needs at least one command")
    if not (s1 > 0 and s2 > 0 and span > 0):
        raise ValueError("counts and the range must be positive")

    def model(p: np.ndarray) -> np.ndarray:
        return np.array([leg_steps(p[0], p[1], span, n1, start=0.0, direction=1,
                                   backlash=backlash),
                         leg_steps(p[0], p[1], span, n2, start=span, direction=-1,
                                   backlash=backlash)])

    def jacobian(p: np.ndarray) -> np.ndarray:
        h = 1e-4 * max(1.0, float(np.abs(p).max()))
        base = model(p)
        return np.stack([(model(p + h * np.eye(2)[j]) - base) / h for j in range(2)], axis=1)

    target = np.array([s1, s2], dtype=float)
    p = np.array([s1 / n1, s2 / n2], dtype=float)
    for _ in range(rounds):
        step = np.linalg.solve(jacobian(p), target - model(p))
        p = p + step
        if float(np.abs(step).max()) < 1e-9:
            break
    jinv = np.linalg.inv(jacobian(p))
    cov = jinv @ np.diag([e1 ** 2, e2 ** 2]) @ jinv.T
    return SizeSteps(float(p[0]), float(p[1]), math.sqrt(max(cov[0, 0], 0.0)),
                     math.sqrt(max(cov[1, 1], 0.0)), float((p[0] + p[1]) / 2.0))


# ------------------------------------------------------------------ spread and timing


def count_spread(counts: Sequence[tuple[int, float, float]]) -> float:
    """One command's spread (steps, one sigma) from legs of equal length counted back.

    ``counts``: ``(commands, counted, sigma)``.  ``k`` commands whose steps
    spread by ``s`` each count ``k s**2`` more variance than the stall fits'
    own (``sigma**2``); legs are grouped by ``k`` and the excess pooled.
    Fewer than :data:`MIN_LEGS` legs of one length say nothing: 0 (two
    counts make a spread that can be anything; a spread too large would
    widen the check's tolerance until a wrong calibration passes it).
    """
    groups: dict[int, list[tuple[float, float]]] = {}
    for k, c, s in counts:
        groups.setdefault(int(k), []).append((float(c), float(s)))
    excess, dof = 0.0, 0
    for k, legs in groups.items():
        if len(legs) < MIN_LEGS or k < 1:
            continue
        c = np.array([x for x, _ in legs])
        s2 = float(np.mean([s * s for _, s in legs]))
        var = float(np.var(c, ddof=1))
        excess += (len(legs) - 1) * max(var - s2, 0.0) / k
        dof += len(legs) - 1
    return math.sqrt(excess / dof) if dof else 0.0


def pooled_spread(groups: Sequence[Sequence[tuple[int, float, float]]]) -> tuple[float, int]:
    """One command's spread (steps, one sigma) from groups of legs that each repeat one leg
    (same start, same count of commands): ``(commands, counted, sigma)``, and the degrees
    of freedom it rests on.  As :func:`count_spread`, but two legs of a group already
    count (one degree of freedom); no group of two: ``(0.0, 0)``."""
    excess, dof = 0.0, 0
    for legs in groups:
        if len(legs) < 2:
            continue
        k = int(legs[0][0])
        if k < 1 or any(int(n) != k for n, _, _ in legs):
            raise ValueError("a group repeats one leg: the same count of commands")
        c = np.array([float(x) for _, x, _ in legs])
        s2 = float(np.mean([float(s) ** 2 for _, _, s in legs]))
        excess += (len(legs) - 1) * max(float(np.var(c, ddof=1)) - s2, 0.0) / k
        dof += len(legs) - 1
    return (math.sqrt(excess / dof), dof) if dof else (0.0, 0)


def spread_bound(groups: Sequence[Sequence[tuple[int, float, float]]],
                 prior: float) -> tuple[float, int]:
    """An upper bound on one command's spread (steps, one sigma) and the degrees of freedom
    it rests on, from groups of repeated legs (:func:`pooled_spread`).

    Where :func:`pooled_spread` gives the spread itself (for the calibration's jitter),
    this is for how well the steps are known, where a spread too small would let a wrong
    calibration through: the pooled excess variance raised to its 80 % upper bound
    (chi-square, :data:`CHI2_20`).  No group of two: ``(prior, 0)``.
    """
    spread, dof = pooled_spread(groups)
    if not dof:
        return float(prior), 0
    return spread * math.sqrt(_upper(dof)), dof


def _upper(dof: int) -> float:
    """A variance from ``dof`` degrees of freedom, times this: its 80 % upper bound."""
    if dof <= len(CHI2_20):
        return dof / CHI2_20[dof - 1]
    return 1.0 / (1.0 - 2.0 / (9 * dof) - 0.8416 * math.sqrt(2.0 / (9 * dof))) ** 3


def mean_bound(values: Sequence[float]) -> tuple[float, float]:
    """The mean of repeated measurements and an upper bound (80 %) on its standard error
    from their own scatter alone (at least two values)."""
    v = np.asarray(values, dtype=float)
    if len(v) < 2:
        raise ValueError("a scatter needs two values at least")
    return float(v.mean()), math.sqrt(float(np.var(v, ddof=1)) * _upper(len(v) - 1) / len(v))


def rms_bound(residuals: Sequence[float]) -> tuple[float, float]:
    """One error's size from residuals about a known value: (root mean square, its 80 %
    upper bound)."""
    r = np.asarray(residuals, dtype=float)
    if not len(r):
        raise ValueError("no residuals")
    ms = float(np.mean(r * r))
    return math.sqrt(ms), math.sqrt(ms * _upper(len(r)))


def repeated(legs: Sequence[tuple[int, float, float]], spread: float,
             shared: float = 0.0) -> tuple[int, float, float]:
    """Repeats of one leg as one: ``(commands, mean count, its sigma)``.

    Each count's error is its stall fit's (``sigma``) plus ``commands``
    times the commands' variance (``spread**2``); ``shared`` is an error
    every repeat has in common (the pass a near leg is counted against).
    The scatter of the counts themselves sets a floor: repeats that
    disagree more than their errors say are known no better than they agree.
    """
    if not legs:
        raise ValueError("no legs")
    k = int(legs[0][0])
    c = np.array([float(x) for _, x, _ in legs])
    r = len(c)
    each = float(np.mean([float(s) ** 2 for _, _, s in legs])) + k * spread ** 2
    var = each / r
    if r > 1:
        var = max(var, float(np.var(c, ddof=1)) / r)
    return k, float(c.mean()), math.sqrt(var + shared ** 2)


def settle_time(times: Sequence[float], off: Sequence[float], still: float) -> float | None:
    """When the picture settled: the time of the first frame from which every frame is
    within ``still`` of the last (``off[i]``: frame ``i``'s distance from the last one).
    None when even the first frame was (the motion did not show)."""
    d = np.asarray(off, dtype=float)
    moving = np.flatnonzero(d >= still)
    if not len(moving) or moving[-1] + 1 >= len(d):
        return None
    return float(times[int(moving[-1]) + 1])
