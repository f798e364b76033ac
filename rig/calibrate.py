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
  (:class:`_LiveView`); Sony's coarse ``focalposition`` cross-checks the
  range.  The method is described in ``docs/calibration.md``.

Every method leaves the lens homed at position 0.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Callable

import gphoto2 as gp
import numpy as np

from .calibration import Calibration, DriveCal
from .drives import FujiDrive, NikonDrive, StopReached
from .lens import FAR, NEAR, SPACING_GUARD, Lens, LensError
from .vision import Encoder, distance, fingerprint, focus_measure, grey, low_rank, shows_detail

__all__ = ["calibrate", "CalibrationSettings", "CalibrationError"]


# ------------------------------------------------------- live view method


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
TRAINS_IF_JITTERY = 4   # trains per spacing when one train's end wanders too much


@dataclass(frozen=True)
class _Train:
    ok: bool
    failure: str      # "", "refused", "short" (commands lost) or "lag" (queued)
    min_gap: float
    mean_gap: float


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
            self.step(self.big, NEAR, self.s.settle_large_s)
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
            self.step(self.big, NEAR, self.s.settle_large_s)

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
            self.step(self.big, FAR, self.s.settle_large_s)
        return table, sharp, first_still

    def choose_side(self, sharp: list[float], first_still: int) -> None:
        """Pick the side of the sharpest point with more room to work on.

        Defocus looks alike either side of the sharpest point, so a frame is
        only placed without ambiguity when the search stays on one side.
        """
        if first_still <= self.s.stall_window + 3 and shows_detail(self.fp()):
            # Still from the first size-1 step on, yet the picture has detail.
            raise CalibrationError(
                "the lens does not move when driven: set the lens switch to AF "
                "(and the camera to a mode that lets the host drive focus)")
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
            self.step(self.big, direction, self.s.settle_large_s)
            shots.append(self.fp())
            if len(shots) >= 4 and all(self.still(shots[-1], shots[-k]) for k in (2, 3, 4)):
                break
        else:
            raise CalibrationError("the picture kept changing: keep the camera and the "
                                   "scene still while calibrating")
        self.step(self.big, direction, self.s.settle_large_s)
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
        # Long enough to cross the sharp region, where placement is precise.
        guess = self.known_guess(size)
        room = self.range - start if direction == FAR else start
        runs = int(min(100, max(40, 0.8 * self.range / guess)))
        frames, seconds = [], []
        for i in range(runs):
            self.step(size, direction, self.s.settle_large_s)
            frames.append(self.fp())
            seconds.append(self.fp())   # a second look: how noisy placement is here
            self.progress(f"size {size} steps", (i + 1) / runs)
            # Clamped on the other stop?  Only worth asking once the run could
            # be there: far from the sharp point a few small steps hardly
            # change a blurred picture.
            if ((i + 1) * guess >= 0.6 * room and len(frames) >= 7
                    and all(self.still(frames[-1], frames[-k]) for k in range(2, 8))):
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
        # Again without the frames that may already sit on the far stop: when
        # commands spread, the lens reaches it earlier or later than a straight
        # line says, and clamped frames would pull the step short.
        usable = int(np.sum(np.abs(room - counts * value) >= 2.5 * value))
        usable = min(usable, int(np.sum(counts * value <= room - 2.5 * value)))
        if 5 <= usable < len(frames):
            rec, counts = rec[:usable], counts[:usable]
            fine = np.arange(value - 0.6, value + 0.6, 0.002)
            value = float(fine[int(np.argmin([cost(e) for e in fine]))])
        self.here = float(np.clip(start + direction * value * len(frames), 0, self.range))
        self.jitter[size] = self._jitter(size, rec, np.stack(seconds), start, direction, value)
        if value * len(frames) < 3:
            raise CalibrationError(f"size {size} commands barely move the lens: set the lens "
                                   "switch to AF and keep live view on")
        whole = round(value)
        value = float(whole) if whole >= 1 and abs(value - whole) <= self.s.snap else value
        self.jitter_steps[size] = value
        return value

    def known_guess(self, size: int) -> float:
        """A first guess of a size's steps, before it is measured (larger sizes first)."""
        done = {k: v for k, v in self.jitter_steps.items()}
        bigger = [v for k, v in done.items() if k > size]
        return min(bigger) / 4.0 if bigger else 20.0

    def _jitter(self, size: int, first: np.ndarray, seconds: np.ndarray, start: float,
                direction: int, step: float) -> float:
        """Spread of single commands of ``size``, from a second run of the same commands.

        Placement on the table is biased by up to half a step at a position,
        but by the same amount each time at the same position.  So the run is
        repeated from the same stop and each frame compared with its twin:
        their difference holds the two runs' random walks of spread and the
        placement noise, never the bias.  With D_i that difference after i
        commands and s_p the placement noise (from two looks at rest),
        var(D_i - D_(i-1)) = 2 s^2 + 4 s_p^2.  Only frames on the working side
        of the sharp point, away from it, are placed.
        """
        assert self.encoder is not None
        self.into_stop(-direction)
        repeat = min(12, len(first))
        twins = []
        for _ in range(repeat):
            self.step(size, direction, self.s.settle_large_s)
            twins.append(self.fp())
        self.here = float(np.clip(start + direction * step * repeat, 0, self.range))

        def place(frame: np.ndarray, i: int) -> float | None:
            predicted = start + direction * step * i
            if not self.side_lo + 4 <= predicted <= self.side_hi - 2:
                return None
            window = 3 + 0.3 * step
            return self.encoder.locate(frame, max(predicted - window, self.side_lo),
                                       min(predicted + window, self.side_hi)).position

        diffs, pairs = [], []
        for i in range(1, repeat + 1):
            a, b, c = place(first[i - 1], i), place(twins[i - 1], i), place(seconds[i - 1], i)
            diffs.append(None if a is None or b is None else b - a)
            if a is not None and c is not None:
                pairs.append(a - c)
        steps_ = [y - x for x, y in zip(diffs, diffs[1:]) if x is not None and y is not None]
        if len(steps_) < 3 or len(pairs) < 3:
            return 0.0
        variance = (float(np.var(steps_)) - 2.0 * float(np.var(pairs))) / 2.0
        return round(math.sqrt(max(variance, 0.0)), 3)

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
        count = 32 if size == self.sizes[0] else 16 if size != self.big else 4
        room = (self.side_hi - self.side_lo) - 2 * e - 12
        count = max(2, min(count, int(room // e)))
        # Commands that spread (sigma per command) make a train's end wander by
        # sigma * sqrt(count): keep that under a third of one command, so a
        # lost command still stands out, and allow for it in the checks.
        sigma = self.jitter.get(size, 0.0)
        if sigma > 0:
            count = max(2, min(count, int((e / (3 * sigma)) ** 2)))
        wander = 3 * sigma * math.sqrt(count)
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
        if abs(abs(apparent["B"] - apparent["A"]) - span) > max(1.5, 0.3 * e, wander):
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

        # Jittery commands: one train's end wanders too much to show a lost
        # command, so a spacing is judged on the mean shortfall of several,
        # each started from its anchor (a spacing that is too short loses a
        # command in most trains; the mean shows it).
        repeats = 1 if wander <= 0.3 * e else TRAINS_IF_JITTERY
        limit = max(0.6, 0.3 * e, wander / math.sqrt(repeats))

        def ok(spacing: float) -> bool:
            shortfalls, gaps, refusals, lags = [], [], 0, 0
            for _ in range(repeats):
                target = "A" if at[0] == "B" else "B"
                direction = toward_b if target == "B" else -toward_b
                refused, returns = self.send_train(size, direction, count, spacing)
                self.clock.sleep_until(returns[-1] + spacing)
                early = self.locate(*window)
                self.clock.sleep(max(0.5, count * spacing))
                final = self.fix(*window, frames=2)
                gaps += [b - a for a, b in zip(returns, returns[1:])] or [spacing]
                shortfalls.append((apparent[target] - final) * direction)
                lag = (final - early) * direction > LAG_STEPS  # early frame still behind
                refusals += refused
                lags += lag
                if refused or lag or repeats > 1 or abs(shortfalls[-1]) > limit:
                    recover(target)
                at[0] = target
                self.here = apparent[target]
            # The same position places the same way: this check is tight.
            short = abs(sum(shortfalls) / repeats) > limit
            failure = "refused" if refusals else "short" if short else "lag" if lags else ""
            trains.append(_Train(not failure, failure, min(gaps), sum(gaps) / len(gaps)))
            return not failure

        hi = min(safe, 0.25 if size == self.sizes[0] else 1.0)
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


def _finish(lens: Lens, method: str, steps: dict[int, float], moves: dict[int, float],
            periods: dict[int, float], jitter: dict[int, float], range_steps: int,
            started: float, progress: Progress, **extra: object) -> Calibration:
    sizes = lens.caps.sizes
    calibration = Calibration(
        lens=lens.lens_name,
        camera=lens.camera_model,
        steps=range_steps,
        drive=tuple(DriveCal(k, steps[k], steps[k] / periods[k], moves[k], jitter.get(k, 0.0))
                    for k in sizes),
        latency_ms=lens.latency.mean * 1000.0,
        latency_jitter_ms=lens.latency.std * 1000.0,
        extra={"method": method, "family": lens.caps.family, "frames": lens.frames,
               "commands": lens.commands,
               "duration_s": round(lens.clock.now() - started, 1), **extra},
    )
    lens.model = calibration.model()
    lens.jitter = {d.size: d.jitter or 0.0 for d in calibration.drive}
    progress("homing", 0.0)
    lens.home()
    return calibration


def _calibrate_liveview(lens: Lens, settings: CalibrationSettings,
                        progress: Progress) -> Calibration:
    """Canon, Olympus, Panasonic, Sony: the live view is the position sensor."""
    started = lens.clock.now()
    cal = _LiveView(lens, settings, progress)
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
    steps = {cal.sizes[0]: 1.0}
    for i, size in enumerate(sorted(cal.sizes[1:], reverse=True)):
        cal.into_stop(NEAR if i == 0 or cal.here > 0 else FAR)
        steps[size] = cal.effective(size)
    moves, periods = {}, {}
    for size in sorted(cal.sizes, reverse=True):
        moves[size], periods[size] = cal.period(size, steps, lens.latency.std)
    return _finish(lens, "liveview", steps, moves, periods, cal.jitter, cal.range, started,
                   progress, subject_step=cal.subject, encoder_rank=cal.rank, **curves)


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
                                       "focus-by-wire lens on AF?") from None
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
                raise CalibrationError(f"no stop within {limit} steps: is the lens on AF?")
        return done

    progress("near stop", 0.0)
    run(max(sizes), NEAR, None)
    progress("range", 0.0)
    range_steps = run(sizes[0], FAR, None)
    if range_steps < 10:
        raise CalibrationError("the lens barely moved between its stops: set the lens "
                               "switch to AF")
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
            raise CalibrationError("the camera stopped reporting its focus position")
        return value

    def settle(timeout: float = 60.0) -> float:
        last, until = read(), clock.now() + timeout
        while clock.now() < until:
            clock.sleep(0.05)
            now = read()
            if now == last:
                return now
            last = now
        raise CalibrationError("the focus position never settled: is the lens on AF?")

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
            raise CalibrationError("the lens never reached the far end")
    high = samples[-1][1]
    range_steps = int(round(high - low))
    if range_steps < 10:
        raise CalibrationError("the lens did not move: set the lens switch to AF")
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


def _snap(value: float, snap: float) -> float:
    whole = round(value)
    return float(whole) if whole >= 1 and abs(value - whole) <= snap else value


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
    if isinstance(lens.drive, FujiDrive) and lens.caps.feedback == "absolute":
        return _calibrate_reading(lens, settings, progress)
    if lens.caps.stop == "error":
        return _calibrate_counting(lens, settings, progress)
    return _calibrate_liveview(lens, settings, progress)
