"""Calibration: what one lens on one camera does, measured once and saved.

Calibration measures the range in size-1 steps, the effective steps of each
drive size, how long one command moves the lens and the shortest reliable
spacing of commands (its sustained speed), and the spread of single
commands.  It adapts to what the camera gives (:class:`rig.drives.Capabilities`):

* the camera reports its position (Fuji): read positions
  (:func:`_calibrate_reading`);
* the camera signals its stops (Nikon): count commands until "at limit"
  (:func:`_calibrate_counting`);
* nothing else (Canon, Olympus, Panasonic, Sony): the live view is the sensor
  (:class:`_LiveView`); Sony's coarse ``focalposition`` (0-100), where the
  body reports it, cross-checks the range and the near stop, or is found
  not to be linear in steps (:func:`_checked_sweep`).  The method is
  described in ``docs/calibration.md``.

Every method leaves the lens homed at position 0.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import statistics
from dataclasses import dataclass
from typing import Callable

import gphoto2 as gp
import numpy as np

from .calestimate import Arrival, arrival_misses, backlash, backlash_error
from .calcheck import Ground, verify
from .calfit import (READING_SLACK, READINGS_OFF, Run, ends_seen, far_stop_fit, fit_run,
                     linear, placement_var, readings_off, run_ends, run_spread,
                     same_readings, sharpest, shifted, snap, step_from_runs, track)
from .calibration import Calibration, DriveCal
from .calspeed import ANCHOR_FRAMES, measure_speeds, paced
from .probeport import distance as signature_distance
from .probeport import signature
from .drives import FujiDrive, NikonDrive, StopReached
from .lens import FAR, NEAR, SPACING_GUARD, Cancelled, Lens, LensError
from .vision import (Encoder, distance, focus_measure, grey, low_rank, shows_detail,
                     steady_fingerprint)

__all__ = ["calibrate", "CalibrationSettings", "CalibrationError", "CAUSES"]

log = logging.getLogger(__name__)


# ------------------------------------------------------- live view method


@dataclass(frozen=True)
class CalibrationSettings:
    settle_small_s: float = 0.10   # wait after a size-1 step before a frame
    settle_large_s: float = 1.0    # wait after a larger step while its speed is unknown
    max_steps: int = 3000          # give up looking for a stop after this many steps
    stall_window: int = 40         # size-1 steps with no change that mean "at the stop"
    bisect_rounds: int = 9
    snap: float = 0.15             # effective steps this close to a whole number are whole
    precision: float = 0.01        # runs until the mean step is known to this share of it ...
    precision_steps: float = 0.1   # ... or to this many steps (one standard error) ...
    max_runs: int = 6              # ... or this many runs from stop to stop were made
    margin: float = 0.015          # spacing = motion time * (1 + margin) + jitter guard
    method: str = "liveview"       # live-view bodies: "liveview" (the sweep) or "stops"
                                   # (counting against the stops, rig.calstopsrun)


# Why a calibration refused: the fixed set of causes (docs/calibration.md).
CAUSES = {
    "mf": "the lens does not move when driven (lens switch on MF, or a mode that "
          "does not let the host drive focus)",
    "detail": "the picture shows too little detail to measure the lens by",
    "scene": "the picture changed while the lens stood still (the scene or the camera moved)",
    "camera": "the camera stopped answering, or failed a call",
    "timing": "drive commands could not be timed: none ran reliably at any spacing",
    "precision": "the measurements were too noisy, or disagreed with each other",
    "check": "the result, checked by driving the lens, disagreed with what it predicts",
    "interrupted": "stopped by the operator (Ctrl-C) or by the rig",
    "internal": "a fault in the calibration itself",
}


class CalibrationError(LensError):
    """Calibration refused: ``cause`` is one of :data:`CAUSES`, the message says what
    was observed.  ``candidate`` is the calibration a failed check refused, if any;
    ``code`` the gphoto2 error behind a ``"camera"`` refusal."""

    def __init__(self, message: str, cause: str, *, code: int | None = None,
                 candidate: Calibration | None = None) -> None:
        if cause not in CAUSES:
            raise ValueError(f"unknown calibration cause {cause!r}")
        super().__init__(message)
        self.cause = cause
        self.code = code
        self.candidate = candidate


Progress = Callable[[str, float], None]

BACKLASH_SPAN = 36.0    # steps next to the sharp point where the play is measured
BACKLASH_LEGS = (10, 13, 11, 14, 12, 9, 12, 15, 10, 11)  # size-1 commands per leg, reversing
BACKLASH_ROUNDS = 3     # rounds of those legs at most, until the play is known to ...
BACKLASH_PRECISION = 1.0  # ... this many steps at BACKLASH_SIGMAS standard errors
BACKLASH_SIGMAS = 3.0
BACKLASH_SNAP = 0.5     # play under this is placement bias (0.32 seen on a lens without
                        # any), and only the play's whole steps are ever taken up
BACKLASH_FRAMES = 6     # frames averaged to place each leg's end
SHARP_WIDTH = 320        # pixels across which the sweep scores sharpness (a wide lens blurs little)
ENDS_PRECISION = 0.05   # a size's steps at each stop known to this share, at 3 sigma
ENDS_MAX_RUNS = 14      # runs a size may take when its ends are not yet known well enough
STALL_BLOCK = 10        # frames averaged on either side of the sweep's stall test
TEST_REACH = 60         # largest commands out, then back, while they leave the picture as it was
MOVED_NOISE = 4.0       # a frame this many noise floors from another: the lens moved
MIN_INCREMENTS = 20     # placed increments a command's spread rests on, at least


class _LiveView:
    def __init__(self, lens: Lens, settings: CalibrationSettings, progress: Progress) -> None:
        self.lens = lens
        self.clock = lens.clock
        self.s = settings
        self.progress = progress
        self.noise = 1.0
        self.encoder: Encoder | None = None
        self.subject = 0
        self.range = 0
        self.sizes = lens.caps.sizes            # finest first
        self.big = max(self.sizes)
        self.jitter: dict[int, float] = {}
        self.jitter_steps: dict[int, float] = {}   # effective steps measured so far
        self.runs: dict[int, int] = {}             # runs made to measure each size
        self.placement_var = 0.1                   # squared steps (build_encoder measures it)
        self.readings: list[tuple[int, float]] = []  # (sweep step, focalposition): Sony
        self.backlash = 0.0     # size-1 steps of play (measure_backlash)
        self.last_dir = 0       # the direction the motor last turned
        self.ends: dict[int, tuple[float, float]] = {}   # a size's steps at the two stops

    # -- helpers
    def shot(self) -> bytes:
        return self.lens.frame()

    def fp(self) -> np.ndarray:
        return steady_fingerprint(self.shot())

    def step(self, size: int, direction: int, settle: float) -> None:
        """One command, then ``settle``.  A size-1 step that reverses the motor is
        preceded by the whole steps of play (once measured), so that it moves the lens."""
        if size == self.sizes[0]:
            self.take_up(direction)
        self.lens.send(size, direction)
        self.last_dir = direction
        self.clock.sleep(settle)

    def take_up(self, direction: int) -> None:
        """On a reversal, the play's whole steps in size-1 commands (the lens stays)."""
        if self.last_dir != direction and self.backlash >= 0.5:
            for _ in range(int(round(self.backlash))):
                self.lens.send(self.sizes[0], direction)
                self.clock.sleep(self.s.settle_small_s)
        self.last_dir = direction

    def still(self, a: np.ndarray, b: np.ndarray) -> bool:
        return distance(a, b) < 1.35 * self.noise

    def locate(self, lo: float, hi: float) -> float:
        assert self.encoder is not None
        return self.encoder.locate(self.fp(), lo, hi).position

    def read(self, c: int) -> None:
        """Keep the camera's own coarse reading at sweep step ``c``, where it gives one."""
        reading = self.lens.raw_reading()
        if reading is not None:
            self.readings.append((c, reading))

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
            self.step(self.big, NEAR, self.s.settle_large_s)
            shots.append(self.fp())
            # Still against each of the last four: one pair alone can match by
            # symmetry (two positions equally far either side of the sharp point).
            if len(shots) >= 5 and all(self.still(shots[-1], shots[-k]) for k in range(2, 6)):
                break
        else:
            raise CalibrationError(
                "could not find the near stop: the picture kept changing. "
                "Keep the camera and the scene still while calibrating", "scene")
        for _ in range(2):
            self.step(self.big, NEAR, self.s.settle_large_s)

    def sweep(self, through_blur: bool = False) -> tuple[list[np.ndarray], list[float], int, bool]:
        """Size-1 steps to the far stop; returns fingerprints, sharpness, first still index
        (the stall's start, as if single frames had shown it) and whether the picture
        changed at all on the way.

        Stalled: the last frame still against frames up to ``stall_window``
        back, and the mean of the last ``STALL_BLOCK`` frames still against
        the mean of as many ``stall_window`` back (a lens whose picture
        changes little per step, a deep-focus wide lens, stays within one
        frame's noise over the window long before its far stop; averaged,
        the move shows).  ``through_blur``: no stall counts before the picture
        has changed (a macro lens's blur at the near stop hides whole
        stretches of single steps).
        """
        table = [self.fp()]
        sharp = [focus_measure(grey(self.shot(), SHARP_WIDTH))]
        window = self.s.stall_window
        block = STALL_BLOCK
        first_still = None
        changed = False
        c = 0
        self.read(c)
        while True:
            c += 1
            if c > self.s.max_steps:
                if not changed:
                    raise CalibrationError(
                        f"{self.s.max_steps} size-1 steps from the near stop did not change the "
                        "picture beyond its noise, though larger commands do: too little "
                        "detail in focus to follow single steps. Point the camera at a detailed "
                        "still object within a couple of metres", "precision")
                raise CalibrationError(
                    f"the picture kept changing over {self.s.max_steps} size-1 steps from the "
                    "near stop, longer than any lens: keep the scene and the camera still",
                    "scene")
            self.step(1, FAR, self.s.settle_small_s)
            self.read(c)
            jpeg = self.shot()
            table.append(steady_fingerprint(jpeg))
            sharp.append(focus_measure(grey(jpeg, SHARP_WIDTH)))
            self.progress("sweep", min(0.99, c / 1000))
            changed = changed or distance(table[c], table[0]) > MOVED_NOISE * self.noise
            if (c >= window + block - 1 and (changed or not through_blur)
                    and all(self.still(table[c], table[c - k])
                            for k in (window // 4, window // 2, 3 * window // 4, window))
                    and distance(np.mean(table[c - block + 1: c + 1], axis=0),
                                 np.mean(table[c - window - block + 1: c - window + 1], axis=0))
                    < 1.35 * self.noise / block):
                first_still = c if first_still is None else first_still
                if c - first_still >= 3:
                    break
            else:
                first_still = None
        for _ in range(2):
            self.step(self.big, FAR, self.s.settle_large_s)
        # The block's stall starts STALL_BLOCK - 1 steps after a single frame's would.
        return table, sharp, first_still - (block - 1), changed

    def range_sweep(self) -> "_Sweep":
        """The near stop, the sweep from it, the side to work on and the far stop."""
        self.readings = []
        self.find_near_stop()
        table, sharp, first_still, changed = self.sweep()
        if not changed and first_still <= self.s.stall_window + 3 and shows_detail(self.fp()):
            # Still from the first size-1 step on, yet the picture has detail: the
            # lens does not move, or a blur (a macro lens far from its subject)
            # hides single steps there.  (A flat picture: choose_side says so.)
            if not self.moves_when_driven():
                raise CalibrationError(
                    f"the lens does not move when driven: {2 * TEST_REACH} size-{self.big} "
                    "commands left the picture as it was: set the lens switch to AF (and the "
                    "camera to a mode that lets the host drive focus)", "mf")
            log.info("the first %d size-1 steps did not change the picture, larger commands "
                     "do: sweeping again, through the blur", first_still)
            self.readings = []
            self.find_near_stop()
            table, sharp, first_still, changed = self.sweep(through_blur=True)
        self.choose_side(sharp, first_still)
        self.find_far_stop(table, first_still)
        return _Sweep(table, sharp, self.range, self.readings)

    def choose_side(self, sharp: list[float], first_still: int) -> None:
        """Pick the side of the sharpest point with more room to work on.

        Defocus looks alike either side of the sharpest point, so a frame is
        only placed without ambiguity when the search stays on one side.
        """
        if first_still <= self.s.stall_window + 3 and shows_detail(self.fp()):
            # Still from the first size-1 step on, yet the picture has detail:
            # the lens does not move, or size-1 steps change this picture too
            # little to see.  Larger commands tell which.
            if self.moves_when_driven():
                raise CalibrationError(
                    f"the first {first_still} size-1 steps from the near stop did not change "
                    f"the picture beyond its noise, though size-{self.big} commands do: too "
                    "little detail in focus there to follow single steps. Point the camera "
                    "at a detailed still object within a couple of metres", "precision")
            raise CalibrationError(
                f"the lens does not move when driven: {2 * TEST_REACH} size-{self.big} "
                "commands left the picture as it was: set the lens switch to AF (and the "
                "camera to a mode that lets the host drive focus)", "mf")
        estimate = max(10, first_still - self.s.stall_window)
        self.subject, contrast = sharpest(sharp, estimate)
        if contrast < 1.5:
            raise CalibrationError(
                f"the live view shows too little detail to calibrate: the sharpest frame of "
                f"the sweep is only {contrast:.2f} times as sharp as the median one. Point the "
                "camera at a still, detailed object within a couple of metres", "detail")
        self.far_side = (estimate - self.subject) >= self.subject
        self.range_estimate = estimate

    def moves_when_driven(self) -> bool:
        """Whether the largest commands change the picture: out (across the range) and
        back, a frame each, until one does.

        Compared by the probe's signature (shapes and the sharpness of each
        tile at 640 pixels, flicker taken out): a wide lens far from focus
        blurs too little for a fingerprint alone to show a move.
        """
        rest = [signature(self.shot()) for _ in range(3)]
        floor = max(statistics.median([signature_distance(rest[0], rest[1]),
                                       signature_distance(rest[1], rest[2]),
                                       signature_distance(rest[0], rest[2])]), 1e-6)
        # Out far enough to cross any lens's whole range (60 of the largest
        # commands, 20 steps or more each): a lens that moves meets its sharp
        # point, or leaves the blur, on the way; 6 were once too few for a
        # 200mm f/1.4 whose near stop is one wide blur.
        # Back as far: a near stop found where a deep-focus picture was merely
        # still (a 20mm f/5.6 stopped 372 steps short of it) leaves the subject's
        # sharp point behind the lens, and only the way back crosses it.
        for direction, commands in ((FAR, TEST_REACH), (NEAR, TEST_REACH)):
            for _ in range(commands):
                self.step(self.big, direction, self.s.settle_large_s)
                if signature_distance(signature(self.shot()), rest[0]) > MOVED_NOISE * floor:
                    return True
        return False

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
            record.append((self.fp() + self.fp()) / 2)   # two looks, as in the runs
            self.progress("far stop", j / back)
        best = far_stop_fit(table, record, first_still, window)
        if best is None:
            raise CalibrationError("could not place the far stop: the way back from it "
                                   "matched no stretch of the sweep", "precision")
        self.range = best
        self.here = float(best - back)
        self.record = (record, [best - j for j in range(1, back + 1)])
        return best

    def build_encoder(self, table: list[np.ndarray]) -> None:
        clean, self.rank = low_rank(np.stack(table[: self.range + 1]), self.noise)
        self.encoder = Encoder(clean)
        if self.far_side:
            self.side_lo, self.side_hi = self.subject + 6, self.range
        else:
            self.side_lo, self.side_hi = 0, self.subject - 6
        self.placement_var = self._placement_var(*self.record)

    def measure_backlash(self) -> float:
        """The play: size-1 legs back and forth next to the sharp point, each placed.

        After a reversal the motor turns the play before the lens follows,
        so each leg of ``n`` commands moves the lens ``n - play``
        (:func:`rig.calestimate.backlash`).  Legs of different lengths end on
        different positions, so the placement's bias (the same at one
        position every time) averages out.
        """
        self.progress("backlash", 0.0)
        lo, hi = self.zone(BACKLASH_SPAN)
        window = (max(lo - 4, self.side_lo), min(hi + 4, self.side_hi))
        start = (lo + 16) if self.far_side else (hi - 16)
        self.goto(start, {self.sizes[0]: 1.0})
        outward = FAR if self.far_side else NEAR    # away from the sharp point
        for _ in range(BACKLASH_LEGS[0]):
            self.step(1, -outward, self.s.settle_small_s)   # the play taken up inward
        placed = [self.fix(*window, frames=BACKLASH_FRAMES)]
        legs: list[tuple[int, float]] = []
        direction = outward
        total = BACKLASH_ROUNDS * len(BACKLASH_LEGS)
        for round_ in range(BACKLASH_ROUNDS):
            # Every other round in reverse order: the rounds' drifts cancel, so
            # the legs stay next to where they started.
            for n in BACKLASH_LEGS[::-1] if round_ % 2 else BACKLASH_LEGS:
                for _ in range(n):
                    self.step(1, direction, self.s.settle_small_s)
                placed.append(self.fix(*window, frames=BACKLASH_FRAMES))
                legs.append((n, placed[-1] - placed[-2]))
                direction = -direction
                self.progress("backlash", len(legs) / total)
            value = backlash(legs, snap=BACKLASH_SNAP)
            error = backlash_error(legs)
            log.info("backlash: %.2f +- %.2f size-1 steps after %d legs (legs lost %s)", value,
                     error, len(legs), ", ".join(f"{n - abs(m):.1f}" for n, m in legs))
            # Known to a step at 3 sigma (a play off by a step or more lands every
            # reversal that far off); legs that scatter more get another round.
            if BACKLASH_SIGMAS * error <= BACKLASH_PRECISION:
                break
        else:
            raise CalibrationError(
                f"the play of the focus gear could not be measured to a step: {len(legs)} "
                f"reversing legs next to the sharp point lost {value:.1f} +- {error:.1f} "
                f"steps on average (the picture places the lens too loosely there)",
                "precision")
        self.here = placed[-1]
        return value

    def shift(self, sweep: "_Sweep", play: float) -> "_Sweep":
        """The sweep in true positions, once the play is known.

        The sweep's first commands after the near stop only took up the
        play, so its entry ``c`` shows position ``c - play``; the way back
        from the far stop lost the play again, so the far stop's alignment
        came out ``2 play`` too far.  The table is resampled at
        ``p + play`` and every position found so far moved with it.
        """
        new_table, new_sharp, span = shifted(sweep.table, sweep.sharp, self.range, play)
        self.subject = int(round(self.subject - play))
        self.range = span
        self.here = self.here - play
        frames, positions = self.record
        self.record = (frames, [p - play for p in positions])
        return _Sweep(new_table, new_sharp, span, sweep.readings)

    def _placement_var(self, frames: list[np.ndarray], positions: list[int]) -> float:
        """How far frames at known positions place from them (squared steps).

        The way back from the far stop was made of size-1 steps, so each of
        its frames was taken at a known position.  Placed as the runs are
        placed (on their side of the sharp point), they show the placement
        error: noise, and the bias of up to half a step that the same
        position shows every time.  (Their median offset is taken out, in
        case the range is off by a step.)
        """
        assert self.encoder is not None
        return placement_var(self.encoder, frames, positions, self.subject, self.range)

    def into_stop(self, direction: int) -> None:
        """Drive size 3 until the picture stops changing, and two more: clamped.

        "Still" is judged against each of the two frames before, so two
        positions mirrored about the sharp point cannot pass for a stop.
        """
        shots = [self.fp()]
        for _ in range(self.s.max_steps // 4):
            self.step(self.big, direction, self.s.settle_large_s)
            shots.append(self.fp())
            if len(shots) >= 4 and all(self.still(shots[-1], shots[-k]) for k in (2, 3, 4)):
                break
        else:
            raise CalibrationError("driving into a stop, the picture kept changing: keep "
                                   "the camera and the scene still while calibrating", "scene")
        self.step(self.big, direction, self.s.settle_large_s)
        self.here = float(self.range if direction == FAR else 0)

    def effective(self, size: int) -> float:
        """Effective steps and spread of ``size``: runs from one stop into the other.

        The first run, one frame after each command, is fitted whole: for a
        candidate step ``e`` the lens would be at ``clip(start + i * e)``
        after command i, and the ``e`` whose table entries best match all the
        frames wins.  That needs no guess, settles the look-alike positions
        either side of the sharp point and models the clamp at the far end.

        Then every frame of every run is placed on the table, following the
        run (each frame searched next to the one before, plus ``e``, on its
        side of the sharp point).  The step is the distance covered from the
        stop, where the position is exact, to the last frame placed before the
        clamp, over the commands sent: the mean of every command of the runs.
        The spread comes from the same placements (:meth:`_spread`).  A
        jittery size gets more runs, back and forth, until the mean is known
        to ``precision`` of a step (standard error sigma / sqrt(n)) or
        ``max_runs`` have been made.

        The size's own steps at both stops (:meth:`_ends`) need runs next
        to both (a run from the far stop when the first ones stayed near the
        near one) and more runs, up to ``ENDS_MAX_RUNS``, until each end is
        known to ``ENDS_PRECISION`` at 3 sigma; a size whose ends stay
        looser is refused (``precision``): a wrong calibration is worse than none.
        """
        assert self.encoder is not None
        self.progress(f"size {size} steps", 0.0)
        runs = [self._run(size, self.known_guess(size))]
        first = self._fit_run(runs[0])
        while True:
            tracks = [self._track(run, first) for run in runs]
            value, commands = step_from_runs(runs, tracks, first, self.backlash)
            sigma, increments = self._spread(runs, tracks, value)
            # Enough when the mean's standard error, with sigma taken at the
            # top of its own one-sigma range, is within the target.
            target = max(self.s.precision_steps, self.s.precision * value)
            upper = sigma * (1.0 + 1.0 / math.sqrt(2.0 * max(increments, 1)))
            enough = (increments >= MIN_INCREMENTS
                      and upper <= target * math.sqrt(max(commands, 1)))
            seen = self._ends_seen(runs, tracks)
            near, far, slope_error = self._ends(runs, tracks, value, sigma)
            # The ends are each about half the slope's error off: known to within
            # ENDS_PRECISION of a step at 3 sigma.
            sure = 1.5 * slope_error <= ENDS_PRECISION * value
            log.info("size %d, %d run(s): steps %.3f, near %.3f, far %.3f (slope +- %.3f)%s",
                     size, len(runs), value, near, far, slope_error,
                     "" if sure else ": not yet sure of the ends")
            most = self.s.max_runs if sure else max(self.s.max_runs, ENDS_MAX_RUNS)
            if (enough and all(seen.values()) and sure) or len(runs) >= most:
                break
            self.progress(f"size {size} steps", len(runs) / self.s.max_runs)
            # Its own steps at both stops: a run from a stop the runs have not
            # come near yet, else from the one the lens is closer to.
            unseen = [end for end, ok in seen.items() if not ok]
            self.into_stop(unseen[0] if unseen else FAR if self.here > self.range / 2 else NEAR)
            runs.append(self._run(size, value))
        last = runs[-1]
        self.here = float(np.clip(last.start + last.direction * value * len(last.frames),
                                  0, self.range))
        self.jitter[size] = round(sigma, 3)
        self.runs[size] = len(runs)
        if value * commands < 3 and first * len(runs[0].frames) < 3:
            raise CalibrationError(f"size {size} commands moved the lens by {value * commands:.1f} "
                                   f"steps in {commands} commands, though size-1 steps move it",
                                   "precision")
        if not sure:
            raise CalibrationError(
                f"size {size}: {len(runs)} runs could not tell its steps at the two stops "
                f"apart well enough (their difference known to +-{slope_error:.2f} of "
                f"{value:.2f} steps)", "precision")
        whole = _snap(value, self.s.snap)
        if whole != value and _snap(near, self.s.snap) == _snap(far, self.s.snap) == whole:
            near = far = whole          # a whole number everywhere: the motor's own steps
        value = whole
        self.ends[size] = (near, far)
        self.jitter_steps[size] = value
        return value

    def _ends_seen(self, runs: list[Run], tracks: list[np.ndarray]) -> dict[int, bool]:
        """Whether the runs measured the size next to each stop: a run started there,
        or placed frames within a quarter of the range of it."""
        return dict(zip((NEAR, FAR), ends_seen(runs, tracks, self.range)))

    def _ends(self, runs: list[Run], tracks: list[np.ndarray],
              mean: float, sigma: float) -> tuple[float, float, float]:
        """The size's own steps at the near and far stop: :func:`rig.calfit.run_ends`
        on this sweep's encoder, noise and placement error."""
        assert self.encoder is not None
        return run_ends(runs, tracks, mean, sigma, encoder=self.encoder, noise=self.noise,
                        placement_var=self.placement_var, range_steps=self.range,
                        play=self.backlash)

    def _run(self, size: int, guess: float) -> Run:
        """Commands of ``size`` from the stop the lens is on toward the other, a frame each.

        Ends when the picture has stopped changing (the lens is clamped on
        the other stop) or after enough commands to cross the range.
        """
        start = self.here
        direction = FAR if start <= self.range / 2 else NEAR
        room = self.range - start if direction == FAR else start
        # Long enough to cross the sharp region, where placement is precise.
        limit = int(min(100, max(40, 0.8 * self.range / guess)))
        frames = []
        for i in range(limit):
            self.step(size, direction, self.s.settle_large_s)
            frames.append((self.fp() + self.fp()) / 2)   # two looks: less noise
            self.progress(f"size {size} steps", (i + 1) / limit)
            # Clamped on the other stop?  Only worth asking once the run could
            # be there: far from the sharp point a few small steps hardly
            # change a blurred picture.
            if ((i + 1) * guess >= 0.6 * room and len(frames) >= 7
                    and all(self.still(frames[-1], frames[-k]) for k in range(2, 8))):
                break
        return Run(start, direction, room, frames)

    def _fit_run(self, run: Run) -> float:
        """The step that makes the whole run match the table best (no guess needed)."""
        assert self.encoder is not None
        return fit_run(run, self.encoder, self.range, self.backlash)

    def _track(self, run: Run, step: float) -> np.ndarray:
        """Each frame of a run placed on the table (NaN where it cannot be trusted).

        Each frame is searched next to where the one before was placed, plus
        ``step``, and only on that side of the sharp point: defocus looks
        alike either side of it.  Frames close to the sharp point or to a
        stop (where the lens may be clamped already) are left out.
        """
        assert self.encoder is not None
        return track(run, step, self.encoder, self.subject, self.range, self.backlash)

    def _spread(self, runs: list[Run], tracks: list[np.ndarray],
                step: float) -> tuple[float, int]:
        """Spread of single commands (one sigma, steps) from the placed runs, and the
        number of increments it rests on.

        Placed after command i, the lens is at x_i = x_(i-1) + step + s_i +
        p_i - p_(i-1): s_i the command's own spread (sigma), p_i the error of
        placing that frame, tau, measured at known positions when the far
        stop was found (:meth:`build_encoder`).  The increments of a run are
        then a moving average of order 1 (variance sigma^2 + 2 tau^2,
        neighbours correlated by -tau^2): sigma is the value that makes the
        increments most likely, tau given.  Knowing tau keeps the placement
        error (up to half a step at some positions) out of sigma.
        """
        assert self.encoder is not None
        return run_spread(runs, tracks, step, encoder=self.encoder, noise=self.noise,
                          placement_var=self.placement_var)

    def known_guess(self, size: int) -> float:
        """A first guess of a size's steps, before it is measured (larger sizes first)."""
        done = {k: v for k, v in self.jitter_steps.items()}
        bigger = [v for k, v in done.items() if k > size]
        return min(bigger) / 4.0 if bigger else 20.0

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
        for size in sorted(steps, reverse=True):
            if size not in steps:
                continue
            n = int(left // steps[size])
            for _ in range(n):
                settle = self.s.settle_small_s if size == self.sizes[0] else self.s.settle_large_s
                self.step(size, direction, settle)
            left -= n * steps[size]
        window = 6 + 0.1 * abs(target - self.here)
        lo = max(target - window, self.side_lo)
        hi = min(target + window, self.side_hi)
        self.here = self.locate(lo, hi)

    def fix(self, lo: float, hi: float, frames: int = 3) -> float:
        """The lens position placed on the table, averaged over a few frames."""
        return sum(self.locate(lo, hi) for _ in range(frames)) / frames

    def bound(self, size: int) -> float:
        """The longest one command of ``size`` may move: what the settled steps wait."""
        return self.s.settle_small_s if size == self.sizes[0] else self.s.settle_large_s



@dataclass(frozen=True)
class _Sweep:
    """One reference sweep (steps 2-4 of the live view method) and what it found."""

    table: list[np.ndarray]               # fingerprints, one per size-1 step
    sharp: list[float]                    # sharpness, one per size-1 step
    range: int                            # the far stop, in size-1 steps from the near one
    readings: list[tuple[int, float]]     # (sweep step, focalposition): Sony


def _checked_sweep(cal: _LiveView, first: _Sweep) -> tuple[_Sweep, dict[str, object]]:
    """Cross-check a sweep with Sony's ``focalposition``; sweep again if they disagree.

    More than ``READINGS_OFF`` of the readings off the straight line
    ``100 c / R`` means one of two things, and one sweep cannot tell which:
    commands were lost in the sweep (or the picture misled the far-stop
    search), or this body's reading is not linear in steps (Sony's drive
    is not linear in its sizes; nothing says its reading is linear in
    size-1 steps).  So the lens sweeps once more, from the near stop:

    * the second sweep agrees with the straight line: the first one lost
      commands; the second is used;
    * it disagrees again, but reads what the first read, step for step
      (within a unit), and finds the same range (within a unit): the
      reading is not linear.  The live view's calibration stands, and the
      calibration says ``focalposition_linear: false``, so the reading is
      given no scale in steps (:func:`rig.worker.use_calibration`) and
      positions are checked in the live view only;
    * the sweeps disagree with each other: commands are being lost (or the
      picture changes).  Calibration fails.

    Returns the sweep to use and what goes into the calibration.
    """
    share, most = readings_off(first.readings, first.range)
    if share <= READINGS_OFF:
        return first, linear(first.readings, first.range, 1)
    log.info("the camera's focus position (0-100) disagrees with the live view on %.0f%% of "
             "the sweep (by up to %.0f units): sweeping again", 100 * share, most)
    second = cal.range_sweep()
    share2, most2 = readings_off(second.readings, second.range)
    if share2 <= READINGS_OFF:
        log.warning("commands were lost in the first calibration sweep (the camera's focus "
                    "position disagreed with it); a second sweep agrees and is used")
        return second, linear(second.readings, second.range, 2)
    unit = max(first.range, second.range) / 100.0
    same = same_readings(first.readings, second.readings, max(first.range, second.range))
    if same and abs(first.range - second.range) <= READING_SLACK * unit:
        log.warning("this camera's focus position (0-100) is not proportional to the lens "
                    "position: two sweeps read the same values, both off a straight line by "
                    "up to %.0f units. The calibration uses the live view alone, and so do "
                    "the position checks: the camera's reading is not used", max(most, most2))
        return second, {"focalposition_linear": False, "sweeps": 2}
    why = ("the camera read the same in both, so the picture changed" if same else
           "differently each time: commands were lost or the picture changed")
    raise CalibrationError(
        f"the live view puts the far stop {first.range}, then {second.range} steps from the "
        f"near stop, but the camera's focus position (0-100) disagrees on {share:.0%}, then "
        f"{share2:.0%} of the way (by up to {max(most, most2):.0f} units), {why}. Keep the "
        "camera and the scene still and calibrate again", "precision")


def _finish(lens: Lens, method: str, steps: dict[int, float], moves: dict[int, float],
            periods: dict[int, float], jitter: dict[int, float], range_steps: int,
            started: float, progress: Progress,
            verify: Callable[[Calibration], list[Arrival]] | None = None,
            ends: dict[int, tuple[float, float]] | None = None,
            backlash_steps: float | None = None,
            pace: Callable[[Calibration], Calibration] | None = None,
            **extra: object) -> Calibration:
    ends = ends or {}
    sizes = lens.caps.sizes
    calibration = Calibration(
        lens=lens.lens_name,
        camera=lens.camera_model,
        steps=range_steps,
        drive=tuple(DriveCal(k, steps[k], steps[k] / periods[k], moves[k], jitter.get(k, 0.0),
                             *(ends[k] if k in ends else (None, None)))
                    for k in sizes),
        backlash=backlash_steps,
        latency_ms=lens.latency.mean * 1000.0,
        latency_jitter_ms=lens.latency.std * 1000.0,
        extra={"method": method, "family": lens.caps.family, "frames": lens.frames,
               "commands": lens.commands,
               "duration_s": round(lens.clock.now() - started, 1), **extra},
    )
    # On a camera that queues, a spacing too short would fill its queue: calibration's
    # own moves keep to the settled pace (``pace``); the saved calibration is as measured.
    paced = pace(calibration) if pace is not None else calibration
    lens.model = paced.model()
    lens.jitter = {d.size: d.jitter or 0.0 for d in calibration.drive}
    progress("homing", 0.0)
    lens.home()
    if verify is None:
        lens.model = calibration.model()
        return calibration
    arrivals = verify(calibration)
    misses = arrival_misses(arrivals)
    if misses:
        lens.model = None
        lens.position = None
        raise CalibrationError(
            "check: driven with what it measured, the lens did not arrive where the "
            "calibration predicts: " + "; ".join(a.describe() for a in misses)
            + ". Nothing was saved", "check", candidate=calibration)
    progress("homing", 0.0)
    lens.home()
    lens.model = calibration.model()
    checked = [{"from": a.origin, "sent": a.commands, "target": a.target, "off": round(a.off, 2),
                "allowed": round(a.tolerance, 2)} for a in arrivals]
    return dataclasses.replace(calibration, extra={**calibration.extra, "check": checked,
                                                    "duration_s": round(lens.clock.now()
                                                                        - started, 1)})


def _calibrate_liveview(lens: Lens, settings: CalibrationSettings,
                        progress: Progress) -> Calibration:
    """Canon, Olympus, Panasonic, Sony: the live view is the position sensor."""
    started = lens.clock.now()
    cal = _LiveView(lens, settings, progress)
    lens.liveview_on()
    cal.measure_noise()
    sweep = cal.range_sweep()
    checked: dict[str, object] = {}
    if sweep.readings:
        sweep, checked = _checked_sweep(cal, sweep)
    cal.build_encoder(sweep.table)
    cal.backlash = cal.measure_backlash()
    if cal.backlash > 0:
        sweep = cal.shift(sweep, cal.backlash)
        cal.build_encoder(sweep.table)
    assert cal.encoder is not None
    curves = {
        "focus_curve": [round(float(v), 3) for v in sweep.sharp[: cal.range + 1]],
        "sensitivity": [round(float(v), 4) for v in cal.encoder.sensitivity()],
    }
    steps = {cal.sizes[0]: 1.0}
    for i, size in enumerate(sorted(cal.sizes[1:], reverse=True)):
        cal.into_stop(NEAR if i == 0 or cal.here > 0 else FAR)
        steps[size] = cal.effective(size)
    speeds = measure_speeds(cal, steps)
    ground = Ground(cal.zone(40.0), (cal.side_lo, cal.side_hi), cal.far_side, cal.range,
                    cal.jitter, cal.placement_var, settings.settle_large_s,
                    lambda lo, hi: cal.fix(lo, hi, frames=ANCHOR_FRAMES),
                    tuple(float(v) for v in cal.encoder.sensitivity()))
    return _finish(lens, "liveview", steps, speeds.moves, speeds.periods, cal.jitter, cal.range,
                   started,
                   progress, verify=lambda found: verify(lens, ground, found, progress),
                   ends=cal.ends, backlash_steps=cal.backlash,
                   pace=lambda found: paced(found, speeds.busy, cal.bound), busy=speeds.busy,
                   subject_step=cal.subject,
                   **({"bounded_speeds": {str(k): v for k, v in sorted(speeds.bounded.items())}}
                      if speeds.bounded else {}), encoder_rank=cal.rank,
                   runs={str(k): v for k, v in sorted(cal.runs.items())}, **checked,
                   **curves)


def _calibrate_counting(lens: Lens, settings: CalibrationSettings,
                        progress: Progress) -> Calibration:
    """Nikon: the camera says "at limit", so the range is counted in size-1 commands.

    1. The finest move the motor takes: 1 unit, doubled while the camera
       answers "stepping too small".
    2. Near stop: the largest size toward near until "at limit".
    3. Range: size-1 commands toward far, counted until "at limit".
    4. Each larger size: a run toward the other stop, then size-1 commands
       counted into it: what the run left, subtracted from the range.
    5. Timing: the call waits for the motor, so a call's duration is its
       round trip plus the motion: a straight line through the sizes' median
       durations against their steps gives both.
    """
    started = lens.clock.now()
    drive = lens.drive
    assert isinstance(drive, NikonDrive)
    sizes = lens.caps.sizes
    unit = 1
    progress("finest step", 0.0)
    while True:
        try:
            drive.send_units(-unit)
            break
        except StopReached:
            break
        except ValueError:
            unit *= 2
            if unit > 4096:
                raise CalibrationError("the lens refuses every step size: is it a "
                                       "focus-by-wire lens on AF?", "mf") from None
    drive.unit = unit
    durations: dict[int, list[float]] = {k: [] for k in sizes}
    limit = settings.max_steps + 10

    def run(size: int, direction: int, count: int | None) -> int:
        """Commands until ``count`` or a stop; returns how many moved without stopping."""
        done = 0
        for _ in range(count if count is not None else limit):
            t = lens.clock.now()
            lens.send(size, direction)
            if lens.at_stop == direction:
                return done
            durations[size].append(lens.clock.now() - t)
            done += 1
            if count is None and done >= limit:
                raise CalibrationError(f"no stop within {limit} steps: is the lens on AF?",
                                       "mf")
        return done

    progress("near stop", 0.0)
    run(max(sizes), NEAR, None)
    progress("range", 0.0)
    range_steps = run(sizes[0], FAR, None)
    if range_steps < 10:
        raise CalibrationError("the lens barely moved between its stops: set the lens "
                               "switch to AF", "mf")
    steps = {sizes[0]: 1.0}
    here = FAR
    for size in sorted(sizes[1:], reverse=True):
        progress(f"size {size} steps", 0.0)
        amount = drive.amounts[size]
        n = max(1, int(0.8 * range_steps / amount))
        toward = -here
        run(size, toward, n)
        rest = run(sizes[0], toward, None)
        steps[size] = _snap((range_steps - rest) / n, settings.snap)
        here = toward
    # Timing from the blocking calls: duration = latency + steps / speed.
    xs = np.array([steps[k] for k in sizes if durations[k]])
    ys = np.array([statistics.median(durations[k]) for k in sizes if durations[k]])
    slope, latency = np.polyfit(xs, ys, 1) if len(xs) > 1 else (ys[0] / xs[0], 0.0)
    latency = max(float(latency), 0.0)
    spread = [d - latency - steps[k] * slope for k in sizes for d in durations[k]]
    lens.latency = _stats([latency + e for e in spread])
    moves = {k: max(steps[k] * float(slope), 1e-4) for k in sizes}
    periods = {k: statistics.median(durations[k]) * (1.0 + settings.margin)
               + SPACING_GUARD * lens.latency.std for k in sizes}
    return _finish(lens, "counting", steps, moves, periods, {}, range_steps, started, progress,
                   drive_unit=unit)


def _calibrate_reading(lens: Lens, settings: CalibrationSettings,
                       progress: Progress) -> Calibration:
    """Fuji: the camera reports its position, so calibration reads it.

    The range is the distance between the positions read at both ends; the
    motor's speed is the slope of positions read while it crosses the range;
    each size's effective steps is the movement it makes, read, over a run.
    """
    started = lens.clock.now()
    drive = lens.drive
    assert isinstance(drive, FujiDrive)
    clock = lens.clock

    def read() -> float:
        value = lens.read_position()
        if value is None:
            raise CalibrationError("the camera stopped reporting its focus position",
                                   "camera")
        return value

    def settle(timeout: float = 60.0) -> float:
        last, until = read(), clock.now() + timeout
        while clock.now() < until:
            clock.sleep(0.05)
            now = read()
            if now == last:
                return now
            last = now
        raise CalibrationError("the focus position the camera reports never settled",
                               "camera")

    progress("near end", 0.0)
    drive.go(drive.low)
    low = settle()
    progress("range and speed", 0.0)
    t0 = clock.now()
    drive.go(drive.high)
    samples = [(t0, low)]
    while True:
        clock.sleep(0.05)
        samples.append((clock.now(), read()))
        if len(samples) > 3 and samples[-1][1] == samples[-2][1] == samples[-3][1]:
            break
        if clock.now() - t0 > 120:
            raise CalibrationError("the lens never reached the far end: is the lens on AF?",
                                   "mf")
    high = samples[-1][1]
    range_steps = int(round(high - low))
    if range_steps < 10:
        raise CalibrationError("the lens did not move: set the lens switch to AF", "mf")
    moving = [(t, x) for t, x in samples if low + 2 < x < high - 2]
    if len(moving) >= 2:
        speed = float(np.polyfit([t for t, _ in moving], [x for _, x in moving], 1)[0])
    else:
        speed = range_steps / max(samples[-1][0] - t0, 1e-3)
    steps, jitter = {}, {}
    drive.target = high + drive.low
    direction = NEAR
    for size in sorted(lens.caps.sizes, reverse=True):
        progress(f"size {size} steps", 0.0)
        n = max(1, min(20, int(0.4 * range_steps / drive.amounts[size])))
        increments, before = [], settle()
        for _ in range(n):
            lens.send(size, direction)
            clock.sleep(drive.amounts[size] / speed + 0.05)
            after = settle()
            increments.append(abs(after - before))
            before = after
        steps[size] = _snap(float(np.mean(increments)), settings.snap)
        jitter[size] = round(float(np.std(increments)), 3)
        direction = -direction
    moves = {k: steps[k] / speed for k in steps}
    periods = {k: moves[k] * (1.0 + settings.margin) + SPACING_GUARD * lens.latency.std
               for k in steps}
    return _finish(lens, "reading", steps, moves, periods, jitter, range_steps, started,
                   progress, motor_speed=round(speed, 3))


_snap = snap    # by this name in rig.calstopsrun


def _stats(values: list[float]):
    from .lens import RunningStats
    stats = RunningStats()
    for v in values:
        stats.add(v)
    return stats


def calibrate(lens: Lens, settings: CalibrationSettings | None = None,
              progress: Progress | None = None) -> Calibration:
    """Measure the connected lens by what its camera offers; leaves it homed at 0."""
    settings = settings or CalibrationSettings()
    progress = progress or (lambda phase, fraction: None)
    lens.model = None
    lens.position = None
    try:
        if isinstance(lens.drive, FujiDrive) and lens.caps.feedback == "absolute":
            return _calibrate_reading(lens, settings, progress)
        if lens.caps.stop == "error":
            return _calibrate_counting(lens, settings, progress)
        if settings.method == "stops":
            from .calstopsrun import calibrate_stops
            return calibrate_stops(lens, settings, progress)
        return _calibrate_liveview(lens, settings, progress)
    except (CalibrationError, Cancelled, KeyboardInterrupt):
        lens.model = None          # nothing measured is kept
        lens.position = None
        raise
    except Exception as exc:   # noqa: BLE001 - every failure becomes a refusal with its cause
        lens.model = None
        lens.position = None
        raise _refusal(exc) from exc


def _refusal(exc: Exception) -> CalibrationError:
    """What an exception from the camera or from calibration itself means, as a refusal."""
    if isinstance(exc, gp.GPhoto2Error):
        return CalibrationError(
            f"the camera stopped answering during calibration ({exc.code}: "
            f"{getattr(exc, 'string', '') or 'gphoto2 error'}); nothing was saved. "
            "Check the cable, switch the camera off and on, and calibrate again",
            "camera", code=exc.code)
    if isinstance(exc, LensError):
        return CalibrationError(f"{exc}; nothing was saved", "camera")
    log.error("calibration failed on a fault of its own", exc_info=exc)
    return CalibrationError(
        f"calibration failed on a fault of its own ({type(exc).__name__}: {exc}); nothing "
        "was saved. Please report it with the log", "internal")
