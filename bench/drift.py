"""Drift: where the lens really is after many play transitions (issue 3).

The whole app runs on the simulator (``rig simulate``'s harness): a Canon
EF 24mm whose size-2 and size-3 commands are jittery is calibrated by the
rig itself (where ``rig.calibrate`` cannot calibrate it, the simulator's
truth as calibration spaces it stands in, and the output says so), then a
saved six-point sequence is played through 200 play transitions (SET, and Q back to point 1 after each pass).  For every arrival
the report gives the simulator's true step and the target; this prints the
distribution of |true_step - target_step| for:

* checked: ``[position] scene = "still"`` and INFO into play first, so the
  rig learns the scene and checks every arrival in the live view
  (rig.verify);
* checked, 5 % dropped: the same, with 5 % of all drive commands silently
  lost from the first play transition on;
* baseline, open loop: the same lens and presses, straight from boot into
  play, with ``scene = "moving"`` and ``rehome = false``: nothing learnt,
  nothing checked, never through the stop (what counting alone does).

And how long the presses waited: a check gives way to a press at its next
camera call, except where it has just moved the lens on something only its
next look can confirm; a pull that could not start on time says so in the
lens's log (``transition starts ... late``), and the bench collects those
(virtual seconds; the presses come 0.5 s after the lens stops, often inside
a check).

It also prints the picture's resolution at each point: how many steps the
lens must be off before the picture differs from the one on target by more
than its noise.  That is the bound the checks can hold.

Run: ``.venv/bin/python bench/drift.py [--transitions 200] [--seed 1]``.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from run import spaced_calibration  # noqa: E402  (bench/run.py)

from rig.calibrate import CalibrationError, calibrate  # noqa: E402
from rig.calibration import Calibration  # noqa: E402
from rig.config import load_config  # noqa: E402
from rig.harness import simulate  # noqa: E402
from rig.script import parse_script  # noqa: E402
from rig.sequencer import Point  # noqa: E402
from rig.sim import DEFAULT_PROFILE, DriveSpec, Profile, load_profile  # noqa: E402

# The legacy EF 24mm (whole steps, no play, steps the same along the range): the lens
# this bench's variants are made of, named since the default became canon-ef24-real.
LEGACY = DEFAULT_PROFILE.parent / "canon-ef24.toml"
from rig.store import Store  # noqa: E402
from rig import verify  # noqa: E402
from rig.clock import VirtualClock  # noqa: E402
from rig.lens import FAR, NEAR, Lens  # noqa: E402
from rig.sim import SimBody  # noqa: E402
from rig.verify import SceneMap  # noqa: E402
from rig.worker import use_calibration  # noqa: E402

# Near, far, and in between; fast pulls and slow ones.
POINTS = (Point(40), Point(330, 2.5), Point(120, 1.5), Point(390, 4.0), Point(10, 3.0),
          Point(250, 0.0))
JITTER = {2: 0.4, 3: 2.0}


def jittery(seed: int) -> Profile:
    base = load_profile(LEGACY)
    drive = {size: DriveSpec(spec.steps, JITTER.get(size, spec.jitter), spec.speed)
             for size, spec in base.drive.items()}
    return dataclasses.replace(base, drive=drive, seed=seed)


def script(transitions: int, checked: bool, drop: float) -> str:
    lines = ["+0 wait idle"]                       # boot: calibrate, home, go to point 1
    if checked:                                    # play -> inactive -> edit -> play
        lines += ["+1 press info", "+0.5 press info", "+0.5 press info", "+0 wait idle"]
    if drop:
        lines.append(f"+0 drop {drop}")
    done = 0
    while done < transitions:
        for _ in range(len(POINTS) - 1):
            if done == transitions:
                break
            lines += ["+0.5 press set", "+0 wait idle"]
            done += 1
        lines += ["+0.5 press q", "+0 wait idle"]
    return "\n".join(lines) + "\n"


@dataclasses.dataclass
class Result:
    play: np.ndarray            # |true - target| at each play arrival
    targets: np.ndarray         # the target of each play arrival
    every: np.ndarray           # the same at every arrival (Q returns too)
    errors: list[str]
    wall_s: float
    resolution: dict[int, float]  # point -> worst placement by one look, steps
    late: list[float]           # seconds each late transition started late (the rest: on time)


class LateStarts(logging.Handler):
    """The lens's own word on transitions that started late (it warns past LATE_S)."""

    MESSAGE = "transition starts %.1f ms late"

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.late: list[float] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.msg == self.MESSAGE and record.args:
            self.late.append(float(record.args[0]) / 1000.0)   # type: ignore[index]


def resolution(profile: Profile, state: Path, scene: SceneMap, drop: float = 0.0,
               reach: int = 30, repeats: int = 2) -> dict[int, float]:
    """How close one check brings the lens to each point, from any start near it.

    A fresh session on the same lens and scene: from the near stop, size-1
    steps put the lens at every offset within +-``reach`` of each point (a
    lost size-3 command is 26 steps), the rig is told it is on the point,
    and one check runs, with the same share of commands lost as the run
    it bounds, ``repeats`` times.  Returns the worst
    |true - point| it leaves per point: the resolution of the picture as a
    position sensor, which is what a bound on arrivals can rest on.
    """
    clock = VirtualClock()
    body = SimBody(profile, clock)
    lens = Lens(body.session(), clock)
    lens.connect()
    use_calibration(lens, Store(state).load_calibration(lens.camera_model, lens.lens_name))
    lens.home()
    body.set_drop(drop)

    def drive_to(true: int) -> None:              # size 1 only: exact
        while round(body.truth.step(clock.now())) != true:
            lens.wait_free()
            lens.send(1, FAR if body.truth.step(clock.now()) < true else NEAR)
        lens.wait_free()

    worst: dict[int, float] = {}
    for point in sorted({p.position for p in POINTS}):
        for true in list(range(max(0, point - reach), min(scene.reach, point + reach) + 1)) \
                * repeats:
            drive_to(true)
            lens.fix_position(point, sigma=2.0)
            verify.check_arrival(lens, scene, point, point - 100 if true < point else point + 100)
            lens.wait_free()
            worst[point] = max(worst.get(point, 0.0), abs(body.truth.step(clock.now()) - point))
    return worst


def lens_calibration(profile: Profile) -> tuple[Calibration, str]:
    """The rig's own calibration of the lens (virtual time), or, where ``rig.calibrate``
    cannot calibrate it, the simulator's truth as a calibration spaces it (and why)."""
    clock = VirtualClock()
    lens = Lens(SimBody(profile, clock).session(), clock)
    lens.connect()
    try:
        return calibrate(lens), "the rig's own (rig.calibrate)"
    except CalibrationError as exc:
        return (spaced_calibration(profile),
                f"the simulator's truth as calibration spaces it (rig.calibrate: {exc})")
    finally:
        lens.close()


def run(profile: Profile, transitions: int, checked: bool, drop: float,
        cal: Calibration) -> Result:
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp) / "state"
        store = Store(state)
        store.save_calibration(cal)
        store.save_sequence(POINTS, profile.lens)
        started = time.perf_counter()
        config = Path(tmp) / "rig.toml"
        config.write_text('[position]\nscene = "still"\n' if checked else
                          '[position]\nscene = "moving"\nrehome = false\n')
        late = LateStarts()
        lens_log = logging.getLogger("rig.lens")
        lens_log.addHandler(late)
        try:
            report = simulate(profile, parse_script(script(transitions, checked, drop),
                                                    "<drift>"),
                              state_dir=state, config=load_config(config))
        finally:
            lens_log.removeHandler(late)
        wall = time.perf_counter() - started
        scenes = list((state / "scenes").glob("*.npz"))
        res: dict[int, int] = {}
        if scenes:
            scene = SceneMap.from_bytes(scenes[0].read_bytes(), str(scenes[0]))
            res = resolution(profile, state, scene, 0.0)
    play = [t for t in report.transitions if t["kind"] == "play"]
    assert len(play) == transitions, f"{len(play)} play transitions, wanted {transitions}"

    def err(ts: list[dict]) -> np.ndarray:
        return np.asarray([abs(t["true_step"] - t["target_step"]) for t in ts], dtype=float)
    return Result(err(play), np.asarray([t["target_step"] for t in play]),
                  err(report.transitions), report.errors, wall, res, late.late)


def show(label: str, r: Result) -> None:
    e = r.play
    print(f"  {label:28} median {np.median(e):4.1f}  p95 {np.percentile(e, 95):5.1f}  "
          f"max {e.max():5.1f} steps over {len(e)} play arrivals; max {r.every.max():5.1f} "
          f"over all {len(r.every)} arrivals ({r.wall_s:.0f} s wall)"
          + (f"; errors: {'; '.join(r.errors)}" if r.errors else ""))
    by_point = {int(p): int(r.play[r.targets == p].max()) for p in sorted(set(r.targets))}
    print(f"  {'':28} worst by point: " + ", ".join(f"{p}: {e}" for p, e in by_point.items()))
    late = np.asarray(r.late) if r.late else np.zeros(1)
    print(f"  {'':28} transitions that started late (the press waited): {len(r.late)} of "
          f"{len(r.every)}, late by median {1000 * np.median(late):.0f} ms, p95 "
          f"{1000 * np.percentile(late, 95):.0f} ms, max {1000 * late.max():.0f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--transitions", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--plot", type=Path, help="write the arrivals as a PNG chart")
    args = parser.parse_args()
    profile = jittery(args.seed)
    cal, how = lens_calibration(profile)
    print(f"Drift over {args.transitions} play transitions: {profile.lens} on the simulator, "
          f"jitter (steps, 1 sigma) size 2: {JITTER[2]}, size 3: {JITTER[3]}; "
          f"points {[p.position for p in POINTS]}, subject sharp at {profile.subject}; "
          "|true_step - target_step| in steps")
    print(f"  calibration: {how}")
    base = run(profile, args.transitions, checked=False, drop=0.0, cal=cal)
    show("baseline: open loop", base)
    runs = {"checked": run(profile, args.transitions, checked=True, drop=0.0, cal=cal),
            "checked, 5 % dropped": run(profile, args.transitions, checked=True, drop=0.05,
                                        cal=cal)}
    for label, r in runs.items():
        show(label, r)
    for label, r in runs.items():
        print(f"  {label}: max error {base.play.max() / max(r.play.max(), 1.0):.1f}x smaller, "
              f"p95 {np.percentile(base.play, 95) / max(np.percentile(r.play, 95), 1.0):.1f}x "
              "smaller than open loop")
    res = runs["checked"].resolution
    sensor = max(res.values())
    bound = sensor + 1
    print("  the picture as a position sensor: worst |true - point| one check leaves from every "
          "start within 30 steps of each point (twice, nothing lost): "
          + ", ".join(f"{p}: {k:.0f}" for p, k in res.items()))
    print(f"  bound = that at its coarsest ({sensor:.0f}) + 1 step (a size-1 correction lost "
          f"where the picture cannot see it) = {bound:.0f} steps")
    for label, r in runs.items():
        worst = r.play.max()
        print(f"  {label}: worst play arrival {worst:.0f} steps: "
              f"{'within' if worst <= bound else 'OUTSIDE'} the bound")
    if args.plot:
        figure(base, runs, bound).save(args.plot)
        print(f"  chart: {args.plot}")


def figure(base: Result, runs: dict[str, Result], bound: float) -> Any:
    """Every play arrival: open loop against checked, then the checked runs close up."""
    from rig.plot import Chart, Series, line_chart, stack
    xs = list(range(1, len(base.play) + 1))
    flat = Series(f"bound ({bound:.0f} steps)", [xs[0], xs[-1]], [bound, bound], (120, 120, 120))
    colours = ((214, 39, 40), (44, 160, 44))
    checked = [Series(label, xs, r.play.tolist(), colour)
               for (label, r), colour in zip(runs.items(), colours)]
    wide = Chart("Arrivals over 200 play transitions, jittery EF 24mm (simulator)",
                 "play transition", "|true - target| (steps)",
                 [Series("open loop (counting only)", xs, base.play.tolist(), (31, 119, 180))]
                 + checked)
    close = Chart("The same, checked in the live view: close up", "play transition",
                  "|true - target| (steps)", checked + [flat])
    return stack([line_chart(wide), line_chart(close)])


if __name__ == "__main__":
    main()
