"""Plans for focus transitions: which drive commands, and when.

Pure code: numbers in, a :class:`Plan` out.  No clock, no camera.

The lens model (from calibration) gives, for each drive size k, its
effective steps ``e_k`` and its *period* ``p_k``: the time one command keeps
the lens busy (``e_k / speed_k``).  Size 1 is the unit of position, so
``e_1 = 1``.

Planning a move of D steps with a target duration T has two parts.

**Counts.**  Choose how many commands of each size so the move lands
exactly: ``sum(n_k * e_k) = D``.  The motion time of a mix is
``M = sum(n_k * p_k)``.  The fastest plan is the mix with the least M.  When
T is longer than that, we take the mix with the *longest* motion time that
still fits in T: the lens then idles least and moves in the smallest steps,
which is what looks smooth on screen (size 1 is almost invisible, sizes 2
and 3 jump).  The plan's duration is ``max(T, fastest)``; any spare time is
spread as short waits between commands.

For every count of the sizes above 2, the best count of size 2 follows in
closed form (motion time is linear in it), so a plan costs one short loop
rather than a search over all mixes.

**Times.**  The commands of each size are spread evenly over the move (the
large ones are not bunched together), and each command is placed so that
the middle of its motion sits on the straight line from A to B; then a
forward pass keeps commands at least a period apart and a backward pass
makes the last one's motion end exactly at the plan's duration.  (A period
holds a guard against USB latency jitter, so it is a little longer than the
motion itself; see :mod:`rig.calibration`.)  The executor sends each
command at an absolute deadline ``t0 + t``.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

__all__ = ["Drive", "LensModel", "Command", "Plan", "plan_move", "fastest_time"]


@dataclass(frozen=True)
class Drive:
    """One drive size as calibrated."""

    size: int
    steps: float    # effective size-1 steps of one command
    period: float   # seconds from one command to the next, at the least
    move: float | None = None  # seconds the lens moves for one command (default: period)

    @property
    def speed(self) -> float:
        return self.steps / self.period

    @property
    def motion(self) -> float:
        return self.period if self.move is None else self.move


@dataclass(frozen=True)
class LensModel:
    """What the planner knows of a lens: its range and its drive sizes."""

    steps: int                     # size-1 steps from the near stop to the far stop
    drives: tuple[Drive, ...]      # sorted by size
    latency: float = 0.0           # mean call round trip, seconds

    def drive(self, size: int) -> Drive:
        for d in self.drives:
            if d.size == size:
                return d
        raise KeyError(size)

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
    direction: int = field(default=0)

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
            "commands": [{"t": round(c.t, 6), "size": c.size} for c in self.commands],
        }


# ------------------------------------------------------------------ counts


def _candidates(distance: int, model: LensModel, target: float | None):
    """Count mixes that land on ``distance``, each with its motion time.

    Sizes above the two smallest are enumerated.  For each of those, motion
    time is linear in the count of the second-smallest size (the unit size
    takes what is left), so only the two ends of its range, and the counts
    either side of the one that meets ``target``, can be best.
    """
    drives = sorted(model.drives, key=lambda d: d.steps)
    unit = drives[0]
    second = drives[1] if len(drives) > 1 else None
    bigger = drives[2:]
    for big in itertools.product(*(range(int(distance // d.steps) + 1) for d in bigger)):
        left = distance - sum(n * d.steps for n, d in zip(big, bigger))
        if left < -0.5:
            continue
        counts = {d.size: n for n, d in zip(big, bigger)}
        if second is None:
            n2_options = [0]
        else:
            top = int((left + 0.5) // second.steps)
            n2_options = {0, top}
            slope = second.period - second.steps / unit.steps * unit.period
            if target is not None and slope != 0:
                base = sum(n * d.period for n, d in zip(big, bigger)) + left / unit.steps * unit.period
                ideal = (target - base) / slope
                n2_options |= {g for g in (math.floor(ideal), math.ceil(ideal)) if 0 <= g <= top}
        for n2 in sorted(n2_options):
            rest = left - (n2 * second.steps if second else 0.0)
            n1 = round(rest / unit.steps)
            if n1 < 0:
                continue
            mix = dict(counts)
            if second is not None:
                mix[second.size] = n2
            mix[unit.size] = n1
            yield mix, _motion(mix, model)


def _motion(counts: dict[int, int], model: LensModel) -> float:
    return sum(n * model.drive(size).period for size, n in counts.items())


def fastest_time(distance: int, model: LensModel) -> tuple[float, dict[int, int]]:
    """The least motion time over every mix that lands exactly, and that mix."""
    best: tuple[float, dict[int, int]] | None = None
    for counts, motion in _candidates(abs(distance), model, None):
        if best is None or motion < best[0] - 1e-12:
            best = (motion, counts)
    assert best is not None
    return best


def _choose(distance: int, model: LensModel, target: float) -> tuple[dict[int, int], float, float]:
    fastest, fast_counts = fastest_time(distance, model)
    if target <= fastest:
        return fast_counts, fastest, fastest
    best: tuple[float, dict[int, int]] | None = None
    for counts, motion in _candidates(distance, model, target):
        if motion <= target + 1e-12 and (best is None or motion > best[0] + 1e-12):
            best = (motion, counts)
    assert best is not None
    return best[1], best[0], fastest


# ------------------------------------------------------------------- times


def _order(counts: dict[int, int], model: LensModel) -> list[int]:
    """Spread each size evenly over the move; larger sizes first on ties."""
    items = []
    for size, n in counts.items():
        steps = model.drive(size).steps
        for j in range(n):
            items.append(((j + 0.5) / n, -steps, size))
    items.sort()
    return [size for _, _, size in items]


def _times(order: list[int], model: LensModel, distance: int, duration: float) -> list[float]:
    if not order:
        return []
    periods = [model.drive(s).period for s in order]
    motions = [model.drive(s).motion for s in order]
    steps = [model.drive(s).steps for s in order]
    total = sum(steps)
    # Ideal: the middle of each command's motion on the line A -> B.
    times, done = [], 0.0
    for e, m in zip(steps, motions):
        centre = duration * (done + e / 2) / total if total else 0.0
        times.append(centre - m / 2)
        done += e
    # Forward: no earlier than 0, no overlap with the previous command.
    end = 0.0
    for i, p in enumerate(periods):
        times[i] = max(times[i], end)
        end = times[i] + p
    # Backward: the last command's motion ends exactly at the duration.
    nxt = duration
    for i in range(len(order) - 1, -1, -1):
        if i == len(order) - 1:
            times[i] = duration - motions[i]
        else:
            times[i] = min(times[i], nxt - periods[i])
        nxt = times[i]
    return [max(0.0, t) for t in times]


def plan_move(start: int, target: int, duration: float, model: LensModel) -> Plan:
    """Plan the move from ``start`` to ``target`` in ``duration`` seconds (0 = fastest)."""
    start, target = int(start), int(target)
    distance = abs(target - start)
    direction = (target > start) - (target < start)
    if distance == 0:
        return Plan(start, target, duration, max(duration, 0.0), 0.0, {}, (), 0)
    counts, motion, fastest = _choose(distance, model, max(duration, 0.0))
    total = max(duration, motion)
    order = _order({k: v for k, v in counts.items() if v}, model)
    times = _times(order, model, distance, total)
    commands = tuple(Command(t, s) for t, s in zip(times, order))
    full = {d.size: counts.get(d.size, 0) for d in model.drives}
    return Plan(start, target, duration, total, fastest, full, commands, direction)
