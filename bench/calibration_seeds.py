"""How steady live-view calibration is across simulator seeds.

Calibrates the default simulated lens (Canon EF 24mm: 1 / 4 / 26 steps per
size-1/2/3 command, no spread) and its jittery variant (``bench/drift.py``'s
``jittery``: size-2 spread 0.4, size-3 spread 2.0 steps, one sigma) once per
seed, and prints per run:

* the effective steps found for sizes 2 and 3 (truth 4 and 26);
* each size's motion time ``move_s`` over the truth (mean steps / motor
  speed); below 1 is the dangerous side (commands sent into a moving lens).
  For a size whose commands spread, the rig aims at 1 + 3 spreads / steps
  (the longer commands move for longer), printed under the summary;
* each size's spread estimate against the truth as the simulator draws it;
* the range found (truth 407);
* the calibration's length in virtual seconds, and failures.

Then a summary per profile: the range of each figure over the seeds.  The
same seeds run through the baseline, rig/calibrate.py at BASELINE_REV read
from git, in the same run (``--no-baseline`` leaves it out).
Figures, never assertions (this is a benchmark).

Run: ``.venv/bin/python bench/calibration_seeds.py [--seeds 1-8] [--jobs 2]``
(about 6 minutes on 2 cores); part of ``make bench``.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import importlib.util
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from drift import jittery  # noqa: E402
import numpy as np  # noqa: E402

from rig.calibrate import calibrate  # noqa: E402
from rig.clock import VirtualClock  # noqa: E402
from rig.lens import Lens, LensError  # noqa: E402
from rig.sim import DEFAULT_PROFILE, Profile, SimBody, load_profile  # noqa: E402

SIZES = (1, 2, 3)
ROOT = Path(__file__).resolve().parent.parent
# The baseline: rig/calibrate.py as it was before the work on steadier
# calibration (issues 3 and 4), read from git and run in the same process
# against today's lens layer, so both columns see the same simulator.
BASELINE_REV = "f18fa61"


@functools.cache
def baseline_calibrate():
    """``calibrate`` from rig/calibrate.py at BASELINE_REV (None when git cannot give it)."""
    try:
        source = subprocess.run(["git", "show", f"{BASELINE_REV}:rig/calibrate.py"], cwd=ROOT,
                                capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    spec = importlib.util.spec_from_loader("rig._calibrate_baseline", loader=None)
    module = importlib.util.module_from_spec(spec)
    module.__package__ = "rig"          # its relative imports resolve against today's rig
    sys.modules[spec.name] = module     # dataclasses look their module up
    exec(compile(source, f"{BASELINE_REV}:rig/calibrate.py", "exec"), module.__dict__)
    return module.calibrate


CALIBRATORS = {"now": lambda: calibrate, f"baseline {BASELINE_REV}": baseline_calibrate}


def default(seed: int) -> Profile:
    return dataclasses.replace(load_profile(DEFAULT_PROFILE), seed=seed)


PROFILES = {"default": default, "jittery": jittery}


@dataclasses.dataclass
class Row:
    seed: int
    steps: dict[int, float]
    move_ratio: dict[int, float]
    jitter: dict[int, float]
    range_steps: int
    duration_s: float
    error: str
    wall_s: float


def one(which: str, name: str, seed: int) -> Row:
    run = CALIBRATORS[which]()
    profile = PROFILES[name](seed)
    clock = VirtualClock()
    lens = Lens(SimBody(profile, clock).session(), clock)
    started = time.perf_counter()
    if run is None:
        return Row(seed, {}, {}, {}, 0, 0.0, "baseline unavailable (no git history)", 0.0)
    try:
        lens.connect()
        cal = run(lens)
    except LensError as exc:
        return Row(seed, {}, {}, {}, 0, clock.now(), f"{type(exc).__name__}: {exc}",
                   time.perf_counter() - started)
    truth = {k: profile.drive[k].steps / profile.drive[k].speed for k in SIZES}
    return Row(seed,
               {d.size: d.steps for d in cal.drive},
               {d.size: (d.move_s or 0.0) / truth[d.size] for d in cal.drive},
               {d.size: d.jitter or 0.0 for d in cal.drive},
               cal.steps, float(cal.extra["duration_s"]), "", time.perf_counter() - started)


def span(values: list[float], fmt: str) -> str:
    return f"{format(min(values), fmt)}..{format(max(values), fmt)}" if values else "-"


@functools.cache
def true_spread(name: str) -> dict[int, float]:
    """Each size's real spread of steps per command, drawn by the simulator itself.

    The simulator adds the profile's jitter to the mean and then rounds to a
    whole step at random, which adds spread of its own (about 0.41 for a
    uniform fraction): this is what calibration can see.
    """
    body = SimBody(PROFILES[name](1), VirtualClock())
    spread = {}
    for k in SIZES:
        spec = body.profile.drive[k]
        spread[k] = float(np.std([body._draw_steps(spec.steps, spec.jitter)
                                  for _ in range(20000)]))
    return spread


def show(name: str, which: str, rows: list[Row]) -> None:
    profile = PROFILES[name](1)
    true_jitter = true_spread(name)
    print(f"\n{name}, calibrate {which}: range {profile.steps}, true steps "
          f"1/{profile.drive[2].steps:g}/{profile.drive[3].steps:g}, "
          f"true spread {'/'.join(f'{true_jitter[k]:.2f}' for k in SIZES)} (as drawn)")
    print(f"  {'seed':>4}  {'range':>5}  {'steps 2':>7} {'steps 3':>7}  {'move/truth 1':>12} "
          f"{'2':>5} {'3':>5}  {'spread 1':>8} {'2':>5} {'3':>5}  {'cal s':>6}  {'wall s':>6}")
    for r in rows:
        if r.error:
            print(f"  {r.seed:>4}  FAILED after {r.duration_s:.0f} virtual s: {r.error}")
            continue
        print(f"  {r.seed:>4}  {r.range_steps:5d}  {r.steps[2]:7.3f} {r.steps[3]:7.3f}  "
              f"{r.move_ratio[1]:12.3f} {r.move_ratio[2]:5.3f} {r.move_ratio[3]:5.3f}  "
              f"{r.jitter[1]:8.3f} {r.jitter[2]:5.3f} {r.jitter[3]:5.3f}  "
              f"{r.duration_s:6.0f}  {r.wall_s:6.0f}")
    good = [r for r in rows if not r.error]
    print(f"  over {len(rows)} seeds: {len(rows) - len(good)} failed, "
          f"{sum(r.range_steps != profile.steps for r in good)} with a wrong range")
    if not good:
        return
    print(f"    steps 2 {span([r.steps[2] for r in good], '.3f')}, "
          f"steps 3 {span([r.steps[3] for r in good], '.3f')}")
    print("    move_s / truth " + ", ".join(
        f"size {k} {span([r.move_ratio[k] for r in good], '.3f')}" for k in SIZES))
    print("    spread " + ", ".join(
        f"size {k} {span([r.jitter[k] for r in good], '.3f')} (truth {true_jitter[k]:.2f})"
        for k in SIZES))
    print("    move_s aimed at (1 + 3 spreads / steps; rig.calibration.JITTER_ALLOWANCE) " + ", ".join(
        f"size {k} {1 + 3 * true_jitter[k] / profile.drive[k].steps:.3f}" for k in SIZES))
    durations = [r.duration_s for r in good]
    print(f"    calibration {span(durations, '.0f')} virtual s, "
          f"mean {sum(durations) / len(durations):.0f} s")


def seeds_of(text: str) -> list[int]:
    if "-" in text:
        a, b = text.split("-")
        return list(range(int(a), int(b) + 1))
    return [int(s) for s in text.split(",")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", default="1-8", help="1-8 or 1,3,4")
    parser.add_argument("--jobs", type=int, default=2, help="processes (calibrations at once)")
    parser.add_argument("--profile", choices=("all", *PROFILES), default="all")
    parser.add_argument("--no-baseline", action="store_true",
                        help="only today's calibrate (half the time)")
    args = parser.parse_args()
    seeds = seeds_of(args.seeds)
    names = [n for n in PROFILES if args.profile in ("all", n)]
    which = [w for w in CALIBRATORS if w == "now" or not args.no_baseline]
    started = time.perf_counter()
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        futures = {(n, w): [pool.submit(one, w, n, s) for s in seeds]
                   for n in names for w in which}
        for n in names:
            for w in which:
                show(n, w, [f.result() for f in futures[n, w]])
    print(f"\n(calibration_seeds took {time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
