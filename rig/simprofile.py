"""Simulator profiles: the TOML that describes a camera body, its lens and its scene.

A profile is checked when it is loaded; a mistake is one :class:`~rig.inputs.InputError`
naming the file, the line and the key.  ``docs/simulator.md`` describes every key.

Two kinds of scene:

* **legacy** (no ``[optics]``): one textured plane, sharp at lens position
  ``scene.subject`` and blurred by a Gaussian of radius
  ``scene.blur_per_step * |x - subject|``.  Every profile written before the
  optics existed is one, and behaves as it always did.
* **optics** (an ``[optics]`` table): ``[[scene.layers]]`` at distances in
  metres, each blurred by the disc the lens really makes at that distance
  (:class:`Optics`).  The last layer is the subject.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .inputs import EachTable, Field, Table, TableList, TomlDoc, load_toml, validate

__all__ = ["Profile", "DriveSpec", "Optics", "Layer", "load_profile", "parse_profile",
           "profile_from_dict", "DEFAULT_PROFILE", "PROFILES", "VENDORS", "schema"]

DATA = Path(__file__).parent / "data"
DEFAULT_PROFILE = DATA / "profiles" / "canon-ef24-real.toml"
PROFILES = DATA / "profiles"

VENDORS = {
    # family: (manufacturer, default model, drive sizes in the profile)
    "canon": ("Canon Inc.", "Canon EOS 5D Mark III (simulated)", 3),
    "olympus": ("OLYMPUS CORPORATION", "E-M1MarkII (simulated)", 3),
    "panasonic": ("Panasonic", "DC-GH5 (simulated)", 2),
    "nikon": ("Nikon Corporation", "D750 (simulated)", 0),
    "sony": ("Sony Corporation", "ILCE-7M3 (simulated)", 7),
    "fuji": ("Fujifilm", "GFX 50S (simulated)", 0),
}

MAX_LAYERS = 8


def _check_size(value: list[Any]) -> str | None:
    ok = (len(value) == 2 and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
          and 64 <= value[0] <= 1920 and 48 <= value[1] <= 1280)
    return None if ok else (f"must be [width, height] in whole pixels, width 64..1920 and "
                            f"height 48..1280, got {value!r}")


def _check_box(value: list[Any]) -> str | None:
    numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool)
                  and math.isfinite(v) for v in value)
    if len(value) != 4 or not numbers:
        return f"must be [x, y, w, h], four numbers (fractions of the frame), got {value!r}"
    x, y, w, h = value
    if not (x >= 0 and y >= 0 and w > 0 and h > 0 and x + w <= 1 + 1e-9 and y + h <= 1 + 1e-9):
        return (f"must lie inside the frame: x, y >= 0, w, h > 0, x + w <= 1 and y + h <= 1, "
                f"got {value!r}")
    return None


_DRIVE = Table({
    "steps": Field(float, above=0, help="mean effective size-1 steps of one command, "
                                        "at the near stop"),
    "steps_far": Field(float, default=None, above=0,
                       help="the same at the far stop, linear in between (default: steps)"),
    "jitter": Field(float, default=0.0, min=0, help="standard deviation of that, in steps"),
    "speed": Field(float, above=0, help="steps per second while moving (at the near stop)"),
})


def _share(help: str) -> Field:
    """A probability, 0..1."""
    return Field(float, default=0.0, min=0, max=1, help=help)


_LAYER = Table({
    "distance_m": Field(float, above=0, max=100000, help="distance from the camera, metres"),
    "box": Field(list, default=None, check=_check_box,
                 help="x, y, w, h as fractions of the frame (not on the first layer)"),
    "contrast": Field(float, default=1.0, min=0, max=1, help="texture amplitude"),
})

_OPTICS = Table({
    "focal_mm": Field(float, above=0, max=2000),
    "f_number": Field(float, min=0.7, max=64),
    "min_focus_m": Field(float, above=0, max=100, help="focus distance at the near stop"),
    "sensor_width_mm": Field(float, default=36.0, above=0, max=100),
    "breathing": Field(float, default=0.0, min=-0.5, max=1.0,
                       help="picture scale at the near stop / at the far stop, minus 1"),
}, optional=True)

_COMMON = {
    "vendor": Field(str, choices=tuple(VENDORS)),
    "lens": Field(str),
    "model": Field(str, default=""),
    "steps": Field(int, min=10, max=100000),
    "start": Field(int, min=0),
    "latency_ms": Field(float, min=0, max=5000),
    "latency_jitter_ms": Field(float, default=0.0, min=0, max=5000),
    "preview_ms": Field(float, default=50.0, above=0, max=5000),
    "preview_size": Field(list, default=None, check=_check_size,
                          help="live-view frame [width, height] (or scene.width/height)"),
    "busy": Field(str, default="drop", choices=("drop", "queue", "error")),
    "queue_depth": Field(int, default=None, min=1, max=64,
                         help='with busy = "queue": one more request with this many '
                              "outstanding makes the camera stop answering"),
    "backlash": Field(float, default=0.0, min=0, max=1000,
                      help="size-1 steps lost on each reversal of direction"),
    "seed": Field(int, default=1),
    "optics": _OPTICS,
    "scene": Table({
        "subject": Field(float, default=None, help="legacy: lens position of the sharp plane"),
        "blur_per_step": Field(float, default=None, min=0, help="legacy: blur radius per step"),
        "noise": Field(float, default=2.0, min=0, max=64),
        "flicker": Field(float, default=0.0, min=0, max=0.5,
                         help="frame-to-frame brightness change, one sigma, as a fraction"),
        "contrast": Field(float, default=1.0, min=0, max=1,
                          help="texture amplitude about mid-grey; 0 is a blank wall"),
        "width": Field(int, default=320, min=64, max=1920),
        "height": Field(int, default=224, min=48, max=1280),
        "layers": TableList(_LAYER, max=MAX_LAYERS),
    }, required=True),
    "faults": Table({
        "drop": _share("share of drive commands silently lost"),
        "busy": _share("share of camera calls answered -110 (busy)"),
        "io": _share("share of camera calls failing -7 (I/O error), the session survives"),
        "disconnects_per_hour": Field(float, default=0.0, min=0, max=3600,
                                      help="cable pulls (-52), at random in virtual time"),
        "reconnect_s": Field(float, default=3.0, above=0, max=600,
                             help="how long the cable stays out"),
        "slip": _share("share of drive commands that slip and move short"),
        "slip_steps": Field(int, default=3, min=1, max=1000,
                            help="a slip loses 1..slip_steps steps"),
        "freeze": _share("share of live-view frames that start a frozen live view"),
        "freeze_s": Field(float, default=2.0, above=0, max=600,
                          help="how long the live view stays frozen"),
    }),
    # How a person left the body when the session starts (SimBody's switches).
    "body": Table({
        "af": Field(bool, default=True, help="lens switch on AF (on MF the motor does nothing)"),
        "liveview": Field(bool, default=False, help="live view already on"),
        "mode_ok": Field(bool, default=True, help="a mode that allows driving focus"),
        "present": Field(bool, default=True, help="the USB cable is in"),
        "claimed": Field(bool, default=False, help="another program (gvfs) holds the camera"),
    }),
}

FAULT_DEFAULTS = {k: f.default for k, f in _COMMON["faults"].fields.items()}  # type: ignore


def schema(vendor: str) -> Table:
    """The profile schema for one family (its drive sizes and its own table)."""
    fields: dict[str, Any] = dict(_COMMON)
    sizes = VENDORS[vendor][2]
    if sizes:
        names = tuple(str(k) for k in range(1, sizes + 1))
        required = names if vendor != "sony" else ("1", "2", "3")
        fields["drive"] = EachTable(_DRIVE, names=names, required_names=required)
    if vendor == "sony":
        fields["sony"] = Table({
            "focalposition": Field(bool, default=True),
            "focalposition_gamma": Field(float, default=1.0, above=0, max=10,
                                         help="focalposition = 100 (x / steps) ** gamma: "
                                              "1 is linear in steps"),
            "distance": Field(bool, default=False)})
    if vendor == "nikon":
        fields["nikon"] = Table({
            "speed": Field(float, above=0, help="motor units per second"),
            "jitter": Field(float, default=0.0, min=0, help="steps per command, std"),
            "min_units": Field(int, default=1, min=1, max=1000),
            "block_s": Field(float, default=1.0, above=0, max=10),
        }, required=True)
    if vendor == "fuji":
        fields["fuji"] = Table({
            "speed": Field(float, above=0, help="position units per second"),
            "readable": Field(bool, default=True),
        }, required=True)
    return Table(fields)


@dataclass(frozen=True)
class DriveSpec:
    """One drive size: mean steps at the near stop (and far stop), spread, speed."""

    steps: float
    jitter: float
    speed: float
    steps_far: float | None = None

    def mean(self, x: float, direction: int, span: float) -> float:
        """Mean steps of one command from ``x`` toward ``direction`` (the midpoint formula).

        The effective step is ``e(x) = steps + g x`` with ``g = (steps_far -
        steps) / span``; a command's mean ``m`` is ``e`` at the middle of its
        own move: ``m = e(x) / (1 - d g / 2)`` (the same as
        ``rig.planner.LensModel.step_at``).
        """
        if self.steps_far is None or self.steps_far == self.steps or span <= 0:
            return self.steps
        g = (self.steps_far - self.steps) / span
        x = min(max(x, 0.0), span)
        return (self.steps + g * x) / (1.0 - direction * g / 2.0)

    @property
    def period(self) -> float:
        """Seconds the motor turns for one command of its mean size (the same everywhere)."""
        return self.steps / self.speed


@dataclass(frozen=True)
class Optics:
    """The lens's optics: where it focuses, how much it blurs, how it breathes.

    Focus is linear in dioptres along the range: ``1/d(x) = (1/min_focus_m)
    (1 - x/R)``, from ``min_focus_m`` at the near stop to infinity at the
    far stop.  A layer at ``s`` metres is blurred by a disc of diameter
    ``(f^2/N) |1/s - 1/d(x)|`` on the sensor.
    """

    focal_mm: float
    f_number: float
    min_focus_m: float
    sensor_width_mm: float = 36.0
    breathing: float = 0.0

    @property
    def near_dioptres(self) -> float:
        return 1.0 / self.min_focus_m

    def dioptres(self, x: float, span: float) -> float:
        """1 / focus distance (1/m) at lens position ``x``."""
        return self.near_dioptres * (1.0 - x / span)

    def sharp_at(self, dioptres: float, span: float) -> float:
        """The lens position focused at ``1/dioptres`` metres."""
        return span * (1.0 - dioptres * self.min_focus_m)

    def disc_px_per_dioptre(self, width: int) -> float:
        """Blur disc diameter in preview pixels for one dioptre of defocus."""
        return self.focal_mm ** 2 / self.f_number / 1000.0 * width / self.sensor_width_mm

    def scale(self, x: float, span: float) -> float:
        """Picture scale at lens position ``x``, relative to the far stop."""
        return 1.0 + self.breathing * (1.0 - x / span)


@dataclass(frozen=True)
class Layer:
    """One plane of a layered scene: its distance, where it is in the frame, its texture."""

    distance_m: float
    box: tuple[float, float, float, float] | None = None   # None: fills the frame
    contrast: float = 1.0


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
    subject: float            # lens position where the subject is sharp (optics: computed)
    blur_per_step: float      # legacy scenes only (0 with optics)
    noise: float
    width: int
    height: int
    drop: float = 0.0
    contrast: float = 1.0
    options: dict[str, Any] = field(default_factory=dict)   # the vendor's own table
    faults: dict[str, float] = field(default_factory=dict)  # the rest of [faults]
    body: dict[str, bool] = field(default_factory=dict)     # [body]: the switches at start
    source: str = "<profile>"
    queue_depth: int | None = None     # busy = "queue": None queues without limit
    backlash: float = 0.0
    optics: Optics | None = None
    layers: tuple[Layer, ...] = ()
    flicker: float = 0.0

    @property
    def manufacturer(self) -> str:
        return VENDORS[self.vendor][0]


def _check_unit(doc: TomlDoc, values: dict[str, Any]) -> None:
    """Size 1 is the unit of position: one command of it is one step everywhere."""
    unit = (values.get("drive") or {}).get("1")
    if unit is None:
        return
    if unit["steps"] != 1.0:
        raise doc.error("drive.1.steps", f"must be 1: size 1 is the unit of position "
                                         f"(one step), got {unit['steps']!r}")
    if unit.get("steps_far") not in (None, 1.0):
        raise doc.error("drive.1.steps_far", "must be 1 (or left out): size 1 is the unit of "
                                             f"position everywhere, got {unit['steps_far']!r}")


def _check(doc: TomlDoc, values: dict[str, Any]) -> None:
    """What the schema cannot say key by key."""
    raw = doc.data
    if values["start"] > values["steps"]:
        raise doc.error("start", f"must be between 0 and steps ({values['steps']}), "
                                 f"got {values['start']}")
    if values["queue_depth"] is not None and values["busy"] != "queue":
        raise doc.error("queue_depth", f'applies only with busy = "queue" '
                                       f"(busy is {values['busy']!r})")
    written = raw.get("scene", {})
    if values["preview_size"] is not None:
        for key in ("width", "height"):
            if key in written:
                raise doc.error(f"scene.{key}", "give the frame size once: preview_size or "
                                                "scene.width/height, not both")
    scene, optics = values["scene"], values["optics"]
    layers = scene["layers"]
    if optics is None:
        if layers:
            raise doc.error("scene.layers", "layers need an [optics] table (focal_mm, "
                                            "f_number, min_focus_m) to know how they blur")
        for key in ("subject", "blur_per_step"):
            if scene[key] is None:
                raise doc.error(f"scene.{key}", "missing; must be a number"
                                + (" >= 0" if key == "blur_per_step" else "")
                                + " (or give [optics] and [[scene.layers]])")
        return
    for key in ("subject", "blur_per_step"):
        if scene[key] is not None:
            raise doc.error(f"scene.{key}", "not with [optics]: the layers' distances and the "
                                            "optics set where each is sharp and how it blurs")
    if not layers:
        raise doc.error("scene.layers", "with [optics] the scene is [[scene.layers]]: "
                                        "at least one (the first fills the frame)")
    for i, layer in enumerate(layers):
        if i == 0 and layer["box"] is not None:
            raise doc.error("scene.layers[0].box", "the first layer fills the frame: no box")
        if i > 0 and layer["box"] is None:
            raise doc.error(f"scene.layers[{i}].box",
                            "missing; must be [x, y, w, h] (fractions of the frame)")
    subject = layers[-1]["distance_m"]
    if subject < optics["min_focus_m"]:
        where = f"scene.layers[{len(layers) - 1}].distance_m"
        raise doc.error(where, f"the subject (the last layer) at {subject:g} m is nearer than "
                               f"optics.min_focus_m ({optics['min_focus_m']:g} m): it would "
                               f"never be sharp")


def parse_profile(text: str, source: str = "<profile>") -> Profile:
    """A profile from its TOML text (``source`` names it in messages)."""
    return _from_doc(TomlDoc(source, text), source)


def load_profile(path: str | Path) -> Profile:
    """Read and check a simulator profile; unknown keys are errors."""
    return _from_doc(load_toml(path), str(path))


def _from_doc(doc: TomlDoc, source: str) -> Profile:
    vendor = doc.data.get("vendor")
    if vendor not in VENDORS:
        choices = ", ".join(map(repr, VENDORS))
        raise doc.error("vendor", f"missing; must be one of {choices}" if vendor is None
                        else f"must be one of {choices}, got {vendor!r}")
    values = validate(doc, schema(vendor))
    _check_unit(doc, values)
    _check(doc, values)
    return profile_from_dict(values, source=source)


def profile_from_dict(values: dict[str, Any], *, source: str = "<profile>") -> Profile:
    """A Profile from checked values (what :func:`rig.inputs.validate` returns)."""
    scene = values["scene"]
    vendor = values["vendor"]
    drive = {int(k): DriveSpec(v["steps"], v.get("jitter", 0.0), v["speed"], v.get("steps_far"))
             for k, v in values.get("drive", {}).items()}
    options = dict(values.get(vendor, {})) if vendor in ("sony", "nikon", "fuji") else {}
    width, height = values.get("preview_size") or (scene["width"], scene["height"])
    optics = None if values.get("optics") is None else Optics(**values["optics"])
    layers = tuple(Layer(lay["distance_m"], None if lay.get("box") is None
                         else tuple(float(v) for v in lay["box"]), lay.get("contrast", 1.0))
                   for lay in scene.get("layers") or ())
    if optics is not None:
        subject = optics.sharp_at(1.0 / layers[-1].distance_m, float(values["steps"]))
        blur = 0.0
    else:
        subject, blur = scene["subject"], scene["blur_per_step"]
    return Profile(
        vendor=vendor, lens=values["lens"], model=values["model"] or VENDORS[vendor][1],
        steps=values["steps"], start=values["start"], latency_ms=values["latency_ms"],
        latency_jitter_ms=values["latency_jitter_ms"], preview_ms=values["preview_ms"],
        busy=values["busy"], seed=values["seed"], drive=drive,
        subject=subject, blur_per_step=blur,
        noise=scene["noise"], width=int(width), height=int(height),
        drop=values.get("faults", {}).get("drop", 0.0), options=options, source=source,
        faults={k: v for k, v in values.get("faults", {}).items() if k != "drop"},
        contrast=scene.get("contrast", 1.0), body=dict(values.get("body", {})),
        queue_depth=values.get("queue_depth"), backlash=values.get("backlash", 0.0),
        optics=optics, layers=layers, flicker=scene.get("flicker", 0.0))
