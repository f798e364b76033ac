"""The focus drive over python-gphoto2: commands, position, homing, calibration.

Everything here runs in the camera's owner thread (see :mod:`rig.app`):
libgphoto2 takes one call at a time per camera.

What a Canon body gives us over USB, and so all this layer may use:

* ``manualfocusdrive`` = ``Near 1..3`` / ``Far 1..3``: one relative move per
  call.  The call returns after one PTP transaction while the motor keeps
  turning; nothing says when it stops.
* At a mechanical stop the command is ignored, silently.
* No position, no distance, no end-stop signal.
* The live view (``capture_preview``) and the round-trip time of each call.

Hence:

**Position** is dead reckoning from a known stop: each command adds its
calibrated effective steps, clamped to the range (the stops clamp the real
lens the same way).

**Homing** drives toward the near stop by 110 % of the range and two
commands more.  The silent clamp guarantees the lens ends on the stop,
whatever its unknown start; no signal is needed.  It costs about the time of
one full sweep at size 3 (4.8 s on the EF 24mm).

**Calibration** uses the live view as the sensor.  It needs a still scene
with some detail in the focus range; it says so when it has none.  The
method is described in ``docs/calibration.md``; in short:

1. Find the near stop: drive size 3 until the picture stops changing over
   four commands, then overdrive.
2. Reference sweep: step size 1 toward the far stop, one fingerprint per
   step, until the picture has not changed for ``stall_window`` steps.  The
   table's index *is* the position.
3. The far stop exactly: step back ``K`` size-1 steps, recording again, and
   slide that record along the table; the best fit gives the range ``R``.
4. The table, denoised (low rank), becomes an encoder: a frame is placed on
   it by its nearest entry.
5. Effective steps of sizes 3 and 2: a run of commands from one stop into the
   other, one frame each, fitted as a whole against the table.
   Speeds: trains of commands shuttling between two anchors, at a spacing
   found by bisection: the shortest at which every command of the train
   executes and the lens is still when the train should be over.  Dropped,
   queued and refused (-110) commands all show up as a failed train.  USB
   jitter, measured on every call, adds a guard.
6. Home with the new model.
"""

from __future__ import annotations

import logging
import math
import statistics
from dataclasses import dataclass, field
from typing import Any, Callable

import gphoto2 as gp
import numpy as np

from .calibration import Calibration, DriveCal
from .clock import Clock
from .planner import LensModel, Plan, plan_move
from .vision import Encoder, distance, fingerprint, focus_measure, grey, low_rank

log = logging.getLogger(__name__)

__all__ = ["Lens", "LensError", "Cancelled", "CanonDrive", "CalibrationSettings", "Execution",
           "NEAR", "FAR", "calibrate"]

NEAR, FAR = -1, 1


class LensError(Exception):
    """The lens cannot do what was asked; the text says why and what to do."""


class Cancelled(Exception):
    """The rig is stopping: the lens job ends at its next camera call."""


# ----------------------------------------------------------------- drives


class CanonDrive:
    """Canon EOS ``manualfocusdrive``: Near/Far 1..3, silent at the stops, no feedback."""

    vendor = "canon"
    config = "manualfocusdrive"
    sizes = (1, 2, 3)

    def __init__(self, camera: Any) -> None:
        self.camera = camera
        self._widget: Any = None

    @classmethod
    def supports(cls, camera: Any) -> bool:
        try:
            widget = camera.get_single_config(cls.config)
        except gp.GPhoto2Error:
            return False
        try:
            choices = set(widget.get_choices())
        except (AttributeError, gp.GPhoto2Error):
            return False
        return {"Near 1", "Far 1"} <= choices

    def send(self, size: int, direction: int) -> None:
        if size not in self.sizes:
            raise ValueError(f"Canon drive sizes are 1..3, not {size}")
        if self._widget is None:
            self._widget = self.camera.get_single_config(self.config)
        self._widget.set_value(f"{'Far' if direction > 0 else 'Near'} {size}")
        # set_single_config always sends, even when the value is unchanged.
        self.camera.set_single_config(self.config, self._widget)


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

    @property
    def duration_error_s(self) -> float | None:
        """Estimated arrival against the planned end (positive: late)."""
        return None if self.arrival is None else self.arrival - (self.t0 + self.planned_s)

    def describe(self, plan: Plan, label: str) -> str:
        """One log line per transition, like the module's console log."""
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


class Lens:
    """A camera's focus drive with a tracked position.  Owner thread only."""

    LATE_S = 0.005  # a command sent more than this after its deadline is late

    def __init__(self, camera: Any, clock: Clock) -> None:
        self.camera = camera
        self.clock = clock
        self.drive: CanonDrive | None = None
        self.camera_model = ""
        self.lens_name = ""
        self.position: float | None = None
        self.model: LensModel | None = None
        self.latency = RunningStats()
        self._free_at = -math.inf
        self.commands = 0
        self.frames = 0
        self.cancelled = False

    # -- connection
    def connect(self) -> None:
        """Open the camera, find out what it is and how it drives focus."""
        self.camera.init()
        self.camera_model = self._text("cameramodel") or self._summary_model()
        self.lens_name = self._text("lensname") or "unknown lens"
        manufacturer = self._text("manufacturer") or ""
        if CanonDrive.supports(self.camera):
            self.drive = CanonDrive(self.camera)
        else:
            raise LensError(
                f"{manufacturer} {self.camera_model}".strip()
                + " offers no manualfocusdrive this version of rig can use: "
                  "it cannot drive focus over USB")
        self.liveview_on()

    def _text(self, name: str) -> str | None:
        try:
            value = self.camera.get_single_config(name).get_value()
        except gp.GPhoto2Error:
            return None
        return str(value).strip() or None

    def _summary_model(self) -> str:
        try:
            text = str(self.camera.get_summary())
        except gp.GPhoto2Error:
            return "camera"
        for line in text.splitlines():
            if line.strip().startswith("Model:"):
                return line.split(":", 1)[1].strip()
        return "camera"

    def liveview_on(self) -> None:
        """Canon drives the lens only in live view; a first preview starts it."""
        try:
            widget = self.camera.get_single_config("viewfinder")
            widget.set_value(1)
            self.camera.set_single_config("viewfinder", widget)
        except gp.GPhoto2Error:
            pass
        self.frame()

    # -- primitives
    def frame(self) -> bytes:
        if self.cancelled:
            raise Cancelled()
        self.frames += 1
        return bytes(self.camera.capture_preview().get_data_and_size())

    def send(self, size: int, direction: int) -> None:
        """One drive command; updates the tracked position if it is known."""
        assert self.drive is not None, "connect() first"
        if self.cancelled:
            raise Cancelled()
        start = self.clock.now()
        self.drive.send(size, direction)
        end = self.clock.now()
        self.latency.add(end - start)
        self.commands += 1
        if self.model is not None:
            d = self.model.drive(size)
            self._free_at = end + d.period
            if self.position is not None:
                self.position = min(max(self.position + direction * d.steps, 0.0),
                                    float(self.model.steps))

    def wait_free(self) -> None:
        """Sleep until the model says the last command has finished."""
        self.clock.sleep_until(self._free_at)

    @property
    def free_at(self) -> float:
        """When the model says the last command's motion is over (clock time)."""
        return self._free_at

    @property
    def lead(self) -> float:
        """How early to send a command so it takes effect at its deadline."""
        return self.latency.mean if self.latency.n else (self.model.latency if self.model else 0.0)

    # -- motion
    def home(self) -> None:
        """Drive to the near stop by more than the whole range; position 0 after."""
        model = self._need_model()
        big = max(model.drives, key=lambda d: d.steps)
        count = math.ceil(model.steps * 1.1 / big.steps) + 2
        self.position = None
        for _ in range(count):
            self.wait_free()
            self.send(big.size, NEAR)
        self.wait_free()
        self.position = 0.0

    def execute(self, plan: Plan, t0: float,
                stop: Callable[[], bool] | None = None) -> Execution:
        """Send the plan's commands at their absolute deadlines ``t0 + t``."""
        lead = self.lead
        # Never squeeze a late start: shift the whole plan instead, so the
        # spacing the lens needs between commands is kept.
        first = t0 + (plan.commands[0].t if plan.commands else 0.0) - lead
        late_start = max(0.0, max(self.clock.now(), self._free_at - lead) - first)
        if late_start > self.LATE_S:
            log.warning("transition starts %.1f ms late", 1000 * late_start)
            t0 += late_start
        run = Execution(t0=t0, planned_s=plan.duration_s)
        model = self._need_model()
        # The plan spaces its deadlines by whole periods, which hold the guard
        # for latency jitter.  Two more floors for each send:
        # * a period after the previous send, so a late send does not eat
        #   into the next gap;
        # * the previous command took effect no later than its call returned,
        #   so once that return is measured, only the next call's latency is
        #   unknown: wait until return + motion - mean latency + 4 sigma
        #   (CLOSED_LOOP_GUARD).
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
            earliest = max(sent + drive.period, returned + drive.motion - lead + guard)
            run.commands += 1
            run.arrival = returned + drive.motion
        if not run.stopped:
            self.clock.sleep_until(t0 + plan.duration_s)
        run.ended = self.clock.now()
        return run

    def move_to(self, target: int, duration: float = 0.0) -> Execution:
        """Plan and run a move now (used by homing, jogs and autofocus)."""
        model = self._need_model()
        if self.position is None:
            raise LensError("position unknown: home first")
        target = int(min(max(target, 0), model.steps))
        plan = plan_move(round(self.position), target, duration, model)
        self.wait_free()
        run = self.execute(plan, self.clock.now() + self.lead)
        self.position = float(target) if plan.commands else self.position
        return run

    def _need_model(self) -> LensModel:
        if self.model is None:
            raise LensError("this lens is not calibrated yet")
        return self.model


# ------------------------------------------------------------ calibration


@dataclass(frozen=True)
class CalibrationSettings:
    settle_small_s: float = 0.10   # wait after a size-1 step before a frame
    settle_large_s: float = 1.0    # wait after a larger step while its speed is unknown
    max_steps: int = 3000          # give up looking for a stop after this many steps
    stall_window: int = 40         # size-1 steps with no change that mean "at the stop"
    bisect_rounds: int = 9
    snap: float = 0.15             # effective steps this close to a whole number are whole
    margin: float = 0.015          # spacing = motion time * (1 + margin) + jitter guard


class CalibrationError(LensError):
    pass


Progress = Callable[[str, float], None]

LAG_STEPS = 0.75  # the early frame of a train this far behind the final one: it lagged

# Latency jitter (sigma, measured on every call) in the spacing of commands.
# The executor never sends a command sooner than CLOSED_LOOP_GUARD sigma
# after the previous call's measured return plus its motion, less the mean
# latency: only the next call's own latency is unknown then, and 4 sigma makes
# a command that arrives while the lens still moves a 1-in-30,000 event.
# Plans space commands by 1.5 sigma more, so that floor seldom holds a
# command back (when it does, the delay carries on to the next commands).
CLOSED_LOOP_GUARD = 4.0
SPACING_GUARD = CLOSED_LOOP_GUARD + 1.5


@dataclass(frozen=True)
class _Train:
    ok: bool
    failure: str      # "", "refused", "short" (commands lost) or "lag" (queued)
    min_gap: float
    mean_gap: float


class _Calibrator:
    def __init__(self, lens: Lens, settings: CalibrationSettings, progress: Progress) -> None:
        self.lens = lens
        self.clock = lens.clock
        self.s = settings
        self.progress = progress
        self.noise = 1.0
        self.encoder: Encoder | None = None
        self.subject = 0
        self.range = 0

    # -- helpers
    def shot(self) -> bytes:
        return self.lens.frame()

    def fp(self) -> np.ndarray:
        return fingerprint(self.shot())

    def step(self, size: int, direction: int, settle: float) -> None:
        self.lens.send(size, direction)
        self.clock.sleep(settle)

    def still(self, a: np.ndarray, b: np.ndarray) -> bool:
        return distance(a, b) < 1.35 * self.noise

    def locate(self, lo: float, hi: float) -> float:
        assert self.encoder is not None
        return self.encoder.locate(self.fp(), lo, hi).position

    # -- phases
    def measure_noise(self) -> None:
        shots = [self.fp() for _ in range(3)]
        self.noise = max(statistics.median(
            [distance(shots[0], shots[1]), distance(shots[1], shots[2]),
             distance(shots[0], shots[2])]), 1e-3)

    def find_near_stop(self) -> None:
        self.progress("near stop", 0.0)
        shots = [self.fp()]
        limit = self.s.max_steps // 4
        for _ in range(limit):
            self.step(3, NEAR, self.s.settle_large_s)
            shots.append(self.fp())
            # Still against each of the last four: one pair alone can match by
            # symmetry (two positions equally far either side of the sharp point).
            if len(shots) >= 5 and all(self.still(shots[-1], shots[-k]) for k in range(2, 6)):
                break
        else:
            raise CalibrationError(
                "could not find the near stop: the picture kept changing. "
                "Keep the camera and the scene still while calibrating")
        for _ in range(2):
            self.step(3, NEAR, self.s.settle_large_s)

    def sweep(self) -> tuple[list[np.ndarray], list[float], int]:
        """Size-1 steps to the far stop; returns fingerprints, sharpness, first still index."""
        table = [self.fp()]
        sharp = [focus_measure(grey(self.shot(), 160))]
        window = self.s.stall_window
        first_still = None
        c = 0
        while True:
            c += 1
            if c > self.s.max_steps:
                raise CalibrationError(
                    f"no far stop within {self.s.max_steps} steps: is the scene still?")
            self.step(1, FAR, self.s.settle_small_s)
            jpeg = self.shot()
            table.append(fingerprint(jpeg))
            sharp.append(focus_measure(grey(jpeg, 160)))
            self.progress("sweep", min(0.99, c / 1000))
            if c >= window and all(self.still(table[c], table[c - k])
                                   for k in (window // 4, window // 2, 3 * window // 4, window)):
                first_still = c if first_still is None else first_still
                if c - first_still >= 3:
                    break
            else:
                first_still = None
        for _ in range(2):
            self.step(3, FAR, self.s.settle_large_s)
        return table, sharp, first_still

    def choose_side(self, sharp: list[float], first_still: int) -> None:
        """Pick the side of the sharpest point with more room to work on.

        Defocus looks alike either side of the sharpest point, so a frame is
        only placed without ambiguity when the search stays on one side.
        """
        estimate = max(10, first_still - self.s.stall_window)
        focus = np.convolve(sharp[: estimate + 1], np.ones(5) / 5, mode="same")
        self.subject = int(np.argmax(focus))
        contrast = float(focus.max() / max(float(np.median(focus)), 1e-6))
        if contrast < 1.5:
            raise CalibrationError(
                "the live view shows too little detail to calibrate: point the camera "
                "at a still, detailed scene with something in focus range")
        self.far_side = (estimate - self.subject) >= self.subject
        self.range_estimate = estimate

    def find_far_stop(self, table: list[np.ndarray], first_still: int) -> int:
        """Step back K size-1 steps and align them with the table: gives R exactly.

        The record and the table are compared as whole sequences, so the fit
        draws on every frame of the way back, mostly on the sharp region where
        frames differ most from step to step.
        """
        self.progress("far stop", 0.0)
        end = len(table) - 1
        window = self.s.stall_window
        if self.far_side:  # end the way back on the far side of the sharp point
            back = self.range_estimate - (self.subject + 15)
        else:              # cross the sharp point and end well on the near side
            back = self.range_estimate - (self.subject - 15) + window
        # Long enough to vote, never into the near stop.
        back = int(min(max(back, min(60, self.range_estimate // 2)),
                       self.range_estimate - 5, end - 5))
        record = []
        for j in range(1, back + 1):
            self.step(1, NEAR, self.s.settle_small_s)
            record.append(self.fp())
            self.progress("far stop", j / back)
        rec = np.stack(record)
        tab = np.stack(table)
        best, best_cost = None, math.inf
        for r in range(max(back + 1, first_still - 2 * window), end + 1):
            rows = tab[r - back: r][::-1]  # positions r-1 ... r-back
            cost = float(np.mean((rows - rec) ** 2))
            if cost < best_cost:
                best, best_cost = r, cost
        if best is None:
            raise CalibrationError("could not place the far stop")
        self.range = best
        self.here = float(best - back)
        return best

    def build_encoder(self, table: list[np.ndarray]) -> None:
        clean, self.rank = low_rank(np.stack(table[: self.range + 1]), self.noise)
        self.encoder = Encoder(clean)
        if self.far_side:
            self.side_lo, self.side_hi = self.subject + 6, self.range
        else:
            self.side_lo, self.side_hi = 0, self.subject - 6

    def into_stop(self, direction: int) -> None:
        """Drive size 3 until the picture stops changing, and two more: clamped.

        "Still" is judged against each of the two frames before, so two
        positions mirrored about the sharp point cannot pass for a stop.
        """
        shots = [self.fp()]
        for _ in range(self.s.max_steps // 4):
            self.step(3, direction, self.s.settle_large_s)
            shots.append(self.fp())
            if len(shots) >= 4 and all(self.still(shots[-1], shots[-k]) for k in (2, 3, 4)):
                break
        else:
            raise CalibrationError("the picture kept changing: keep the camera and the "
                                   "scene still while calibrating")
        self.step(3, direction, self.s.settle_large_s)
        self.here = float(self.range if direction == FAR else 0)

    def effective(self, size: int) -> float:
        """Effective steps of ``size``: a run from one stop into the other, fitted whole.

        One frame after each command.  For a candidate step ``e`` the lens
        would be at ``clip(start + i * e)`` after command i; the ``e`` whose
        table entries best match all the frames wins.  Fitting the whole
        sequence at once lets every frame count (most where frames change
        fastest), settles the look-alike positions either side of the sharp
        point, and models the clamp at the far end.
        """
        assert self.encoder is not None
        self.progress(f"size {size} steps", 0.0)
        start = self.here
        direction = FAR if start <= self.range / 2 else NEAR
        frames = []
        for i in range(40):
            self.step(size, direction, self.s.settle_large_s)
            frames.append(self.fp())
            self.progress(f"size {size} steps", (i + 1) / 40)
            if len(frames) >= 4 and all(self.still(frames[-1], frames[-k]) for k in (2, 3, 4)):
                break
        table = self.encoder.table
        rec = np.stack(frames)
        # Distances of every frame to every table entry, then the best step on
        # a coarse grid (distances interpolated between entries) ...
        dist = np.stack([self.encoder.distances(f) for f in rec])        # frames x positions
        counts = np.arange(1, len(frames) + 1)
        grid = np.arange(0.5, max(1.0, self.range / 2), 0.05)
        xs = np.clip(start + direction * np.outer(grid, counts), 0, self.range)
        lo = np.floor(xs).astype(int)
        hi = np.minimum(lo + 1, self.range)
        frac = xs - lo
        rows = np.arange(len(frames))
        coarse = ((1 - frac) * dist[rows, lo] + frac * dist[rows, hi]).mean(axis=1)
        best = float(grid[int(np.argmin(coarse))])

        # ... then refined against interpolated table rows.
        def cost(e: float) -> float:
            x = np.clip(start + direction * e * counts, 0, self.range)
            i0 = np.floor(x).astype(int)
            i1 = np.minimum(i0 + 1, self.range)
            f = (x - i0)[:, None]
            pred = (1 - f) * table[i0] + f * table[i1]
            return float(np.mean((pred - rec) ** 2))

        fine = np.arange(best - 0.1, best + 0.1, 0.002)
        value = float(fine[int(np.argmin([cost(e) for e in fine]))])
        self.here = float(np.clip(start + direction * value * len(frames), 0, self.range))
        if value * len(frames) < 3:
            raise CalibrationError(f"size {size} commands barely move the lens: set the lens "
                                   "switch to AF and keep live view on")
        whole = round(value)
        return float(whole) if whole >= 1 and abs(value - whole) <= self.s.snap else value

    def zone(self, span: float) -> tuple[float, float]:
        """The stretch of ``span`` steps next to the sharp point, on the working side.

        Frames change most from step to step there, so placing them on the
        table is most precise (a few tenths of a step).
        """
        if self.far_side:
            lo = self.subject + 8
            return lo, min(float(self.range) - 2, lo + span)
        hi = self.subject - 8
        return max(2.0, hi - span), hi

    def goto(self, target: float, steps: dict[int, float]) -> None:
        """Move near ``target`` with settled commands, then place the frame on the table."""
        left = target - self.here
        direction = FAR if left > 0 else NEAR
        left = abs(left)
        for size in (3, 2, 1):
            if size not in steps:
                continue
            n = int(left // steps[size])
            for _ in range(n):
                settle = self.s.settle_small_s if size == 1 else self.s.settle_large_s
                self.step(size, direction, settle)
            left -= n * steps[size]
        window = 6 + 0.1 * abs(target - self.here)
        lo = max(target - window, self.side_lo)
        hi = min(target + window, self.side_hi)
        self.here = self.locate(lo, hi)

    def fix(self, lo: float, hi: float, frames: int = 3) -> float:
        """The lens position placed on the table, averaged over a few frames."""
        return sum(self.locate(lo, hi) for _ in range(frames)) / frames

    def send_train(self, size: int, direction: int, count: int,
                   spacing: float) -> tuple[int, list[float]]:
        """``count`` commands ``spacing`` apart; returns (refused, return times)."""
        refused = 0
        t = self.clock.now() + 0.01
        returns = []
        for i in range(count):
            self.clock.sleep_until(t + i * spacing)
            try:
                self.lens.send(size, direction)
            except gp.GPhoto2Error as exc:
                if exc.code != gp.GP_ERROR_CAMERA_BUSY:
                    raise
                refused += 1
            returns.append(self.clock.now())
        return refused, returns

    def period(self, size: int, steps: dict[int, float],
               jitter: float) -> tuple[float, float]:
        """How long one ``size`` command moves, and the shortest reliable spacing.

        Trains of commands shuttle between two anchors, A and B, ``count``
        commands apart, next to the sharp point.  Placement on the table is
        biased by up to half a step at some positions, but by the same amount
        each time at the same position, so each anchor's *apparent* position
        is measured once (after a train at a safe spacing) and a train passes
        when it ends where its anchor appears.  A failed train is followed by
        size-1 steps back onto the anchor.

        Bisection on the spacing finds where every command just executes.
        When the camera drops or refuses commands sent too soon, a passing
        train proves the motion is no longer than the smallest gap observed
        between calls returning; when it queues them, only the mean gap is
        bounded.  The motion time is the least such bound over passing
        trains.  Plans then space commands by that, plus a margin for what
        placement cannot see (1.5 %, or for a queueing camera the lag a
        passing train may hide), plus a guard of SPACING_GUARD * sigma for
        the latency jitter (see :meth:`Lens.execute`).
        """
        e = steps[size]
        count = {1: 32, 2: 16}.get(size, 4)
        room = (self.side_hi - self.side_lo) - 2 * e - 12
        count = max(2, min(count, int(room // e)))
        span = count * e
        lo_zone, hi_zone = self.zone(span + e + 4)
        window = (max(lo_zone - e - 4, self.side_lo), min(hi_zone + e + 4, self.side_hi))
        self.goto(lo_zone if abs(self.here - lo_zone) < abs(self.here - hi_zone) else hi_zone,
                  steps)
        toward_b = FAR if self.here < (lo_zone + hi_zone) / 2 else NEAR
        safe = max(self.s.settle_large_s, 4 * self.s.settle_small_s)
        apparent = {"A": self.fix(*window)}
        self.send_train(size, toward_b, count, safe)
        self.clock.sleep(safe)
        apparent["B"] = self.fix(*window)
        if abs(abs(apparent["B"] - apparent["A"]) - span) > max(1.5, 0.3 * e):
            raise CalibrationError(
                f"size {size} commands do not add up even when sent slowly: "
                "keep the scene and the camera still while calibrating")
        at = ["B"]
        trains: list[_Train] = []

        def recover(anchor: str) -> None:
            """Size-1 steps at a safe pace until the lens is on ``anchor``."""
            for _ in range(12):
                here = self.fix(*window)
                off = apparent[anchor] - here
                if abs(off) <= 0.3:
                    return
                steps_off = round(off) or (1 if off > 0 else -1)
                for _ in range(abs(steps_off)):
                    self.step(1, FAR if steps_off > 0 else NEAR, self.s.settle_small_s)
            raise CalibrationError("lost the lens during the speed measurement: "
                                   "keep the scene and the camera still")

        def ok(spacing: float) -> bool:
            target = "A" if at[0] == "B" else "B"
            direction = toward_b if target == "B" else -toward_b
            refused, returns = self.send_train(size, direction, count, spacing)
            self.clock.sleep_until(returns[-1] + spacing)
            early = self.locate(*window)
            self.clock.sleep(max(0.5, count * spacing))
            final = self.fix(*window, frames=2)
            gaps = [b - a for a, b in zip(returns, returns[1:])] or [spacing]
            # The same position places the same way: these checks are tight.
            short = abs(final - apparent[target]) > max(0.6, 0.3 * e)
            lag = (final - early) * direction > LAG_STEPS  # early frame still behind
            failure = "refused" if refused else "short" if short else "lag" if lag else ""
            trains.append(_Train(not failure, failure, min(gaps), sum(gaps) / len(gaps)))
            if failure:
                recover(target)
            at[0] = target
            self.here = apparent[target]
            return not failure

        hi = min(safe, 0.25 if size == 1 else 1.0)
        while not ok(hi):
            hi *= 2
            if hi > 8.0:
                raise CalibrationError(
                    f"size {size} commands never all executed, even 8 s apart")
        lo = 0.0
        for r in range(self.s.bisect_rounds):
            self.progress(f"size {size} speed", r / self.s.bisect_rounds)
            mid = 0.5 * (lo + hi)
            # A failure is believed only when a second train fails too: one
            # odd placement must not stop the bisection above the true value.
            if ok(mid) or ok(mid):
                hi = mid
            else:
                lo = mid
        passed = [t for t in trains if t.ok]
        failures = [t.failure for t in trains]
        if failures.count("lag") > failures.count("short") + failures.count("refused"):
            # The camera queues commands sent too soon (they only lag).  A
            # passing train may hide up to LAG_STEPS of lag: that, spread over
            # the train, is the margin.
            move = min(t.mean_gap for t in passed)
            margin = LAG_STEPS / (e * count)
        else:
            # The camera drops or refuses: a passing train proves every gap
            # was long enough, so its smallest gap bounds the motion time.
            # A lost size-1 step can hide in placement, though; the spacing at
            # which trains pass, less what jitter can take off a gap, is a
            # second bound that cannot be fooled that way.
            move = max(min(t.min_gap for t in passed),
                       hi - 2.0 * math.sqrt(2.0) * jitter)
            margin = self.s.margin
        spacing = move * (1.0 + margin) + SPACING_GUARD * jitter
        # Confirm with two more trains; back off by 10 % until they pass.
        for _ in range(10):
            if ok(spacing) and ok(spacing):
                return move, spacing
            spacing *= 1.1
        raise CalibrationError(f"size {size} commands do not run reliably at any spacing")


def calibrate(lens: Lens, settings: CalibrationSettings | None = None,
              progress: Progress | None = None) -> Calibration:
    """Measure the lens through the live view; leaves it homed at position 0."""
    settings = settings or CalibrationSettings()
    progress = progress or (lambda phase, fraction: None)
    cal = _Calibrator(lens, settings, progress)
    started = lens.clock.now()
    lens.model = None
    lens.position = None
    lens.liveview_on()
    cal.measure_noise()
    cal.find_near_stop()
    table, sharp, first_still = cal.sweep()
    cal.choose_side(sharp, first_still)
    cal.find_far_stop(table, first_still)
    cal.build_encoder(table)
    assert cal.encoder is not None
    curves = {
        "focus_curve": [round(float(v), 3) for v in sharp[: cal.range + 1]],
        "sensitivity": [round(float(v), 4) for v in cal.encoder.sensitivity()],
    }
    steps = {1: 1.0}
    cal.into_stop(NEAR)
    steps[3] = cal.effective(3)
    cal.into_stop(NEAR if cal.here > 0 else FAR)
    steps[2] = cal.effective(2)
    jitter = lens.latency.std
    moves, periods = {}, {}
    for size in (3, 2, 1):
        moves[size], periods[size] = cal.period(size, steps, jitter)
    calibration = Calibration(
        lens=lens.lens_name,
        camera=lens.camera_model,
        steps=cal.range,
        drive=tuple(DriveCal(k, steps[k], steps[k] / periods[k], moves[k]) for k in (1, 2, 3)),
        latency_ms=lens.latency.mean * 1000.0,
        latency_jitter_ms=lens.latency.std * 1000.0,
        extra={"method": "liveview", "subject_step": cal.subject, "encoder_rank": cal.rank,
               "frames": lens.frames, "commands": lens.commands,
               "duration_s": round(lens.clock.now() - started, 1), **curves},
    )
    lens.model = calibration.model()
    progress("homing", 0.0)
    lens.home()
    return calibration
