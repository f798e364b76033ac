"""A simulated camera that stands in for ``gphoto2.Camera``.

The simulator replaces the *camera*, not rig's driver: it offers the methods
that :mod:`rig.lens` calls on a ``gphoto2.Camera`` (``init``, ``exit``,
``get_summary``, ``get_single_config``, ``set_single_config``,
``capture_preview``) and fails with real ``gphoto2.GPhoto2Error(code)``
exceptions, so the production code path is the one under test.

What a Canon body tells the host is all the lens layer can learn here too:
the camera model, the lens name and live-view JPEGs.  The lens position, the
stops and the subject are the simulator's *truth*; only the harness
(:mod:`rig.harness`) reads it, through :attr:`SimCamera.truth`.

Physics, all from the profile (see ``docs/simulator.md``):

* A drive command of size k moves a whole number of size-1 steps, drawn
  around the size's mean ``steps`` with its ``jitter``; a fractional mean is
  met on average (4.3 moves 4 or 5 steps).
* A call takes ``latency_ms`` ± ``latency_jitter_ms``; the command takes effect
  when the call returns, and the motion then runs at the size's ``speed``
  long after the call has returned.
* A command that arrives while the lens still moves is dropped, queued
  behind the motion, or refused with -110, as ``busy`` says.
* At a stop the lens stops silently (Canon): no error, no signal.
* The lens starts at ``start``, which the rig is not told.
* The live view is a textured plane blurred in proportion to
  |lens position - subject|, with sensor noise, encoded as JPEG.
* Everything random comes from one generator seeded with ``seed``.
"""

from __future__ import annotations

import bisect
import io
import math
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gphoto2 as gp
import numpy as np
from PIL import Image, ImageFilter

from .clock import Clock
from .inputs import EachTable, Field, Table, load_toml, validate

__all__ = ["Profile", "load_profile", "profile_from_dict", "SimCamera", "Truth", "DEFAULT_PROFILE"]

DATA = Path(__file__).parent / "data"
DEFAULT_PROFILE = DATA / "profiles" / "canon-ef24.toml"

_DRIVE = Table({
    "steps": Field(float, above=0, help="mean effective size-1 steps of one command"),
    "jitter": Field(float, default=0.0, min=0, help="standard deviation of that, in steps"),
    "speed": Field(float, above=0, help="steps per second while moving"),
})

PROFILE_SCHEMA = Table({
    "vendor": Field(str, choices=("canon",)),
    "lens": Field(str),
    "model": Field(str, default="Canon EOS 5D Mark III (simulated)"),
    "steps": Field(int, min=10, max=100000),
    "start": Field(int, min=0),
    "latency_ms": Field(float, min=0, max=5000),
    "latency_jitter_ms": Field(float, default=0.0, min=0, max=5000),
    "preview_ms": Field(float, default=50.0, above=0, max=5000),
    "busy": Field(str, choices=("drop", "queue", "error")),
    "seed": Field(int, default=1),
    "drive": EachTable(_DRIVE, names=("1", "2", "3"), required_names=("1", "2", "3")),
    "scene": Table({
        "subject": Field(float),
        "blur_per_step": Field(float, min=0),
        "noise": Field(float, default=2.0, min=0, max=64),
        "width": Field(int, default=320, min=64, max=1920),
        "height": Field(int, default=224, min=48, max=1280),
    }, required=True),
})


@dataclass(frozen=True)
class DriveSpec:
    steps: float
    jitter: float
    speed: float


@dataclass(frozen=True)
class Profile:
    vendor: str
    lens: str
    model: str
    steps: int
    start: int
    latency_ms: float
    latency_jitter_ms: float
    preview_ms: float
    busy: str
    seed: int
    drive: dict[int, DriveSpec]
    subject: float
    blur_per_step: float
    noise: float
    width: int
    height: int
    source: str = "<profile>"


def load_profile(path: str | Path) -> Profile:
    """Read and check a simulator profile; unknown keys are errors."""
    doc = load_toml(path)
    values = validate(doc, PROFILE_SCHEMA)
    if values["start"] > values["steps"]:
        raise doc.error("start", f"must be between 0 and steps ({values['steps']}), "
                                 f"got {values['start']}")
    return profile_from_dict(values, source=str(path))


def profile_from_dict(values: dict[str, Any], *, source: str = "<profile>") -> Profile:
    scene = values["scene"]
    drive = {int(k): DriveSpec(v["steps"], v["jitter"], v["speed"])
             for k, v in values["drive"].items()}
    return Profile(
        vendor=values["vendor"], lens=values["lens"], model=values["model"],
        steps=values["steps"], start=values["start"], latency_ms=values["latency_ms"],
        latency_jitter_ms=values["latency_jitter_ms"], preview_ms=values["preview_ms"],
        busy=values["busy"], seed=values["seed"], drive=drive,
        subject=scene["subject"], blur_per_step=scene["blur_per_step"],
        noise=scene["noise"], width=scene["width"], height=scene["height"],
        source=source)


# ------------------------------------------------------------------ truth


@dataclass
class Segment:
    """The lens moving linearly from x0 at t0 to x1 at t1 (truth)."""

    t0: float
    t1: float
    x0: float
    x1: float

    def at(self, t: float) -> float:
        if t >= self.t1 or self.t1 <= self.t0:
            return self.x1
        if t <= self.t0:
            return self.x0
        return self.x0 + (self.x1 - self.x0) * (t - self.t0) / (self.t1 - self.t0)


@dataclass
class Truth:
    """Where the lens really is, as a list of motion segments."""

    start: float
    steps: int
    segments: list[Segment] = field(default_factory=list)
    busy_until: float = -math.inf
    commands: int = 0
    dropped: int = 0
    subject: float = 0.0
    _t0s: list[float] = field(default_factory=list, repr=False)

    def add(self, segment: Segment) -> None:
        self.segments.append(segment)
        self._t0s.append(segment.t0)

    def position(self, t: float) -> float:
        if not self.segments:
            return self.start
        i = bisect.bisect_right(self._t0s, t) - 1
        if i < 0:
            return self.segments[0].x0
        return self.segments[i].at(t)

    def step(self, t: float) -> int:
        return int(round(self.position(t)))

    def moving(self, t: float) -> bool:
        return t < self.busy_until

    def settled_at(self) -> float:
        return self.busy_until

    def trace(self, t0: float, t1: float) -> list[tuple[float, float]]:
        """Breakpoints (t, x) of the true position between t0 and t1."""
        points = [(t0, self.position(t0))]
        for seg in self.segments:
            for t in (seg.t0, seg.t1):
                if t0 < t < t1:
                    points.append((t, self.position(t)))
        points.append((t1, self.position(t1)))
        points.sort()
        return points


# ------------------------------------------------------ camera surface


class SimWidget:
    """The parts of ``gphoto2.CameraWidget`` the lens layer uses."""

    def __init__(self, name: str, label: str, kind: int, value: Any, *,
                 choices: tuple[str, ...] = (), readonly: bool = False,
                 value_range: tuple[float, float, float] | None = None) -> None:
        self._name, self._label, self._kind = name, label, kind
        self._value = value
        self._choices = choices
        self._readonly = readonly
        self._range = value_range

    def get_name(self) -> str:
        return self._name

    def get_label(self) -> str:
        return self._label

    def get_type(self) -> int:
        return self._kind

    def get_readonly(self) -> int:
        return int(self._readonly)

    def get_value(self) -> Any:
        return self._value

    def set_value(self, value: Any) -> None:
        text_kinds = (gp.GP_WIDGET_RADIO, gp.GP_WIDGET_MENU, gp.GP_WIDGET_TEXT)
        if self._kind in text_kinds and not isinstance(value, str):
            raise TypeError(f"in method 'CameraWidget_set_value', expected str, got {value!r}")
        if self._kind == gp.GP_WIDGET_TOGGLE and not isinstance(value, int):
            raise TypeError(f"in method 'CameraWidget_set_value', expected int, got {value!r}")
        self._value = value

    def count_choices(self) -> int:
        return len(self._choices)

    def get_choice(self, i: int) -> str:
        if not 0 <= i < len(self._choices):
            raise gp.GPhoto2Error(gp.GP_ERROR_BAD_PARAMETERS)
        return self._choices[i]

    def get_choices(self) -> list[str]:
        return list(self._choices)

    def get_range(self) -> tuple[float, float, float]:
        if self._range is None:
            raise gp.GPhoto2Error(gp.GP_ERROR_BAD_PARAMETERS)
        return self._range


class SimText:
    """Like ``gphoto2.CameraText``: the text is in ``.text``."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __str__(self) -> str:
        return self.text


class SimCameraFile:
    """Like the ``gphoto2.CameraFile`` that ``capture_preview`` returns."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def get_data_and_size(self) -> memoryview:
        return memoryview(self._data)

    def get_mime_type(self) -> str:
        return "image/jpeg"


CANON_DRIVE_CHOICES = ("Near 1", "Near 2", "Near 3", "None", "Far 1", "Far 2", "Far 3")


class SimCamera:
    """A Canon EOS body with a lens, in simulated physics."""

    def __init__(self, profile: Profile, clock: Clock) -> None:
        self.profile = profile
        self.clock = clock
        self._rng = np.random.default_rng(profile.seed)
        self.truth = Truth(start=float(profile.start), steps=profile.steps,
                           subject=profile.subject)
        self._scene = _make_scene(profile.width, profile.height,
                                  np.random.default_rng(profile.seed + 7919))
        self._blurred: OrderedDict[float, np.ndarray] = OrderedDict()
        self._noise_bank = [
            np.random.default_rng(profile.seed + 31 * i).standard_normal(
                (profile.height, profile.width)).astype(np.float32)
            for i in range(8)
        ]
        self._initialised = False
        self._exited = False
        self._in_call = False
        self.present = True  # False: unplugged, init() finds no camera (-105)
        self._liveview = False
        self.calls: dict[str, int] = {}

    # -- gphoto2.Camera surface
    def init(self, context: Any = None) -> None:
        with self._call("init"):
            self._sleep_latency(0.25)
            if not self.present:
                raise gp.GPhoto2Error(gp.GP_ERROR_MODEL_NOT_FOUND)
            self._initialised = True

    def exit(self, context: Any = None) -> None:
        self._initialised = False
        self._exited = True
        self._liveview = False

    def get_summary(self, context: Any = None) -> SimText:
        with self._call("get_summary"):
            self._sleep_latency(1.0)
            p = self.profile
            return SimText(
                f"Manufacturer: Canon Inc.\nModel: {p.model}\n"
                f"  Version: 1-1.3.0\n  Serial Number: sim-{p.seed:08d}\n"
                f"Vendor Extension ID: 0xb (1.0)\n")

    def get_single_config(self, name: str, context: Any = None) -> SimWidget:
        with self._call("get_single_config"):
            return self._widget(name)

    def set_single_config(self, name: str, widget: SimWidget, context: Any = None) -> None:
        with self._call("set_single_config"):
            current = self._widget(name)
            if current.get_readonly():
                self._sleep_latency(1.0)
                raise gp.GPhoto2Error(gp.GP_ERROR_NOT_SUPPORTED)
            value = widget.get_value()
            if name == "manualfocusdrive":
                if value not in CANON_DRIVE_CHOICES:
                    self._sleep_latency(1.0)
                    raise gp.GPhoto2Error(gp.GP_ERROR_BAD_PARAMETERS)
                self._sleep_latency(1.0)
                self._drive(value)
            elif name == "viewfinder":
                self._sleep_latency(1.0)
                self._liveview = bool(value)
            else:
                self._sleep_latency(1.0)

    def capture_preview(self, context: Any = None) -> SimCameraFile:
        with self._call("capture_preview"):
            t = self.clock.now()
            first = not self._liveview
            self._liveview = True
            x = self.truth.position(t)
            data = self._render(x)
            duration = self.profile.preview_ms / 1000.0 * (4.0 if first else 1.0)
            self.clock.sleep_until(t + duration)
            return SimCameraFile(data)

    # -- simulator controls (the harness, never the lens layer)
    def set_subject(self, subject: float) -> None:
        self.truth.subject = float(subject)

    # -- internals
    class _CallGuard:
        def __init__(self, cam: "SimCamera", name: str) -> None:
            self.cam, self.name = cam, name

        def __enter__(self) -> None:
            cam = self.cam
            if cam._exited:
                raise gp.GPhoto2Error(gp.GP_ERROR_IO)
            if cam._in_call:
                raise gp.GPhoto2Error(gp.GP_ERROR_CAMERA_BUSY)
            cam._in_call = True
            cam.calls[self.name] = cam.calls.get(self.name, 0) + 1

        def __exit__(self, *exc: Any) -> None:
            self.cam._in_call = False

    def _call(self, name: str) -> "SimCamera._CallGuard":
        return SimCamera._CallGuard(self, name)

    def _sleep_latency(self, scale: float) -> None:
        p = self.profile
        latency = p.latency_ms / 1000.0
        if p.latency_jitter_ms > 0:
            latency += self._rng.normal(0.0, p.latency_jitter_ms / 1000.0)
        latency = max(latency, 0.2 * p.latency_ms / 1000.0) * scale
        self.clock.sleep_until(self.clock.now() + latency)

    def _widget(self, name: str) -> SimWidget:
        p = self.profile
        if name == "manualfocusdrive":
            return SimWidget(name, "Drive Canon DSLR Manual focus", gp.GP_WIDGET_RADIO,
                             "None", choices=CANON_DRIVE_CHOICES)
        if name == "lensname":
            return SimWidget(name, "Lens Name", gp.GP_WIDGET_TEXT, p.lens, readonly=True)
        if name == "cameramodel":
            return SimWidget(name, "Camera Model", gp.GP_WIDGET_TEXT, p.model, readonly=True)
        if name == "manufacturer":
            return SimWidget(name, "Camera Manufacturer", gp.GP_WIDGET_TEXT, "Canon Inc.",
                             readonly=True)
        if name == "viewfinder":
            return SimWidget(name, "Viewfinder", gp.GP_WIDGET_TOGGLE, int(self._liveview))
        raise gp.GPhoto2Error(gp.GP_ERROR_BAD_PARAMETERS)

    def _drive(self, value: str) -> None:
        """Apply one Canon drive command at the current (return) time."""
        if value == "None":
            return
        truth = self.truth
        t = self.clock.now()
        truth.commands += 1
        if not self._liveview:
            truth.dropped += 1  # Canon drives the lens only in live view
            return
        direction = -1 if value.startswith("Near") else 1
        spec = self.profile.drive[int(value[-1])]
        if truth.moving(t):
            busy = self.profile.busy
            if busy == "drop":
                truth.dropped += 1
                return
            if busy == "error":
                truth.dropped += 1
                raise gp.GPhoto2Error(gp.GP_ERROR_CAMERA_BUSY)
            t = truth.busy_until  # queue behind the motion
        steps = self._draw_steps(spec)
        x0 = truth.position(t)
        x1 = min(max(x0 + direction * steps, 0.0), float(truth.steps))
        duration = steps / spec.speed
        moved = abs(x1 - x0) / spec.speed
        truth.add(Segment(t, t + moved, x0, x1))
        truth.busy_until = t + duration

    def _draw_steps(self, spec: DriveSpec) -> int:
        mean = spec.steps
        if spec.jitter > 0:
            mean = mean + self._rng.normal(0.0, spec.jitter)
        mean = max(mean, 0.0)
        whole = math.floor(mean)
        frac = mean - whole
        if frac > 0 and self._rng.random() < frac:
            whole += 1
        return int(whole)

    def _render(self, x: float) -> bytes:
        p = self.profile
        radius = round(p.blur_per_step * abs(x - self.truth.subject), 2)
        base = self._blurred.get(radius)
        if base is None:
            img = Image.fromarray(self._scene)
            if radius > 0:
                img = img.filter(ImageFilter.GaussianBlur(radius))
            base = np.asarray(img, dtype=np.float32)
            self._blurred[radius] = base
            if len(self._blurred) > 256:
                self._blurred.popitem(last=False)
        else:
            self._blurred.move_to_end(radius)
        if p.noise > 0:
            bank = self._noise_bank[int(self._rng.integers(len(self._noise_bank)))]
            dy, dx = (int(v) for v in self._rng.integers(0, (p.height, p.width)))
            noise = np.roll(bank, (dy, dx), axis=(0, 1))
            frame = base + p.noise * noise
        else:
            frame = base
        out = Image.fromarray(np.clip(frame, 0, 255).astype(np.uint8), mode="L")
        buf = io.BytesIO()
        out.save(buf, format="JPEG", quality=85)
        return buf.getvalue()


def _make_scene(width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    """A textured test scene: multi-scale clouds, hard-edged blocks and fine print."""
    img = np.zeros((height, width), dtype=np.float32)
    for cell, amplitude in ((64, 60.0), (24, 40.0), (8, 30.0), (3, 20.0)):
        small = rng.random((height // cell + 2, width // cell + 2)).astype(np.float32)
        layer = Image.fromarray(small * 255.0, mode="F").resize(
            (width + 2 * cell, height + 2 * cell), Image.BILINEAR)
        img += amplitude * (np.asarray(layer)[cell:cell + height, cell:cell + width] / 255.0)
    for _ in range(30):
        w = int(rng.integers(6, width // 4))
        h = int(rng.integers(6, height // 4))
        x = int(rng.integers(0, width - w))
        y = int(rng.integers(0, height - h))
        img[y:y + h, x:x + w] += float(rng.uniform(-50, 50))
    # rows of fine marks, like print on a label: high spatial frequencies
    for _ in range(6):
        y = int(rng.integers(0, height - 8))
        x = int(rng.integers(0, width - 80))
        marks = (rng.random((6, 80)) > 0.5).astype(np.float32) * 70.0 - 35.0
        img[y:y + 6, x:x + 80] += marks
    img -= img.min()
    img *= 190.0 / max(float(img.max()), 1e-6)
    img += 30.0
    return img.astype(np.uint8)
