"""The lens zoo: simulator profiles drawn from the whole realistic space.

Every lens is one we never tuned for (``docs/simulator.md``, issue 13).
:func:`draw` gives the values of one profile, drawn from what real
cameras and lenses do (``camera-facts.md``): 14-200 mm lenses at f/1.4-5.6
with minimum focus distances plausible for their focal length (and a few
macro lenses), 300-1,400 steps, size ratios like 1:4:26, 1:4.3:30 and
1:6.4:46, steps that change by up to 13 % from the near stop to the far
stop, backlash, spread, latency, queueing, dropping and refusing bodies,
live view at 70-130 ms a frame, and a two-layer scene (a detailed subject
within about 3 x the minimum focus distance plus a metre, a background
farther).  The same seed always gives the same lens.

:func:`dump` writes such values (or any profile's) as TOML that
:func:`rig.sim.load_profile` reads back to the same profile: what a probe of
a real lens can save.  No TOML-writing dependency: the subset profiles use
is small.
"""

from __future__ import annotations

import math
import re
from typing import Any, Mapping

import numpy as np

from .simprofile import Profile, parse_profile

__all__ = ["draw", "dump", "profile", "FOCALS", "APERTURES", "EF24_SPEEDS"]

FOCALS = (14, 16, 20, 24, 28, 35, 40, 50, 60, 85, 100, 105, 135, 180, 200)
MACRO_FOCALS = (60, 90, 100, 105, 180)
APERTURES = (1.4, 1.8, 2.0, 2.8, 4.0, 5.6)
EF24_SPEEDS = (23.496, 48.733, 94.321)   # steps/s of sizes 1/2/3 (focus_sq, EF 24mm f/2.8 IS)
STEPS_FAR = 0.13                          # steps at the far stop within +-13 % of the near stop's


def _round(value: float, digits: int = 3) -> float:
    return float(round(float(value), digits))


def draw(seed: int) -> dict[str, Any]:
    """The values of one realistic profile, as its TOML file holds them."""
    rng = np.random.default_rng([int(seed), 0x5A00])
    u = rng.uniform

    macro = rng.random() < 0.12
    if macro:
        focal = int(rng.choice(MACRO_FOCALS))
        f_number = 2.8 if focal < 150 else 3.5
        min_focus = max(0.15, focal * u(2.4, 3.2) / 1000.0)      # 1:1 at about 3f from the sensor
    else:
        focal = int(rng.choice(FOCALS))
        f_number = float(rng.choice(APERTURES))
        min_focus = 0.1 + focal * u(3.5, 9.0) / 1000.0            # 24 mm: 0.2-0.3 m; 85: 0.4-0.9
    min_focus = _round(min_focus, 2)
    steps = int(rng.integers(300, 1401))

    # sizes: 1 : r2 : r3 (1:4:26, 1:4.3:30, 1:6.4:46 and around)
    r2 = u(3.8, 6.6)
    r3 = r2 * u(6.3, 7.4)
    # Size 1 is the unit of position (one step everywhere); the larger sizes' steps,
    # counted in it, change along the range by up to 13 % each, mostly alike.
    far = u(1.0 - STEPS_FAR, 1.0 + STEPS_FAR)
    pace = math.exp(u(math.log(0.75), math.log(1.35)))
    j3 = u(0.0, 1.5)
    drive = {}
    for k, (near, jitter) in enumerate(((1.0, 0.0), (r2, j3 * u(0.2, 0.5)), (r3, j3)), start=1):
        spec = {"steps": _round(near, 3), "jitter": _round(jitter, 3),
                "speed": _round(EF24_SPEEDS[k - 1] * pace * u(0.9, 1.1), 3)}
        if k > 1:
            each = float(np.clip(far + u(-0.04, 0.04), 1.0 - STEPS_FAR, 1.0 + STEPS_FAR))
            spec["steps_far"] = _round(near * each, 3)
        drive[str(k)] = {key: spec[key] for key in ("steps", "steps_far", "jitter", "speed")
                         if key in spec}

    latency = u(15.0, 60.0)
    busy = str(rng.choice(["queue", "queue", "drop", "error"]))

    subject = _round(u(1.1 * min_focus, 3.0 * min_focus + 1.0), 3)
    background = _round(max(subject * u(2.5, 12.0), subject + 0.8), 2)
    w, h = u(0.3, 0.5), u(0.35, 0.6)
    box = [_round(u(0.08, 0.92 - w)), _round(u(0.08, 0.92 - h)), _round(w), _round(h)]

    values: dict[str, Any] = {
        "vendor": "canon",
        "lens": f"Zoo {focal}mm f/{f_number:g}{' Macro' if macro else ''} #{seed}",
        "steps": steps,
        "start": int(rng.integers(0, steps + 1)),
        "latency_ms": _round(latency, 1),
        "latency_jitter_ms": _round(latency * u(0.0, 0.25), 1),
        "preview_ms": _round(u(70.0, 130.0), 1),
        "preview_size": [960, 640],
        "busy": busy,
    }
    if busy == "queue":
        values["queue_depth"] = int(rng.integers(3, 6))
    values.update({
        "backlash": _round(u(0.0, 5.0), 1),
        "seed": int(seed),
        "optics": {"focal_mm": float(focal), "f_number": f_number, "min_focus_m": min_focus,
                   "sensor_width_mm": 36.0, "breathing": _round(u(0.0, 0.08), 3)},
        "drive": drive,
        "scene": {"noise": _round(u(1.0, 4.0), 2), "flicker": _round(u(0.0, 0.03), 4),
                  "layers": [{"distance_m": background},
                             {"distance_m": subject, "box": box}]},
    })
    return values


def profile(seed: int) -> Profile:
    """The zoo's lens ``seed``, loaded as a file of it would be."""
    return parse_profile(dump(draw(seed)), f"<zoo {seed}>")


# ------------------------------------------------------------------ TOML

_BARE = re.compile(r"[A-Za-z0-9_-]+")
_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f",
            "\r": "\\r"}


def _string(text: str) -> str:
    out = []
    for ch in text:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04X}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _key(key: Any) -> str:
    key = str(key)
    return key if _BARE.fullmatch(key) else _string(key)


def _value(value: Any, where: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{where}: {value!r} is not a finite number")
        return repr(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, (list, tuple)):
        if any(isinstance(v, Mapping) for v in value):
            raise ValueError(f"{where}: a list mixing tables and values")
        return "[" + ", ".join(_value(v, where) for v in value) + "]"
    raise ValueError(f"{where}: cannot write {type(value).__name__} as TOML")


def _tables(value: Any) -> bool:
    return isinstance(value, (list, tuple)) and bool(value) and all(
        isinstance(v, Mapping) for v in value)


def _write(lines: list[str], path: list[str], table: Mapping[str, Any]) -> None:
    nested = []
    for key, value in table.items():
        if value is None:
            continue                       # absent
        if isinstance(value, Mapping) or _tables(value):
            nested.append((key, value))
            continue
        lines.append(f"{_key(key)} = {_value(value, '.'.join(path + [str(key)]))}")
    for key, value in nested:
        name = ".".join(_key(p) for p in path + [str(key)])
        if isinstance(value, Mapping):
            plain = [v for v in value.values() if v is not None
                     and not isinstance(v, Mapping) and not _tables(v)]
            if plain or not value:         # a table of tables only needs no header
                lines += ["", f"[{name}]"]
            _write(lines, path + [str(key)], value)
        else:
            for item in value:
                lines += ["", f"[[{name}]]"]
                _write(lines, path + [str(key)], item)


def dump(values: Mapping[str, Any]) -> str:
    """``values`` (nested dicts, lists, numbers, strings) as TOML; None means absent.

    Tables are written after the plain keys of their parent, arrays of
    tables as ``[[name]]``; floats keep every digit (``repr``), so reading
    the text back gives the same numbers.
    """
    lines: list[str] = []
    _write(lines, [], values)
    return "\n".join(lines).lstrip("\n") + "\n"
