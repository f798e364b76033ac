"""Plans for focus transitions: which drive commands, and when.

Pure code: numbers in, a :class:`Plan` out.  No clock, no camera.

**The lens model** (from calibration) gives, for each drive size k, its
period ``p_k`` (the least time from one command to the next, with a guard
for USB jitter) and its motion ``m_k`` (how long the lens moves for one
command; at most the period).  Its effective steps vary along the range:
``e_k(x) = near_k + g_k x``, linear in the position x between the near stop
and the far stop.  The motor turns the same angle for every command of a
size, so p_k and m_k do not vary; a command moves the lens ``e_k`` taken at
the middle of its own move (:meth:`LensModel.step_at`).  Size 1 is the unit
of position.  On a reversal the motor first turns through the lens's
*backlash* before the lens follows (:class:`Play`).

A move of D steps with a target duration T is planned in four parts.

**Takeup.**  ``slack`` is how far the motor must turn toward the target
before the lens follows (0 when the play is already taken up that way: the
rig takes it up while the lens waits at a point, ``Lens.take_up``).  When
it is not, ``floor(slack)`` unit commands go first; the lens stands still
while they turn the motor, the curve starts when they are done, and the
pull still ends at T.  The fraction left over is lost by the curve's first
command, which the schedule and the landing both count.

**Counts.**  A mix of counts ``n_k`` must cover ``D + loss``; its motion
time is ``M = sum(n_k p_k)``.  Every mix is listed at once (numpy over the
counts of size 2, a loop over the larger sizes); the unit size takes what
the others leave, rounded.  Where the steps vary, a mix's landing is
predicted by the continuous model of its spread order (commands spread
evenly cover ``du/dphi = sum n_k e_k(start + d u)``, linear in u, so a mix
covers ``E0 (exp(G) - 1) / G``: within 0.06 step of the realized landing at
the 99th percentile).  Then every plan is *realized*: its commands are
replayed in their sending order with the real steps (an affine map per
command, cumulative products in numpy), and a plan lands only if its
realized landing is exact.  The fastest plan walks the mixes by motion
time, realizing them in batches, and keeps the first that lands (a brute
force agrees: tests/test_planner.py, bench/run.py).  When T is longer, the
planner scores the sensible mixes that meet it (see ``_worth_scoring``) by
how closely their best schedule follows the ideal trajectory, exact
landings first, and keeps the closest.  The plan's duration is
``max(T, fastest)``.

**Order.**  The commands of each size are spread evenly over the move (the
j-th of n commands of a size is centred at fraction (j + 1/2) / n of the
distance), so large steps are never bunched; on the eased curve the larger
sizes follow its speed instead, gathering where the lens should move fast.
The last command is one of the smallest size used: the final approach is
made in the finest step (and for the eased curve, the first one too).  A
small mix has every distinct order scored.

**Times.**  For a given order the best times have a closed form.  The lens
is at ``X_(i-1)`` when command i's motion starts and at ``X_i`` when it
ends (X realized, as above), and stands still in between commands, so its
distance from the ideal trajectory x* is largest at those instants.
Keeping it within delta puts each start t_i in a box
``[L_i - c*delta, H_i + c*delta]`` (c = T/D seconds per step); starts must
also be a period apart, the first at or after 0 and the last motion over by
T.  The earliest feasible schedule then exists exactly when, for every i,

    max_{j<=i} (L_j - P_j) + P_i - H_i <= 2 c delta      (P_i: periods before i)

together with the end conditions, so the least delta is a running maximum
over the commands: O(n), computed with numpy.  The times used are halfway
between the earliest and the latest schedule that achieve it.  For the
ease-in-out trajectory the boxes come from the inverse of the easing curve
and delta is found by bisection on the same feasibility test.

Deviation is scored on the kinematic model of issue 4, with the real
displacements: a command moves the lens its realized step linearly over its
motion time (after the play, if any, is taken up), against the line to the
target (not to the plan's own landing, which a lens with spread may expect
a fraction of a step off: that fraction is part of what the pull shows).

**Exact landing.**  An expected landing within ``EXACT`` steps (or well
inside the landing's own spread, for jittery commands) counts as exact.
Only such plans are used when one of them meets T (there always is one on
a lens whose unit step does not vary: all size 1); otherwise the nearest.
Whole steps can only reach whole positions: after a reversal on a lens
whose backlash is not a whole number of steps, or when the unit step
itself varies, no plan of unit commands can, and the nearest is taken.
See ``docs/planning.md``.
"""

from __future__ import annotations

import functools
import itertools
import math
from dataclasses import dataclass, replace

import numpy as np

__all__ = ["Drive", "LensModel", "Play", "Command", "Plan", "plan_move", "fastest_time",
           "EASINGS", "ease", "deviation", "trajectory"]

EASINGS = ("linear", "ease")
LANDING_WEIGHT = 20.0   # steps of deviation one step of landing error beyond exact is worth


@dataclass(frozen=True)
class Drive:
    """One drive size as calibrated.

    A command's effective steps vary along the range: ``steps`` at the near
    stop, ``steps_far`` at the far stop (None: the same), linear in the
    position in between.  The motor turns the same angle for every command
    of a size, so its motion time (``move``) and period do not vary.
    """

    size: int
    steps: float    # effective size-1 steps of one command (at the near stop)
    period: float   # seconds from one command to the next, at the least
    move: float | None = None  # seconds the lens moves for one command (default: period)
    jitter: float = 0.0        # spread of one command's steps, one sigma (calibrated)
    steps_far: float | None = None  # effective steps at the far stop (None: ``steps``)

    @property
    def far(self) -> float:
        """Effective steps at the far stop."""
        return self.steps if self.steps_far is None else self.steps_far

    @property
    def varies(self) -> bool:
        return self.steps_far is not None and abs(self.steps_far - self.steps) > 1e-12

    @property
    def speed(self) -> float:
        return self.steps / self.period

    @property
    def motion(self) -> float:
        return self.period if self.move is None else self.move


@dataclass(frozen=True)
class Play:
    """Where the motor sits in the lens's backlash (its play), in size-1 steps.

    ``far`` is how far the motor must turn toward the far stop before the
    lens follows; toward the near stop it is ``backlash - far``.  A move
    toward far ends with ``far = 0`` (the play *taken up* toward far); a move
    toward near with ``far = backlash``.  Pure data: the lens layer keeps
    one next to its position and the planner is told the slack of a move.
    """

    backlash: float = 0.0
    far: float = 0.0

    @classmethod
    def taken_up(cls, backlash: float, direction: int) -> "Play":
        """The play after a move toward ``direction`` (homing: toward near)."""
        return cls(backlash, 0.0 if direction > 0 else backlash)

    def slack(self, direction: int) -> float:
        """How far the motor turns toward ``direction`` before the lens follows."""
        return self.far if direction > 0 else self.backlash - self.far

    @property
    def toward(self) -> int:
        """The direction the play is fully taken up in (+1 far, -1 near), 0 if neither."""
        if self.backlash <= 0:
            return 0
        if self.far <= 1e-9:
            return 1
        if self.far >= self.backlash - 1e-9:
            return -1
        return 0

    def turn(self, direction: int, travel: float) -> tuple[float, "Play"]:
        """The motor turns ``travel`` steps toward ``direction``: (how far the lens moves, after)."""
        travel = max(float(travel), 0.0)
        used = min(travel, self.slack(direction))
        far = self.far - used if direction > 0 else self.far + used
        return travel - used, Play(self.backlash, min(max(far, 0.0), self.backlash))


@dataclass(frozen=True)
class LensModel:
    """What the planner knows of a lens: its range, its drive sizes, its backlash."""

    steps: int                     # size-1 steps from the near stop to the far stop
    drives: tuple[Drive, ...]      # sorted by size
    latency: float = 0.0           # mean call round trip, seconds
    backlash: float = 0.0          # size-1 steps lost on each reversal of direction

    def drive(self, size: int) -> Drive:
        for d in self.drives:
            if d.size == size:
                return d
        raise KeyError(size)

    def into_stop(self) -> tuple[int, int]:
        """The largest size and how many of its commands reach a stop from anywhere.

        110 % of the range at its smallest step, and two commands more: the
        silent clamp at a stop ends the lens there whatever its start.
        """
        big = max(self.drives, key=lambda d: d.steps)
        return big.size, math.ceil(self.steps * 1.1 / min(big.steps, big.far)) + 2

    def nearest_size(self, size: int) -> int:
        """The largest size this lens has that is at most ``size`` (else its smallest).

        Config names sizes 1-3 for every camera; a body with two sizes
        (Panasonic) answers a wish for size 3 with its size 2.
        """
        sizes = sorted(d.size for d in self.drives)
        below = [s for s in sizes if s <= size]
        return below[-1] if below else sizes[0]

    def slope(self, size: int) -> float:
        """How much one command's steps grow per step toward the far stop (g)."""
        d = self.drive(size)
        if not d.varies or self.steps <= 0:
            return 0.0
        return (d.far - d.steps) / self.steps

    def effective(self, size: int, position: float) -> float:
        """e(x): the steps of a command of ``size`` whose move is centred at ``position``."""
        x = min(max(float(position), 0.0), float(self.steps))
        return self.drive(size).steps + self.slope(size) * x

    def step_at(self, size: int, position: float, direction: int) -> float:
        """Mean steps one command of ``size`` moves from ``position`` toward ``direction``.

        The effective step is linear in the position, taken at the middle of
        the move: ``m = e(x + d m / 2)`` with ``e(x) = near + g x``, so
        ``m = e(x) / (1 - d g / 2)``.  Before the clamp at a stop, and
        before backlash (a reversal loses ``backlash`` steps first).
        """
        d = self.drive(size)
        if not d.varies or self.steps <= 0:
            return d.steps
        g = (d.far - d.steps) / self.steps
        x = min(max(float(position), 0.0), float(self.steps))
        return (d.steps + g * x) / (1.0 - (1 if direction > 0 else -1) * g / 2.0)

    def move(self, position: float, size: int, direction: int,
             play: Play) -> tuple[float, Play]:
        """Where one command leaves the lens (its mean), and the play after it.

        The motor turns the command's step (:meth:`step_at`); the play
        toward ``direction`` is taken up first, the lens follows for the
        rest, and a stop clamps it.
        """
        travel = self.step_at(size, position, direction)
        moved, play = play.turn(direction, travel)
        x = float(position) + (1 if direction > 0 else -1) * moved
        return min(max(x, 0.0), float(self.steps)), play

    def play(self, direction: int) -> Play:
        """The play taken up toward ``direction``."""
        return Play.taken_up(self.backlash, direction)

    @property
    def varies(self) -> bool:
        return any(d.varies for d in self.drives)

    @property
    def fractional(self) -> bool:
        """Some size moves other than a whole, constant number of steps."""
        return self.varies or any(abs(d.steps - round(d.steps)) > 1e-9 for d in self.drives)

    @property
    def unit(self) -> Drive:
        return min(self.drives, key=lambda d: d.steps)


@dataclass(frozen=True)
class Command:
    t: float    # seconds from the start of the move
    size: int


@dataclass(frozen=True)
class Plan:
    start: float
    target: float
    target_s: float
    duration_s: float
    fastest_s: float
    counts: dict[int, int]
    commands: tuple[Command, ...]
    direction: int = 0
    easing: str = "linear"
    deviation: float = 0.0      # largest distance from the ideal trajectory, steps (model)
    landing: float = 0.0        # expected landing error (short of the target > 0), steps
    slack: float = 0.0          # play the motor takes up before the lens moves, steps
    takeup_s: float = 0.0       # when the curve starts (the takeup commands come before)
    takeup: int = 0             # how many of the first commands only take up play

    @property
    def distance(self) -> float:
        return abs(self.target - self.start)

    def to_json(self) -> dict:
        return {
            "from": self.start,
            "to": self.target,
            "target_s": round(self.target_s, 6),
            "duration_s": round(self.duration_s, 6),
            "fastest_s": round(self.fastest_s, 6),
            "counts": {str(k): v for k, v in sorted(self.counts.items())},
            "direction": self.direction,
            "easing": self.easing,
            "deviation_steps": round(self.deviation, 3),
            "expected_landing_error_steps": round(self.landing, 3),
            "slack_steps": round(self.slack, 3),
            "takeup_commands": self.takeup,
            "takeup_s": round(self.takeup_s, 6),
            "commands": [{"t": round(c.t, 6), "size": c.size} for c in self.commands],
        }


# ------------------------------------------------------------------ easing


def ease(u: np.ndarray | float, easing: str) -> np.ndarray | float:
    """Fraction of the distance done at fraction ``u`` of the time."""
    if easing == "linear":
        return u
    return (1.0 - np.cos(np.pi * np.clip(u, 0.0, 1.0))) / 2.0


def _ease_inverse(y: np.ndarray, easing: str) -> np.ndarray:
    """Fraction of the time at which fraction ``y`` of the distance is done."""
    y = np.clip(y, 0.0, 1.0)
    if easing == "linear":
        return y
    return np.arccos(1.0 - 2.0 * y) / np.pi


# ------------------------------------------------------------------ counts


EXACT = 0.05   # an expected landing within this many steps counts as exact
SPREAD_SHARE = 0.5  # ... or within this share of the mix's own landing spread
MOST = 0.5     # ... but never further than half a step (what the unit count can leave)


def _tolerance(mixes: "_Mixes") -> np.ndarray:
    """How far off each mix may expect to land and still count as exact.

    A mix of jittery commands lands with a spread of its own (one sigma,
    sqrt(sum n_i sigma_i^2)); an expected error well inside it costs
    nothing worth a slower mix, up to half a step: a plan never aims further
    off than the unit count can leave.  Without jitter this is EXACT.
    """
    return np.clip(SPREAD_SHARE * np.sqrt(mixes.variance), EXACT, max(MOST, EXACT))


def _tolerance_of(counts: dict[int, int], model: LensModel) -> float:
    variance = sum(n * model.drive(k).jitter ** 2 for k, n in counts.items())
    return min(max(EXACT, SPREAD_SHARE * math.sqrt(variance)), max(MOST, EXACT))


# How far past the mark the larger sizes of a listed mix may go on the
# middle's steps (which can be 2 steps off the realized landing on a long
# move whose steps vary); mixes predicted past it by more than half a step
# (plus the prediction's margin) are dropped once predicted.
LIST_MARGIN = 3.0


@dataclass
class _Mixes:
    """Every count mix worth knowing for one distance, as parallel arrays."""

    big: np.ndarray        # counts of the sizes above the two smallest (rows: mixes)
    n2: np.ndarray         # count of the second-smallest size
    n1: np.ndarray         # count of the unit size
    landing: np.ndarray    # expected landing error, steps (on the average steps)
    motion: np.ndarray     # sum of the periods
    variance: np.ndarray   # spread of the landing from command jitter, steps squared
    local: LensModel       # the steps at the middle of the move (for the order)

    def counts(self, i: int, model: LensModel | None = None) -> dict[int, int]:
        sizes = _by_steps(model or self.local)
        out = {k: int(n) for k, n in zip(sizes[2:], self.big[i])}
        if len(sizes) > 1:
            out[sizes[1]] = int(self.n2[i])
        out[sizes[0]] = int(self.n1[i])
        return out


@functools.lru_cache(maxsize=64)
def _by_steps(model: LensModel) -> tuple[int, ...]:
    """The sizes from the smallest step to the largest."""
    return tuple(d.size for d in sorted(model.drives, key=lambda d: d.steps))


@functools.lru_cache(maxsize=256)
def _mixes(distance: float, model: LensModel, final_unit: bool | None = None,
           start: float = 0.0, direction: int = 1, loss: float = 0.0) -> _Mixes:
    """All mixes of the larger sizes, every count of size 2, the unit size rounded.

    For a move of ``distance`` from ``start`` toward ``direction`` whose
    first command loses ``loss`` steps to the play.  The unit size takes
    what the others leave, rounded to a whole command; with fractional
    effective steps (4.3, 29.6) the expected landing is then off by the
    rounding, recorded in ``landing``.  ``final_unit``: every mix keeps a
    unit command for the final approach (default: on a fractional lens).

    Where the steps vary, a mix's landing is predicted by the continuous
    model of its spread order: commands spread evenly over the move cover
    ``du/dphi = sum_k n_k e_k(start + d u)``, linear in u, so the mix covers
    ``E0 (exp(G) - 1) / G`` with ``E0 = sum n_k e_k(start)`` and
    ``G = d sum n_k g_k`` (within 0.06 step of the realized landing at the
    99th percentile, against 1 step for the steps at the middle).
    """
    travel = distance + loss
    local = _local(model, start + direction * distance / 2.0)
    drives = sorted(local.drives, key=lambda d: d.steps)
    unit = drives[0]
    second = drives[1] if len(drives) > 1 else None
    bigger = drives[2:]
    rows_big, rows_n2 = [], []
    for big in itertools.product(*(range(int(travel // d.steps) + 1) for d in bigger)):
        left = travel - sum(n * d.steps for n, d in zip(big, bigger))
        margin = 0.5 + (LIST_MARGIN if model.varies else 0.0)
        if left < -margin:
            continue
        top = int((left + margin) // second.steps) if second else 0
        n2 = np.arange(top + 1)
        rows_big.append(np.repeat([big], len(n2), axis=0) if bigger else
                        np.zeros((len(n2), 0), dtype=int))
        rows_n2.append(n2)
    big_arr = np.concatenate(rows_big).astype(int)
    n2 = np.concatenate(rows_n2)
    steps_big = np.array([d.steps for d in bigger])
    rest = travel - big_arr @ steps_big - (n2 * second.steps if second else 0.0)
    if final_unit is None:
        final_unit = model.fractional
    # With fractional steps the final approach must be a unit step: at least one.
    least = 1 if final_unit and travel >= unit.steps else 0
    n1 = np.maximum(np.round(rest / unit.steps).astype(int), least)
    if model.varies:
        sizes = [d.size for d in drives]
        e0 = np.array([model.effective(k, start) for k in sizes])
        g = direction * np.array([model.slope(k) for k in sizes])

        def covered(n1: np.ndarray) -> np.ndarray:
            counts = np.column_stack([n1, n2] + ([big_arr] if bigger else [])) \
                if second else n1[:, None]
            e, grow = counts @ e0, counts @ g
            small = np.abs(grow) < 1e-12
            return e * np.where(small, 1.0 + grow / 2.0, np.expm1(grow) / np.where(small, 1.0, grow))
        n1 = np.maximum(n1 + np.round((travel - covered(n1)) / unit.steps).astype(int), least)
        landing = travel - covered(n1)
        margin = ORDER_MARGIN
    else:
        landing = rest - n1 * unit.steps
        margin = 1e-9
    # A mix whose larger sizes alone go past the mark (by more than the unit count's
    # rounding) is no plan; the unit size's own rounding is (a lens of one size).
    keep = (n1 > least) | (landing >= -(unit.steps / 2 + margin))
    if np.any(keep):
        big_arr, n2, n1, landing = big_arr[keep], n2[keep], n1[keep], landing[keep]
    period_big = np.array([d.period for d in bigger])
    motion = (big_arr @ period_big + (n2 * second.period if second else 0.0)
              + n1 * unit.period)
    variance = (big_arr @ np.array([d.jitter ** 2 for d in bigger])
                + (n2 * second.jitter ** 2 if second else 0.0) + n1 * unit.jitter ** 2)
    return _Mixes(big_arr, n2, n1, landing, motion, np.asarray(variance, dtype=float), local)


def _local(model: LensModel, centre: float) -> LensModel:
    """The lens with constant steps: each size's average over a move centred at ``centre``."""
    if not model.varies:
        return model
    drives = tuple(replace(d, steps=model.effective(d.size, centre), steps_far=None)
                   for d in model.drives)
    return LensModel(model.steps, drives, model.latency, model.backlash)


def _worth_scoring(mixes: _Mixes, duration: float, easing: str,
                   margin: float = 0.0) -> list[int]:
    """The mixes that meet ``duration`` and may follow the trajectory best (indices).

    Only mixes whose expected landing is exact (within ``margin`` more) are
    considered when any of them meets the duration (with fractional
    effective steps, the others would miss the mark by up to half a step on
    average).

    Large steps are what strays from the trajectory, so on a straight line
    the best mix nearly always uses the fewest large commands that can meet
    the duration, now and then one more (measured over random moves on the
    EF 24mm: the fewest in nine cases out of ten, the next in the tenth,
    never more): the three smallest counts of the large sizes are scored.
    The eased curve moves up to pi/2 times faster than average in its middle
    and wants more large steps there: eight counts are scored.  For each,
    the fewest size-2 commands that fit, the next two, and the most.
    """
    fits = mixes.motion <= duration + 1e-12
    exact = np.abs(mixes.landing) <= _tolerance(mixes) + margin
    pool = np.flatnonzero(fits & exact)
    if not len(pool):
        pool = np.flatnonzero(fits)
        if not len(pool):
            return []
        nearest = np.min(np.abs(mixes.landing[pool]))
        pool = pool[np.abs(mixes.landing[pool]) <= nearest + 1e-9]
    # Group by the counts of the large sizes (one number each, largest size
    # most significant, so numeric order is the order by fewest large steps).
    key = np.zeros(len(pool), dtype=np.int64)
    base = int(np.max(mixes.big)) + 2 if mixes.big.size else 2
    for column in range(mixes.big.shape[1]):
        key += mixes.big[pool, column] * base ** column
    kept = np.unique(key)[:3 if easing == "linear" else 8]
    chosen: list[int] = []
    for k in kept:
        members = pool[key == k]
        members = members[np.argsort(mixes.n2[members], kind="stable")]
        picks = list(members[:3]) + ([members[-1]] if len(members) > 3 else [])
        chosen += [int(i) for i in picks]
    return chosen


# ------------------------------------------------------------------- order


_GRID = np.linspace(0.0, 1.0, 1025)
_SPEED = np.sqrt(_GRID * (1.0 - _GRID))          # eased speed at each fraction of distance
_SPEED_CDF = np.concatenate([[0.0], np.cumsum(0.5 * (_SPEED[1:] + _SPEED[:-1]))])
_SPEED_CDF /= _SPEED_CDF[-1]


def _where(n: int, fast: bool) -> np.ndarray:
    """Fractions of the distance at which to centre n commands of one size.

    Evenly spread for a straight line; for the eased curve the larger sizes
    follow its speed (which at fraction y of the distance is proportional to
    sqrt(y (1 - y))), so they land where the lens should move fast.
    """
    q = (np.arange(n) + 0.5) / n
    return np.interp(q, _SPEED_CDF, _GRID) if fast else q


def _order(counts: dict[int, int], model: LensModel, easing: str = "linear") -> np.ndarray:
    """Sizes in sending order: each size spread over the move, the smallest one last."""
    smallest = min((s for s in counts if counts[s]), key=lambda s: model.drive(s).steps,
                   default=None)
    keys, sizes, ties = [], [], []
    for size, n in counts.items():
        if n:
            keys.append(_where(n, easing != "linear" and size != smallest))
            sizes.append(np.full(n, size))
            ties.append(np.full(n, -model.drive(size).steps))
    if not keys:
        return np.zeros(0, dtype=int)
    key, size, tie = np.concatenate(keys), np.concatenate(sizes), np.concatenate(ties)
    order = size[np.lexsort((tie, key))]
    if order[-1] != smallest:
        last = int(np.flatnonzero(order == smallest)[-1])
        order = np.concatenate([order[:last], order[last + 1:], [smallest]])
    if easing != "linear" and order[0] != smallest and np.count_nonzero(order == smallest) > 1:
        first = int(np.flatnonzero(order == smallest)[0])  # ease in as finely as out
        order = np.concatenate([[smallest], order[:first], order[first + 1:]])
    return order


def _distinct_orders(counts: dict[int, int], limit: int) -> np.ndarray | None:
    """Every distinct order of a small mix (rows), or None if there are more than ``limit``."""
    return _orders_of(tuple(sorted((s, n) for s, n in counts.items() if n)), limit)


@functools.lru_cache(maxsize=4096)
def _orders_of(mix: tuple[tuple[int, int], ...], limit: int) -> np.ndarray | None:
    counts = dict(mix)
    sizes = [s for s, _ in mix]
    n_total = sum(counts[s] for s in sizes)
    ways = math.factorial(n_total)
    for s in sizes:
        ways //= math.factorial(counts[s])
    if ways > limit:
        return None
    if len(sizes) == 1:        # one order only (and no recursion as deep as a long move)
        return np.full((1, n_total), sizes[0], dtype=int)
    rows: list[list[int]] = []

    def extend(prefix: list[int], left: dict[int, int]) -> None:
        if len(prefix) == n_total:
            rows.append(list(prefix))
            return
        for s in sizes:
            if left[s]:
                left[s] -= 1
                prefix.append(s)
                extend(prefix, left)
                prefix.pop()
                left[s] += 1

    extend([], {s: counts[s] for s in sizes})
    return np.array(rows, dtype=int)


# ------------------------------------------------------------- realization


@functools.lru_cache(maxsize=256)
def _affine(model: LensModel, start: float, direction: int) -> tuple[np.ndarray, np.ndarray]:
    """Per size (indexed by size): alpha, beta with u' = alpha u + beta for one command.

    u is the distance covered from ``start`` toward ``direction``; a command
    from there moves ``step_at(start + direction u)``, which is affine in u
    because the effective step is linear in the position.
    """
    top = max(d.size for d in model.drives) + 1
    alpha, beta = np.ones(top), np.zeros(top)
    for d in model.drives:
        g = model.slope(d.size)
        x = min(max(start, 0.0), float(model.steps))
        den = 1.0 - direction * g / 2.0
        alpha[d.size] = (1.0 + direction * g / 2.0) / den if g else 1.0
        beta[d.size] = (d.steps + g * x) / den
    return alpha, beta


def _realize(orders: np.ndarray, model: LensModel, start: float, direction: int,
             loss: float) -> tuple[np.ndarray, np.ndarray]:
    """Distance covered before each command and after the last (rows: orders), and each travel.

    The first command loses ``loss`` steps to the play; the others move
    their full step (:meth:`LensModel.step_at` from where the lens is).
    Travel is what the motor turns, in steps (before the loss).
    """
    orders = np.atleast_2d(orders)
    rows, n = orders.shape
    covered = np.zeros((rows, n + 1))
    if n == 0:
        return covered, np.zeros((rows, 0))
    alpha, beta = _affine(model, float(start), direction)
    a, b = alpha[orders], beta[orders]
    first = np.maximum(b[:, 0] - loss, 0.0)
    covered[:, 1] = first
    if n > 1:
        if np.all(a == 1.0):        # constant steps
            covered[:, 2:] = first[:, None] + np.cumsum(b[:, 1:], axis=1)
        else:
            q = np.cumprod(a[:, 1:], axis=1)
            covered[:, 2:] = q * (first[:, None] + np.cumsum(b[:, 1:] / q, axis=1))
    travel = np.diff(covered, axis=1)
    travel[:, 0] = b[:, 0]
    return covered, travel


# ------------------------------------------------------------------- times


@dataclass
class _Arrays:
    e: np.ndarray       # steps the lens moves for each command
    m: np.ndarray       # how long it moves for each command (after any play)
    p: np.ndarray       # least time from each motion's start to the next command's
    X: np.ndarray       # position before each command, and after the last (n + 1)
    P: np.ndarray       # sum of the periods before each command
    lag: float = 0.0    # from the first command's send to its lens motion (play taken up)


@functools.lru_cache(maxsize=32)
def _tables(model: LensModel) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Steps, motion and period of each drive size, indexed by size."""
    top = max(d.size for d in model.drives) + 1
    steps, motion, period = np.zeros(top), np.zeros(top), np.zeros(top)
    for d in model.drives:
        steps[d.size], motion[d.size], period[d.size] = d.steps, d.motion, d.period
    return steps, motion, period


def _lagged(model: LensModel, orders: np.ndarray, travel0: np.ndarray,
            loss: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Motion and period of every command (rows: orders), and the first command's lag.

    A first command that takes up ``loss`` steps of play turns the motor
    for that share of its motion before the lens follows: the lens's motion
    starts that much later and is that much shorter.
    """
    _, motion, period = _tables(model)
    m, p = motion[orders].astype(float), period[orders].astype(float)
    lag = np.zeros(len(orders))
    if loss > 0 and orders.shape[1]:
        lag = m[:, 0] * np.minimum(loss / np.maximum(travel0, 1e-12), 1.0)
        m[:, 0] -= lag
        p[:, 0] -= lag
    return m, p, lag


def _arrays(order: np.ndarray, model: LensModel, start: float = 0.0, direction: int = 1,
            loss: float = 0.0) -> _Arrays:
    covered, travel = _realize(order[None, :], model, start, direction, loss)
    m, p, lag = _lagged(model, order[None, :], travel[:, 0], loss)
    X = covered[0]
    P = np.concatenate([[0.0], np.cumsum(p[0, :-1])])
    return _Arrays(np.diff(X), m[0], p[0], X, P, float(lag[0]))


def _linear_best(a: _Arrays, distance: float, duration: float) -> tuple[float, np.ndarray]:
    """Least max deviation from the straight line, and the send times that achieve it."""
    c = duration / distance
    lo = np.maximum(c * a.X[:-1], c * a.X[1:] - a.m)
    hi = np.minimum(c * a.X[:-1], c * a.X[1:] - a.m)
    running = np.maximum.accumulate(lo - a.P)
    last = duration - a.m[-1]  # the last motion ends exactly at the duration
    delta = max(0.0,
                float(np.max((running + a.P - hi) / (2 * c))),
                float(np.max((a.lag + a.P - hi) / c)),
                float((running[-1] + a.P[-1] - last) / c),
                float((last - hi[-1]) / c))
    return delta, _centred(a, lo - c * delta, hi + c * delta, duration)


def _boxes(a: _Arrays, distance: float, duration: float, easing: str,
           delta: float) -> tuple[np.ndarray, np.ndarray]:
    def when(x: np.ndarray) -> np.ndarray:
        return duration * _ease_inverse(x / distance, easing)
    before, after = a.X[:-1], a.X[1:]
    lo = np.maximum(when(before - delta), when(after - delta) - a.m)
    hi = np.minimum(when(before + delta), when(after + delta) - a.m)
    return lo, hi


def _pin_last(lo: np.ndarray, hi: np.ndarray, a: _Arrays,
              duration: float) -> tuple[np.ndarray, np.ndarray]:
    """The last command starts so its motion ends exactly at the duration."""
    lo, hi = lo.copy(), hi.copy()
    last = duration - a.m[-1]
    lo[-1], hi[-1] = max(lo[-1], last), min(hi[-1], last)
    return lo, hi


def _earliest(a: _Arrays, lo: np.ndarray) -> np.ndarray:
    """The earliest motion starts within the boxes, a period apart, the first send at 0 or later."""
    return a.P + np.maximum(a.lag, np.maximum.accumulate(lo - a.P))


def _feasible(a: _Arrays, lo: np.ndarray, hi: np.ndarray, duration: float) -> bool:
    lo, hi = _pin_last(lo, hi, a, duration)
    return bool(np.all(_earliest(a, lo) <= hi + 1e-12))


def _eased_best(a: _Arrays, distance: float, duration: float,
                easing: str) -> tuple[float, np.ndarray]:
    # No command can do better than half its own step; none needs more than
    # the largest step plus the whole lag the schedule could build up.
    low = 0.0
    high = float(np.max(a.e)) + 1.0
    while not _feasible(a, *_boxes(a, distance, duration, easing, high), duration):
        low, high = high, 2.0 * high
        if high > 4.0 * distance:
            break
    while high - low > 0.02:
        mid = 0.5 * (low + high)
        if _feasible(a, *_boxes(a, distance, duration, easing, mid), duration):
            high = mid
        else:
            low = mid
    lo, hi = _boxes(a, distance, duration, easing, high)
    return high, _centred(a, lo, hi, duration)


def _centred(a: _Arrays, lo: np.ndarray, hi: np.ndarray, duration: float) -> np.ndarray:
    """Send times halfway between the earliest and the latest schedule within the boxes."""
    lo, hi = _pin_last(lo, hi, a, duration)
    earliest = _earliest(a, lo)
    end = duration - a.m[-1] - a.P[-1]
    latest = a.P + np.minimum(end, np.minimum.accumulate((hi - a.P)[::-1])[::-1])
    starts = np.maximum(0.5 * (earliest + np.maximum(latest, earliest)), a.P + a.lag)
    starts[0] -= a.lag            # the first command is sent before its lens motion starts
    return np.maximum(starts, 0.0)


def _best_order_linear(orders: np.ndarray, model: LensModel, distance: float,
                       duration: float, start: float = 0.0, direction: int = 1,
                       loss: float = 0.0, tolerance: float = math.inf) -> np.ndarray:
    """The order (row) with the least deviation, the closed form on all rows at once.

    Each row is judged against the line to the target, as the pull is seen
    (a landing a fraction of a step off, within tolerance, counts in the
    deviation where the line ends); rows
    whose landing misses ``distance`` by more than ``tolerance`` come after
    those that land (and pay ``LANDING_WEIGHT`` per step beyond it).
    """
    X, travel = _realize(orders, model, start, direction, loss)
    m, p, lag = _lagged(model, orders, travel[:, 0], loss)
    P = np.concatenate([np.zeros((len(orders), 1)), np.cumsum(p[:, :-1], axis=1)], axis=1)
    c = duration / max(distance, 1e-12)
    lo = np.maximum(c * X[:, :-1], c * X[:, 1:] - m)
    hi = np.minimum(c * X[:, :-1], c * X[:, 1:] - m)
    running = np.maximum.accumulate(lo - P, axis=1)
    last = (duration - m[:, -1])[:, None]
    delta = np.maximum.reduce([
        np.zeros(len(orders)),
        np.max((running + P - hi) / (2 * c), axis=1),
        np.max((lag[:, None] + P - hi) / c, axis=1),
        ((running[:, -1:] + P[:, -1:] - last) / c)[:, 0],
        ((last - hi[:, -1:]) / c)[:, 0],
    ])
    miss = np.maximum(np.abs(distance - X[:, -1]) - tolerance, 0.0)
    score = delta + LANDING_WEIGHT * miss
    if np.any(miss <= 0):
        score = np.where(miss <= 0, score, np.inf)   # exact landings first
    return orders[int(np.argmin(score))]


SMALL_MIX = 60   # a mix with at most this many distinct orders has all of them tried


def _best_times(a: _Arrays, distance: float, duration: float,
                easing: str) -> tuple[float, np.ndarray]:
    if easing == "linear":
        return _linear_best(a, distance, duration)
    return _eased_best(a, distance, duration, easing)


# ------------------------------------------------------------------ choice


@dataclass
class _Choice:
    """One mix in one order, realized and timed."""

    counts: dict[int, int]
    order: np.ndarray
    times: np.ndarray
    delta: float
    landing: float          # distance - realized landing
    tolerance: float

    @property
    def miss(self) -> float:
        """How far the expected landing is beyond exact."""
        return max(abs(self.landing) - self.tolerance, 0.0)

    @property
    def score(self) -> tuple[bool, float]:
        """Exact landings first; then the closest to the trajectory, a miss costing extra."""
        return self.miss > 0, self.delta + LANDING_WEIGHT * self.miss

    def better(self, other: "_Choice | None") -> bool:
        if other is None:
            return True
        (a_miss, a), (b_miss, b) = self.score, other.score
        return a_miss < b_miss or (a_miss == b_miss and a < b - 1e-9)


@dataclass(frozen=True)
class _Move:
    """What one move asks: where from, which way, how far, with what loss to the play."""

    model: LensModel
    start: float
    direction: int
    distance: float
    loss: float
    easing: str

    @property
    def travel(self) -> float:
        """What the commands' steps must add up to (the loss is turned but not moved)."""
        return self.distance + self.loss

    @property
    def final_unit(self) -> bool:
        return self.model.fractional or self.loss > 0


def _landing_of(move: _Move, order: np.ndarray) -> tuple[float, np.ndarray]:
    covered, travel = _realize(order[None, :], move.model, move.start, move.direction,
                               move.loss)
    return move.distance - float(covered[0, -1]), travel[0]


def _choose(move: _Move, counts: dict[int, int], local: LensModel, duration: float,
            easing: str) -> _Choice:
    """The best order and times of one mix, realized on the real steps."""
    model = move.model
    tolerance = _tolerance_of(counts, model)
    order = _order(counts, local, easing)
    if easing == "linear":
        # A small mix: every order it has, not just the spread one (with a
        # fractional lens, those that keep the final approach in the unit size).
        every = _distinct_orders(counts, SMALL_MIX)
        if every is not None and len(every) > 1:
            if move.final_unit:
                every = every[every[:, -1] == order[-1]]
            if len(every) > 1:
                order = _best_order_linear(every, model, move.distance, duration, move.start,
                                           move.direction, move.loss, tolerance)
    if not len(order):   # nearer than half a step: no command lands nearer than none
        return _Choice(counts, order, np.zeros(0), move.distance, move.distance, tolerance)
    a = _arrays(order, model, move.start, move.direction, move.loss)
    landed = float(a.X[-1])
    delta, times = _best_times(a, move.distance, duration, easing)
    return _Choice(counts, order, times, delta, move.distance - landed, tolerance)


def _fastest(move: _Move) -> tuple[float, dict[int, int], _Mixes]:
    """The least motion time of a mix whose realized landing is exact, and that mix.

    Mixes are walked by motion time among those predicted within
    ``ORDER_MARGIN`` of exact (the prediction is never that far off), each
    realized in its sending order (the straight line's), until one lands.
    If none does, the one that lands nearest.
    """
    mixes = _move_mixes(move)
    err = np.abs(mixes.landing) - _tolerance(mixes)
    near = np.flatnonzero(err <= ORDER_MARGIN)
    if not len(near):
        near = np.flatnonzero(err <= float(np.min(err)) + 1e-9)
    walk = near[np.argsort(mixes.motion[near], kind="stable")][:FASTEST_WALK]
    fallback: tuple[float, int] | None = None
    unit = move.model.unit
    for i, counts, landing in _walk(move, mixes, walk):
        if abs(landing) > 0.35 and counts[unit.size] > (1 if move.final_unit else 0):
            # Near half a step: the unit count that lands nearest is decided on the
            # realized landing (one fewer may be nearer, and is faster).
            fewer = {**counts, unit.size: counts[unit.size] - 1}
            short, _ = _landing_of(move, _order(fewer, mixes.local))
            if abs(short) < abs(landing) and \
                    abs(short) <= _tolerance_of(fewer, move.model):
                return float(mixes.motion[i]) - unit.period, fewer, mixes
        miss = abs(landing) - _tolerance_of(counts, move.model)
        if miss <= 0:
            return float(mixes.motion[i]), counts, mixes
        if fallback is None or miss < fallback[0] - 1e-9:
            fallback = (miss, int(i))
    assert fallback is not None
    i = fallback[1]
    return float(mixes.motion[i]), mixes.counts(i, mixes.local), mixes


ORDER_MARGIN = 0.3    # steps: the predicted landing is never further off the realized one
FASTEST_WALK = 2000   # mixes realized at most, looking for the fastest that lands
BATCH = 16            # mixes realized side by side


def _walk(move: _Move, mixes: _Mixes, walk: np.ndarray):
    """(index, counts, realized landing error) of each mix in ``walk``, realized in batches."""
    for first in range(0, len(walk), BATCH):
        batch = walk[first:first + BATCH]
        counts = [mixes.counts(int(i)) for i in batch]
        orders = [_order(c, mixes.local) for c in counts]
        table = np.zeros((len(orders), max(len(o) for o in orders)), dtype=int)
        for row, order in zip(table, orders):
            row[:len(order)] = order          # size 0 pads: a command that does nothing
        covered, _ = _realize(table, move.model, move.start, move.direction, move.loss)
        for i, c, landed in zip(batch, counts, covered[:, -1]):
            yield int(i), c, move.distance - float(landed)


def _move_mixes(move: _Move) -> _Mixes:
    return _mixes(move.travel - move.loss, move.model, move.final_unit,
                  move.start if move.model.varies else 0.0,
                  move.direction if move.model.varies else 1, move.loss)


@dataclass
class _Curve:
    counts: dict[int, int]
    order: np.ndarray
    times: np.ndarray
    duration: float
    fastest: float
    delta: float
    landing: float


def _curve(move: _Move, duration: float) -> _Curve:
    """The counts, order and times of the lens's motion itself (after any takeup)."""
    fastest, fast_counts, mixes = _fastest(move)
    local = mixes.local
    total = max(duration, fastest)
    if duration <= fastest:
        best = _choose(move, fast_counts, local, total, move.easing)
        if best.miss > 0 and move.easing != "linear":
            best = _choose(move, fast_counts, local, total, "linear")
    else:
        best = None
        tried: set[int] = set()
        # The predicted exact ones first; if none of them lands, those the
        # order may bring in; the fastest (which lands if any mix does) last.
        for margin in (0.0, ORDER_MARGIN):
            for i in _worth_scoring(mixes, total, move.easing, margin):
                if i in tried:
                    continue
                tried.add(i)
                choice = _choose(move, mixes.counts(i, local), local, total, move.easing)
                if choice.better(best):
                    best = choice
            if best is not None and best.miss <= 0:
                break
        if best is None or best.miss > 0:
            fast = _choose(move, fast_counts, local, total, move.easing)
            if fast.better(best):
                best = fast
    return _Curve(best.counts, best.order, best.times, total, fastest, best.delta,
                  best.landing)


def fastest_time(distance: float, model: LensModel,
                 start: float | None = None) -> tuple[float, dict[int, int]]:
    """The least motion time over every mix that lands, and that mix.

    ``distance`` is signed (positive: toward the far stop); ``start`` is
    where the move begins (default: the stop it moves away from), which
    matters only when the steps vary along the range.  The play is taken
    to be taken up already.
    """
    direction = 1 if distance >= 0 else -1
    if start is None:
        start = 0.0 if direction > 0 else float(model.steps)
    size = abs(float(distance))
    if size == 0:
        return 0.0, {d.size: 0 for d in model.drives}
    fastest, counts, _ = _fastest(_Move(model, float(start), direction, size, 0.0, "linear"))
    return fastest, counts


def deviation(plan: Plan, model: LensModel, *, samples: int = 400) -> float:
    """The largest distance from the ideal trajectory on the kinematic model.

    The commands are replayed with the real steps (:meth:`LensModel.move`,
    the plan's slack taken up first); the ideal curve runs from the start
    to the target between the end of the takeup and the plan's duration.
    """
    if not plan.commands:
        return 0.0
    t_knots, x_knots = trajectory(plan, model)
    t = np.union1d(np.array(t_knots), np.linspace(0.0, plan.duration_s, samples))
    actual = np.interp(t, t_knots, x_knots)
    span = max(plan.duration_s - plan.takeup_s, 1e-12)
    u = np.clip((t - plan.takeup_s) / span, 0.0, 1.0)
    ideal = plan.start + plan.direction * plan.distance * ease(u, plan.easing)
    return float(np.max(np.abs(actual - ideal)))


def trajectory(plan: Plan, model: LensModel) -> tuple[list[float], list[float]]:
    """Knots (t, x) of the lens's mean position as the plan's commands move it."""
    d = plan.direction
    backlash = max(model.backlash, plan.slack)
    play = Play(backlash, plan.slack if d > 0 else backlash - plan.slack)
    t_knots, x_knots, x = [0.0], [float(plan.start)], float(plan.start)
    for c in plan.commands:
        motion = model.drive(c.size).motion
        travel = model.step_at(c.size, x, d)
        after, play = model.move(x, c.size, d, play)
        moved = abs(after - x)
        begins = c.t + motion * (1.0 - moved / travel) if travel > 0 else c.t + motion
        t_knots += [begins, c.t + motion]
        x_knots += [x, after]
        x = after
    t_knots.append(max(plan.duration_s, t_knots[-1]))
    x_knots.append(x)
    return t_knots, x_knots


# -------------------------------------------------------------------- plan


def plan_move(start: float, target: float, duration: float, model: LensModel,
              easing: str = "linear", slack: float = 0.0) -> Plan:
    """Plan the move from ``start`` to ``target`` in ``duration`` seconds (0 = fastest).

    ``slack``: how far the motor must turn toward the target before the
    lens follows (the play not yet taken up that way; :class:`Play`).

    Plans are kept (the function is pure): the screen asks for the current
    transition's achievable duration on every frame, and a press in play mode
    finds its plan ready when the same transition was shown before.
    """
    return _plan(start, target, float(duration), model, easing, max(float(slack), 0.0))


@functools.lru_cache(maxsize=1024)
def _plan(start: float, target: float, duration: float, model: LensModel, easing: str,
          slack: float = 0.0) -> Plan:
    if easing not in EASINGS:
        raise ValueError(f"easing must be one of {EASINGS}, not {easing!r}")
    distance = abs(target - start)
    direction = (target > start) - (target < start)
    if distance < 1e-9:
        return Plan(start, target, duration, max(duration, 0.0), 0.0,
                    {d.size: 0 for d in model.drives}, (), 0, easing, slack=slack)
    # Takeup: whole unit commands while the play lasts; the curve loses the rest.
    unit = model.unit
    turn = model.step_at(unit.size, start, direction)
    takeup = math.floor(slack / turn + 1e-9) if slack > 1e-9 else 0
    loss = slack - takeup * turn
    loss = loss if loss > 1e-9 else 0.0
    lead = takeup * unit.period
    move = _Move(model, float(start), direction, float(distance), loss, easing)
    curve = _curve(move, max(duration - lead, 0.0))
    commands = tuple(Command(i * unit.period, unit.size) for i in range(takeup)) + tuple(
        Command(lead + float(t), int(s)) for t, s in zip(curve.times, curve.order))
    counts = {d.size: curve.counts.get(d.size, 0) for d in model.drives}
    counts[unit.size] += takeup
    return Plan(start, target, duration, lead + curve.duration, lead + curve.fastest, counts,
                commands, direction, easing, curve.delta, curve.landing, slack, lead, takeup)
