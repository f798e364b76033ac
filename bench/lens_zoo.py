"""The lens zoo: ``rig calibrate`` on set-ups drawn from the whole realistic space (issue 13).

Every lens a user calibrates is one we never tuned for.  This draws ``--n``
set-ups from the zoo (:func:`rig.zoo.draw`, seeds ``--seed`` onwards:
14-200 mm lenses at f/1.4-5.6 with their closest focus, 300-1,400 steps,
size ratios like 1:4:26 to 1:6.4:46, steps at the far stop within +-13 %,
backlash 0-5, up to 1.5 steps of spread on size 3, 15-60 ms latency, bodies
that queue, drop or refuse a command sent to a moving lens, 70-130 ms
frames, a detailed subject within about 3x the closest focus plus a metre
before a background, noise 1-4, flicker up to 3 %, breathing up to 8 %),
writes each as a TOML profile, and calibrates it with ``rig calibrate
--camera sim:PROFILE --json`` (:func:`rig.cli.main`, the entry point users
run, so what is measured is what ships), each in its own process with a
wall-clock ``--timeout`` (a calibration that runs past it is reported as a
hang).

Each outcome is judged against the simulator's truth (:func:`judge`):

* **recovered**: saved, with the range within 1 %, every size's
  ``steps_near`` and ``steps_far`` within 5 %, and the backlash within one
  step.  A quantity the calibration does not measure (no ``steps_near`` /
  ``steps_far``, no ``backlash``) is not recovered: such a result counts as
  *saved, incomplete* when what it does give is right (its mean ``steps``
  within 5 % of the truth's mean), and the report names what is missing;
* **wrong calibration saved**: saved, and something it gives is off;
* **refused**, by cause: the ``cause`` of the error where it has one, else
  read from the message's words (:func:`cause_of`).  A zoo lens is on AF,
  its camera works (unless the calibration overran the camera's queue and
  hung it: the simulator knows), its subject is detailed, in focus range and
  still, and a command sent after the lens stopped always runs, so a refusal
  for ``mf``, ``camera``, ``detail``, ``focus``, ``scene`` or ``timing``
  names a false cause; ``precision`` (could not measure well enough) and
  ``check`` (the result failed its own check) are honest;
* **traceback**: any other exception, or a refusal with cause ``internal``
  (rig/calibrate.py's name for an exception of its own); **hang**: no result within the timeout.

The time is the camera's (virtual) time from connecting to the end,
median and p90 over the calibrations saved, overall and for lenses up to
1,000 steps.

The previous calibration runs on the same set-ups with the same seeds, side
by side: rig/ at ``--previous`` (main at 0095f88, before issue 13's
calibration work) read with ``git archive`` into a temporary directory and
run with PYTHONPATH there (its simulator too).  When that rig/ is the same
as the working tree's, one run serves both columns.  Figures, never
assertions (this is a benchmark).

Run: ``.venv/bin/python bench/lens_zoo.py [--n 100] [--seed 1] [--jobs 2]
[--timeout 1200]``; part of ``make bench``.  A refused or failed
calibration takes seconds of wall time, a whole one (8-25 minutes of the
camera's time at 70-130 ms a frame) a minute or two.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import subprocess
import signal
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PREVIOUS_REV = "0095f88"
TOLERANCE = {"range": 0.01, "steps": 0.05, "backlash": 1.0}
SHORT_LENS = 1000          # the time target is for lenses up to this many steps

# What a zoo set-up makes true or false, per refusal cause (see the docstring).
FALSE_CAUSES = {
    "mf": "the lens is on AF and moves",
    "detail": "the subject is detailed",
    "focus": "the subject is within the focus range",
    "scene": "the scene and the camera stand still",
    "timing": "a command sent after the lens stopped always runs",
    "input": "the profile is valid",
}
HONEST_CAUSES = {
    "precision": "could not measure well enough: says so",
    "check": "the result failed its own check: says so",
}
# "camera": false unless the simulator's camera really stopped answering.

# Message words to a cause, for an error without a ``cause`` (first match wins).
CAUSE_WORDS = (
    ("mf", ("lens switch", "on af", "does not move", "barely move", "did not move",
            "focus-by-wire", "barely moved")),
    ("detail", ("detail",)),
    ("camera", ("camera stopped", "does not answer", "not answering", "froze",
                "offers no focus drive", "camera is gone", "no camera")),
    ("timing", ("never all executed", "reliably at any spacing")),
    ("check", ("check",)),
    ("precision", ("precision", "precisely", "not known well")),
    ("focus", ("subject", "in focus range", "sharpest")),
    ("scene", ("still", "kept changing", "lost the lens", "do not add up", "far stop",
               "near stop", "disagrees")),
)


# ------------------------------------------------------------------ judging


def truth_of(values: dict[str, Any]) -> dict[str, Any]:
    """What a calibration of the zoo profile ``values`` should find (size-1 steps)."""
    drive = {}
    for key, spec in values["drive"].items():
        near = float(spec["steps"])
        far = float(spec.get("steps_far", near))
        drive[int(key)] = (near, far)
    return {"range": int(values["steps"]), "drive": drive,
            "backlash": float(values.get("backlash", 0.0)), "busy": values.get("busy", "drop")}


def cause_of(message: str, cause: str | None = None) -> tuple[str, str]:
    """The refusal's cause and where it came from ("attribute" or "words")."""
    if cause:
        return str(cause), "attribute"
    text = message.lower()
    for name, words in CAUSE_WORDS:
        if any(w in text for w in words):
            return name, "words"
    return "unclassified", "words"


def _off(name: str, truth: float, got: float, share: float) -> str | None:
    if abs(got - truth) <= share * abs(truth) + 1e-9:
        return None
    return f"{name} {got:.4g} (truth {truth:.4g}, {100 * (got / truth - 1):+.1f} %)"


def compare(cal: dict[str, Any], truth: dict[str, Any]) -> tuple[list[str], list[str]]:
    """A saved calibration against the truth: (what is off, what is missing)."""
    off: list[str] = []
    missing: list[str] = []
    steps = cal.get("steps")
    if not isinstance(steps, (int, float)):
        missing.append("range")
    elif (m := _off("range", truth["range"], float(steps), TOLERANCE["range"])):
        off.append(m)
    drives = {int(d["size"]): d for d in cal.get("drive", []) if isinstance(d, dict)
              and "size" in d}
    for size, (near, far) in sorted(truth["drive"].items()):
        d = drives.get(size)
        if d is None:
            missing.append(f"size {size}")
            continue
        if size == 1 and near == far == 1.0 and "steps_near" not in d and "steps_far" not in d:
            continue                      # the unit of position: one step everywhere
        ends = [(key, d.get(key), want) for key, want in (("steps_near", near),
                                                           ("steps_far", far))]
        if any(v is None for _, v, _ in ends):
            missing.append(f"size {size} " + "/".join(k for k, v, _ in ends if v is None))
            if "steps" in d:              # what it does give: the mean step
                m = _off(f"size {size} steps", 0.5 * (near + far), float(d["steps"]),
                         TOLERANCE["steps"])
                if m:
                    off.append(m + " (mean)")
        for key, value, want in ends:
            if value is not None and (m := _off(f"size {size} {key}", want, float(value),
                                                TOLERANCE["steps"])):
                off.append(m)
    backlash = cal.get("backlash")
    if backlash is None:
        missing.append("backlash")
    elif abs(float(backlash) - truth["backlash"]) > TOLERANCE["backlash"]:
        off.append(f"backlash {float(backlash):.2f} (truth {truth['backlash']:.2f})")
    return off, missing


@dataclass
class Verdict:
    kind: str            # recovered, incomplete, wrong, refused, traceback, hang, no result
    detail: str = ""
    off: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    cause: str = ""
    cause_from: str = ""
    cause_true: bool | None = None
    virtual_s: float | None = None

    @property
    def saved(self) -> bool:
        return self.kind in ("recovered", "incomplete", "wrong")


def judge(outcome: dict[str, Any], truth: dict[str, Any]) -> Verdict:
    """One calibration's outcome (what :func:`worker` wrote) against the truth."""
    t = outcome.get("virtual_s")
    status = outcome.get("status")
    if status == "hang":
        return Verdict("hang", f"no result after {outcome.get('wall_s', 0):.0f} s of wall time",
                       virtual_s=None)
    if status == "traceback":
        return Verdict("traceback", outcome.get("error", "").strip().splitlines()[-1:][0]
                       if outcome.get("error") else "?", virtual_s=t)
    if status == "refused":
        message = outcome.get("message", "")
        cause, source = cause_of(message, outcome.get("cause"))
        if cause == "internal":
            # rig/calibrate.py turns an exception of its own into this refusal: a fault
            # in the calibration, counted with the tracebacks (the log has the trace)
            return Verdict("traceback", f"refused as internal: {message}", virtual_s=t)
        if cause == "camera":
            true = bool(outcome.get("camera_hung"))
            why = ("the camera did stop answering (a queue overrun)" if true
                   else "the camera works")
        elif cause in FALSE_CAUSES:
            true, why = False, FALSE_CAUSES[cause]
        elif cause in HONEST_CAUSES:
            true, why = True, HONEST_CAUSES[cause]
        else:
            true, why = None, "not judged"
        return Verdict("refused", f"{message} [{why}]", cause=cause, cause_from=source,
                       cause_true=true, virtual_s=t)
    cal = outcome.get("calibration")
    if status != "saved" or not isinstance(cal, dict):
        return Verdict("no result", outcome.get("message", "") or f"status {status!r}",
                       virtual_s=t)
    off, missing = compare(cal, truth)
    if off:
        return Verdict("wrong", "; ".join(off + [f"missing {m}" for m in missing]), off,
                       missing, virtual_s=t)
    if missing:
        return Verdict("incomplete", "does not measure " + ", ".join(missing), off, missing,
                       virtual_s=t)
    return Verdict("recovered", "", virtual_s=t)


# ------------------------------------------------------------------ one calibration


def worker(profile: str, state: str, out: str, method: str = "") -> None:
    """In a subprocess, with PYTHONPATH at the rig/ under test: ``rig calibrate`` on the
    simulated profile, and what became of it (saved, refused, traceback) as JSON in ``out``.

    It runs :func:`rig.cli.main` itself; it only watches: the clock and the body
    the command makes (for the camera's time and whether its queue overran), and
    the exception :func:`rig.cli.cmd_calibrate` raised (for its ``cause``).
    """
    import contextlib
    import io
    import traceback

    import rig.cli
    import rig.clock
    import rig.sim
    from rig.lens import LensError

    clocks: list[Any] = []
    bodies: list[Any] = []
    errors: list[BaseException] = []

    class WatchedClock(rig.clock.VirtualClock):
        def __init__(self, *a: Any, **k: Any) -> None:
            super().__init__(*a, **k)
            clocks.append(self)

    class WatchedBody(rig.sim.SimBody):
        def __init__(self, *a: Any, **k: Any) -> None:
            super().__init__(*a, **k)
            bodies.append(self)

    calibrate_command = rig.cli.cmd_calibrate

    def watched(args: Any) -> int:
        try:
            return calibrate_command(args)
        except BaseException as exc:
            errors.append(exc)
            raise

    rig.clock.VirtualClock = WatchedClock
    rig.sim.SimBody = WatchedBody
    rig.cli.cmd_calibrate = watched

    result: dict[str, Any] = {}
    stdout, stderr = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            rc = rig.cli.main(["calibrate", "--camera", f"sim:{profile}", "--json",
                               "--state-dir", state]
                              + (["--method", method] if method else []))
        result["rc"] = rc
    except BaseException:                 # escaped main: a traceback for the user
        result.update(status="traceback", error=traceback.format_exc())
    saved = sorted((Path(state) / "lenses").glob("*.json"))
    if "status" not in result:
        exc = errors[-1] if errors else None
        if result["rc"] == 0 and saved:
            result.update(status="saved", calibration=json.loads(saved[-1].read_text()))
        elif exc is not None and isinstance(exc, LensError):
            result.update(status="refused", message=str(exc), error_type=type(exc).__name__,
                          cause=_plain(getattr(exc, "cause", None)))
        elif exc is not None:
            result.update(status="refused", message=str(exc), error_type=type(exc).__name__,
                          cause="input" if type(exc).__name__ == "InputError" else None)
        elif (said := _refusal_said(stderr.getvalue())) is not None:
            # rig calibrate caught its own CalibrationError and said so (exit 1)
            result.update(status="refused", message=said[1], cause=said[0])
        else:
            tail = stderr.getvalue().strip().splitlines()[-1:]
            result.update(status="no result", message=f"exit {result['rc']}, "
                                                      f"{len(saved)} saved; {tail}")
    clock = clocks[0] if clocks else (bodies[0].clock if bodies else None)
    result["virtual_s"] = clock.now() if clock is not None else None
    if bodies:
        result["camera_hung"] = bool(getattr(bodies[0], "hung", False)
                                     or getattr(bodies[0].truth, "overflows", 0))
    result["stderr_tail"] = stderr.getvalue()[-2000:]
    Path(out).write_text(json.dumps(result, default=str))


REFUSAL_LINE = re.compile(r"^rig: calibration refused \(cause: (\w+)\): (.*)$", re.M)


def _refusal_said(stderr: str) -> tuple[str, str] | None:
    """(cause, message) of the refusal ``rig calibrate`` printed, if it printed one."""
    found = REFUSAL_LINE.findall(stderr)
    return (found[-1][0], found[-1][1]) if found else None


def _plain(cause: Any) -> str | None:
    """A cause as text (an enum's value, a string), None when there is none."""
    if cause is None:
        return None
    return str(getattr(cause, "value", cause))


_RUNNING: set[subprocess.Popen] = set()     # the calibrations under way (to stop them)
_LOCK = threading.Lock()
_STOP = threading.Event()


def run_one(tree: Path, profile: Path, timeout: float, method: str = "") -> dict[str, Any]:
    """One calibration in its own process, rig/ from ``tree`` (``method``: ``rig calibrate
    --method``, none when empty)."""
    if _STOP.is_set():
        return {"status": "stopped"}
    with tempfile.TemporaryDirectory(prefix="lens_zoo-") as tmp:
        out = Path(tmp) / "result.json"
        env = dict(os.environ, PYTHONPATH=str(tree), XDG_STATE_HOME=str(Path(tmp) / "xdg"))
        env.pop("STATE_DIRECTORY", None)
        command = [sys.executable, str(Path(__file__).resolve()), "--worker", str(profile),
                   str(Path(tmp) / "state"), str(out)] + ([method] if method else [])
        started = time.perf_counter()
        child = subprocess.Popen(command, env=env, cwd=tmp, stdin=subprocess.DEVNULL,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        with _LOCK:
            _RUNNING.add(child)
        try:
            _, stderr = child.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            child.kill()
            child.communicate()
            return {"status": "hang", "wall_s": time.perf_counter() - started}
        finally:
            with _LOCK:
                _RUNNING.discard(child)
        wall = time.perf_counter() - started
        if _STOP.is_set() and child.returncode != 0:
            return {"status": "stopped"}
        if not out.exists():
            return {"status": "traceback", "wall_s": wall,
                    "error": (stderr or f"the worker exited {child.returncode}")[-3000:]}
        result = json.loads(out.read_text())
        result["wall_s"] = wall
        return result


def stop_all() -> None:
    """Stop every calibration under way (Ctrl-C, SIGTERM): the report covers those done."""
    _STOP.set()
    with _LOCK:
        for child in list(_RUNNING):
            child.kill()


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


# ------------------------------------------------------------------ the two trees


def _tree_digest(rig_dir: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(rig_dir.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            h.update(str(path.relative_to(rig_dir)).encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


def previous_tree(rev: str, into: Path) -> Path | None:
    """rig/ at ``rev``, extracted under ``into`` (None when git cannot give it)."""
    try:
        archive = subprocess.run(["git", "archive", rev, "rig"], cwd=ROOT,
                                 capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True,
                       capture_output=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return into if (into / "rig" / "cli.py").exists() else None


# ------------------------------------------------------------------ the report


def _quantile(values: list[float], q: float) -> float:
    import numpy as np
    return float(np.percentile(values, q))


def _times(verdicts: list[Verdict], saved: bool = True) -> str:
    t = [v.virtual_s for v in verdicts if (v.saved or not saved) and v.virtual_s is not None]
    if not t:
        return "-"
    return f"{_quantile(t, 50) / 60:.1f} / {_quantile(t, 90) / 60:.1f} min ({len(t)})"


def summary(verdicts: list[Verdict], steps: list[int]) -> list[tuple[str, str]]:
    """The report's rows for one version: (figure, value)."""
    n = len(verdicts)

    def count(kind: str) -> str:
        k = sum(v.kind == kind for v in verdicts)
        return f"{k}/{n} ({100 * k / n:.0f} %)" if n else "-"

    refused = [v for v in verdicts if v.kind == "refused"]
    rows = [("set-ups", str(n)),
            ("recovered", count("recovered")),
            ("saved, incomplete", count("incomplete")),
            ("wrong calibrations saved", count("wrong")),
            ("refused", count("refused")),
            ("  reason true", str(sum(v.cause_true is True for v in refused))),
            ("  reason false", str(sum(v.cause_true is False for v in refused))),
            ("  reason not judged", str(sum(v.cause_true is None for v in refused)))]
    for cause in sorted({v.cause for v in refused}):
        these = [v for v in refused if v.cause == cause]
        false = sum(v.cause_true is False for v in these)
        rows.append((f"  {cause}", f"{len(these)} ({false} false)"))
    missing: dict[str, int] = {}
    for v in verdicts:
        for m in v.missing:
            key = re.sub(r"size \d+ ", "", m)
            missing[key] = missing.get(key, 0) + 1
    rows += [("tracebacks", str(sum(v.kind == "traceback" for v in verdicts))),
             ("hangs (timeout)", str(sum(v.kind == "hang" for v in verdicts))),
             ("no result", str(sum(v.kind == "no result" for v in verdicts)))]
    if missing:
        rows.append(("not measured", ", ".join(f"{k} ({c})" for k, c in sorted(missing.items()))))
    rows.append(("time saved, median / p90", _times(verdicts)))
    short = [v for v, s in zip(verdicts, steps) if s <= SHORT_LENS]
    rows.append((f"  lenses <= {SHORT_LENS} steps", _times(short)))
    rows.append(("time to any end, median / p90", _times(verdicts, saved=False)))
    return rows


def table(columns: dict[str, list[tuple[str, str]]]) -> str:
    """The versions' figures side by side, one row per figure."""
    names = list(columns)
    figures: list[str] = []
    for name in names:                    # a figure only one column has goes after its neighbour
        before = -1
        for f, _ in columns[name]:
            if f not in figures:
                figures.insert(before + 1, f)
            before = figures.index(f)
    values = {name: dict(rows) for name, rows in columns.items()}
    width = max(len(f) for f in figures) + 2
    cells = [max(len(n), *(len(values[n].get(f, "-")) for f in figures)) + 2 for n in names]
    lines = [" " * width + "".join(f"{n:<{c}}" for n, c in zip(names, cells))]
    for f in figures:
        lines.append(f"{f:<{width}}" + "".join(f"{values[n].get(f, '-'):<{c}}"
                                               for n, c in zip(names, cells)))
    return "\n".join(lines)


def _short(v: Verdict) -> str:
    if v.kind == "refused":
        truth = {True: "true", False: "FALSE", None: "?"}[v.cause_true]
        return f"refused {v.cause} ({truth})"
    if v.kind == "recovered":
        return "recovered"
    return v.kind


# ------------------------------------------------------------------ main


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100, help="set-ups (zoo lenses)")
    ap.add_argument("--seed", type=int, default=1, help="the first zoo seed")
    ap.add_argument("--jobs", type=int, default=2, help="calibrations at once")
    ap.add_argument("--timeout", type=float, default=1200.0,
                    help="wall seconds one calibration may take before it counts as a hang")
    ap.add_argument("--previous", default=PREVIOUS_REV,
                    help="the git revision whose rig/ is the previous calibration ('' for none)")
    ap.add_argument("--method", action="append", choices=("liveview", "stops"),
                    help="calibrate the working tree with this method (rig calibrate "
                         "--method), one column each; repeat for several (then no "
                         "previous column); default: the tree's own default")
    args = ap.parse_args(argv)
    if args.n < 1 or args.jobs < 1 or args.timeout <= 0:
        ap.error("--n and --jobs must be >= 1, --timeout > 0")
    sys.path.insert(0, str(ROOT))
    from rig.zoo import draw, dump

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="lens_zoo-") as tmp:
        tmpdir = Path(tmp)
        trees: dict[str, Path] = {"now": ROOT}
        same = False
        note = ""
        methods: dict[str, str] = {"now": ""}
        if args.method:
            methods = {f"now --method {m}": m for m in dict.fromkeys(args.method)}
            trees = {name: ROOT for name in methods}
        if args.previous and len(methods) == 1:
            if args.method:
                methods = {"now": args.method[0]}
                trees = {"now": ROOT}
            (tmpdir / "previous").mkdir()
            old = previous_tree(args.previous, tmpdir / "previous")
            if old is None:
                note = f"previous ({args.previous}): unavailable (git archive failed)"
            else:
                same = (_tree_digest(old / "rig") == _tree_digest(ROOT / "rig")
                        and not methods["now"])
                trees = {f"previous {args.previous}": old, "now": ROOT}
                if same:
                    note = (f"the working tree's rig/ is the same as {args.previous}'s: "
                            "one run serves both columns")
        seeds = list(range(args.seed, args.seed + args.n))
        setups = {}
        for seed in seeds:
            values = draw(seed)
            path = tmpdir / f"zoo-{seed}.toml"
            path.write_text(dump(values))
            setups[seed] = values
        runs = [name for name in trees if not (same and name != "now")]
        print(f"lens zoo: {args.n} set-ups, seeds {seeds[0]}..{seeds[-1]}, "
              f"{len(runs)} calibration(s) each, {args.jobs} at once, timeout "
              f"{args.timeout:g} s (bench/lens_zoo.py --n {args.n} --seed {args.seed})")
        if note:
            print(note)
        lead = len(str(len(seeds))) + 6          # "[  1/100]"
        print(f"{'':>{lead}}{'seed':>6} {'lens':<28} {'steps':>5} {'busy':<5}  "
              + "  ".join(f"{name:<34}" for name in trees), flush=True)
        verdicts: dict[str, list[Verdict]] = {name: [] for name in trees}
        outcomes: dict[str, list[dict[str, Any]]] = {name: [] for name in trees}
        signal.signal(signal.SIGINT, _interrupt)     # also when started in the background
        signal.signal(signal.SIGTERM, _interrupt)
        pool = ThreadPoolExecutor(max_workers=args.jobs)
        futures = {(name, seed): pool.submit(run_one, trees[name],
                                             tmpdir / f"zoo-{seed}.toml", args.timeout,
                                             methods.get(name, ""))
                   for seed in seeds for name in runs}
        done = 0
        try:
            for i, seed in enumerate(seeds, start=1):
                values = setups[seed]
                truth = truth_of(values)
                results = [futures[("now" if same else name, seed)].result() for name in trees]
                cells = []
                for name, outcome in zip(trees, results):
                    v = judge(outcome, truth)
                    verdicts[name].append(v)
                    outcomes[name].append(outcome)
                    t = f"{v.virtual_s / 60:.1f} min" if v.virtual_s is not None else "-"
                    cells.append(f"{_short(v)[:22]:<22} {t:>7} {outcome.get('wall_s', 0):>3.0f}s")
                done = i
                lens = values["lens"].split(" #")[0].replace("Zoo ", "")
                print(f"[{i:>3}/{len(seeds)}]{seed:>6} {lens:<28} {values['steps']:>5} "
                      f"{values['busy']:<5}  " + "  ".join(cells), flush=True)
        except KeyboardInterrupt:
            stop_all()
            print(f"\nstopped after {done} of {len(seeds)} set-ups: the report covers those "
                  f"(seeds {seeds[0]}..{seeds[0] + done - 1})", flush=True)
            for name in trees:
                del verdicts[name][done:], outcomes[name][done:]
            seeds = seeds[:done]
        finally:
            if done < len(seeds):             # anything else went wrong: leave nothing running
                stop_all()
            pool.shutdown(wait=True, cancel_futures=True)
        stopped = _STOP.is_set()
        if not seeds:
            return 130
    steps = [int(setups[s]["steps"]) for s in seeds]
    print()
    print(table({name: summary(v, steps) for name, v in verdicts.items()}))
    print("\n(time: the camera's virtual time from connecting to the end, over the calibrations "
          "saved (their count in brackets), then over all that ended; "
          f"recovered: range 1 %, steps near/far 5 %, backlash {TOLERANCE['backlash']:g} step)")
    for name, vs in verdicts.items():
        if same and name != "now":
            continue
        failures = [(seed, v) for seed, v in zip(seeds, vs) if v.kind != "recovered"]
        print(f"\nfailures, {name}" + (" (and previous: the same code)" if same else "")
              + f": {len(failures)}")
        for seed, v in failures:
            source = f", cause from its {v.cause_from}" if v.kind == "refused" else ""
            print(f"  seed {seed:>5} ({setups[seed]['lens'].split(' #')[0]}, "
                  f"{setups[seed]['steps']} steps, {setups[seed]['busy']}): "
                  f"{_short(v)}{source}: {v.detail}")
    for name, outs in outcomes.items():
        for seed, o in zip(seeds, outs):
            if o.get("status") == "traceback" and not (same and name != "now"):
                print(f"\n--- traceback, {name}, seed {seed}\n{o.get('error', '').rstrip()}")
    print(f"\n(lens_zoo took {time.perf_counter() - started:.0f} s)")
    return 130 if stopped else 0


if __name__ == "__main__":
    if len(sys.argv) in (5, 6) and sys.argv[1] == "--worker":
        worker(*sys.argv[2:])
        sys.exit(0)
    sys.exit(main())
