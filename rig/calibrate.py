"""Calibration: what one lens on one camera does, measured once and saved.

Calibration measures the range in size-1 steps, the effective steps of each
drive size, how long one command moves the lens and the shortest reliable
spacing of commands (its sustained speed), and the spread of single
commands.  It adapts to what the camera gives (:class:`rig.drives.Capabilities`):

* the camera reports its position (Fuji): read positions
  (:func:`_calibrate_reading`);
* the camera signals its stops (Nikon): count commands until "at limit"
  (:func:`_calibrate_counting`);
* nothing else (Canon, Olympus, Panasonic, Sony): the live view is the sensor
  (:func:`_calibrate_liveview`, which runs the phases in order: the frame
  access and motor :mod:`rig.calframes`, the range :mod:`rig.calrange`,
  placing on its table :mod:`rig.calplace`, the play :mod:`rig.calbacklash`,
  the steps :mod:`rig.calsteps`, the speeds :mod:`rig.calspeed` and the check
  :mod:`rig.calcheck`, each handing a frozen result to the next); Sony's coarse
  ``focalposition`` (0-100), where the body reports it, cross-checks the
  range and the near stop, or is found not to be linear in steps
  (:func:`rig.calrange.check_readings`).  The method is described in
  ``docs/calibration.md``.

Every method leaves the lens homed at position 0.
"""

from __future__ import annotations

import dataclasses
import logging
import statistics
from dataclasses import dataclass
from typing import Callable

import gphoto2 as gp
import numpy as np

from .calbacklash import measure_backlash
from .calcheck import Ground, verify
from .calerror import CAUSES, CalibrationError
from .calestimate import Arrival, arrival_misses
from .calfit import snap
from .calframes import Motor, measure_noise
from .calibration import Calibration, DriveCal
from .calplace import Placer, placing
from .calrange import check_readings, measure_range, shift
from .calspeed import ANCHOR_FRAMES, measure_speeds, paced
from .calsteps import measure_steps
from .drives import FujiDrive, NikonDrive, StopReached
from .lens import FAR, NEAR, SPACING_GUARD, Cancelled, Lens, LensError

__all__ = ["calibrate", "CalibrationSettings", "CalibrationError", "CAUSES"]

log = logging.getLogger(__name__)


# ------------------------------------------------------- live view method


@dataclass(frozen=True)
class CalibrationSettings:
    settle_small_s: float = 0.10   # wait after a size-1 step before a frame
    settle_large_s: float = 1.0    # wait after a larger step while its speed is unknown
    max_steps: int = 3000          # give up looking for a stop after this many steps
    stall_window: int = 40         # size-1 steps with no change that mean "at the stop"
    bisect_rounds: int = 9
    snap: float = 0.15             # effective steps this close to a whole number are whole
    precision: float = 0.01        # runs until the mean step is known to this share of it ...
    precision_steps: float = 0.1   # ... or to this many steps (one standard error) ...
    max_runs: int = 6              # ... or this many runs from stop to stop were made
    margin: float = 0.015          # spacing = motion time * (1 + margin) + jitter guard
    method: str = "liveview"       # live-view bodies: "liveview" (the sweep) or "stops"
                                   # (counting against the stops, rig.calstopsrun)


Progress = Callable[[str, float], None]


def _finish(lens: Lens, method: str, steps: dict[int, float], moves: dict[int, float],
            periods: dict[int, float], jitter: dict[int, float], range_steps: int,
            started: float, progress: Progress,
            verify: Callable[[Calibration], list[Arrival]] | None = None,
            ends: dict[int, tuple[float, float]] | None = None,
            backlash_steps: float | None = None,
            pace: Callable[[Calibration], Calibration] | None = None,
            **extra: object) -> Calibration:
    ends = ends or {}
    sizes = lens.caps.sizes
    calibration = Calibration(
        lens=lens.lens_name,
        camera=lens.camera_model,
        steps=range_steps,
        drive=tuple(DriveCal(k, steps[k], steps[k] / periods[k], moves[k], jitter.get(k, 0.0),
                             *(ends[k] if k in ends else (None, None)))
                    for k in sizes),
        backlash=backlash_steps,
        latency_ms=lens.latency.mean * 1000.0,
        latency_jitter_ms=lens.latency.std * 1000.0,
        extra={"method": method, "family": lens.caps.family, "frames": lens.frames,
               "commands": lens.commands,
               "duration_s": round(lens.clock.now() - started, 1), **extra},
    )
    # On a camera that queues, a spacing too short would fill its queue: calibration's
    # own moves keep to the settled pace (``pace``); the saved calibration is as measured.
    paced = pace(calibration) if pace is not None else calibration
    lens.model = paced.model()
    lens.jitter = {d.size: d.jitter or 0.0 for d in calibration.drive}
    progress("homing", 0.0)
    lens.home()
    if verify is None:
        lens.model = calibration.model()
        return calibration
    arrivals = verify(calibration)
    misses = arrival_misses(arrivals)
    if misses:
        lens.model = None
        lens.position = None
        raise CalibrationError(
            "check: driven with what it measured, the lens did not arrive where the "
            "calibration predicts: " + "; ".join(a.describe() for a in misses)
            + ". Nothing was saved", "check", candidate=calibration)
    progress("homing", 0.0)
    lens.home()
    lens.model = calibration.model()
    checked = [{"from": a.origin, "sent": a.commands, "target": a.target, "off": round(a.off, 2),
                "allowed": round(a.tolerance, 2)} for a in arrivals]
    return dataclasses.replace(calibration, extra={**calibration.extra, "check": checked,
                                                    "duration_s": round(lens.clock.now()
                                                                        - started, 1)})


def _calibrate_liveview(lens: Lens, settings: CalibrationSettings,
                        progress: Progress) -> Calibration:
    """Canon, Olympus, Panasonic, Sony: the live view is the position sensor.

    The phases in order, each handing its findings to the next: the noise
    (:func:`rig.calframes.measure_noise`), the range (:mod:`rig.calrange`),
    the play (:mod:`rig.calbacklash`), each size's steps (:mod:`rig.calsteps`)
    and speed (:mod:`rig.calspeed`), then the check (:mod:`rig.calcheck`).
    """
    started = lens.clock.now()
    motor = Motor(lens, settings)
    lens.liveview_on()
    frames = measure_noise(lens)
    sweep = measure_range(frames, motor, progress)
    checked: dict[str, object] = {}
    if sweep.readings:
        sweep, checked = check_readings(sweep, lambda: measure_range(frames, motor, progress))
    at = Placer(frames, motor, placing(sweep, frames.noise))
    play = measure_backlash(at, progress).steps
    motor.play = play
    if play > 0:
        sweep = shift(sweep, play)
        motor.here = motor.here - play
        at = Placer(frames, motor, placing(sweep, frames.noise))
    curves = {
        "focus_curve": [round(float(v), 3) for v in sweep.sharp[: sweep.range + 1]],
        "sensitivity": [round(float(v), 4) for v in at.placing.encoder.sensitivity()],
    }
    found = measure_steps(at, progress)
    speeds = measure_speeds(at, found.steps, found.jitter, progress)
    ground = Ground(at.placing.zone(40.0), at.placing.side, sweep.far_side, sweep.range,
                    found.jitter, at.placing.placement_var, settings.settle_large_s,
                    lambda lo, hi: at.fix(lo, hi, frames=ANCHOR_FRAMES))
    return _finish(lens, "liveview", found.steps, speeds.moves, speeds.periods, found.jitter,
                   sweep.range, started,
                   progress, verify=lambda cal: verify(lens, ground, cal, progress),
                   ends=found.ends, backlash_steps=play,
                   pace=lambda cal: paced(cal, speeds.busy, motor.bound), busy=speeds.busy,
                   subject_step=sweep.subject,
                   **({"bounded_speeds": {str(k): v for k, v in sorted(speeds.bounded.items())}}
                      if speeds.bounded else {}), encoder_rank=at.placing.rank,
                   runs={str(k): v for k, v in sorted(found.runs.items())}, **checked,
                   **curves)


def _calibrate_counting(lens: Lens, settings: CalibrationSettings,
                        progress: Progress) -> Calibration:
    """Nikon: the camera says "at limit", so the range is counted in size-1 commands.

    1. The finest move the motor takes: 1 unit, doubled while the camera
       answers "stepping too small".
    2. Near stop: the largest size toward near until "at limit".
    3. Range: size-1 commands toward far, counted until "at limit".
    4. Each larger size: a run toward the other stop, then size-1 commands
       counted into it: what the run left, subtracted from the range.
    5. Timing: the call waits for the motor, so a call's duration is its
       round trip plus the motion: a straight line through the sizes' median
       durations against their steps gives both.
    """
    started = lens.clock.now()
    drive = lens.drive
    assert isinstance(drive, NikonDrive)
    sizes = lens.caps.sizes
    unit = 1
    progress("finest step", 0.0)
    while True:
        try:
            drive.send_units(-unit)
            break
        except StopReached:
            break
        except ValueError:
            unit *= 2
            if unit > 4096:
                raise CalibrationError("the lens refuses every step size: is it a "
                                       "focus-by-wire lens on AF?", "mf") from None
    drive.unit = unit
    durations: dict[int, list[float]] = {k: [] for k in sizes}
    limit = settings.max_steps + 10

    def run(size: int, direction: int, count: int | None) -> int:
        """Commands until ``count`` or a stop; returns how many moved without stopping."""
        done = 0
        for _ in range(count if count is not None else limit):
            t = lens.clock.now()
            lens.send(size, direction)
            if lens.at_stop == direction:
                return done
            durations[size].append(lens.clock.now() - t)
            done += 1
            if count is None and done >= limit:
                raise CalibrationError(f"no stop within {limit} steps: is the lens on AF?",
                                       "mf")
        return done

    progress("near stop", 0.0)
    run(max(sizes), NEAR, None)
    progress("range", 0.0)
    range_steps = run(sizes[0], FAR, None)
    if range_steps < 10:
        raise CalibrationError("the lens barely moved between its stops: set the lens "
                               "switch to AF", "mf")
    steps = {sizes[0]: 1.0}
    here = FAR
    for size in sorted(sizes[1:], reverse=True):
        progress(f"size {size} steps", 0.0)
        amount = drive.amounts[size]
        n = max(1, int(0.8 * range_steps / amount))
        toward = -here
        run(size, toward, n)
        rest = run(sizes[0], toward, None)
        steps[size] = _snap((range_steps - rest) / n, settings.snap)
        here = toward
    # Timing from the blocking calls: duration = latency + steps / speed.
    xs = np.array([steps[k] for k in sizes if durations[k]])
    ys = np.array([statistics.median(durations[k]) for k in sizes if durations[k]])
    slope, latency = np.polyfit(xs, ys, 1) if len(xs) > 1 else (ys[0] / xs[0], 0.0)
    latency = max(float(latency), 0.0)
    spread = [d - latency - steps[k] * slope for k in sizes for d in durations[k]]
    lens.latency = _stats([latency + e for e in spread])
    moves = {k: max(steps[k] * float(slope), 1e-4) for k in sizes}
    periods = {k: statistics.median(durations[k]) * (1.0 + settings.margin)
               + SPACING_GUARD * lens.latency.std for k in sizes}
    return _finish(lens, "counting", steps, moves, periods, {}, range_steps, started, progress,
                   drive_unit=unit)


def _calibrate_reading(lens: Lens, settings: CalibrationSettings,
                       progress: Progress) -> Calibration:
    """Fuji: the camera reports its position, so calibration reads it.

    The range is the distance between the positions read at both ends; the
    motor's speed is the slope of positions read while it crosses the range;
    each size's effective steps is the movement it makes, read, over a run.
    """
    started = lens.clock.now()
    drive = lens.drive
    assert isinstance(drive, FujiDrive)
    clock = lens.clock

    def read() -> float:
        value = lens.read_position()
        if value is None:
            raise CalibrationError("the camera stopped reporting its focus position",
                                   "camera")
        return value

    def settle(timeout: float = 60.0) -> float:
        last, until = read(), clock.now() + timeout
        while clock.now() < until:
            clock.sleep(0.05)
            now = read()
            if now == last:
                return now
            last = now
        raise CalibrationError("the focus position the camera reports never settled",
                               "camera")

    progress("near end", 0.0)
    drive.go(drive.low)
    low = settle()
    progress("range and speed", 0.0)
    t0 = clock.now()
    drive.go(drive.high)
    samples = [(t0, low)]
    while True:
        clock.sleep(0.05)
        samples.append((clock.now(), read()))
        if len(samples) > 3 and samples[-1][1] == samples[-2][1] == samples[-3][1]:
            break
        if clock.now() - t0 > 120:
            raise CalibrationError("the lens never reached the far end: is the lens on AF?",
                                   "mf")
    high = samples[-1][1]
    range_steps = int(round(high - low))
    if range_steps < 10:
        raise CalibrationError("the lens did not move: set the lens switch to AF", "mf")
    moving = [(t, x) for t, x in samples if low + 2 < x < high - 2]
    if len(moving) >= 2:
        speed = float(np.polyfit([t for t, _ in moving], [x for _, x in moving], 1)[0])
    else:
        speed = range_steps / max(samples[-1][0] - t0, 1e-3)
    steps, jitter = {}, {}
    drive.target = high + drive.low
    direction = NEAR
    for size in sorted(lens.caps.sizes, reverse=True):
        progress(f"size {size} steps", 0.0)
        n = max(1, min(20, int(0.4 * range_steps / drive.amounts[size])))
        increments, before = [], settle()
        for _ in range(n):
            lens.send(size, direction)
            clock.sleep(drive.amounts[size] / speed + 0.05)
            after = settle()
            increments.append(abs(after - before))
            before = after
        steps[size] = _snap(float(np.mean(increments)), settings.snap)
        jitter[size] = round(float(np.std(increments)), 3)
        direction = -direction
    moves = {k: steps[k] / speed for k in steps}
    periods = {k: moves[k] * (1.0 + settings.margin) + SPACING_GUARD * lens.latency.std
               for k in steps}
    return _finish(lens, "reading", steps, moves, periods, jitter, range_steps, started,
                   progress, motor_speed=round(speed, 3))


_snap = snap    # by this name in rig.calstopsrun


def _stats(values: list[float]):
    from .lens import RunningStats
    stats = RunningStats()
    for v in values:
        stats.add(v)
    return stats


def calibrate(lens: Lens, settings: CalibrationSettings | None = None,
              progress: Progress | None = None) -> Calibration:
    """Measure the connected lens by what its camera offers; leaves it homed at 0."""
    settings = settings or CalibrationSettings()
    progress = progress or (lambda phase, fraction: None)
    lens.model = None
    lens.position = None
    try:
        if isinstance(lens.drive, FujiDrive) and lens.caps.feedback == "absolute":
            return _calibrate_reading(lens, settings, progress)
        if lens.caps.stop == "error":
            return _calibrate_counting(lens, settings, progress)
        if settings.method == "stops":
            from .calstopsrun import calibrate_stops
            return calibrate_stops(lens, settings, progress)
        return _calibrate_liveview(lens, settings, progress)
    except (CalibrationError, Cancelled, KeyboardInterrupt):
        lens.model = None          # nothing measured is kept
        lens.position = None
        raise
    except Exception as exc:   # noqa: BLE001 - every failure becomes a refusal with its cause
        lens.model = None
        lens.position = None
        raise _refusal(exc) from exc


def _refusal(exc: Exception) -> CalibrationError:
    """What an exception from the camera or from calibration itself means, as a refusal."""
    if isinstance(exc, gp.GPhoto2Error):
        return CalibrationError(
            f"the camera stopped answering during calibration ({exc.code}: "
            f"{getattr(exc, 'string', '') or 'gphoto2 error'}); nothing was saved. "
            "Check the cable, switch the camera off and on, and calibrate again",
            "camera", code=exc.code)
    if isinstance(exc, LensError):
        return CalibrationError(f"{exc}; nothing was saved", "camera")
    log.error("calibration failed on a fault of its own", exc_info=exc)
    return CalibrationError(
        f"calibration failed on a fault of its own ({type(exc).__name__}: {exc}); nothing "
        "was saved. Please report it with the log", "internal")
