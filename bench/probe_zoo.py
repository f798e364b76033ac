"""The probe's round trip over the lens zoo (issue 15).

For each of ``--count`` zoo profiles, drawn from seeds that start at
``--seed`` (printed, so a run can be repeated), on the simulator:

1. ``rig probe`` measures the simulated camera and writes a profile;
2. the written profile is compared with the original within the
   calibration's tolerances (rig/probetrip.py, ``LIMITS``): range 1 %, each
   size's steps near and far 5 %, backlash 1 step, latency 20 %, frame time
   10 %, the same behaviour for a request that reaches a moving lens;
3. the demo session (rig/data/demo.rig) runs on the original and on the
   written profile, with the same stored calibration and the same seed:
   the same moves (targets the same, landings within a step) and timings
   within 2 %.  Baseline, in the same run: the demo on the original with
   the next seed, which is as close as the simulator's own randomness lets
   two runs of the *same* camera be.

The lens part comes from rig's calibration once the calibration that
measures the realistic lens has landed (rig/calview.py); until then from
the simulator's truth (``--lens truth``), which makes the lens figures
true by construction: the table says which.  Figures, never assertions.

Run: ``.venv/bin/python bench/probe_zoo.py [--count 20] [--seed 1500] [--no-demo]``
(about 8 minutes on 2 cores for 20 profiles with the demo); part of ``make bench``.
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import logging
import statistics
import sys
import time
import traceback
from contextlib import redirect_stderr
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rig.probetrip import compare_sessions, round_trip, run_demo, truth_calibrate  # noqa: E402
from rig.zoo import profile as zoo_profile  # noqa: E402


def new_calibration() -> bool:
    """Whether rig calibrate uses the calibration that measures the realistic lens."""
    import rig.calibrate
    return (importlib.util.find_spec("rig.calview") is not None
            and "calview" in Path(rig.calibrate.__file__).read_text())


def one(seed: int, lens: str, demo: bool) -> dict:
    p = zoo_profile(seed)
    started = time.perf_counter()
    calibrate = truth_calibrate(p) if lens == "truth" else None
    with redirect_stderr(io.StringIO()):
        r = round_trip(p, calibrate=calibrate, demo=demo)
        base = []
        if demo and r["session"]:
            first = r["reports"][0]
            base = compare_sessions(first, run_demo(p, r["result"].calibration,
                                                    seed=p.seed + 1))
    return {"seed": seed, "profile": p, "r": r, "base": base,
            "wall": time.perf_counter() - started}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=20)
    ap.add_argument("--seed", type=int, default=1500, help="the first zoo seed")
    ap.add_argument("--lens", choices=("auto", "truth", "calibration"), default="auto")
    ap.add_argument("--no-demo", action="store_true")
    args = ap.parse_args()
    logging.disable(logging.WARNING)
    lens = args.lens if args.lens != "auto" else ("calibration" if new_calibration()
                                                  else "truth")
    seeds = list(range(args.seed, args.seed + args.count))
    print(f"probe round trip over {len(seeds)} zoo profiles, seeds {seeds[0]}..{seeds[-1]} "
          f"(bench/probe_zoo.py --seed {args.seed} --count {args.count})")
    print("lens part: " + ("rig's calibration" if lens == "calibration" else
                           "the simulator's truth (the new calibration has not landed): the "
                           "range, steps and backlash rows are true by construction"))
    header = (f"{'seed':>5} {'lens':<26} {'busy':<11} {'keys':>5} {'off':<28} "
              f"{'demo':>7} {'base':>7} {'outst':>5} {'s':>5}")
    print(header)
    rows = []
    crashed = []
    for seed in seeds:
        try:
            row = one(seed, lens, not args.no_demo)
        except Exception:                       # a bench counts tracebacks, and goes on
            crashed.append((seed, traceback.format_exc()))
            print(f"{seed:>5} TRACEBACK: {crashed[-1][1].strip().splitlines()[-1]}",
                  flush=True)
            continue
        rows.append(row)
        r, p = row["r"], row["profile"]
        checks = r["checks"]
        off = ",".join(c.name.split(" (")[0].replace("size ", "s").replace(" steps ", "")
                       for c in checks if not c.ok) or "-"
        busy = f"{p.busy}>{r['probed'].busy}" if p.busy != r["probed"].busy else p.busy
        demo = _share(r["session"])
        base = _share(row["base"])
        most = r["result"].findings["most_outstanding"].value
        print(f"{seed:>5} {p.lens[:26]:<26} {busy:<11} {sum(c.ok for c in checks):>2}/"
              f"{len(checks):<2} {off[:28]:<28} {demo:>7} {base:>7} {most:>5} "
              f"{row['wall']:>5.1f}", flush=True)
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
    whole = sum(all(c.ok for c in r["r"]["checks"]) for r in rows)
    print(f"profiles whose written profile matches on every key: {whole}/{n}")
    names: dict[str, list[bool]] = {}
    for row in rows:
        for c in row["r"]["checks"]:
            key = c.name if not c.name.startswith("size") else c.name.split(" ", 2)[2]
            names.setdefault(key, []).append(c.ok)
    for key, oks in names.items():
        print(f"  {key:<24} {sum(oks):>3}/{len(oks)}")
    print(f"camera overflows (a queue overrun that hangs it): "
          f"{sum(r['r']['overflows'] for r in rows)}; most requests outstanding: "
          f"{max(r['r']['result'].findings['most_outstanding'].value for r in rows)}")
    measured = [r["r"]["result"].findings for r in rows]
    for key, label, truth in (
            ("latency_ms", "latency error, %", lambda p: p.latency_ms),
            ("preview_ms", "frame time error, %", lambda p: p.preview_ms),
            ("optics.breathing", "breathing error (share)", None),
            ("optics.min_focus_m", "closest focus error, %", None)):
        errors = []
        for row, f in zip(rows, measured):
            e, p = f.get(key), row["profile"]
            if not hasattr(e, "value"):
                continue
            if key == "optics.breathing":
                errors.append(abs(e.value - p.optics.breathing))
            elif key == "optics.min_focus_m":
                errors.append(100 * abs(e.value / p.optics.min_focus_m - 1))
            else:
                errors.append(100 * abs(e.value / truth(p) - 1))
        if errors:
            print(f"  {label:<28} median {statistics.median(errors):.3g}, worst "
                  f"{max(errors):.3g} ({len(errors)}/{n} measured)")
    sessions = [r for r in rows if r["r"]["session"]]
    if sessions:
        ok = sum(c.ok for r in sessions for c in r["r"]["session"])
        total = sum(len(r["r"]["session"]) for r in sessions)
        bok = sum(c.ok for r in sessions for c in r["base"])
        btotal = sum(len(r["base"]) for r in sessions)
        whole_demo = sum(all(c.ok for c in r["r"]["session"]) for r in sessions)
        print(f"demo, written profile against the original (same seed): {ok}/{total} checks, "
              f"{whole_demo}/{len(sessions)} sessions whole")
        print(f"demo, baseline: the original against itself with the next seed: "
              f"{bok}/{btotal} checks, "
              f"{sum(all(c.ok for c in r['base']) for r in sessions)}/{len(sessions)} "
              "sessions whole")
    walls = [r["wall"] for r in rows]
    print(f"wall time per profile: median {statistics.median(walls):.1f} s, "
          f"total {sum(walls):.0f} s")


if __name__ == "__main__":
    sys.exit(main())
