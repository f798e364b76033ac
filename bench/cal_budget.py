"""Where a live-view calibration spends the camera's time: a budget per phase.

Runs :func:`rig.calibrate.calibrate` in-process on zoo set-ups
(:func:`rig.zoo.profile`, seeds ``--seed`` onwards) and splits the camera's
(virtual) time, the frames taken and the commands sent by the phase the
calibration's own progress names (noise, near stop, sweep, far stop,
backlash, size N steps, busy test, size N speed, homing, check).  Prints one
table per set-up and the sum over all, with each phase's share.  Figures,
never assertions (this is a benchmark); the lens zoo (``bench/lens_zoo.py``)
judges the results.

Run: ``nice -n 10 .venv/bin/python bench/cal_budget.py [--n 6] [--seed 1] [--jobs 2]``
"""

from __future__ import annotations

import argparse
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def _phase(name: str) -> str:
    """A progress phase as a budget row ("calibration: x" in a probe is just x)."""
    return name.split(": ")[-1]


def budget(seed: int) -> dict:
    """One calibration of zoo set-up ``seed``: [(phase, seconds, frames, commands)], outcome."""
    from rig.calibrate import CalibrationError, calibrate
    from rig.clock import VirtualClock
    from rig.lens import Lens
    from rig.sim import SimBody
    from rig.zoo import draw, profile

    clock = VirtualClock()
    body = SimBody(profile(seed), clock)
    lens = Lens(body.session(), clock)
    lens.connect()
    rows: list[list] = []
    mark = {"phase": "noise", "t": clock.now(), "f": lens.frames, "c": lens.commands}

    def close() -> None:
        rows.append([mark["phase"], clock.now() - mark["t"], lens.frames - mark["f"],
                     lens.commands - mark["c"]])

    def progress(phase: str, fraction: float, eta_s: float | None = None) -> None:
        name = _phase(phase)
        if name != mark["phase"]:
            close()
            mark.update(phase=name, t=clock.now(), f=lens.frames, c=lens.commands)

    values = draw(seed)
    try:
        cal = calibrate(lens, progress=progress)
        outcome = f"saved, range {cal.steps} (truth {values['steps']})"
    except CalibrationError as exc:
        outcome = f"refused ({exc.cause}): {str(exc)[:90]}"
    close()
    merged: dict[str, list] = {}
    for name, t, f, c in rows:
        row = merged.setdefault(name, [0.0, 0, 0])
        row[0] += t
        row[1] += f
        row[2] += c
    return {"seed": seed, "steps": values["steps"], "busy": values["busy"],
            "frame_ms": values.get("preview_ms"), "outcome": outcome, "rows": merged,
            "total": clock.now()}


def show(rows: dict[str, list], total: float) -> None:
    print(f"  {'phase':<16} {'time s':>8} {'share':>6} {'frames':>7} {'commands':>9}")
    for name, (t, f, c) in rows.items():
        print(f"  {name:<16} {t:8.1f} {100 * t / total:5.1f}% {f:7d} {c:9d}")
    print(f"  {'total':<16} {total:8.1f} {100.0:5.1f}% "
          f"{sum(r[1] for r in rows.values()):7d} {sum(r[2] for r in rows.values()):9d}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=6)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args(argv)
    seeds = list(range(args.seed, args.seed + args.n))
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        results = list(pool.map(budget, seeds))
    overall: dict[str, list] = {}
    for r in results:
        print(f"seed {r['seed']}: {r['steps']} steps, {r['busy']}, {r['frame_ms']} ms frames: "
              f"{r['total'] / 60:.1f} min, {r['outcome']}")
        show(r["rows"], r["total"])
        for name, (t, f, c) in r["rows"].items():
            row = overall.setdefault(name, [0.0, 0, 0])
            row[0] += t
            row[1] += f
            row[2] += c
    total = sum(r["total"] for r in results)
    print(f"\nall {len(results)} set-ups (seeds {seeds[0]}..{seeds[-1]}): "
          f"{total / 60:.1f} min, mean {total / 60 / len(results):.1f} min")
    show(overall, total)
    return 0


if __name__ == "__main__":
    sys.exit(main())
