"""The focus curve: how sharp a frame's region is, and where a peak lies (pure).

Three measures of one live-view frame (:func:`measures`), each divided by
the square of the region's mean brightness so that a flickering light
does not move them: *broad* (gradient energy of 4 x 4 blocks at 320 px
wide: it changes all across the range), *sharp* (variance of a Laplacian
at up to 960 px wide: steep near focus, even on a wide lens at f/5.6) and
*mid* (the same Laplacian at 320 px: between the two).  The fits place a
peak among frames: :func:`v_peak` (two lines in the log of a broad
measure), :func:`fit_peak` (a Gaussian over the noise floor),
:func:`coarse_peak` (which measure the coarse frames trust, and the
peak's width), :func:`passed` (the coarse scan is past the peak).
``rig.autofocus`` drives the lens; ``docs/autofocus.md`` has the figures.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from PIL import Image

from .vision import Roi, broad_measure, crop, focus_measure, grey

__all__ = ["Sample", "PeakFit", "measures", "v_peak", "fit_peak", "coarse_peak", "passed",
           "measured_region", "between", "WIDTH", "SHARP_WIDTH"]

WIDTH = 320         # the broad (and mid) measure sees frames this wide (pixels)
SHARP_WIDTH = 960   # the sharp one this wide (a live view's full width)


@dataclass(frozen=True)
class Sample:
    """One frame: where the rig believed the lens was, and how sharp the region looked."""

    position: int
    broad: float
    sharp: float
    stage: str           # "coarse", "fine" or "check"
    t: float = 0.0       # when the frame was taken (clock time)
    mid: float = 0.0     # the sharp measure on the frame at the broad one's width

    def value(self, measure: str) -> float:
        return float(getattr(self, measure))


@dataclass(frozen=True)
class PeakFit:
    """A Gaussian through the sharp measure of the fine frames (a parabola in its log)."""

    center: float        # steps from the near stop
    curvature: float     # second derivative of log(sharpness) at the peak, per step^2 (< 0)
    height: float        # fitted sharpness at the peak
    lo: int              # the fitted frames span lo..hi
    hi: int
    error: float = math.inf   # standard error of ``center`` from the fit's scatter, steps
    floor: float = 0.0        # what the measure shows far out of focus (sensor noise)
    scatter: float = 0.0      # RMS of the frames about the fit, in log(value - floor)
    measure: str = "sharp"    # the measure fitted: "sharp", "mid" or "broad" (Sample's fields)

    def sharp_at(self, x: float) -> float:
        return self.floor + (self.height - self.floor) * math.exp(
            0.5 * self.curvature * (x - self.center) ** 2)

    @property
    def width(self) -> float:
        """One standard deviation of the Gaussian, in steps."""
        return math.sqrt(-1.0 / self.curvature)


# --------------------------------------------------------------- the fits


def v_peak(xs: Sequence[float], ys: Sequence[float]) -> float:
    """Where two lines of opposite slopes through the best sample and its neighbours meet.

    ``ys`` is the log of a broad measure, which falls about linearly with
    the distance from focus once the blur exceeds a pixel or so.  The
    steeper side (the lower neighbour) sets the slope.  When the best
    sample is the last one on its side, the two beyond its neighbour set
    the slope, and the peak lies between it and its neighbour (or at it).
    """
    pairs = sorted(zip((float(v) for v in xs), (float(v) for v in ys)))
    x = [p[0] for p in pairs]
    y = [p[1] for p in pairs]
    i = int(np.argmax(y))
    n = len(x)
    if n < 3:
        return x[i]
    if i == 0 or i == n - 1:
        j, k2 = (1, 2) if i == 0 else (n - 2, n - 3)     # neighbour, and the one beyond
        k = (y[j] - y[k2]) / abs(x[k2] - x[j])
        if k <= 0:
            return x[i]
        # x[i] on the rising flank, x[j] on the falling one: where they meet.
        c = 0.5 * (x[i] + x[j]) - (y[i] - y[j]) / (2 * k) * (1 if j > i else -1)
        return float(min(max(c, min(x[i], x[j])), max(x[i], x[j])))
    x0, x1, x2 = x[i - 1:i + 2]
    y0, y1, y2 = y[i - 1:i + 2]
    if y0 <= y2:     # the left neighbour is lower: the peak is right of x1
        k = (y1 - y0) / (x1 - x0)
        c = 0.5 * (x1 + x2) + (y2 - y1) / (2 * k) if k > 0 else x1
    else:
        k = (y1 - y2) / (x2 - x1)
        c = 0.5 * (x0 + x1) - (y0 - y1) / (2 * k) if k > 0 else x1
    return float(min(max(c, x0), x2))


TOP = 0.2   # the fit uses the frames at least this share of the way from the floor to the best
TOPS = (0.8, 0.5, TOP)   # ... or this much, where enough frames stand so high


def fit_peak(xs: Sequence[float], values: Sequence[float], floor: float = 0.0) -> PeakFit | None:
    """A Gaussian over ``floor`` through the top of the samples: a parabola in log(value - floor).

    The top is the run of samples around the best that stand at least
    ``TOP`` of the way from the floor to the best: there a defocused
    picture's sharpness falls like a Gaussian; further out it falls more
    slowly, into the floor that sensor noise keeps it on.  Where four
    frames or more, some on either side of the best, stand higher (80 %,
    else 50 % of the way), only those are fitted: the flanks of a real
    curve are not quite a Gaussian's, nor alike on both sides (the picture
    breathes, the blur is linear in dioptres), and a fit through them
    leans toward the gentler one.  Least squares;
    None when fewer than three samples are in the top or they do not curve
    down.  The centre's standard error comes from the scatter about the
    parabola (propagated through centre = -b / 2a); with three samples it
    is unknown (inf).
    """
    order = np.argsort(xs)
    x = np.asarray(xs, dtype=float)[order]
    v = np.asarray(values, dtype=float)[order] - floor
    i = int(np.argmax(v))
    if v[i] <= 0:
        return None
    for top in TOPS:
        lo, hi = i, i + 1
        while lo > 0 and v[lo - 1] >= top * v[i]:
            lo -= 1
        while hi < len(v) and v[hi] >= top * v[i]:
            hi += 1
        if hi - lo >= 4 and lo < i < hi - 1:
            break       # enough frames high on the peak, on both sides of the best
    if hi - lo < 3:
        return None
    xw, yw = x[lo:hi] - x[i], np.log(v[lo:hi])
    design = np.stack([xw * xw, xw, np.ones_like(xw)], axis=1)
    coef, *_ = np.linalg.lstsq(design, yw, rcond=None)
    a, b, c = (float(k) for k in coef)
    span = float(xw[-1] - xw[0])
    if a >= 0 or abs(b / (2 * a)) > 4 * span:
        return None      # no peak, or one so far out that it is only a straight line's end
    error, scatter = math.inf, 0.0
    dof = len(xw) - 3
    if dof > 0:
        resid = yw - design @ coef
        variance = float(resid @ resid) / dof
        cov = variance * np.linalg.pinv(design.T @ design)
        grad = np.array([b / (2 * a * a), -1 / (2 * a), 0.0])
        error = math.sqrt(max(float(grad @ cov @ grad), 0.0))
        scatter = math.sqrt(variance)
    center = float(x[i] - b / (2 * a))
    height = floor + float(math.exp(c - b * b / (4 * a)))
    return PeakFit(center, 2 * a, height, int(x[lo]), int(x[hi - 1]), error, floor, scatter)


def measured_region(roi: Roi, least: float) -> Roi:
    """``roi`` grown about its centre to at least ``least`` of the frame each way, inside it."""
    x, y, w, h = roi
    out = []
    for start, size in ((x, w), (y, h)):
        if size < least:
            start, size = min(max(start + size / 2 - least / 2, 0.0), 1.0 - least), least
        out += [start, size]
    return (out[0], out[2], out[1], out[3])


def between(xs: Sequence[int], around: float) -> int | None:
    """The middle of the gap between samples nearest ``around``, if it has room for a frame."""
    xs = sorted(set(xs))
    best = None
    for a, b in zip(xs, xs[1:]):
        if b - a < 2:
            continue
        distance = 0.0 if a <= around <= b else min(abs(around - a), abs(around - b))
        if best is None or distance < best[0]:
            best = (distance, (a + b) // 2)
    return None if best is None else best[1]


# -------------------------------------------------------------- the measures


def measures(jpeg: bytes, roi: Roi) -> tuple[float, float, float, tuple[int, int]]:
    """(broad, sharp, mid, the broad measure's region size in pixels) of one frame.

    Both are divided by the square of the region's mean brightness: a
    flickering light (or an exposure that hunts) scales the picture, and
    with it both measures, by the square of its gain; divided, they see
    only the focus.  The sharp measure is taken at up to ``SHARP_WIDTH``
    pixels wide: a wide lens at f/5.6 blurs less than 0.01 px per step, and
    a frame decoded smaller hides most of what little changes near focus.
    """
    full = grey(jpeg, SHARP_WIDTH)
    h, w = full.shape
    small = full
    if w > WIDTH:
        small = np.asarray(Image.fromarray(full, mode="F").resize(
            (WIDTH, max(1, round(h * WIDTH / w))), Image.BOX), dtype=np.float32)
    region = crop(small, roi)
    level = max(float(region.mean()), 1.0) ** 2
    sharp_region = crop(full, roi)
    sharp_level = max(float(sharp_region.mean()), 1.0) ** 2
    return (broad_measure(region) / level * 1e4, focus_measure(sharp_region) / sharp_level * 1e4,
            focus_measure(region) / level * 1e4, region.shape[::-1])


# -------------------------------------------------------------- the coarse scan


def passed(scan: Sequence[Sample], drop: float) -> bool:
    """Whether the last coarse frame is past the peak: either measure has fallen below
    ``drop`` of its best (the sharp one counted above its lowest, its noise floor)."""
    last = scan[-1]
    broad = max(s.broad for s in scan)
    if last.broad < drop * broad and broad * drop * drop >= min(s.broad for s in scan):
        return True     # risen 4 x from its lowest, and fallen to half: a peak, not drift
    floor = min(s.sharp for s in scan)
    best = max(s.sharp for s in scan)
    return best > 2.0 * floor and last.sharp - floor < drop * (best - floor)


def coarse_peak(scan: Sequence[Sample], stride: float) -> tuple[float, float | None]:
    """Where the coarse frames put the peak, and its width (one sigma, steps) if they show it.

    The sharp measure, where it stands above its floor on two frames or
    more: the peak is then wider than a stride (a wide or slow lens) and
    the sharp measure places it better than the broad one, whose top is so
    flat there that breathing and noise tilt it.  Otherwise the peak is
    narrower than a stride and only the broad measure sees it from the
    frames either side: a V fit on its log.
    """
    scan = sorted(scan, key=lambda s: s.position)
    xs = [float(s.position) for s in scan]
    sharp = np.array([s.sharp for s in scan])
    floor = float(sharp.min())
    above = sharp - floor
    i = int(np.argmax(sharp))
    near = [j for j in (i - 1, i + 1) if 0 <= j < len(xs)]
    if above[i] > floor and any(above[j] >= 0.25 * above[i] for j in near):
        fit = fit_peak(xs, sharp, floor)
        if fit is not None and min(xs) <= fit.center <= max(xs) and abs(fit.center - xs[i]) <= stride:
            return fit.center, fit.width
        lifted = np.log(np.maximum(above, 1e-3 * above[i]))
        return v_peak(xs, lifted), stride
    broad = v_peak(xs, np.log(np.maximum([s.broad for s in scan], 1e-12)))
    if above[i] > floor and near:
        # One frame on the peak: the peak is within half a stride of it.
        # The broad measure says where (its top may be tilted: held there).
        return float(min(max(broad, xs[i] - stride / 2), xs[i] + stride / 2)), stride / 4
    return broad, None
