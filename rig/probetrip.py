"""The probe's round trip: probe a simulated camera, simulate the profile it wrote, compare.

If ``rig probe`` measures a camera well, the profile it writes behaves like
that camera.  On the simulator the camera's truth is known, so this can be
checked (issue 15):

* the written profile against the original, key by key, within the
  calibration's tolerances (:data:`LIMITS`): the range 1 %, each size's
  steps at both stops 5 %, the backlash 1 step, the latency 20 %, the frame
  time 10 %, and the same behaviour for a request that reaches a moving
  lens (:func:`compare_profiles`);
* a scripted session (the demo, its points set by the focus wheel at fixed
  positions: :func:`fixed_script`) on each, with the same stored
  calibration and the same seed: the same moves (the same targets) and
  each move's time within 2 % (:func:`compare_sessions`).

Until the calibration that measures the realistic lens lands, a test or a
benchmark may give the probe :func:`truth_calibrate`, which returns what a
perfect calibration would: the lens figures are then true by construction
and say nothing about calibration (the camera's figures, the optics and the
request test are still measured); whoever uses it says so.
"""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from .clock import VirtualClock
from .lens import Lens
from .probe import ProbeResult, ProbeSettings, probe
from .probefit import Missing, Stated
from .probeprofile import profile_text
from .sim import Profile, SimBody
from .simprofile import parse_profile

__all__ = ["Check", "LIMITS", "probe_simulated", "compare_profiles", "compare_sessions",
           "truth_calibration", "truth_calibrate", "run_demo", "fixed_script",
           "round_trip", "landing_error"]

LIMITS = {"range": 0.01, "steps": 0.05, "backlash": 1.0, "latency": 0.20, "frame": 0.10,
          "timing": 0.02}


@dataclass(frozen=True)
class Check:
    name: str
    original: Any
    probed: Any
    limit: str
    ok: bool

    def line(self) -> str:
        return (f"{'ok ' if self.ok else 'OFF'} {self.name:<26} {_fmt(self.original):>10} "
                f"-> {_fmt(self.probed):<10} ({self.limit})")


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _relative(name: str, a: float, b: float, share: float) -> Check:
    ok = abs(b - a) <= share * abs(a) + 1e-9
    return Check(name, float(a), float(b), f"within {100 * share:g} %", ok)


# ------------------------------------------------------------ truth


def truth_calibration(profile: Profile) -> Any:
    """What a perfect calibration would store for ``profile`` (for tests and benchmarks
    only: see the module's docstring).  Like :func:`rig.sim.known_calibration`, with each
    size's motion time and spread, and what the camera does with a request that reaches a
    moving lens and its frame time, as the new calibration reports them."""
    from .calibration import Calibration, DriveCal
    drives = []
    for size, spec in sorted(profile.drive.items()):
        far = spec.steps if spec.steps_far is None else spec.steps_far
        mean = 0.5 * (spec.steps + far)
        move = spec.steps / spec.speed
        # the sustained speed a calibration stores keeps a margin over the motion
        drives.append(DriveCal(size, mean, mean / (1.02 * move), move, spec.jitter,
                               steps_near=spec.steps, steps_far=far))
    return Calibration(profile.lens, profile.steps, tuple(drives), profile.model,
                       profile.latency_ms, profile.latency_jitter_ms,
                       {"method": "the simulator's truth (not a calibration)",
                        "busy": profile.busy, "frame_s": profile.preview_ms / 1000.0},
                       backlash=profile.backlash)


def truth_calibrate(profile: Profile) -> Callable[..., Any]:
    """A stand-in for ``calibrate(lens, settings, progress)`` that knows the truth.

    It homes the lens as a calibration ends (into the near stop, by count)
    and returns :func:`truth_calibration`.
    """
    def calibrate(lens: Lens, settings: Any, progress: Callable[..., None]) -> Any:
        cal = truth_calibration(profile)
        lens.model = cal.model()
        lens.position = None
        lens.home()
        progress("done", 1.0)
        return cal
    return calibrate


# ------------------------------------------------------------ probing


def stated_for(profile: Profile) -> Stated:
    """What an operator would tell the probe: the subject's distance, by tape measure."""
    if profile.layers:
        return Stated(subject_m=profile.layers[-1].distance_m)
    return Stated()


class CountingBody(SimBody):
    """A simulated body that records, as truth, the most drive requests outstanding (moving
    or queued) when one arrives, counting that one: the probe's and its calibration's."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.most_outstanding = 0

    def move_relative(self, spec: Any, direction: int) -> None:
        self.most_outstanding = max(self.most_outstanding,
                                    self.outstanding(self.clock.now()) + 1)
        super().move_relative(spec, direction)


def probe_simulated(profile: Profile, *, calibrate: Callable[..., Any] | None = None,
                    settings: ProbeSettings | None = None, stated: Stated | None = None,
                    calibration_settings: Any = None) -> tuple[ProbeResult, str, SimBody]:
    """``rig probe`` on a simulated body of ``profile``: the result, the profile written,
    and the body (its truth: overflows, commands)."""
    clock = VirtualClock()
    body = CountingBody(profile, clock)
    lens = Lens(body.session(), clock)
    result = probe(lens, settings=settings, stated=stated or stated_for(profile),
                   calibrate=calibrate, calibration_settings=calibration_settings)
    text = profile_text(result.findings, ["written by rig probe on the simulator"])
    return result, text, body


# ------------------------------------------------------------ comparing


def compare_profiles(original: Profile, probed: Profile,
                     missing: dict[str, str] | None = None) -> list[Check]:
    """The written profile against the original, within :data:`LIMITS`.

    ``missing`` is what the probe could not measure (key: why, from its
    findings): such a key's value in the written profile is a marked stand-in
    or the simulator's default, so its row is off and says "not measured"
    with the reason rather than show the stand-in as if it were measured."""
    out = _compare(original, probed)
    if not missing:
        return out
    return [_unmeasured(c, missing) for c in out]


# a row of compare_profiles -> the findings' key behind it
_ROW_KEYS = {"range (steps)": "steps", "backlash (steps)": "backlash",
             "latency (ms)": "latency_ms", "frame time (ms)": "preview_ms",
             "request during motion": "busy", "queue depth": "queue_depth"}


def _unmeasured(check: Check, missing: dict[str, str]) -> Check:
    key = _ROW_KEYS.get(check.name)
    if key is None and check.name.startswith("size "):
        size, _, end = check.name.split(" ")[1:4]
        key = f"drive.{size}.steps" + ("_far" if end == "far" else "")
    if key not in missing:
        return check
    return Check(check.name, check.original, "not measured", missing[key][:90], False)


def _compare(original: Profile, probed: Profile) -> list[Check]:
    out = [_relative("range (steps)", original.steps, probed.steps, LIMITS["range"])]
    for size, spec in sorted(original.drive.items()):
        if size == 1:
            continue
        got = probed.drive.get(size)
        if got is None:
            out.append(Check(f"size {size}", "present", "missing", "present", False))
            continue
        far = spec.steps if spec.steps_far is None else spec.steps_far
        got_far = got.steps if got.steps_far is None else got.steps_far
        out.append(_relative(f"size {size} steps near", spec.steps, got.steps, LIMITS["steps"]))
        out.append(_relative(f"size {size} steps far", far, got_far, LIMITS["steps"]))
    out.append(Check("backlash (steps)", original.backlash, probed.backlash,
                     f"within {LIMITS['backlash']:g} step",
                     abs(original.backlash - probed.backlash) <= LIMITS["backlash"]))
    out.append(_relative("latency (ms)", original.latency_ms, probed.latency_ms,
                         LIMITS["latency"]))
    out.append(_relative("frame time (ms)", original.preview_ms, probed.preview_ms,
                         LIMITS["frame"]))
    out.append(Check("request during motion", original.busy, probed.busy, "the same",
                     original.busy == probed.busy))
    if probed.busy == "queue":
        ok = probed.queue_depth is not None and (original.queue_depth is None
                                                 or probed.queue_depth <= original.queue_depth)
        out.append(Check("queue depth", original.queue_depth, probed.queue_depth,
                         "no deeper than the original's", ok))
    return out


def fixed_script(steps: int) -> str:
    """The demo session (rig/data/demo.rig) with its points at fixed positions.

    The demo records its first two points by autofocus, which lands where the
    picture is sharpest: on a probed profile (whose scene is the probe's
    approximation of the original's) it may land a step or two elsewhere, and
    then the two sessions time different moves.  Here the focus wheel sets
    the points instead, at a quarter, four fifths and a half of the range
    from the near stop where the boot's homing leaves the lens: the same
    points, the same durations, the same presses on both profiles, so the
    timings compare like with like.
    """
    first, second, third = round(0.25 * steps), round(0.8 * steps), round(0.55 * steps)
    return f"""\
# the demo with fixed points (rig/probetrip.py, fixed_script): {steps} steps
+0    wait idle            # boot: the stored calibration, home (the near stop)
+1    press info           # play -> inactive
+0.6  press info           # inactive -> edit
+0.5  turn focus {first}
+0    wait idle
+0.8  press set            # point 1 at {first}
+1    turn focus {second - first}
+0    wait idle
+0.8  press q              # point 2 at {second}
+0.6  hold up 1.0
+0    wait idle
+1    turn focus {third - second}
+0    wait idle
+0.8  press q              # point 3 at {third}
+0.6  hold up 2.0
+0    wait idle
+1    press left
+0    wait idle
+1    press left
+0    wait idle
+1    press info           # edit -> play: the rig learns the scene
+0    wait idle
+1    press set
+0    wait idle
+1    press set
+0    wait idle
+1.5  press q
+0    wait idle
+1    press set
+0    wait idle
+1    press set
+0    wait idle
+2    press info           # play -> inactive
"""


def run_demo(profile: Profile, calibration: Any, *, script: Path | str | None = None,
             seed: int | None = None) -> Any:
    """A session on ``profile`` with ``calibration`` stored (no calibration run): the
    script at ``script`` (a path), or its text, or by default the demo with fixed points
    (:func:`fixed_script`) for the calibration's range."""
    from .harness import simulate
    from .script import load_script, parse_script
    from .store import Store
    if seed is not None:
        profile = dataclasses.replace(profile, seed=seed)
    if script is None:
        actions = parse_script(fixed_script(int(calibration.steps)), "<fixed demo>")
    elif isinstance(script, str):
        actions = parse_script(script, "<script>")
    else:
        actions = load_script(script)
    state = Path(tempfile.mkdtemp(prefix="rig-probe-demo-"))
    try:
        Store(state).save_calibration(calibration)
        return simulate(profile, actions, state_dir=state)
    finally:
        shutil.rmtree(state, ignore_errors=True)


def compare_sessions(original: Any, probed: Any) -> list[Check]:
    """Two reports of the same session: the same moves, and timings within 2 %.

    The same moves: the same transitions, between the same points, to the
    same target steps.  A transition's time is compared only with the same
    move's: a move to another target is counted as off, not compared.  The
    commands a plan sends may differ by a size-1 step or so even between two
    runs of the same camera (the rig plans from where it believes the lens
    stands after the last move's check), and where each move truly ends
    differs by the lens's spread: neither is judged here; the benchmark
    prints the landings (:func:`landing_error`) beside its baseline."""
    a, b = original.transitions, probed.transitions
    out = [Check("transitions", len(a), len(b), "the same count", len(a) == len(b))]
    out.append(Check("errors", len(original.errors), len(probed.errors), "none",
                     not original.errors and not probed.errors))
    for x, y in zip(a, b):
        name = f"{x['kind']} {x['from']}->{x['to']}"
        same = (x["kind"], x["from"], x["to"], x["target_step"]) == \
            (y["kind"], y["from"], y["to"], y["target_step"])
        out.append(Check(f"{name} target", x["target_step"], y["target_step"], "the same",
                         same))
        if same:
            out.append(_relative(f"{name} time (s)", x["actual_s"], y["actual_s"],
                                 LIMITS["timing"]))
        else:
            out.append(Check(f"{name} time (s)", x["actual_s"], y["actual_s"],
                             "not compared: another move", False))
    return out


def landing_error(report: Any) -> float | None:
    """The median distance, in steps, between where a session's moves truly ended and
    their targets (None without moves)."""
    errors = sorted(abs(t["true_step"] - t["target_step"]) for t in report.transitions)
    if not errors:
        return None
    mid = len(errors) // 2
    return float(errors[mid] if len(errors) % 2 else 0.5 * (errors[mid - 1] + errors[mid]))


def round_trip(profile: Profile, *, calibrate: Callable[..., Any] | None = None,
               demo: bool = True, seed_demo: bool = True) -> dict[str, Any]:
    """Probe ``profile``, load what was written, compare; optionally the demo on both."""
    result, text, body = probe_simulated(profile, calibrate=calibrate)
    probed = parse_profile(text, "<probed>")
    missing = {k: e.why for k, e in result.findings.items() if isinstance(e, Missing)}
    checks = compare_profiles(profile, probed, missing)
    out: dict[str, Any] = {"result": result, "text": text, "probed": probed, "checks": checks,
                           "overflows": body.truth.overflows,
                           "most_outstanding": body.most_outstanding, "session": []}
    if demo and result.calibration is not None:
        cal = result.calibration
        first = run_demo(profile, cal)
        second = run_demo(probed, cal, seed=profile.seed if seed_demo else None)
        out["session"] = compare_sessions(first, second)
        out["reports"] = (first, second)
    return out
