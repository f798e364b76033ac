"""Plans for focus transitions: which drive commands, and when.

Pure code: numbers in, a :class:`Plan` out.  No clock, no camera.

The lens model (from calibration) gives, for each drive size k, its
effective steps ``e_k``, its *period* ``p_k`` (the least time from one
command to the next: ``e_k / speed_k``) and its *motion* ``m_k`` (how long the
lens moves for one command; at most the period, which also holds a guard for
USB jitter).  Size 1 is the unit of position, so ``e_1 = 1``.

A move of D steps with a target duration T is planned in three parts.

**Counts.**  A mix of counts ``n_k`` lands when ``sum(n_k * e_k) = D``; its
motion time is ``M = sum(n_k * p_k)``.  Every mix is listed at once (numpy
over the counts of size 2, a loop over the larger sizes): a few hundred for
a 1,000-step lens.  The fastest plan is the landing mix with the least M.
When T is longer, every landing mix with ``M <= T`` can meet it, and the
planner scores the sensible ones (see ``_worth_scoring``) by how closely
their best schedule follows the ideal trajectory, and keeps the closest.
The plan's duration is ``max(T, fastest)``.

**Order.**  The commands of each size are spread evenly over the move (the
j-th of n commands of a size is centred at fraction (j + 1/2) / n of the
distance), so large steps are never bunched; on the eased curve the larger
sizes follow its speed instead, gathering where the lens should move fast.
The last command is one of the smallest size used: the final approach is
made in the finest step (and for the eased curve, the first one too).

**Times.**  For a given order the best times have a closed form.  The lens
is at ``X_(i-1)`` when command i starts and at ``X_i`` when its motion ends,
and stands still in between commands, so its distance from the ideal
trajectory x* is largest at those instants.  Keeping it within delta puts
each start time t_i in a box ``[L_i - c*delta, H_i + c*delta]`` (c = T/D
seconds per step); starts must also be a period apart, the first at or after
0 and the last motion over by T.  The earliest feasible schedule then
exists exactly when, for every i,

    max_{j<=i} (L_j - P_j) + P_i - H_i <= 2 c delta      (P_i: periods before i)

together with the two end conditions, so the least delta is a running
maximum over the commands: O(n), computed with numpy.  The times used are
halfway between the earliest and the latest schedule that achieve it.  For
the ease-in-out trajectory the boxes come from the inverse of the easing
curve and delta is found by bisection on the same feasibility test.

Deviation is scored on the kinematic model of issue 4: a command of size k
moves the lens ``e_k`` steps linearly over its motion time.

**Fractional effective steps** (calibrations give averages such as 4.3): a
mix leaves ``r = D - sum_(k>=2) n_k e_k`` for size 1, which takes
``round(r)`` commands, so its expected landing is off by ``r - round(r)``:
at most half a step.  Only mixes whose expected landing is exact are used
when one of them meets T (there always is one: all size 1), and the final
approach is always size 1.  See ``docs/planning.md``.
"""

from __future__ import annotations

import functools
import itertools
import math
from dataclasses import dataclass

import numpy as np

__all__ = ["Drive", "LensModel", "Command", "Plan", "plan_move", "fastest_time", "EASINGS",
           "ease", "deviation"]

EASINGS = ("linear", "ease")
LANDING_WEIGHT = 20.0   # steps of deviation one step of expected landing error is worth


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

    @property
    def unit(self) -> Drive:
        return min(self.drives, key=lambda d: d.steps)


@dataclass(frozen=True)
class Command:
    t: float    # seconds from the start of the move
    size: int


@dataclass(frozen=True)
class Plan:
    start: int
    target: int
    target_s: float
    duration_s: float
    fastest_s: float
    counts: dict[int, int]
    commands: tuple[Command, ...]
    direction: int = 0
    easing: str = "linear"
    deviation: float = 0.0      # largest distance from the ideal trajectory, steps (model)
    landing: float = 0.0        # expected landing error, steps (fractional effective steps)

    @property
    def distance(self) -> int:
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


def _tolerance(mixes: "_Mixes") -> np.ndarray:
    """How far off each mix may expect to land and still count as exact.

    A mix of jittery commands lands with a spread of its own (one sigma,
    sqrt(sum n_i sigma_i^2)); an expected error well inside it costs
    nothing worth a slower mix.  Without jitter this is EXACT.
    """
    return np.maximum(EXACT, SPREAD_SHARE * np.sqrt(mixes.variance))


@dataclass
class _Mixes:
    """Every count mix worth knowing for one distance, as parallel arrays."""

    big: np.ndarray        # counts of the sizes above the two smallest (rows: mixes)
    n2: np.ndarray         # count of the second-smallest size
    n1: np.ndarray         # count of the unit size
    landing: np.ndarray    # expected landing error, steps
    motion: np.ndarray     # sum of the periods
    variance: np.ndarray   # spread of the landing from command jitter, steps squared

    def counts(self, i: int, model: LensModel) -> dict[int, int]:
        drives = sorted(model.drives, key=lambda d: d.steps)
        out = {d.size: int(n) for d, n in zip(drives[2:], self.big[i])}
        if len(drives) > 1:
            out[drives[1].size] = int(self.n2[i])
        out[drives[0].size] = int(self.n1[i])
        return out


@functools.lru_cache(maxsize=256)
def _mixes(distance: int, model: LensModel) -> _Mixes:
    """All mixes of the larger sizes, every count of size 2, the unit size rounded.

    The unit size takes what the others leave, rounded to a whole command;
    with fractional effective steps (4.3, 29.6) the expected landing is then
    off by the rounding, recorded in ``landing``.
    """
    drives = sorted(model.drives, key=lambda d: d.steps)
    unit = drives[0]
    second = drives[1] if len(drives) > 1 else None
    bigger = drives[2:]
    rows_big, rows_n2 = [], []
    for big in itertools.product(*(range(int(distance // d.steps) + 1) for d in bigger)):
        left = distance - sum(n * d.steps for n, d in zip(big, bigger))
        if left < -0.5:
            continue
        top = int((left + 0.5) // second.steps) if second else 0
        n2 = np.arange(top + 1)
        rows_big.append(np.repeat([big], len(n2), axis=0) if bigger else
                        np.zeros((len(n2), 0), dtype=int))
        rows_n2.append(n2)
    big_arr = np.concatenate(rows_big).astype(int)
    n2 = np.concatenate(rows_n2)
    steps_big = np.array([d.steps for d in bigger])
    period_big = np.array([d.period for d in bigger])
    rest = distance - big_arr @ steps_big - (n2 * second.steps if second else 0.0)
    n1 = np.round(rest / unit.steps).astype(int)
    # With fractional steps the final approach must be a unit step.
    fractional = any(abs(d.steps - round(d.steps)) > 1e-9 for d in drives)
    ok = n1 >= (1 if fractional and distance >= unit.steps else 0)
    big_arr, n2, n1, rest = big_arr[ok], n2[ok], n1[ok], rest[ok]
    landing = rest - n1 * unit.steps
    motion = (big_arr @ period_big + (n2 * second.period if second else 0.0)
              + n1 * unit.period)
    variance = (big_arr @ np.array([d.jitter ** 2 for d in bigger])
                + (n2 * second.jitter ** 2 if second else 0.0) + n1 * unit.jitter ** 2)
    return _Mixes(big_arr, n2, n1, landing, motion, np.asarray(variance, dtype=float))


def _fastest_index(mixes: _Mixes) -> int:
    """The quickest mix among those landing exactly (or as near as any can)."""
    excess = np.abs(mixes.landing) - _tolerance(mixes)
    near = excess <= max(0.0, float(np.min(excess)) + 1e-9)
    motion = np.where(near, mixes.motion, np.inf)
    return int(np.argmin(motion))


def fastest_time(distance: int, model: LensModel) -> tuple[float, dict[int, int]]:
    """The least motion time over every mix that lands, and that mix."""
    mixes = _mixes(abs(int(distance)), model)
    i = _fastest_index(mixes)
    return float(mixes.motion[i]), mixes.counts(i, model)


def _worth_scoring(distance: int, model: LensModel, duration: float,
                   easing: str) -> list[dict[int, int]]:
    """The mixes that meet ``duration`` and may follow the trajectory best.

    Only mixes whose expected landing is exact are considered when any of
    them meets the duration (with fractional effective steps, the
    others would miss the mark by up to half a step on average).

    Large steps are what strays from the trajectory, so on a straight line
    the best mix nearly always uses the fewest large commands that can meet
    the duration, now and then one more (measured over random moves on the
    EF 24mm: the fewest in nine cases out of ten, the next in the tenth,
    never more): the three smallest counts of the large sizes are scored.
    The eased curve moves up to pi/2 times faster than average in its middle
    and wants more large steps there: eight counts are scored.  For each,
    the fewest size-2 commands that fit, the next two, and the most.
    """
    mixes = _mixes(distance, model)
    fits = mixes.motion <= duration + 1e-12
    exact = np.abs(mixes.landing) <= _tolerance(mixes)
    pool = np.flatnonzero(fits & exact)
    if not len(pool):
        pool = np.flatnonzero(fits)
        if not len(pool):
            return [mixes.counts(_fastest_index(mixes), model)]
        nearest = np.min(np.abs(mixes.landing[pool]))
        pool = pool[np.abs(mixes.landing[pool]) <= nearest + 1e-9]
    # Group by the counts of the large sizes (one number each, largest size
    # most significant, so numeric order is the order by fewest large steps).
    key = np.zeros(len(pool), dtype=np.int64)
    for column in range(mixes.big.shape[1]):
        key += mixes.big[pool, column] * (distance + 1) ** column
    kept = np.unique(key)[:3 if easing == "linear" else 8]
    chosen: list[int] = []
    for k in kept:
        members = pool[key == k]
        members = members[np.argsort(mixes.n2[members], kind="stable")]
        picks = list(members[:3]) + ([members[-1]] if len(members) > 3 else [])
        chosen += [int(i) for i in picks]
    return [mixes.counts(i, model) for i in chosen]


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


# ------------------------------------------------------------------- times


@dataclass
class _Arrays:
    e: np.ndarray       # steps of each command
    m: np.ndarray       # motion time of each command
    p: np.ndarray       # period of each command
    X: np.ndarray       # position before each command, and after the last (n + 1)
    P: np.ndarray       # sum of the periods before each command


@functools.lru_cache(maxsize=32)
def _tables(model: LensModel) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Steps, motion and period of each drive size, indexed by size."""
    top = max(d.size for d in model.drives) + 1
    steps, motion, period = np.zeros(top), np.zeros(top), np.zeros(top)
    for d in model.drives:
        steps[d.size], motion[d.size], period[d.size] = d.steps, d.motion, d.period
    return steps, motion, period


def _arrays(order: np.ndarray, model: LensModel) -> _Arrays:
    steps, motion, period = _tables(model)
    e, m, p = steps[order], motion[order], period[order]
    X = np.concatenate([[0.0], np.cumsum(e)])
    P = np.concatenate([[0.0], np.cumsum(p[:-1])])
    return _Arrays(e, m, p, X, P)


def _linear_best(a: _Arrays, distance: float, duration: float) -> tuple[float, np.ndarray]:
    """Least max deviation from the straight line, and times that achieve it."""
    c = duration / distance
    lo = np.maximum(c * a.X[:-1], c * a.X[1:] - a.m)
    hi = np.minimum(c * a.X[:-1], c * a.X[1:] - a.m)
    running = np.maximum.accumulate(lo - a.P)
    last = duration - a.m[-1]  # the last motion ends exactly at the duration
    delta = max(0.0,
                float(np.max((running + a.P - hi) / (2 * c))),
                float(np.max((a.P - hi) / c)),
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


def _feasible(a: _Arrays, lo: np.ndarray, hi: np.ndarray, duration: float) -> bool:
    lo, hi = _pin_last(lo, hi, a, duration)
    earliest = a.P + np.maximum(0.0, np.maximum.accumulate(lo - a.P))
    return bool(np.all(earliest <= hi + 1e-12))


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
    """Halfway between the earliest and the latest schedule within the boxes."""
    lo, hi = _pin_last(lo, hi, a, duration)
    earliest = a.P + np.maximum(0.0, np.maximum.accumulate(lo - a.P))
    end = duration - a.m[-1] - a.P[-1]
    latest = a.P + np.minimum(end, np.minimum.accumulate((hi - a.P)[::-1])[::-1])
    times = 0.5 * (earliest + np.maximum(latest, earliest))
    return np.maximum(times, 0.0)


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


def _best_order_linear(orders: np.ndarray, model: LensModel, distance: float,
                       duration: float) -> np.ndarray:
    """The order (row) with the least deviation, the closed form on all rows at once."""
    steps, motion, period = _tables(model)
    e, m, p = steps[orders], motion[orders], period[orders]
    X = np.concatenate([np.zeros((len(orders), 1)), np.cumsum(e, axis=1)], axis=1)
    P = np.concatenate([np.zeros((len(orders), 1)), np.cumsum(p[:, :-1], axis=1)], axis=1)
    c = duration / distance
    lo = np.maximum(c * X[:, :-1], c * X[:, 1:] - m)
    hi = np.minimum(c * X[:, :-1], c * X[:, 1:] - m)
    running = np.maximum.accumulate(lo - P, axis=1)
    last = duration - m[:, -1]
    delta = np.maximum.reduce([
        np.max((running + P - hi) / (2 * c), axis=1),
        np.max((P - hi) / c, axis=1),
        (running[:, -1] + P[:, -1] - last) / c,
        (last - hi[:, -1]) / c,
    ])
    return orders[int(np.argmin(delta))]


SMALL_MIX = 60   # a mix with at most this many distinct orders has all of them tried


def _best_times(order: np.ndarray, model: LensModel, distance: float, duration: float,
                easing: str) -> tuple[float, np.ndarray]:
    a = _arrays(order, model)
    if easing == "linear":
        return _linear_best(a, distance, duration)
    return _eased_best(a, distance, duration, easing)


def deviation(plan: Plan, model: LensModel, *, samples: int = 400) -> float:
    """The largest distance from the ideal trajectory on the kinematic model."""
    if not plan.commands:
        return 0.0
    table = {d.size: d for d in model.drives}
    t_knots, x_knots, x = [0.0], [0.0], 0.0
    for c in plan.commands:
        d = table[c.size]
        t_knots += [c.t, c.t + d.motion]
        x_knots += [x, x + d.steps]
        x += d.steps
    t_knots.append(max(plan.duration_s, t_knots[-1]))
    x_knots.append(x)
    t = np.union1d(np.array(t_knots), np.linspace(0.0, plan.duration_s, samples))
    actual = np.interp(t, t_knots, x_knots)
    ideal = plan.distance * ease(np.clip(t / plan.duration_s, 0.0, 1.0), plan.easing)
    return float(np.max(np.abs(actual - ideal)))


# -------------------------------------------------------------------- plan


def plan_move(start: int, target: int, duration: float, model: LensModel,
              easing: str = "linear") -> Plan:
    """Plan the move from ``start`` to ``target`` in ``duration`` seconds (0 = fastest).

    Plans are kept (the function is pure): the screen asks for the current
    transition's achievable duration on every frame, and a press in play mode
    finds its plan ready when the same transition was shown before.
    """
    return _plan(int(start), int(target), float(duration), model, easing)


@functools.lru_cache(maxsize=1024)
def _plan(start: int, target: int, duration: float, model: LensModel, easing: str) -> Plan:
    if easing not in EASINGS:
        raise ValueError(f"easing must be one of {EASINGS}, not {easing!r}")
    distance = abs(target - start)
    direction = (target > start) - (target < start)
    if distance == 0:
        return Plan(start, target, duration, max(duration, 0.0), 0.0,
                    {d.size: 0 for d in model.drives}, (), 0, easing)
    fastest, fast_counts = fastest_time(distance, model)
    total = max(duration, fastest)
    if duration <= fastest:
        mixes = [fast_counts]
    else:
        mixes = _worth_scoring(distance, model, duration, easing)
    unit = model.unit
    fractional = any(abs(d.steps - round(d.steps)) > 1e-9 for d in model.drives)
    best = None
    for counts in mixes:
        landed = sum(n * model.drive(k).steps for k, n in counts.items())
        landing = distance - landed
        order = _order(counts, model, easing)
        if easing == "linear" and not fractional:
            # A small mix: every order it has, not just the spread one.
            every = _distinct_orders(counts, SMALL_MIX)
            if every is not None and len(every) > 1:
                order = _best_order_linear(every, model, landed, total)
        delta, times = _best_times(order, model, landed, total, easing)
        score = delta + LANDING_WEIGHT * abs(landing) / unit.steps
        if best is None or score < best[0] - 1e-9:
            best = (score, counts, order, times, delta, landing)
    assert best is not None
    _, counts, order, times, delta, landing = best
    commands = tuple(Command(float(t), int(s)) for t, s in zip(times, order))
    full = {d.size: counts.get(d.size, 0) for d in model.drives}
    return Plan(start, target, duration, total, fastest, full, commands, direction, easing,
                delta, landing)

