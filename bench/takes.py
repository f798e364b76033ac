"""Takes where the scene moves: does the lens stay on its marks (issue 12)?

The whole app runs on the simulator (``rig simulate``'s harness, virtual
time), take after take.  Each take is drawn from its own seed:

* the rig boots on a lens it knows: a Canon's calibration is the
  simulator's truth as a calibration reports it (the realistic profiles'
  spread and backlash included), the other families' is measured once by
  ``rig.calibrate`` in virtual time before the takes;
* 4-8 points are rehearsed on a still scene in edit mode, as an operator
  would: the focus wheel down to the near end, then to each point, SET /
  Q to store it, UP to give it a duration (some stay "as fast as possible");
* INFO into play, Q to point 1, then the sequence played through 3 times
  with Q between the runs;
* in play, the scene changes between the pulls and during them (ramps
  started just before the press) by a random mix of ``subject``, ``pan``,
  ``dolly``, ``walk`` and ``light`` (``docs/simulator.md``); a dolly the
  profile's scene refuses is drawn again.

Profiles: every shipped one (``rig/data/profiles``), a jittery EF 24mm
(``canon-ef24-jittery``: size 2 spreads 0.4 step, size 3 2 steps, as in
``bench/drift.py``) and an EF 24mm that silently loses 3 % of its drive
commands (``canon-ef24-drops-3pc``: the simulator's ``drop``).  Each take runs twice, the same script
on the same lens: the rig as shipped (the defaults), and counting alone
(``[position] scene = "moving"``, ``rehome = false``: nothing the live view
shows moves the lens, Q never goes through the stop).

Printed per profile and way, from the simulator's truth (never asserted:
this machine is shared):

* |true - target| at the end of every move in play (the pulls and the Qs):
  median, p95 and max, steps, and the share that ends on the target's step;
* the share of play pulls whose motion ends within 3 % of the planned
  duration;
* lens motions during play that no press asked for (the harness's
  ``unasked_motions``: true motions outside every pull's and Q's execution
  and outside a homing a press asked for);
* the Qs that went through the near stop: how many ended farther from
  point 1 than 3 sigma of what the commands from the stop to point 1 can
  spread (sigma from the calibration's spread of each size, plus the
  plan's own expected landing), against how many a normal distribution
  expects beyond 3 sigma (0.27 % of them);

with the rig's p95 and max against counting alone's on the same takes.

Run: ``.venv/bin/python bench/takes.py [--takes 120] [--seed 1] [--jobs 2]``
(``--profiles`` picks profiles by name, for a quick look).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import math
import multiprocessing
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from run import spaced_calibration  # noqa: E402  (bench/run.py)

from rig.calibrate import calibrate  # noqa: E402
from rig.calibration import Calibration, parse_calibration  # noqa: E402
from rig.clock import VirtualClock  # noqa: E402
from rig.config import Config, load_config  # noqa: E402
from rig.harness import check_scene, simulate  # noqa: E402
from rig.inputs import InputError  # noqa: E402
from rig.lens import Lens  # noqa: E402
from rig.script import parse_script  # noqa: E402
from rig.sim import DEFAULT_PROFILE, PROFILES, DriveSpec, Profile, SimBody, load_profile  # noqa: E402

# The legacy EF 24mm (whole steps, no play, steps the same along the range): the lens
# this bench's variants are made of, named since the default became canon-ef24-real.
LEGACY = DEFAULT_PROFILE.parent / "canon-ef24.toml"
from rig.store import Store  # noqa: E402

JITTER = {2: 0.4, 3: 2.0}        # the jittery lens: bench/drift.py's
DROP = 0.03                      # the dropping lens: this share of drive commands lost
RUNS = 3                         # runs of the sequence in each take
BEYOND_3_SIGMA = math.erfc(3.0 / math.sqrt(2.0))   # P(|N(0,1)| > 3) = 0.0027
SHARE = 0.03                     # a pull on time: within 3 % of its planned duration

# The two ways, side by side on the same takes: TOML laid over the defaults.
SHIPPED = "rig as shipped"
COUNTING = "counting alone"
WAYS = {SHIPPED: "",
        COUNTING: '[position]\nscene = "moving"\nrehome = false\n'}


def _config(overlay: str) -> Config:
    if not overlay:
        return load_config()
    with tempfile.TemporaryDirectory(prefix="rig-takes-") as tmp:
        path = Path(tmp) / "way.toml"
        path.write_text(overlay)
        return load_config(path)


# ------------------------------------------------------------------ profiles


def jittery() -> Profile:
    base = load_profile(LEGACY)
    drive = {size: DriveSpec(spec.steps, JITTER.get(size, spec.jitter), spec.speed,
                             spec.steps_far)
             for size, spec in base.drive.items()}
    return dataclasses.replace(base, drive=drive, lens=base.lens + " (jittery)")


def dropping() -> Profile:
    base = load_profile(LEGACY)
    return dataclasses.replace(base, drop=DROP, lens=base.lens + " (drops 3 %)")


def profiles(only: list[str] | None = None) -> dict[str, Profile]:
    out = {path.stem: load_profile(path) for path in sorted(PROFILES.glob("*.toml"))}
    out["canon-ef24-jittery"] = jittery()
    out["canon-ef24-drops-3pc"] = dropping()
    if only:
        unknown = sorted(set(only) - set(out))
        if unknown:
            raise SystemExit(f"no profile {', '.join(unknown)} (profiles: {', '.join(out)})")
        out = {k: v for k, v in out.items() if k in only}
    return out


def repeats_exactly(profile: Profile) -> bool:
    """Commands that repeat exactly: whole steps, the same everywhere, no spread, none lost."""
    if profile.drop > 0 or profile.backlash > 0:
        return False
    if profile.vendor == "nikon":
        return profile.options.get("jitter", 0.0) == 0.0
    if profile.vendor == "fuji":
        return True
    return all(d.jitter == 0 and d.steps_far in (None, d.steps) and float(d.steps).is_integer()
               for d in profile.drive.values())


def calibration_of(profile: Profile) -> tuple[Calibration, str]:
    """The lens as the rig knows it when the takes begin.

    A Canon's is what a calibration finds, from the simulator's truth
    (``bench/run.py``'s :func:`spaced_calibration`: its steps at both stops,
    its spread and backlash, each size spaced as calibration spaces it), so
    that every take starts from the same lens whatever calibrating costs;
    the other families are calibrated by ``rig.calibrate`` in virtual time
    (quick on their legacy planes).
    """
    if profile.vendor == "canon":
        return spaced_calibration(profile), "the simulator's truth"
    clock = VirtualClock()
    lens = Lens(SimBody(profile, clock).session(), clock)
    lens.connect()
    try:
        return calibrate(lens), "measured by rig.calibrate"
    finally:
        lens.close()


# ------------------------------------------------------------------ takes


@dataclasses.dataclass(frozen=True)
class Take:
    seed: int
    script: str            # the session script (the same for both ways)
    points: tuple[int, ...]


def _scene_action(rng: random.Random, profile: Profile, ramp: float,
                  done: list[str]) -> str | None:
    """One random scene change this profile's scene accepts after ``done``, or None."""
    span = profile.steps
    for _ in range(12):
        kind = rng.choice(("subject", "subject", "pan", "dolly", "walk", "light"))
        if kind == "subject":
            line = f"subject {rng.uniform(0.05, 0.95) * span:.0f}"
        elif kind == "pan":
            line = f"pan {rng.choice((-1, 1)) * rng.uniform(15, 160):.0f}"
        elif kind == "dolly":
            line = f"dolly {rng.uniform(0.85, 1.2):.3f}"
        elif kind == "walk":
            line = f"walk {rng.uniform(0.8, 4.0):.1f}"
        else:
            line = f"light {rng.uniform(0.7, 1.4):.3f}"
        if ramp > 0 and kind != "walk":
            line += f" {ramp:.1f}"
        try:
            check_scene(profile, parse_script(
                "".join(f"+0 {a}\n" for a in done + [line]), "<take>"))
        except InputError:
            continue                       # refused by this scene: draw again
        done.append(line)
        return line
    return None


def _duration(rng: random.Random, lines: list[str]) -> None:
    """UP presses for the point just stored: some stay as fast as possible."""
    if rng.random() < 0.2:
        return
    tenths = rng.randint(1, 30)
    if tenths <= 3:
        lines += ["+0.3 press up"] * tenths
    else:   # held: a first step, then one every repeat_time after repeat_delay
        lines.append(f"+0.3 hold up {0.5 + (tenths - 1.5) * 0.12:.2f}")


def make_take(profile: Profile, seed: int, runs: int = RUNS) -> Take:
    rng = random.Random(seed)
    span = profile.steps
    count = rng.randint(4, 8)
    points: list[int] = []
    while len(points) < count:
        x = round(rng.uniform(0.04, 0.96) * span)
        if not points or abs(x - points[-1]) >= 0.08 * span:
            points.append(x)
    lines = ["+0 wait idle",                      # boot: home, with the lens known
             "+1 press info", "+0.6 press info",  # play -> inactive -> edit
             # the wheel down to the near end (the lens stops there), wherever it was
             f"+0.5 turn focus -{profile.start + 5}", "+0 wait idle"]
    here = 0
    for i, x in enumerate(points):
        lines += [f"+0.5 turn focus {x - here}", "+0 wait idle",
                  "+0.5 press set" if i == 0 else "+0.5 press q"]
        if i:
            _duration(rng, lines)
        lines.append("+0 wait idle")
        here = x
    lines += ["+1 press info", "+0 wait idle",                # edit -> play
              "+0.5 press q", "+0 wait idle"]                # to point 1
    done: list[str] = []
    for run in range(runs):
        for _ in range(count - 1):
            for _ in range(rng.choice((0, 1, 1, 2))):        # between the pulls
                ramp = rng.choice((0.0, 0.0, rng.uniform(0.5, 2.0)))
                action = _scene_action(rng, profile, ramp, done)
                if action:
                    lines.append(f"+{rng.uniform(0.1, 0.8):.2f} {action}")
            during = rng.random() < 0.5 and _scene_action(
                rng, profile, rng.uniform(1.0, 4.0), done)
            if during:                                       # ramping through the pull
                lines += [f"+{rng.uniform(0.2, 1.0):.2f} {during}",
                          f"+{rng.uniform(0.0, 0.3):.2f} press set"]
            else:
                lines.append(f"+{rng.uniform(0.3, 2.0):.2f} press set")
            lines.append("+0 wait idle")
        if run < runs - 1:
            if rng.random() < 0.5:
                action = _scene_action(rng, profile, 0.0, done)
                if action:
                    lines.append(f"+{rng.uniform(0.1, 0.8):.2f} {action}")
            lines += [f"+{rng.uniform(0.5, 2.0):.2f} press q", "+0 wait idle"]
    return Take(seed, "\n".join(lines) + "\n", tuple(points))


# ------------------------------------------------------------------ measure


@dataclasses.dataclass
class Result:
    errors: list[float] = dataclasses.field(default_factory=list)   # |true - target|, moves
    exact: int = 0                     # moves that ended on the target's step
    pulls: int = 0
    on_time: int = 0
    unasked: int = 0                   # lens motions no press asked for
    unasked_steps: float = 0.0
    via_stop: int = 0                  # Qs that went through the near stop
    beyond: int = 0                    # ... and ended beyond 3 sigma of their spread
    expected_beyond: float = 0.0       # what a normal distribution expects beyond 3 sigma
    problems: list[str] = dataclasses.field(default_factory=list)
    virtual_s: float = 0.0
    wall_s: float = 0.0

    def add(self, other: "Result") -> None:
        for f in dataclasses.fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))


def _spreads(lens: dict[str, Any]) -> dict[str, float]:
    return {str(d["size"]): float(d.get("jitter") or 0.0) for d in lens.get("drive", [])}


def measure(report: Any) -> Result:
    """The figures of one take, from its report.

    Every transition of a take is in play (rehearsing stores points with
    the wheel, which makes none); ``unasked_motions`` are the harness's.
    """
    r = Result(problems=list(report.errors), virtual_s=report.virtual_s)
    spreads = _spreads(report.lens)
    for m in report.transitions:
        off = abs(m["true_position"] - m["target_step"])
        r.errors.append(off)
        r.exact += m["true_step"] == m["target_step"]
        if m["kind"] == "play" and m["planned_s"] > 0:
            r.pulls += 1
            r.on_time += abs(m["actual_s"] - m["planned_s"]) <= SHARE * m["planned_s"]
        if m["kind"] == "asap" and m["to"] == 1 and m["from"] > 0 and m["start_step"] == 0:
            # a Q through the near stop: its plan runs from the stop to point 1
            sigma = math.sqrt(sum(n * spreads.get(k, 0.0) ** 2 for k, n in m["counts"].items()))
            r.via_stop += 1
            r.beyond += off > 3.0 * sigma + abs(m["expected_landing_steps"]) + 1e-6
            r.expected_beyond += BEYOND_3_SIGMA if sigma > 0 else 0.0
    for motion in report.unasked_motions:
        r.unasked += 1
        r.unasked_steps += abs(motion["x1"] - motion["x0"])
    return r


def run_take(job: tuple[str, Profile, Take, str, str]) -> tuple[str, str, Result]:
    """One take, one way: (profile's name, way, figures)."""
    name, profile, take, way, calibration = job
    # Late starts and the like show in the figures; the log would drown them.
    logging.getLogger("rig").setLevel(logging.ERROR)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="rig-take-", dir=_scratch()) as tmp:
        state = Path(tmp) / "state"
        Store(state).save_calibration(parse_calibration(json.loads(calibration)))
        actions = parse_script(take.script, f"<take {take.seed}>")
        report = simulate(profile, actions, state_dir=state, config=_config(WAYS[way]))
    result = measure(report)
    result.wall_s = time.perf_counter() - started
    return name, way, result


# ------------------------------------------------------------------ report


def _stats(errors: list[float]) -> tuple[float, float, float]:
    a = np.asarray(errors, dtype=float)
    if not len(a):
        return math.nan, math.nan, math.nan
    return float(np.median(a)), float(np.percentile(a, 95)), float(a.max())


def _ratio(a: float, b: float) -> str:
    if math.isnan(a) or math.isnan(b):
        return "   -"
    if b == 0:
        return "   =" if a == 0 else "  >1"
    return f"{a / b:4.2f}"


def show(results: dict[tuple[str, str], Result], names: list[str], exact: set[str],
         way_names: tuple[str, str], takes: dict[str, int]) -> None:
    shipped, counting = way_names
    print(f"{'profile':26} {'way':15} {'moves':>5} {'exact':>6} {'median':>6} {'p95':>6} "
          f"{'max':>6} {'p95/c':>5} {'max/c':>5} {'on time':>8} {'unasked':>8} "
          f"{'Q stop':>6} {'>3σ':>4} {'exp':>5} {'s/take':>6}")
    for name in names:
        base = results[(name, counting)]
        _, bp95, bmax = _stats(base.errors)
        for way in way_names:
            r = results[(name, way)]
            med, p95, mx = _stats(r.errors)
            moves = len(r.errors)
            label = name + (" *" if name in exact else "")
            print(f"{label if way == shipped else '':26} {way:15} {moves:5d} "
                  f"{100 * r.exact / max(moves, 1):5.1f}% {med:6.1f} {p95:6.1f} {mx:6.1f} "
                  f"{_ratio(p95, bp95):>5} {_ratio(mx, bmax):>5} "
                  f"{100 * r.on_time / max(r.pulls, 1):7.1f}% "
                  f"{r.unasked:8d} {r.via_stop:6d} {r.beyond:4d} {r.expected_beyond:5.2f} "
                  f"{r.wall_s / max(takes[name], 1):6.1f}")
    print("* commands repeat exactly (whole steps, the same everywhere, no spread, none lost)")


def totals(results: dict[tuple[str, str], Result], names: list[str], exact: set[str],
           way_names: tuple[str, str]) -> None:
    for way in way_names:
        rs = [results[(n, way)] for n in names]
        ex = [results[(n, way)] for n in names if n in exact]
        moves_ex = sum(len(r.errors) for r in ex)
        pulls = sum(r.pulls for r in rs)
        exact_share = (f"{100 * sum(r.exact for r in ex) / moves_ex:.1f} % of {moves_ex} moves "
                       "exact" if moves_ex else "none here")
        print(f"{way}: repeat-exact lenses {exact_share}; play pulls within 3 % of plan "
              f"{100 * sum(r.on_time for r in rs) / max(pulls, 1):.1f} % of {pulls}; "
              f"unasked lens motions in play {sum(r.unasked for r in rs)} "
              f"({sum(r.unasked_steps for r in rs):.0f} steps); "
              f"Qs through the stop {sum(r.via_stop for r in rs)}, beyond 3σ "
              f"{sum(r.beyond for r in rs)} (a normal distribution expects "
              f"{sum(r.expected_beyond for r in rs):.2f})")


def _scratch() -> str | None:
    """Where the takes' state goes: memory if there is some (the store fsyncs every save)."""
    return "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--takes", type=int, default=120,
                    help="takes in all, shared out among the profiles (at least one each)")
    ap.add_argument("--seed", type=int, default=1, help="the first take's seed")
    ap.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1),
                    help="processes running takes side by side")
    ap.add_argument("--profiles", nargs="*", metavar="NAME",
                    help="only these profiles (a shipped one's file name without .toml, "
                         "canon-ef24-jittery, canon-ef24-drops-3pc)")
    args = ap.parse_args()
    started = time.perf_counter()
    lenses = profiles(args.profiles)
    names = list(lenses)
    way_names = (SHIPPED, COUNTING)
    print(f"Takes on the simulator: {max(args.takes, len(names))} takes (seeds {args.seed}..), "
          f"{len(names)} profiles, each take run {SHIPPED!r} (the defaults) and {COUNTING!r} "
          f"([position] scene = \"moving\", rehome = false)")
    with multiprocessing.Pool(args.jobs) as pool:
        cals = dict(zip(names, pool.map(calibration_of, [lenses[n] for n in names])))
        measured = [n for n, c in cals.items() if c[1] != "the simulator's truth"]
        cal_json = {n: json.dumps(c[0].to_json()) for n, c in cals.items()}
        print(f"calibrations: the simulator's truth for the Canon lenses, rig.calibrate for "
              f"{', '.join(measured) or 'none'} ({time.perf_counter() - started:.0f} s)")
        jobs = []
        for i in range(max(args.takes, len(names))):
            name = names[i % len(names)]
            take = make_take(lenses[name], args.seed + i)
            for way in way_names:
                jobs.append((name, lenses[name], take, way, cal_json[name]))
        results = {(n, w): Result() for n in names for w in way_names}
        wall = 0.0
        for name, way, result in pool.imap_unordered(run_take, jobs):
            results[(name, way)].add(result)
            wall += result.wall_s
    counts = {n: sum(1 for j in jobs if j[0] == n) // 2 for n in names}
    show(results, names, {n for n in names if repeats_exactly(lenses[n])}, way_names, counts)
    totals(results, names, {n for n in names if repeats_exactly(lenses[n])}, way_names)
    problems = [p for r in results.values() for p in r.problems]
    if problems:
        print(f"errors in the runs ({len(problems)}): " + "; ".join(sorted(set(problems))[:5]))
    print("|true - target| in steps at the end of every move in play; p95/c, max/c: against "
          "counting alone on the same takes; on time: play pulls within 3 % of their planned "
          "duration; unasked: lens motions in play whose command no press asked for; Q stop: Qs "
          "that went through the near stop; >3σ: of those, how many ended beyond 3σ of what "
          "the commands from the stop to point 1 can spread (+ the plan's expected landing); "
          "exp: how many a normal distribution expects there")
    print(f"{len(jobs)} simulations, {wall:.0f} s of simulation, {time.perf_counter() - started:.0f} s "
          f"wall with {args.jobs} processes")


if __name__ == "__main__":
    main()
