"""The focus drive over python-gphoto2: position, homing and the executor.

Everything here runs in the camera's owner thread (see :mod:`rig.app`):
libgphoto2 takes one call at a time per camera.

The camera's own drive (:mod:`rig.drives`) says what it can give: Canon
gives nothing but relative moves (silent at the stops, no position); Nikon
signals its stops; Fuji reports its position; Sony reports it coarsely.
This layer turns that into what the rest of rig needs:

**Position** in size-1 steps from the near stop.  It is dead reckoning from
a known reference: each command adds its calibrated effective steps where
the lens is (they vary along the range: ``LensModel.step_at``), less any
play the motor takes up first, clamped to the range (the stops clamp the
real lens the same way).  Where the camera reports a position, that is
read instead.

**Play** (backlash): on a reversal the motor turns ``backlash`` steps before
the lens follows.  ``Lens.play`` says where the motor sits in it; homing
leaves it taken up toward near.  A plan is made for the play as it is (the
executor plans again from here if it was made for another), and between
pulls :meth:`Lens.prepare` takes the play up toward the next one while the
lens waits, so the pull itself starts at once.  The position carries
an *uncertainty* (one standard deviation, in steps), kept by the position
model (:mod:`rig.position`, one :class:`~rig.position.Tracked` value): it
grows with every command by the variance calibration measured for its size,
by a command's whole size when it may have been lost, and slowly with time;
only a stop (homing) or a reading to the step zeroes it.  ``trusted`` says
whether it is small enough to rely on (``[position] uncertain_steps``,
``docs/cameras.md``).

**Homing** finds the reference after power-on, by what the camera offers:

* it reports its position (Fuji): read it;
* it signals its stops (Nikon): drive toward near until it says "at limit";
* neither (Canon, Olympus, Panasonic, Sony): drive toward the near stop by
  110 % of the range and two commands more.  The silent clamp guarantees the
  lens ends on the stop whatever its unknown start; no signal is needed.
  It costs about one sweep at the largest size (4.8 s on the EF 24mm).

**The executor** sends a plan's commands at absolute deadlines, compensating
the measured call latency, and keeps them from reaching a moving lens
(``Lens.execute``, ``docs/planning.md``).

Calibration lives in :mod:`rig.calibrate`.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any, Callable

import gphoto2 as gp

from .clock import Clock
from .drives import (Capabilities, Drive, DriveRefused, FujiDrive, SonyDrive, StopReached,
                     detect)
from .gpcontext import CameraContext
from .planner import LensModel, Plan, Play, plan_move
from .position import Tracked
from .vision import fingerprint, shows_detail

log = logging.getLogger(__name__)

__all__ = ["Lens", "LensError", "LiveViewFrozen", "Cancelled", "Execution", "NEAR", "FAR",
           "RunningStats",
           "CLOSED_LOOP_GUARD", "SPACING_GUARD"]

NEAR, FAR = -1, 1

# Latency jitter (sigma, measured on every call) in the spacing of commands.
# The executor never sends a command sooner than CLOSED_LOOP_GUARD sigma
# after the previous call's measured return plus its motion, less the mean
# latency: only the next call's own latency is unknown then, and 4 sigma makes
# a command that arrives while the lens still moves a 1-in-30,000 event.
# Plans space commands by 1.5 sigma more, so that floor seldom holds a
# command back (when it does, the delay carries on to the next commands).
CLOSED_LOOP_GUARD = 4.0
SPACING_GUARD = CLOSED_LOOP_GUARD + 1.5


class LensError(Exception):
    """The lens cannot do what was asked; the text says why and what to do."""


class LiveViewFrozen(LensError):
    """The camera sends the same live-view frame over and over."""


class Cancelled(Exception):
    """The rig is stopping: the lens job ends at its next camera call."""


class RunningStats:
    """Mean and spread of a stream of numbers (Welford)."""

    def __init__(self) -> None:
        self.n = 0
        self.mean = 0.0
        self._m2 = 0.0

    def add(self, x: float) -> None:
        self.n += 1
        d = x - self.mean
        self.mean += d / self.n
        self._m2 += d * (x - self.mean)

    @property
    def std(self) -> float:
        return math.sqrt(self._m2 / (self.n - 1)) if self.n > 1 else 0.0


@dataclass
class Execution:
    """What happened when a plan ran, as far as the rig can tell."""

    t0: float
    planned_s: float
    commands: int = 0
    late: int = 0
    max_late_s: float = 0.0
    ended: float = 0.0
    stopped: bool = False
    arrival: float | None = None      # when the last command's motion ended (estimate)
    lateness: list[float] = field(default_factory=list)  # send time - deadline, each command
    # Position deviation from the target before and after a correction, in
    # steps; None when the camera reports no position (Canon).
    before_correction: float | None = None
    after_correction: float | None = None
    plan: Plan | None = None          # the plan that ran (made again from here if need be)

    @property
    def duration_error_s(self) -> float | None:
        """Estimated arrival against the planned end (positive: late)."""
        return None if self.arrival is None else self.arrival - (self.t0 + self.planned_s)

    def describe(self, plan: Plan, label: str) -> str:
        """One log line per transition, like the module's console log."""
        plan = self.plan or plan
        if self.before_correction is None:
            position = ("position not measured (no feedback from this camera), "
                        f"expected off by {plan.landing:+.2f}")
        else:
            after = "" if self.after_correction is None else \
                f", {self.after_correction:+.1f} after correction"
            position = f"position off by {self.before_correction:+.1f}{after}"
        error = self.duration_error_s
        duration = "duration n/a" if error is None else (
            f"duration {1000 * error:+.1f} ms ({100 * error / max(self.planned_s, 1e-9):+.2f} %)")
        return (f"{label}: {plan.start} -> {plan.target} steps, {plan.easing}, planned "
                f"{plan.duration_s:.3f} s; {position}; {duration}; {self.commands} commands, "
                f"{self.late} late (max {1000 * self.max_late_s:.1f} ms)")


# ------------------------------------------------------------------- lens


BUSY_TRIES = 6          # a call answered "busy" (-110) is tried this often in all
BUSY_BACKOFF_S = 0.01   # ... waiting 10, 20, 40, 80, 160 ms in between
IO_RETRY_S = 0.05       # a read that failed with -7 is tried once more after this
FROZEN_TRIES = 3        # frames asked for before a repeated one means "frozen"
FROZEN_WAIT_S = 0.2     # between those


@dataclass(frozen=True)
class Trust:
    """How far the position may be trusted (uncertainty in steps, one sigma)."""

    drift_per_hour: float = 1.0     # variance added per hour of use (steps^2)
    uncertain_steps: float = 4.0    # trusted while one sigma stays within this ([position])


class Lens:
    """A camera's focus drive with a tracked position.  Owner thread only."""

    LATE_S = 0.005  # a command sent more than this after its deadline is late

    def __init__(self, camera: Any, clock: Clock, trust: Trust | None = None) -> None:
        self.camera = camera
        self.clock = clock
        self.ctx = CameraContext()
        self.drive: Drive | None = None
        self.camera_model = ""
        self.lens_name = ""
        self.manufacturer = ""
        self.trust = trust or Trust()
        self.track = Tracked(drift_per_hour=self.trust.drift_per_hour, since=clock.now())
        self.play = Play()                     # where the motor sits in the lens's backlash
        self.model: LensModel | None = None
        self.jitter: dict[int, float] = {}     # steps, one sigma, per command of a size
        self.latency = RunningStats()
        self._free_at = -math.inf
        self.commands = 0
        self.frames = 0
        self.retries = 0                      # calls tried again after -110 / -7
        self._last_frame = b""
        self._frame_commands = -1
        self.cancelled = False
        self.at_stop: int | None = None        # NEAR/FAR after a camera said "at limit"
        self.liveview_switched_on = False      # live view was off and rig turned it on
        # Called with every frame taken, whatever for (rig.liveview shows them).
        self.on_frame: Callable[[bytes], None] | None = None

    @property
    def position(self) -> float | None:
        """The tracked position, steps from the near stop (None until homed)."""
        return self.track.position

    @position.setter
    def position(self, value: float | None) -> None:
        # Only "forget it" is allowed from outside: a position comes from a
        # stop (home), a reading or the picture (fix_position), never by hand.
        if value is not None:
            raise ValueError("a position comes from homing or fix_position, not by hand")
        self.track = self.track.forgotten()

    @property
    def caps(self) -> Capabilities:
        assert self.drive is not None, "connect() first"
        return self.drive.caps

    # -- connection
    def connect(self) -> None:
        """Open the camera, find out what it is and how it drives focus."""
        self.camera.init(self.ctx.context)
        self.camera_model = self._text("cameramodel") or self._summary_model()
        self.lens_name = self._text("lensname") or "unknown lens"
        self.manufacturer = self._text("manufacturer") or ""
        drive = detect(self.camera, self.ctx)
        if drive is None:
            raise LensError(
                f"{self.manufacturer} {self.camera_model}".strip()
                + " offers no focus drive rig can use (no manualfocusdrive or manualfocus "
                  "config): this camera cannot drive focus over USB")
        self.drive = drive
        log.info("focus drive: %s", drive.caps.describe())
        self.liveview_on()

    def _call(self, fn: Callable[[], Any], *, idempotent: bool = True) -> Any:
        """A camera call, tried again when the camera says "busy" (-110).

        A camera busy writing a file or reading a card answers -110 for a
        moment: wait 10, 20, 40, 80, 160 ms and try again, in this thread,
        so nothing else overtakes the call.  A read (``idempotent``) is also
        tried once more after an I/O error (-7); a write is not, since it may
        have taken effect.  Anything else, or busy for longer, is raised.
        """
        io_tried = False
        for attempt in range(BUSY_TRIES):
            try:
                return fn()
            except gp.GPhoto2Error as exc:
                last = attempt == BUSY_TRIES - 1
                if exc.code == gp.GP_ERROR_CAMERA_BUSY and not last:
                    wait = BUSY_BACKOFF_S * 2 ** attempt
                elif exc.code == gp.GP_ERROR_IO and idempotent and not io_tried and not last:
                    io_tried, wait = True, IO_RETRY_S
                else:
                    raise
                self.ctx.take()
                self.retries += 1
                self.clock.sleep(wait)
        raise AssertionError("unreachable")

    def _answers(self) -> bool:
        """Whether the camera still answers a harmless read."""
        try:
            self._call(lambda: self.camera.get_single_config("cameramodel", self.ctx.context))
            return True
        except gp.GPhoto2Error:
            self.ctx.take()
            return False

    def _text(self, name: str) -> str | None:
        try:
            value = self._call(lambda: self.camera.get_single_config(
                name, self.ctx.context).get_value())
        except gp.GPhoto2Error:
            self.ctx.take()
            return None
        return str(value).strip() or None

    def _summary_model(self) -> str:
        try:
            text = str(self.camera.get_summary(self.ctx.context))
        except gp.GPhoto2Error:
            return "camera"
        for line in text.splitlines():
            if line.strip().startswith("Model:"):
                return line.split(":", 1)[1].strip()
        return "camera"

    def liveview_on(self) -> None:
        """Turn live view on (Canon drives the lens only then); a preview keeps it on."""
        try:
            widget = self._call(lambda: self.camera.get_single_config("viewfinder",
                                                                      self.ctx.context))
            if not widget.get_value():
                widget.set_value(1)
                self._call(lambda: self.camera.set_single_config("viewfinder", widget,
                                                                 self.ctx.context))
                self.liveview_switched_on = True
        except gp.GPhoto2Error:
            self.ctx.take()
        self.frame()

    def liveview_is_on(self) -> bool | None:
        """What the camera says about live view (None if it does not say)."""
        try:
            return bool(self._call(lambda: self.camera.get_single_config(
                "viewfinder", self.ctx.context).get_value()))
        except gp.GPhoto2Error:
            self.ctx.take()
            return None

    def close(self) -> None:
        try:
            self.camera.exit(self.ctx.context)
        except gp.GPhoto2Error:
            pass

    # -- primitives
    def frame(self) -> bytes:
        """A live-view frame (JPEG).

        Raises :class:`LiveViewFrozen` when the camera keeps sending the very
        same frame, with detail in it, after the lens was driven: a picture
        with sensor noise never repeats byte for byte, so the camera's live
        view has stalled.
        """
        if self.cancelled:
            raise Cancelled()
        for attempt in range(FROZEN_TRIES):
            self.frames += 1
            # python-gphoto2 (2.5 and later): capture_preview(camera_file, context);
            # None for the file makes it return a new CameraFile.
            data = bytes(self._call(lambda: self.camera.capture_preview(
                None, self.ctx.context).get_data_and_size()))
            moved = self.commands != self._frame_commands
            # (A flat picture, a lens cap, repeats legitimately.)
            if not (moved and data == self._last_frame and shows_detail(fingerprint(data))):
                break
            if attempt == FROZEN_TRIES - 1:
                raise LiveViewFrozen("the live view froze: the camera keeps sending the same "
                                     "picture")
            self.clock.sleep(FROZEN_WAIT_S)
        self._last_frame, self._frame_commands = data, self.commands
        if self.on_frame is not None:
            self.on_frame(data)
        return data

    def send(self, size: int, direction: int) -> None:
        """One drive command; updates the tracked position and its uncertainty.

        A camera that signals its stops ends a command there: the position
        is then exactly that stop.
        """
        assert self.drive is not None, "connect() first"
        if self.cancelled:
            raise Cancelled()
        start = self.clock.now()
        stopped = False
        unsure = False
        try:
            self._call(lambda: self.drive.send(size, direction), idempotent=False)
        except StopReached:
            stopped = True
        except DriveRefused as exc:
            raise LensError(str(exc)) from None
        except gp.GPhoto2Error as exc:
            # An I/O error on a drive command: it may or may not have moved
            # the lens.  If the camera still answers, carry on with that
            # doubt in the position; if not, the camera is gone.
            if exc.code != gp.GP_ERROR_IO or not self._answers():
                raise
            unsure = True
        end = self.clock.now()
        self.commands += 1
        self.at_stop = direction if stopped else None
        model = self.model
        if not self.caps.blocking:
            self.latency.add(end - start)
        if model is None:
            return
        d = model.drive(size)
        self._free_at = end if self.caps.blocking else end + d.period
        if self.position is None:
            self.play = self.play.turn(direction, d.steps)[1]
            return
        if stopped:
            self.play = model.play(direction)
            self.track = self.track.at_stop(0.0 if direction < 0 else float(model.steps), end)
            return
        position, self.play = model.move(self.position, size, direction, self.play)
        lost = 1.0 if unsure else 0.0    # an I/O error on the call: moved or not
        self.track = self.track.moved(position, self.jitter.get(size, 0.0), steps=d.steps,
                                      lost=lost)

    def wait_free(self) -> None:
        """Sleep until the model says the last command's motion is over."""
        self.clock.sleep_until(self._free_at)

    @property
    def free_at(self) -> float:
        """When the model says the last command's motion is over (clock time)."""
        return self._free_at

    @property
    def lead(self) -> float:
        """How early to send a command so it takes effect at its deadline."""
        return self.latency.mean if self.latency.n else (self.model.latency if self.model else 0.0)

    # -- trust
    def fix_position(self, position: float, sigma: float) -> None:
        """Where something other than counting (a coarse reading, the picture) puts the lens.

        Never surer than :data:`rig.position.PICTURE_FLOOR`: only a stop
        (:meth:`stopped_at`) zeroes the uncertainty.
        """
        assert self.model is not None
        position = min(max(float(position), 0.0), float(self.model.steps))
        self.track = self.track.placed(position, sigma, self.clock.now())

    def stopped_at(self, direction: int = NEAR) -> None:
        """The lens was driven into a stop: exactly there, the play taken up toward it."""
        model = self._need_model()
        self.play = model.play(NEAR if direction < 0 else FAR)
        self.track = self.track.at_stop(0.0 if direction < 0 else float(model.steps),
                                        self.clock.now())

    def doubt(self, sigma: float = 10.0) -> None:
        """A check could not place the lens: widen its spread to at least ``sigma``."""
        self.track = self.track.doubted(sigma)

    @property
    def uncertainty(self) -> float:
        """One standard deviation of the position, in steps (inf before homing)."""
        return self.track.sigma(self.clock.now())

    @property
    def trusted(self) -> bool:
        return self.uncertainty <= self.trust.uncertain_steps

    def read_position(self) -> float | None:
        """The camera's own reading, in steps, where it gives one."""
        assert self.drive is not None
        drive = self.drive
        try:
            return self._call(drive.position)
        except gp.GPhoto2Error:
            self.ctx.take()
            return None

    def raw_reading(self) -> float | None:
        """Sony's ``focalposition`` (0-100) as the camera gives it, or None.

        Needs no calibration (unlike :meth:`read_position`): calibration
        cross-checks the range it measures against it.
        """
        drive = self.drive
        if not isinstance(drive, SonyDrive) or drive.caps.feedback != "absolute":
            return None
        try:
            return self._call(drive.raw_position)
        except gp.GPhoto2Error:
            self.ctx.take()
            return None

    @property
    def reads_exact_position(self) -> bool:
        """The camera reports the position to the step (Fuji): no other check needed."""
        return isinstance(self.drive, FujiDrive)

    def checked(self, target: float) -> tuple[float | None, float | None]:
        """Where the camera reports its position, check it, correct it: (before, after).

        Fuji reads to the step: a miss is driven onto the target.  Sony's
        ``focalposition`` is coarse (a hundredth of the range): a reading
        more than one unit off means commands were lost; the lens is then
        placed by the reading and driven back, and the live view check
        (:mod:`rig.verify`) settles the last steps.  (None, None) when the
        camera reports nothing (Canon, Nikon, Olympus, Panasonic), and for
        a Sony whose reading has no scale in steps (not calibrated, or
        found not linear in steps: :func:`rig.worker.use_calibration`).
        """
        drive = self.drive
        if drive is None or drive.caps.feedback != "absolute":
            return None, None
        self.wait_free()
        reading = self.read_position()
        if reading is None:
            return None, None
        before = reading - target
        after = before
        if isinstance(drive, FujiDrive):
            if abs(before) >= 0.5:
                drive.go(drive.low + target)
                self._free_at = self.clock.now() + abs(before) / max(
                    self._need_model().unit.speed, 1e-6)
                self.wait_free()
                reading = self.read_position()
                after = None if reading is None else reading - target
            if after is not None and abs(after) < 0.5:
                # Read to the step: as good as a stop.
                self.track = self.track.at_stop(float(target), self.clock.now())
            return before, after
        unit = self._need_model().steps / 100.0     # Sony: one focalposition unit
        if abs(before) > unit + 0.5:
            self.fix_position(reading, sigma=unit / 2)
            self.move_to(round(target))
            self.wait_free()
            reading = self.read_position()
            after = None if reading is None else reading - target
        return before, after

    # -- motion
    def home(self) -> None:
        """Find the reference by what the camera offers; position 0 is the near stop."""
        model = self._need_model()
        caps = self.caps
        if caps.feedback == "absolute" and isinstance(self.drive, FujiDrive):
            reading = self.read_position()
            if reading is not None:
                here = min(max(reading, 0.0), float(model.steps))
                self.track = self.track.at_stop(here, self.clock.now())   # read to the step
                self.drive.target = self.drive.low + here
                self.play = model.play(NEAR)
                return
        size, count = model.into_stop()
        self.position = None
        for _ in range(count):
            self.wait_free()
            self.send(size, NEAR)
            if self.at_stop == NEAR:
                break  # the camera said so
        self.wait_free()
        self.stopped_at(NEAR)      # driven into the stop: 0, the play taken up toward near

    def execute(self, plan: Plan, t0: float,
                stop: Callable[[], bool] | None = None) -> Execution:
        """Send the plan's commands at their absolute deadlines ``t0 + t``.

        A plan made for another start or another play than the lens has now
        is made again from here first (:meth:`fitted`; ready at once when
        :meth:`prepare` made it while the lens waited).
        """
        plan = self.fitted(plan)
        lead = self.lead
        # Never squeeze a late start: shift the whole plan instead, so the
        # spacing the lens needs between commands is kept.
        first = t0 + (plan.commands[0].t if plan.commands else 0.0) - lead
        late_start = max(0.0, max(self.clock.now(), self._free_at - lead) - first)
        if late_start > self.LATE_S:
            log.warning("transition starts %.1f ms late", 1000 * late_start)
            t0 += late_start
        run = Execution(t0=t0, planned_s=plan.duration_s, plan=plan)
        model = self._need_model()
        blocking = self.caps.blocking
        # The plan spaces its deadlines by whole periods, which hold the guard
        # for latency jitter.  Two more floors for each send:
        # * a period after the previous send, so a late send does not eat
        #   into the next gap;
        # * the previous command took effect no later than its call returned,
        #   so once that return is measured, only the next call's latency is
        #   unknown: wait until return + motion - mean latency + 4 sigma
        #   (CLOSED_LOOP_GUARD).  A camera whose call waits for the motor
        #   (Nikon) is free when the call returns.
        guard = CLOSED_LOOP_GUARD * self.latency.std
        earliest = self._free_at - lead
        for cmd in plan.commands:
            if stop is not None and stop():
                run.stopped = True
                break
            deadline = t0 + cmd.t - lead
            self.clock.sleep_until(max(deadline, earliest))
            sent = self.clock.now()
            run.lateness.append(sent - deadline)
            if sent > deadline + self.LATE_S:
                run.late += 1
                run.max_late_s = max(run.max_late_s, sent - deadline)
            self.send(cmd.size, plan.direction)
            returned = self.clock.now()
            drive = model.drive(cmd.size)
            if blocking:
                earliest = max(sent + drive.period, returned)
                run.arrival = returned
            else:
                earliest = max(sent + drive.period, returned + drive.motion - lead + guard)
                run.arrival = returned + drive.motion
            run.commands += 1
        if not run.stopped:
            self.clock.sleep_until(t0 + plan.duration_s)
        run.ended = self.clock.now()
        return run

    def move_to(self, target: int, duration: float = 0.0, *,
                model: LensModel | None = None) -> Execution:
        """Plan and run a move now (used by jogs, autofocus and checks).

        ``model`` plans with fewer drive sizes than the lens has (autofocus
        moves with the exact ones only); it defaults to the lens's own.
        """
        model = model or self._need_model()
        if self.position is None:
            raise LensError("position unknown: home first")
        target = int(min(max(target, 0), model.steps))
        plan = self.plan_from_here(target, duration, model=model)
        self.wait_free()
        run = self.execute(plan, self.clock.now() + self.lead)
        return run

    # -- the play
    def plan_from_here(self, target: float, duration: float = 0.0, easing: str = "linear",
                       *, model: LensModel | None = None) -> Plan:
        """The plan from where the lens is (to the fraction of a step), for the play as it sits.

        Planned from the exact position, a pull lands on its target whatever
        fraction of a step the last one left; :meth:`prepare` makes the same
        plan, so a press finds it ready.
        """
        model = model or self._need_model()
        if self.position is None:
            raise LensError("position unknown: home first")
        start = self.position
        direction = (target > start) - (target < start)
        return plan_move(start, target, duration, model, easing,
                         self.play.slack(direction) if direction else 0.0)

    def fitted(self, plan: Plan) -> Plan:
        """``plan`` if it was made for the lens as it is, else the same move from here.

        The core plans from whole positions and knows nothing of the play.
        """
        if self.position is None or self.model is None or not plan.direction:
            return plan
        if abs(self.position - plan.start) <= 1e-9 and \
                abs(self.play.slack(plan.direction) - plan.slack) <= 1e-9:
            return plan
        return self.plan_from_here(plan.target, plan.target_s, plan.easing)

    def take_up(self, direction: int, stop: Callable[[], bool] | None = None) -> int:
        """Take up the play toward ``direction`` without moving the lens; commands sent.

        Whole unit commands while the play lasts: each turns the motor and
        leaves the lens where it is.  What is left (less than one step) the
        next pull's first command takes up, and its plan counts it.
        """
        model = self._need_model()
        if self.position is None or not direction:
            return 0
        unit = model.unit
        sent = 0
        while self.play.slack(direction) >= model.step_at(unit.size, self.position,
                                                          direction) - 1e-9:
            if stop is not None and stop():
                break
            self.wait_free()
            if stop is not None and stop():
                break       # a press came while the last command's motion ended
            self.send(unit.size, direction)
            sent += 1
        return sent

    def prepare(self, target: float, duration: float = 0.0, easing: str = "linear",
                stop: Callable[[], bool] | None = None) -> Plan | None:
        """Get ready for the pull the operator will likely ask for next.

        Takes up the play toward ``target`` (so the pull starts moving the
        lens with its first command, on its curve) and plans the pull from
        here, so that a press finds it ready.  ``stop`` cuts it short
        between two commands (a press came).
        """
        if self.position is None or self.model is None:
            return None
        direction = (target > self.position) - (target < self.position)
        if direction:
            self.take_up(direction, stop)
        if stop is not None and stop():
            return None
        return self.plan_from_here(target, duration, easing)

    def _need_model(self) -> LensModel:
        if self.model is None:
            raise LensError("this lens is not calibrated yet")
        return self.model


