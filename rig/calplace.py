"""Where the live view puts the lens: the sweep's table as an encoder, and moves by it.

Once the range phase (:mod:`rig.calrange`) has swept the lens, a frame is
placed by finding it on the sweep's table (:class:`rig.vision.Encoder`),
on the working side of the sharp point only (defocus looks alike either
side of it).  :func:`placing` builds that from a :class:`rig.calrange.Sweep`
as one frozen :class:`Placing` (built again once the play is known and the
sweep shifted); :class:`Placer` places the lens and moves it near a target
with it, for the phases after the range.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .calfit import placement_var
from .calframes import Frames, Motor
from .lens import FAR, NEAR
from .vision import Encoder, low_rank

if TYPE_CHECKING:
    from .calrange import Sweep

__all__ = ["Placing", "placing", "Placer"]


@dataclass(frozen=True)
class Placing:
    """How frames are placed on a sweep's table, and the sweep's landmarks."""

    encoder: Encoder
    rank: int                       # the table's rank once its noise is taken out
    side: tuple[int, int]           # the working side of the sharp point (lo, hi)
    placement_var: float            # how far frames place from their positions, squared steps
    subject: int                    # the sharp point
    far_side: bool                  # the working side is the far one
    range_steps: int

    def zone(self, span: float) -> tuple[float, float]:
        """The stretch of ``span`` steps next to the sharp point, on the working side.

        Frames change most from step to step there, so placing them on the
        table is most precise (a few tenths of a step).
        """
        if self.far_side:
            lo = self.subject + 8
            return lo, min(float(self.range_steps) - 2, lo + span)
        hi = self.subject - 8
        return max(2.0, hi - span), hi


def placing(sweep: "Sweep", noise: float) -> Placing:
    """The sweep's table, its noise taken out, as an encoder; the working side; and how
    far the frames of the way back from the far stop, taken at known positions,
    place from them (:func:`rig.calfit.placement_var`)."""
    clean, rank = low_rank(np.stack(sweep.table[: sweep.range + 1]), noise)
    encoder = Encoder(clean)
    if sweep.far_side:
        side = (sweep.subject + 6, sweep.range)
    else:
        side = (0, sweep.subject - 6)
    frames, positions = sweep.record
    var = placement_var(encoder, frames, positions, sweep.subject, sweep.range)
    return Placing(encoder, rank, side, var, sweep.subject, sweep.far_side, sweep.range)


@dataclass(frozen=True)
class Placer:
    """The frame access and the motor, with a placing: where the lens is, and moves."""

    frames: Frames
    motor: Motor
    placing: Placing

    def locate(self, lo: float, hi: float) -> float:
        """The lens placed on the table within [lo, hi], from one fresh frame."""
        return self.placing.encoder.locate(self.frames.fp(), lo, hi).position

    def fix(self, lo: float, hi: float, frames: int = 3) -> float:
        """The lens position placed on the table, averaged over a few frames."""
        return sum(self.locate(lo, hi) for _ in range(frames)) / frames

    def goto(self, target: float, steps: dict[int, float]) -> None:
        """Move near ``target`` with settled commands, then place the frame on the table."""
        motor = self.motor
        left = target - motor.here
        direction = FAR if left > 0 else NEAR
        left = abs(left)
        for size in sorted(steps, reverse=True):
            if size not in steps:
                continue
            n = int(left // steps[size])
            for _ in range(n):
                motor.step(size, direction, motor.settle(size))
            left -= n * steps[size]
        window = 6 + 0.1 * abs(target - motor.here)
        lo = max(target - window, self.placing.side[0])
        hi = min(target + window, self.placing.side[1])
        motor.here = self.locate(lo, hi)
