"""``rig probe``: measure the camera and lens that are plugged in.

The imperative shell: each phase drives the camera and returns what it saw
as data; :mod:`rig.probefit` turns that into figures and the simulator
profile, :mod:`rig.probereport` into the report.  The phases:

1. :func:`look`: the live view switched off for a second, then the first
   frame (its start-up time) and frames back to back with the lens at rest
   (frame time, frame size, noise, flicker, whether the picture has detail).
2. :func:`call_latency`: size-1 drive calls, each once the motion before it
   has surely ended, timed.
3. The lens: rig's own calibration (``calibrate(lens, settings, progress)``).
4. :func:`sweep`: from the near stop to the far stop at counted positions,
   a frame at each: the focus curve, the scene's planes, the breathing.
5. What a request does when it reaches a moving lens
   (:mod:`rig.probebusy`), where the sweep says one command changes the
   picture most; if calibration failed, after a traverse watched command by
   command.
6. Home: the lens ends at the near stop.

The probe never has more than two drive requests outstanding
(:class:`rig.probeport.Port`); the calibration keeps its own count.  A phase
that cannot measure says why, and the profile marks what is missing.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any, Callable

import gphoto2 as gp
import numpy as np

from .lens import FAR, NEAR, Lens, LensError
from .probebusy import (Motion, busy, course_from_sweep, course_from_traverse, home_by_count,
                        motion)
from .probefit import (BusyData, Figure, Findings, LookData, Missing, Stated, SweepData,
                       advance, busy_part, calibration_part, camera_part, latency_part,
                       look_part, optics_part)
from .probeport import Port, ProbeSettings
from .probeview import tile_sharpness
from .simprofile import DriveSpec
from .vision import fingerprint, shows_detail

__all__ = ["probe", "ProbeSettings", "ProbeResult", "look", "call_latency", "sweep"]

log = logging.getLogger(__name__)

Progress = Callable[..., None]


@dataclass
class ProbeResult:
    findings: Findings
    sweep: SweepData | None
    calibration: Any                 # the Calibration, or None
    calibration_error: str = ""
    camera_s: float = 0.0            # the probe's duration on the camera's clock


# ------------------------------------------------------------------ phases


def look(port: Port) -> LookData:
    """The start-up frame (live view off for a second first) and frames at rest."""
    lens, s = port.lens, port.s
    first, first_why = None, ""
    try:
        widget = lens.camera.get_single_config("viewfinder", lens.ctx.context)
        widget.set_value(0)
        lens.camera.set_single_config("viewfinder", widget, lens.ctx.context)
        port.clock.sleep(s.liveview_off_s)
    except gp.GPhoto2Error:
        lens.ctx.take()
        first_why = "this camera has no viewfinder switch over USB to restart the live view"
    try:
        if not first_why:
            first = port.shot()
        frames = tuple(port.shot() for _ in range(s.rest_frames))
    except gp.GPhoto2Error as exc:
        lens.ctx.take()
        return LookData(None, "", (), error_text(exc))
    return LookData(first, first_why, frames)


def error_text(exc: gp.GPhoto2Error) -> str:
    """libgphoto2's words for an error, and its code."""
    try:
        text = gp.gp_result_as_string(exc.code)
    except Exception:        # a code libgphoto2 has no text for
        text = "error"
    return f"{text} ({exc.code})"


def call_latency(port: Port) -> tuple[list[float], int]:
    """Round trips of size-1 drive calls, alternately far and near (the lens stays put)."""
    samples, refused = [], 0
    for i in range(port.s.latency_calls):
        port.settle()
        sent = port.send(1, FAR if i % 2 == 0 else NEAR)
        if sent.code:
            refused += 1
        else:
            samples.append(sent.t1 - sent.t0)
    return samples, refused


def drive_spec(findings: Findings, size: int) -> DriveSpec | None:
    """A size's calibrated steps (near, far) as the simulator's spec, for counting."""
    near = findings.get(f"drive.{size}.steps")
    if not isinstance(near, Figure):
        return None
    far = findings.get(f"drive.{size}.steps_far")
    return DriveSpec(float(near.value), 0.0, 1.0,
                     float(far.value) if isinstance(far, Figure) else None)


def _homing_count(findings: Findings, span: float, big: int) -> int:
    spec = drive_spec(findings, big)
    least = spec.steps if spec is None or spec.steps_far is None else min(spec.steps,
                                                                           spec.steps_far)
    return math.ceil(1.1 * span / max(least, 1.0)) + 2


def sweep(port: Port, findings: Findings, span: int) -> SweepData:
    """From the near stop to the far stop at counted positions, a frame at each.

    Steps with the finest size that crosses the range in at most
    ``sweep_frames`` commands.  Positions are counted with the calibrated
    steps (near and far), the backlash taken off the first command.
    """
    sizes = sorted(port.lens.caps.sizes)
    specs = {k: drive_spec(findings, k) for k in sizes}
    size = sizes[-1]
    for k in sizes:
        spec_k = specs[k]
        if spec_k is not None and span / spec_k.steps <= port.s.sweep_frames:
            size = k
            break
    spec = specs[size]
    assert spec is not None
    backlash = findings.get("backlash")
    play = float(backlash.value) if isinstance(backlash, Figure) else 0.0
    home_by_count(port, _homing_count(findings, span, sizes[-1]), NEAR)
    positions, sharp, tiles, frames = [], [], [], []

    def take(x: float) -> None:
        shot = port.shot()
        whole, parts = tile_sharpness(shot.data)
        positions.append(x)
        sharp.append(whole)
        tiles.append(parts)
        frames.append((x, shot.data))

    x = 0.0
    take(x)
    while x < span - 0.5 * spec.steps:
        port.send(size, FAR)
        x = advance(x, spec, FAR, float(span))
        if len(positions) == 1:
            x = max(x - play, 0.0)
        port.settle()
        take(x)
    for _ in range(port.s.overdrive):
        port.send(sizes[-1], FAR)
        port.settle()
    if x < span:
        take(float(span))
    return SweepData(int(span), tuple(positions), tuple(sharp), np.array(tiles),
                     tuple(frames), size)


def _bounds_from(port: Port, cal: Any) -> None:
    """Motion bounds from the calibration: each size's motion, with a margin."""
    for d in cal.drive:
        moving = d.move_s if d.move_s else d.steps / d.speed
        port.bound[d.size] = max(1.3 * moving + 3e-3 * cal.latency_jitter_ms, 0.02)


# ------------------------------------------------------------------ all


STOPPED = "the camera stopped answering"
GONE = (gp.GP_ERROR_IO, gp.GP_ERROR_IO_USB_FIND, gp.GP_ERROR_TIMEOUT,
        gp.GP_ERROR_MODEL_NOT_FOUND)

PHASES = {"look": 0.0, "latency": 0.04, "calibration": 0.1, "sweep": 0.8,
          "request during motion": 0.9, "done": 1.0}


def probe(lens: Lens, *, settings: ProbeSettings | None = None, stated: Stated | None = None,
          calibrate: Callable[..., Any] | None = None, calibration_settings: Any = None,
          progress: Progress | None = None) -> ProbeResult:
    """Measure the camera and lens behind ``lens`` (not yet connected); see the module."""
    settings = settings or ProbeSettings()
    stated = stated or Stated()
    progress = progress or (lambda phase, fraction, eta_s=None: None)
    clock = lens.clock
    started = clock.now()
    findings: Findings = {}
    liveview_error = ""
    try:
        lens.connect()
    except gp.GPhoto2Error as exc:
        if lens.drive is None:
            raise
        lens.ctx.take()
        liveview_error = error_text(exc)   # the drive is there, the live view is not
    findings.update(camera_part(lens.camera_model, lens.lens_name, lens.caps.family))
    port = Port(lens, settings)

    progress("look", PHASES["look"])
    data = LookData(None, "", (), liveview_error) if liveview_error else look(port)
    findings.update(look_part(data))
    picture = bool(data.frames)
    detail = False
    if picture:
        port.learn_noise([s.data for s in data.frames])
        shapes = fingerprint(data.frames[0].data)
        detail = shows_detail(shapes)
        findings["detail"] = Figure(detail, how="the spread of the frame's grey levels "
                                    f"({float(shapes.std()):.1f}; detail from 3)")

    progress("latency", PHASES["latency"])
    samples, refused = call_latency(port)
    findings.update(latency_part(samples, refused))

    progress("calibration", PHASES["calibration"])
    if not picture and lens.caps.feedback == "none" and lens.caps.stop == "none":
        cal, cal_error = None, ("not run: calibration watches the live view on this camera, "
                                "and there is none")
    else:
        cal, cal_error = _calibrate(lens, port, calibrate, calibration_settings, progress)
    if cal is not None:
        findings.update(calibration_part(cal))
        _bounds_from(port, cal)
    else:
        for key in ("steps", "backlash", "drive.1.steps", "drive.1.speed"):
            findings[key] = Missing(f"the calibration stopped: {cal_error}")

    why = ""
    if cal_error.startswith(STOPPED):
        why = f"the calibration's drive requests stopped the camera ({cal_error})"
    elif not picture:
        why = "no live view: " + (data.error or "no frames")
    elif not detail:
        why = "the picture shows no detail (a blank wall, a lens cap?): nothing to see a move by"
    result_sweep: SweepData | None = None
    big = max(lens.caps.sizes)
    motion_s = None
    if cal is not None and not why:
        progress("sweep", PHASES["sweep"])
        result_sweep = sweep(port, findings, int(cal.steps))
        findings.update(optics_part(result_sweep, lens.lens_name, stated))
        moving = findings.get(f"motion_ms.{big}")
        motion_s = moving.value / 1000.0 if isinstance(moving, Figure) else None
        spec = drive_spec(findings, big)
        backlash = findings.get("backlash")
        assert spec is not None
        course = course_from_sweep(port, result_sweep, spec,
                                   float(backlash.value) if isinstance(backlash, Figure) else 0,
                                   settings.busy_tries)
    else:
        findings.update(optics_part(None, lens.lens_name, stated,
                                    why=why or f"the calibration stopped: {cal_error}"))
        course = None
        if not why:                     # no calibration: the picture finds the stops
            seen: Motion | None = motion(port)
            if seen is None:
                why = ("the picture did not change when size-3 commands were sent both ways: "
                       "the lens switch on MF, or nothing in the picture changes with focus")
            else:
                findings[f"motion_seen_ms.{big}"] = Figure(
                    round(1000 * seen.ended_s), "ms", "a command watched frame by frame: "
                    "over by then (late by up to a frame)", sure="upper bound")
                motion_s = seen.going_s
                try:
                    course, _ = course_from_traverse(port, settings.busy_tries)
                except LensError as exc:
                    why = str(exc)

    progress("request during motion", PHASES["request during motion"])
    if course is None:
        findings.update(busy_part(BusyData(None, why, {}, port.most)))
        findings["start"] = Missing("where the probe left the lens is not known")
    else:
        findings.update(busy_part(busy(port, course, motion_s)))
        findings["start"] = Figure(0, "steps", "the probe left the lens at the near stop ("
                                   + course.how.split("; ")[-1] + ")")
    findings["most_outstanding"] = Figure(
        port.most, "requests", "the most drive requests the probe had outstanding, counted "
        "before every request (the calibration keeps its own count)")
    progress("done", PHASES["done"], 0.0)
    return ProbeResult(findings, result_sweep, cal, cal_error, clock.now() - started)


def _calibrate(lens: Lens, port: Port, calibrate: Callable[..., Any] | None, settings: Any,
               progress: Progress) -> tuple[Any, str]:
    """rig's calibration of the lens (or the one given), its progress inside the probe's."""
    calibrate = calibrate or _rig_calibrate
    low, high = PHASES["calibration"], PHASES["sweep"]

    def inner(phase: str, fraction: float, eta_s: float | None = None) -> None:
        progress(f"calibration: {phase}", low + (high - low) * min(max(fraction, 0.0), 1.0),
                 eta_s)

    port.settle()
    try:
        cal = calibrate(lens, settings, inner)
    except LensError as exc:
        return None, str(exc)
    except gp.GPhoto2Error as exc:
        lens.ctx.take()
        if exc.code in GONE:
            return None, f"{STOPPED}: {error_text(exc)}"
        return None, f"a camera error: {error_text(exc)}"
    port.forget()
    port.clock.sleep_until(max(lens.free_at, port.clock.now()))
    return cal, ""


def _rig_calibrate(lens: Lens, settings: Any, progress: Progress) -> Any:
    from .calibrate import calibrate
    return calibrate(lens, settings, progress)
