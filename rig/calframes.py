"""The live-view calibration's eyes and hands: what every phase drives and looks by.

:class:`Frames` is the frame access: frames, fingerprints and sharpness
through the camera owner (:class:`rig.lens.Lens`), and whether two
fingerprints are the same picture within the noise floor
(:func:`measure_noise`).  :class:`Motor` sends commands and waits for them
to settle, takes up the play of the focus gear on a reversal once it is
known, and keeps where the lens is believed to be.  :func:`until_still`
drives until the picture stops changing (a stop).

The phases (:mod:`rig.calrange`, :mod:`rig.calbacklash`, :mod:`rig.calsteps`,
:mod:`rig.calspeed`) take these and return what they found as frozen
dataclasses; neither part keeps a phase's results.
"""

from __future__ import annotations

import statistics
from typing import TYPE_CHECKING, Callable

import numpy as np

from .vision import distance, focus_measure, grey, steady_fingerprint

if TYPE_CHECKING:
    from .calibrate import CalibrationSettings
    from .lens import Lens

__all__ = ["Frames", "Motor", "measure_noise", "until_still", "STILL_NOISE"]

STILL_NOISE = 1.35      # fingerprints closer than this many noise floors: the same picture


class Frames:
    """Frames of the live view through the camera owner, and the noise they show."""

    def __init__(self, lens: "Lens", noise: float = 1.0) -> None:
        self.lens = lens
        self.noise = noise          # distance between two frames of a still lens (median)

    def shot(self) -> bytes:
        return self.lens.frame()

    def fp(self) -> np.ndarray:
        """A fresh frame's fingerprint."""
        return steady_fingerprint(self.shot())

    def sharpness(self, width: int, jpeg: bytes | None = None) -> float:
        """How sharp a frame (a fresh one unless given) is, scored ``width`` pixels across."""
        return focus_measure(grey(self.shot() if jpeg is None else jpeg, width))

    def still(self, a: np.ndarray, b: np.ndarray) -> bool:
        """Whether two fingerprints show the same picture, within the noise."""
        return distance(a, b) < STILL_NOISE * self.noise


def measure_noise(lens: "Lens") -> Frames:
    """The frame access, its noise floor measured on three frames of the still lens."""
    frames = Frames(lens)
    shots = [frames.fp() for _ in range(3)]
    frames.noise = max(statistics.median(
        [distance(shots[0], shots[1]), distance(shots[1], shots[2]),
         distance(shots[0], shots[2])]), 1e-3)
    return frames


class Motor:
    """Drive commands, each followed by its settling wait.

    ``play`` is the backlash in size-1 steps once measured (0 until then):
    a size-1 step that reverses the motor is preceded by its whole steps.
    ``here`` is where the lens is believed to be, in size-1 steps from the
    near stop, as the phases last placed or counted it.
    """

    def __init__(self, lens: "Lens", settings: "CalibrationSettings") -> None:
        self.lens = lens
        self.clock = lens.clock
        self.s = settings
        self.sizes = lens.caps.sizes            # finest first
        self.big = max(self.sizes)
        self.play = 0.0         # size-1 steps of play (rig.calbacklash)
        self.last_dir = 0       # the direction the motor last turned
        self.here = 0.0         # where the lens is believed to be

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
        if self.last_dir != direction and self.play >= 0.5:
            for _ in range(int(round(self.play))):
                self.lens.send(self.sizes[0], direction)
                self.clock.sleep(self.s.settle_small_s)
        self.last_dir = direction

    def settle(self, size: int) -> float:
        """The wait after a command of ``size`` while its speed is unknown."""
        return self.s.settle_small_s if size == self.sizes[0] else self.s.settle_large_s

    def bound(self, size: int) -> float:
        """The longest one command of ``size`` may move: what the settled steps wait."""
        return self.settle(size)


def until_still(frames: Frames, move: Callable[[], None], limit: int, back: int) -> bool:
    """``move`` and a frame, up to ``limit`` times, until the last frame is still
    against each of the ``back`` before it; whether it came to rest.

    Against several, not one: two positions mirrored about the sharp point
    can match by symmetry."""
    shots = [frames.fp()]
    for _ in range(limit):
        move()
        shots.append(frames.fp())
        if len(shots) >= back + 1 and all(frames.still(shots[-1], shots[-k])
                                          for k in range(2, back + 2)):
            return True
    return False
