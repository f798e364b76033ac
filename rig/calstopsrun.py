"""The stops calibration: counting size-1 commands back to where the lens stalls.

For live-view bodies (Canon, Olympus, Panasonic, Sony), selected by
``CalibrationSettings.method = "stops"`` (``docs/calibration.md``, "The
stops calibration").  Size 1 is the unit of position; a count of size-1
commands that ends where the lens stalls against the far stop measures a
distance whatever the picture looks like on the way.  The estimators are
pure (:mod:`rig.calstops`); this module drives the lens.

Phases, each a function that returns its findings as data:

1. :func:`find_far_stop` - size 3 into the far stop (a frame after each,
   until still): the far stop's picture, which every count ends on;
2. :func:`busy_test` - one, then two back-to-back size-3 commands out of
   the far stop, counted back: what the camera does with a command that
   reaches a moving lens (drop, queue, refuse);
3. :func:`time_size` - each size's motion time: on a body that drops or
   refuses, trains at trial spacings out of the far stop, counted back (a
   lost command is a short count); on a body that queues, a pair and the
   time until the picture settles (size 1: the settled wait, a bound);
   the passing trains' counts give the size's spread;
4. :func:`measure_range` - home, the pass to the far stop (range + play),
   then at least three times the play where the lens leaves the far stop and
   the **check leg** of known count back: a gate that needs no truth, the
   stalls' bias (corrected for) and one stall's error, all measured;
5. :func:`far_legs`, :func:`near_legs`, :func:`size_ends` - legs of each size
   at each stop, repeated until its steps near and far are known to
   :data:`STEPS_SHARE` with the commands' spread in their error, else
   ``precision``;
6. the verify arrivals of :func:`rig.calibrate._finish`, each placed by
   counting size-1 commands to the far stop (:func:`arrivals`).
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

from .calestimate import Arrival, arrival_spread
from .calibration import JITTER_ALLOWANCE, Calibration
from .calstops import (SizeSteps, Stall, count_spread, mean_bound, pooled_spread, repeated,
                       rms_bound, settle_time, size_steps, spread_bound, stall_point)
from .lens import FAR, NEAR, SPACING_GUARD, Lens
from .probeport import distance as signature_distance
from .probeport import signature
from .vision import distance, steady_fingerprint

__all__ = ["calibrate_stops", "CHECK", "CHECK_OFF"]

log = logging.getLogger(__name__)

START_FRAMES = 24     # size-1 commands off a stop with a frame each (where the lens leaves it)
CHECK = 24            # size-1 commands of the check leg at the far stop (a known count)
CHECK_OFF = 2.0       # the check leg's count may be this far from CHECK (zoo: good <= 0.8,
                      # bad >= 3.4: docs/calibration.md)
STILL = 1.35          # a frame within this many noise floors of another: the same picture
STILL_FRAMES = 3      # frames still in a row: at the stop
LOOKBACK = (16, 32, 48)   # steps back a frame of the pass must be still against
PLATEAU_FRAMES = 3    # frames at the end of an approach, no command between
OVER = 8              # size-1 commands an approach goes on past where it expects the stop
WINDOW = 48           # steps before the stall the hinge fit uses
LEG_SHARE = 0.25      # a far leg's commands reach this share of the range
NEAR_SHARE = 0.5      # a near leg's commands reach this share of the range
TRAIN_STEPS = 14.0    # size-1 steps a timing train reaches (at least 2 commands)
LEAD_IN = 8           # settled size-1 commands out of the far stop before a timing train
UNKNOWN_SPREAD = 0.05   # a size's spread, as a share of its steps, while unmeasured
TRIALS = 6            # timing trains per size on a body that drops or refuses
QUEUE_GUARD = 1.1     # a queueing body's settle-time motion, times this (frames are coarse)
PASS_SIGMA = 6.0      # the pass's stall known to worse than this (commands): precision
MIN_CONTRAST = 0.05   # a stall whose picture changes less per step than this: detail
TEST_COMMANDS = 6     # largest commands each way that show whether the lens moves at all
MOVED_NOISE = 4.0     # a signature this many noise floors from the resting one: it moved
VERIFY_REACH = 0.2    # arrivals end this share of the range (at least 40 steps) off the far stop
STEPS_SHARE = 0.05 / 3  # a size's steps at each stop known to this share (one sigma): issue
                        # 13's 5 % at three sigmas
MAX_LEGS = 6          # legs of one size at one stop, at most, before refusing (precision)
SPREAD_DOF = 4        # a spread bound rests on this many degrees of freedom at least (with
                      # 2, ef24-real read 0.16 for its size 3's 0.8: 1 time in 5 at 80 %)
PLAY_SIGMA = 0.5      # the play known to this many size-1 steps (one sigma): a step at 2 sigmas
RANGE_SHARE = 0.01 / 1.5  # the range known to this share (one sigma), else precision: its
                         # 1 % at 1.5 sigmas at least
STALL_FLOOR = 0.25    # a stall's error, size-1 steps, however well the check legs agree
EDGE = 0.05           # a play read this close to 0 sits on the edge of its fit's grid
PLAY_MIN = 3          # times off the far stop for the play, at least
PLAY_LEGS = 5         # ... at most


class _Refusal(Exception):
    """Raised inside the run; :func:`calibrate_stops` turns it into a CalibrationError."""

    def __init__(self, message: str, cause: str) -> None:
        super().__init__(message)
        self.cause = cause


# ------------------------------------------------------------------ the driver


def leave_readings(send: Callable[[int, int], object], fp: Callable[[], np.ndarray],
                   direction: int, commands: int,
                   at_stop: list[np.ndarray]) -> tuple[list[float], list[np.ndarray]]:
    """``commands`` size-1 commands off a stop, a frame after each: (counts, frames),
    starting with the frames ``at_stop`` (count 0)."""
    counts = [0.0] * len(at_stop)
    frames = list(at_stop)
    for c in range(1, commands + 1):
        send(1, direction)
        counts.append(float(c))
        frames.append(fp())
    return counts, frames

class Counter:
    """Paced commands, settled frames and approaches to a stop (no estimates kept here).

    ``motion[size]`` is how long one command moves the lens: the settled
    wait until :func:`time_size` measures it.  A body that drops or refuses
    gets a command once the last motion is over (less the call's latency,
    plus four of its sigmas); a body that queues may have one command
    waiting behind the moving one, never two.
    """

    def __init__(self, lens: Lens, bound: dict[int, float]) -> None:
        self.lens = lens
        self.clock = lens.clock
        self.bound = dict(bound)
        self.motion = dict(bound)
        self.busy = ""                  # unknown until busy_test: every command waits for
                                        # the last one's motion (safe on any body)
        self.noise = 1.0
        self.earliest = -math.inf
        self.free = -math.inf

    def lead(self) -> float:
        lat = self.lens.latency
        if lat.n < 3:
            return 0.0
        return max(0.2 * lat.mean, lat.mean - 4.0 * lat.std)

    def send(self, size: int, direction: int) -> None:
        self.clock.sleep_until(self.earliest)
        self.lens.send(size, direction)
        back = self.clock.now()
        motion = self.motion[size]
        if self.busy == "queue":
            self.free = max(self.free, back) + motion
            self.earliest = self.free - motion - self.lead()
        else:
            self.free = back + motion
            self.earliest = self.free - self.lead()

    def settle(self) -> None:
        self.clock.sleep_until(self.free)

    def fp(self) -> np.ndarray:
        self.settle()
        return steady_fingerprint(self.lens.frame())

    def still(self, a: np.ndarray, b: np.ndarray) -> bool:
        return distance(a, b) < STILL * self.noise

    def measure_noise(self) -> None:
        shots = [self.fp() for _ in range(3)]
        self.noise = max(statistics.median(
            [distance(shots[0], shots[1]), distance(shots[1], shots[2]),
             distance(shots[0], shots[2])]), 1e-3)

    def plateau(self, frames: int = PLATEAU_FRAMES) -> list[np.ndarray]:
        return [self.fp() for _ in range(frames)]

    def into(self, direction: int, count: int) -> None:
        for _ in range(count):
            self.send(3 if 3 in self.motion else max(self.motion), direction)

    def home_until_still(self, direction: int, limit: int) -> int:
        """The largest size into a stop, a frame after each, until still; two more."""
        big = max(self.motion)
        shots = [self.fp()]
        for i in range(1, limit + 1):
            self.send(big, direction)
            shots.append(self.fp())
            if len(shots) >= 5 and all(self.still(shots[-1], shots[-k]) for k in range(2, 6)):
                break
        else:
            raise _Refusal(f"the picture kept changing over {limit} size-{big} commands toward "
                           "the far stop: keep the camera and the scene still", "scene")
        for _ in range(2):
            self.send(big, direction)
        return i + 2

    def leave(self, direction: int, commands: int, at_stop: list[np.ndarray]) -> Stall:
        """Size-1 commands off a stop with a frame each: where the lens left it (the play)."""
        counts, frames = leave_readings(self.send, self.fp, direction, commands, at_stop)
        return stall_point(counts, frames, [c == 0 for c in counts], side="start")

    def approach(self, direction: int, ref: list[np.ndarray] | None, *, every: int = 4,
                 least: int = 0, limit: int = 4000, lookback: bool = True) -> "Approach":
        """Size-1 toward a stop, a frame every ``every``, until still; the stall's fit.

        Still: the newest frame is within the noise of the stop's picture
        (``ref``, when known) and, with ``lookback``, of the frames
        :data:`LOOKBACK` steps back, for :data:`STILL_FRAMES` frames in a
        row, after at least ``least`` commands.  Then a few frames without
        a command; the fit uses the last :data:`WINDOW` steps before.
        """
        counts: list[float] = []
        frames: list[np.ndarray] = []
        refm = None if ref is None else np.mean(ref, axis=0)
        back = [max(1, s // every) for s in LOOKBACK]
        c = run = 0
        while run < STILL_FRAMES:
            if c >= limit:
                raise _Refusal(f"the picture kept changing over {limit} size-1 steps toward "
                               "the far stop: keep the camera and the scene still", "scene")
            for _ in range(every):
                self.send(1, direction)
                c += 1
            fp = self.fp()
            counts.append(float(c))
            frames.append(fp)
            still = True
            if lookback or refm is None:
                still = len(frames) > back[-1] and all(self.still(fp, frames[-1 - j])
                                                       for j in back)
            if refm is not None:
                still = still and self.still(fp, refm)
            run = run + 1 if still and c >= least else 0
        for fp in self.plateau():
            counts.append(float(c))
            frames.append(fp)
        k = np.array(counts)
        keep = k >= c - WINDOW - (STILL_FRAMES + back[-1]) * every
        if int((k[keep] < c).sum()) < 4:        # a short leg: every frame off the stop
            keep = np.ones(len(k), dtype=bool)
        sel = [f for f, m in zip(frames, keep) if m]
        if int((k[keep] < c).sum()) < 4:
            raise _Refusal("a count back to the far stop ended after fewer than 4 frames: the "
                           "picture there does not change with the lens", "precision")
        fit = stall_point(k[keep], sel, k[keep] >= c, side="end")
        return Approach(fit, c, [f for f, kk in zip(frames, counts) if kk >= c])


@dataclass(frozen=True)
class Approach:
    stall: Stall
    sent: int                      # size-1 commands sent in all
    at_stop: list[np.ndarray]      # the frames taken on the stop


def _trusted(stall: Stall, what: str, noise_ok: bool = True) -> Stall:
    """A stall the picture shows: refuse ``detail`` when it barely changes next to the stop."""
    if stall.contrast < MIN_CONTRAST:
        raise _Refusal(f"{what}: next to the far stop the picture changes {stall.contrast:.2f} "
                       "noise sigmas per size-1 step, too little to see where the lens stops. "
                       "Point the camera at a still, detailed object within a couple of metres",
                       "detail")
    return stall


# ------------------------------------------------------------------ the phases


def find_far_stop(cnt: Counter, limit: int) -> list[np.ndarray]:
    """Into the far stop; its picture (four frames).  A picture still from the first
    commands on: the lens may not move at all (:func:`_moves_or_refuse`)."""
    if cnt.home_until_still(FAR, limit) <= 6:
        big = max(cnt.motion)
        _moves_or_refuse(cnt, big)
        for _ in range(TEST_COMMANDS + 2):  # back into the far stop from wherever the test left it
            cnt.send(big, FAR)
    return cnt.plateau(4)


@dataclass(frozen=True)
class Busy:
    mode: str           # "drop", "queue" or "error" (refused, -110)
    single: float       # size-1 steps one largest command turns at the far stop (counted)
    pair: float         # ... two sent back to back


def busy_test(cnt: Counter, far_ref: list[np.ndarray]) -> Busy:
    """One, then two back-to-back largest commands out of the far stop, each counted back.

    Two commands are never more than two requests outstanding.  The second
    goes straight to the drive: refused (-110), the body is "error"; a pair
    that counts about twice the single ran both (queued); one, dropped.
    """
    big = max(cnt.motion)
    cnt.send(big, NEAR)
    one = cnt.approach(FAR, far_ref, every=2).stall
    cnt.clock.sleep_until(cnt.free)
    cnt.lens.send(big, NEAR)
    # The second straight to the drive: a body that refuses a command while the lens
    # moves says -110 at once, and Lens.send's retries would run out behind a long
    # motion (a 180mm macro's) and stop the calibration as if the camera had died.
    refused = _raw_send(cnt.lens, big, NEAR)
    cnt.free = cnt.clock.now() + (1 + (not refused)) * cnt.bound[big]
    cnt.earliest = cnt.free
    two = cnt.approach(FAR, far_ref, every=2).stall
    if one.count < 3:
        _moves_or_refuse(cnt, big)
        raise _Refusal(f"a size-{big} command out of the far stop counted back as "
                       f"{one.count:.1f} size-1 steps, though size-{big} commands do change "
                       "the picture: next to the far stop it changes too little with the "
                       "lens. Point the camera at a still, detailed object within a couple "
                       "of metres", "detail")
    mode = "error" if refused else "queue" if two.count > 1.5 * one.count else "drop"
    log.info("a command sent to a moving lens: %s (one counted %.1f, two %.1f)", mode,
             one.count, two.count)
    return Busy(mode, one.count, two.count)


def _moves_or_refuse(cnt: Counter, big: int) -> None:
    """Refuse ``mf`` when :data:`TEST_COMMANDS` largest commands each way leave the picture
    as it was (compared by the probe's signature, which a wide lens's small blur shows)."""
    rest = [signature(cnt.lens.frame()) for _ in range(3)]
    floor = max(statistics.median([signature_distance(rest[0], rest[1]),
                                   signature_distance(rest[1], rest[2]),
                                   signature_distance(rest[0], rest[2])]), 1e-6)
    for direction in (NEAR, FAR):
        for _ in range(TEST_COMMANDS):
            cnt.send(big, direction)
            cnt.settle()
            if signature_distance(signature(cnt.lens.frame()), rest[0]) > MOVED_NOISE * floor:
                return
    raise _Refusal(f"the lens does not move when driven: {2 * TEST_COMMANDS} size-{big} "
                   "commands left the picture as it was: set the lens switch to AF (and the "
                   "camera to a mode that lets the host drive focus)", "mf")


@dataclass(frozen=True)
class Timing:
    move_s: float                  # one command's motion, seconds
    bounded: str                   # why it is the settled wait ("" when measured)
    counts: tuple[tuple[int, float, float], ...]   # (commands, counted, sigma) of full trains


def time_size(cnt: Counter, size: int, steps: float, far_ref: list[np.ndarray],
              latency: float) -> Timing:
    """How long one ``size`` command moves the lens, and full trains' counts (the spread).

    ``steps``: its size-1 steps at the far stop (a first figure).  A body
    that drops or refuses: trains out of the far stop, back to back first,
    then at spacings bisecting between the longest that lost a command and
    the shortest that did not (the settled wait, until one passes); each
    train is counted back, and a lost (or refused) command shows as a count
    short by its steps.  The motion time is the shortest gap of the fastest
    train that lost nothing.  A body that queues: a pair back to back and
    the time the picture takes to settle (:func:`_time_queue`).
    """
    if cnt.busy == "queue":
        return _time_queue(cnt, size, steps, far_ref, latency)
    bound = cnt.bound[size]
    k = max(2, int(round(TRAIN_STEPS / max(steps, 1.0))))
    every = max(1, min(4, int(k * steps / 16)))
    counts: list[tuple[int, float, float]] = []
    lost_below, passed_at = 0.0, math.inf
    spacing = 0.0
    for _ in range(TRIALS):
        for _ in range(LEAD_IN):        # a known start off the stop: even a train that
            cnt.send(1, NEAR)           # lost most of its commands counts back in frames
        cnt.settle()
        returns: list[float] = []
        refused = 0
        t = cnt.clock.now()
        for i in range(k):
            cnt.clock.sleep_until(t + i * spacing)
            refused += _raw_send(cnt.lens, size, NEAR)
            returns.append(cnt.clock.now())
        cnt.free = cnt.clock.now() + k * bound
        cnt.earliest = cnt.free
        back = cnt.approach(FAR, far_ref, lookback=False, every=every,
                            least=int(k * steps * 1.2) + LEAD_IN + OVER).stall
        short = k * steps + LEAD_IN - back.count
        gaps = np.diff(returns)
        if refused or short > 0.5 * steps:
            lost_below = max(lost_below, float(gaps.min()))
        else:
            passed_at = min(passed_at, float(gaps.min()))
            counts.append((k, back.count - LEAD_IN, back.sigma))
        log.info("size %d train: %d commands %.3f s apart (shortest %.3f): %s", size, k,
                 spacing, float(gaps.min()), "lost one" if refused or short > 0.5 * steps
                 else "all ran")
        spacing = 0.5 * (lost_below + min(passed_at, bound))
    if not math.isfinite(passed_at):
        return Timing(bound, "no train ran all its commands", tuple(counts))
    # A command that turns more steps moves for longer: the spread's allowance on top.
    spread = count_spread(counts) if len(counts) > 1 else UNKNOWN_SPREAD * steps
    return Timing(min(passed_at * (1.0 + JITTER_ALLOWANCE * spread / steps), bound), "",
                  tuple(counts))


def _raw_send(lens: Lens, size: int, direction: int) -> int:
    """One command, straight to the drive, so a refusal (-110) is seen, not retried: 1 if
    refused.  (Lens.send tries a refused call again; a timing train must see it.)"""
    assert lens.drive is not None
    start = lens.clock.now()
    try:
        lens.drive.send(size, direction)
    except gp.GPhoto2Error as exc:
        if exc.code != gp.GP_ERROR_CAMERA_BUSY:
            raise
        return 1
    lens.commands += 1
    lens.latency.add(lens.clock.now() - start)
    return 0


def _time_queue(cnt: Counter, size: int, steps: float, far_ref: list[np.ndarray],
                latency: float) -> Timing:
    bound = cnt.bound[size]
    counts: list[tuple[int, float, float]] = []
    if size == 1 or 2 * steps < 6:
        return Timing(bound, "a queueing body's pair of these is too small to time by the "
                      "picture", ())
    moves = []
    for _ in range(2):
        cnt.settle()
        start = cnt.clock.now()
        cnt.lens.send(size, NEAR)
        first = cnt.clock.now()
        cnt.lens.send(size, NEAR)
        times, frames = [], []
        while cnt.clock.now() < first + 2 * bound + 0.5:
            frames.append(steady_fingerprint(cnt.lens.frame()))
            times.append(cnt.clock.now())
        cnt.free = cnt.clock.now()
        cnt.earliest = cnt.free
        end = settle_time(times, [distance(f, frames[-1]) for f in frames],
                          STILL * cnt.noise)
        if end is not None:
            moves.append((end - (first - latency)) / 2.0)
        back = cnt.approach(FAR, far_ref, lookback=False, least=int(2.4 * steps) + OVER,
                            every=max(1, min(4, int(steps / 8)))).stall
        counts.append((2, back.count, back.sigma))
        del start
    if not moves:
        return Timing(bound, "the picture did not show the pair's motion", tuple(counts))
    return Timing(min(max(moves) * QUEUE_GUARD, bound), "", tuple(counts))


@dataclass(frozen=True)
class Range:
    span: float          # size-1 steps between the stops
    backlash: float      # size-1 steps of play
    passed: Stall        # the pass's stall (range + play)
    check: Stall         # the check legs' mean (known: CHECK)
    play_sigma: float = 0.0   # one sigma of the backlash, size-1 steps
    stall_rms: float = 0.0    # how far the check legs' stalls fell from their known count
    stall_sigma: float = 0.0  # ... its 80 % upper bound: one stall's error at the far stop
    bias: float = 0.0         # what a stall at the far stop reads more than the lens's count


def measure_range(cnt: Counter, far_ref: list[np.ndarray]) -> Range:
    """From the near stop: the pass to the far stop (range + play); then, at least
    :data:`PLAY_MIN` times, the play where the lens leaves the far stop and the check leg
    back (its count is known), until the play is known to :data:`PLAY_SIGMA`, else
    ``precision``.

    The check legs measure how a stall at the far stop reads: their mean's
    offset from the known count is the bias of every stall there (a picture
    that barely changes over the last steps before the stop reads the lens
    there early), and it reads the lens leaving the stop late by as much;
    the play, the range and the far legs are corrected for it (zoo seed 6:
    checks 23.0-23.5, plays 0.8-1.5, play 0.4).  The play's error is the
    repeats' scatter (:func:`rig.calstops.mean_bound`) with the bias's; where a
    fit sits on the edge of its grid (read 0: it cannot read less) the scatter
    says nothing and the fits' own errors count (zoo seed 16 read 0, 0, 0.5, 0
    for a play of 1.6, each +-1 to +-3).
    """
    fit = cnt.approach(FAR, far_ref, least=START_FRAMES).stall
    _trusted(fit, "the pass from the near stop")
    if fit.sigma > PASS_SIGMA:
        raise _Refusal(f"the pass from the near stop found the far stop only to "
                       f"+-{fit.sigma:.1f} size-1 steps: the picture next to it changes too "
                       "little with the lens", "precision")
    far_frames = cnt.plateau(3)
    plays: list[tuple[int, float, float]] = []
    checks: list[tuple[int, float, float]] = []
    while True:
        left = cnt.leave(NEAR, CHECK, far_frames)
        back = cnt.approach(FAR, far_ref, lookback=False, least=CHECK + OVER)
        far_frames = back.at_stop
        plays.append((1, left.count, left.sigma))
        checks.append((1, back.stall.count, back.stall.sigma))
        log.info("off the far stop: the play %.2f +- %.2f (contrast %.2f), the check leg "
                 "%.2f +- %.2f of %d", left.count, left.sigma, left.contrast,
                 back.stall.count, back.stall.sigma, CHECK)
        if len(plays) < PLAY_MIN:
            continue
        mean_check, bias_sigma = mean_bound([c for _, c, _ in checks])
        bias = mean_check - CHECK
        check_leg(mean_check, back.stall.contrast)
        read, scatter = mean_bound([c for _, c, _ in plays])
        play = read + bias
        play_sigma = math.hypot(scatter, bias_sigma)
        if any(c <= EDGE for _, c, _ in plays):
            play_sigma = max(play_sigma,
                             math.sqrt(sum(e * e for _, _, e in plays)) / len(plays))
        if play_sigma <= PLAY_SIGMA:
            break
        if len(plays) >= PLAY_LEGS:
            raise _Refusal(
                f"the play where the lens leaves the far stop is known only to "
                f"+-{play_sigma:.2f} size-1 steps after {len(plays)} tries (read "
                + ", ".join(f"{c:.1f}" for _, c, _ in plays) + "): the picture next to the "
                "far stop changes too little with the lens", "precision")
    # How far the check legs fall from their known count is what one stall at the far
    # stop errs by, measured (the fits' own errors are often several times larger where
    # the picture changes little: zoo seed 16, +-4 to +-6 against 1.3).
    stall_rms, stall_sigma = rms_bound([c - mean_check for _, c, _ in checks])
    stall_sigma = max(stall_sigma, STALL_FLOOR)
    backlash = max(play, 0.0)
    span = fit.count - bias - backlash
    span_sigma = math.hypot(stall_sigma, play_sigma)
    if span_sigma > RANGE_SHARE * span:
        raise _Refusal(f"the range ({span:.0f} size-1 steps) is known only to "
                       f"+-{span_sigma:.1f} (a stall +-{stall_sigma:.1f}, the play "
                       f"+-{play_sigma:.2f}): the picture next to the far stop changes too "
                       "little with the lens", "precision")
    _, _, check_sigma = repeated(checks, 0.0)
    check = Stall(mean_check, check_sigma, back.stall.contrast, back.stall.frames)
    log.info("range: the pass counted %.2f +- %.2f (contrast %.2f); the play read %.2f, "
             "%.2f +- %.2f for the stalls' bias %+.2f (check legs' mean %.2f of %d, one "
             "stall +-%.2f); range %.2f", fit.count, fit.sigma, fit.contrast, read, play,
             play_sigma, bias, mean_check, CHECK, stall_sigma, span)
    return Range(span, backlash, fit, check, play_sigma, stall_rms, stall_sigma, bias)


def check_leg(counted: float, contrast: float) -> None:
    """The gate of known count: ``CHECK`` size-1 commands out, counted back in (the mean
    of the check legs): a stall read this far off cannot be corrected for."""
    off = counted - CHECK
    if abs(off) > CHECK_OFF:
        raise _Refusal(
            f"check: {CHECK} size-1 commands out of the far stop counted back as "
            f"{counted:.1f} on average ({off:+.1f}, allowed {CHECK_OFF:g}; the picture "
            f"changes {contrast:.2f} noise sigmas per step there): where the lens stalls "
            "cannot be read well enough", "check")


Leg = tuple[int, float, float]     # (commands, counted, sigma of the count's stall fit)


@dataclass
class SizeLegs:
    """The legs of one size so far, each repeat of the same leg: the far legs' counts back
    (motor steps), the near legs' counts on to the far stop (range + play - motor steps)."""

    far: list[Leg]
    near: list[Leg]


def far_leg(cnt: Counter, size: int, n: int, step: float, far_ref: list[np.ndarray]) -> Leg:
    """``n`` commands of ``size`` out of the far stop, counted back: ``(n, count, sigma)``;
    the count is the ``n`` commands' motor steps (the play cancels)."""
    for _ in range(n):
        cnt.send(size, NEAR)
    f = cnt.approach(FAR, far_ref, least=int(1.3 * n * step) + OVER, lookback=False).stall
    log.info("far leg: %d size-%d commands counted back as %.2f +- %.2f", n, size,
             f.count, f.sigma)
    return n, f.count, f.sigma


def near_leg(cnt: Counter, size: int, n: int, step: float, rng: Range,
             far_ref: list[np.ndarray], home_count: int) -> Leg:
    """Homed, ``n`` commands of ``size`` out of the near stop, counted on to the far stop
    (where every stall is): ``(n, count on, sigma)``; the pass's count less the count on
    is the ``n`` commands' motor steps."""
    cnt.into(NEAR, home_count)
    for _ in range(n):
        cnt.send(size, FAR)
    f = cnt.approach(FAR, far_ref, least=int(rng.span + rng.backlash - 0.85 * n * step) + OVER,
                     lookback=False).stall
    log.info("near leg: %d size-%d commands, %.2f steps (pass %.2f less %.2f)", n, size,
             rng.passed.count - f.count, rng.passed.count, f.count)
    return n, f.count, f.sigma


def far_legs(cnt: Counter, span: float, far_ref: list[np.ndarray],
             first: dict[int, float]) -> dict[int, SizeLegs]:
    """For each size above 1, its first far leg (:func:`far_leg`), reaching
    :data:`LEG_SHARE` of the range."""
    out = {}
    for size in sorted((s for s in cnt.motion if s != 1), reverse=True):
        n = max(2, int(round(LEG_SHARE * span / first[size])))
        out[size] = SizeLegs([far_leg(cnt, size, n, first[size], far_ref)], [])
    return out


def near_legs(cnt: Counter, rng: Range, far_ref: list[np.ndarray],
              legs: dict[int, SizeLegs], home_count: int) -> None:
    """Each size's first near leg (:func:`near_leg`), reaching :data:`NEAR_SHARE` of the
    range, added to ``legs``."""
    for size, have in legs.items():
        n_far, count_far, _ = have.far[0]
        step = count_far / n_far
        n = max(2, int(round(NEAR_SHARE * rng.span / step)))
        have.near.append(near_leg(cnt, size, n, step, rng, far_ref, home_count))


def _measured(legs: list[Leg], sigma: float) -> list[Leg]:
    """The legs with each stall's error as the check legs measured it."""
    return [(n, c, sigma) for n, c, _ in legs]


def estimate(size: int, have: SizeLegs, rng: Range, spread: float,
             floor: bool = False) -> SizeSteps:
    """A size's steps at both stops from its legs (:func:`rig.calstops.size_steps`), the
    repeats of each leg averaged, with the commands' ``spread`` in the errors and each
    stall's as the check legs measured it (the far legs' counts less the stalls' bias;
    a near leg's count is the difference of two stalls, where it cancels).  ``floor``: the errors no repeats would
    lessen (the pass's stall, shared by every near leg)."""
    n_far, far_count, far_sigma = repeated(_measured(have.far, rng.stall_sigma), spread)
    far_count -= rng.bias             # a stall at the far stop reads this much more
    n, on, sigma = repeated(_measured(have.near, rng.stall_sigma), spread,
                            shared=rng.stall_sigma)
    if floor:
        far_sigma, sigma = 1e-9, rng.stall_sigma
    near = (n, rng.passed.count - on, sigma)
    if near[1] <= 0:
        raise _Refusal(f"{n} size-{size} commands from the near stop counted "
                       f"{near[1]:.1f} steps: the counts disagree", "precision")
    return size_steps(near, (n_far, far_count, far_sigma), rng.span, backlash=rng.backlash)


def size_ends(cnt: Counter, rng: Range, far_ref: list[np.ndarray], legs: dict[int, SizeLegs],
              trains: dict[int, tuple[Leg, ...]],
              home_count: int) -> tuple[dict[int, SizeSteps], dict[int, float]]:
    """Each size's steps at both stops, known to :data:`STEPS_SHARE` (one sigma).

    Their errors carry the spread of the commands (an upper bound from the
    scatter of repeated counts: the timing trains, the legs,
    :func:`rig.calstops.spread_bound`), and a count that disagrees with its
    repeats more than its errors say is known only as well as they agree
    (:func:`rig.calstops.repeated`).  Legs are repeated (the far leg where the
    steps at the far stop or the spread is not known well enough, the near leg
    where those at the near stop are not) until both are known well enough, or
    refused (``precision``) after :data:`MAX_LEGS` of each.  Also each size's spread
    (:func:`rig.calstops.pooled_spread`, the jitter the calibration saves) where two
    degrees of freedom or more measure it.
    """
    out, spreads = {}, {}
    for size, have in legs.items():
        n_far, count_far, _ = have.far[0]
        step = count_far / n_far
        while True:
            groups = [[c for c in trains.get(size, ()) if c[0] == k]
                      for k in sorted({c[0] for c in trains.get(size, ())})]
            repeats = groups + [_measured(have.far, rng.stall_rms),
                                _measured(have.near, rng.stall_rms)]
            spread, dof = spread_bound(repeats, UNKNOWN_SPREAD * step)
            est = estimate(size, have, rng, spread)
            near_share = est.near_sigma / max(est.near, 1e-9)
            far_share = est.far_sigma / max(est.far, 1e-9)
            log.info("size %d: near %.3f +- %.1f %%, far %.3f +- %.1f %% (%d + %d legs, "
                     "spread at most %.3f steps on %d degrees of freedom)", size, est.near,
                     100 * near_share, est.far, 100 * far_share, len(have.near),
                     len(have.far), spread, dof)
            more_far = far_share > STEPS_SHARE or dof < SPREAD_DOF
            more_near = near_share > STEPS_SHARE
            if not (more_far or more_near):
                break
            least = estimate(size, have, rng, spread, floor=True)
            if max(least.near_sigma / least.near, least.far_sigma / least.far) > STEPS_SHARE:
                raise _Refusal(
                    f"size {size}: its steps cannot be known to {100 * STEPS_SHARE:.1f} % "
                    f"however often its legs are repeated: the pass they are counted "
                    f"against is known only to +-{rng.stall_sigma:.1f} size-1 steps",
                    "precision")
            if max(len(have.far), len(have.near)) >= MAX_LEGS:
                raise _Refusal(
                    f"size {size}: its steps are known only to +-{100 * near_share:.1f} % "
                    f"at the near stop and +-{100 * far_share:.1f} % at the far stop after "
                    f"{len(have.near)} legs at the near stop and {len(have.far)} at the far "
                    f"(its commands spread by up to {spread:.2f} steps each), short of "
                    f"{100 * STEPS_SHARE:.1f} %", "precision")
            if more_far or not more_near:
                have.far.append(far_leg(cnt, size, n_far, step, far_ref))
            if more_near:
                n_near = have.near[0][0]
                have.near.append(near_leg(cnt, size, n_near, step, rng, far_ref,
                                          home_count))
        out[size] = est
        point, dof = pooled_spread(repeats)
        if dof >= SPREAD_DOF:
            spreads[size] = point
    return out, spreads


# ------------------------------------------------------------------ verification


def arrivals(cnt: Counter, rng: Range,
             far_ref: list[np.ndarray]) -> Callable[[Calibration], list[Arrival]]:
    """The check of :func:`rig.calibrate._finish`: counted commands of every size, each
    arrival placed by size-1 commands counted on to the far stop.

    From the near stop (homed by ``_finish``), the largest size to about
    :data:`VERIFY_REACH` of the range short of the far stop: the near stop,
    the range and that size's steps along the range must be right.  Then
    from the far stop each smaller size inward, counted back out (a
    reversal: the count is the motor's turn, the play in it); size 1 goes
    in and comes part of the way back first (two reversals: the play
    counts).  Each arrival is where the count puts the lens against where
    the calibration's own model (``lens.model``) predicts it.
    """
    lens = cnt.lens

    def arrival(origin: str, predicted: float, counts: dict[int, int], what: str,
                jitter: dict[int, float], play_in_count: float) -> Arrival:
        expect = rng.span - predicted + play_in_count
        back = cnt.approach(FAR, far_ref, lookback=False, every=2 if expect < 40 else 4,
                            least=int(1.1 * expect) + OVER).stall
        where = rng.span - (back.count - rng.bias - play_in_count)
        a = Arrival(origin, int(round(predicted)), predicted, where,
                    arrival_spread(counts, jitter, back.sigma ** 2), what)
        log.info("calibration check: %s", a.describe())
        return a

    def run(calibration: Calibration) -> list[Arrival]:
        model = lens.model
        assert model is not None
        jitter = {d.size: d.jitter or 0.0 for d in calibration.drive}
        reach = max(40.0, VERIFY_REACH * rng.span)
        sizes = sorted(cnt.motion, reverse=True)
        big = sizes[0]
        n, x, _ = _count_to(model, 0.0, model.play(NEAR), big, FAR, rng.span - reach)
        for _ in range(n):
            cnt.send(big, FAR)
        out = [arrival("near stop", x, {big: n}, f"{n} size-{big} commands", jitter, 0.0)]
        for size in sizes:
            x, play = float(model.steps), model.play(FAR)
            if size == 1:
                n_in, x, play = _count_to(model, x, play, 1, NEAR, rng.span - 18)
                n_out, x, play = _count_to(model, x, play, 1, FAR, x + 6)
                for _ in range(n_in):
                    cnt.send(1, NEAR)
                for _ in range(n_out):
                    cnt.send(1, FAR)
                out.append(arrival("far stop", x, {1: n_in + n_out},
                                   f"{n_in} size-1 commands in and {n_out} back out",
                                   jitter, 0.0))
                continue
            n, x, play = _count_to(model, x, play, size, NEAR, rng.span - reach)
            for _ in range(n):
                cnt.send(size, NEAR)
            out.append(arrival("far stop", x, {size: n}, f"{n} size-{size} commands",
                               jitter, rng.backlash))
        return out

    return run


def _count_to(model, x: float, play, size: int, direction: int,
              goal: float) -> tuple[int, float, object]:
    """Commands of ``size`` that bring the lens (the model's mean) nearest ``goal``."""
    count = 0
    while (goal - x) * direction > 0 and count < 5000:
        nxt, nplay = model.move(x, size, direction, play)
        if abs(nxt - goal) > abs(x - goal):
            break
        x, play, count = nxt, nplay, count + 1
    if count == 0:
        x, play = model.move(x, size, direction, play)
        count = 1
    return count, x, play


# ------------------------------------------------------------------ the calibration


def calibrate_stops(lens: Lens, settings, progress) -> Calibration:
    """Canon, Olympus, Panasonic, Sony: counted against the stops (the module's docstring).

    Refuses (:class:`rig.calibrate.CalibrationError`) where a stall cannot be
    read (``detail``, ``precision``), where the check leg's known count comes
    back off (``check``), or where the verify arrivals miss (``check``);
    nothing is returned, let alone saved, before both gates passed.
    """
    from .calibrate import CalibrationError, _finish, _snap

    started = lens.clock.now()
    sizes = lens.caps.sizes
    bound = {k: settings.settle_small_s if k == sizes[0] else settings.settle_large_s
             for k in sizes}
    cnt = Counter(lens, bound)
    lens.liveview_on()
    try:
        progress("noise", 0.0)
        cnt.measure_noise()
        progress("far stop", 0.1)
        far_ref = find_far_stop(cnt, max(20, settings.max_steps // 20))
        progress("busy test", 0.15)
        busy = busy_test(cnt, far_ref)
        cnt.busy = busy.mode
        progress("size 1 speed", 0.2)
        latency = lens.latency.mean
        timings = {sizes[0]: time_size(cnt, sizes[0], 1.0, far_ref, latency)}
        cnt.motion[sizes[0]] = timings[sizes[0]].move_s * (1.0 + settings.margin)
        progress("range", 0.3)
        cnt.home_until_still(NEAR, max(20, settings.max_steps // 20))
        rng = measure_range(cnt, far_ref)
        big = max(sizes)
        progress("far legs", 0.5)
        first = {big: busy.single}
        for k in sizes:
            if k not in first and k != sizes[0]:
                first[k] = busy.single / 6.85
        legs = far_legs(cnt, rng.span, far_ref, first)
        progress("speeds", 0.6)
        for size in sorted(legs, reverse=True):
            n, count, _ = legs[size].far[0]
            timings[size] = time_size(cnt, size, count / n, far_ref, latency)
            cnt.motion[size] = timings[size].move_s * (1.0 + settings.margin)
        n_big, count_big, _ = legs[big].far[0]
        home_count = int(math.ceil(1.1 * (rng.span + rng.backlash)
                                   / (0.85 * count_big / n_big))) + 2
        progress("near legs", 0.75)
        near_legs(cnt, rng, far_ref, legs, home_count)
        ends, spreads = size_ends(cnt, rng, far_ref, legs,
                         {k: t.counts for k, t in timings.items()}, home_count)
    except _Refusal as exc:
        raise CalibrationError(f"{exc}; nothing was saved", exc.cause) from None
    steps = {sizes[0]: 1.0}
    snapped: dict[int, tuple[float, float]] = {}
    for size, est in ends.items():
        steps[size], snapped[size] = est.mean, (est.near, est.far)
        # A whole number everywhere (the motor's own steps) only where neither end can be
        # told from it: snapping one end alone moved a size-2 end by up to 4 % (0.15 of
        # 3.8 steps), on top of its error.
        whole = _snap(est.mean, settings.snap)
        if (whole != est.mean and abs(est.near - whole) <= min(settings.snap, est.near_sigma)
                and abs(est.far - whole) <= min(settings.snap, est.far_sigma)):
            steps[size], snapped[size] = whole, (whole, whole)
    jitter = {size: spreads.get(size, count_spread(t.counts)) for size, t in timings.items()}
    sigma = lens.latency.std
    moves = {k: timings[k].move_s for k in sizes}
    periods = {k: moves[k] * (1.0 + settings.margin) + SPACING_GUARD * sigma for k in sizes}
    bounded = {str(k): t.bounded for k, t in sorted(timings.items()) if t.bounded}

    def pace(calibration: Calibration) -> Calibration:
        """On a camera that queues, calibration's own moves keep to the settled pace."""
        if busy.mode != "queue":
            return calibration
        drives = tuple(dataclasses.replace(d, speed=min(d.speed, d.steps / bound[d.size]),
                                           move_s=None) for d in calibration.drive)
        return dataclasses.replace(calibration, drive=drives)

    range_steps = int(round(rng.span))
    return _finish(lens, "stops", steps, moves, periods, jitter, range_steps, started,
                   progress, verify=arrivals(cnt, rng, far_ref), ends=snapped,
                   backlash_steps=round(rng.backlash, 2), pace=pace, busy=busy.mode,
                   check_leg={"sent": CHECK, "counted": round(rng.check.count, 2),
                              "sigma": round(rng.check.sigma, 2),
                              "contrast": round(rng.check.contrast, 3)},
                   far_stall={"count": round(rng.passed.count, 2),
                              "sigma": round(rng.passed.sigma, 2),
                              "contrast": round(rng.passed.contrast, 3)},
                   **({"bounded_speeds": bounded} if bounded else {}))
