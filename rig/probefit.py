"""What the probe measured, as figures.

Pure: no camera here.  :mod:`rig.probe` drives the camera and hands each
phase's raw measurements to a ``*_part`` function below, which turns them
into :class:`Figure` s (a value, its unit, how it was measured, how sure it
is) or :class:`Missing` entries (why it could not be measured), keyed by the
profile key they stand for (``drive.3.steps_far``) or, for what only the
report shows, a name of their own (``first_frame_s``).
:mod:`rig.probeprofile` writes the profile they make.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from .probeview import Plane, breathing, layers, noise_and_flicker, peak
from .simprofile import DriveSpec

__all__ = ["Figure", "Missing", "Findings", "Entry", "Shot", "LookData", "BusyData",
           "SweepData", "Stated", "calibration_part", "camera_part", "latency_part",
           "look_part", "busy_part", "optics_part", "name_optics", "advance", "round_to"]


@dataclass(frozen=True)
class Figure:
    """One measured (or stated) number and how far to trust it."""

    value: Any
    unit: str = ""
    how: str = ""
    sure: str = "measured"        # measured | stated | lens name | rig's table | derived
    sigma: float | None = None    # one standard deviation, where known
    samples: int | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"value": self.value, "unit": self.unit, "how": self.how,
                               "sure": self.sure}
        if self.sigma is not None:
            out["sigma"] = self.sigma
        if self.samples is not None:
            out["samples"] = self.samples
        return out


@dataclass(frozen=True)
class Missing:
    """A figure the probe could not measure, and why."""

    why: str

    def to_json(self) -> dict[str, Any]:
        return {"missing": self.why}


Entry = Figure | Missing
Findings = dict[str, Entry]


def round_to(value: float, digits: int = 3) -> float:
    return float(round(float(value), digits))


# ------------------------------------------------------------ raw inputs


@dataclass(frozen=True)
class Shot:
    """A live-view frame: when its call started and returned, and the JPEG."""

    t0: float
    t1: float
    data: bytes


@dataclass(frozen=True)
class LookData:
    """Frames taken with the lens at rest, after a restart of the live view."""

    first: Shot | None             # the first frame after live view was switched off
    first_why: str = ""            # why there is none
    frames: tuple[Shot, ...] = ()  # back to back, at rest
    error: str = ""                # the live view refused (then there are no frames)


@dataclass(frozen=True)
class BusyData:
    """What a drive request did when it reached a moving lens."""

    kind: str | None               # "queue", "drop", "error", "runs", or None (unknown)
    why: str = ""                  # when unknown: why
    evidence: dict[str, Any] = field(default_factory=dict)
    most_outstanding: int = 0      # the most requests the probe ever had outstanding


@dataclass(frozen=True)
class SweepData:
    """Frames from the near stop to the far stop, each at a counted position."""

    span: int
    positions: tuple[float, ...]
    sharpness: tuple[float, ...]
    tiles: Any                     # (frames, rows, columns) array of tile sharpness
    frames: tuple[tuple[float, bytes], ...]
    size: int                      # the drive size it stepped with


@dataclass(frozen=True)
class Stated:
    """What the operator tells the probe (``rig probe --subject-distance`` ...)."""

    subject_m: float | None = None
    min_focus_m: float | None = None
    focal_mm: float | None = None
    f_number: float | None = None


# ------------------------------------------------------------ the parts


def camera_part(model: str, lens: str, family: str) -> Findings:
    how = "what the camera reports (cameramodel, lensname)"
    return {
        "vendor": Figure(family, how="the camera's maker and config names (rig.drives.detect)"),
        "model": Figure(model, how=how),
        "lens": Figure(lens, how=how) if lens and lens != "unknown lens" else Missing(
            "the camera reports no lens name over USB"),
    }


def latency_part(samples: Sequence[float], refused: int = 0) -> Findings:
    """The round trip of a drive call (seconds in ``samples``), its mean and spread."""
    if len(samples) < 3:
        why = "too few drive calls were answered" + (
            f" ({refused} refused as busy)" if refused else "")
        return {"latency_ms": Missing(why), "latency_jitter_ms": Missing(why)}
    ms = 1000.0 * np.asarray(samples, dtype=float)
    n = len(ms)
    mean, std = float(ms.mean()), float(ms.std(ddof=1))
    how = (f"{n} size-1 drive calls, each sent once the motion before it had surely ended, "
           "timed from the call to its return")
    return {
        "latency_ms": Figure(round_to(mean, 1), "ms", how, sigma=round_to(std / math.sqrt(n), 2),
                             samples=n),
        "latency_jitter_ms": Figure(round_to(std, 1), "ms", "the spread (one sigma) of those calls",
                                    sigma=round_to(std / math.sqrt(2 * (n - 1)), 2), samples=n),
    }


def look_part(look: LookData) -> Findings:
    """Frame time and size, start-up, noise and flicker, from frames at rest."""
    from .probeview import frame_size
    out: Findings = {}
    if look.error:
        why = f"the live view was refused: {look.error}"
        for key in ("preview_ms", "preview_size", "first_frame_s", "scene.noise",
                    "scene.flicker", "detail"):
            out[key] = Missing(why)
        return out
    frames = look.frames
    if len(frames) >= 3:
        calls = np.array([s.t1 - s.t0 for s in frames])
        gaps = np.diff([s.t0 for s in frames])
        ms = 1000.0 * float(np.median(gaps))
        out["preview_ms"] = Figure(
            round_to(ms, 1), "ms", f"median interval of {len(frames)} live-view frames taken back "
            f"to back (each call {1000 * float(np.median(calls)):.1f} ms)",
            sigma=round_to(1000.0 * float(np.std(gaps, ddof=1)) / math.sqrt(len(gaps)), 2),
            samples=len(gaps))
        w, h = frame_size(frames[0].data)
        out["preview_size"] = Figure([w, h], "px", "the size of the live-view JPEG")
        measured = noise_and_flicker([s.data for s in frames])
        if measured is not None:
            noise, flicker, shown, pairs = measured
            out["scene.noise"] = Figure(
                round_to(noise, 2), "grey levels",
                f"frame-to-frame differences at rest ({pairs} pairs) show {shown:.2f}; white "
                "noise put through the frames' own JPEG tables shows as much at this level",
                sure="measured", sigma=round_to(noise / math.sqrt(2 * pairs), 2), samples=pairs)
            out["scene.flicker"] = Figure(
                round_to(flicker, 4), "share", f"spread of the mean brightness of {len(frames)} "
                "frames at rest", sigma=round_to(flicker / math.sqrt(2 * (len(frames) - 1)), 4),
                samples=len(frames))
    else:
        for key in ("preview_ms", "preview_size", "scene.noise", "scene.flicker"):
            out[key] = Missing("fewer than three live-view frames arrived")
    if look.first is not None:
        first = look.first.t1 - look.first.t0
        ratio = ""
        if isinstance(out.get("preview_ms"), Figure):
            ratio = f" ({first / (out['preview_ms'].value / 1000.0):.1f} frame times)"
        out["first_frame_s"] = Figure(
            round_to(first, 3), "s", "the first frame after the live view was switched off for a "
            f"second{ratio}; the simulator takes 4 frame times", samples=1)
    else:
        out["first_frame_s"] = Missing(look.first_why or "not measured")
    return out


def busy_part(busy: BusyData) -> Findings:
    how = ("pairs of largest requests, the second sent as soon as the first returned (never "
           "more than two outstanding), the lens's end compared with pictures of one and of "
           "two requests a pair from the same start")
    out: Findings = {"most_outstanding": Figure(busy.most_outstanding, "requests",
                                                "counted by the probe before every request")}
    if busy.kind is None:
        out["busy"] = Missing(busy.why or "not measured")
        return out
    ev = dict(busy.evidence)
    if busy.kind == "runs":
        out["busy"] = Missing("the camera's call returns only once the lens has stopped, "
                              "so no request reaches a moving lens (the simulator's busy "
                              "does not apply)")
        out["busy.seen"] = Figure("runs", how=how, sure="measured")
        return out
    out["busy"] = Figure(busy.kind, how=how + (f"; {ev['detail']}" if "detail" in ev else ""),
                         sure="measured", samples=ev.get("trials"))
    if busy.kind == "queue":
        out["queue_depth"] = Figure(
            2, "requests", "a queue was seen with two requests outstanding (one moving, one "
            "waiting); deeper was not probed: a Canon is reported to crash with 5",
            sure="lower bound")
    return out


def calibration_part(cal: Any) -> Findings:
    """The lens keys from a :class:`rig.calibration.Calibration`.

    Reads what the calibration measured and leaves out, as :class:`Missing`,
    what it did not: a calibration that keeps one mean step per size has no
    ``steps_far``; one without ``backlash`` measured none.  The profile's
    ``speed`` is the motor's (steps at the near stop over one command's
    motion time, ``move_s``); the calibration's own ``speed`` is the
    sustained one, with its margin for latency, and stands in (marked) when
    no motion time was measured.
    """
    extra = cal.extra if isinstance(getattr(cal, "extra", None), dict) else {}
    method = extra.get("method", "calibration")
    how = f"rig's calibration ({method})"
    out: Findings = {"steps": Figure(int(cal.steps), "steps", how + ": stop to stop",
                                     sigma=extra.get("range_sigma"))}
    for d in sorted(cal.drive, key=lambda d: d.size):
        key = f"drive.{d.size}"
        near = getattr(d, "steps_near", None)
        far = getattr(d, "steps_far", None)
        varies = near is not None
        near = float(d.steps if near is None else near)
        out[f"{key}.steps"] = Figure(round_to(near, 4), "steps", how + (
            ": at the near stop" if varies else ": one mean over the range"))
        if far is not None:
            out[f"{key}.steps_far"] = Figure(round_to(float(far), 4), "steps", how + ": at the far stop")
        elif d.size != 1:
            out[f"{key}.steps_far"] = Missing(
                "this calibration measures one mean step per size, not the steps at each stop")
        if d.jitter is not None:
            out[f"{key}.jitter"] = Figure(round_to(float(d.jitter), 3), "steps",
                                          how + ": spread of one command, one sigma")
        else:
            out[f"{key}.jitter"] = Missing("this calibration did not measure the spread")
        bounded = (extra.get("bounded_speeds") or {}).get(str(d.size))
        if d.move_s and bounded:
            # The calibration could not time this size's commands and spaced them by its
            # settled steps' wait: that is longer than the motion, so the speed is a floor.
            out[f"{key}.speed"] = Figure(
                round_to(near / float(d.move_s), 3), "steps/s",
                how + f": NOT TIMED ({bounded}): {near:g} step{'s' if near != 1 else ''} over "
                f"the settled steps' wait, {1000 * d.move_s:.1f} ms, which is longer than the "
                "motion: the lens is at least this fast", sure="lower bound")
            out[f"motion_ms.{d.size}"] = Figure(round_to(1000.0 * float(d.move_s), 2), "ms",
                                                how + ": the settled steps' wait, longer than "
                                                "one command's motion", sure="upper bound")
        elif d.move_s:
            out[f"{key}.speed"] = Figure(
                round_to(near / float(d.move_s), 3), "steps/s",
                how + f": {near:g} step{'s' if near != 1 else ''} over one command's "
                f"motion, {1000 * d.move_s:.1f} ms")
            out[f"motion_ms.{d.size}"] = Figure(round_to(1000.0 * float(d.move_s), 2), "ms",
                                                how + ": motion of one command")
        else:
            out[f"{key}.speed"] = Figure(
                round_to(float(d.speed), 3), "steps/s", how + ": the sustained speed (its spacing "
                "holds a margin for latency), as no motion time was measured",
                sure="lower bound")
    backlash = getattr(cal, "backlash", None)
    if backlash is None:
        backlash = extra.get("backlash")
    if backlash is not None:
        out["backlash"] = Figure(round_to(float(backlash), 2), "steps", how + ": steps lost on a "
                                 "reversal", sigma=extra.get("backlash_sigma"))
    else:
        out["backlash"] = Missing("this calibration does not measure backlash")
    out["calibration.latency_ms"] = Figure(round_to(cal.latency_ms, 1), "ms",
                                           how + ": its drive calls' round trip")
    if extra.get("busy") in ("queue", "drop", "error"):
        out["calibration.busy"] = Figure(extra["busy"], how=how)
    if extra.get("frame_s"):
        out["calibration.frame_ms"] = Figure(round_to(1000.0 * float(extra["frame_s"]), 1), "ms",
                                             how + ": its frames")
    return out


_FOCAL = re.compile(r"(?<![\d.\-])(\d{1,4}(?:\.\d+)?)\s*mm", re.I)
_ZOOM = re.compile(r"\d\s*-\s*\d+(?:\.\d+)?\s*mm", re.I)
_APERTURE = re.compile(r"(?:(?<![a-z])|(?<=mm))(?:f/?|1:)\s?(\d{1,2}(?:\.\d+)?)", re.I)


def name_optics(lens: str) -> tuple[float | None, float | None]:
    """Focal length and f-number as a prime lens's name gives them ("EF 24mm f/2.8")."""
    focal = None if _ZOOM.search(lens) else _FOCAL.search(lens)
    aperture = None
    for match in _APERTURE.finditer(lens):
        value = float(match.group(1))
        if 0.7 <= value <= 64:
            aperture = value
            break
    return (float(focal.group(1)) if focal else None), aperture


def advance(x: float, spec: DriveSpec, direction: int, span: float) -> float:
    """Where a command of ``spec`` from ``x`` ends, counted (the midpoint formula, clamped)."""
    return min(max(x + direction * spec.mean(x, direction, span), 0.0), span)


def optics_part(sweep: SweepData | None, lens: str, stated: Stated, why: str = "") -> Findings:
    """Breathing, the scene's planes, and the optics as far as they can be known."""
    from .distance import min_focus_for
    out: Findings = {}
    focal, aperture = name_optics(lens or "")
    if stated.focal_mm:
        out["optics.focal_mm"] = Figure(stated.focal_mm, "mm", "--focal", sure="stated")
    elif focal:
        out["optics.focal_mm"] = Figure(focal, "mm", f"the lens name ({lens})",
                                        sure="lens name")
    else:
        out["optics.focal_mm"] = Missing("the lens name gives no single focal length "
                                         "(a zoom, or no name): give --focal")
    if stated.f_number:
        out["optics.f_number"] = Figure(stated.f_number, "", "--f-number", sure="stated")
    elif aperture:
        out["optics.f_number"] = Figure(aperture, "", f"the lens name ({lens}): wide open",
                                        sure="lens name")
    else:
        out["optics.f_number"] = Missing("the lens name gives no f-number: give --f-number")
    out["optics.sensor_width_mm"] = Missing("the camera does not report its sensor's width "
                                            "(the simulator's default: full frame, 36 mm)")
    if sweep is None:
        for key in ("optics.breathing", "scene.layers", "focus_peak"):
            out[key] = Missing(why or "no sweep of the range")
        out.setdefault("optics.min_focus_m", _min_focus_without(stated, lens))
        return out
    span = float(sweep.span)
    b = breathing(list(sweep.frames), span)
    if b is None:
        out["optics.breathing"] = Missing("the pictures along the range did not match at any "
                                          "scale (too little detail)")
    else:
        value, sigma, pairs = b
        out["optics.breathing"] = Figure(
            round_to(value, 4), "share", f"the picture's scale between {pairs} pairs of frames a "
            "sixth of the range apart, fitted with scale = 1 + b (1 - x/R)", sigma=round_to(sigma, 4),
            samples=pairs)
    whole = peak(sweep.positions, sweep.sharpness)
    if whole is not None and whole[1] >= 1.3:
        out["focus_peak"] = Figure(round_to(whole[0], 1), "steps", "the sharpest frame of the sweep "
                                   "(a parabola through log-sharpness)", sure="measured")
    else:
        out["focus_peak"] = Missing("the focus curve has no clear peak")
    step = float(np.median(np.diff(sweep.positions))) if len(sweep.positions) > 1 else span
    gap = max(3.0 * step, 0.03 * span)
    planes = layers(sweep.positions, np.asarray(sweep.tiles), gap)
    if not planes:
        out["scene.layers"] = Missing("no part of the frame has a clear focus peak: a picture "
                                      "without detail")
        out.setdefault("optics.min_focus_m", _min_focus_without(stated, lens))
        return out
    subject = planes[-1]
    sigma_x = max(subject.spread, step / 2.0)
    share = 1.0 - subject.position / span
    if stated.subject_m and sigma_x > 0.25 * span * share:
        out["optics.min_focus_m"] = _min_focus_without(stated, lens)
        out["min_focus_from_subject"] = Missing(
            f"the subject is sharpest at {subject.position:.0f} ± {sigma_x:.0f} of {span:.0f} "
            "steps, too near the far stop (or too vaguely) to give the closest focus")
    elif stated.subject_m:
        out["optics.min_focus_m"] = Figure(
            round_to(stated.subject_m * share, 3), "m",
            f"the subject, stated at {stated.subject_m:g} m, is sharpest at "
            f"{subject.position:.0f} of {span:.0f} steps; 1/d is linear in the position",
            sure="derived", sigma=round_to(stated.subject_m * sigma_x / span, 3))
    else:
        out["optics.min_focus_m"] = _min_focus_without(stated, lens)
    m = out["optics.min_focus_m"]
    found = []
    for plane in planes:
        item: dict[str, Any] = {"position": round_to(plane.position, 1),
                                "spread": round_to(plane.spread, 1), "tiles": plane.tiles,
                                "box": None if plane.box is None else [round_to(v, 3) for v in plane.box],
                                "at_far_stop": plane.at_stop}
        if isinstance(m, Figure):
            share = 1.0 - plane.position / span
            edge = gap / span
            if plane.at_stop or share < edge:
                item["distance_m"] = round_to(m.value / edge, 2)
                item["distance_is"] = "at least"
            else:
                item["distance_m"] = round_to(m.value / share, 3)
                item["distance_is"] = "about"
        found.append(item)
    how = (f"each of {sweep.tiles.shape[1] * sweep.tiles.shape[2]} tiles' focus curve over "
           f"{len(sweep.positions)} frames peaks where its part of the scene is sharp; peaks "
           f"within {gap:.0f} steps are one plane; the one on the frame's edge is the "
           "background, the nearest is the subject")
    out["scene.layers"] = Figure(found, "", how, sure="estimated")
    if isinstance(m, Figure):
        out.update(_blur_part(sweep, subject, float(m.value)))
    return out


def _blur_part(sweep: SweepData, subject: Plane, min_focus_m: float) -> Findings:
    """How much the picture blurs per dioptre of defocus, on the subject (its box)."""
    from .probeview import ANALYSIS_WIDTH, blur_per_dioptre, frame_size
    span = float(sweep.span)
    xs = np.asarray(sweep.positions)
    i0 = int(np.argmin(np.abs(xs - subject.position)))

    def dioptres(x: float) -> float:
        return (1.0 - x / span) / min_focus_m

    near = [(dioptres(float(xs[j])) - dioptres(float(xs[i0])), sweep.frames[j][1])
            for j in range(max(0, i0 - 12), min(len(xs), i0 + 13)) if j != i0]
    found = blur_per_dioptre(sweep.frames[i0][1], near, subject.box)
    if found is None:
        return {"blur_px_per_dioptre": Missing("the subject's picture did not match a blurred "
                                               "copy of its sharpest frame")}
    slope, sigma, n = found
    width = frame_size(sweep.frames[0][1])[0]
    scale = width / min(ANALYSIS_WIDTH, width)
    if slope * scale < 3.0 * sigma * scale or slope * scale < 0.05:
        return {"blur_px_per_dioptre": Missing(
            f"the blur grows too little with defocus to measure ({slope * scale:.2f} ± "
            f"{sigma * scale:.2f} px per dioptre)")}
    return {"blur_px_per_dioptre": Figure(
        round_to(slope * scale, 2), "px", f"the blur disc per dioptre of defocus at the frame's "
        f"width: {n} frames around the subject's sharpest, each matched by that frame blurred "
        "by a disc", sigma=round_to(sigma * scale, 2), samples=n)}


def _min_focus_without(stated: Stated, lens: str) -> Entry:
    from .distance import min_focus_for
    if stated.min_focus_m:
        return Figure(stated.min_focus_m, "m", "--min-focus", sure="stated")
    table = min_focus_for(lens or "")
    if table:
        return Figure(table, "m", "rig's table of lenses (the maker's specification)",
                      sure="rig's table")
    return Missing("not known: give the subject's distance (--subject-distance) or the lens's "
                   "closest focus (--min-focus)")
