"""Does the lens move when driven?  One short test drive, watched.

A lens whose switch is on MF takes drive commands without a word and does
not move; so does a Canon outside live view.  The only way to tell is to
drive and look: read the position back where the camera reports one,
otherwise compare live-view frames before and after (the noise between
frames at rest sets what counts as a change).  The frames are compared with
their brightness gain taken out (:func:`rig.vision.steady_fingerprint`):
flicker scales a whole frame, and a detailed picture 1 % brighter is further
from the last than two frames' sensor noise, so on a flickering light a lens
on MF passed for one that moved about one test in eight.

The lens worker runs this after homing, before it tells the core the lens
is ready, and again after a refusal is fixed; ``rig doctor`` runs it to give
its "lens switch on AF" verdict.  Both use :func:`drive_test`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .lens import FAR, NEAR, Lens
from .vision import distance, fingerprint, shows_detail, steady_fingerprint

__all__ = ["DriveTest", "drive_test", "MOVED", "STILL", "UNSEEN"]

MOVED, STILL, UNSEEN = "moved", "still", "unseen"

# Without a calibration rig knows neither how far a command goes nor how long
# it moves: a few of the largest commands, each given this long to finish.
UNCALIBRATED_COUNT = 3
UNCALIBRATED_SETTLE_S = 1.0
CHANGE = 1.5   # a picture changed when it is this many times the noise away
REST_FRAMES = 3   # frames at rest: the noise is the larger of their two neighbours' distances


@dataclass(frozen=True)
class DriveTest:
    """What the test drive showed.

    ``result`` is ``MOVED``, ``STILL`` (commands went out, nothing moved: the
    lens switch is on MF) or ``UNSEEN`` (the picture has too little detail
    to tell).  ``how`` says what was watched; ``detail`` gives the numbers.
    """

    result: str
    how: str
    detail: str
    # Calibrated, watched in the live view, and the lens moved: did the
    # picture come back to the one at rest once the lens was driven one
    # command more back than out?  Only a lens that sat on the near stop
    # does (the stop clamps it); one that the homing before never moved (a
    # lens switched from MF to AF meanwhile) ends a command short.  None
    # where it was not looked at (a camera reading is homed again anyway).
    returned: bool | None = None


class _Watch:
    """The camera's reading where it gives one, else the live view."""

    def __init__(self, lens: Lens) -> None:
        self.lens = lens
        self.position = lens.read_position() if lens.caps.feedback == "absolute" else None
        self.reading = self.position is not None
        self.noise = 1.0
        self.frames: list[np.ndarray] = []
        self.detailed = False   # the picture at rest shows detail (judged in grey levels)
        if not self.reading:
            # Also a Sony before its calibration: focalposition (0-100) has
            # no scale in steps until use_calibration sets range_steps (and
            # none at all where calibration found it not linear in steps).
            # One pair's distance is itself a draw of the noise: the larger
            # of two pairs keeps a still picture's ratio well under CHANGE.
            rest = [lens.frame() for _ in range(REST_FRAMES)]
            self.frames = [steady_fingerprint(jpeg) for jpeg in rest]
            self.detailed = shows_detail(fingerprint(rest[-1]))
            self.noise = max(max(distance(a, b) for a, b in zip(self.frames, self.frames[1:])),
                             1e-3)

    @property
    def how(self) -> str:
        return "camera reading" if self.reading else "live view"

    def changed(self) -> tuple[bool, str]:
        """Look again: did anything change since the last look?"""
        if self.reading:
            before, now = self.position, self.lens.read_position()
            self.position = now
            if before is None or now is None:
                return False, "the camera stopped reporting its position"
            return abs(now - before) >= 1, f"position {before:.0f} -> {now:.0f}"
        now = steady_fingerprint(self.lens.frame())
        ratio = distance(now, self.frames[-1]) / self.noise
        self.frames.append(now)
        return ratio > CHANGE, f"picture changed {ratio:.1f}x the noise"

    def back_at_rest(self) -> tuple[bool, str]:
        """Look again: is the picture the one at rest before the drive?"""
        now = steady_fingerprint(self.lens.frame())
        ratio = distance(now, self.frames[REST_FRAMES - 1]) / self.noise
        self.frames.append(now)
        return ratio <= CHANGE, f"back {ratio:.1f}x the noise from the picture at rest"

    def blind(self) -> bool:
        """True if the picture at rest is too plain for a move to show in it."""
        return not self.reading and not self.detailed


def drive_test(lens: Lens) -> DriveTest:
    """Drive the lens a little and back; see whether it moved.

    Calibrated and homed: a third of the range toward far with the largest
    size, then one command more than went out back toward near.  Homed
    without a reading, the lens sits on the near stop, so the stop clamps
    it to 0 exactly whatever the spread of single commands, and the
    position is 0 again afterwards; a last look says whether the picture
    is the one at rest again (``returned``: False when the homing never
    reached the stop, and the caller must home again); a camera that
    reports its position is read again instead.

    Not calibrated (``rig doctor`` on a new lens): the position is unknown,
    so a few of the largest commands toward far, and if nothing changed
    (the lens may sit on the far stop) as many toward near.  The lens ends
    near where it started; its position stays unknown.
    """
    if lens.model is not None and lens.position is not None:
        return _calibrated(lens)
    return _uncalibrated(lens)


def _calibrated(lens: Lens) -> DriveTest:
    model = lens.model
    assert model is not None
    big = max(model.drives, key=lambda d: d.steps)
    count = max(1, min(4, round(0.3 * model.steps / big.steps)))
    lens.wait_free()
    watch = _Watch(lens)
    for _ in range(count):
        lens.send(big.size, FAR)
        lens.wait_free()
    moved, detail = watch.changed()
    blind = not moved and watch.blind()
    for _ in range(count + 1):
        lens.send(big.size, NEAR)
        lens.wait_free()
    returned = None
    if watch.reading:
        lens.home()
    else:
        # One command more back than out: the near stop clamps the lens to 0,
        # and the motor's play is taken up toward near, exactly as homing
        # leaves it, if the lens sat on the stop; the picture says whether it did.
        if moved:
            returned, back = watch.back_at_rest()
            detail = f"{detail}; {back}"
        lens.stopped_at(NEAR)
    return DriveTest(MOVED if moved else UNSEEN if blind else STILL, watch.how, detail,
                     returned)


def _uncalibrated(lens: Lens) -> DriveTest:
    size = max(lens.caps.sizes)
    clock = lens.clock

    def drive(direction: int) -> None:
        for _ in range(UNCALIBRATED_COUNT):
            lens.send(size, direction)
            clock.sleep(UNCALIBRATED_SETTLE_S)

    clock.sleep(UNCALIBRATED_SETTLE_S)
    watch = _Watch(lens)
    drive(FAR)
    moved, detail = watch.changed()
    if moved:
        drive(NEAR)                 # back to about where it was
    else:
        drive(NEAR)                 # it may have been on the far stop
        moved, detail = watch.changed()
    blind = not moved and watch.blind()
    return DriveTest(MOVED if moved else UNSEEN if blind else STILL, watch.how, detail)
