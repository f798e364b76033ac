"""The calibration of one lens on one camera, as data.

What ``rig calibrate --json`` prints and ``rig plan --lens`` reads::

    {"lens": "Canon EF 24mm f/2.8 IS USM", "camera": "Canon EOS 5D Mark III",
     "steps": 407,
     "drive": [{"size": 1, "steps": 1.0, "speed": 23.496}, ...],
     "latency_ms": 30.2, "latency_jitter_ms": 5.1, ...}

``speed`` is the *sustained* speed: effective steps divided by the shortest
spacing at which commands of that size can be sent back to back and all of
them execute.  It already contains the margin for USB latency jitter, so a
plan built from it never sends a command while the lens still moves.  The
optional ``move_s`` of a drive is how long one command actually moves the
lens (the spacing without the margin); plans use it to make the last
command's motion end on time.

A command's effective steps vary along the range: the optional
``steps_near`` and ``steps_far`` of a drive are its size-1 steps at the near
and at the far stop (linear in between; ``steps`` is kept, and the spacing
is ``steps / speed`` wherever the lens is).  ``backlash`` at the top level is
how many size-1 steps the motor turns on a reversal before the lens
follows.  A file without them is a lens whose steps do not vary and that has
no play.

rig sends one camera call at a time, so no command can follow the previous
one sooner than a call's round trip: :meth:`Calibration.model` never spaces
commands closer than ``latency_ms`` plus ``CALL_GUARD`` of its jitter
(a Fuji's motor outruns its 25 ms calls).

Extra keys are allowed and kept (the method, when it was measured, the
measured spread); ``focalposition_linear``, where present, must be true or
false: false keeps a Sony's reading out of the position checks.  Missing or wrong keys are refused with a message naming
the file and the key.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .inputs import InputError, read_json
from .planner import Drive, LensModel

__all__ = ["Calibration", "DriveCal", "load_calibration", "parse_calibration"]


@dataclass(frozen=True)
class DriveCal:
    size: int
    steps: float
    speed: float
    move_s: float | None = None  # how long one command moves the lens, when measured
    jitter: float | None = None  # spread of one command's steps (one sigma), when measured
    steps_near: float | None = None  # steps of one command at the near stop, when measured
    steps_far: float | None = None   # ... at the far stop

    @property
    def near(self) -> float:
        return self.steps if self.steps_near is None else self.steps_near

    @property
    def far(self) -> float:
        return self.near if self.steps_far is None else self.steps_far

    @property
    def period(self) -> float:
        """The calibrated spacing of two commands of this size, seconds."""
        return self.steps / self.speed


# A command cannot follow the previous one sooner than one call's round trip
# (rig sends one call at a time): plans space commands by at least the mean
# latency plus this many sigma of its jitter.  A call that takes longer
# delays the next command by the excess; at 2 sigma one call in 40 does, by
# well under a sigma, which the plan's spacing takes back.
CALL_GUARD = 2.0

# Both calibration methods time each size's commands for a longer than average
# command: its motion time gets this many spreads of its steps, as a share of them.
JITTER_ALLOWANCE = 3.0


@dataclass(frozen=True)
class Calibration:
    lens: str
    steps: int
    drive: tuple[DriveCal, ...]
    camera: str = ""
    latency_ms: float = 0.0
    latency_jitter_ms: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)
    backlash: float | None = None  # size-1 steps the motor turns on a reversal (None: not measured)

    @property
    def call_s(self) -> float:
        """The least time from one command to the next that the camera's calls allow."""
        return (self.latency_ms + CALL_GUARD * self.latency_jitter_ms) / 1000.0

    def period(self, d: DriveCal) -> float:
        """The spacing plans use for ``d``: calibrated, but never under a call's round trip."""
        return max(d.period, self.call_s)

    def model(self) -> LensModel:
        return LensModel(
            steps=self.steps,
            drives=tuple(Drive(d.size, d.near, self.period(d), d.move_s, d.jitter or 0.0,
                               None if d.far == d.near else d.far)
                         for d in sorted(self.drive, key=lambda d: d.size)),
            latency=self.latency_ms / 1000.0,
            backlash=self.backlash or 0.0,
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "lens": self.lens,
            "camera": self.camera,
            "steps": self.steps,
            "drive": [_drive_json(d) for d in sorted(self.drive, key=lambda d: d.size)],
            "latency_ms": round(self.latency_ms, 3),
            "latency_jitter_ms": round(self.latency_jitter_ms, 3),
        }
        if self.backlash is not None:
            out["backlash"] = round(self.backlash, 4)
        for key, value in self.extra.items():
            out.setdefault(key, value)
        return out


def _drive_json(d: DriveCal) -> dict[str, Any]:
    out: dict[str, Any] = {"size": d.size, "steps": round(d.steps, 4), "speed": round(d.speed, 4)}
    if d.move_s is not None:
        out["move_s"] = round(d.move_s, 6)
    if d.jitter is not None:
        out["jitter"] = round(d.jitter, 4)
    if d.steps_near is not None:
        out["steps_near"] = round(d.steps_near, 4)
    if d.steps_far is not None:
        out["steps_far"] = round(d.steps_far, 4)
    return out


# What a calibration can hold: generous bounds that still catch a shared file
# with a typo (a range of 5 steps, a speed of 1e9, a drive size of 12).
MAX_RANGE = 100000        # size-1 steps end to end (the calibration's max_steps)
MIN_RANGE = 10            # calibration refuses a lens that moves less than this
MAX_SIZE = 7              # Sony's manualfocus goes to 7
MAX_SPEED = 100000.0      # steps per second
MAX_LATENCY_MS = 5000.0   # one camera call
MAX_NAME = 200
MAX_STEP_CHANGE = 3.0     # a command's steps at one stop within 3x those at the other


def _number(source: str, key: str, value: Any, *, positive: bool = True,
            whole: bool = False, high: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InputError(source, f"must be a number, got {value!r}", key=key)
    if whole and not float(value).is_integer():
        raise InputError(source, f"must be a whole number, got {value!r}", key=key)
    if positive and value <= 0:
        raise InputError(source, f"must be > 0, got {value!r}", key=key)
    if not positive and value < 0:
        raise InputError(source, f"must be >= 0, got {value!r}", key=key)
    if high is not None and value > high:
        raise InputError(source, f"must be <= {high:g}, got {value!r}", key=key)
    return value


def _name(source: str, key: str, value: Any, *, empty: bool = False) -> str:
    if not isinstance(value, str) or (not empty and not value.strip()):
        kind = "a string" if empty else "a non-empty string"
        raise InputError(source, f"must be {kind}, got {value!r}", key=key)
    if any(ord(c) < 32 for c in value):
        raise InputError(source, f"must be one line of plain text, got {value!r}", key=key)
    if len(value) > MAX_NAME:
        raise InputError(source, f"must be at most {MAX_NAME} characters, got {len(value)}",
                         key=key)
    return value


def parse_calibration(data: Any, source: str = "<calibration>") -> Calibration:
    """Check a decoded calibration and build it; errors name the key."""
    if not isinstance(data, dict):
        raise InputError(source, "must be a JSON object with lens, steps and drive")
    if "steps" not in data and "drive" not in data:
        raise InputError(source, "is not a lens profile: it has no steps and no drive")
    for key in ("lens", "steps", "drive"):
        if key not in data:
            raise InputError(source, "missing", key=key)
    lens = _name(source, "lens", data["lens"])
    steps = int(_number(source, "steps", data["steps"], whole=True, high=MAX_RANGE))
    if steps < MIN_RANGE:
        raise InputError(source, f"must be at least {MIN_RANGE} steps end to end, got {steps}",
                         key="steps")
    drives = data["drive"]
    if not isinstance(drives, list):
        raise InputError(source, "must be a list of {size, steps, speed}, got "
                                 f"{type(drives).__name__}", key="drive")
    if not drives:
        raise InputError(source, "must list at least one {size, steps, speed}", key="drive")
    parsed: list[DriveCal] = []
    for i, item in enumerate(drives):
        where = f"drive[{i}]"
        if not isinstance(item, dict):
            raise InputError(source, "must be an object {size, steps, speed}", key=where)
        for key in ("size", "steps", "speed"):
            if key not in item:
                raise InputError(source, "missing", key=f"{where}.{key}")
        size = int(_number(source, f"{where}.size", item["size"], whole=True, high=MAX_SIZE))
        each = float(_number(source, f"{where}.steps", item["steps"], high=steps))
        speed = float(_number(source, f"{where}.speed", item["speed"], high=MAX_SPEED))
        move = item.get("move_s")
        if move is not None:
            move = float(_number(source, f"{where}.move_s", move))
            if move > each / speed + 1e-9:
                raise InputError(source, f"must not exceed steps / speed "
                                         f"({each / speed:.4f} s), got {move!r}",
                                 key=f"{where}.move_s")
        jitter = item.get("jitter")
        if jitter is not None:
            jitter = float(_number(source, f"{where}.jitter", jitter, positive=False,
                                   high=steps))
        ends = []
        for key in ("steps_near", "steps_far"):
            value = item.get(key)
            if value is not None:
                value = float(_number(source, f"{where}.{key}", value, high=steps))
                if not each / MAX_STEP_CHANGE <= value <= each * MAX_STEP_CHANGE:
                    raise InputError(source, f"must be within {MAX_STEP_CHANGE:g}x the drive's "
                                             f"steps ({each:g}), got {value!r}",
                                     key=f"{where}.{key}")
            ends.append(value)
        near, far = ends
        if far is not None and near is None:
            near = each          # only the far end given: the near end is ``steps``
        parsed.append(DriveCal(size, each, speed, move, jitter, near, far))
    sizes = [d.size for d in parsed]
    if len(set(sizes)) != len(sizes):
        raise InputError(source, f"sizes repeat: {sizes}", key="drive")
    if min(d.steps for d in parsed) > 1.0 + 1e-9:
        raise InputError(source, "one drive size must move 1 step (the unit of position)",
                         key="drive")
    backlash = data.get("backlash")
    if backlash is not None:
        backlash = float(_number(source, "backlash", backlash, positive=False, high=steps / 2))
    latency = float(_number(source, "latency_ms", data.get("latency_ms", 0.0), positive=False,
                            high=MAX_LATENCY_MS))
    jitter = float(_number(source, "latency_jitter_ms", data.get("latency_jitter_ms", 0.0),
                           positive=False, high=MAX_LATENCY_MS))
    camera = _name(source, "camera", data.get("camera", ""), empty=True)
    linear = data.get("focalposition_linear", True)
    if not isinstance(linear, bool):
        raise InputError(source, f"must be true or false, got {linear!r}",
                         key="focalposition_linear")
    known = {"lens", "steps", "drive", "camera", "latency_ms", "latency_jitter_ms", "backlash"}
    extra = {k: v for k, v in data.items() if k not in known}
    return Calibration(lens, steps, tuple(parsed), camera, latency, jitter, extra, backlash)


def load_calibration(path: str | Path) -> Calibration:
    return parse_calibration(read_json(path), str(path))
