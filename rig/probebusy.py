"""What a drive request does when it reaches a moving lens: the probe's test.

It runs, queues, is dropped, or is refused with -110.  The camera is asked
with two requests outstanding at most (:class:`rig.probeport.Port`):

1. From a start some size-3 commands out from the near stop: the picture
   after one request, and after two sent apart (each once the motion before
   it has surely ended).
2. From the same start again, two requests sent at once: the second leaves
   as soon as the first call returns, while the lens still moves.
3. Where the lens ends says it: where two take it (the second ran: it was
   queued behind the first), or where one takes it (the second was lost).
   A -110 answer to the second says it was refused.

A camera whose drive call waits for the lens (Nikon) never has a request
reach a moving lens: its requests *run*.

The start is where one size-3 command changes the picture most, from the
sweep of the range when calibration measured one (:func:`course_from_sweep`;
the stops are reached by counted commands), or else from a traverse of the
range watched command by command (:func:`course_from_traverse`; the stops
are where the picture stops changing, which a picture without detail can
mistake).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import gphoto2 as gp
import numpy as np

from .lens import FAR, NEAR, LensError
from .probefit import BusyData, Shot, SweepData, advance
from .probeport import Port, signature
from .simprofile import DriveSpec

__all__ = ["busy", "Course", "course_from_sweep", "course_from_traverse", "Motion", "watch",
           "motion", "home_by_picture", "home_by_count"]


# ------------------------------------------------------------------ motion


@dataclass(frozen=True)
class Motion:
    moved: bool
    ended_s: float | None     # after the call started, the motion was over by then ...
    going_s: float | None     # ... and still going then (the last frame that changed)


def watch(port: Port, since: float,
          before: np.ndarray | None = None) -> tuple[Motion, np.ndarray]:
    """Frames until the picture has stood still for ``still_s``: when the motion ended.

    ``since`` is when the command's call started, ``before`` the picture
    before it.  Stillness is judged across the whole window (its first frame
    against its last), so a slow change is not taken for rest.
    """
    s = port.s
    shots: list[tuple[Shot, np.ndarray]] = []
    while port.clock.now() < since + s.watch_s:
        shot = port.shot()
        shots.append((shot, signature(shot.data)))
        window = [fp for sh, fp in shots if sh.t0 >= shot.t0 - s.still_s]
        if (len(shots) >= 4 and shots[0][0].t0 <= shot.t0 - s.still_s
                and port.still(window[0], window[-1])):
            break
    final = np.mean([fp for _, fp in shots[-2:]], axis=0)
    changed = [i for i, (_, fp) in enumerate(shots) if not port.still(fp, final)]
    moved = bool(changed) or (before is not None and not port.still(before, final))
    if not moved:
        return Motion(False, None, None), final
    if not changed:          # over before the first frame
        return Motion(True, shots[0][0].t1 - since, None), final
    i = changed[-1]
    if i + 1 >= len(shots):  # still changing when the watch ended
        return Motion(True, None, shots[i][0].t0 - since), final
    return Motion(True, shots[i + 1][0].t1 - since, shots[i][0].t0 - since), final


def motion(port: Port) -> Motion | None:
    """How long a largest command moves the lens, watched frame by frame.

    Tightens the port's bound for that size to 1.5 times what was seen (the
    sighting is itself late by up to a frame).  None when the picture did
    not change either way (lens on MF, or a picture focus does not change).
    """
    big = max(port.lens.caps.sizes)
    for direction in (FAR, NEAR):
        before = port.rest()
        sent = port.send(big, direction)
        if sent.code:
            continue
        seen, _ = watch(port, sent.t0, before)
        if seen.moved and seen.ended_s is not None:
            port.bound[big] = 1.5 * seen.ended_s + 0.1
            port.forget()
            return seen
    return None


# ------------------------------------------------------------------ homing


def home_by_picture(port: Port, direction: int = NEAR,
                    trail: list[np.ndarray] | None = None) -> int:
    """Largest commands toward a stop until the picture stops changing; commands sent.

    Each command is sent once the one before has surely ended (a camera that
    drops requests would lose it otherwise).  ``trail``, if given, gets the
    picture before the first command and after each: a traverse of the range.
    """
    big = max(port.lens.caps.sizes)
    s = port.s
    pictures = [port.rest()]
    for count in range(1, s.max_commands + 1):
        port.send(big, direction)
        pictures.append(port.rest())
        recent = pictures[-1 - s.stop_still:]
        if len(recent) > s.stop_still and all(port.still(p, recent[-1]) for p in recent):
            for _ in range(s.overdrive):
                port.settle()
                port.send(big, direction)
            port.settle()
            if trail is not None:
                trail.extend(pictures)
            return count + s.overdrive
    raise LensError("could not find the stop: the picture kept changing. Keep the camera "
                    "and the scene still while probing")


def home_by_count(port: Port, count: int, direction: int = NEAR) -> None:
    """``count`` largest commands toward a stop, each after the last: the stop is truth."""
    big = max(port.lens.caps.sizes)
    for _ in range(count):
        port.settle()
        port.send(big, direction)
    port.settle()


# ------------------------------------------------------------------ where


MOST_PAIRS = 4


@dataclass(frozen=True)
class Course:
    """How the test reaches its starts: a way home, then commands out from the near stop.

    Each start is (commands out, pairs): the test sends ``pairs`` pairs of
    requests from there, so that one or two commands per pair end far apart.
    """

    home: Callable[[], None]
    starts: list[tuple[int, int]]
    how: str


def _choose(look: Callable[[int], np.ndarray], room: int, port: Port,
            tries: int) -> list[tuple[int, int]]:
    """(out, pairs) where the pictures ``pairs`` and ``2 pairs`` commands further differ most.

    ``look(j)`` is the picture ``j`` largest commands out from the near stop;
    ``room`` how many fit in the range.
    """
    scores = []
    for pairs in range(1, MOST_PAIRS + 1):
        for out in range(0, room - 2 * pairs):
            a, b, c = look(out), look(out + pairs), look(out + 2 * pairs)
            scores.append((min(port.apart(a, b), port.apart(b, c)), out, pairs))
    scores.sort(reverse=True)
    picked: list[tuple[int, int]] = []
    for score, out, pairs in scores:
        if all(abs(out - o) > 1 for o, _ in picked):
            picked.append((out, pairs))
        if len(picked) >= tries:
            break
    return picked or [(0, 1)]


def course_from_sweep(port: Port, sweep: SweepData, spec: DriveSpec, play: float,
                      tries: int) -> Course:
    """Starts chosen on the sweep's pictures; the stops reached by counted commands."""
    span = float(sweep.span)
    xs = np.asarray(sweep.positions)
    signs = [signature(data) for _, data in sweep.frames]
    counted = [0.0]
    while counted[-1] < span - 1.0 and len(counted) < 400:
        nxt = advance(counted[-1], spec, FAR, span) - (play if len(counted) == 1 else 0.0)
        counted.append(max(nxt, 0.0))
    room = len(counted) - 1

    def look(j: int) -> np.ndarray:
        return signs[int(np.argmin(np.abs(xs - counted[min(j, room)])))]

    count = math.ceil(1.1 * span / min(spec.steps, spec.steps_far or spec.steps)) + 2
    return Course(lambda: home_by_count(port, count), _choose(look, room, port, tries),
                  f"starts where the sweep's pictures change most; homing by {count} "
                  "commands, more than the range")


def course_from_traverse(port: Port, tries: int) -> tuple[Course, int]:
    """Starts from a traverse to the far stop and back, watched command by command."""
    home_by_picture(port, FAR)
    trail: list[np.ndarray] = []
    commands = home_by_picture(port, NEAR, trail)
    n = len(trail)
    room = max(n - 1 - port.s.overdrive - port.s.stop_still, 1)
    chosen = _choose(lambda j: trail[max(n - 1 - j, 0)], room, port, tries)
    return Course(lambda: home_by_picture(port, NEAR), chosen,
                  f"starts from a traverse of {commands} commands; homing until the picture "
                  "stopped changing"), commands


# ------------------------------------------------------------------ the test


def busy(port: Port, course: Course, motion_s: float | None) -> BusyData:
    """What a request does when it reaches a moving lens; see the module's docstring.

    From a start, ``pairs`` requests sent one by one give the picture of one
    request each, ``2 pairs`` that of two; then, from the same start,
    ``pairs`` pairs sent at once.  ``motion_s`` is how long one largest
    command moves the lens (as measured): a second request that takes effect
    later than that did not reach a moving lens, and says nothing.
    """
    lens, s = port.lens, port.s
    if lens.caps.blocking:
        return BusyData("runs", evidence={"detail": "the drive call waits for the lens"},
                        most_outstanding=port.most)
    big = max(lens.caps.sizes)
    looks: list[dict] = []

    def out_to(count: int) -> None:
        course.home()
        for _ in range(count):
            port.settle()
            port.send(big, FAR)

    def apart_by(count: int) -> np.ndarray:
        for _ in range(count):
            port.settle()
            port.send(big, FAR)
        return port.rest(3)

    for out, pairs in course.starts[:s.busy_tries]:
        out_to(out)
        start = port.rest(3)
        one = apart_by(pairs)
        two = apart_by(pairs)
        d12, d01 = port.apart(one, two), port.apart(start, one)
        if d12 < 2.0 * port.noise or d01 < 2.0 * port.noise:
            looks.append({"from": out, "pairs": pairs, "one_vs_two": round(d12 / port.noise, 2),
                          "verdict": "the picture barely changes here"})
            continue
        out_to(out)
        gaps, late = [], 0
        for _ in range(pairs):
            port.settle()
            first = port.send(big, FAR)
            second = port.send(big, FAR)      # at once: the first is still moving
            gaps.append(round(1000 * (second.t0 - first.t1), 1))
            if motion_s is not None and second.t1 - first.t1 >= motion_s:
                late += 1
            if second.code == gp.GP_ERROR_CAMERA_BUSY:
                port.settle()
                course.home()
                return BusyData("error", evidence={
                    "detail": f"the second request was answered -110 (busy), sent "
                              f"{gaps[-1]:g} ms after the first returned",
                    "trials": len(looks) + 1, "course": course.how}, most_outstanding=port.most)
        if late:
            course.home()
            return BusyData(None, f"the drive calls ({1000 * (second.t1 - second.t0):.0f} ms) "
                                  f"take longer than a size-{big} motion "
                                  f"({1000 * motion_s:.0f} ms): a request never reaches a "
                                  "moving lens", {"looks": looks}, port.most)
        end = port.rest(3)                  # once every request has surely ended
        d1, d2 = port.apart(end, one), port.apart(end, two)
        kind = "queue" if d2 < d1 else "drop"
        looks.append({"from": out, "pairs": pairs, "to_one": round(d1 / port.noise, 2),
                      "to_two": round(d2 / port.noise, 2),
                      "one_vs_two": round(d12 / port.noise, 2),
                      "second_after_ms": gaps})
        if min(d1, d2) * 4.0 >= max(d1, d2):
            continue                      # not clear: another start
        course.home()
        detail = (f"after {pairs} pair{'s' if pairs > 1 else ''} sent at once the lens ended "
                  + ("where two requests a pair take it: the second ran after the first"
                     if kind == "queue" else
                     "where one request a pair takes it: the second was lost"))
        return BusyData(kind, evidence={"detail": detail, "trials": len(looks),
                                        "looks": looks, "course": course.how},
                        most_outstanding=port.most)
    course.home()
    return BusyData(None, "the picture could not tell one request's end from two's "
                          "(too little change in the picture)",
                    {"looks": looks, "course": course.how}, port.most)
