"""The live-view calibration's range phase: the near stop, the reference sweep, the
side of the sharp point to work on, and the far stop.

:func:`measure_range` drives the lens into its near stop, sweeps it in
size-1 steps to the far stop with a fingerprint and a sharpness score of
every step (the table every later placement uses), picks the side of the
sharp point with more room, and finds the far stop exactly by stepping back
and aligning the way back with the sweep.  It returns one frozen
:class:`Sweep`.  :func:`check_readings` cross-checks a sweep with Sony's
coarse ``focalposition`` (sweeping again when they disagree), and
:func:`shift` puts a sweep in true positions once the play is known.  The
fits are in :mod:`rig.calfit`; the method is described in
``docs/calibration.md``.
"""

from __future__ import annotations

import logging
import statistics
from dataclasses import dataclass
from typing import Callable

import numpy as np

from .calerror import CalibrationError
from .calfit import (READING_SLACK, READINGS_OFF, far_stop_back, far_stop_fit, linear,
                     readings_off, same_readings, sharpest, shifted, stalled)
from .calframes import STILL_NOISE, Frames, Motor, until_still
from .lens import FAR, NEAR
from .probeport import distance as signature_distance
from .probeport import signature
from .vision import distance, shows_detail, steady_fingerprint

__all__ = ["Sweep", "measure_range", "check_readings", "shift", "SHARP_WIDTH", "TEST_REACH",
           "STALL_BLOCK", "MOVED_NOISE"]

log = logging.getLogger(__name__)

SHARP_WIDTH = 320       # pixels across which the sweep scores sharpness (a wide lens blurs little)
STALL_BLOCK = 10        # frames averaged on either side of the sweep's stall test
TEST_REACH = 60         # largest commands out, then back, while they leave the picture as it was
MOVED_NOISE = 4.0       # a frame this many noise floors from another: the lens moved

Progress = Callable[[str, float], None]


@dataclass(frozen=True)
class Sweep:
    """One reference sweep (steps 2-4 of the live view method) and what it found."""

    table: list[np.ndarray]               # fingerprints, one per size-1 step
    sharp: list[float]                    # sharpness, one per size-1 step
    range: int                            # the far stop, in size-1 steps from the near one
    readings: list[tuple[int, float]]     # (sweep step, focalposition): Sony
    subject: int                          # the sharp point, in size-1 steps
    far_side: bool                        # the working side is the far side of the sharp point
    record: tuple[list[np.ndarray], list[float]]   # the way back from the far stop:
                                                   # frames, and the positions they were at


def measure_range(frames: Frames, motor: Motor, progress: Progress) -> Sweep:
    """The near stop, the sweep from it, the side to work on and the far stop.

    Leaves the lens on the way back from the far stop (``motor.here``)."""
    return _Ranging(frames, motor, progress).run()


class _Ranging:
    """One range phase: what it drives and looks by; its findings are returned, not kept."""

    def __init__(self, frames: Frames, motor: Motor, progress: Progress) -> None:
        self.frames = frames
        self.motor = motor
        self.s = motor.s
        self.progress = progress

    def run(self) -> Sweep:
        readings: list[tuple[int, float]] = []
        self.find_near_stop()
        table, sharp, first_still, changed = self.sweep(readings)
        if (not changed and first_still <= self.s.stall_window + 3
                and shows_detail(self.frames.fp())):
            # Still from the first size-1 step on, yet the picture has detail: the
            # lens does not move, or a blur (a macro lens far from its subject)
            # hides single steps there.  (A flat picture: choose_side says so.)
            if not self.moves_when_driven():
                raise CalibrationError(
                    f"the lens does not move when driven: {2 * TEST_REACH} size-{self.motor.big} "
                    "commands left the picture as it was: set the lens switch to AF (and the "
                    "camera to a mode that lets the host drive focus)", "mf")
            log.info("the first %d size-1 steps did not change the picture, larger commands "
                     "do: sweeping again, through the blur", first_still)
            readings = []
            self.find_near_stop()
            table, sharp, first_still, changed = self.sweep(readings, through_blur=True)
        subject, far_side, estimate = self.choose_side(sharp, first_still)
        range_steps, record = self.find_far_stop(table, first_still, subject, far_side, estimate)
        return Sweep(table, sharp, range_steps, readings, subject, far_side, record)

    def find_near_stop(self) -> None:
        self.progress("near stop", 0.0)
        big, settle = self.motor.big, self.s.settle_large_s
        if not until_still(self.frames, lambda: self.motor.step(big, NEAR, settle),
                           self.s.max_steps // 4, 4):
            raise CalibrationError(
                "could not find the near stop: the picture kept changing. "
                "Keep the camera and the scene still while calibrating", "scene")
        for _ in range(2):
            self.motor.step(big, NEAR, settle)

    def read(self, readings: list[tuple[int, float]], c: int) -> None:
        """Keep the camera's own coarse reading at sweep step ``c``, where it gives one."""
        reading = self.motor.lens.raw_reading()
        if reading is not None:
            readings.append((c, reading))

    def sweep(self, readings: list[tuple[int, float]],
              through_blur: bool = False) -> tuple[list[np.ndarray], list[float], int, bool]:
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
        frames, noise = self.frames, self.frames.noise
        table = [frames.fp()]
        sharp = [frames.sharpness(SHARP_WIDTH)]
        window = self.s.stall_window
        block = STALL_BLOCK
        first_still = None
        changed = False
        c = 0
        self.read(readings, c)
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
            self.motor.step(1, FAR, self.s.settle_small_s)
            self.read(readings, c)
            jpeg = frames.shot()
            table.append(steady_fingerprint(jpeg))
            sharp.append(frames.sharpness(SHARP_WIDTH, jpeg))
            self.progress("sweep", min(0.99, c / 1000))
            changed = changed or distance(table[c], table[0]) > MOVED_NOISE * noise
            if (changed or not through_blur) and stalled(table, c, window, block, noise,
                                                         STILL_NOISE):
                first_still = c if first_still is None else first_still
                if c - first_still >= 3:
                    break
            else:
                first_still = None
        for _ in range(2):
            self.motor.step(self.motor.big, FAR, self.s.settle_large_s)
        # The block's stall starts STALL_BLOCK - 1 steps after a single frame's would.
        return table, sharp, first_still - (block - 1), changed

    def choose_side(self, sharp: list[float], first_still: int) -> tuple[int, bool, int]:
        """Pick the side of the sharpest point with more room to work on: the sharp
        point, whether the far side is the one, and the range as the sweep's stall
        estimates it.

        Defocus looks alike either side of the sharpest point, so a frame is
        only placed without ambiguity when the search stays on one side.
        """
        if first_still <= self.s.stall_window + 3 and shows_detail(self.frames.fp()):
            # Still from the first size-1 step on, yet the picture has detail:
            # the lens does not move, or size-1 steps change this picture too
            # little to see.  Larger commands tell which.
            if self.moves_when_driven():
                raise CalibrationError(
                    f"the first {first_still} size-1 steps from the near stop did not change "
                    f"the picture beyond its noise, though size-{self.motor.big} commands do: too "
                    "little detail in focus there to follow single steps. Point the camera "
                    "at a detailed still object within a couple of metres", "precision")
            raise CalibrationError(
                f"the lens does not move when driven: {2 * TEST_REACH} size-{self.motor.big} "
                "commands left the picture as it was: set the lens switch to AF (and the "
                "camera to a mode that lets the host drive focus)", "mf")
        estimate = max(10, first_still - self.s.stall_window)
        subject, contrast = sharpest(sharp, estimate)
        if contrast < 1.5:
            raise CalibrationError(
                f"the live view shows too little detail to calibrate: the sharpest frame of "
                f"the sweep is only {contrast:.2f} times as sharp as the median one. Point the "
                "camera at a still, detailed object within a couple of metres", "detail")
        return subject, (estimate - subject) >= subject, estimate

    def moves_when_driven(self) -> bool:
        """Whether the largest commands change the picture: out (across the range) and
        back, a frame each, until one does.

        Compared by the probe's signature (shapes and the sharpness of each
        tile at 640 pixels, flicker taken out): a wide lens far from focus
        blurs too little for a fingerprint alone to show a move.
        """
        rest = [signature(self.frames.shot()) for _ in range(3)]
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
                self.motor.step(self.motor.big, direction, self.s.settle_large_s)
                if (signature_distance(signature(self.frames.shot()), rest[0])
                        > MOVED_NOISE * floor):
                    return True
        return False

    def find_far_stop(self, table: list[np.ndarray], first_still: int, subject: int,
                      far_side: bool, estimate: int) -> tuple[int, tuple[list[np.ndarray],
                                                                          list[float]]]:
        """Step back K size-1 steps and align them with the table: gives R exactly,
        and the way back (its frames and the positions they were taken at).

        The record and the table are compared as whole sequences, so the fit
        draws on every frame of the way back, mostly on the sharp region where
        frames differ most from step to step.
        """
        self.progress("far stop", 0.0)
        back = far_stop_back(estimate, subject, far_side, self.s.stall_window, len(table) - 1)
        record = []
        for j in range(1, back + 1):
            self.motor.step(1, NEAR, self.s.settle_small_s)
            record.append((self.frames.fp() + self.frames.fp()) / 2)   # two looks, as in the runs
            self.progress("far stop", j / back)
        best = far_stop_fit(table, record, first_still, self.s.stall_window)
        if best is None:
            raise CalibrationError("could not place the far stop: the way back from it "
                          "matched no stretch of the sweep", "precision")
        self.motor.here = float(best - back)
        return best, (record, [best - j for j in range(1, back + 1)])


def shift(sweep: Sweep, play: float) -> Sweep:
    """The sweep in true positions, once the play is known.

    The sweep's first commands after the near stop only took up the
    play, so its entry ``c`` shows position ``c - play``; the way back
    from the far stop lost the play again, so the far stop's alignment
    came out ``2 play`` too far.  The table is resampled at
    ``p + play`` and every position found so far moved with it (the
    lens's own, ``Motor.here``, is the caller's to move).
    """
    new_table, new_sharp, span = shifted(sweep.table, sweep.sharp, sweep.range, play)
    frames, positions = sweep.record
    return Sweep(new_table, new_sharp, span, sweep.readings, int(round(sweep.subject - play)),
                 sweep.far_side, (frames, [p - play for p in positions]))


def check_readings(first: Sweep,
                   again: Callable[[], Sweep]) -> tuple[Sweep, dict[str, object]]:
    """Cross-check a sweep with Sony's ``focalposition``; sweep ``again`` if they disagree.

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
    second = again()
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
