"""Counting against the stops: a study of a faster calibration (issue 13's time target).

Drives simulated zoo lenses (:func:`rig.zoo.profile`, seeds ``--seed``
onwards) through rig's :class:`~rig.lens.Lens` and the simulator, with the
method of ``docs/calibration.md`` ("Counting against the stops"), and
estimates with :mod:`rig.calstops`:

* homing into the near stop (size 3, a frame after each, until still);
* the **pass**: size-1 commands from the near stop to the far stop.  The
  first ones with a frame each (where the lens leaves the stop: the
  backlash), then a frame every ``--every`` commands until the picture is
  still; the count at the stall is ``range + backlash``;
* a **check leg** at the far stop: ``CHECK`` size-1 commands in and back out,
  a known count the stall detection must find (and the backlash again);
* for sizes 3 and 2 a **far leg**: ``n`` commands in from the far stop,
  size-1 commands back out until they stall: the count back is the ``n``
  commands' motor steps (the backlash cancels);
* and a **near leg**: homed, ``n`` commands out of the near stop, then
  size-1 commands on to the far stop: the pass's count less this one is
  the ``n`` commands' motor steps (every stall is at the far stop, where
  the picture is sharper; a lens whose near stop shows a contrast of
  ``NEAR_CONTRAST`` returns to it instead).  One leg at each stop gives the
  size's steps near and far (:func:`rig.calstops.size_steps`).

Commands are paced by each size's **motion time taken from the profile**
(an oracle: this study does not measure it; the current calibration's
speed phases do, and their time is printed beside): never two outstanding
on any body.  The bench reads the simulator's truth only to judge.

``--stalls`` prints every stall's fit with its error against the truth.
Side by side, the current calibration (:func:`bench.cal_budget.budget`) on
the same set-ups in the same run: its total time and its phases that this
method replaces (noise, near stop, sweep, far stop, backlash, size N steps)
or does not (busy test, speeds, homing, check).  Figures, never assertions.

Run: ``nice -n 10 .venv/bin/python bench/cal_stops.py [--n 20] [--seed 1] [--jobs 2]
[--no-baseline]``
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

NEAR, FAR = -1, 1
START_FRAMES = 24     # size-1 commands off a stop with a frame each (where the lens leaves it)
CHECK = 24            # size-1 commands of the check leg at the far stop
STILL = 1.35          # a frame within this many noise floors of another: the same picture
STILL_FRAMES = 3      # sparse frames still in a row (against LOOKBACK): at the stop
LOOKBACK = (16, 32, 48)  # steps back a frame must be still against
NEAR_CONTRAST = 3.0   # the near stop's stall contrast from which near legs return to it
PLATEAU_FRAMES = 3    # frames at the end of an approach, no command between
WINDOW = 48           # steps before the stall the hinge fit uses
LEG_SHARE = 0.25      # a leg's commands reach this share of the range
REPLACED = ("noise", "near stop", "sweep", "far stop", "backlash", "size 3 steps",
            "size 2 steps")


class Counter:
    """The study's driver: paced commands, settled frames, approaches to a stop."""

    def __init__(self, lens, profile, clock, *, every: int, width: int) -> None:
        from rig.vision import distance, steady_fingerprint
        self.lens, self.clock, self.profile = lens, clock, profile
        self.every, self.width = every, width
        self._distance, self._fp = distance, steady_fingerprint
        self.earliest = -math.inf     # the next command may be sent from here
        self.free = -math.inf         # the lens has stopped from here
        self.noise = 1.0
        self.stalls: list[dict] = []  # each approach's fit, for the report
        self.truth = None             # the simulator's truth, for the judge only
        self.seen: list[float] = []   # true lens position at each frame (judge only)

    # -- pacing (oracle motion times)
    def motion(self, size: int) -> float:
        spec = self.profile.drive[size]
        low = min(spec.steps, spec.steps_far or spec.steps)
        return spec.steps / spec.speed * (1.0 + 4.0 * spec.jitter / low) + 0.002

    def send(self, size: int, direction: int) -> None:
        """One command, as soon as the camera can take it without losing it.

        A body that drops or refuses a command reaching a moving lens gets
        it when the last motion is over, less the call's latency, plus a
        guard of 4 sigmas of that latency.  A body that queues gets it while
        the last one still moves: it waits behind it (never two waiting).
        """
        self.clock.sleep_until(self.earliest)
        self.lens.send(size, direction)
        back = self.clock.now()
        lat = self.lens.latency
        sigma = lat.std if lat.n > 2 else 0.25 * lat.mean
        lead = max(0.2 * lat.mean, lat.mean - 4.0 * sigma)
        motion = self.motion(size)
        if self.profile.busy == "queue":
            self.free = max(self.free, back) + motion
            self.earliest = self.free - motion - lead
        else:
            self.free = back + motion
            self.earliest = self.free - lead

    def fp(self) -> np.ndarray:
        self.clock.sleep_until(self.free)
        if self.truth is not None:     # the judge's record, never used by the method
            self.seen.append(self.truth.position(self.clock.now()))
        return self._fp(self.lens.frame(), self.width)

    def _true_k(self, counts: list[float], side: str) -> float | None:
        """The true stall count of the last len(counts) frames (judge only)."""
        if self.truth is None:
            return None
        xs = np.array(self.seen[-len(counts):])
        span = float(self.truth.steps)
        d = np.minimum(xs, span - xs)       # distance to the nearer stop
        k = np.asarray(counts, dtype=float)
        off = d > 0.5
        if not off.any():
            return None
        return float(np.median(k[off] + d[off])) if side == "end" else \
            float(np.median(k[off] - d[off]))

    def still(self, a: np.ndarray, b: np.ndarray) -> bool:
        return self._distance(a, b) < STILL * self.noise

    # -- phases
    def measure_noise(self) -> None:
        shots = [self.fp() for _ in range(3)]
        self.noise = max(statistics.median(
            [self._distance(shots[0], shots[1]), self._distance(shots[1], shots[2]),
             self._distance(shots[0], shots[2])]), 1e-3)

    def home(self, direction: int, count: int | None = None) -> int:
        """Size 3 into a stop: ``count`` commands, or with frames until still."""
        if count is not None:
            for _ in range(count):
                self.send(3, direction)
            return count
        shots = [self.fp()]
        for i in range(1, 400):
            self.send(3, direction)
            shots.append(self.fp())
            if len(shots) >= 5 and all(self.still(shots[-1], shots[-k]) for k in range(2, 6)):
                break
        for _ in range(2):
            self.send(3, direction)
        return i + 2

    def plateau(self, frames: int = PLATEAU_FRAMES) -> list[np.ndarray]:
        return [self.fp() for _ in range(frames)]

    def leave(self, direction: int, commands: int, at_stop: list[np.ndarray]):
        """Size-1 commands off a stop with a frame each: where the lens left it (the play)."""
        from rig.calstops import stall_point
        from rig.calstopsrun import leave_readings
        counts, frames = leave_readings(self.send, self.fp, direction, commands, at_stop)
        fit = stall_point(counts, frames, [c == 0 for c in counts], side="start")
        self.stalls.append({"what": "leave", "fit": fit, "true": self._true_k(counts, "start"),
                            "data": (counts, frames)})
        return fit, counts, frames

    def approach(self, direction: int, ref: list[np.ndarray] | None, *, sent: int = 0,
                 least: int = 0, what: str = "") -> tuple:
        """Size-1 toward a stop, a frame every ``every``, until still; the stall's fit.

        Still means: the newest frame is within the noise of the ones
        ``LOOKBACK`` steps back (all of them), and of the stop's picture
        (``ref``, when known), for ``STILL_FRAMES`` frames in a row, and at
        least ``least`` commands were sent.  Then a few frames without a
        command.  The fit uses the frames of the last ``WINDOW`` steps
        before the stillness began.
        """
        from rig.calstops import stall_point
        counts: list[float] = []
        frames: list[np.ndarray] = []
        refm = None if ref is None else np.mean(ref, axis=0)
        c = sent
        run = 0
        back = [max(1, s // self.every) for s in LOOKBACK]
        for _ in range(4000):
            for _ in range(self.every):
                self.send(1, direction)
                c += 1
            fp = self.fp()
            counts.append(float(c))
            frames.append(fp)
            still = len(frames) > back[-1] and all(self.still(fp, frames[-1 - j]) for j in back)
            if refm is not None:
                still = still and self.still(fp, refm)
            run = run + 1 if still and c - sent >= least else 0
            if run >= STILL_FRAMES:
                break
        else:
            raise RuntimeError("no stop within 4000 steps")
        for fp in self.plateau():
            counts.append(float(c))
            frames.append(fp)
        k = np.array(counts)
        keep = k >= c - WINDOW - (STILL_FRAMES + back[-1]) * self.every
        sel_k = k[keep]
        sel_f = [f for f, m in zip(frames, keep) if m]
        fit = stall_point(sel_k, sel_f, sel_k >= c, side="end")
        self.stalls.append({"what": what, "fit": fit, "end": c, "data": (sel_k, sel_f),
                            "true": self._true_k(counts, "end")})
        return fit, c, [f for f, kk in zip(frames, counts) if kk >= c]


def stops_run(seed: int, *, every: int = 4, width: int = 80, keep_data: bool = False) -> dict:
    """The method on zoo set-up ``seed``: figures against the truth."""
    from rig.calstops import size_steps
    from rig.clock import VirtualClock
    from rig.lens import Lens
    from rig.sim import SimBody
    from rig.zoo import draw, profile

    values = draw(seed)
    prof = profile(seed)
    clock = VirtualClock()
    body = SimBody(prof, clock)
    lens = Lens(body.session(), clock)
    lens.connect()
    t0 = clock.now()
    cnt = Counter(lens, prof, clock, every=every, width=width)
    cnt.truth = body.truth
    marks: dict[str, float] = {}
    last = [t0]

    def mark(name: str) -> None:
        marks[name] = marks.get(name, 0.0) + clock.now() - last[0]
        last[0] = clock.now()

    truth = body.truth
    out: dict = {"seed": seed, "steps": prof.steps, "busy": prof.busy,
                 "backlash_true": prof.backlash, "frame_ms": prof.preview_ms}
    try:
        cnt.measure_noise()
        home3 = cnt.home(NEAR)
        near_ref = cnt.plateau(4)
        mark("home")
        # The pass: leave the near stop (the backlash there), on to the far stop.
        left, _, _ = cnt.leave(FAR, START_FRAMES, near_ref)
        fit, end, far_ref = cnt.approach(FAR, None, sent=START_FRAMES, what="pass")
        mark("pass")
        # The check leg at the far stop: the backlash there, then a known count.
        left_far, *_ = cnt.leave(NEAR, CHECK, far_ref)
        check, _, far_ref2 = cnt.approach(FAR, far_ref, what="check")
        far_ref = far_ref + far_ref2
        mark("check leg")
        # The play from the far stop, where every count of this method stalls (the
        # near stop's picture is mostly a blur: its fit is printed, not used).
        backlash = left_far.count
        span = fit.count - backlash
        near_stop = left.contrast >= NEAR_CONTRAST
        legs: dict[int, dict] = {}
        for size in (3, 2):
            guess = 35.0 if size == 3 else legs[3]["step"] / 6.85
            n = max(2, int(round(LEG_SHARE * span / guess)))
            for _ in range(n):
                cnt.send(size, NEAR)
            f, _, _ = cnt.approach(FAR, far_ref, least=int(0.7 * n * guess * 0.7),
                                   what=f"size {size} far")
            legs[size] = {"n": n, "far": (f.count, f.sigma), "step": f.count / n}
        mark("far legs")
        step3 = legs[3]["step"] * 0.8
        homing = int(math.ceil(1.1 * span / step3)) + 2
        for size in (3, 2):
            cnt.home(NEAR, homing)
            share = LEG_SHARE if near_stop else 2 * LEG_SHARE
            n = max(2, int(round(share * span / legs[size]["step"])))
            for _ in range(n):
                cnt.send(size, FAR)
            expect = n * legs[size]["step"]
            if near_stop:
                f, *_ = cnt.approach(NEAR, near_ref, least=int(0.8 * expect),
                                     what=f"size {size} near")
                legs[size]["near"] = (n, f.count, f.sigma)
            else:
                f, *_ = cnt.approach(FAR, far_ref, least=int(0.8 * (fit.count - expect)),
                                     what=f"size {size} near")
                legs[size]["near"] = (n, fit.count - f.count, math.hypot(fit.sigma, f.sigma))
        mark("near legs")
        cnt.home(NEAR, homing)
        mark("home")
        out["time"] = clock.now() - t0
        out["commands"] = lens.commands
        out["frames"] = lens.frames
        out["phases"] = dict(marks)
        out["range"] = span
        out["range_err"] = span - prof.steps
        out["backlash"] = backlash
        out["backlash_near"], out["backlash_far"] = left.count, left_far.count
        out["check_err"] = check.count - CHECK
        out["check_sigma"] = check.sigma
        out["near_stop"] = near_stop
        out["home3"] = home3
        out["stalls"] = [(s["what"], s["fit"].count, s["fit"].sigma, s["fit"].contrast,
                          s["true"]) for s in cnt.stalls]
        if keep_data:
            out["data"] = [(s["what"], s["data"], s["true"],
                            "start" if s["what"] == "leave" else "end") for s in cnt.stalls]
        sizes = {}
        for size in (3, 2):
            leg = legs[size]
            est = size_steps(leg["near"], (leg["n"], *leg["far"]), span, backlash=backlash)
            spec = prof.drive[size]
            true_far = spec.steps_far if spec.steps_far is not None else spec.steps
            sizes[size] = {"near": est.near, "far": est.far, "near_sigma": est.near_sigma,
                           "far_sigma": est.far_sigma,
                           "near_err_pct": 100 * (est.near / spec.steps - 1),
                           "far_err_pct": 100 * (est.far / true_far - 1),
                           "n": (leg["near"][0], leg["n"]), "jitter": spec.jitter}
        out["sizes"] = sizes
        out["outcome"] = "measured"
    except Exception as exc:    # a study: report what went wrong and go on
        out["outcome"] = f"failed: {type(exc).__name__}: {exc}"
        out["time"] = clock.now() - t0
        out["commands"] = lens.commands
        out["frames"] = lens.frames
    out["overflows"] = truth.overflows
    out["dropped"] = truth.dropped
    out["values"] = {"focal": values["optics"]["focal_mm"], "f": values["optics"]["f_number"]}
    return out


def recovered(r: dict) -> bool:
    """Issue 13's bar on what this method measures: range 1 %, steps 5 %, backlash 1 step."""
    if r.get("outcome") != "measured":
        return False
    ok = abs(r["range_err"]) <= 0.01 * r["steps"] and \
        abs(r["backlash"] - r["backlash_true"]) <= 1.0
    for s in r["sizes"].values():
        ok = ok and abs(s["near_err_pct"]) <= 5 and abs(s["far_err_pct"]) <= 5
    return ok


def both(seed: int, every: int, width: int, baseline: bool) -> dict:
    r = stops_run(seed, every=every, width=width)
    if baseline:
        from bench.cal_budget import budget
        r["baseline"] = budget(seed)
    return r


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=20)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--every", type=int, default=4, help="size-1 commands per frame, "
                    "away from the stall")
    ap.add_argument("--width", type=int, default=80, help="fingerprint width, pixels")
    ap.add_argument("--no-baseline", action="store_true",
                    help="skip the current calibration (faster, no ratio)")
    ap.add_argument("--stalls", action="store_true", help="print every stall fit")
    args = ap.parse_args(argv)
    seeds = list(range(args.seed, args.seed + args.n))
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        results = list(pool.map(both, seeds, [args.every] * len(seeds),
                                [args.width] * len(seeds), [not args.no_baseline] * len(seeds)))
    report(results, args.stalls)
    return 0


def report(results: list[dict], stalls: bool) -> None:
    print(f"{'seed':>4} {'steps':>5} {'busy':>5} {'lens':>11} {'min':>5} {'cmds':>5} "
          f"{'frames':>6} {'range':>6} {'blash':>9} {'check':>6} "
          f"{'s3 near/far %':>13} {'s2 near/far %':>13} {'now min':>7} {'repl':>5} {'ratio':>5}")
    for r in results:
        base = r.get("baseline")
        now = f"{base['total'] / 60:7.1f}" if base else "      -"
        repl = sum(t for name, (t, _, _) in base["rows"].items() if name in REPLACED) \
            if base else None
        lens = f"{r['values']['focal']:g}mm f/{r['values']['f']:g}"
        head = (f"{r['seed']:4d} {r['steps']:5d} {r['busy']:>5} {lens:>11} "
                f"{r['time'] / 60:5.2f} {r['commands']:5d} {r['frames']:6d}")
        if r["outcome"] != "measured":
            print(f"{head} {r['outcome'][:90]}")
            continue
        s3, s2 = r["sizes"][3], r["sizes"][2]
        ratio = f"{base['total'] / r['time']:5.1f}" if base else "    -"
        print(f"{head} {r['range_err']:+6.1f} {r['backlash']:4.1f}/{r['backlash_true']:<4.1f} "
              f"{r['check_err']:+6.2f} {s3['near_err_pct']:+6.1f}/{s3['far_err_pct']:+6.1f} "
              f"{s2['near_err_pct']:+6.1f}/{s2['far_err_pct']:+6.1f} {now} "
              f"{(repl / 60 if repl else 0):5.1f} {ratio}"
              f"{'' if recovered(r) else '  off'}")
        if stalls:
            print("      phases: " + ", ".join(f"{k} {v:.0f} s" for k, v in r["phases"].items())
                  + f"; legs return to the {'near' if r['near_stop'] else 'far'} stop")
            for what, k, sigma, contrast, true in r["stalls"]:
                err = "" if true is None else f"  error {k - true:+6.2f}"
                print(f"      {what:<12} K {k:8.2f} +-{sigma:5.2f}  contrast {contrast:6.2f}{err}")
    done = [r for r in results if r["outcome"] == "measured"]
    times = sorted(r["time"] / 60 for r in results)
    print(f"\n{len(results)} set-ups: {len(done)} measured, "
          f"{sum(recovered(r) for r in results)} within issue 13's bar "
          f"(range 1 %, steps near/far 5 %, backlash 1 step)")
    if times:
        print(f"stops method, camera time: median {statistics.median(times):.2f} min, "
              f"p90 {times[min(len(times) - 1, int(math.ceil(0.9 * len(times))) - 1)]:.2f} min")
    based = [r for r in results if r.get("baseline")]
    if based:
        bt = sorted(r["baseline"]["total"] / 60 for r in based)
        ratios = sorted(r["baseline"]["total"] / r["time"] for r in based)
        print(f"current calibration, same set-ups: median {statistics.median(bt):.2f} min, "
              f"p90 {bt[min(len(bt) - 1, int(math.ceil(0.9 * len(bt))) - 1)]:.2f} min; "
              f"ratio current / stops: median {statistics.median(ratios):.1f}")


if __name__ == "__main__":
    sys.exit(main())
