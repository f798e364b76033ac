"""The probe's round trip over the lens zoo (issue 15).

For each of ``--count`` zoo profiles, drawn from seeds that start at
``--seed`` (printed, so a run can be repeated), on the simulator:

1. ``rig probe`` measures the simulated camera and writes a profile;
2. the written profile is compared with the original within the
   calibration's tolerances (rig/probetrip.py, ``LIMITS``): range 1 %, each
   size's steps near and far 5 %, backlash 1 step, latency 20 %, frame time
   10 %, the same behaviour for a request that reaches a moving lens;
3. the demo session with its points at fixed positions (the demo's
   presses and durations, the points set by the focus wheel at a quarter,
   four fifths and a half of the range: rig/probetrip.py, ``fixed_script``)
   runs on the original and on the written profile, with the same stored
   calibration and the same seed: the same moves (targets the same) and
   each transition's time within 2 % of the
   same transition's; the median landing error (true step against target)
   of each session printed beside the baseline's.  Baseline, in the same run: the same session on the
   original with the next seed, which is as close as the simulator's own
   randomness lets two runs of the *same* camera be.

The lens part comes from rig's calibration (``rig calibrate``, as
``rig probe`` runs it), so a lens the calibration mis-measures fails the
round trip on its lens rows; under each profile that fails, every row off
is listed with its figures, and each lens row says whether the written
profile holds what the calibration stored (then the calibration is the
cause) or not (then the probe's profile writer is).  A calibration that
refuses is listed with its cause.  ``--lens truth`` gives the probe the
simulator's truth instead (the lens rows then true by construction), to
look at the probe's own part alone.  Figures, never assertions.

Run: ``.venv/bin/python bench/probe_zoo.py [--count 20] [--seed 1500] [--jobs 2] [--no-demo]``
(about 40 minutes on 2 free cores for 20 profiles with the demo: rig's
calibration is most of it); part of ``make bench``.
"""

from __future__ import annotations

import argparse
import io
import logging
import statistics
import sys
import time
import traceback
from concurrent.futures import ProcessPoolExecutor
from contextlib import redirect_stderr
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rig.probetrip import (compare_sessions, landing_error, round_trip, run_demo,  # noqa: E402
                           truth_calibrate)
from rig.zoo import profile as zoo_profile  # noqa: E402


LENS_ROWS = ("range", "size", "backlash")


def one(seed: int, lens: str, demo: bool) -> dict:
    """One profile's round trip, as plain data (it crosses from a worker process)."""
    logging.disable(logging.WARNING)
    p = zoo_profile(seed)
    started = time.perf_counter()
    calibrate = truth_calibrate(p) if lens == "truth" else None
    try:
        with redirect_stderr(io.StringIO()):
            r = round_trip(p, calibrate=calibrate, demo=demo)
            base, landings = [], []
            if demo and r["session"]:
                first = r["reports"][0]
                again = run_demo(p, r["result"].calibration, seed=p.seed + 1)
                base = compare_sessions(first, again)
                landings = [landing_error(rep) for rep in (*r["reports"], again)]
    except Exception:                       # a bench counts tracebacks, and goes on
        return {"seed": seed, "lens": p.lens, "traceback": traceback.format_exc()}
    f = r["result"].findings
    errors = [list(rep.errors) for rep in r.get("reports", ())]
    cal = r["result"].calibration
    bounded = (cal.extra.get("bounded_speeds") or {}) if cal is not None else {}
    speeds = {size: (spec.speed, r["probed"].drive[size].speed, str(size) in bounded)
              for size, spec in sorted(p.drive.items()) if size in r["probed"].drive}
    return {"errors": errors, "landings": landings, "speeds": speeds,"seed": seed, "lens": p.lens, "busy": p.busy, "probed_busy": r["probed"].busy,
            "checks": r["checks"], "session": r["session"], "base": base,
            "overflows": r["overflows"], "most": r["most_outstanding"],
            "cal_error": r["result"].calibration_error,
            "cal": _stored(r["result"].calibration),
            "measured": {k: (f[k].value if hasattr(f.get(k), "value") else None)
                         for k in ("latency_ms", "preview_ms", "optics.breathing",
                                   "optics.min_focus_m")},
            "truth": {"latency_ms": p.latency_ms, "preview_ms": p.preview_ms,
                      "optics.breathing": p.optics.breathing if p.optics else None,
                      "optics.min_focus_m": p.optics.min_focus_m if p.optics else None},
            "wall": time.perf_counter() - started}


def _stored(cal) -> dict:
    """What the calibration stored, in the profile's terms (for attributing a lens row)."""
    if cal is None:
        return {}
    out = {"range (steps)": float(cal.steps), "backlash (steps)": cal.backlash}
    for d in cal.drive:
        near = d.steps if d.steps_near is None else d.steps_near
        far = near if d.steps_far is None else d.steps_far
        out[f"size {d.size} steps near"] = float(near)
        out[f"size {d.size} steps far"] = float(far)
    return out


def cause(row: dict, check) -> str:
    """Who put a row off: the calibration (the profile holds what it stored), the profile
    writer (it does not), or the probe's own measurement."""
    if not check.name.startswith(LENS_ROWS):
        return "the probe's measurement" if not check.name.startswith(("queue", "request")) \
            else "the probe's request test"
    if row["cal_error"]:
        return "the calibration (refused)"
    stored = row["cal"].get(check.name)
    if stored is None or check.probed == "not measured":
        return "not stored by the calibration"
    if abs(float(stored) - float(check.probed)) <= 0.006 + 1e-3 * abs(float(stored)):
        return f"the calibration (it stored {stored:.4g})"
    return f"the profile writer (the calibration stored {stored:.4g})"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=20)
    ap.add_argument("--seed", type=int, default=1500, help="the first zoo seed")
    ap.add_argument("--lens", choices=("calibration", "truth"), default="calibration")
    ap.add_argument("--jobs", type=int, default=2, help="profiles probed at once")
    ap.add_argument("--no-demo", action="store_true")
    args = ap.parse_args()
    logging.disable(logging.WARNING)
    seeds = list(range(args.seed, args.seed + args.count))
    print(f"probe round trip over {len(seeds)} zoo profiles, seeds {seeds[0]}..{seeds[-1]} "
          f"(bench/probe_zoo.py --seed {args.seed} --count {args.count})")
    print("lens part: " + ("rig's calibration, as rig probe runs it" if args.lens == "calibration"
                           else "the simulator's truth (--lens truth): the range, steps and "
                           "backlash rows are true by construction"))
    header = (f"{'seed':>5} {'lens':<26} {'busy':<11} {'keys':>5} {'off':<28} "
              f"{'demo':>7} {'base':>7} {'outst':>5} {'s':>5}")
    print(header, flush=True)
    rows, crashed = [], []
    with ProcessPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        for row in pool.map(one, seeds, [args.lens] * len(seeds),
                            [not args.no_demo] * len(seeds)):
            seed = row["seed"]
            if "traceback" in row:
                crashed.append((seed, row["traceback"]))
                print(f"{seed:>5} TRACEBACK: {row['traceback'].strip().splitlines()[-1]}",
                      flush=True)
                continue
            rows.append(row)
            checks = row["checks"]
            off = ",".join(c.name.split(" (")[0].replace("size ", "s").replace(" steps ", "")
                           for c in checks if not c.ok) or "-"
            busy = (f"{row['busy']}>{row['probed_busy']}" if row["busy"] != row["probed_busy"]
                    else row["busy"])
            print(f"{seed:>5} {row['lens'][:26]:<26} {busy:<11} {sum(c.ok for c in checks):>2}/"
                  f"{len(checks):<2} {off[:28]:<28} {_share(row['session']):>7} "
                  f"{_share(row['base']):>7} {row['most']:>5} {row['wall']:>5.1f}", flush=True)
            if row["cal_error"]:
                print(f"      calibration refused: {row['cal_error']}")
            for c in checks:
                if not c.ok:
                    print(f"      {c.line()}  <- {cause(row, c)}")
            if not all(c.ok for c in row["session"]):
                print("      speeds, steps/s, truth -> written: " + ", ".join(
                    f"size {k} {a:.4g} -> {b:.4g}" + (" (not timed by the calibration)"
                                                      if bounded else "")
                    for k, (a, b, bounded) in row["speeds"].items()))
            if row["landings"] and None not in row["landings"]:
                print("      median landing error, steps: original {:g}, written {:g}, "
                      "original with the next seed {:g}".format(*row["landings"]))
            for which, errors in zip(("original", "written"), row["errors"]):
                for error in errors:
                    print(f"      demo on the {which} profile: {error[:150]}")
            for c in row["session"]:
                if not c.ok:
                    print(f"      demo {c.line()}")
            for c in row["base"]:
                if not c.ok:
                    print(f"      baseline {c.line()}")
    _summary(rows)
    print(f"tracebacks: {len(crashed)}" + "".join(f"\n--- seed {s}\n{t}" for s, t in crashed))
    return 0


def _share(checks: list) -> str:
    if not checks:
        return "-"
    return f"{sum(c.ok for c in checks)}/{len(checks)}"


def _summary(rows: list[dict]) -> None:
    n = len(rows)
    print()
    if not rows:
        return
    whole = sum(all(c.ok for c in r["checks"]) for r in rows)
    print(f"profiles whose written profile matches on every key: {whole}/{n}")
    refused = [r for r in rows if r["cal_error"]]
    print(f"calibrations refused: {len(refused)}/{n}")
    names: dict[str, list[bool]] = {}
    for row in rows:
        for c in row["checks"]:
            key = c.name if not c.name.startswith("size") else c.name.split(" ", 2)[2]
            names.setdefault(key, []).append(c.ok)
    for key, oks in names.items():
        print(f"  {key:<24} {sum(oks):>3}/{len(oks)}")
    print(f"camera overflows (a queue overrun that hangs it): "
          f"{sum(r['overflows'] for r in rows)}; most requests outstanding at the camera, "
          f"the calibration's included (the simulator's count): {max(r['most'] for r in rows)}")
    for key, label in (("latency_ms", "latency error, %"), ("preview_ms", "frame time error, %"),
                       ("optics.breathing", "breathing error (share)"),
                       ("optics.min_focus_m", "closest focus error, %")):
        errors = []
        for row in rows:
            got, true = row["measured"][key], row["truth"][key]
            if got is None or true is None:
                continue
            errors.append(abs(got - true) if key == "optics.breathing"
                          else 100 * abs(got / true - 1))
        if errors:
            print(f"  {label:<28} median {statistics.median(errors):.3g}, worst "
                  f"{max(errors):.3g} ({len(errors)}/{n} measured)")
    sessions = [r for r in rows if r["session"]]
    if sessions:
        ok = sum(c.ok for r in sessions for c in r["session"])
        total = sum(len(r["session"]) for r in sessions)
        bok = sum(c.ok for r in sessions for c in r["base"])
        btotal = sum(len(r["base"]) for r in sessions)
        whole_demo = sum(all(c.ok for c in r["session"]) for r in sessions)
        print(f"demo with fixed points, written profile against the original (same seed): "
              f"{ok}/{total} checks, {whole_demo}/{len(sessions)} sessions whole")
        print(f"demo, baseline: the original against itself with the next seed: "
              f"{bok}/{btotal} checks, "
              f"{sum(all(c.ok for c in r['base']) for r in sessions)}/{len(sessions)} "
              "sessions whole")
        for i, label in enumerate(("original", "written profile", "original, next seed")):
            values = [r["landings"][i] for r in sessions
                      if r["landings"] and r["landings"][i] is not None]
            if values:
                print(f"  median landing error on the {label}: median over profiles "
                      f"{statistics.median(values):g} steps, worst {max(values):g}")
        times = [abs(c.probed / c.original - 1) * 100 for r in sessions for c in r["session"]
                 if c.name.endswith("time (s)") and c.limit.startswith("within")]
        if times:
            print(f"  transition time, written against original: median "
                  f"{statistics.median(times):.2f} %, worst {max(times):.2f} % "
                  f"({len(times)} transitions)")
    walls = [r["wall"] for r in rows]
    print(f"wall time per profile: median {statistics.median(walls):.1f} s, "
          f"total {sum(walls):.0f} s")


if __name__ == "__main__":
    sys.exit(main())
