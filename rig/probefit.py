"""What the probe measured, as figures, and the simulator profile they make.

Pure: no camera here.  :mod:`rig.probe` drives the camera and hands each
phase's raw measurements to a ``*_part`` function below, which turns them
into :class:`Figure` s (a value, its unit, how it was measured, how sure it
is) or :class:`Missing` entries (why it could not be measured), keyed by the
profile key they stand for (``drive.3.steps_far``) or, for what only the
report shows, a name of their own (``first_frame_s``).

:func:`profile_text` writes the profile: every key with a comment that says
where its number comes from.  A key the probe could not measure is written
as a comment that says so.  Where the file format needs a number the probe
does not have (the range when the lens did not move, say), the value of a
shipped profile of the same family stands in, marked ``NOT MEASURED`` with
the reason, so that the file still loads and nothing reads as measured that
was not.
"""

from __future__ import annotations

import math
import re
import textwrap
import tomllib
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from .probeview import Plane, breathing, layers, noise_and_flicker, peak
from .simprofile import PROFILES, VENDORS, DriveSpec
from .zoo import dump

__all__ = ["Figure", "Missing", "Findings", "Shot", "LookData", "BusyData", "SweepData",
           "Stated", "calibration_part", "camera_part", "latency_part", "look_part",
           "busy_part", "optics_part", "name_optics", "profile_values", "profile_text",
           "STAND_INS", "advance"]


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


def _r(value: float, digits: int = 3) -> float:
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
        "latency_ms": Figure(_r(mean, 1), "ms", how, sigma=_r(std / math.sqrt(n), 2),
                             samples=n),
        "latency_jitter_ms": Figure(_r(std, 1), "ms", "the spread (one sigma) of those calls",
                                    sigma=_r(std / math.sqrt(2 * (n - 1)), 2), samples=n),
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
            _r(ms, 1), "ms", f"median interval of {len(frames)} live-view frames taken back "
            f"to back (each call {1000 * float(np.median(calls)):.1f} ms)",
            sigma=_r(1000.0 * float(np.std(gaps, ddof=1)) / math.sqrt(len(gaps)), 2),
            samples=len(gaps))
        w, h = frame_size(frames[0].data)
        out["preview_size"] = Figure([w, h], "px", "the size of the live-view JPEG")
        measured = noise_and_flicker([s.data for s in frames])
        if measured is not None:
            noise, flicker, shown, pairs = measured
            out["scene.noise"] = Figure(
                _r(noise, 2), "grey levels",
                f"frame-to-frame differences at rest ({pairs} pairs) show {shown:.2f}; white "
                "noise put through the frames' own JPEG tables shows as much at this level",
                sure="measured", sigma=_r(noise / math.sqrt(2 * pairs), 2), samples=pairs)
            out["scene.flicker"] = Figure(
                _r(flicker, 4), "share", f"spread of the mean brightness of {len(frames)} "
                "frames at rest", sigma=_r(flicker / math.sqrt(2 * (len(frames) - 1)), 4),
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
            _r(first, 3), "s", "the first frame after the live view was switched off for a "
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
        out[f"{key}.steps"] = Figure(_r(near, 4), "steps", how + (
            ": at the near stop" if varies else ": one mean over the range"))
        if far is not None:
            out[f"{key}.steps_far"] = Figure(_r(float(far), 4), "steps", how + ": at the far stop")
        elif d.size != 1:
            out[f"{key}.steps_far"] = Missing(
                "this calibration measures one mean step per size, not the steps at each stop")
        if d.jitter is not None:
            out[f"{key}.jitter"] = Figure(_r(float(d.jitter), 3), "steps",
                                          how + ": spread of one command, one sigma")
        else:
            out[f"{key}.jitter"] = Missing("this calibration did not measure the spread")
        if d.move_s:
            out[f"{key}.speed"] = Figure(
                _r(near / float(d.move_s), 3), "steps/s",
                how + f": {near:g} step{'s' if near != 1 else ''} over one command's "
                f"motion, {1000 * d.move_s:.1f} ms")
            out[f"motion_ms.{d.size}"] = Figure(_r(1000.0 * float(d.move_s), 2), "ms",
                                                how + ": motion of one command")
        else:
            out[f"{key}.speed"] = Figure(
                _r(float(d.speed), 3), "steps/s", how + ": the sustained speed (its spacing "
                "holds a margin for latency), as no motion time was measured",
                sure="lower bound")
    backlash = getattr(cal, "backlash", None)
    if backlash is None:
        backlash = extra.get("backlash")
    if backlash is not None:
        out["backlash"] = Figure(_r(float(backlash), 2), "steps", how + ": steps lost on a "
                                 "reversal", sigma=extra.get("backlash_sigma"))
    else:
        out["backlash"] = Missing("this calibration does not measure backlash")
    out["calibration.latency_ms"] = Figure(_r(cal.latency_ms, 1), "ms",
                                           how + ": its drive calls' round trip")
    if extra.get("busy") in ("queue", "drop", "error"):
        out["calibration.busy"] = Figure(extra["busy"], how=how)
    if extra.get("frame_s"):
        out["calibration.frame_ms"] = Figure(_r(1000.0 * float(extra["frame_s"]), 1), "ms",
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
            _r(value, 4), "share", f"the picture's scale between {pairs} pairs of frames a "
            "sixth of the range apart, fitted with scale = 1 + b (1 - x/R)", sigma=_r(sigma, 4),
            samples=pairs)
    whole = peak(sweep.positions, sweep.sharpness)
    if whole is not None and whole[1] >= 1.3:
        out["focus_peak"] = Figure(_r(whole[0], 1), "steps", "the sharpest frame of the sweep "
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
            _r(stated.subject_m * share, 3), "m",
            f"the subject, stated at {stated.subject_m:g} m, is sharpest at "
            f"{subject.position:.0f} of {span:.0f} steps; 1/d is linear in the position",
            sure="derived", sigma=_r(stated.subject_m * sigma_x / span, 3))
    else:
        out["optics.min_focus_m"] = _min_focus_without(stated, lens)
    m = out["optics.min_focus_m"]
    found = []
    for plane in planes:
        item: dict[str, Any] = {"position": _r(plane.position, 1),
                                "spread": _r(plane.spread, 1), "tiles": plane.tiles,
                                "box": None if plane.box is None else [_r(v, 3) for v in plane.box],
                                "at_far_stop": plane.at_stop}
        if isinstance(m, Figure):
            share = 1.0 - plane.position / span
            edge = gap / span
            if plane.at_stop or share < edge:
                item["distance_m"] = _r(m.value / edge, 2)
                item["distance_is"] = "at least"
            else:
                item["distance_m"] = _r(m.value / share, 3)
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
        _r(slope * scale, 2), "px", f"the blur disc per dioptre of defocus at the frame's "
        f"width: {n} frames around the subject's sharpest, each matched by that frame blurred "
        "by a disc", sigma=_r(sigma * scale, 2), samples=n)}


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


# ------------------------------------------------------------ the profile


STAND_INS = {"canon": "canon-ef24-real.toml", "olympus": "olympus-em1.toml",
             "panasonic": "panasonic-gh5.toml", "nikon": "nikon-d750.toml",
             "sony": "sony-a7.toml", "fuji": "fuji-gfx.toml"}

# rig's size k is Sony's manualfocus magnitude (rig.drives.SonyDrive.magnitudes)
_SONY_KEYS = {1: 1, 2: 3, 3: 5}


def _stand_in(family: str) -> tuple[str, dict[str, Any]]:
    name = STAND_INS.get(family, "canon-ef24-real.toml")
    return name, tomllib.loads((PROFILES / name).read_text())


def _note(entry: Figure) -> str:
    sigma = f" ± {entry.sigma:g}" if entry.sigma else ""
    sure = "" if entry.sure in ("measured", "lens name") else f" ({entry.sure})"
    return f"{entry.how}{sigma}{sure}"


class _Writer:
    """Values for :func:`rig.zoo.dump` with a comment for each, and comment-only lines."""

    def __init__(self, findings: Mapping[str, Entry], family: str) -> None:
        self.f = findings
        self.family = family
        self.stand_in_name, self.stand_in = _stand_in(family)
        self.values: dict[str, Any] = {}
        self.notes: dict[str, str] = {}
        self.lines: dict[str, list[str]] = {}     # table -> comment lines at its end
        self.missing: dict[str, str] = {}         # key -> why (for the header and report)

    def _table(self, path: str) -> tuple[dict[str, Any], str]:
        parts = path.split(".")
        table = self.values
        for p in parts[:-1]:
            table = table.setdefault(p, {})
        return table, parts[-1]

    def put(self, path: str, value: Any, note: str) -> None:
        table, key = self._table(path)
        table[key] = value
        self.notes[path] = note

    def comment(self, table: str, text: str) -> None:
        self.lines.setdefault(table, []).append(text)

    def measured(self, key: str, path: str | None = None, *, required: bool = False,
                 stand_in: Any = None, default_note: str = "") -> None:
        """Write ``key`` if measured; else a comment (or, if required, a marked stand-in)."""
        path = path or key
        entry = self.f.get(key)
        if isinstance(entry, Figure):
            self.put(path, entry.value, _note(entry))
            return
        why = entry.why if isinstance(entry, Missing) else "not measured"
        self.missing[path] = why
        if required:
            self.put(path, stand_in, f"NOT MEASURED ({why}): {self.stand_in_name}'s value, "
                                     "so that this file loads")
        else:
            table = path.rsplit(".", 1)[0] if "." in path else ""
            self.comment(table, f"# {path.rsplit('.', 1)[-1]}: not measured: {why}"
                         + (f"; {default_note}" if default_note else ""))


def profile_values(findings: Mapping[str, Entry]) -> _Writer:
    """The profile's values, with a note for each and comments for the rest."""
    vendor = findings["vendor"]
    family = vendor.value if isinstance(vendor, Figure) else "canon"
    w = _Writer(findings, family)
    s = w.stand_in
    w.put("vendor", family, _note(vendor) if isinstance(vendor, Figure) else "")
    w.measured("lens", required=True, stand_in="unknown lens")
    w.measured("model")
    w.measured("steps", required=True, stand_in=int(s["steps"]))
    w.put("start", 0 if isinstance(findings.get("start"), Figure) else int(s["start"]),
          _note(findings["start"]) if isinstance(findings.get("start"), Figure) else
          f"NOT MEASURED ({getattr(findings.get('start'), 'why', 'not known')}): "
          f"{w.stand_in_name}'s value, so that this file loads")
    w.measured("latency_ms", required=True, stand_in=float(s["latency_ms"]))
    w.measured("latency_jitter_ms", default_note="the default, 0, applies")
    w.measured("preview_ms", default_note="the default, 50 ms, applies")
    _frame_size(w, findings)
    _busy(w, findings)
    w.measured("backlash", default_note="the default, 0, applies")
    w.put("seed", 1, "the simulator's random seed, not a property of the camera")
    _optics_and_scene(w, findings)
    _drives(w, findings)
    for table in ("nikon", "fuji", "sony"):
        if family == table and table in s:
            for key, value in s[table].items():
                w.put(f"{table}.{key}", value, f"NOT MEASURED (the probe does not measure "
                                               f"the {table} table): {w.stand_in_name}'s value")
                w.missing[f"{table}.{key}"] = "the probe does not measure it"
    return w


def _frame_size(w: _Writer, f: Mapping[str, Entry]) -> None:
    entry = f.get("preview_size")
    if isinstance(entry, Figure):
        width, height = entry.value
        if 64 <= width <= 1920 and 48 <= height <= 1280:
            w.put("preview_size", [int(width), int(height)], _note(entry))
            return
        why = f"{width}x{height} is outside what the simulator draws (64..1920 x 48..1280)"
    else:
        why = entry.why if isinstance(entry, Missing) else "not measured"
    w.missing["preview_size"] = why
    w.comment("", f"# preview_size: not measured: {why}; the simulator's default, 320x224, "
                  "applies")


def _busy(w: _Writer, f: Mapping[str, Entry]) -> None:
    entry = f.get("busy")
    if isinstance(entry, Figure):
        w.put("busy", entry.value, _note(entry))
        depth = f.get("queue_depth")
        if entry.value == "queue" and isinstance(depth, Figure):
            w.put("queue_depth", depth.value,
                  "the probe saw a queue of 2 (one moving, one waiting) and probed no deeper "
                  "(a Canon is reported to crash with 5): the simulator hangs on a third, "
                  "which rig never sends")
        return
    why = entry.why if isinstance(entry, Missing) else "not measured"
    w.missing["busy"] = why
    w.comment("", f"# busy: not measured: {why}; the simulator's default, \"drop\", applies")


def _drives(w: _Writer, f: Mapping[str, Entry]) -> None:
    stand_in = w.stand_in.get("drive", {})
    sizes = sorted({int(k.split(".")[1]) for k in f if k.startswith("drive.")})
    keys = {}
    for size in sizes:
        keys[size] = _SONY_KEYS.get(size, size) if w.family == "sony" else size
    if VENDORS[w.family][2] == 0:
        return                                  # nikon, fuji: no drive table
    required = ("1", "2", "3") if w.family == "sony" else tuple(
        str(k) for k in range(1, VENDORS[w.family][2] + 1))
    for name in required:
        if int(name) not in keys.values():
            sub = stand_in.get(name, {"steps": 1.0, "speed": 20.0})
            for key in ("steps", "speed"):
                w.put(f"drive.{name}.{key}", sub[key],
                      f"NOT MEASURED (no calibration of this size): {w.stand_in_name}'s value")
                w.missing[f"drive.{name}.{key}"] = "no calibration of this size"
    for size, name in sorted(keys.items()):
        sub = stand_in.get(str(name), {"steps": 1.0, "speed": 20.0})
        base = f"drive.{size}"
        w.measured(f"{base}.steps", f"drive.{name}.steps", required=True, stand_in=sub["steps"])
        far = f.get(f"{base}.steps_far")
        if isinstance(far, Figure) and size != 1:
            w.measured(f"{base}.steps_far", f"drive.{name}.steps_far")
        elif size != 1:
            w.measured(f"{base}.steps_far", f"drive.{name}.steps_far",
                       default_note="the steps are taken as the same over the range")
        w.measured(f"{base}.jitter", f"drive.{name}.jitter", default_note="0 applies")
        w.measured(f"{base}.speed", f"drive.{name}.speed", required=True,
                   stand_in=sub["speed"])


def _optics_and_scene(w: _Writer, f: Mapping[str, Entry]) -> None:
    found = f.get("scene.layers")
    planes = found.value if isinstance(found, Figure) else []
    placed = [p for p in planes if "distance_m" in p]
    focal, aperture, near = f.get("optics.focal_mm"), f.get("optics.f_number"), \
        f.get("optics.min_focus_m")
    blur, size = f.get("blur_px_per_dioptre"), f.get("preview_size")
    blurs = isinstance(blur, Figure) and isinstance(size, Figure)
    gaps = {k: e.why for k, e in (("optics.min_focus_m", near), ("optics.focal_mm", focal),
                                  ("optics.f_number", aperture)) if isinstance(e, Missing)}
    if not isinstance(near, Figure) or not placed or len(placed) < len(planes) or (
            not blurs and (not isinstance(focal, Figure) or not isinstance(aperture, Figure))):
        _no_optics(w, f, gaps, found, placed)
        return
    s_optics = w.stand_in.get("optics", {"focal_mm": 50.0})
    if isinstance(focal, Figure):
        w.put("optics.focal_mm", focal.value, _note(focal))
        f_mm = float(focal.value)
    else:
        f_mm = float(s_optics["focal_mm"])
        w.put("optics.focal_mm", f_mm, f"NOT MEASURED ({focal.why if focal else ''}): "
                                       f"{w.stand_in_name}'s value; with f_number it gives the "
                                       "blur the picture shows")
        w.missing["optics.focal_mm"] = getattr(focal, "why", "not measured")
    if blurs:
        _effective_aperture(w, f_mm, float(blur.value), int(size.value[0]), blur, aperture)
    else:
        w.put("optics.f_number", aperture.value, _note(aperture))
        w.comment("optics", "# sensor_width_mm: not measured (the camera does not say); the "
                            "simulator's default, 36 mm (full frame), applies")
    w.put("optics.min_focus_m", near.value, _note(near))
    w.measured("optics.breathing", default_note="the default, 0, applies")
    layers_out = []
    for i, plane in enumerate(placed):
        distance = max(float(plane["distance_m"]), float(near.value))
        layer: dict[str, Any] = {"distance_m": _r(min(distance, 100000.0), 3)}
        if i > 0:
            layer["box"] = plane["box"]
        layers_out.append(layer)
        w.notes[f"scene.layers[{i}]"] = (
            f"sharpest at {plane['position']:g} ± {plane['spread']:g} steps "
            f"({plane['tiles']} tiles); {plane['distance_is']} {plane['distance_m']:g} m"
            + ("; the background fills the frame" if i == 0 else "")
            + ("; the subject" if i == len(placed) - 1 else ""))
    w.values.setdefault("scene", {})
    _scene_common(w, f)
    w.values["scene"]["layers"] = layers_out
    w.comment("scene.layers[*]", "# contrast: not measured (the default, 1, applies)")


def _effective_aperture(w: _Writer, focal: float, blur: float, width: int, entry: Figure,
                        named: Entry | None) -> None:
    """The f-number (and, beyond its range, the sensor width) that gives the blur seen.

    The simulator blurs by a disc of ``(f^2 / N) / sensor_width * width / 1000``
    pixels per dioptre; only that product is seen in the picture.
    """
    per_n = blur * 36.0 / width * 1000.0          # f^2 / N with a 36 mm sensor
    n = focal * focal / per_n
    said = f"; the lens name says f/{named.value:g}" if isinstance(named, Figure) else ""
    how = (f"effective: the picture blurs {blur:g} ± {entry.sigma or 0:g} px per dioptre "
           f"(measured on the subject), which this f-number gives{said}")
    if 0.7 <= n <= 64:
        w.put("optics.f_number", _r(n, 3), how + " with the default 36 mm sensor")
        w.comment("optics", "# sensor_width_mm: not measured (the camera does not say); the "
                            "default, 36 mm, goes with the effective f-number above")
        return
    n = min(max(n, 0.7), 64.0)
    width_mm = focal * focal / n * width / 1000.0 / blur
    w.put("optics.f_number", n, how + ", at the end of the range the simulator takes")
    w.put("optics.sensor_width_mm", _r(width_mm, 3),
          "not the sensor's width (the camera does not say): chosen with the f-number above "
          f"so that the simulator blurs {blur:g} px per dioptre, as the picture does")


def _no_optics(w: _Writer, f: Mapping[str, Entry], gaps: dict[str, str], found: Any,
               placed: list[Any]) -> None:
    """Not enough for [optics]: say what is missing, keep what was measured as comments,
    and let the stand-in's scene make the file load."""
    reasons = [f"{k}: {why}" for k, why in gaps.items()]
    if not placed:
        reasons.append("scene.layers: " + (found.why if isinstance(found, Missing)
                                           else "no plane could be placed in metres"))
    why = "; ".join(reasons) or "not measured"
    for key in ("optics.focal_mm", "optics.f_number", "optics.min_focus_m", "optics.breathing",
                "blur_px_per_dioptre", "scene.layers"):
        entry = f.get(key)
        if isinstance(entry, Figure):
            w.comment("", f"# measured, not written without the rest of [optics]: "
                          f"{key} = {entry.value!r}")
    w.missing["optics"] = why
    w.missing["scene.layers"] = why
    s = w.stand_in
    if "optics" in s:
        for key, value in s["optics"].items():
            w.put(f"optics.{key}", value, f"NOT MEASURED: {w.stand_in_name}'s value")
        w.values.setdefault("scene", {})
        _scene_common(w, f)
        w.values["scene"]["layers"] = [dict(layer) for layer in s["scene"]["layers"]]
        for i in range(len(s["scene"]["layers"])):
            w.notes[f"scene.layers[{i}]"] = f"NOT MEASURED: {w.stand_in_name}'s scene"
    else:
        w.values.setdefault("scene", {})
        for key in ("subject", "blur_per_step"):
            if key in s["scene"]:
                w.put(f"scene.{key}", s["scene"][key], f"NOT MEASURED: {w.stand_in_name}'s value")
        _scene_common(w, f)
    w.notes["optics" if "optics" in s else "scene"] = (
        f"NOT MEASURED ({why}): {w.stand_in_name}'s scene, so that this file loads")


def _scene_common(w: _Writer, f: Mapping[str, Entry]) -> None:
    w.measured("scene.noise", default_note="the default, 2, applies")
    w.measured("scene.flicker", default_note="the default, 0, applies")


# ------------------------------------------------------------ annotation


_HEADER = re.compile(r"^\[\[?([^\]]+)\]\]?$")
_KEY = re.compile(r"^([A-Za-z0-9_\-\"]+)\s*=")
WIDTH = 100


def _wrap(text: str, indent: str = "# ") -> list[str]:
    return [indent + line for line in textwrap.wrap(text, 96 - len(indent))]


def profile_text(findings: Mapping[str, Entry], header: Sequence[str] = ()) -> str:
    """The profile as TOML, each key with where its number comes from."""
    w = profile_values(findings)
    raw = dump(w.values).splitlines()
    out = [f"# {line}" if line else "#" for line in header]
    if w.missing:
        out += _wrap("Not measured (see the comments below and the report): "
                     + ", ".join(sorted(w.missing)) + ".")
        out.append("")
    table, counts = "", {}
    body: list[str] = []

    def close(name: str) -> None:
        lines = list(w.lines.get(name, []))
        if name.startswith("scene.layers["):
            lines += w.lines.get("scene.layers[*]", [])
        blank = 0
        while body and not body[-1]:
            body.pop()
            blank += 1
        for line in lines:
            body.extend(_wrap(line[2:]) if len(line) > WIDTH else [line])
        body.extend([""] * blank)

    for line in raw:
        head = _HEADER.match(line)
        if head:
            close(table)
            name = head.group(1)
            if line.startswith("[["):
                counts[name] = counts.get(name, -1) + 1
                table = f"{name}[{counts[name]}]"
            else:
                table = name
            note = w.notes.get(table)
            body.append(line if not note else _attach(line, note, body))
            continue
        key = _KEY.match(line)
        if key:
            path = f"{table}.{key.group(1)}" if table else key.group(1)
            note = w.notes.get(path)
            body.append(line if not note else _attach(line, note, body))
        else:
            body.append(line)
    close(table)
    return "\n".join(out + body).rstrip("\n") + "\n"


def _attach(line: str, note: str, body: list[str]) -> str:
    """``line`` with ``note`` at its end, or the note on comment lines above it."""
    padded = f"{line:<{max(26, len(line) + 2)}}# {note}"
    if len(padded) <= WIDTH:
        return padded
    body.extend(_wrap(note))
    return line
