"""The simulator profile that the probe's findings make, with a comment for every key.

Pure: :func:`profile_text` takes the findings of :mod:`rig.probefit` and
writes the TOML (with :func:`rig.zoo.dump`), every key with a comment that
says where its number comes from.  A key the probe could not measure is
written as a comment that says so.  Where the file format needs a number the
probe does not have (the range when the lens did not move, say), the value
of a shipped profile of the same family stands in, marked ``NOT MEASURED``
with the reason, so that the file still loads and nothing reads as measured
that was not.
"""

from __future__ import annotations

import re
import textwrap
import tomllib
from typing import Any, Mapping, Sequence

from .probefit import Entry, Figure, Missing, round_to
from .simprofile import PROFILES, VENDORS
from .zoo import dump

__all__ = ["profile_text", "profile_values", "STAND_INS"]


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
        layer: dict[str, Any] = {"distance_m": round_to(min(distance, 100000.0), 3)}
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
           "(measured on the subject), which this f-number gives")
    if 0.7 <= n <= 64:
        w.put("optics.f_number", round_to(n, 3), how + " with the default 36 mm sensor" + said)
        w.comment("optics", "# sensor_width_mm: not measured (the camera does not say); the "
                            "default, 36 mm, goes with the effective f-number above")
        return
    n = min(max(n, 0.7), 64.0)
    width_mm = focal * focal / n * width / 1000.0 / blur
    w.put("optics.f_number", n, how + ", at the end of the range the simulator takes" + said)
    w.put("optics.sensor_width_mm", round_to(width_mm, 3),
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
