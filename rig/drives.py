"""One focus-drive interface per camera family, and how to tell them apart.

Every family is driven through libgphoto2 config widgets, but each behaves
differently (``docs/cameras.md`` has the table).  A :class:`Drive` hides the
difference behind two operations rig needs:

* ``send(size, direction)``: one relative move of a drive size (1 is the
  finest; rig's unit of position is one size-1 move);
* ``position()``: where the lens is, in size-1 steps from the near stop,
  when the camera says so (None otherwise).

and a :class:`Capabilities` record that says what the camera gives: the
drive's shape, whether it signals a stop, what position feedback it has,
whether it reports a distance, whether a call waits for the motor, and the
preconditions the user must meet.  Calibration, homing and position
checking choose their method from that record.

Families:

=========  ==============================  ========  =========  ===========
family     config                           stop      feedback   call
=========  ==============================  ========  =========  ===========
canon      manualfocusdrive Near/Far 1..3   silent    none       returns
olympus    manualfocusdrive Near/Far 1..3   silent    none       returns
panasonic  manualfocusdrive Near/Far 1..2   silent    none       returns
nikon      manualfocusdrive signed units    -113      none       waits ~1 s
sony       manualfocus -7..7                silent    focalposition 0-100
fuji       manualfocusdrive absolute        clamps    absolute   returns
=========  ==============================  ========  =========  ===========
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gphoto2 as gp

from .gpcontext import CameraContext

__all__ = ["Capabilities", "Drive", "NearFarDrive", "NikonDrive", "SonyDrive", "FujiDrive",
           "StopReached", "DriveRefused", "detect", "FAMILIES"]

FAMILIES = ("canon", "olympus", "panasonic", "nikon", "sony", "fuji")


@dataclass(frozen=True)
class Capabilities:
    family: str
    shape: str                  # "sizes" (Near/Far k), "range" (signed units), "absolute"
    sizes: tuple[int, ...]      # the drive sizes rig uses, finest first
    stop: str                   # what the camera does at a stop: "none" (silent) or "error"
    feedback: str               # lens position reported: "none", "relative" or "absolute"
    distance: bool              # a focus distance is reported
    blocking: bool              # a call returns only when the motor has (about) stopped
    preconditions: tuple[str, ...]  # "liveview", "af_switch", "drive_mode"

    def describe(self) -> str:
        stop = "signals the stops" if self.stop == "error" else "silent at the stops"
        feedback = {"none": "no position feedback", "relative": "relative position",
                    "absolute": "reports its position"}[self.feedback]
        return (f"{self.family}: {self.shape} drive, sizes {', '.join(map(str, self.sizes))}; "
                f"{stop}; {feedback}" + ("; reports distance" if self.distance else ""))


class StopReached(Exception):
    """The camera says the lens has reached a mechanical stop (Nikon)."""


class DriveRefused(Exception):
    """The camera refuses to drive; the text says what the operator must change."""


class Drive:
    """What rig needs from a camera's focus drive."""

    caps: Capabilities
    config = "manualfocusdrive"

    def __init__(self, camera: Any, ctx: CameraContext) -> None:
        self.camera = camera
        self.ctx = ctx
        self._widget: Any = None

    def _set(self, name: str, value: Any) -> None:
        if self._widget is None or self._widget.get_name() != name:
            self._widget = self.camera.get_single_config(name, self.ctx.context)
        self._widget.set_value(value)
        # set_single_config always sends, even when the value is unchanged.
        self.camera.set_single_config(name, self._widget, self.ctx.context)

    def send(self, size: int, direction: int) -> None:
        raise NotImplementedError

    def position(self) -> float | None:
        """The lens position in size-1 steps from the near stop, if the camera says."""
        return None


class NearFarDrive(Drive):
    """``manualfocusdrive`` = ``Near k`` / ``Far k`` (Canon EOS, Olympus, Panasonic).

    The call returns after one PTP transaction while the motor keeps turning;
    nothing says when it stops, and at a stop the command is ignored.
    """

    def __init__(self, camera: Any, ctx: CameraContext, family: str,
                 sizes: tuple[int, ...]) -> None:
        super().__init__(camera, ctx)
        self.caps = Capabilities(family, "sizes", sizes, "none", "none", False, False,
                                 ("liveview", "af_switch", "drive_mode"))

    def send(self, size: int, direction: int) -> None:
        if size not in self.caps.sizes:
            raise ValueError(f"{self.caps.family} drive sizes are {self.caps.sizes}, not {size}")
        try:
            self._set(self.config, f"{'Far' if direction > 0 else 'Near'} {size}")
        except gp.GPhoto2Error as exc:
            _refusal(exc, self.ctx.take())
            raise


class NikonDrive(Drive):
    """``manualfocusdrive`` = signed motor units (Nikon).

    The call waits for the lens up to about a second and may then return
    -110 while the lens still moves; that is not a failure.  At a stop it
    returns -113 with "at limit" in libgphoto2's text; a move too small for
    the motor returns the same -113 with "stepping too small".  Rig's size-1
    step is ``unit`` motor units (found by calibration, 1 by default); sizes
    2 and 3 are ``amounts`` times that.
    """

    amounts = {1: 1, 2: 4, 3: 26}

    def __init__(self, camera: Any, ctx: CameraContext, unit: int = 1) -> None:
        super().__init__(camera, ctx)
        self.unit = unit
        self.caps = Capabilities("nikon", "range", (1, 2, 3), "error", "none", False, True,
                                 ("liveview", "af_switch"))

    def send(self, size: int, direction: int) -> None:
        self.send_units(direction * self.amounts[size] * self.unit)

    def send_units(self, units: int) -> None:
        try:
            self._set(self.config, int(units))
        except gp.GPhoto2Error as exc:
            text = self.ctx.take()
            if exc.code == gp.GP_ERROR_CAMERA_BUSY:
                return  # the lens is still moving; the command is under way
            if exc.code == gp.GP_ERROR_CAMERA_ERROR and "limit" in text.lower():
                raise StopReached(text) from None
            if exc.code == gp.GP_ERROR_CAMERA_ERROR and "small" in text.lower():
                raise ValueError(f"{units} motor units is too small a step: {text}") from None
            _refusal(exc, text)
            raise


class SonyDrive(Drive):
    """``manualfocus`` = -7..7 (Sony): one move of a (non-linear) magnitude.

    Returns at once.  ``focalposition`` (0-100, where present) reports the
    lens position coarsely: one unit is a hundredth of the range.
    """

    config = "manualfocus"
    magnitudes = {1: 1, 2: 3, 3: 5}   # rig size -> manualfocus magnitude

    def __init__(self, camera: Any, ctx: CameraContext, reports_position: bool,
                 reports_distance: bool) -> None:
        super().__init__(camera, ctx)
        self.caps = Capabilities("sony", "sizes", (1, 2, 3), "none",
                                 "absolute" if reports_position else "none", reports_distance,
                                 False, ("af_switch",))
        self.range_steps: float | None = None  # set by calibration: steps per 100 units

    def send(self, size: int, direction: int) -> None:
        try:
            self._set(self.config, float(direction * self.magnitudes[size]))
        except gp.GPhoto2Error as exc:
            _refusal(exc, self.ctx.take())
            raise

    def raw_position(self) -> float | None:
        """``focalposition`` as the camera gives it (0-100), or None."""
        if self.caps.feedback == "none":
            return None
        return float(self.camera.get_single_config("focalposition",
                                                   self.ctx.context).get_value())

    def position(self) -> float | None:
        raw = self.raw_position()
        if raw is None or self.range_steps is None:
            return None
        return raw / 100.0 * self.range_steps


class FujiDrive(Drive):
    """``manualfocusdrive`` = absolute FocusPosition (Fuji).

    Setting it sends the lens to that position (clamped to the range);
    reading it gives where the lens is, on bodies that allow it.  Rig's
    sizes are relative moves of ``amounts`` position units from the last
    target, so plans and the executor stay the same for every family.
    """

    amounts = {1: 1, 2: 4, 3: 26}

    def __init__(self, camera: Any, ctx: CameraContext, low: float, high: float,
                 readable: bool) -> None:
        super().__init__(camera, ctx)
        self.low, self.high = low, high
        self.caps = Capabilities("fuji", "absolute", (1, 2, 3), "none",
                                 "absolute" if readable else "none", False, False,
                                 ("af_switch",))
        self.target: float | None = None

    def read(self) -> float:
        widget = self.camera.get_single_config(self.config, self.ctx.context)
        return float(widget.get_value())

    def position(self) -> float | None:
        if self.caps.feedback != "absolute":
            return None
        return self.read() - self.low

    def go(self, value: float) -> None:
        value = min(max(value, self.low), self.high)
        try:
            self._set(self.config, float(value))
        except gp.GPhoto2Error as exc:
            _refusal(exc, self.ctx.take())
            raise
        self.target = value

    def send(self, size: int, direction: int) -> None:
        if self.target is None:
            self.target = self.read() if self.caps.feedback == "absolute" else self.low
        self.go(self.target + direction * self.amounts[size])


def _refusal(exc: gp.GPhoto2Error, text: str) -> None:
    """Turn the camera's reasons for refusing a drive into what to do about them."""
    lowered = text.lower()
    if "live" in lowered and "view" in lowered:
        raise DriveRefused("live view is off: turn live view on") from exc
    if exc.code in (gp.GP_ERROR, gp.GP_ERROR_CAMERA_ERROR) and text:
        raise DriveRefused(f"the camera refuses to drive focus ({text}): set a mode that "
                           "allows it (live view, movie or M)") from exc


def _value(camera: Any, ctx: CameraContext, name: str) -> str:
    try:
        return str(camera.get_single_config(name, ctx.context).get_value()).strip()
    except gp.GPhoto2Error:
        ctx.take()
        return ""


def _widget(camera: Any, ctx: CameraContext, name: str) -> Any:
    try:
        return camera.get_single_config(name, ctx.context)
    except gp.GPhoto2Error:
        ctx.take()
        return None


def detect(camera: Any, ctx: CameraContext) -> Drive | None:
    """The drive for the connected camera, from its maker and its config names."""
    maker = _value(camera, ctx, "manufacturer").lower()
    drive = _widget(camera, ctx, "manualfocusdrive")
    if drive is not None:
        kind = drive.get_type()
        if kind in (gp.GP_WIDGET_RADIO, gp.GP_WIDGET_MENU):
            choices = set(drive.get_choices())
            sizes = tuple(k for k in range(1, 8) if f"Near {k}" in choices and f"Far {k}" in choices)
            if not sizes:
                return None
            family = ("canon" if "canon" in maker else "olympus" if "olympus" in maker
                      or "om digital" in maker else "panasonic" if "panasonic" in maker
                      else "canon")
            return NearFarDrive(camera, ctx, family, sizes)
        if kind == gp.GP_WIDGET_RANGE:
            low, high, _ = drive.get_range()
            if "fuji" in maker or low >= 0:
                readable = True
                try:
                    float(drive.get_value())
                except (gp.GPhoto2Error, TypeError, ValueError):
                    readable = False
                return FujiDrive(camera, ctx, low, high, readable)
            return NikonDrive(camera, ctx)
        return None
    manual = _widget(camera, ctx, "manualfocus")
    if manual is not None and manual.get_type() == gp.GP_WIDGET_RANGE:
        return SonyDrive(camera, ctx, _widget(camera, ctx, "focalposition") is not None,
                         _widget(camera, ctx, "focaldistancemeters") is not None)
    return None
