"""``make bench``: rig's contrast autofocus against the seed's method, on the simulator.

Prints, for five lenses of four camera families at four live-view noise
levels, subjects spread over each range and starts anywhere in it:

* frames, lens moves, drive commands and (virtual) seconds per AF;
* the final error |true position - subject|, median / p95 / max, in steps;
* how far the rig's own idea of the lens position is from the truth after AF;
* the same for the seed's method (``bench/seed_af.py``: a full sweep at the
  largest size, then finer sweeps around the best), and the ratio of frames;
* the issue's targets against the default noise;
* harder cases on the default lens: drives that spread, faint and flat
  scenes, subjects beyond the stops;
* the focus measures compared on the simulator's scene (the numbers behind
  ``docs/autofocus.md``).

Each lens is calibrated once by rig, as a new lens would be.  Figures, never
assertions: ``--plot PNG`` draws one AF for the docs.
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from seed_af import seed_autofocus  # noqa: E402

from rig.autofocus import DEFAULT_ROI, AFSettings, autofocus, fit_peak, v_peak  # noqa: E402
from rig.calibrate import calibrate  # noqa: E402
from rig.clock import VirtualClock  # noqa: E402
from rig.lens import Lens  # noqa: E402
from rig.plot import autofocus_figure  # noqa: E402
from rig.sim import DEFAULT_PROFILE, PROFILES, DriveSpec, SimBody, load_profile  # noqa: E402
from rig.vision import broad_measure, crop, focus_measure, grey  # noqa: E402
from rig.worker import use_calibration  # noqa: E402

LENSES = ("canon-ef24.toml", "canon-ef24-f14l.toml", "olympus-em1.toml", "nikon-d750.toml",
          "fuji-gfx.toml")
NOISES = (1.0, 2.0, 4.0, 8.0)
DEFAULT_NOISE = 2.0                  # the profiles' own [scene] noise
SMALL_ROI = (0.45, 0.45, 0.1, 0.1)   # a click's worth: autofocus measures it as 0.2 x 0.2
SPREAD = {2: 0.4, 3: 2.0}            # steps, one sigma: a lens whose sizes 2 and 3 spread
SETTLE_S = AFSettings().settle_s     # both methods wait as long before each frame


@dataclass
class Trial:
    ok: bool
    frames: int
    commands: int
    moves: int
    seconds: float
    error: float          # |true position - subject|, steps
    belief: float         # |rig's position - true position|, steps
    returned: bool        # the lens ended where it started
    reason: str = ""


class Lab:
    """One lens: calibrated once, then as many simulated sessions as wanted."""

    def __init__(self, name: str) -> None:
        self.path = PROFILES / name
        self.profile = load_profile(self.path)
        clock = VirtualClock()
        lens = Lens(SimBody(self.profile, clock).session(), clock)
        lens.connect()
        self.cal = calibrate(lens)
        self.label = f"{self.profile.lens[:27].rstrip()} ({self.profile.vendor}, {self.cal.steps})"

    def session(self, seed: int, spread: dict[int, float] | None = None, **scene):
        profile = dataclasses.replace(self.profile, seed=seed, **scene)
        cal = self.cal
        if spread:
            # The simulator's calibration copes with whole, steady sizes only,
            # so the spread is added after it, and told to the lens as a
            # calibration that measured it would: each size's spread, and
            # commands spaced to let a long one finish.
            profile = dataclasses.replace(profile, drive={
                k: DriveSpec(d.steps, spread.get(k, d.jitter), d.speed)
                for k, d in profile.drive.items()})
            cal = dataclasses.replace(cal, drive=tuple(
                dataclasses.replace(d, jitter=spread.get(d.size, 0.0),
                                    speed=d.steps / (d.steps / d.speed
                                                     + 3 * spread.get(d.size, 0.0) / d.speed))
                for d in cal.drive))
        clock = VirtualClock()
        body = SimBody(profile, clock)
        lens = Lens(body.session(), clock)
        lens.connect()
        use_calibration(lens, cal)
        lens.home()
        return body, lens


def truth_now(body: SimBody) -> float:
    t = body.truth
    return t.position(max(t.settled_at(), body.clock.now()))


def trial(method: str, body: SimBody, lens: Lens, subject: float, start: int,
          roi=DEFAULT_ROI) -> Trial:
    lens.move_to(start)
    body.set_subject(subject)
    before = truth_now(body)
    if method == "rig":
        r = autofocus(lens, roi)
        ok, frames, commands, moves, seconds = (r.ok, r.frames, r.commands, r.moves,
                                                r.duration_s)
        reason = r.reason
    else:
        s = seed_autofocus(lens, roi, SETTLE_S)
        ok, frames, commands, moves, seconds, reason = (s.ok, s.frames, s.commands, s.moves,
                                                        s.duration_s, "")
    after = truth_now(body)
    assert lens.position is not None
    return Trial(ok, frames, commands, moves, seconds, abs(after - subject),
                 abs(lens.position - after), abs(after - before) < 0.5, reason)


def subjects(steps: int, count: int, rng: np.random.Generator) -> list[float]:
    """Spread over the range (4 % to 96 %), each moved a little off an even grid."""
    grid = np.linspace(0.04 * steps, 0.96 * steps, count)
    wobble = 0.25 * (grid[1] - grid[0]) if count > 1 else 0.0
    return [float(np.clip(x + rng.uniform(-wobble, wobble), 0, steps)) for x in grid]


def run(lab: Lab, method: str, noise: float, count: int, starts: int, seed: int,
        **session) -> list[Trial]:
    return run_roi(lab, noise, count, starts, seed, DEFAULT_ROI, method, **session)


def run_roi(lab: Lab, noise: float, count: int, starts: int, seed: int, roi,
            method: str = "rig", **session) -> list[Trial]:
    rng = np.random.default_rng(seed)
    body, lens = lab.session(seed, noise=noise, **session)
    steps = lab.cal.steps
    out = []
    for subject in subjects(steps, count, rng):
        for _ in range(starts):
            out.append(trial(method, body, lens, subject, int(rng.integers(0, steps + 1)), roi))
    return out


def figures(trials: list[Trial]) -> dict[str, float]:
    ok = [t for t in trials if t.ok]
    err = np.array([t.error for t in ok]) if ok else np.array([np.nan])
    return {
        "n": len(trials), "ok": len(ok),
        "frames": float(np.median([t.frames for t in trials])),
        "frames90": float(np.percentile([t.frames for t in trials], 90)),
        "moves": float(np.median([t.moves for t in trials])),
        "commands": float(np.median([t.commands for t in trials])),
        "seconds": float(np.median([t.seconds for t in trials])),
        "err": float(np.median(err)), "err95": float(np.percentile(err, 95)),
        "errmax": float(err.max()),
        "belief95": float(np.percentile([t.belief for t in ok], 95)) if ok else np.nan,
    }


HEADER = (f"{'lens':40} {'noise':>5} {'method':6} {'ok':>7} {'frames med/p90':>14} "
          f"{'moves':>5} {'cmds':>5} {'time s':>6}  {'error med/p95/max':>17}  "
          f"{'belief p95':>10}")


def row(label: str, noise: str, method: str, f: dict[str, float]) -> str:
    return (f"{label:40} {noise:>5} {method:6} {f['ok']:>3}/{f['n']:<3} "
            f"{f['frames']:6.1f}/{f['frames90']:<6.0f} {f['moves']:5.0f} {f['commands']:5.0f} "
            f"{f['seconds']:6.1f}  {f['err']:5.1f}/{f['err95']:5.1f}/{f['errmax']:5.1f}  "
            f"{f['belief95']:10.1f}")


def matrix(labs: list[Lab], count: int, starts: int, seed: int) -> dict[str, list[Trial]]:
    print(f"Autofocus on the simulator: {count} subjects spread over each range x {starts} "
          f"starts anywhere in it, per lens and noise level; AF region: the middle "
          f"{DEFAULT_ROI[2]:.0%} x {DEFAULT_ROI[3]:.0%}")
    print("error: |true position - subject| after AF, in steps (the lens's own units), over the "
          "AFs that said they succeeded; belief: |rig's position - true position|")
    print(HEADER)
    print("-" * len(HEADER))
    pooled: dict[str, list[Trial]] = {"rig": [], "seed": []}
    for lab in labs:
        for noise in NOISES:
            results = {m: run(lab, m, noise, count, starts, seed) for m in ("rig", "seed")}
            for method, trials in results.items():
                print(row(lab.label if method == "rig" else "", f"{noise:g}", method,
                          figures(trials)))
                if noise == DEFAULT_NOISE:
                    pooled[method] += trials
            ratio = figures(results["seed"])["frames"] / figures(results["rig"])["frames"]
            print(f"{'':40} {'':5} {'':6} seed/rig frames: {ratio:.1f}x")
    return pooled


def targets(pooled: dict[str, list[Trial]]) -> None:
    rig, seed = figures(pooled["rig"]), figures(pooled["seed"])
    ratio = seed["frames"] / rig["frames"]
    print(f"\nAt the default noise ({DEFAULT_NOISE:g}), all lenses together "
          f"({rig['n']} AFs each):")
    print(row("rig", f"{DEFAULT_NOISE:g}", "rig", rig))
    print(row("seed (full sweep, then refine)", f"{DEFAULT_NOISE:g}", "seed", seed))
    checks = [
        ("median frames per AF <= 20", rig["frames"] <= 20, f"{rig['frames']:.0f}"),
        ("final error median <= 2 steps", rig["err"] <= 2, f"{rig['err']:.1f}"),
        ("final error p95 <= 6 steps", rig["err95"] <= 6, f"{rig['err95']:.1f}"),
        ("at least 2.5x fewer frames than the seed's method", ratio >= 2.5, f"{ratio:.1f}x"),
        ("no worse error than the seed's method (median, p95)",
         rig["err"] <= seed["err"] and rig["err95"] <= seed["err95"],
         f"{rig['err']:.1f}/{rig['err95']:.1f} against {seed['err']:.1f}/{seed['err95']:.1f}"),
        ("every AF succeeded", rig["ok"] == rig["n"], f"{rig['ok']:.0f}/{rig['n']:.0f}"),
    ]
    print("Targets (issue 6):")
    for text, met, value in checks:
        print(f"  {'met    ' if met else 'NOT MET'} {text}: {value}")


def hard_cases(lab: Lab, count: int, starts: int, seed: int) -> None:
    print(f"\nHarder cases on {lab.profile.lens}, noise {DEFAULT_NOISE:g}:")
    print(HEADER)
    print("-" * len(HEADER))
    cases = [
        (f"drives that spread (size 2 +/-{SPREAD[2]:g}, 3 +/-{SPREAD[3]:g})", {"spread": SPREAD}),
        ("faint scene (contrast 0.15)", {"contrast": 0.15}),
        ("fainter scene (contrast 0.1)", {"contrast": 0.1}),
    ]
    for label, session in cases:
        for method in ("rig", "seed"):
            trials = run(lab, method, DEFAULT_NOISE, count, starts, seed, **session)
            print(row(label if method == "rig" else "", f"{DEFAULT_NOISE:g}", method,
                      figures(trials)))
    for noise in (DEFAULT_NOISE, 8.0):
        small = run_roi(lab, noise, count, starts, seed, SMALL_ROI)
        print(row("region 0.1 x 0.1 (measured as 0.2)", f"{noise:g}", "rig", figures(small)))
    steps = lab.cal.steps
    rng = np.random.default_rng(seed)
    print("Failures (the lens should say so and go back where it was):")
    failures = [(f"flat scene, noise {n:g}, region {r[2]:g}", lambda: float(rng.uniform(0, steps)),
                 {"contrast": 0.0, "noise": n}, r)
                for n in (1.0, DEFAULT_NOISE, 8.0) for r in (DEFAULT_ROI, SMALL_ROI)]
    failures += [
        ("subject nearer than the near stop", lambda: -float(rng.uniform(20, 80)), {}, DEFAULT_ROI),
        ("subject farther than the far stop", lambda: steps + float(rng.uniform(20, 80)), {},
         DEFAULT_ROI)]
    for label, subject_of, session, roi in failures:
        session = {"noise": DEFAULT_NOISE, **session}
        for method in ("rig", "seed"):
            if method == "seed" and roi != DEFAULT_ROI:
                continue
            body, lens = lab.session(seed, **session)
            trials = [trial(method, body, lens, subject_of(), int(rng.integers(0, steps + 1)),
                            roi) for _ in range(2 * count)]
            failed = sum(not t.ok for t in trials)
            back = sum(t.returned for t in trials if not t.ok)
            frames = np.median([t.frames for t in trials])
            reasons = sorted({t.reason.split(":")[0] for t in trials if not t.ok})
            said = f"; said: {' | '.join(reasons)}" if reasons else ""
            print(f"  {label:38} {method:5} reported {failed:2}/{len(trials)} as failed, "
                  f"lens returned {back:2}/{failed}, {frames:3.0f} frames{said}")


# ------------------------------------------------------------ the measures


def tenengrad(img: np.ndarray, roi) -> float:
    c = crop(img, roi)
    gx = 2 * (c[1:-1, 2:] - c[1:-1, :-2]) + (c[:-2, 2:] - c[:-2, :-2]) + (c[2:, 2:] - c[2:, :-2])
    gy = 2 * (c[2:, 1:-1] - c[:-2, 1:-1]) + (c[2:, :-2] - c[:-2, :-2]) + (c[2:, 2:] - c[:-2, 2:])
    return float((gx * gx + gy * gy).mean())


def normalized_variance(img: np.ndarray, roi) -> float:
    c = crop(img, roi)
    return float(c.var() / max(c.mean(), 1e-6))


def jpeg_bytes(img: np.ndarray, roi) -> float:
    buf = io.BytesIO()
    Image.fromarray(np.clip(crop(img, roi), 0, 255).astype(np.uint8)).save(buf, "JPEG",
                                                                           quality=85)
    return float(len(buf.getvalue()))


MEASURES = {
    "variance of Laplacian (rig: sharp)": focus_measure,
    "Tenengrad (Sobel)": tenengrad,
    "normalized variance": normalized_variance,
    "JPEG bytes of the region": jpeg_bytes,
    "gradients of 4x4 blocks (rig: broad)": broad_measure,
}


def measures(seed: int, subjects_n: int) -> None:
    profile = load_profile(DEFAULT_PROFILE)
    stride, spacing = 52, 5
    print(f"\nFocus measures on the simulator's scene ({profile.lens}, blur "
          f"{profile.blur_per_step:g} px/step, {DEFAULT_ROI[2]:.0%} region):")
    print("  half: steps from focus where (value - floor) falls to half its peak (floor: 200 "
          "steps out)")
    print("  noise: spread of 8 frames at one position over the peak-to-floor height, at "
          "focus / 100 steps out")
    print("  peak/floor at noise 2 and 8; coarse: V fit on a 52-step grid, |error| med/p95; "
          "fine: Gaussian over the grid's lowest value, 5 frames 5 steps apart, |error| med/p95")
    head = (f"  {'measure':38} {'half':>5} {'noise @0/@100':>15} {'peak/floor n2/n8':>17} "
            f"{'coarse n2':>10} {'coarse n8':>10} {'fine n2':>9} {'fine n8':>9}")
    print(head)
    print("  " + "-" * (len(head) - 2))
    bodies = {n: SimBody(dataclasses.replace(profile, noise=n, seed=seed), VirtualClock())
              for n in (2.0, 8.0)}

    def values(noise: float, subject: float, xs) -> dict[str, list[float]]:
        body = bodies[noise]
        body.set_subject(subject)
        out: dict[str, list[float]] = {k: [] for k in MEASURES}
        for x in xs:
            img = grey(body.render(float(x)), 320)
            for k, f in MEASURES.items():
                out[k].append(f(img, DEFAULT_ROI))
        return out

    rng = np.random.default_rng(seed)
    distances = np.arange(0, 201, 2)
    curve = {n: values(n, 200.0, 200.0 + distances) for n in (2.0, 8.0)}
    repeat = {d: values(2.0, 200.0, [200.0 + d] * 8) for d in (0, 100)}
    grid = np.arange(0, profile.steps + 1, stride)
    coarse: dict[tuple[str, float], list[float]] = {}
    fine: dict[tuple[str, float], list[float]] = {}
    for noise in (2.0, 8.0):
        for _ in range(subjects_n):
            subject = float(rng.uniform(40, profile.steps - 40))
            scan = values(noise, subject, grid)
            centre = subject + float(rng.uniform(-spacing, spacing))
            xs = [round(centre) + k * spacing for k in range(-2, 3)]
            near = values(noise, subject, xs)
            for k in MEASURES:
                coarse.setdefault((k, noise), []).append(
                    abs(v_peak(grid, np.log(np.maximum(scan[k], 1e-9))) - subject))
                fit = fit_peak(xs, near[k], min(scan[k]))
                fine.setdefault((k, noise), []).append(
                    abs(fit.center - subject) if fit is not None else np.inf)
    for k in MEASURES:
        c2 = np.asarray(curve[2.0][k])
        peak, floor = c2[0], c2[-1]
        height = peak - floor
        half = distances[np.argmax(c2 - floor < 0.5 * height)]
        noise0 = np.std(repeat[0][k]) / abs(height)
        noise100 = np.std(repeat[100][k]) / abs(height)
        c8 = np.asarray(curve[8.0][k])

        def pair(errors: list[float]) -> str:
            e = np.sort(np.asarray(errors))      # inf: no fit
            p95 = e[min(len(e) - 1, int(np.ceil(0.95 * len(e))) - 1)]
            return f"{e[len(e) // 2]:4.1f}/{p95:<5.1f}"
        print(f"  {k:38} {half:5.0f} {100 * noise0:6.1f}%/{100 * noise100:5.1f}% "
              f"{peak / floor:8.1f}/{c8[0] / c8[-1]:<8.1f} {pair(coarse[(k, 2.0)]):>10} "
              f"{pair(coarse[(k, 8.0)]):>10} {pair(fine[(k, 2.0)]):>9} {pair(fine[(k, 8.0)]):>9}")


def plot(path: Path, seed: int) -> None:
    lab = Lab("canon-ef24.toml")
    body, lens = lab.session(seed)
    lens.move_to(60)
    body.set_subject(251.3)
    result = autofocus(lens)
    path.parent.mkdir(parents=True, exist_ok=True)
    autofocus_figure(result, subject=251.3).save(path)
    print(f"{path}: subject 251.3, lens at {result.position} (true {truth_now(body):g}), "
          f"{result.frames} frames")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--subjects", type=int, default=8, help="per lens and noise level")
    parser.add_argument("--starts", type=int, default=2, help="random starts per subject")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--plot", type=Path, help="draw one AF of the default lens to this PNG "
                                                  "and stop")
    args = parser.parse_args()
    if args.plot:
        plot(args.plot, args.seed)
        return
    started = time.perf_counter()
    labs = [Lab(name) for name in LENSES]
    print(f"(calibrated {len(labs)} lenses in {time.perf_counter() - started:.0f} s)\n")
    pooled = matrix(labs, args.subjects, args.starts, args.seed)
    targets(pooled)
    hard_cases(labs[0], args.subjects, args.starts, args.seed)
    measures(args.seed, 3 * args.subjects)
    print(f"\n(AF bench took {time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
