"""The live-view calibration's speeds: what the camera does with a command that
reaches a moving lens, and how long each size's command moves.

:func:`measure_speeds` runs on the live view's frame access and motor, placed
on the sweep's table (:class:`rig.calplace.Placer`), once the range, the
encoder, the play and every size's steps are known, and returns its findings as one
frozen :class:`Speeds`: the camera's busy mode, each size's motion time and
period, and the sizes left at the settled steps' pace, and why.
:func:`paced` is a calibration as calibration's own moves use it.  The
fits are :func:`rig.calfit.motion_time` and
:func:`rig.calestimate.queue_motion_time`.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from dataclasses import dataclass
from typing import Callable

import gphoto2 as gp

from .calestimate import lag_limit, queue_motion_time
from .calfit import motion_time
from .calibration import JITTER_ALLOWANCE, Calibration
from .calplace import Placer
from .lens import FAR, NEAR, SPACING_GUARD

__all__ = ["Speeds", "measure_speeds", "paced", "ANCHOR_FRAMES"]

log = logging.getLogger(__name__)

Progress = Callable[[str, float], None]

QUEUE_TRAIN = 2         # commands per train on a camera that queues: never more than two
                        # requests outstanding (issue 15; Magic Lantern: "with 5, it crashes")
QUEUE_GUARD_S = 0.1     # on such a camera, waited on top of a train's longest motion
TRAINS_IF_JITTERY = 4   # trains per spacing when one train's end wanders too much
NEIGHBOURS = 3          # positions short of an anchor whose placement is measured
ANCHOR_FRAMES = 4       # frames averaged to place an anchor or its neighbours


@dataclass(frozen=True)
class Speeds:
    """What the speed phase found."""

    busy: str                    # a command reaching a moving lens: "queue", "drop" or "error"
    moves: dict[int, float]      # each size's motion time, s
    periods: dict[int, float]    # each size's shortest reliable spacing, s
    bounded: dict[int, str]      # sizes left at the settled steps' pace, and why


def measure_speeds(at: Placer, steps: dict[int, float], jitter: dict[int, float],
                   progress: Progress) -> Speeds:
    """The busy test, then each size's motion time and period, largest first (each
    period's guard from the call latency's spread as measured so far); ``jitter``
    is each size's spread (:class:`rig.calsteps.Steps`)."""
    busy = _Timing(at, jitter, progress, "queue").busy_mode(steps)
    timing = _Timing(at, jitter, progress, busy)
    moves, periods = {}, {}
    for size in sorted(at.motor.sizes, reverse=True):
        moves[size], periods[size] = timing.period(size, steps, at.motor.lens.latency.std)
    return Speeds(busy, moves, periods, dict(timing.bounded))


def paced(calibration: Calibration, busy: str, bound: Callable[[int], float]) -> Calibration:
    """``calibration`` as calibration's own moves use it: on a camera that queues,
    no command sooner than the settled steps' wait (``bound``) after the one before."""
    if busy != "queue":
        return calibration
    drives = tuple(dataclasses.replace(
        d, speed=min(d.speed, d.steps / (bound(d.size) + QUEUE_GUARD_S)), move_s=None)
        for d in calibration.drive)
    return dataclasses.replace(calibration, drive=drives)


class _Unreadable(Exception):
    """A speed train's end could not be read (the lens could not be put back on its anchor)."""


@dataclass(frozen=True)
class _Train:
    ok: bool
    failure: str      # "", "refused", "short" (commands lost) or "lag" (queued)
    min_gap: float
    mean_gap: float


class _Timing:
    """Speed trains of one calibration, on a camera whose busy mode is ``busy``."""

    def __init__(self, at: Placer, jitter: dict[int, float], progress: Progress,
                 busy: str) -> None:
        self.at = at
        self.jitter = jitter
        self.progress = progress
        self.busy = busy
        self.bounded: dict[int, str] = {}   # sizes timed by the settled steps, and why

    def drain(self, size: int, returns: list[float]) -> None:
        """On a camera that queues: wait until every command of a train has surely run."""
        motor = self.at.motor
        if self.busy == "queue" and returns:
            motor.clock.sleep_until(returns[0] + len(returns) * motor.bound(size) + QUEUE_GUARD_S)

    def busy_mode(self, steps: dict[int, float]) -> str:
        """What the camera does with a command that reaches a moving lens.

        Two of the largest commands back to back, next to the sharp point:
        the lens moves two of them when the second queued behind the first,
        one when it was dropped; a -110 answer says refused.  Never more
        than two requests outstanding.
        """
        at, motor = self.at, self.at.motor
        self.progress("busy test", 0.0)
        e = steps[motor.big]
        lo, hi = at.placing.zone(2 * e + 8)
        window = (max(lo - e - 4, at.placing.side[0]), min(hi + e + 4, at.placing.side[1]))
        start = lo if abs(motor.here - lo) <= abs(motor.here - hi) else hi
        at.goto(start, steps)
        direction = FAR if start < (lo + hi) / 2 else NEAR
        for _ in range(6):          # the play taken up toward the test
            motor.step(1, direction, motor.s.settle_small_s)
        before = at.fix(*window, frames=ANCHOR_FRAMES)
        refused, returns = self.send_train(motor.big, direction, 2, 0.0)
        motor.clock.sleep_until(returns[0] + 2 * motor.bound(motor.big) + QUEUE_GUARD_S)
        after = at.fix(*window, frames=ANCHOR_FRAMES)
        motor.here = after
        moved = (after - before) * direction
        mode = "error" if refused else "queue" if moved > 1.5 * e - 3 else "drop"
        log.info("a command sent to a moving lens: %s (two moved the lens %.1f steps, one "
                 "moves %.1f)", mode, moved, e)
        return mode

    def send_train(self, size: int, direction: int, count: int,
                   spacing: float) -> tuple[int, list[float]]:
        """``count`` commands ``spacing`` apart; returns (refused, return times)."""
        motor = self.at.motor
        motor.take_up(direction)
        refused = 0
        t = motor.clock.now() + 0.01
        returns = []
        for i in range(count):
            motor.clock.sleep_until(t + i * spacing)
            try:
                motor.lens.send(size, direction)
            except gp.GPhoto2Error as exc:
                if exc.code != gp.GP_ERROR_CAMERA_BUSY:
                    raise
                refused += 1
            returns.append(motor.clock.now())
        return refused, returns

    def neighbourhood(self, window: tuple[float, float], arrive: int) -> dict[int, float]:
        """Where the anchor the lens is on, and the positions around it, place.

        ``arrive`` is the direction trains come in from.  Returns the
        placement of the position ``k`` steps short of the anchor, for k =
        -1 (one step beyond) .. NEIGHBOURS; the lens ends on the anchor.
        The bias of placement (up to half a step, the same every time at
        one position) can bring two neighbours' placements within a few
        tenths of a step of each other; comparing with each neighbour's own
        placement tells them apart all the same.
        """
        at, motor = self.at, self.at.motor
        settle = motor.s.settle_small_s
        looks = {0: at.fix(*window, frames=ANCHOR_FRAMES)}
        motor.step(1, arrive, settle)
        looks[-1] = at.fix(*window, frames=ANCHOR_FRAMES)
        motor.step(1, -arrive, settle)
        for k in range(1, NEIGHBOURS + 1):
            motor.step(1, -arrive, settle)
            looks[k] = at.fix(*window, frames=ANCHOR_FRAMES)
        for _ in range(NEIGHBOURS):
            motor.step(1, arrive, settle)
        return looks

    def period(self, size: int, steps: dict[int, float],
               latency_sigma: float) -> tuple[float, float]:
        """How long one ``size`` command moves, and the shortest reliable spacing.

        Trains of commands shuttle between two anchors, A and B, ``count``
        commands apart, next to the sharp point.  Placement on the table is
        biased by up to half a step at some positions, but by the same amount
        each time at the same position, so where each anchor and the few
        positions around it appear is measured once (:meth:`neighbourhood`,
        after a train at a safe spacing), and a train's shortfall is read
        against those.  After a train that fell short, size-1 steps bring
        the lens back onto its anchor.

        Bisection on the spacing puts the trains where commands just start
        to be lost.  When the camera queues commands sent too soon, only the
        mean gap of a passing train bounds the motion.  When it drops or
        refuses them, every train, passing or not, is evidence: the motion
        time is the one whose predicted losses best match the shortfalls of
        all trains (:func:`rig.calfit.motion_time`), and of those that match about as
        well, the longest.  A size whose commands spread moves for longer
        after its longer commands: its motion time gets ``JITTER_ALLOWANCE``
        spreads on top.  Plans then space commands by that, plus a margin
        (1.5 %, or for a queueing camera the lag a passing train may hide),
        plus a guard of SPACING_GUARD * sigma for the latency jitter (see
        :meth:`Lens.execute`).
        """
        at, motor = self.at, self.at.motor
        e = steps[size]
        count = 32 if size == motor.sizes[0] else 16 if size != motor.big else 4
        room = (at.placing.side[1] - at.placing.side[0]) - 2 * e - 12
        count = max(2, min(count, int(room // e)))
        # Commands that spread (sigma per command) make a train's end wander by
        # sigma * sqrt(count): keep that under a third of one command, so a
        # lost command still stands out, and allow for it in the checks.
        sigma = self.jitter.get(size, 0.0)
        if sigma > 0:
            count = max(2, min(count, int((e / (3 * sigma)) ** 2)))
        if self.busy == "queue":
            # Never more than two requests outstanding: a train of QUEUE_TRAIN (2)
            # has one before its last, and every train drains before the next
            # command (drain()).
            count = min(count, QUEUE_TRAIN)
        wander = 3 * sigma * math.sqrt(count)
        span = count * e
        lo_zone, hi_zone = at.placing.zone(span + e + 4)
        lo_side, hi_side = at.placing.side
        window = (max(lo_zone - e - 4, lo_side), min(hi_zone + e + 4, hi_side))
        at.goto(lo_zone if abs(motor.here - lo_zone) < abs(motor.here - hi_zone) else hi_zone,
                steps)
        toward_b = FAR if motor.here < (lo_zone + hi_zone) / 2 else NEAR
        arrive = {"A": -toward_b, "B": toward_b}
        safe = max(motor.s.settle_large_s, 4 * motor.s.settle_small_s)
        looks = {"A": self.neighbourhood(window, arrive["A"])}
        self.drain(size, self.send_train(size, toward_b, count, safe)[1])
        motor.clock.sleep(safe)
        # Steps short of where the mean step puts B.
        off = (looks["A"][0] + toward_b * span - at.fix(*window, frames=ANCHOR_FRAMES)) * toward_b
        if abs(off) > max(1.5, 0.3 * e, wander):
            # Sent slowly, every command ran: it is the reading of the train's end
            # (or the play taken up before it) that is off.  The check drive judges
            # the steps; the spacing falls back to the settled one.
            return self._bounded(size, latency_sigma, f"{count} commands sent slowly ended "
                                 f"{off:+.1f} steps off where the measured step puts them")
        if sigma > 0:
            # This train's own spread would stay in every later shortfall
            # (they are read against B): put B where the mean step says.
            for _ in range(abs(round(off))):
                motor.step(1, toward_b if off > 0 else -toward_b, motor.s.settle_small_s)
        looks["B"] = self.neighbourhood(window, arrive["B"])
        apparent = {anchor: look[0] for anchor, look in looks.items()}
        on = ["B"]      # the anchor the lens is on
        trains: list[_Train] = []
        evidence: list[tuple[list[float], float]] = []   # (return times, shortfall)
        lagging: list[tuple[list[float], float, float]] = []   # (return times, seen, lag)

        def short_of(anchor: str, placed: float) -> float:
            """Steps short of ``anchor`` (negative: beyond) where ``placed`` puts the lens."""
            look = looks[anchor]
            naive = (apparent[anchor] - placed) * arrive[anchor]
            if -1.5 <= naive <= NEIGHBOURS + 0.5:
                return float(min(look, key=lambda k: abs(look[k] - placed)))
            return naive

        def recover(anchor: str) -> None:
            """Size-1 steps at a safe pace until the lens is on ``anchor``."""
            for _ in range(12):
                off = round(short_of(anchor, at.fix(*window, frames=ANCHOR_FRAMES)))
                if off == 0:
                    return
                for _ in range(abs(off)):
                    motor.step(1, arrive[anchor] if off > 0 else -arrive[anchor],
                               motor.s.settle_small_s)
            raise _Unreadable("twelve tries could not bring the lens back onto its anchor "
                              "between trains")

        # Jittery commands: one train's end wanders too much to show a lost
        # command, so a spacing is judged on the mean shortfall of several,
        # each started from its anchor (a spacing that is too short loses a
        # command in most trains; the mean shows it).
        repeats = 1 if wander <= 0.3 * e else TRAINS_IF_JITTERY
        limit = max(0.6, 0.3 * e, wander / math.sqrt(repeats))
        # The early frame is one placement, the final one two averaged: their
        # difference has 1.5 placement variances.  A lag is a queue's, the same
        # in every train at a spacing, so it is judged on the trains' mean: one
        # loose placement must not fail a train spaced seconds apart.
        limit_lag = lag_limit(at.placing.placement_var, repeats)

        def ok(spacing: float) -> bool:
            shortfalls, gaps, refusals, lags = [], [], 0, []
            for _ in range(repeats):
                target = "A" if on[0] == "B" else "B"
                direction = arrive[target]
                refused, returns = self.send_train(size, direction, count, spacing)
                motor.clock.sleep_until(returns[-1] + spacing)
                seen = motor.clock.now()
                early = at.locate(*window)
                motor.clock.sleep(max(0.5, count * spacing))
                self.drain(size, returns)
                final = at.fix(*window, frames=2)
                gaps += [b - a for a, b in zip(returns, returns[1:])] or [spacing]
                shortfalls.append(short_of(target, final))
                evidence.append((returns, shortfalls[-1]))
                lags.append((final - early) * direction)   # early frame still behind
                lagging.append((returns, seen, lags[-1]))
                lag = lags[-1] > limit_lag
                refusals += refused
                if refused or lag or repeats > 1 or abs(shortfalls[-1]) >= 0.5:
                    recover(target)
                on[0] = target
                motor.here = apparent[target]
            # Read against the anchor's own placement: this check is tight.
            short = abs(sum(shortfalls) / repeats) > limit
            lagged = sum(lags) / repeats > limit_lag
            failure = "refused" if refusals else "short" if short else "lag" if lagged else ""
            log.debug("size %d train of %d at %.3f s: shortfalls %s, lags %s (limit %.2f), "
                      "refused %d: %s", size, count, spacing, [round(v, 2) for v in shortfalls],
                      [round(v, 2) for v in lags], limit_lag, refusals, failure or "passed")
            trains.append(_Train(not failure, failure, min(gaps), sum(gaps) / len(gaps)))
            return not failure

        try:
            return self._bisect(size, e, count, ok, trains, evidence, sigma, latency_sigma, safe,
                                lagging)
        except _Unreadable as exc:
            return self._bounded(size, latency_sigma, str(exc))

    def _bisect(self, size: int, e: float, count: int, ok: Callable[[float], bool],
                trains: list["_Train"], evidence: list[tuple[list[float], float]],
                sigma: float, latency_sigma: float, safe: float,
                lagging: list[tuple[list[float], float, float]]) -> tuple[float, float]:
        """The bisection on the spacing, and the motion time and period it gives."""
        at, motor = self.at, self.at.motor
        hi = min(safe, 0.25 if size == motor.sizes[0] else 1.0)
        while not ok(hi):
            hi *= 2
            if hi > 8.0:
                # Commands this far apart all run (the settled steps showed it): it
                # is the reading of a train's end that is too loose here.
                return self._bounded(size, latency_sigma, "no train passed, even 8 s apart")
        lo = 0.0
        for r in range(motor.s.bisect_rounds):
            self.progress(f"size {size} speed", r / motor.s.bisect_rounds)
            mid = 0.5 * (lo + hi)
            # A failure is believed only when a second train fails too: one
            # odd placement must not stop the bisection above the true value.
            if ok(mid) or ok(mid):
                hi = mid
            else:
                lo = mid
        if self.busy == "queue":
            # The camera queues commands sent too soon: they only lag, and a
            # train of two (issue 15) lags less than a placement's error when
            # its commands are small (size 1: half a step at 3/4 of the motion),
            # so a passing train bounds nothing.  The motion time is the one
            # that explains every train's lag, at its upper confidence bound.
            lag_sigma = math.sqrt(1.5 * at.placing.placement_var + count * sigma ** 2 + 0.01)
            move = queue_motion_time(lagging, e, lag_sigma)
            margin = motor.s.margin
            log.info("size %d: a queued command moves %.1f ms (from %d trains' lags, "
                     "one placed to %.2f steps)", size, 1000 * move, len(lagging), lag_sigma)
        else:
            # The camera drops or refuses commands sent too soon.
            move = motion_time(evidence, e, sigma)
            move *= 1.0 + JITTER_ALLOWANCE * sigma / e
            margin = motor.s.margin
        spacing = move * (1.0 + margin) + SPACING_GUARD * latency_sigma
        # Confirm with two more trains; back off by 10 % until they pass.
        for _ in range(10):
            if ok(spacing) and ok(spacing):
                return move, spacing
            spacing *= 1.1
        return self._bounded(size, latency_sigma, "trains at the measured spacing kept failing")

    def _bounded(self, size: int, latency_sigma: float, why: str) -> tuple[float, float]:
        """The settled steps' own wait as the motion time: safe, slower than the lens.

        When the end of a train cannot be read well enough to time commands
        (a picture that changes little per step there), the spacing every
        settled step of the calibration used stands: no command was lost at it.
        """
        motor = self.at.motor
        move = motor.bound(size)
        log.warning("size %d: %s; its commands are spaced by the settled steps' %.2f s "
                    "(slower than the lens can go, never faster)", size, why, move)
        self.bounded[size] = why
        return move, move * (1.0 + motor.s.margin) + SPACING_GUARD * latency_sigma
