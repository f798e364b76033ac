"""A simulated camera that stands in for ``gphoto2.Camera``.

The simulator replaces the *camera*, not rig's driver: it offers the methods
that :mod:`rig.lens` calls on a ``gphoto2.Camera`` (``init``, ``exit``,
``get_summary``, ``get_single_config``, ``set_single_config``,
``capture_preview``) and fails with real ``gphoto2.GPhoto2Error(code)``
exceptions, with libgphoto2's human text delivered to the caller's context
where libgphoto2 would give one (:func:`rig.gpcontext.deliver_error`).  The
production code path is the one under test.

It is split in two, as the real thing is:

* :class:`SimBody` is the camera body and its lens: where the lens really is
  (its *truth*, read only by the harness), the motor, the scene, and the
  switches a person can flip (live view, the lens's AF/MF switch, the USB
  cable, another program holding the camera).
* :class:`SimCamera` is one USB session with it, like one ``gp.Camera``:
  after ``exit()``, an unplugged cable or a crash it is dead, and a new one
  must be made (``body.session()``).

Profiles (:mod:`rig.simprofile`), what happens in front of the camera
(:mod:`rig.simscene`) and the picture of it (:mod:`rig.simview`) live in
modules of their own.

Each family (``vendor`` in the profile) speaks with its own config names,
value types, errors and blocking behaviour; see ``docs/simulator.md`` and
``docs/cameras.md``:

* canon, olympus, panasonic: ``manualfocusdrive`` = ``Near k`` / ``Far k``;
  the call returns after one transaction and the motor keeps turning;
  commands sent while it turns are dropped, queued (up to ``queue_depth``
  outstanding: one more and the camera stops answering) or refused as
  ``busy`` says; silent at the stops; live view needed.
* nikon: ``manualfocusdrive`` = signed motor units; the call waits for the
  lens up to ``block_s`` and returns -110 if it still moves; -113 "at limit"
  when the move ends on a stop, -113 "stepping too small" below
  ``min_units``; live view needed.
* sony: ``manualfocus`` = -7..7, one move of a non-linear magnitude;
  ``focalposition`` (0-100) reports the position coarsely, linearly in
  steps or, with ``focalposition_gamma``, along a curve.
* fuji: ``manualfocusdrive`` = absolute FocusPosition; setting it moves the
  lens there, reading it says where the lens is (if ``readable``).

Physics common to all (``/work/notes/contracts.md``): continuous true
positions; a command moves the mean of its size at the middle of its own
move (steps that vary linearly from ``steps`` at the near stop to
``steps_far`` at the far stop) plus its jitter; a size's motor time is the
same everywhere; backlash on each reversal; latency with jitter; motion
after the call returns; a start position the rig is not told; a live view
of a legacy textured plane or of layers blurred by the optics, with
flicker and noise, as JPEG.  Everything random is seeded.  ``[faults]``
injects failures (``drop``: a share of drive commands silently lost).
"""

from __future__ import annotations

import bisect
import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Callable

import gphoto2 as gp
import numpy as np

from .clock import Clock
from .gpcontext import deliver_error
from .simprofile import (DEFAULT_PROFILE, FAULT_DEFAULTS, PROFILES, VENDORS, DriveSpec, Layer,
                         Optics, Profile, load_profile, parse_profile, profile_from_dict)
from .simscene import Scene, SceneError
from .simview import View

__all__ = ["Profile", "load_profile", "parse_profile", "profile_from_dict", "SimBody", "make_scene",
           "SimCamera", "Truth", "DriveSpec", "Optics", "Layer", "SceneError",
           "DEFAULT_PROFILE", "PROFILES", "VENDORS", "known_calibration"]


def known_calibration(profile: Profile) -> Any:
    """The calibration a perfect run would store for a Canon-style profile.

    For tests, previews and benchmarks that start from a known lens instead
    of calibrating one (minutes in real time).
    """
    from .calibration import Calibration, DriveCal
    return Calibration(profile.lens, profile.steps,
                       tuple(DriveCal(k, d.steps, d.speed,
                                      steps_near=d.steps,
                                      steps_far=d.steps_far if d.steps_far is not None
                                      else d.steps)
                             for k, d in sorted(profile.drive.items())),
                       camera=profile.model, latency_ms=profile.latency_ms,
                       latency_jitter_ms=profile.latency_jitter_ms,
                       backlash=profile.backlash)


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
    dropped: int = 0      # lost: busy, or an injected fault
    ignored: int = 0      # never reached the motor: MF switch, no live view
    faults: dict[str, int] = field(default_factory=dict)   # injected, by kind
    added: int = 0        # segments ever added (the list keeps the latest)
    overflows: int = 0    # drive requests beyond queue_depth: the camera stopped answering
    reversals: int = 0    # commands that reversed the motor (each takes up the backlash)
    _t0s: list[float] = field(default_factory=list, repr=False)
    # Where the subject is sharp, now (the body's scene moves it in time).
    subject_now: Callable[[], float] | None = field(default=None, repr=False)

    @property
    def subject(self) -> float:
        """The lens position where the subject is sharp (the last layer, on optics)."""
        return self.subject_now() if self.subject_now is not None else 0.0

    def interrupt(self, t: float) -> None:
        """Stop a motion in progress at time t (a new absolute target)."""
        if self.segments and self.segments[-1].t1 > t > self.segments[-1].t0:
            last = self.segments[-1]
            last.x1, last.t1 = last.at(t), t
            self.busy_until = min(self.busy_until, t)

    KEEP = 4000   # motion segments kept: a soak must not grow without bound

    def add(self, segment: Segment) -> None:
        self.segments.append(segment)
        self._t0s.append(segment.t0)
        self.added += 1
        if len(self.segments) > 2 * self.KEEP:
            del self.segments[:self.KEEP]
            del self._t0s[:self.KEEP]

    def since(self, mark: int) -> list[Segment]:
        """The segments added after ``added`` was ``mark`` (at most KEEP of them)."""
        return self.segments[len(self.segments) - (self.added - mark):] \
            if self.added > mark else []

    def count(self, kind: str) -> None:
        self.faults[kind] = self.faults.get(kind, 0) + 1

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


# ------------------------------------------------------------------- body


_FAMILY_SIZES = {"canon": (1, 2, 3), "olympus": (1, 2, 3), "panasonic": (1, 2)}
NIKON_RANGE = 32767


class SimBody:
    """The camera body and its lens, in simulated physics (outlives sessions)."""

    def __init__(self, profile: Profile, clock: Clock) -> None:
        self.profile = profile
        self.clock = clock
        self._rng = np.random.default_rng(profile.seed)
        self.drop = profile.drop     # share of drive commands lost; a script may change it
        self.truth = Truth(start=float(profile.start), steps=profile.steps)
        # What is in front of the camera, and the picture of it.
        self.scene = make_scene(profile)
        self.truth.subject_now = lambda: self.scene.subject_position(self.clock.now())
        self.view = View(profile, self.scene, self._rng)
        # The motor: where the gear's play stands (0 = taken up toward the near
        # stop, backlash = toward the far stop), its last direction, and when
        # each command it has accepted ends (for busy = "queue").
        self._play = profile.backlash / 2.0
        self._direction = 0
        self._ends: list[float] = []
        self.hung = False         # queue overrun: no answer until a new session
        # What a person can change (a profile's [body] sets how they start).
        switches = profile.body
        self.present = switches.get("present", True)     # the USB cable is in
        self.claimed = switches.get("claimed", False)    # another program (gvfs) holds it
        self.af = switches.get("af", True)       # lens switch on AF (on MF the motor does nothing)
        self.mode_ok = switches.get("mode_ok", True)     # a mode that allows driving focus
        self.liveview = switches.get("liveview", False)
        self.generation = 0       # goes up when the cable is pulled: old sessions die
        self.in_call = False
        self.calls: dict[str, int] = {}
        self.sessions = 0
        # Injected faults ([faults] in the profile), on their own seeded stream.
        self._fault_rng = np.random.default_rng(profile.seed + 104729)
        self._next_pull = self._draw_pull(clock.now())
        self._replug_at = math.inf
        self._frozen_until = -math.inf
        self._last_frame = b""
        self._fail_next: dict[str, int] = {}

    # -- what the harness and tests do
    def session(self) -> "SimCamera":
        """A new USB session, like ``gp.Camera()``."""
        self.sessions += 1
        return SimCamera(self)

    def unplug(self) -> None:
        self.present = False
        self.generation += 1
        self.liveview = False

    def plug(self) -> None:
        self.present = True

    # -- the scene (session scripts' actions; docs/simulator.md)
    def set_subject(self, subject: float, over: float = 0.0) -> None:
        """The subject moves (over ``over`` seconds) to where lens position ``subject`` is sharp."""
        self.scene.move_subject(self.clock.now(), float(subject), over)

    def pan(self, pixels: float, over: float = 0.0) -> None:
        """The camera turns: the picture moves ``pixels`` to the left."""
        self.scene.turn(self.clock.now(), float(pixels), over)

    def dolly(self, factor: float, over: float = 0.0) -> None:
        """The camera moves in until the subject looks ``factor`` times as large."""
        self.scene.move_camera(self.clock.now(), float(factor), over)

    def walk(self, seconds: float) -> None:
        """Someone crosses the frame, nearer than the subject, in ``seconds``."""
        self.scene.walk(self.clock.now(), float(seconds))

    def light(self, factor: float, over: float = 0.0) -> None:
        """The exposure changes by ``factor``."""
        self.scene.expose(self.clock.now(), float(factor), over)

    def reframe(self, seed: int) -> None:
        """The camera now looks at something else (it was moved, the set changed)."""
        self.view.build(seed)

    # The legacy plane's texture and its blurred copies (tests reach in to blank it).
    @property
    def _scene(self) -> np.ndarray:
        return self.view.legacy_texture

    @property
    def _blurred(self) -> Any:
        return self.view.legacy_blurred

    # -- injected faults
    def _fault(self, kind: str) -> float:
        if kind in self.profile.faults:
            return float(self.profile.faults[kind])
        return float(FAULT_DEFAULTS[kind])

    def _draw_pull(self, now: float) -> float:
        rate = self._fault("disconnects_per_hour")
        return now + self._fault_rng.exponential(3600.0 / rate) if rate > 0 else math.inf

    def fail_next(self, call: str, code: int) -> None:
        """The next ``call`` (e.g. "set_single_config") fails with ``code``, once."""
        self._fail_next[call] = code

    def call_faults(self, name: str, opening: bool) -> None:
        """At the start of a camera call: cable pulls and replugs, then -110 / -7."""
        code = self._fail_next.pop(name, None)
        if code is not None:
            self.truth.count("injected")
            raise gp.GPhoto2Error(code)
        now = self.clock.now()
        if now >= self._replug_at:
            self._replug_at = math.inf
            self.plug()
        if now >= self._next_pull:
            self._next_pull = self._draw_pull(now + self._fault("reconnect_s"))
            self.truth.count("disconnect")
            self.unplug()
            self._replug_at = now + self._fault("reconnect_s")
        if opening or not self.present:
            return
        for kind, code in (("busy", gp.GP_ERROR_CAMERA_BUSY), ("io", gp.GP_ERROR_IO)):
            share = self._fault(kind)
            if share > 0 and self._fault_rng.random() < share:
                self.truth.count(kind)
                self.sleep_latency(0.5)
                raise gp.GPhoto2Error(code)

    def slipped(self, steps: float) -> float:
        """A command's steps, less what an injected slip loses."""
        share = self._fault("slip")
        if steps > 0 and share > 0 and self._fault_rng.random() < share:
            self.truth.count("slip")
            steps -= int(self._fault_rng.integers(1, int(self._fault("slip_steps")) + 1))
        return max(steps, 0)

    def preview(self, t: float) -> bytes:
        """The live-view frame at ``t``, or the last one again while frozen."""
        if t < self._frozen_until and self._last_frame:
            return self._last_frame
        share = self._fault("freeze")
        if self._last_frame and share > 0 and self._fault_rng.random() < share:
            self.truth.count("freeze")
            self._frozen_until = t + self._fault("freeze_s")
            return self._last_frame
        self._last_frame = self.render(self.truth.position(t), t)
        return self._last_frame

    def set_faults(self, faults: dict[str, float]) -> None:
        """From now on, inject these faults (the keys of ``[faults]``)."""
        self.profile = dataclasses.replace(
            self.profile, faults={k: v for k, v in faults.items() if k != "drop"})
        self.drop = float(faults.get("drop", self.drop))
        self._next_pull = self._draw_pull(self.clock.now())

    def set_drop(self, share: float) -> None:
        """From now on, silently lose this share of drive commands (``[faults] drop``)."""
        self.drop = float(share)

    # -- time
    def sleep_latency(self, scale: float) -> None:
        p = self.profile
        latency = p.latency_ms / 1000.0
        if p.latency_jitter_ms > 0:
            latency += self._rng.normal(0.0, p.latency_jitter_ms / 1000.0)
        latency = max(latency, 0.2 * p.latency_ms / 1000.0) * scale
        self.clock.sleep_until(self.clock.now() + latency)

    # -- the motor
    def _draw_steps(self, mean: float, jitter: float) -> float:
        """One command's displacement: its mean plus N(0, jitter), never negative."""
        if jitter > 0:
            mean = mean + self._rng.normal(0.0, jitter)
        return max(mean, 0.0)

    def _lost(self) -> bool:
        """A command that never reaches the motor: lens on MF, or an injected drop."""
        truth = self.truth
        truth.commands += 1
        if not self.af:
            truth.ignored += 1
            return True
        if self.drop > 0 and self._rng.random() < self.drop:
            truth.dropped += 1
            return True
        return False

    def outstanding(self, t: float) -> int:
        """Commands accepted whose motion has not ended at t (moving or queued)."""
        self._ends = [e for e in self._ends if e > t]
        return len(self._ends)

    def _turn(self, t: float, x0: float, direction: int, steps: float,
              rate: float) -> tuple[float, float, float]:
        """The motor turns ``steps`` toward ``direction`` from t at ``rate`` steps/s.

        The lens waits while the motor takes up the gear's play (backlash on a
        reversal), then follows until the motor stops or the lens meets a
        stop.  Returns (when the lens stops, where, where it would have been
        without the stops).
        """
        truth = self.truth
        if self._direction and direction != self._direction:
            truth.reversals += 1
        self._direction = direction
        play = self.profile.backlash
        slack = (play - self._play) if direction > 0 else self._play
        taken = min(steps, slack)
        self._play = min(max(self._play + direction * taken, 0.0), play)
        moved = steps - taken
        x1 = min(max(x0 + direction * moved, 0.0), float(truth.steps))
        start = t + taken / rate
        end = start + abs(x1 - x0) / rate
        truth.add(Segment(start, end, x0, x1))
        return end, x1, x0 + direction * moved

    def move_relative(self, spec: DriveSpec, direction: int) -> None:
        """A Near/Far (or Sony) command taking effect now: motion continues afterwards."""
        truth = self.truth
        t = self.clock.now()
        if self._lost():
            return
        waiting = self.outstanding(t)
        if waiting:
            if self.profile.busy == "drop":
                truth.dropped += 1
                return
            if self.profile.busy == "error":
                truth.dropped += 1
                raise gp.GPhoto2Error(gp.GP_ERROR_CAMERA_BUSY)
            depth = self.profile.queue_depth
            if depth is not None and waiting >= depth:
                truth.overflows += 1      # Canon's queue overrun: the camera stops answering
                self.hung = True
                raise gp.GPhoto2Error(gp.GP_ERROR_IO)
            t = truth.busy_until  # queue behind the motion
        x0 = truth.position(t)
        mean = spec.mean(x0, direction, float(truth.steps))
        steps = self.slipped(self._draw_steps(mean, spec.jitter))
        # The motor turns as long for every command of a size (its mean's time,
        # scaled by this one's draw); where the steps are larger the lens is faster.
        rate = spec.speed if mean == spec.steps else spec.speed * mean / spec.steps
        motor_s = steps / rate
        if steps > 0:
            self._turn(t, x0, direction, steps, rate)
        else:
            truth.add(Segment(t, t, x0, x0))
        truth.busy_until = t + motor_s
        self._ends.append(truth.busy_until)

    def move_units(self, units: int) -> tuple[float, bool]:
        """A Nikon move starting now: (when it ends, whether it ended on a stop)."""
        truth = self.truth
        t = self.clock.now()
        opts = self.profile.options
        if self._lost():
            return t, False
        steps = self.slipped(self._draw_steps(abs(units), opts["jitter"]))
        x0 = truth.position(t)
        if steps > 0:
            end, x1, wanted = self._turn(t, x0, 1 if units > 0 else -1, steps, opts["speed"])
        else:
            end, x1, wanted = t, x0, x0
            truth.add(Segment(t, t, x0, x0))
        truth.busy_until = end
        return end, x1 != wanted

    def move_to(self, target: float) -> None:
        """A Fuji move to an absolute position, from wherever the lens is now."""
        truth = self.truth
        t = self.clock.now()
        if self._lost():
            return
        truth.interrupt(t)
        x0 = truth.position(t)
        x1 = min(max(float(round(target)), 0.0), float(truth.steps))
        end = t + abs(x1 - x0) / self.profile.options["speed"]
        truth.add(Segment(t, end, x0, x1))
        truth.busy_until = end

    # -- the live view
    def render(self, x: float, t: float | None = None) -> bytes:
        """The JPEG the camera sends with the lens at ``x``, at time ``t`` (default: now)."""
        return self.view.jpeg(x, self.clock.now() if t is None else t)


# ---------------------------------------------------------------- session


class SimCamera:
    """One USB session with a :class:`SimBody`: the ``gphoto2.Camera`` surface."""

    def __init__(self, body: SimBody) -> None:
        self.body = body
        self._generation = body.generation
        self._exited = False

    # Conveniences for tests and the harness (never used by rig's lens layer).
    @property
    def truth(self) -> Truth:
        return self.body.truth

    @property
    def clock(self) -> Clock:
        return self.body.clock

    # -- gphoto2.Camera surface
    def init(self, context: Any = None) -> None:
        with self._call("init", context, opening=True):
            self.body.sleep_latency(0.25)
            if not self.body.present:
                raise gp.GPhoto2Error(gp.GP_ERROR_MODEL_NOT_FOUND)
            if self.body.claimed:
                raise gp.GPhoto2Error(gp.GP_ERROR_IO_USB_CLAIM)
            if self.body.hung:    # a new session after a queue overrun: it answers again
                self.body.hung = False
                self.body.generation += 1
            self._generation = self.body.generation

    def exit(self, context: Any = None) -> None:
        if not self._exited and self._generation == self.body.generation:
            self.body.liveview = False
        self._exited = True

    def get_summary(self, context: Any = None) -> SimText:
        with self._call("get_summary", context):
            self.body.sleep_latency(1.0)
            self._alive()
            p = self.body.profile
            return SimText(
                f"Manufacturer: {p.manufacturer}\nModel: {p.model}\n"
                f"  Version: 1-1.3.0\n  Serial Number: sim-{p.seed:08d}\n")

    def get_single_config(self, name: str, context: Any = None) -> SimWidget:
        with self._call("get_single_config", context):
            return self._widget(name)

    def set_single_config(self, name: str, widget: SimWidget, context: Any = None) -> None:
        with self._call("set_single_config", context):
            current = self._widget(name)
            if current.get_readonly():
                self.body.sleep_latency(1.0)
                raise gp.GPhoto2Error(gp.GP_ERROR_NOT_SUPPORTED)
            self._set(name, current, widget.get_value(), context)

    def capture_preview(self, camera_file: Any = None, context: Any = None) -> SimCameraFile:
        if camera_file is not None:
            # What python-gphoto2's SWIG wrapper says to a context passed first.
            raise TypeError("in method 'Camera_capture_preview', argument 2 of type "
                            "'CameraFile *'")
        with self._call("capture_preview", context):
            body = self.body
            t = self.clock.now()
            first = not body.liveview
            body.liveview = True
            data = body.preview(t)
            duration = body.profile.preview_ms / 1000.0 * (4.0 if first else 1.0)
            self.clock.sleep_until(t + duration)
            self._alive()
            return SimCameraFile(data)

    # -- internals
    class _CallGuard:
        def __init__(self, cam: "SimCamera", name: str, opening: bool) -> None:
            self.cam, self.name, self.opening = cam, name, opening

        def __enter__(self) -> None:
            cam, body = self.cam, self.cam.body
            body.call_faults(self.name, self.opening)
            if cam._exited:
                raise gp.GPhoto2Error(gp.GP_ERROR)  # a Camera is not reused after exit()
            if not self.opening and (cam._generation != body.generation or not body.present):
                raise gp.GPhoto2Error(gp.GP_ERROR_IO_USB_FIND)
            if not self.opening and body.hung:
                body.sleep_latency(1.0)
                raise gp.GPhoto2Error(gp.GP_ERROR_IO)
            if body.in_call:
                raise gp.GPhoto2Error(gp.GP_ERROR_CAMERA_BUSY)
            body.in_call = True
            body.calls[self.name] = body.calls.get(self.name, 0) + 1

        def __exit__(self, *exc: Any) -> None:
            self.cam.body.in_call = False

    def _call(self, name: str, context: Any, *, opening: bool = False) -> "SimCamera._CallGuard":
        self._context = context
        return SimCamera._CallGuard(self, name, opening)

    def _alive(self) -> None:
        """A cable pulled during a call: the call fails with an I/O error."""
        if self._generation != self.body.generation or not self.body.present:
            raise gp.GPhoto2Error(gp.GP_ERROR_IO)

    def _fail(self, code: int, text: str) -> None:
        deliver_error(self._context, text)
        raise gp.GPhoto2Error(code)

    def _widget(self, name: str) -> SimWidget:
        body, p = self.body, self.body.profile
        family = p.vendor
        if name == "lensname" and family in ("canon", "nikon", "fuji"):
            return SimWidget(name, "Lens Name", gp.GP_WIDGET_TEXT, p.lens, readonly=True)
        if name == "cameramodel":
            return SimWidget(name, "Camera Model", gp.GP_WIDGET_TEXT, p.model, readonly=True)
        if name == "manufacturer":
            return SimWidget(name, "Camera Manufacturer", gp.GP_WIDGET_TEXT, p.manufacturer,
                             readonly=True)
        if name == "viewfinder" and family in ("canon", "nikon"):
            return SimWidget(name, "Viewfinder", gp.GP_WIDGET_TOGGLE, int(body.liveview))
        if name == "viewfinder" and family == "panasonic":
            return SimWidget(name, "Viewfinder", gp.GP_WIDGET_TOGGLE, 2)  # always reads 2
        if family in _FAMILY_SIZES and name == "manualfocusdrive":
            sizes = _FAMILY_SIZES[family]
            choices = tuple(f"Near {k}" for k in sizes) + ("None",) + tuple(
                f"Far {k}" for k in sizes)
            return SimWidget(name, "Drive Manual focus", gp.GP_WIDGET_RADIO, "None",
                             choices=choices)
        if family == "nikon" and name == "manualfocusdrive":
            return SimWidget(name, "Manual Focus Drive", gp.GP_WIDGET_RANGE, 0.0,
                             value_range=(-NIKON_RANGE, NIKON_RANGE, 1))
        if family == "sony" and name == "manualfocus":
            return SimWidget(name, "Manual Focus", gp.GP_WIDGET_RANGE, 0.0,
                             value_range=(-7, 7, 1))
        if family == "sony" and name == "focalposition" and p.options["focalposition"]:
            x = min(max(body.truth.position(self.clock.now()) / body.truth.steps, 0.0), 1.0)
            reading = 100 * x ** p.options.get("focalposition_gamma", 1.0)
            return SimWidget(name, "Focal Position", gp.GP_WIDGET_RANGE,
                             float(round(reading)), readonly=True,
                             value_range=(0, 100, 1))
        if family == "fuji" and name == "manualfocusdrive":
            x = body.truth.position(self.clock.now())
            return SimWidget(name, "Focus Position", gp.GP_WIDGET_RANGE, float(round(x)),
                             value_range=(0, body.truth.steps, 1))
        raise gp.GPhoto2Error(gp.GP_ERROR_BAD_PARAMETERS)

    def _set(self, name: str, current: SimWidget, value: Any, context: Any) -> None:
        body, p = self.body, self.body.profile
        family = p.vendor
        if name == "viewfinder":
            body.sleep_latency(1.0)
            self._alive()
            body.liveview = bool(value)
            return
        if name not in ("manualfocusdrive", "manualfocus"):
            body.sleep_latency(1.0)
            return
        if current.get_type() == gp.GP_WIDGET_RADIO:
            if value not in current.get_choices():
                body.sleep_latency(1.0)
                raise gp.GPhoto2Error(gp.GP_ERROR_BAD_PARAMETERS)
        else:
            low, high, _ = current.get_range()
            if not isinstance(value, (int, float)) or not low <= value <= high:
                body.sleep_latency(1.0)
                raise gp.GPhoto2Error(gp.GP_ERROR_BAD_PARAMETERS)
        body.sleep_latency(1.0)
        self._alive()
        if not body.mode_ok:
            self._fail(gp.GP_ERROR, "The camera is in a mode that does not allow focus drive.")
        if family in _FAMILY_SIZES:
            if value == "None":
                return
            if not body.liveview and family == "canon":
                body.truth.commands += 1
                body.truth.ignored += 1   # Canon drives only in live view, silently
                return
            body.move_relative(p.drive[int(value[-1])], -1 if value.startswith("Near") else 1)
        elif family == "nikon":
            self._nikon(int(value))
        elif family == "sony":
            magnitude = int(abs(value))
            if magnitude == 0:
                return
            spec = p.drive.get(magnitude)
            if spec is None:
                raise gp.GPhoto2Error(gp.GP_ERROR_BAD_PARAMETERS)
            body.move_relative(spec, 1 if value > 0 else -1)
        elif family == "fuji":
            body.move_to(float(value))

    def _nikon(self, units: int) -> None:
        """Waits for the lens up to block_s; -110 if it still moves, -113 at a stop."""
        body, opts = self.body, self.body.profile.options
        if not body.liveview:
            self._fail(gp.GP_ERROR, "Nikon manual focus works only in LiveView mode.")
        if units == 0:
            units = 1  # libgphoto2 sends 0 as one step toward infinity
        if body.truth.moving(self.clock.now()):
            raise gp.GPhoto2Error(gp.GP_ERROR_CAMERA_BUSY)
        if abs(units) < opts["min_units"]:
            self._fail(gp.GP_ERROR_CAMERA_ERROR, "Nikon manual focus stepping too small.")
        start = self.clock.now()
        end, at_stop = body.move_units(units)
        self.clock.sleep_until(min(end, start + opts["block_s"]))
        self._alive()
        if end > start + opts["block_s"]:
            raise gp.GPhoto2Error(gp.GP_ERROR_CAMERA_BUSY)
        if at_stop:
            self._fail(gp.GP_ERROR_CAMERA_ERROR, "Nikon manual focus at limit.")



def make_scene(profile: Profile) -> Scene:
    """The scene a profile starts with: its layers' depths, in dioptres."""
    span = float(profile.steps)
    if profile.optics is None:
        return Scene(span, 1.0, profile.subject, [1.0 - profile.subject / span], legacy=True)
    depths = [1.0 / layer.distance_m for layer in profile.layers]
    return Scene(span, profile.optics.near_dioptres, profile.subject, depths, legacy=False)
