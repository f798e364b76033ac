"""The probe's report: every figure with how it was measured and how sure it is.

``rig probe --report REPORT.json`` writes::

    {"probe": 1, "camera": ..., "lens": ..., "family": ..., "profile": "PROFILE.toml",
     "figures": {"latency_ms": {"value", "unit", "how", "sure", "sigma", "samples"}, ...},
     "missing": {"backlash": "why", ...},
     "agreement": [{"figure", "probe", "calibration", "agree"}],
     "calibration": {...} or {"error": "why it stopped"},
     "plots": {"focus": "REPORT-focus.png", "steps": "REPORT-steps.png"},
     "camera_s": seconds on the camera's clock}

and two pictures beside it (:func:`focus_figure`, :func:`steps_figure`),
drawn with :mod:`rig.plot`'s charts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from PIL import Image, ImageDraw

from .plot import FONT, Chart, Series, line_chart, stack
from .probefit import Entry, Figure, Missing, SweepData

__all__ = ["report", "focus_figure", "steps_figure", "write_report", "summary_lines"]


def _agreement(findings: Mapping[str, Entry]) -> list[dict[str, Any]]:
    """Where the probe and the calibration measured the same thing two ways."""
    out = []
    pairs = (("busy", "calibration.busy", lambda a, b: a == b),
             ("latency_ms", "calibration.latency_ms", lambda a, b: abs(a - b) <= 0.2 * a),
             ("preview_ms", "calibration.frame_ms", lambda a, b: abs(a - b) <= 0.1 * a))
    for mine, theirs, same in pairs:
        a, b = findings.get(mine), findings.get(theirs)
        if isinstance(a, Figure) and isinstance(b, Figure):
            out.append({"figure": mine, "probe": a.value, "calibration": b.value,
                        "agree": bool(same(a.value, b.value))})
    return out


def report(findings: Mapping[str, Entry], *, calibration: Any = None, error: str = "",
           profile: str = "", plots: Mapping[str, str] | None = None,
           camera_s: float = 0.0) -> dict[str, Any]:
    def value(key: str) -> Any:
        entry = findings.get(key)
        return entry.value if isinstance(entry, Figure) else None

    cal: dict[str, Any] = {"error": error} if calibration is None else calibration.to_json()
    return {
        "probe": 1,
        "camera": value("model"), "lens": value("lens"), "family": value("vendor"),
        "profile": profile,
        "figures": {k: e.to_json() for k, e in sorted(findings.items())
                    if isinstance(e, Figure)},
        "missing": {k: e.why for k, e in sorted(findings.items()) if isinstance(e, Missing)},
        "agreement": _agreement(findings),
        "calibration": cal,
        "plots": dict(plots or {}),
        "camera_s": round(camera_s, 1),
    }


def summary_lines(findings: Mapping[str, Entry]) -> list[str]:
    """A few lines for the terminal: the main figures, then what is missing."""
    def show(key: str, label: str, fmt: str = "{}") -> str | None:
        entry = findings.get(key)
        if isinstance(entry, Figure):
            sigma = f" ± {entry.sigma:g}" if entry.sigma else ""
            unit = f" {entry.unit}" if entry.unit and entry.unit not in ("share", "requests") \
                else ""
            return f"  {label}: {fmt.format(entry.value)}{sigma}{unit}"
        if isinstance(entry, Missing):
            return f"  {label}: not measured ({entry.why})"
        return None

    rows = [show("model", "camera"), show("lens", "lens"), show("latency_ms", "call latency"),
            show("latency_jitter_ms", "its spread"), show("preview_ms", "frame time"),
            show("preview_size", "frame size", "{0[0]}x{0[1]}"),
            show("first_frame_s", "first frame"),
            show("busy", "a request during motion"), show("steps", "range"),
            show("backlash", "backlash")]
    for size in (2, 3):
        rows.append(show(f"drive.{size}.steps", f"size {size} near"))
        rows.append(show(f"drive.{size}.steps_far", f"size {size} far"))
    for size in (1, 2, 3):
        speed = findings.get(f"drive.{size}.speed")
        if isinstance(speed, Figure) and speed.sure == "lower bound":
            rows.append(f"  size {size} speed: at least {speed.value:g} steps/s (not timed: "
                        "the profile's lens is slower than the real one)")
    rows += [show("optics.breathing", "breathing"), show("optics.min_focus_m", "closest focus"),
             show("most_outstanding", "most requests outstanding")]
    return [r for r in rows if r]


# ------------------------------------------------------------------ plots


def focus_figure(sweep: SweepData | None, findings: Mapping[str, Entry],
                 title: str = "") -> Image.Image:
    """The focus curve of the sweep, with the planes found marked."""
    if sweep is None:
        return _notes([title, "no focus curve: the range was not swept"])
    marks = [(float(sweep.span), "far stop")]
    planes = findings.get("scene.layers")
    if isinstance(planes, Figure):
        for i, plane in enumerate(planes.value):
            label = "subject" if i == len(planes.value) - 1 and i > 0 else (
                "background" if i == 0 else f"plane {i}")
            marks.append((plane["position"], f"{label} {plane['position']:g}"))
    top = max(sweep.sharpness) or 1.0
    chart = line_chart(Chart(
        f"sharpness along the range: {len(sweep.positions)} frames, size-{sweep.size} "
        "commands", "position (size-1 steps from the near stop)", "share of the sharpest",
        [Series("focus measure", list(sweep.positions), [v / top for v in sweep.sharpness],
                dots=True)], marks, legend="left"))
    return stack([_notes([title]), chart])


def steps_figure(findings: Mapping[str, Entry], title: str = "") -> Image.Image:
    """Each size's steps along the range, as a change from the near stop's (per cent):
    measured at the two stops, linear in between."""
    span = findings.get("steps")
    if not isinstance(span, Figure):
        return _notes([title, "no step sizes: the calibration did not finish"])
    series, notes = [], []
    for size in (2, 3, 4, 5, 6, 7):
        near = findings.get(f"drive.{size}.steps")
        if not isinstance(near, Figure):
            continue
        far = findings.get(f"drive.{size}.steps_far")
        far_value = float(far.value) if isinstance(far, Figure) else float(near.value)
        change = 100.0 * (far_value / float(near.value) - 1.0)
        series.append(Series(f"size {size}: {near.value:g} -> {far_value:g}",
                             [0.0, float(span.value)], [0.0, change], dots=True))
        notes.append(f"size {size}: {near.value:g} steps at the near stop, "
                     + (f"{far_value:g} at the far stop ({change:+.1f} %)"
                        if isinstance(far, Figure) else
                        "one mean over the range (this calibration does not measure each stop)"))
    chart = line_chart(Chart("effective steps per command along the range, against the near "
                             "stop's (size 1 is one step everywhere)",
                             "position (size-1 steps from the near stop)", "change, per cent",
                             series), (720, 260))
    return stack([_notes([title]), chart, _notes(notes)])


def _notes(lines: list[str]) -> Image.Image:
    img = Image.new("RGB", (720, 8 + 14 * len(lines)), "white")
    draw = ImageDraw.Draw(img)
    for i, text in enumerate(lines):
        draw.text((16, 4 + 14 * i), text, font=FONT, fill="black")
    return img


def write_report(path: Path, findings: Mapping[str, Entry], *, sweep: SweepData | None,
                 calibration: Any, error: str, profile: str, camera_s: float) -> dict[str, Any]:
    """REPORT.json and its two pictures (REPORT-focus.png, REPORT-steps.png) beside it."""
    import json

    from .store import atomic_write_bytes
    title = " ".join(str(findings[k].value) for k in ("model", "lens")
                     if isinstance(findings.get(k), Figure))
    plots = {}
    for name, picture in (("focus", focus_figure(sweep, findings, title)),
                          ("steps", steps_figure(findings, title))):
        target = path.with_name(f"{path.stem}-{name}.png")
        picture.save(target)
        plots[name] = target.name
    data = report(findings, calibration=calibration, error=error, profile=profile,
                  plots=plots, camera_s=camera_s)
    atomic_write_bytes(path, (json.dumps(data, indent=1) + "\n").encode())
    return data
