"""``make bench``: how exact, on time and smooth rig's pulls are, against focus_sq.

Prints, for three lenses, over random moves (start, distance, and a target
between 1x and 4x the fastest time):

* the exact-landing rate (the plan's expected landing equals the distance);
* the largest difference between ``fastest_s`` and a brute-force optimum;
* the deviation from the ideal trajectory, median / p90 / max, for rig and
  for the module's method (``bench/focus_sq.py``), and their ratio;
* for rig's ease-in-out, the same deviation;
* timing on the simulator with USB latency jitter: |actual - planned| /
  planned, median and p99, through the real lens layer and executor;
* the cost of one plan on a 1,000-step lens.

Deviations use the kinematic model of issue 4.  Figures, never assertions:
this machine is shared and noisy.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import focus_sq  # noqa: E402

from rig.clock import VirtualClock  # noqa: E402
from rig.calibrate import calibrate  # noqa: E402
from rig.lens import Lens  # noqa: E402
from rig.planner import (Drive, LensModel, _mixes, _plan, deviation,  # noqa: E402
                         fastest_time, plan_move)
from rig.sim import DEFAULT_PROFILE, SimBody, load_profile  # noqa: E402

LENSES = {
    "EF 24mm f/2.8 (1/4/26)": (407, {1: 1.0, 2: 4.0, 3: 26.0}, {1: 23.496, 2: 48.733, 3: 94.321}),
    "test 50mm (1/3/20)": (600, {1: 1.0, 2: 3.0, 3: 20.0}, {1: 30.0, 2: 55.0, 3: 120.0}),
    "EF 24mm f/1.4L (1/4.3/29.6)": (630, {1: 1.0, 2: 4.3, 3: 29.6}, {1: 22.0, 2: 46.0, 3: 92.0}),
}


def model_of(steps: int, each: dict[int, float], speed: dict[int, float]) -> LensModel:
    return LensModel(steps, tuple(Drive(k, each[k], each[k] / speed[k]) for k in (1, 2, 3)))


def brute_fastest(distance: int, model: LensModel) -> float:
    """Least sum of n_k e_k / v_k over every count vector whose expected landing is exact."""
    e = {d.size: d.steps for d in model.drives}
    p = {d.size: d.period for d in model.drives}
    fractional = any(abs(v - round(v)) > 1e-9 for v in e.values())
    best = math.inf
    for n3 in range(int(distance // e[3]) + 1):
        for n2 in range(int((distance - n3 * e[3]) // e[2]) + 2):
            rest = distance - n3 * e[3] - n2 * e[2]
            n1 = round(rest)
            if n1 < (1 if fractional else 0) or abs(rest - n1) > 0.05:
                continue
            best = min(best, n1 * p[1] + n2 * p[2] + n3 * p[3])
    return best


def lower_bound(distance: int, target: float, model: LensModel) -> float:
    """No plan can follow the straight line more closely than this.

    A command of size k moves e_k steps in m_k seconds while the line moves
    v * m_k (v = distance / duration): its start and end cannot both be
    within delta of the line unless 2 delta >= |e_k - v m_k|.  So a mix
    strays at least by its worst size's half-gap; the least over every mix
    that meets the duration bounds every plan.
    """
    fastest, _ = fastest_time(distance, model)
    duration = max(target, fastest)
    v = distance / duration
    mixes = _mixes(distance, model)
    sizes = sorted(model.drives, key=lambda d: d.steps)
    gaps = {d.size: abs(d.steps - v * d.motion) / 2 for d in sizes}
    best = math.inf
    for i in np.flatnonzero(mixes.motion <= duration + 1e-12):
        counts = mixes.counts(int(i), model)
        best = min(best, max(gaps[k] for k, n in counts.items() if n))
    return best


def module_deviation(knots: list[tuple[float, float]], distance: int, planned: float) -> float:
    times = sorted({t for t, _ in knots} | {planned})
    ts = np.array([t for t, _ in knots])
    xs = np.array([x for _, x in knots])
    worst = 0.0
    for t in times:
        x = float(np.interp(t, ts, xs))
        ideal = distance * min(t / planned, 1.0) if planned > 0 else distance
        worst = max(worst, abs(x - ideal))
    return worst


def stats(values: list[float]) -> tuple[float, float, float]:
    a = np.asarray(values)
    return float(np.median(a)), float(np.percentile(a, 90)), float(a.max())


def planning(pairs: int, seed: int) -> None:
    print(f"Planning: {pairs} random (distance, target) pairs per lens: distance uniform "
          "over the range, target 1x-4x the fastest time (kinematic model; deviation in steps)")
    header = (f"{'lens':30} {'exact':>6} {'max |fastest-brute|':>20}  "
              f"{'rig med/p90/max':>18}  {'bound med/p90':>13}  {'module med/p90/max':>20}  "
              f"{'module/rig':>10}  {'eased rig med/p90':>17}")
    print(header)
    print("-" * len(header))
    for name, (steps, each, speed) in LENSES.items():
        model = model_of(steps, each, speed)
        rng = np.random.default_rng(seed)
        exact, worst_fast = 0, 0.0
        rig, module, eased, bound = [], [], [], []
        for _ in range(pairs):
            distance = int(rng.integers(1, steps + 1))
            a = int(rng.integers(0, steps - distance + 1))
            a, b = (a, a + distance) if rng.random() < 0.5 else (a + distance, a)
            fastest = fastest_time(distance, model)[0]
            target = fastest * float(rng.uniform(1.0, 4.0))
            plan = plan_move(a, b, target, model)
            landed = sum(n * each[k] for k, n in plan.counts.items())
            exact += abs(landed - distance) <= 1e-6
            worst_fast = max(worst_fast, abs(plan.fastest_s - brute_fastest(distance, model)))
            rig.append(deviation(plan, model))
            bound.append(lower_bound(distance, target, model))
            module_plan, knots = focus_sq.simulate(distance, target, each, speed)
            module.append(module_deviation(knots, distance, module_plan.duration))
            if target >= fastest * math.pi / 2:  # an eased pull needs room to ease
                eased.append(deviation(plan_move(a, b, target, model, "ease"), model))
        r, m, e, b = stats(rig), stats(module), stats(eased), stats(bound)
        print(f"{name:30} {100 * exact / pairs:5.1f}% {worst_fast:20.1e}  "
              f"{r[0]:5.2f}/{r[1]:5.2f}/{r[2]:5.1f}  {b[0]:5.2f}/{b[1]:5.2f}    "
              f"{m[0]:6.2f}/{m[1]:6.2f}/{m[2]:5.1f}  "
              f"{m[0] / max(r[0], 1e-9):9.1f}x  {e[0]:8.2f}/{e[1]:5.2f}")
        within = np.mean(np.asarray(rig) <= np.asarray(bound) + 0.05)
        print(f"{'':30} rig is within 0.05 step of the bound on {100 * within:.0f}% of pairs")
    print("bound: what no plan can beat (a command cannot keep both ends within delta of the "
          "line unless 2 delta >= |e - v m|)")
    print("eased: targets at least pi/2 x the fastest, since an eased pull peaks at pi/2 x "
          "the average speed")


def timing(moves: int, seed: int) -> None:
    profile = load_profile(DEFAULT_PROFILE)
    print(f"\nTiming on the simulator: {profile.lens}, busy={profile.busy}, latency "
          f"{profile.latency_ms:g} +/- {profile.latency_jitter_ms:g} ms; the rig calibrates "
          "first, then runs each move through its executor")
    clock = VirtualClock()
    sim = SimBody(profile, clock)
    lens = Lens(sim.session(), clock)
    lens.connect()
    cal = calibrate(lens)
    model = cal.model()
    rng = np.random.default_rng(seed)
    ratios, landed, late, lost = [], 0, 0, 0
    for _ in range(moves):
        a = int(rng.integers(0, model.steps))
        b = int(rng.integers(0, model.steps + 1))
        while b == a:
            b = int(rng.integers(0, model.steps + 1))
        lens.move_to(a)
        clock.sleep(0.3)
        plan = plan_move(a, b, fastest_time(abs(b - a), model)[0] * float(rng.uniform(1, 4)),
                         model)
        first = sim.truth.added
        start_true, dropped = sim.truth.step(clock.now()), sim.truth.dropped
        t0 = clock.now() + lens.lead
        run = lens.execute(plan, t0)
        end = max(s.t1 for s in sim.truth.since(first))
        ratios.append(abs(end - t0 - plan.duration_s) / plan.duration_s)
        landed += sim.truth.step(sim.truth.settled_at()) - start_true == b - a
        lost += sim.truth.dropped - dropped
        late += run.late
    a = np.asarray(ratios) * 100
    print(f"  {moves} moves: |actual - planned| / planned median {np.median(a):.2f} %, "
          f"p99 {np.percentile(a, 99):.2f} %, max {a.max():.2f} %")
    print(f"  moved exactly the planned distance: {landed}/{moves}; commands the camera "
          f"dropped: {lost}; commands sent late: {late}")


def cost(plans: int, seed: int) -> None:
    steps, each, speed = LENSES["EF 24mm f/2.8 (1/4/26)"]
    model = dataclasses.replace(model_of(steps, each, speed), steps=1000)
    rng = np.random.default_rng(seed)
    moves = []
    for _ in range(plans):
        d = int(rng.integers(1, 1001))
        moves.append((d, fastest_time(d, model)[0] * float(rng.uniform(1, 4))))
    plan_move(0, 500, 10.0, model)  # warm up (imports, tables)
    for easing in ("linear", "ease"):
        times = []
        for d, t in moves:
            _plan.cache_clear()
            _mixes.cache_clear()
            start = time.perf_counter()
            plan_move(0, d, t, model, easing)
            times.append(time.perf_counter() - start)
        ms = np.asarray(times) * 1000
        label = "rig" if easing == "linear" else "rig, eased"
        print(f"  {label:11}: median {np.median(ms):.2f} ms, p90 {np.percentile(ms, 90):.2f} ms, "
              f"max {ms.max():.2f} ms per plan")
    times = []
    for d, t in moves:
        start = time.perf_counter()
        focus_sq.distribute(d, t, (26, 4, 1), (speed[3], speed[2], speed[1]))
        times.append(time.perf_counter() - start)
    ms = np.asarray(times) * 1000
    print(f"  {'module':11}: median {np.median(ms):.2f} ms per plan (its plans do not "
          "optimise the trajectory)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pairs", type=int, default=300)
    parser.add_argument("--moves", type=int, default=200)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    started = time.perf_counter()
    planning(args.pairs, args.seed)
    timing(args.moves, args.seed)
    print(f"\nPlan cost on a 1,000-step lens ({args.pairs} moves):")
    cost(args.pairs, args.seed)
    print(f"\n(bench took {time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()


