"""Contrast autofocus on a region of the live view, driven by rig itself.

Because rig drives the lens, it knows where the lens is when AF ends: the
point an operator stores after AF is as good as the lens's count.
``docs/autofocus.md`` has the measurements behind every choice here; the
measures and fits are :mod:`rig.afcurve`.  In short:

1. **Coarse scan** from the far stop (where most subjects are: focus is
   linear in dioptres, so everything beyond twice the closest distance is
   in the far half), one frame every eighth of the range, until the broad
   measure has risen and fallen to half, or the sharp one has fallen to
   half above its floor (:func:`rig.afcurve.passed`).  The lens is first
   driven into the stop, which absorbs what is too much: the count is
   exact again, as after homing.  Where the sharp measure stands on two
   coarse frames or more, it places the peak and gives its width (a wide
   or slow lens); else the broad measure's V fit does, held within half a
   stride of the sharpest frame (:func:`rig.afcurve.coarse_peak`).
2. **Fine sweep**: five frames around that estimate, a share of the
   peak's width apart (an eightieth of the range for a narrow peak),
   moving back the way the scan came and only with the drive sizes that
   move reproducibly (``exact_jitter``), so the frames' relative positions
   are exact.  A Gaussian over the noise floor through the sharp measure
   places the peak, once its centre is known to ``steps_precision``;
   otherwise more frames go where they help (beyond the best, beyond the
   side that reaches less far, or between).  A peak narrower than the
   spacing is pinned by the same Laplacian on the frame at a third of the
   width (*mid*) when that agrees with the sharpest frame.
3. **Final approach** the way the fine sweep went, so any backlash is
   taken up as it was when the peak was measured; then one frame checks
   that the picture there is as sharp as the fit said.

It fails, says why and drives the lens back to where it was when no frame
shows fine detail (no contrast), when the sharpest picture is at a stop and
the wider measure still rises into it (the subject is nearer or farther
than the lens can focus), when no peak shows in the fine sweep, when the
picture at the peak is not sharp (the subject moved, a command was lost),
or when the live view froze (:class:`rig.lens.LiveViewFrozen`).

Entry point: :func:`autofocus` (``lens``, ``roi``) -> :class:`AFResult`, whose
``samples`` and ``fit`` are the focus curve (``to_json`` for a web page,
:func:`rig.plot.autofocus_figure` for a picture).
"""

from __future__ import annotations

import dataclasses
import logging
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from .afcurve import (WIDTH, PeakFit, Sample, coarse_peak, fit_peak, measured_region,
                      measures, passed, v_peak)
from .afcurve import between as gap_frame
from .lens import FAR, NEAR, Lens, LensError, LiveViewFrozen
from .planner import LensModel, plan_move
from .vision import BROAD_BLOCK, Roi

log = logging.getLogger(__name__)

__all__ = ["AFResult", "AFSettings", "PeakFit", "Sample", "autofocus", "check_roi", "DEFAULT_ROI",
           "v_peak", "fit_peak", "measured_region"]

DEFAULT_ROI: Roi = (0.3, 0.3, 0.4, 0.4)  # x, y, w, h as fractions of the frame


@dataclass(frozen=True)
class AFSettings:
    coarse_samples: int = 9        # grid points from stop to stop: a frame every range / 8
    from_far: bool = True          # the scan starts at the far stop (else the nearer one)
    drop: float = 0.5              # the scan ends once the broad measure is below this x its best
    flat: float = 2.0              # no contrast: the coarse scan's best is below this x its
    flat_sigmas: float = 8.0       # worst, or within this many times the scatter sensor noise
                                   # alone gives the broad measure of a region this size
    into_stop: float = 1.2         # a subject beyond a stop: the broad measure rises this much
                                   # over the fine frames into it
    min_size: float = 0.2          # a smaller region is measured this wide and high about its
                                   # centre: fewer pixels cannot tell texture from noise
    fine_spacing: float = 1 / 80   # fine frames this share of the range apart (at least 1 step)
    fine_samples: int = 5          # fine frames around the coarse estimate
    fine_width: float = 0.6        # for a peak wider than a coarse stride: frames this x its
                                   # width (one sigma) apart
    extra_samples: int = 4         # fine frames added at most when the peak is not among them
    settle_s: float = 0.1          # after the lens stops, before a frame (a live view lags)
    precision: float = 0.6         # the peak's standard error must be below this x the spacing
    rise: float = 0.25             # the peak must stand this share above the sharp measure's
                                   # floor (what it shows far out of focus: sensor noise)
    verify: float = 0.5            # the last frame may fall short of the fitted peak by this
                                   # share of the fine frames' range (or by 3 x their scatter)
    steps_precision: float = 0.6   # and below this many steps
    wide_precision: float = 0.5    # steps: a wider measure's peak is taken when this precise
    exact_jitter: float = 0.3      # near the peak, only sizes spreading less (steps) are used


@dataclass
class AFResult:
    ok: bool
    position: int                      # where the lens is now (steps from the near stop)
    frames: int
    reason: str = ""
    samples: list[Sample] = field(default_factory=list)
    coarse: float | None = None        # the coarse scan's estimate of the peak
    fit: PeakFit | None = None
    start: int = 0                     # where the lens was when AF began
    commands: int = 0                  # drive commands sent
    moves: int = 0                     # separate lens moves
    duration_s: float = 0.0
    roi: Roi = DEFAULT_ROI             # the region measured (a small one grown, min_size)

    @property
    def curve(self) -> list[tuple[int, float]]:
        """(position, sharp measure) of every frame, in the order taken."""
        return [(s.position, s.sharp) for s in self.samples]

    def to_json(self) -> dict[str, Any]:
        fit = self.fit
        return {
            "ok": self.ok, "position": self.position, "reason": self.reason,
            "frames": self.frames, "commands": self.commands, "moves": self.moves,
            "duration_s": round(self.duration_s, 3), "start": self.start,
            "roi": list(self.roi),
            "coarse": None if self.coarse is None else round(self.coarse, 2),
            "fit": None if fit is None else {
                "center": round(fit.center, 3), "curvature": fit.curvature,
                "height": round(fit.height, 4), "lo": fit.lo, "hi": fit.hi,
                "error": None if math.isinf(fit.error) else round(fit.error, 3),
                "measure": fit.measure},
            "samples": [{"position": s.position, "broad": round(s.broad, 4),
                         "sharp": round(s.sharp, 4), "mid": round(s.mid, 4), "stage": s.stage}
                        for s in self.samples],
        }


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


# -------------------------------------------------------------- the search


def exact_model(lens: Lens, jitter: float) -> LensModel:
    """The lens's model with only the sizes that move a whole, reproducible number of steps."""
    model = lens.model
    assert model is not None
    keep = tuple(d for d in model.drives
                 if d is model.unit or (abs(d.steps - round(d.steps)) < 0.05
                                        and lens.jitter.get(d.size, 0.0) <= jitter))
    return LensModel(model.steps, keep, model.latency)


class _Failed(Exception):
    """Why AF gave up.  The first words (21 characters) are what the OLED shows."""


class _NoPeak(_Failed):
    """The fine frames did not pin a peak down."""


_NO_CONTRAST = _Failed("no contrast: nothing in the AF region to focus on")


class _Beyond(_Failed):
    """The sharpest picture is at a stop and the peak beyond it."""

    def __init__(self, end: int) -> None:
        which = "near" if end == NEAR else "far"
        super().__init__(f"subject too {which}: the sharpest picture is at the {which} stop, "
                         "the subject is beyond what the lens focuses on")
        self.end = end


def _beyond(end: int) -> _Failed:
    return _Beyond(end)


class _Search:
    def __init__(self, lens: Lens, roi: Roi, settings: AFSettings,
                 progress: Callable[[str, float], None]) -> None:
        assert lens.model is not None
        self.lens = lens
        self.roi = roi
        self.s = settings
        self.progress = progress
        self.range = lens.model.steps
        self.exact = exact_model(lens, settings.exact_jitter)
        self.big = max(lens.model.drives, key=lambda d: d.steps)
        self.big_model = LensModel(self.range, (self.big,), lens.model.latency)
        stride = self.range / max(2, settings.coarse_samples - 1)
        self.stride_commands = max(1, round(stride / self.big.steps))
        self.spacing = max(1, round(self.range * settings.fine_spacing))
        self.narrow = self.spacing     # the fine spacing for a peak narrower than a stride
        self.fine_from = 0             # where the last fine sweep's frames start in samples
        self.toward = FAR
        self.samples: list[Sample] = []
        self.moves = 0
        self.coarse: float | None = None
        self.fit: PeakFit | None = None
        self.size = (WIDTH, WIDTH)     # the measured region in pixels (w, h), from the frames

    # -- primitives
    def go(self, target: float, *, exact: bool = False) -> None:
        lens = self.lens
        assert lens.position is not None
        target = int(min(max(round(target), 0), self.range))
        if round(lens.position) != target:
            lens.move_to(target, model=self.exact if exact else None)
            self.moves += 1

    def look(self, stage: str) -> Sample:
        lens = self.lens
        lens.wait_free()
        lens.clock.sleep(self.s.settle_s)
        t = lens.clock.now()
        broad, sharp, mid, self.size = measures(lens.frame(), self.roi)
        assert lens.position is not None
        sample = Sample(round(lens.position), broad, sharp, stage, t, mid)
        self.samples.append(sample)
        return sample

    def stride(self, direction: int) -> None:
        """Whole commands of the largest size, one coarse stride; the stops clamp them."""
        lens = self.lens
        assert lens.position is not None
        here = round(lens.position)
        plan = plan_move(here, here + direction * round(self.stride_commands * self.big.steps),
                         0.0, self.big_model)
        lens.wait_free()
        lens.execute(plan, lens.clock.now() + lens.lead)
        self.moves += 1

    def into_stop(self, direction: int) -> None:
        """Drive into the stop ``direction``: the stop absorbs what is too much.

        Commands of the largest size for the distance left, one more, and
        more while the tracked position is uncertain (four sigma); never
        more than homing sends.  The lens is then exactly at the stop, as
        after homing.
        """
        lens = self.lens
        assert lens.position is not None
        if lens.caps.feedback == "absolute":
            self.go(0 if direction == NEAR else self.range)
            return      # the camera says where it is
        steps = self.big.steps
        left = lens.position if direction == NEAR else self.range - lens.position
        homing = math.ceil(self.range * 1.1 / steps) + 2
        count = min(homing, 1 + math.ceil((left + 4.0 * min(lens.uncertainty, self.range))
                                          / steps))
        for _ in range(count):
            lens.wait_free()
            lens.send(self.big.size, direction)
            if lens.at_stop == direction:
                break   # the camera said so
        lens.wait_free()
        lens.stopped_at(direction)   # driven into a stop: exactly there, as homing
        self.moves += 1

    # -- 1. coarse
    def scan(self) -> float:
        """From the nearer stop, a frame every stride until the broad measure has dropped."""
        lens = self.lens
        assert lens.position is not None
        toward = NEAR if self.s.from_far else (FAR if lens.position <= self.range / 2 else NEAR)
        self.toward = toward
        self.into_stop(-toward)
        stop = self.range if toward == FAR else 0
        scan: list[Sample] = []
        while True:
            sample = self.look("coarse")
            scan.append(sample)
            self.progress("coarse", sample.position / self.range if toward == FAR
                          else 1.0 - sample.position / self.range)
            if passed(scan, self.s.drop):
                break
            if sample.position == stop:
                break
            if abs(stop - sample.position) <= self.stride_commands * self.big.steps:
                self.into_stop(toward)     # the last stride: into the stop, exactly
            else:
                self.stride(toward)
        if self.featureless() and not self.broad_peak(scan):
            raise _NO_CONTRAST
        self.coarse, width = coarse_peak(scan, self.stride_commands * self.big.steps)
        if width is not None:
            # A peak several coarse frames wide (a wide or slow lens): fine
            # frames a good share of its width apart, so that the sweep sees
            # it curve down above the noise.
            self.spacing = int(min(max(self.spacing, round(self.s.fine_width * width)),
                                   max(1, round(self.stride_commands * self.big.steps / 2))))
        return self.coarse

    def broad_peak(self, scan: list[Sample]) -> bool:
        """Whether the broad measure of the coarse frames shows something to focus on
        when the sharp ones show nothing: a peak too narrow for them to catch between
        frames (it rises 1 / drop^2 from its lowest), or a rise into a stop (a subject
        at or beyond it, the fine sweep there tells which)."""
        values = [s.broad for s in scan]
        if max(values) < self.flat_ratio() * min(values):
            return False
        best = max(scan, key=lambda s: s.broad)
        at_stop = best.position in (0, self.range) and best.position in (
            scan[0].position, scan[-1].position)
        return at_stop or max(values) * self.s.drop ** 2 >= min(values)

    def featureless(self) -> bool:
        """Whether no frame so far shows more fine detail than another: the sharp measures
        (at both widths) stay within ``flat`` x their lowest.  A blank subject's region
        may still change in the broad measure as a blurred background spreads into it."""
        return all(max(s.value(m) for s in self.samples)
                   < self.s.flat * min(s.value(m) for s in self.samples) for m in ("sharp", "mid"))

    def rising_into_stop(self, fine: list[Sample]) -> bool:
        """Whether the broad measure rises into the stop the fine frames lie at.

        A subject beyond the stop, too blurred for the sharp measures, still
        grows more detailed toward the stop; a blank subject's region, where
        a blurred background has spread in, levels off."""
        xs = [s.position for s in fine]
        side = NEAR if min(xs) == 0 else FAR if max(xs) == self.range else 0
        if not side or len(fine) < 2:
            return False
        ordered = sorted(fine, key=lambda s: s.position * side)     # nearest the stop last
        return ordered[-1].broad >= self.s.into_stop * ordered[0].broad

    def flat_ratio(self) -> float:
        """The best-to-worst ratio of the coarse broad measure that noise alone can reach.

        On a blank region the broad measure is sensor noise, a mean of
        squares over the region's blocks: its relative scatter is about
        sqrt(2 / blocks) (measured on the simulator, ``docs/autofocus.md``).
        """
        w, h = self.size
        blocks = max(1, (w // BROAD_BLOCK) * (h // BROAD_BLOCK))
        return max(self.s.flat, math.exp(self.s.flat_sigmas * math.sqrt(2.0 / blocks)))

    # -- 2. fine
    def sweep(self, center: float) -> PeakFit:
        """Frames ``spacing`` apart across ``center``, moving back the way the scan came."""
        way = -self.toward
        spacing = self.spacing
        count = max(3, self.s.fine_samples)
        span = spacing * (count - 1)
        lo = min(max(round(center - span / 2), 0), max(self.range - span, 0))
        positions = [min(lo + k * spacing, self.range) for k in range(count)]
        if way == NEAR:
            positions.reverse()
        fine: list[Sample] = []
        self.approach(positions[0], way, exact=False)
        self.fine_from = len(self.samples)
        for x in positions:
            self.go(x, exact=True)
            fine.append(self.look("fine"))
            self.progress("fine", len(fine) / count)
        # A peak narrower than these frames' spacing, which the coarse frames gave it
        # (two of them above the floor: a narrow peak's tails can do that too).
        lone = self.lone_peak(fine) if self.spacing > self.narrow else None
        try:
            return self.refine(fine, center, way)
        except _Failed as failed:
            if self.featureless() and not self.rising_into_stop(fine):
                raise _NO_CONTRAST from None    # the true cause, whatever the search ran into
            if isinstance(failed, _Beyond) and self.spacing > self.narrow:
                # Frames that wide apart cannot tell a narrow peak a little inside
                # the stop from one beyond it: look again there, at a narrow
                # peak's spacing (beyond it, it fails the same way).
                lone = 0.0 if failed.end == NEAR else float(self.range)
            elif lone is None or not isinstance(failed, _NoPeak):
                raise
        # The frames added could not pin it down (the gaps are wide for it, and a
        # small live view has no wider measure): again, at a narrow peak's spacing,
        # where the first frames put it.
        log.info("autofocus: a peak narrower than %d steps at %.0f: fine frames %d apart",
                 self.spacing, lone, self.narrow)
        self.spacing = self.narrow
        return self.sweep(lone)

    def lone_peak(self, fine: list[Sample]) -> float | None:
        """Where the peak is, if the fine frames show one narrower than their spacing.

        The sharpest frame stands above the floor, between two others, and
        fewer than three frames are on the peak (no Gaussian through its
        top): a V fit on the log of the sharp measure between the sharpest
        frame and its better neighbour places it.  None otherwise.
        """
        xs = [s.position for s in fine]
        values = np.array([s.sharp for s in fine])
        floor = min(s.sharp for s in self.samples)
        i = int(np.argmax(values))
        above = values - floor
        if above[i] < self.s.rise * floor or xs[i] in (min(xs), max(xs)):
            return None
        if fit_peak(xs, list(values), floor) is not None:
            return None
        return v_peak(xs, np.log(np.maximum(above, 1e-3 * above[i])))

    def refine(self, fine: list[Sample], center: float, way: int) -> PeakFit:
        """Frames added to the fine ones until they pin the peak down (or it is clear
        they will not)."""
        fit = None
        at_stop = center in (0, self.range)
        for extra in range(self.s.extra_samples + 1):
            # Far out of focus the sharp measure shows only sensor noise:
            # the coarse frames (and the fine ones) give that floor.
            floor = min(s.sharp for s in self.samples)
            target = self.next_frame(fine, floor, extra == self.s.extra_samples)
            if isinstance(target, PeakFit):
                return target
            fit = fit_peak([s.position for s in fine], [s.sharp for s in fine], floor)
            if target is None or extra == self.s.extra_samples:
                break
            self.approach(target, way)
            fine.append(self.look("fine"))
        if at_stop:
            # The broad measure rose all the way into the stop, and no sharp
            # peak shows there.
            raise _beyond(NEAR if center == 0 else FAR)
        if fit is not None and fit.error < math.inf:
            raise _NoPeak(f"no clear peak (+/- {fit.error:.1f} steps): too little "
                          "detail in the AF region, or the subject moved")
        raise _NoPeak("no sharp peak in the fine sweep: too little detail in the AF region, "
                      "or the subject moved")

    def next_frame(self, fine: list[Sample], floor: float,
                   last: bool = False) -> PeakFit | int | None:
        """The peak, if the fine frames pin it down; else where to look next (None: give up).

        Raises when the sharpest frame is at a stop and the peak beyond it.
        """
        spacing = self.spacing
        xs = [s.position for s in fine]
        values = [s.sharp for s in fine]
        fit = fit_peak(xs, values, floor)
        rise = self.s.rise * floor
        if fit is not None and fit.height - floor < rise:
            fit = None                    # a bump in the noise, not a peak
        lo, hi = min(xs), max(xs)
        i = int(np.argmax(values))
        best = xs[i]
        stop = {NEAR: lo == 0, FAR: hi == self.range}
        at_stop = NEAR if best == lo and stop[NEAR] else FAR if best == hi and stop[FAR] else 0
        if at_stop and not self.tops_inside(fine, lo if at_stop == NEAR else hi, at_stop):
            # The wider measure still rises into the stop: the subject is
            # beyond it, however the sharp frames there look.
            raise _beyond(at_stop)
        if fit is None and values[i] - floor >= rise:
            # Fewer than three frames on the peak: it is narrower than the
            # spacing.  A wider measure may pin it down (the sharp measure
            # on the frame at a third of the width), if its peak agrees with
            # the sharpest frame.  (Not the broad one: on a wide lens its top
            # is so flat that the background at the region's edge tilts it.)
            wider = self.wider_fit(fine, best)
            if wider is not None:
                return wider
            # Else a frame between the best and its better neighbour.
            order = sorted(range(len(xs)), key=lambda k: xs[k])
            j = order.index(i)
            left = values[order[j - 1]] if j > 0 else -math.inf
            right = values[order[j + 1]] if j + 1 < len(order) else -math.inf
            if max(left, right) > -math.inf and (best - lo >= 2 or hi - best >= 2):
                between = gap_frame(xs, best + (0.25 if right > left else -0.25))
                if between is not None and abs(between - best) < spacing:
                    return between
        if at_stop:
            # The sharpest frame is at a stop: the peak is there (nothing
            # beyond can be looked at), or beyond where the lens can focus.
            edge = lo if at_stop == NEAR else hi
            # A broad, imprecise fit there is the tail of a peak past the
            # stop (three frames on top, error inf, is a narrow peak: kept).
            beyond = None if fit is None else (edge - fit.center) * -at_stop
            vague = fit is not None and self.s.precision * spacing < fit.error < math.inf
            if beyond is None or beyond > spacing / 2 or vague:
                raise _beyond(at_stop)
            return fit if beyond >= -spacing else None
        if best == lo:
            return lo - spacing           # a frame beyond the best one, to bracket it
        if best == hi:
            return hi + spacing
        if fit is None:
            return None
        if not lo <= fit.center <= hi:    # a noisy fit past the frames: one more there
            side = FAR if fit.center > hi else NEAR
            return None if stop[side] else (hi + spacing if side == FAR else lo - spacing)
        if fit.error <= self.s.precision * spacing and (fit.error <= self.s.steps_precision
                                                         or last):
            return fit                    # a peak, pinned down
        # A peak the fit leaves uncertain (a faint picture, a wide peak): one
        # more frame beyond the frames on the side where they reach less far
        # from the peak, or in the gap nearest the peak.
        if fit.error == math.inf:
            # Three frames on the peak: a Gaussian through them has no
            # scatter to tell its precision by.  The wider measure's fit,
            # over more frames, has: if it agrees, the peak is pinned down.
            wider = self.wider_fit(fine, round(fit.center))
            if wider is not None and abs(wider.center - fit.center) <= self.s.steps_precision * 2:
                return fit
        short = FAR if hi - fit.center < fit.center - lo else NEAR
        end = values[xs.index(hi if short == FAR else lo)]
        if (abs((hi - fit.center) - (fit.center - lo)) >= spacing and not stop[short]
                and end - floor >= 0.5 * (fit.height - floor)):
            return hi + spacing if short == FAR else lo - spacing
        between = gap_frame(xs, fit.center)
        if between is not None:
            return between
        side = FAR if hi - fit.center < fit.center - lo else NEAR
        if stop[side]:
            side = -side
        return None if stop[side] else (hi + spacing if side == FAR else lo - spacing)

    def tops_inside(self, fine: list[Sample], edge: int, side: int) -> bool:
        """Whether the wider measure's peak is inside the range at the stop ``side`` (or
        within half a spacing beyond it): it curves over there, as a peak at the stop does,
        and does not rise straight into it, as the tail of one beyond does."""
        xs = [s.position for s in fine]
        floor = min(s.mid for s in self.samples)
        fit = fit_peak(xs, [s.mid for s in fine], floor)
        return fit is not None and (edge - fit.center) * -side <= self.spacing / 2

    def wider_fit(self, fine: list[Sample], best: int) -> PeakFit | None:
        """A fit of a wider measure that pins the peak down near the sharpest frame."""
        xs = [s.position for s in fine]
        for measure in ("mid",):
            floor = min(s.value(measure) for s in self.samples)
            fit = fit_peak(xs, [s.value(measure) for s in fine], floor)
            if (fit is not None and min(xs) <= fit.center <= max(xs)
                    and fit.height - floor >= self.s.rise * floor
                    and abs(fit.center - best) <= self.spacing / 2
                    and fit.error <= self.s.wide_precision):
                return dataclasses.replace(fit, measure=measure)
        return None

    def approach(self, target: int, way: int, *, exact: bool = True) -> None:
        """Arrive at ``target`` moving ``way``, going round first if the lens is past it.

        Within the fine sweep every move is ``exact`` (only sizes that move a
        whole, reproducible number of steps), so that the frames' positions
        relative to each other, and the peak's, hold.  The move into the
        sweep from the coarse scan need not be: the first fine frame is
        where the sweep's reference starts.
        """
        lens = self.lens
        assert lens.position is not None
        target = int(min(max(target, 0), self.range))
        if (target - lens.position) * way < self.spacing:
            self.go(target - way * self.spacing, exact=exact)
        self.go(target, exact=True)

    # -- 3. final approach and check
    def finish(self, fit: PeakFit) -> int:
        peak = int(min(max(round(fit.center), 0), self.range))
        self.approach(peak, -self.toward)
        check = self.look("check")
        fine = [s.value(fit.measure) for s in self.samples[self.fine_from:]
                if s.stage == "fine"]
        worst, expected = min(fine), min(fit.height, max(fine))
        above = expected - fit.floor
        short = max(self.s.verify * (expected - worst),
                    above * (1.0 - math.exp(-3.0 * fit.scatter)))
        if check.value(fit.measure) < expected - short:
            raise _Failed(f"not sharp at the peak ({check.value(fit.measure):.3g}, {expected:.3g} "
                          "expected): did the subject move?")
        return peak


def autofocus(lens: Lens, roi: Sequence[float] = DEFAULT_ROI, *,
              settings: AFSettings | None = None,
              progress: Callable[[str, float], None] | None = None) -> AFResult:
    """Focus on ``roi`` (x, y, w, h as fractions of the frame); see the module's text.

    On failure the lens is driven back to where it was, and the result says
    why (``ok`` False, ``reason``).  Camera errors propagate as they are.
    """
    settings = settings or AFSettings()
    region = check_roi(roi)
    if lens.model is None or lens.position is None:
        raise LensError("autofocus needs a calibrated, homed lens")
    start = round(lens.position)
    frames0, commands0, t0 = lens.frames, lens.commands, lens.clock.now()
    search = _Search(lens, measured_region(region, settings.min_size), settings, progress or (lambda phase, fraction: None))
    ok, reason = True, ""
    try:
        center = search.scan()
        search.fit = search.sweep(center)
        search.finish(search.fit)
    except (_Failed, LiveViewFrozen) as exc:
        # A frozen live view shows the same picture wherever the lens is:
        # nothing to measure, so the same as a failed search.
        ok, reason = False, str(exc)
        log.warning("autofocus failed: %s; back to %d", reason, start)
        search.go(start)
    assert lens.position is not None
    result = AFResult(ok, round(lens.position), lens.frames - frames0, reason, search.samples,
                      search.coarse, search.fit, start, lens.commands - commands0,
                      search.moves, lens.clock.now() - t0, search.roi)
    if ok:
        log.info("autofocus: peak at %.1f (coarse %.1f), lens at %d; %d frames, %d commands, "
                 "%.1f s", search.fit.center if search.fit else math.nan,
                 search.coarse or math.nan, result.position, result.frames, result.commands,
                 result.duration_s)
    return result
