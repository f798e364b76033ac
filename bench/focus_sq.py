"""The focus_sq module's transition method, re-implemented as a baseline.

Written from the module's README and its published behaviour (the
``distribute`` / ``play`` / ``go_to`` logic of ``modules/focus_sq/focus_sq.c``
in arnaud-sintes/magiclantern_asintes), not copied:

* **Distribution.**  Modes are ordered fastest first (size 3, 2, 1).  If the
  whole move at size 3 takes longer than T, the plan is a greedy fill from the
  largest size down (its "fastest").  If even size 1 alone is faster than T,
  the plan is all size 1.  Otherwise a "ratio" of the move is given to the
  fastest mode that can still be slow enough, and an additive offset of
  -0.2 .. +0.2 in steps of 0.005 (80 tries) is scanned: each try takes
  ``floor((ratio + offset) * D) // steps`` commands of that mode and fills the
  rest greedily with the smaller modes, stopping at the first mode that gets
  none (so a remainder can be left uncovered).  The try whose duration is
  nearest T wins (first on ties).  Whatever time is left is a "wait".
* **Replay.**  With M the largest count, each mode fires on cycles where
  ``cycle % (M // count) == M // count - 1``, in the order size 3, size 2,
  size 1, sleep.  The wait is cut into k sleeps of 10, 20, 40, ... ms (the
  first length for which k < M), truncated.
* **Correction.**  After the replay, the steps still missing are driven at
  size 1.
* **Steps** are stored as whole numbers (the calibration keeps the floor of
  an average over 8 commands).

Timing follows the kinematic model of issue 4: a command of size k moves its
effective steps linearly over steps / speed seconds and starts when the
previous one has ended; sleeps follow the command before them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["ModulePlan", "distribute", "replay", "simulate"]


@dataclass
class ModulePlan:
    counts: tuple[int, int, int]   # size 3, size 2, size 1
    wait: float                    # seconds of sleep to spread
    duration: float                # what the module shows


def _dur(counts: tuple[int, ...], steps: tuple[int, ...], speed: tuple[float, ...]) -> float:
    return sum(c * s / v for c, s, v in zip(counts, steps, speed) if c)


def distribute(distance: int, target: float, steps: tuple[int, int, int],
               speed: tuple[float, float, float]) -> ModulePlan:
    """Counts of (size 3, size 2, size 1) for ``distance`` in ``target`` seconds."""
    d = distance
    if d == 0:
        return ModulePlan((0, 0, 0), max(target, 0.0), max(target, 0.0))
    whole = [d / v for v in speed]
    if whole[0] > target:                 # "fastest": greedy fill
        counts, done = [0, 0, 0], 0
        for i in range(3):
            if done >= d:
                break
            counts[i] = (d - done) // steps[i]
            done += counts[i] * steps[i]
    elif whole[2] < target:               # slower than all size 1
        counts = [0, 0, d]
    else:
        off = 0
        while off < 2 and target > whole[off + 1]:
            off += 1
        ratio = 1.0 - (target - whole[off]) / whole[off + 1]
        best, counts = 100000.0, [0, 0, 0]
        delta = -0.2
        while delta < 0.2:
            n = max(0, int((ratio + delta) * d)) // steps[off]
            cur = [0, 0, 0]
            cur[off] = n
            left, o = d, off
            overshoot = False
            while o < 3 and n != 0:
                left -= n * steps[o]
                if left < 0:
                    overshoot = True
                    break
                o += 1
                if o == 3:
                    break
                n = left // steps[o]
                if n:
                    cur[o] = n
            if not overshoot:
                error = abs(target - _dur(tuple(cur), steps, speed))
                if error < best:
                    best, counts = error, cur
            delta += 0.005
    duration = _dur(tuple(counts), steps, speed)
    wait = target - duration
    if wait > 0:
        duration += wait
    return ModulePlan((counts[0], counts[1], counts[2]), wait, duration)


def replay(plan: ModulePlan) -> list[tuple[str, float]]:
    """The module's sending order: ("3"|"2"|"1", 0) commands and ("sleep", seconds)."""
    counts = plan.counts
    top = max(counts)
    jobs = []  # [remaining, cycle length, what]
    for i, c in enumerate(counts):
        if c > 0:
            jobs.append([c, top // c, str(3 - i)])
    if plan.wait > 0 and top > 0:
        sleep_ms, k = 5, top
        while k >= top:
            sleep_ms *= 2
            k = int(plan.wait * 1000 / sleep_ms)
        if k > 0:
            jobs.append([k, top // k, f"sleep:{sleep_ms}"])
    out: list[tuple[str, float]] = []
    cycle = 0
    while any(j[0] for j in jobs):
        for job in jobs:
            if job[0] and cycle % job[1] == job[1] - 1:
                if job[2].startswith("sleep:"):
                    out.append(("sleep", int(job[2][6:]) / 1000.0))
                else:
                    out.append((job[2], 0.0))
                job[0] -= 1
        cycle += 1
    return out


def simulate(distance: int, target: float, true_steps: dict[int, float],
             speeds: dict[int, float]) -> tuple[ModulePlan, list[tuple[float, float]]]:
    """The module's move on the kinematic model: its plan and the (t, x) trajectory."""
    stored = (math.floor(true_steps[3]), math.floor(true_steps[2]), 1)
    plan = distribute(distance, target, stored, (speeds[3], speeds[2], speeds[1]))
    t, x = 0.0, 0.0
    knots = [(0.0, 0.0)]
    for what, seconds in replay(plan):
        if what == "sleep":
            t += seconds
            knots.append((t, x))
            continue
        size = int(what)
        x_next = x + true_steps[size]
        t_next = t + true_steps[size] / speeds[size]
        knots.append((t_next, x_next))
        t, x = t_next, x_next
    missing = round(distance - x)          # the final correction, at size 1
    for _ in range(abs(missing)):
        x_next = x + (1 if missing > 0 else -1)
        t += 1.0 / speeds[1]
        knots.append((t, x_next))
        x = x_next
    return plan, knots
