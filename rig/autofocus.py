"""Contrast autofocus from the live view, driven by rig itself.

Because rig drives the lens, it knows where the lens is when AF ends: the
point an operator stores after AF is exact, which is not true after the
camera's own AF.

This is the simple search of the 2016 tethered-AF post, made a little more
careful:

1. Coarse: sweep the whole range with the largest step, measuring the
   sharpness of the region of interest after each step.
2. Medium and fine: sweep the neighbourhood of the best coarse position with
   the middle step, then with size 1.
3. Approach the best position from the near side, so backlash (if any) is
   taken up the same way every time.

It fails, says why and returns the lens where it was when the region has no
contrast (the curve is flat).  The issue tracker has the plan for a faster
search with a peak fit (issue 6).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from .lens import FAR, Lens, LensError
from .vision import focus_measure, grey

__all__ = ["AFResult", "autofocus", "check_roi", "DEFAULT_ROI"]

DEFAULT_ROI = (0.3, 0.3, 0.4, 0.4)  # x, y, w, h as fractions of the frame
Roi = tuple[float, float, float, float]


def check_roi(roi: Sequence[float]) -> Roi:
    """``roi`` as (x, y, w, h) inside the frame, or ValueError saying what is wrong."""
    try:
        x, y, w, h = (float(v) for v in roi)
    except (TypeError, ValueError):
        raise ValueError(f"an AF region is four numbers x, y, w, h, not {roi!r}") from None
    if not all(math.isfinite(v) for v in (x, y, w, h)):
        raise ValueError("an AF region must be finite numbers")
    if not (0.0 <= x < 1.0 and 0.0 <= y < 1.0):
        raise ValueError(f"AF region corner ({x:g}, {y:g}) must be inside the frame (0 to 1)")
    if not (0.02 <= w and 0.02 <= h and x + w <= 1.0 + 1e-9 and y + h <= 1.0 + 1e-9):
        raise ValueError(f"AF region size {w:g} x {h:g} at ({x:g}, {y:g}) must be at least "
                         "0.02 of the frame and end inside it")
    return (x, y, w, h)


@dataclass
class AFResult:
    ok: bool
    position: int
    frames: int
    reason: str = ""
    curve: list[tuple[int, float]] = field(default_factory=list)


def _measure(lens: Lens, roi: tuple[float, float, float, float]) -> float:
    lens.wait_free()
    return focus_measure(grey(lens.frame(), 320), roi)


def _sweep(lens: Lens, lo: int, hi: int, size: int, roi, curve) -> None:
    """Measure at lo, then after each ``size`` step up to hi (lens starts at lo)."""
    assert lens.model is not None
    step = lens.model.drive(size).steps
    curve.append((round(lens.position), _measure(lens, roi)))
    while lens.position is not None and lens.position + step <= hi + 1e-9:
        lens.wait_free()
        lens.send(size, FAR)
        curve.append((round(lens.position), _measure(lens, roi)))


def autofocus(lens: Lens, roi: tuple[float, float, float, float] = DEFAULT_ROI) -> AFResult:
    model = lens.model
    if model is None or lens.position is None:
        raise LensError("autofocus needs a calibrated, homed lens")
    start = round(lens.position)
    frames0 = lens.frames
    sizes = sorted(model.drives, key=lambda d: d.steps)
    big, mid = sizes[-1], sizes[len(sizes) // 2]
    curve: list[tuple[int, float]] = []

    lens.move_to(0)
    _sweep(lens, 0, model.steps, big.size, roi, curve)
    values = [v for _, v in curve]
    if max(values) < 1.5 * min(values):
        lens.move_to(start)
        return AFResult(False, start, lens.frames - frames0,
                        "no contrast in the AF region", curve)
    best = max(curve, key=lambda pv: pv[1])[0]

    # Around the best so far: the middle size over two large steps, then
    # size 1 over two middle steps.
    for d, span in ((mid, 2 * big.steps), (sizes[0], 2 * mid.steps)):
        lo = max(0, best - round(span) // 2)
        hi = min(model.steps, best + round(span) // 2)
        lens.move_to(lo)
        fine: list[tuple[int, float]] = []
        _sweep(lens, lo, hi, d.size, roi, fine)
        curve += fine
        best = max(fine, key=lambda pv: pv[1])[0]

    # Final approach from the near side.
    lens.move_to(max(0, best - round(mid.steps)))
    lens.move_to(best)
    return AFResult(True, best, lens.frames - frames0, "", curve)
